//! The model catalogue (`models/catalog.toml`, compiled in): the models
//! ReportLens knows, their files and sizes, and whether each is on this
//! machine and fits its memory.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const CATALOG_TOML: &str = include_str!("../models/catalog.toml");

/// One file of a catalogued model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogFile {
    pub name: String,
    /// Exact size in bytes, when verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Size known only roughly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approx_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl CatalogFile {
    pub fn bytes(&self) -> u64 {
        self.size.or(self.approx_size).unwrap_or(0)
    }
}

/// One catalogued model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogModel {
    pub id: String,
    pub name: String,
    /// "test" (the development model) or "primary" (the one the app is built around).
    pub role: String,
    /// "gguf" (one file) or "directory".
    pub format: String,
    pub parameters: String,
    pub context_length: usize,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    pub files: Vec<CatalogFile>,
}

impl CatalogModel {
    /// Bytes on disk, all files together.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(CatalogFile::bytes).sum()
    }
}

#[derive(Deserialize)]
struct CatalogToml {
    model: Vec<CatalogModel>,
}

/// Every model in the catalogue.
pub fn models() -> Vec<CatalogModel> {
    toml::from_str::<CatalogToml>(CATALOG_TOML)
        .expect("models/catalog.toml parses (checked by a test)")
        .model
}

/// A catalogued model as this machine sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogEntry {
    #[serde(flatten)]
    pub model: CatalogModel,
    /// Where it is (or would be) in the model cache.
    pub path: PathBuf,
    pub present: bool,
    /// Weights alone exceed the memory available now (`None`: unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_large: Option<bool>,
}

/// The catalogue against the model cache `dir` and `available` memory.
pub fn entries(dir: &Path, available: Option<u64>) -> Vec<CatalogEntry> {
    models()
        .into_iter()
        .map(|model| {
            let path = if model.format == "gguf" {
                dir.join(&model.files[0].name)
            } else {
                dir.join(&model.id)
            };
            let present = if model.format == "gguf" {
                path.is_file()
            } else {
                model.files.iter().all(|f| path.join(&f.name).is_file())
            };
            let too_large = available.map(|a| model.total_bytes() > a);
            CatalogEntry {
                model,
                path,
                present,
                too_large,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_lists_the_test_model_and_index() {
        let m = models();
        let test = m.iter().find(|m| m.role == "test").unwrap();
        assert_eq!(test.files[0].name, crate::paths::TEST_MODEL_FILE);
        assert_eq!(test.total_bytes(), 98_362_432);
        let index = m.iter().find(|m| m.id == "index-1.9b-32k").unwrap();
        assert_eq!(index.context_length, 32768);
        assert!(index.total_bytes() > 4_000_000_000);
    }

    #[test]
    fn entries_say_what_is_present_and_what_is_too_large() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::paths::TEST_MODEL_FILE), b"x").unwrap();
        let e = entries(dir.path(), Some(1_000_000_000));
        let test = e.iter().find(|e| e.model.role == "test").unwrap();
        assert!(test.present);
        assert_eq!(test.too_large, Some(false));
        let index = e.iter().find(|e| e.model.role == "primary").unwrap();
        assert!(!index.present);
        assert_eq!(index.too_large, Some(true));
    }
}
