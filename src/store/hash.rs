//! Hashes that identify documents, settings and chunk inputs.
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::StoreError;
use super::types::TaskKind;

/// Lowercase hex sha256 of `bytes` (use it for chunk input hashes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex sha256 of a file's bytes, read in blocks so large PDFs do not sit in memory.
pub fn sha256_file(path: &Path) -> Result<String, StoreError> {
    let read_err = |source| StoreError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The key under which finished chunks are reused: same document, task, model and settings.
/// Settings are hashed in canonical form (object keys sorted), so key order does not matter.
pub fn settings_key(
    document_sha256: &str,
    task: TaskKind,
    model_id: &str,
    settings: &serde_json::Value,
) -> String {
    let mut canon = String::new();
    canonical_json(settings, &mut canon);
    let mut h = Sha256::new();
    // Length-prefix each part so ("ab","c") and ("a","bc") cannot collide.
    for part in [document_sha256, task.as_str(), model_id, canon.as_str()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

/// JSON with object keys sorted at every level, whatever map order serde_json was built with.
fn canonical_json(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical_json(&map[*k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_is_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn settings_key_ignores_key_order_but_not_values() {
        let a = serde_json::json!({"lang": "zh", "mode": {"x": 1, "y": 2}});
        let b = serde_json::json!({"mode": {"y": 2, "x": 1}, "lang": "zh"});
        let c = serde_json::json!({"lang": "en", "mode": {"x": 1, "y": 2}});
        let k = |s| settings_key("d", TaskKind::Summarize, "m", s);
        assert_eq!(k(&a), k(&b));
        assert_ne!(k(&a), k(&c));
        assert_ne!(
            k(&a),
            settings_key("d", TaskKind::Translate, "m", &a),
            "task is part of the key"
        );
    }
}
