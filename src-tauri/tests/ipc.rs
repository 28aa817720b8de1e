//! The commands called through Tauri's real IPC layer (mock runtime, no
//! window, no WebKit display needed), with the app's real capabilities.
use std::path::{Path, PathBuf};

use reportlens_app::with_app;
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, INVOKE_KEY};
use tauri::webview::InvokeRequest;

/// Every test in this binary shares one throwaway data folder (job database,
/// settings), never the user's.
fn isolated_data() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("reportlens-ipc-data-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::env::set_var("REPORTLENS_DATA", &d);
        d
    })
}

/// Tests that write the settings take turns: each reads back what it saved.
static SETTINGS_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Tests that run jobs take turns: every app of this binary shares one
/// database, so one app's queue runner may take another test's jobs.
static QUEUE_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn app() -> (
    tauri::App<tauri::test::MockRuntime>,
    tauri::WebviewWindow<tauri::test::MockRuntime>,
) {
    isolated_data();
    let app = with_app(mock_builder())
        .build(tauri::generate_context!())
        .expect("app builds");
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("main webview");
    (app, webview)
}

fn invoke(
    webview: &tauri::WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().expect("JSON response"))
}

/// The model the commands will use, or None (test skipped) when not fetched.
fn model() -> Option<PathBuf> {
    match reportlens_app::commands::resolve_model() {
        Ok((p, _)) if p.exists() => Some(p),
        _ => {
            eprintln!("skipped: no model; run models/fetch-test-models");
            None
        }
    }
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reportlens-ipc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

#[test]
fn open_document_returns_the_engine_plan_and_a_preview() {
    let Some(model) = model() else { return };
    let file = temp_file(
        "note.md",
        "# Results\n\nRevenue rose 12% to $4.2 billion.\n\nMargins held.\n",
    );
    let (_app, webview) = app();
    let v = invoke(&webview, "open_document", json!({ "path": file })).expect("opens");

    let (doc, plan) = reportlens::plan_file(&file, &model).expect("engine plans it");
    assert_eq!(v["name"], "note.md");
    assert_eq!(v["block_count"], doc.blocks.len());
    assert_eq!(
        v["blocks"].as_array().unwrap().len(),
        doc.blocks.len().min(200)
    );
    assert_eq!(v["blocks"][0]["text"], doc.blocks[0].text.as_str());
    assert_eq!(
        v["plan"]["budget"],
        serde_json::to_value(&plan.budget).unwrap()
    );
}

#[test]
fn a_bad_file_is_a_readable_error_naming_it() {
    if model().is_none() {
        return;
    }
    let file = temp_file("fake.pdf", "plain text wearing a pdf name\n");
    let (_app, webview) = app();
    let err = invoke(&webview, "open_document", json!({ "path": file })).unwrap_err();
    assert_eq!(err["code"], "engine");
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains("fake.pdf"), "{msg}");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    if model().is_none() {
        return;
    }
    let (_app, webview) = app();
    let path = Path::new("/nonexistent/dir/report.pdf");
    let err = invoke(&webview, "open_document", json!({ "path": path })).unwrap_err();
    assert_eq!(err["code"], "engine");
    assert!(err["message"].as_str().unwrap().contains("report.pdf"));
}

#[test]
fn model_status_reports_the_model_context() {
    let Some(model) = model() else { return };
    let (_app, webview) = app();
    let v = invoke(&webview, "model_status", json!({})).expect("status");
    let info = reportlens::model::inspect(&model).unwrap();
    assert_eq!(v["state"], "ready");
    assert_eq!(v["context_length"], info.context_length);
    assert_eq!(v["name"], info.name.as_str());
}

