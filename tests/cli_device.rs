//! `--device` on the command line: a GPU this build lacks, or a device name
//! that does not exist, is a one-line error and a failed exit, never a panic
//! or a silent CPU run.
use std::process::Command;

fn reportlens(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reportlens"))
        .args(args)
        .output()
        .expect("the CLI runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_gpu_this_build_lacks_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        eprintln!("skipping: this build has CUDA");
        return;
    }
    let model = reportlens::paths::test_model_path();
    if !model.is_file() {
        eprintln!(
            "skipping: test model not at {} (run models/fetch-test-models)",
            model.display()
        );
        return;
    }
    let m = model.to_str().unwrap();
    let (ok, err) = reportlens(&[
        "generate", "--model", m, "--prompt", "Hi", "--device", "cuda",
    ]);
    assert!(!ok, "a CUDA run without CUDA must fail");
    assert!(
        err.contains("no CUDA support") && err.contains("./dev cuda"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // The CPU, asked for by name, runs.
    let (ok, err) = reportlens(&[
        "generate",
        "--model",
        m,
        "--prompt",
        "Hi",
        "--device",
        "cpu",
        "--max-tokens",
        "2",
    ]);
    assert!(ok, "{err}");
}

#[test]
fn an_unknown_device_names_the_choices() {
    let (ok, err) = reportlens(&["generate", "--prompt", "Hi", "--device", "tpu"]);
    assert!(!ok);
    assert!(err.contains("auto, cpu, cuda, cuda:N"), "{err}");
    let (ok, err) = reportlens(&["generate", "--prompt", "Hi", "--device", "cpu", "--cpu"]);
    assert!(!ok, "--cpu and --device together are refused: {err}");
}
