//! A model directory's forms: dense, or converted once into the model cache.
//! The options carry the memory each needs, a conversion can be cancelled
//! (no file left) and then made, the chosen form is what runs, and `reportlens
//! model --use` remembers it in the settings that the app reads too.
mod index_common;

use std::process::Command;
use std::sync::atomic::AtomicBool;

use index_common::*;
use reportlens::model::convert::ConvertError;
use reportlens::model::forms::{self, Form};
use reportlens::model::{load_engine, LoadOptions};

/// A private copy of the toy Index directory and a private model cache.
fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Index-tiny");
    std::fs::create_dir(&dir).unwrap();
    for f in std::fs::read_dir(fixture_dir()).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
    }
    let cache = tmp.path().join("cache");
    (tmp, dir, cache)
}

#[test]
fn forms_are_offered_converted_once_and_run() {
    let (_tmp, dir, cache) = setup();
    let opts = forms::options(&dir, &cache)
        .unwrap()
        .expect("a directory has forms");
    let names: Vec<Form> = opts.iter().map(|o| o.form).collect();
    assert_eq!(names, vec![Form::Dense, Form::Q8_0, Form::Q4K]);
    assert!(opts[0].ready && opts[0].file.is_none());
    assert!(!opts[1].ready && !opts[2].ready, "nothing converted yet");
    // The dense form's memory is the loader's own estimate.
    let dense = load_engine(&dir, &LoadOptions::default()).unwrap();
    assert_eq!(opts[0].memory, dense.memory.total);
    assert!(opts.iter().all(|o| o.memory > 0));

    // Cancelled before the first tensor: an error, and no file.
    let cancel = AtomicBool::new(true);
    let err = forms::prepare(&dir, Form::Q8_0, &cache, Some(&cancel), |_| {}).unwrap_err();
    assert!(matches!(err, ConvertError::Cancelled { .. }), "{err}");
    let file = forms::converted_path(&dir, Form::Q8_0, &cache);
    assert!(!file.exists());
    assert_eq!(
        forms::runnable(&dir, Some(Form::Q8_0), &cache),
        dir,
        "not converted: the directory runs"
    );

    let mut seen = 0;
    let made = forms::prepare(&dir, Form::Q8_0, &cache, None, |_| seen += 1).unwrap();
    assert!(made.is_some() && seen > 0, "converted with progress");
    assert!(file.is_file());
    assert!(
        forms::prepare(&dir, Form::Q8_0, &cache, None, |_| {})
            .unwrap()
            .is_none(),
        "once"
    );
    assert!(forms::options(&dir, &cache).unwrap().unwrap()[1].ready);
    assert_eq!(forms::runnable(&dir, Some(Form::Q8_0), &cache), file);
    assert_eq!(forms::runnable(&dir, Some(Form::Dense), &cache), dir);
    assert_eq!(forms::runnable(&dir, None, &cache), dir);

    // The converted form computes what the dense one does, to Q8_0's rounding.
    let ids = reference_ids();
    let a = engine_logits(&mut load(&dir), &ids);
    let b = engine_logits(&mut load(&file), &ids);
    let d = max_diff(&a, &b);
    assert!(d < 0.05 * max_abs(&a), "q8_0 against dense: {d}");
}

#[test]
fn the_cli_remembers_the_form_for_the_app_and_itself() {
    let (tmp, dir, cache) = setup();
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_reportlens"))
            .args(args)
            .env("REPORTLENS_DATA", &data)
            .env("REPORTLENS_MODELS", &cache)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let d = dir.to_str().unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&run(&["model", "--model", d, "--json"])).unwrap();
    assert!(v["chosen"].is_null());
    assert_eq!(v["options"][2]["form"], "q4k");
    let v: serde_json::Value =
        serde_json::from_str(&run(&["model", "--model", d, "--use", "q8_0", "--json"])).unwrap();
    assert_eq!(v["chosen"], "q8_0");
    assert_eq!(v["options"][1]["ready"], true);
    // The settings the app reads hold the choice, under the model's full path.
    let s = reportlens::settings::Settings::load(&data).unwrap();
    assert_eq!(s.forms.get(&dir.canonicalize().unwrap()), Some(&Form::Q8_0));
    // A GGUF has no forms: a clear refusal.
    let gguf = forms::converted_path(&dir, Form::Q8_0, &cache);
    let out = Command::new(env!("CARGO_BIN_EXE_reportlens"))
        .args(["model", "--model", gguf.to_str().unwrap()])
        .env("REPORTLENS_DATA", &data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs as it is"));
}
