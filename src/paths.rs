//! Where ReportLens keeps models and data on this machine.
use std::path::PathBuf;

/// File name of the development/test model fetched by `models/fetch-test-models`.
pub const TEST_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The model cache: `$REPORTLENS_MODELS`, else the platform cache dir
/// (`~/.cache/reportlens/models` on Linux).
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REPORTLENS_MODELS").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("", "", "reportlens")
        .map(|d| d.cache_dir().join("models"))
        .unwrap_or_else(|| PathBuf::from(".reportlens-models"))
}

/// The test model's path in the cache, whether or not it has been fetched.
pub fn test_model_path() -> PathBuf {
    models_dir().join(TEST_MODEL_FILE)
}

/// The model used when the user has not chosen one: the test model, if fetched.
pub fn default_model() -> Option<PathBuf> {
    let p = test_model_path();
    p.is_file().then_some(p)
}