#[test]
fn commands_not_granted_by_capabilities_are_refused() {
    let (_app, webview) = app();
    // The dialog plugin's message box is registered but not granted to the window.
    let err = invoke(
        &webview,
        "plugin:dialog|message",
        json!({ "message": "hi" }),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
}

/// Poll `open_job` until the job has left the queue (done, failed or cancelled).
fn wait_for_job(webview: &tauri::WebviewWindow<tauri::test::MockRuntime>, id: i64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let v = invoke(webview, "open_job", json!({ "job": id })).expect("open_job");
        if !v["running"].as_bool().unwrap() && v["queued"].is_null() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job {id} did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_summary_runs_through_the_window_commands_and_is_kept_in_history() {
    let Some(_model) = model() else { return };
    let file = temp_file(
        "results.md",
        "# Q3 results\n\nRevenue rose 12% to $4.2 billion. Net profit was $310 million.\n",
    );
    let _turn = QUEUE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (_app, webview) = app();
    let task = json!({ "task": "summarize", "lang": "en", "mode": "financial" });
    let plan = invoke(&webview, "plan_task", json!({ "path": file, "task": task })).unwrap();
    assert_eq!(plan["strategy"], "whole");
    let id = invoke(&webview, "start_job", json!({ "path": file, "task": task }))
        .expect("job starts")
        .as_i64()
        .unwrap();
    let v = wait_for_job(&webview, id);
    assert_eq!(v["job"]["status"], "done", "{v}");
    assert_eq!(v["result"]["kind"], "summary");
    assert!(!v["result"]["markdown"].as_str().unwrap().trim().is_empty());
    assert_eq!(v["blocks"][0]["text"], "Q3 results");

    let jobs = invoke(&webview, "list_jobs", json!({})).unwrap();
    assert!(jobs.as_array().unwrap().iter().any(|j| j["id"] == id));

    // Export: a summary has no bilingual form; Markdown gets its extension added.
    let out = std::env::temp_dir().join(format!("reportlens-ipc-export-{}", std::process::id()));
    let err = invoke(
        &webview,
        "export_job",
        json!({ "job": id, "format": "bilingual-docx", "path": out }),
    )
    .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("translation"),
        "{err}"
    );
    let written = invoke(
        &webview,
        "export_job",
        json!({ "job": id, "format": "markdown", "path": out }),
    )
    .unwrap();
    let written = PathBuf::from(written.as_str().unwrap());
    assert_eq!(written.extension().unwrap(), "md");
    assert!(std::fs::read_to_string(&written)
        .unwrap()
        .contains("results.md"));
    std::fs::remove_file(&written).ok();

    invoke(&webview, "delete_job", json!({ "job": id })).unwrap();
    let jobs = invoke(&webview, "list_jobs", json!({})).unwrap();
    assert!(!jobs.as_array().unwrap().iter().any(|j| j["id"] == id));
}

#[test]
fn settings_are_saved_and_bad_values_refused() {
    let _turn = SETTINGS_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (_app, webview) = app();
    let v = invoke(&webview, "get_settings", json!({})).unwrap();
    let catalog = v["catalog"].as_array().unwrap();
    assert!(catalog.iter().any(|e| e["id"] == "index-1.9b-32k"));
    let mut s = v["settings"].clone();
    s["summary_lang"] = json!("zh");
    s["translate_to"] = json!("en");
    let saved = invoke(&webview, "save_settings", json!({ "settings": s })).unwrap();
    assert_eq!(saved["settings"]["summary_lang"], "zh");
    let again = invoke(&webview, "get_settings", json!({})).unwrap();
    assert_eq!(again["settings"]["translate_to"], "en");

    s["model"] = json!("/nonexistent/model.gguf");
    let err = invoke(&webview, "save_settings", json!({ "settings": s })).unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("does not exist"),
        "{err}"
    );
    let after = invoke(&webview, "get_settings", json!({})).unwrap();
    assert!(after["settings"]["model"].is_null(), "nothing was written");
    // Put the defaults back for the other tests in this binary.
    s["model"] = Value::Null;
    s["summary_lang"] = json!("en");
    s["translate_to"] = json!("zh");
    invoke(&webview, "save_settings", json!({ "settings": s })).unwrap();
}

