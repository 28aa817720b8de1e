//! The commands called through Tauri's real IPC layer (mock runtime, no
//! window, no WebKit display needed), with the app's real capabilities.
use std::path::{Path, PathBuf};

use reportlens_app::with_app;
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, INVOKE_KEY};
use tauri::webview::InvokeRequest;

fn app() -> (
    tauri::App<tauri::test::MockRuntime>,
    tauri::WebviewWindow<tauri::test::MockRuntime>,
) {
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
    // The dialog plugin's save command is registered but not granted to the window.
    let err = invoke(&webview, "plugin:dialog|save", json!({ "options": {} })).unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
}
