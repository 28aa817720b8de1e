//! The model's measured speed on this machine, remembered between runs so a
//! plan can say how long it will take before anything runs.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plan::Speed;

const FILE: &str = "speed.json";

fn file(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// The last measured speed of `model_id`, if any.
pub fn load(data_dir: &Path, model_id: &str) -> Option<Speed> {
    let text = std::fs::read_to_string(file(data_dir)).ok()?;
    let map: BTreeMap<String, Speed> = serde_json::from_str(&text).ok()?;
    map.get(model_id).copied()
}

/// The speed last measured on this machine for the model at `model_path`
/// (in the data folder), if any.
pub fn of_model(model_path: &Path) -> Option<Speed> {
    let dir = crate::store::data_dir().ok()?;
    load(&dir, &super::model_id(model_path))
}

/// Remember a measurement; a moving average keeps one odd run from dominating.
/// Failures are ignored: the estimate is a convenience.
pub fn record(data_dir: &Path, model_id: &str, measured: Speed) {
    if !(measured.prefill_tokens_per_s > 0.0 && measured.decode_tokens_per_s > 0.0) {
        return;
    }
    let path = file(data_dir);
    let mut map: BTreeMap<String, Speed> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let blended = match map.get(model_id) {
        Some(old) => Speed {
            prefill_tokens_per_s: 0.5 * old.prefill_tokens_per_s
                + 0.5 * measured.prefill_tokens_per_s,
            decode_tokens_per_s: 0.5 * old.decode_tokens_per_s + 0.5 * measured.decode_tokens_per_s,
        },
        None => measured,
    };
    map.insert(model_id.to_string(), blended);
    if let Ok(json) = serde_json::to_vec_pretty(&map) {
        let _ = std::fs::create_dir_all(data_dir);
        let _ = crate::export::write_atomic(&path, &json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_blends() {
        let d = tempfile::tempdir().unwrap();
        assert!(load(d.path(), "m").is_none());
        record(
            d.path(),
            "m",
            Speed {
                prefill_tokens_per_s: 100.0,
                decode_tokens_per_s: 10.0,
            },
        );
        record(
            d.path(),
            "m",
            Speed {
                prefill_tokens_per_s: 300.0,
                decode_tokens_per_s: 30.0,
            },
        );
        let s = load(d.path(), "m").unwrap();
        assert_eq!(s.prefill_tokens_per_s, 200.0);
        assert_eq!(s.decode_tokens_per_s, 20.0);
        assert!(load(d.path(), "other").is_none());
    }
}