/// A model directory's forms through the window's commands: offered with
/// their memory, converted once on choosing, remembered in the settings.
#[test]
fn a_model_directory_offers_its_forms_and_converts_once() {
    let _turn = SETTINGS_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (_app, webview) = app();
    let tmp = std::env::temp_dir().join(format!("reportlens-ipc-forms-{}", std::process::id()));
    let dir = tmp.join("Index-tiny");
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/index-tiny");
    for f in std::fs::read_dir(&fixture).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
    }
    let m = dir.to_str().unwrap();
    let v = invoke(&webview, "model_forms", json!({ "model": m })).unwrap();
    assert!(v["chosen"].is_null());
    let forms: Vec<&str> = v["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["form"].as_str().unwrap())
        .collect();
    assert_eq!(forms, ["dense", "q8_0", "q4k"]);
    assert_eq!(v["options"][1]["ready"], false);
    assert!(v["options"][0]["memory"].as_u64().unwrap() > 0);
    assert_eq!(
        invoke(&webview, "cancel_conversion", json!({})).unwrap(),
        json!(false)
    );

    let v = invoke(
        &webview,
        "use_model_form",
        json!({ "model": m, "form": "q8_0" }),
    )
    .unwrap();
    assert_eq!(v["chosen"], "q8_0");
    assert_eq!(v["options"][1]["ready"], true);
    let file = PathBuf::from(v["options"][1]["file"].as_str().unwrap());
    assert!(file.is_file());
    // Remembered in the settings the CLI reads too, and what the model runs as.
    let dir_key = dir.canonicalize().unwrap();
    let s = reportlens_app::settings::load_settings().unwrap();
    assert_eq!(
        s.forms.get(&dir_key).copied(),
        Some(reportlens::model::forms::Form::Q8_0)
    );
    assert_eq!(s.runnable_model(&dir), file);
    // A GGUF has no forms; a bad form name is refused by the command's types.
    let gguf = invoke(
        &webview,
        "model_forms",
        json!({ "model": file.to_str().unwrap() }),
    )
    .unwrap();
    assert!(gguf.is_null());
    assert!(invoke(
        &webview,
        "use_model_form",
        json!({ "model": m, "form": "q3" })
    )
    .is_err());
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The queue through the window's commands: three files (one of them in a
/// folder) queued at once with their plans and times, one moved first, one
/// paused, one removed; the rest run in the new order, the paused one after
/// its resume, and nothing is left queued.
#[test]
fn a_queue_of_files_runs_in_the_order_set_and_obeys_pause_and_remove() {
    let Some(_model) = model() else { return };
    let _turn = QUEUE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("reportlens-ipc-queue-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("more")).unwrap();
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::write(&p, text).unwrap();
        p
    };
    let a = write("a.md", "# Alpha\n\nRevenue was $12 million in 2023.\n");
    write(
        "more/b.md",
        "# Beta\n\nNet income rose 8% to $3.1 million.\n",
    );
    write("more/c.md", "# Gamma\n\nThe company employs 240 people.\n");
    write("more/notes.bin", "not a document");
    let (_app, webview) = app();
    // Hold the queue while it is arranged: pause everything as it arrives.
    let task = json!({ "task": "summarize", "lang": "en", "mode": "general" });
    let queued = invoke(
        &webview,
        "queue_files",
        json!({ "paths": [a, dir.join("more")], "task": task }),
    )
    .expect("queued");
    let ids: Vec<i64> = queued["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j.as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{queued}");
    assert_eq!(queued["refused"], json!([]));
    // The first may already run; pause the other two while the order is set.
    for id in &ids[1..] {
        invoke(&webview, "pause_job", json!({ "job": id })).unwrap();
    }
    let view = invoke(&webview, "move_job", json!({ "job": ids[2], "to": 0 })).unwrap();
    let order: Vec<i64> = view["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["job"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(order[0], ids[2], "moved first: {view}");
    for item in view["items"].as_array().unwrap() {
        // Every job was planned when queued: its passes are known.
        assert!(item["job"]["total_chunks"].as_u64().unwrap() >= 1, "{item}");
    }
    // Remove b; resume c (now first).
    let view = invoke(&webview, "cancel_job", json!({ "job": ids[1] })).unwrap();
    assert!(
        !view["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["job"]["id"] == ids[1]),
        "{view}"
    );
    invoke(&webview, "resume_job", json!({ "job": ids[2] })).unwrap();
    let c = wait_for_job(&webview, ids[2]);
    let a_done = wait_for_job(&webview, ids[0]);
    assert_eq!(c["job"]["status"], "done", "{c}");
    assert_eq!(a_done["job"]["status"], "done", "{a_done}");
    let b = invoke(&webview, "open_job", json!({ "job": ids[1] })).unwrap();
    assert_eq!(
        b["job"]["status"], "cancelled",
        "removed, kept in the history"
    );
    assert!(b["queued"].is_null());
    let view = invoke(&webview, "queue_view", json!({})).unwrap();
    assert_eq!(view["items"], json!([]), "{view}");
    // A removed job can be put back: it runs and finishes.
    invoke(&webview, "resume_job", json!({ "job": ids[1] })).unwrap();
    let b = wait_for_job(&webview, ids[1]);
    assert_eq!(b["job"]["status"], "done", "{b}");
    std::fs::remove_dir_all(&dir).ok();
}
