use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use serde::Serialize;

use super::config::read_dir_config;
use super::template::ChatTemplate;
use super::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// A single GGUF file (quantized or dense).
    Gguf,
    /// A directory with `config.json` and weights (Index-1.9B as published).
    Directory,
}

/// What the planner and the UI need to know about a model without loading weights.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub path: PathBuf,
    /// Display name (GGUF `general.name`, or the directory name).
    pub name: String,
    pub format: ModelFormat,
    /// `general.architecture` or `config.json` `model_type`.
    pub architecture: String,
    /// Trained context length in tokens.
    pub context_length: usize,
    /// The chat format prompts are rendered in.
    pub chat_template: ChatTemplate,
}

/// Read a model's metadata (GGUF header, or `config.json`) without loading weights.
pub fn inspect(path: &Path) -> Result<ModelInfo, ModelError> {
    if stat(path)?.is_dir() {
        inspect_dir(path)
    } else {
        inspect_gguf(path)
    }
}

/// `fs::metadata` with a NotFound that names the model.
pub(crate) fn stat(path: &Path) -> Result<std::fs::Metadata, ModelError> {
    std::fs::metadata(path).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, source: std::io::Error) -> ModelError {
    if source.kind() == std::io::ErrorKind::NotFound {
        ModelError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        ModelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> ModelError {
    ModelError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn unsupported(path: &Path, reason: impl Into<String>) -> ModelError {
    ModelError::Unsupported {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Read and validate a GGUF header: magic, metadata, tensor table, and that
/// the file is long enough to hold every tensor it declares (a truncated
/// download is caught here, before any long work starts).
pub fn read_gguf(path: &Path) -> Result<gguf_file::Content, ModelError> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let file_len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut file, &mut magic).map_err(|e| io_error(path, e))?;
    if got == 0 {
        return Err(corrupt(path, "the file is empty"));
    }
    if magic[..got] != b"GGUF"[..got] {
        return Err(unsupported(path, not_gguf_reason(&magic[..got])));
    }
    if got < 4 {
        return Err(corrupt(
            path,
            format!("the file is only {file_len} bytes long"),
        ));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| io_error(path, e))?;
    // candle validates lengths against the file size, but a hostile header
    // could still reach an arithmetic panic (e.g. alignment 0): contain it.
    let content = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gguf_file::Content::read(&mut file)
    }))
    .map_err(|_| corrupt(path, "the GGUF header is malformed"))?
    .map_err(|e| corrupt(path, format!("cannot read the GGUF header: {e}")))?;

    // Vocabulary-only files have no tensors and may end before the aligned data offset.
    let mut needed = 0u64;
    for (name, info) in &content.tensor_infos {
        let (block, type_size) = (info.ggml_dtype.block_size(), info.ggml_dtype.type_size());
        let elems = info.shape.elem_count();
        if block == 0 || elems % block != 0 {
            return Err(corrupt(
                path,
                format!("tensor `{name}` has {elems} elements, not a multiple of its block size {block}"),
            ));
        }
        let end = (elems / block)
            .checked_mul(type_size)
            .and_then(|bytes| (bytes as u64).checked_add(info.offset))
            .and_then(|end| end.checked_add(content.tensor_data_offset))
            .ok_or_else(|| corrupt(path, format!("tensor `{name}` has an impossible size")))?;
        needed = needed.max(end);
    }
    if file_len < needed {
        return Err(corrupt(
            path,
            format!(
                "truncated: its tensors need {needed} bytes but the file has {file_len} \
                 (download it again)"
            ),
        ));
    }
    Ok(content)
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Say what the file looks like instead, so a mislabelled file is obvious.
fn not_gguf_reason(head: &[u8]) -> String {
    let what = if head.starts_with(b"PK") {
        " (it looks like a zip archive, e.g. a PyTorch checkpoint)"
    } else if head.starts_with(b"%PDF") {
        " (it is a PDF document)"
    } else if head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        " (it looks like a text file)"
    } else {
        ""
    };
    format!("not a GGUF file: it does not start with the GGUF signature{what}")
}

