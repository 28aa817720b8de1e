//! One rule picks the model in the CLI and the app (`Settings::resolve_model`):
//! `--model`, else `$REPORTLENS_MODEL`, else Settings, else the test model; a
//! model folder in the form chosen for it. The CLI is checked here through its
//! binary; the app calls the same function (src-tauri/src/commands.rs).
use std::path::Path;
use std::process::Command;

fn model_name(env_model: Option<&Path>, given: Option<&Path>, data: &Path) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reportlens"));
    cmd.args(["logits", "--ids", "1,2"])
        .env("REPORTLENS_DATA", data);
    if let Some(g) = given {
        cmd.arg("--model").arg(g);
    }
    match env_model {
        Some(m) => cmd.env("REPORTLENS_MODEL", m),
        None => cmd.env_remove("REPORTLENS_MODEL"),
    };
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["model"].as_str().unwrap().to_string()
}

#[test]
fn given_then_environment_then_settings_then_the_test_model() {
    let test_model = reportlens::paths::test_model_path();
    if !test_model.is_file() {
        eprintln!(
            "skipping: test model not at {} (run models/fetch-test-models)",
            test_model.display()
        );
        return;
    }
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index-tiny");
    let data = tempfile::tempdir().unwrap();
    let default = model_name(None, None, data.path());
    assert_ne!(default, "index-tiny");
    // The environment override reaches the CLI too (it used to reach only the app).
    assert_eq!(model_name(Some(&tiny), None, data.path()), "index-tiny");
    // --model beats it.
    assert_eq!(
        model_name(Some(&tiny), Some(&test_model), data.path()),
        default
    );
    // Settings, when nothing else is given.
    let s = reportlens::settings::Settings {
        model: Some(tiny.clone()),
        ..Default::default()
    };
    s.save(data.path()).unwrap();
    assert_eq!(model_name(None, None, data.path()), "index-tiny");
    let (p, source) = s.resolve_model(Some(&test_model)).unwrap();
    assert_eq!(
        (p, source),
        (test_model, reportlens::settings::ModelSource::Given)
    );
}
