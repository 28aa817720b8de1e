//! The forms a model directory can run in: its dense weights as they are
//! (held as f16), or a GGUF converted once into the model cache (Q8_0 or
//! Q4_K). Each comes with the memory it needs, so the user chooses knowing
//! what fits; the choice is remembered per model in the settings, and the
//! app and the CLI both run the model through [`runnable`].
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checkpoint::Checkpoint;
use super::config::read_dir_config;
use super::convert::{convert, ConvertError, ConvertProgress, ConvertSummary, Quant};
use super::dir_model::{estimate, tensor_table, Role};
use super::info::{dir_name, stat};
use super::load::{estimate_with_weights, held_matrix_bytes, LoadOptions};
use super::ModelError;
use candle_core::DType;

/// Folder of the model cache that holds converted directories.
pub const CONVERTED_DIR: &str = "converted";

/// How a model directory runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// The checkpoint's own weights, held as f16.
    Dense,
    /// Converted once to a Q8_0 GGUF: half of f16, close to it in quality.
    Q8_0,
    /// Converted once to llama.cpp's Q4_K_M mix (Q4_K, Q6_K head and some
    /// value/down projections): the smallest file and, run from its own
    /// blocks, the least memory.
    #[serde(rename = "q4k")]
    Q4K,
}

impl std::str::FromStr for Form {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "dense" => Ok(Form::Dense),
            "q8_0" | "q8" => Ok(Form::Q8_0),
            "q4k" | "q4_k" | "q4_k_m" => Ok(Form::Q4K),
            other => Err(format!("unknown form `{other}` (use dense, q8_0 or q4k)")),
        }
    }
}

impl std::fmt::Display for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.suffix())
    }
}

impl Form {
    pub const ALL: [Form; 3] = [Form::Dense, Form::Q8_0, Form::Q4K];

    fn quant(self) -> Option<Quant> {
        match self {
            Form::Dense => None,
            Form::Q8_0 => Some(Quant::Q8_0),
            Form::Q4K => Some(Quant::Q4KM),
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Form::Dense => "dense",
            Form::Q8_0 => "q8_0",
            Form::Q4K => "q4k",
        }
    }
}

/// One form of a model directory, as the user is offered it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormOption {
    pub form: Form,
    /// Memory a run needs on the CPU (weights, a default-length KV cache,
    /// working memory), from the same estimate the memory check uses.
    pub memory: u64,
    /// The converted GGUF (converted forms only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Runnable now: the dense form always, a converted one once its file exists.
    pub ready: bool,
}

/// The forms `dir` can run in, or `None` when `model` is not a directory.
pub fn options(model: &Path, cache: &Path) -> Result<Option<Vec<FormOption>>, ModelError> {
    if !stat(model)?.is_dir() {
        return Ok(None);
    }
    let cfg = read_dir_config(model)?;
    let ckpt = Checkpoint::open(model)?;
    let table = tensor_table(&cfg, &ckpt)?;
    let opts = LoadOptions::default();
    let mut out = Vec::new();
    for form in Form::ALL {
        let memory = match form.quant() {
            None => estimate(&cfg, &table, &ckpt, DType::F16, &opts).total,
            Some(q) => {
                // What the CPU holds of each tensor of the GGUF (the loader's
                // rule): the embedding as stored; norms in f32.
                let mut weights = 0u64;
                for spec in &table {
                    let n = spec.shape.iter().product::<usize>() as u64;
                    let is_output = matches!(spec.role, Role::Head { .. });
                    let t =
                        q.tensor_type_of(&spec.gguf, cfg.llama.num_layers, &spec.shape, is_output);
                    weights += match spec.role {
                        Role::Norm => n * 4,
                        Role::Embedding => n / t.block_size() as u64 * t.type_size() as u64,
                        _ => held_matrix_bytes(t, spec.shape[0] as u64, n, false),
                    };
                }
                estimate_with_weights(&cfg.llama, weights, 0, &opts).total
            }
        };
        let file = form.quant().map(|_| converted_path(model, form, cache));
        let ready = file.as_ref().is_none_or(|f| f.is_file());
        out.push(FormOption {
            form,
            memory,
            file,
            ready,
        });
    }
    Ok(Some(out))
}

/// Where the `form` conversion of `dir` lives in the cache: named for the
/// directory, with a hash of its full path so two folders of the same name
/// never share a file.
pub fn converted_path(dir: &Path, form: Form, cache: &Path) -> PathBuf {
    let real = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let hash = Sha256::digest(real.to_string_lossy().as_bytes());
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    cache
        .join(CONVERTED_DIR)
        .join(format!("{}-{short}-{}.gguf", dir_name(dir), form.suffix()))
}

/// Convert `dir` into the cache for `form` (a no-op for `Dense` or when the
/// file exists). Cancelling leaves no file.
pub fn prepare(
    dir: &Path,
    form: Form,
    cache: &Path,
    cancel: Option<&AtomicBool>,
    progress: impl FnMut(&ConvertProgress),
) -> Result<Option<ConvertSummary>, ConvertError> {
    let Some(quant) = form.quant() else {
        return Ok(None);
    };
    let out = converted_path(dir, form, cache);
    if out.is_file() {
        return Ok(None);
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ConvertError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    convert(dir, quant, &out, cancel, progress).map(Some)
}

/// The name a model's form is remembered under: its full path, so `./m`
/// and `/home/me/m` are one model.
pub fn key(model: &Path) -> PathBuf {
    model.canonicalize().unwrap_or_else(|_| model.to_path_buf())
}

/// The file to load for `model` given its remembered form: the converted
/// GGUF when that form is chosen and converted, else the model itself.
pub fn runnable(model: &Path, form: Option<Form>, cache: &Path) -> PathBuf {
    match form {
        Some(f) if f != Form::Dense && model.is_dir() => {
            let file = converted_path(model, f, cache);
            if file.is_file() {
                file
            } else {
                model.to_path_buf()
            }
        }
        _ => model.to_path_buf(),
    }
}