fn meta_str<'a>(content: &'a gguf_file::Content, key: &str) -> Option<&'a str> {
    match content.metadata.get(key) {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn meta_uint(content: &gguf_file::Content, key: &str) -> Option<u64> {
    match content.metadata.get(key)? {
        Value::U8(v) => Some(*v as u64),
        Value::U16(v) => Some(*v as u64),
        Value::U32(v) => Some(*v as u64),
        Value::U64(v) => Some(*v),
        Value::I8(v) => u64::try_from(*v).ok(),
        Value::I16(v) => u64::try_from(*v).ok(),
        Value::I32(v) => u64::try_from(*v).ok(),
        Value::I64(v) => u64::try_from(*v).ok(),
        _ => None,
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .or_else(|| path.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

pub(crate) fn dir_name(path: &Path) -> String {
    // canonicalize so "." names the real directory.
    let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    real.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn inspect_gguf(path: &Path) -> Result<ModelInfo, ModelError> {
    let content = read_gguf(path)?;
    let architecture = meta_str(&content, "general.architecture")
        .ok_or_else(|| unsupported(path, "the GGUF metadata has no `general.architecture`"))?
        .to_string();
    let key = format!("{architecture}.context_length");
    let context_length = meta_uint(&content, &key)
        .filter(|&n| n > 0)
        .ok_or_else(|| unsupported(path, format!("the GGUF metadata has no valid `{key}`")))?;
    let name = meta_str(&content, "general.name")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| file_stem(path));
    Ok(ModelInfo {
        path: path.to_path_buf(),
        name,
        format: ModelFormat::Gguf,
        architecture,
        context_length: usize::try_from(context_length).unwrap_or(usize::MAX),
        chat_template: ChatTemplate::from_jinja(meta_str(&content, "tokenizer.chat_template")),
    })
}

/// The whole `config.json` is checked here (model type, shapes, RoPE
/// base), so a directory the engine cannot run is refused at planning time.
fn inspect_dir(path: &Path) -> Result<ModelInfo, ModelError> {
    let cfg = read_dir_config(path)?;
    Ok(ModelInfo {
        path: path.to_path_buf(),
        name: dir_name(path),
        format: ModelFormat::Directory,
        chat_template: super::dir_model::dir_template(path, &cfg)?,
        architecture: cfg.model_type,
        context_length: cfg.llama.context_length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_model() -> Option<PathBuf> {
        let p = crate::paths::test_model_path();
        if p.is_file() {
            Some(p)
        } else {
            eprintln!("skipping: test model not fetched at {}", p.display());
            None
        }
    }

    #[test]
    fn inspects_the_test_model() {
        let Some(p) = test_model() else { return };
        let info = inspect(&p).unwrap();
        assert_eq!(info.architecture, "llama");
        assert_eq!(info.context_length, 8192);
        assert_eq!(info.format, ModelFormat::Gguf);
        assert!(!info.name.is_empty());
    }

    #[test]
    fn missing_model_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("absent.gguf");
        assert!(matches!(inspect(&p), Err(ModelError::NotFound { .. })));
    }

    #[test]
    fn text_file_named_gguf_is_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notes.gguf");
        std::fs::write(&p, "just some notes, not weights\n").unwrap();
        let err = inspect(&p).unwrap_err();
        assert!(matches!(err, ModelError::Unsupported { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("notes.gguf") && msg.contains("text file"),
            "{msg}"
        );
    }

    #[test]
    fn empty_and_tiny_files_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.gguf");
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(inspect(&p), Err(ModelError::Corrupt { .. })));
        std::fs::write(&p, b"GG").unwrap();
        assert!(matches!(inspect(&p), Err(ModelError::Corrupt { .. })));
        std::fs::write(&p, b"GGUF\x03\0\0\0").unwrap();
        assert!(matches!(inspect(&p), Err(ModelError::Corrupt { .. })));
    }

    #[test]
    fn truncated_gguf_is_corrupt() {
        let Some(src) = test_model() else { return };
        let bytes = std::fs::read(&src).unwrap();
        let dir = tempfile::tempdir().unwrap();
        // Cut in the tensor data (header intact) and inside the metadata.
        for keep in [bytes.len() - 1000, bytes.len() / 2, 4096, 100] {
            let p = dir.path().join("cut.gguf");
            std::fs::write(&p, &bytes[..keep]).unwrap();
            let err = inspect(&p).unwrap_err();
            assert!(
                matches!(err, ModelError::Corrupt { .. }),
                "cut at {keep}: {err}"
            );
            assert!(err.to_string().contains("cut.gguf"), "{err}");
        }
    }

    #[test]
    fn small_written_gguf_is_read_and_needs_its_context_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vocab-only.gguf");
        let write = |md: &[(&str, &Value)]| {
            let mut f = File::create(&p).unwrap();
            gguf_file::write(&mut f, md, &[]).unwrap();
        };
        let arch = Value::String("llama".into());
        let ctx = Value::U32(4096);
        let name = Value::String("Tiny".into());
        write(&[
            ("general.architecture", &arch),
            ("llama.context_length", &ctx),
            ("general.name", &name),
        ]);
        let info = inspect(&p).unwrap();
        assert_eq!((info.name.as_str(), info.context_length), ("Tiny", 4096));
        write(&[("general.architecture", &arch)]);
        let err = inspect(&p).unwrap_err().to_string();
        assert!(err.contains("llama.context_length"), "{err}");
    }

    #[test]
    fn directory_reads_config_json() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("Index-1.9B-32K");
        std::fs::create_dir(&m).unwrap();
        std::fs::write(
            m.join("config.json"),
            r#"{"model_type": "index", "max_position_embeddings": 32768, "hidden_size": 2048,
                "intermediate_size": 5888, "num_hidden_layers": 36, "num_attention_heads": 16,
                "vocab_size": 65029, "norm_head": 1, "rope_ratio": 32}"#,
        )
        .unwrap();
        let info = inspect(&m).unwrap();
        assert_eq!(info.architecture, "index");
        assert_eq!(info.context_length, 32768);
        assert_eq!(info.format, ModelFormat::Directory);
        assert_eq!(info.name, "Index-1.9B-32K");
        assert_eq!(info.chat_template, ChatTemplate::IndexRaw);
    }

    #[test]
    fn directory_without_or_with_bad_config_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            inspect(dir.path()),
            Err(ModelError::Unsupported { .. })
        ));
        std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
        assert!(matches!(
            inspect(dir.path()),
            Err(ModelError::Corrupt { .. })
        ));
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"model_type": "index", "hidden_size": 64, "intermediate_size": 128,
                "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100}"#,
        )
        .unwrap();
        let err = inspect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("max_position_embeddings"), "{err}");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"model_type": "mamba", "max_position_embeddings": 2048}"#,
        )
        .unwrap();
        let err = inspect(dir.path()).unwrap_err();
        assert!(matches!(err, ModelError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("mamba"), "{err}");
    }
}
