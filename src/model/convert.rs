//! Model directory (Index-1.9B or Llama, Hugging Face layout) or GGUF ->
//! Llama-architecture GGUF, quantized.
//!
//! What a directory needs on the way, as llama.cpp's `convert_hf_to_gguf`
//! does for Llama: Q/K rows permuted so RoPE pairs adjacent dimensions,
//! `norm_head` applied to the output rows (llama.cpp has no such flag, so
//! the file carries it baked in), the RoPE base (`10000 * rope_ratio` for
//! Index) and context in the metadata, and the SentencePiece vocabulary as a
//! `llama` tokenizer. Tensors are read, converted and written one at a
//! time, so memory stays near one tensor however large the model.
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

use super::checkpoint::Checkpoint;
use super::config::read_dir_config;
use super::dir_model::{
    dir_chat_template_source, permute_for_interleaved, read_f32, tensor_table, Role,
};
use super::gguf_write::{GgufWriter, TensorHeader};
use super::info::{dir_name, read_gguf, stat};
use super::load::gguf_config;
use super::template::INDEX_JINJA;
use super::{load_tokenizer, sentencepiece, ModelError};

/// The weight type asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    F16,
    Q8_0,
    /// Q4_K matrices with a Q6_K output head (llama.cpp's Q4_K_S mix, less
    /// its Q5_K early value layers).
    Q4K,
    /// llama.cpp's Q4_K_M mix: as `Q4K`, with Q6_K value and down
    /// projections in the layers `use_more_bits` picks.
    Q4KM,
}

impl std::str::FromStr for Quant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f16" => Ok(Quant::F16),
            "q8_0" | "q8" => Ok(Quant::Q8_0),
            "q4k" | "q4_k" | "q4_k_s" => Ok(Quant::Q4K),
            "q4km" | "q4_k_m" => Ok(Quant::Q4KM),
            other => Err(format!(
                "unknown quantization `{other}` (use q8_0, q4k, q4_k_m or f16)"
            )),
        }
    }
}

impl Quant {
    /// llama.cpp `general.file_type` (`LLAMA_FTYPE_MOSTLY_*`).
    fn file_type(self) -> u32 {
        match self {
            Quant::F16 => 1,
            Quant::Q8_0 => 7,
            Quant::Q4K => 14,
            Quant::Q4KM => 15,
        }
    }

    /// The type of tensor `name` (`blk.N.…` in a model of `layers`
    /// layers): `tensor_type`, except where Q4_K_M gives a layer's value or
    /// down projection more bits.
    pub fn tensor_type_of(
        self,
        name: &str,
        layers: usize,
        shape: &[usize],
        is_output: bool,
    ) -> GgmlDType {
        let wider = ["attn_v.weight", "ffn_down.weight"]
            .iter()
            .any(|t| name.ends_with(t));
        match layer_of(name) {
            Some(i) if self == Quant::Q4KM && wider && use_more_bits(i, layers) => {
                Quant::Q4K.tensor_type(shape, true)
            }
            _ => self.tensor_type(shape, is_output),
        }
    }

    /// The type of a tensor with rows of `cols` elements. Norms stay f32.
    /// A row that does not fill whole blocks falls back as llama.cpp's
    /// quantizer does (Q4_K -> Q5_0, Q6_K -> Q8_0), then to F16.
    pub fn tensor_type(self, shape: &[usize], is_output: bool) -> GgmlDType {
        if shape.len() < 2 {
            return GgmlDType::F32;
        }
        let cols = *shape.last().unwrap_or(&0);
        let fits = |t: GgmlDType| cols.is_multiple_of(t.block_size());
        let wanted: &[GgmlDType] = match (self, is_output) {
            (Quant::F16, _) => &[GgmlDType::F16],
            (Quant::Q8_0, _) => &[GgmlDType::Q8_0, GgmlDType::F16],
            (Quant::Q4K | Quant::Q4KM, true) => &[GgmlDType::Q6K, GgmlDType::Q8_0, GgmlDType::F16],
            (Quant::Q4K | Quant::Q4KM, false) => &[GgmlDType::Q4K, GgmlDType::Q5_0, GgmlDType::F16],
        };
        wanted
            .iter()
            .copied()
            .find(|&t| fits(t))
            .unwrap_or(GgmlDType::F16)
    }
}

/// The layer of a `blk.N.…` tensor.
fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers,
/// and every third between them.
fn use_more_bits(layer: usize, layers: usize) -> bool {
    let eighth = layers / 8;
    layer < eighth || layer >= 7 * layers / 8 || (layer - eighth) % 3 == 2
}

/// Layers of a model, from its `blk.N.…` tensor names.
fn layer_count<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.filter_map(layer_of).max().map_or(0, |i| i + 1)
}

/// Where the conversion is.
#[derive(Debug, Clone)]
pub struct ConvertProgress<'a> {
    /// Tensors written, of `total`.
    pub done: usize,
    pub total: usize,
    /// The tensor just written, its type and shape.
    pub tensor: &'a str,
    pub dtype: GgmlDType,
    pub shape: &'a [usize],
    pub bytes_written: u64,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct ConvertSummary {
    pub out: PathBuf,
    pub tensors: usize,
    /// Tensor data bytes.
    pub bytes: u64,
    /// Tensors per type (`"Q8_0": 14`).
    pub types: BTreeMap<String, usize>,
}

/// Why a conversion failed. Messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{path}: cannot write the GGUF: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the output would overwrite the model being converted; choose another --out")]
    SameFile { path: PathBuf },
    #[error("{path}: cannot convert tensor `{tensor}`: {reason}")]
    Tensor {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
    #[error("conversion cancelled; nothing was written to {path}")]
    Cancelled { path: PathBuf },
}

/// Convert the model at `src` (a model directory, or a GGUF to
/// re-quantize) into a Llama GGUF at `out`. The file appears only when
/// complete (written as `out.partial`, then renamed).
pub fn convert(
    src: &Path,
    quant: Quant,
    out: &Path,
    cancel: Option<&AtomicBool>,
    mut progress: impl FnMut(&ConvertProgress),
) -> Result<ConvertSummary, ConvertError> {
    let is_dir = stat(src)?.is_dir();
    if !is_dir && same_file(src, out) {
        return Err(ConvertError::SameFile {
            path: out.to_path_buf(),
        });
    }
    let job = if is_dir {
        plan_dir(src, quant)?
    } else {
        plan_gguf(src, quant)?
    };
    let partial = partial_path(out);
    let result = write_all(&job, &partial, cancel, &mut progress);
    match result {
        Ok(summary) => {
            std::fs::rename(&partial, out).map_err(|e| ConvertError::Write {
                path: out.to_path_buf(),
                source: e,
            })?;
            Ok(ConvertSummary {
                out: out.to_path_buf(),
                ..summary
            })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(match e {
                ConvertError::Cancelled { .. } => ConvertError::Cancelled {
                    path: out.to_path_buf(),
                },
                e => e,
            })
        }
    }
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Where each output tensor comes from.
enum Source {
    Dir {
        ckpt: Checkpoint,
        /// Per output tensor: the directory table entry.
        specs: Vec<super::dir_model::TensorSpec>,
    },
    Gguf {
        path: PathBuf,
        content: gguf_file::Content,
    },
}

struct Job {
    src: PathBuf,
    metadata: Vec<(String, Value)>,
    headers: Vec<TensorHeader>,
    source: Source,
}

fn plan_dir(dir: &Path, quant: Quant) -> Result<Job, ConvertError> {
    let cfg = read_dir_config(dir)?;
    let ckpt = Checkpoint::open(dir)?;
    let specs = tensor_table(&cfg, &ckpt)?;
    let spm_path = dir.join("tokenizer.model");
    if !spm_path.is_file() {
        return Err(ModelError::Unsupported {
            path: dir.to_path_buf(),
            reason: "conversion needs the SentencePiece tokenizer.model (a tokenizer.json \
                     vocabulary is not converted)"
                .into(),
        }
        .into());
    }
    let spm = sentencepiece::read_model(&spm_path)?;
    if spm.model_type != 2 {
        return Err(ModelError::Unsupported {
            path: spm_path,
            reason: format!(
                "SentencePiece model type {} is not BPE; a GGUF `llama` vocabulary is \
                 tokenized as BPE, so the ids would silently differ",
                spm.model_type
            ),
        }
        .into());
    }
    // The directory's own tokenizer settles the special ids and BOS use.
    let tok = load_tokenizer(dir)?;
    let c = &cfg.llama;
    let n = spm.pieces.len();
    if n > c.vocab_size {
        return Err(ModelError::Corrupt {
            path: spm_path,
            reason: format!("{n} pieces but config.json has vocab_size {}", c.vocab_size),
        }
        .into());
    }
    // Pad to the embedding's rows as convert_hf_to_gguf does.
    let mut tokens: Vec<Value> = spm
        .pieces
        .iter()
        .map(|p| Value::String(p.clone()))
        .collect();
    let mut scores: Vec<Value> = spm.scores.iter().map(|&s| Value::F32(s)).collect();
    let mut types: Vec<Value> = spm.types.iter().map(|&t| Value::I32(t as i32)).collect();
    for i in n..c.vocab_size {
        tokens.push(Value::String(format!("[PAD{i}]")));
        scores.push(Value::F32(-1000.0));
        types.push(Value::I32(5)); // unused
    }
    let template = if cfg.is_index() {
        Some(INDEX_JINJA.to_string())
    } else {
        dir_chat_template_source(dir)?
    };
    let add_bos = !cfg.is_index() && tok.add_bos();

    let u32v = |n: usize| Value::U32(n as u32);
    let mut md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("llama".into())),
        ("general.name".into(), Value::String(dir_name(dir))),
        ("general.file_type".into(), Value::U32(quant.file_type())),
        ("general.quantization_version".into(), Value::U32(2)),
        ("llama.vocab_size".into(), u32v(c.vocab_size)),
        ("llama.context_length".into(), u32v(c.context_length)),
        ("llama.embedding_length".into(), u32v(c.hidden_size)),
        ("llama.block_count".into(), u32v(c.num_layers)),
        (
            "llama.feed_forward_length".into(),
            u32v(c.intermediate_size),
        ),
        ("llama.rope.dimension_count".into(), u32v(c.rope_dim)),
        (
            "llama.rope.freq_base".into(),
            Value::F32(c.rope_theta as f32),
        ),
        ("llama.attention.head_count".into(), u32v(c.num_heads)),
        ("llama.attention.head_count_kv".into(), u32v(c.num_kv_heads)),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(c.rms_norm_eps as f32),
        ),
    ];
    if c.head_dim * c.num_heads != c.hidden_size {
        md.push(("llama.attention.key_length".into(), u32v(c.head_dim)));
        md.push(("llama.attention.value_length".into(), u32v(c.head_dim)));
    }
    md.extend([
        ("tokenizer.ggml.model".into(), Value::String("llama".into())),
        ("tokenizer.ggml.pre".into(), Value::String("default".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens)),
        ("tokenizer.ggml.scores".into(), Value::Array(scores)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        (
            "tokenizer.ggml.add_space_prefix".into(),
            Value::Bool(spm.add_dummy_prefix),
        ),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(add_bos)),
        ("tokenizer.ggml.add_eos_token".into(), Value::Bool(false)),
    ]);
    let special = [
        ("tokenizer.ggml.bos_token_id", tok.bos_id()),
        ("tokenizer.ggml.eos_token_id", tok.eos_id()),
        (
            "tokenizer.ggml.unknown_token_id",
            u32::try_from(spm.unk_id).ok(),
        ),
    ];
    for (key, id) in special {
        if let Some(id) = id.filter(|&i| (i as usize) < c.vocab_size) {
            md.push((key.into(), Value::U32(id)));
        }
    }
    if let Some(t) = template {
        md.push(("tokenizer.chat_template".into(), Value::String(t)));
    }

    // Tied without norm_head: the embedding is the head, quantized as one.
    let tied = !specs.iter().any(|s| s.gguf == "output.weight");
    let layers = layer_count(specs.iter().map(|s| s.gguf.as_str()));
    let headers = specs
        .iter()
        .map(|s| {
            let is_output = s.gguf == "output.weight" || (tied && s.gguf == "token_embd.weight");
            TensorHeader {
                name: s.gguf.clone(),
                shape: s.shape.clone(),
                dtype: quant.tensor_type_of(&s.gguf, layers, &s.shape, is_output),
            }
        })
        .collect();
    Ok(Job {
        src: dir.to_path_buf(),
        metadata: md,
        headers,
        source: Source::Dir { ckpt, specs },
    })
}

fn plan_gguf(path: &Path, quant: Quant) -> Result<Job, ConvertError> {
    let content = read_gguf(path)?;
    // Only Llama GGUFs: the engine checks the rest of the metadata here.
    gguf_config(path, &content)?;
    let mut md: Vec<(String, Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "general.file_type" | "general.quantization_version" | "general.alignment"
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    md.sort_by(|a, b| a.0.cmp(&b.0));
    md.push(("general.file_type".into(), Value::U32(quant.file_type())));
    md.push(("general.quantization_version".into(), Value::U32(2)));
    // Tied models: the embedding is the output head, quantized as one.
    let tied = !content.tensor_infos.contains_key("output.weight");
    let mut infos: Vec<(&String, &gguf_file::TensorInfo)> = content.tensor_infos.iter().collect();
    infos.sort_by_key(|(_, i)| i.offset);
    let layers = layer_count(infos.iter().map(|(n, _)| n.as_str()));
    let headers = infos
        .iter()
        .map(|(name, info)| {
            let shape = info.shape.dims().to_vec();
            let is_output =
                name.as_str() == "output.weight" || (tied && name.as_str() == "token_embd.weight");
            TensorHeader {
                name: (*name).clone(),
                dtype: quant.tensor_type_of(name, layers, &shape, is_output),
                shape,
            }
        })
        .collect();
    Ok(Job {
        src: path.to_path_buf(),
        metadata: md,
        headers,
        source: Source::Gguf {
            path: path.to_path_buf(),
            content,
        },
    })
}

fn write_all(
    job: &Job,
    partial: &Path,
    cancel: Option<&AtomicBool>,
    progress: &mut impl FnMut(&ConvertProgress),
) -> Result<ConvertSummary, ConvertError> {
    let write_err = |e: std::io::Error| ConvertError::Write {
        path: partial.to_path_buf(),
        source: e,
    };
    let mut w =
        GgufWriter::create(partial, &job.metadata, job.headers.clone()).map_err(write_err)?;
    let mut gguf_file = match &job.source {
        Source::Gguf { path, .. } => Some(File::open(path).map_err(|e| ModelError::Io {
            path: path.clone(),
            source: e,
        })?),
        Source::Dir { .. } => None,
    };
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    let total = job.headers.len();
    for (i, h) in job.headers.iter().enumerate() {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(ConvertError::Cancelled {
                path: partial.to_path_buf(),
            });
        }
        let tensor_err = |reason: String| ConvertError::Tensor {
            path: job.src.clone(),
            tensor: h.name.clone(),
            reason,
        };
        let q = match &job.source {
            Source::Dir { ckpt, specs } => {
                let spec = &specs[i];
                let mut t = read_f32(ckpt, spec)?;
                if let Role::Matrix {
                    rope_heads: Some(heads),
                } = spec.role
                {
                    t = permute_for_interleaved(&t, heads)
                        .map_err(|e| tensor_err(e.to_string()))?;
                }
                quantize(&t, h.dtype).map_err(tensor_err)?
            }
            Source::Gguf { content, .. } => {
                let f = gguf_file.as_mut().expect("opened for a GGUF source");
                let src = content
                    .tensor(f, &h.name, &Device::Cpu)
                    .map_err(|e| tensor_err(format!("cannot read it: {e}")))?;
                if src.dtype() == h.dtype {
                    src
                } else {
                    let t = src
                        .dequantize(&Device::Cpu)
                        .map_err(|e| tensor_err(e.to_string()))?;
                    quantize(&t, h.dtype).map_err(tensor_err)?
                }
            }
        };
        w.write_tensor(&q).map_err(write_err)?;
        *types.entry(format!("{:?}", h.dtype)).or_default() += 1;
        progress(&ConvertProgress {
            done: i + 1,
            total,
            tensor: &h.name,
            dtype: h.dtype,
            shape: &h.shape,
            bytes_written: w.bytes_written(),
        });
    }
    let bytes = w.bytes_written();
    w.finish().map_err(write_err)?;
    Ok(ConvertSummary {
        out: partial.to_path_buf(),
        tensors: total,
        bytes,
        types,
    })
}

fn quantize(t: &Tensor, dtype: GgmlDType) -> Result<QTensor, String> {
    let t = t.to_dtype(DType::F32).map_err(|e| e.to_string())?;
    QTensor::quantize(&t, dtype).map_err(|e| format!("cannot quantize to {dtype:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quant_names_parse() {
        assert_eq!("q8_0".parse::<Quant>(), Ok(Quant::Q8_0));
        assert_eq!("Q4K".parse::<Quant>(), Ok(Quant::Q4K));
        assert_eq!("f16".parse::<Quant>(), Ok(Quant::F16));
        assert!("q3".parse::<Quant>().is_err());
    }

    #[test]
    fn tensor_types_follow_llama_cpp_fallbacks() {
        use GgmlDType as G;
        assert_eq!(Quant::Q8_0.tensor_type(&[64], false), G::F32);
        assert_eq!(Quant::Q8_0.tensor_type(&[64, 64], false), G::Q8_0);
        assert_eq!(Quant::Q8_0.tensor_type(&[64, 48], false), G::F16);
        assert_eq!(Quant::Q4K.tensor_type(&[5888, 2048], false), G::Q4K);
        assert_eq!(Quant::Q4K.tensor_type(&[65029, 2048], true), G::Q6K);
        // SmolLM2's 576-wide rows do not fill 256-element K blocks.
        assert_eq!(Quant::Q4K.tensor_type(&[1536, 576], false), G::Q5_0);
        assert_eq!(Quant::Q4K.tensor_type(&[49152, 576], true), G::Q8_0);
        assert_eq!(Quant::F16.tensor_type(&[3, 5], false), G::F16);
        // Q4_K_M: value and down projections of the layers llama.cpp widens.
        let q = Quant::Q4KM;
        let wide: Vec<usize> = (0..30)
            .filter(|&i| {
                q.tensor_type_of(&format!("blk.{i}.ffn_down.weight"), 30, &[576, 1536], false)
                    == G::Q6K
            })
            .collect();
        assert_eq!(wide, [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]);
        assert_eq!(
            q.tensor_type_of("blk.3.ffn_down.weight", 30, &[576, 1536], false),
            G::Q4K
        );
        assert_eq!(
            q.tensor_type_of("blk.0.attn_v.weight", 30, &[192, 576], false),
            G::Q8_0
        );
        assert_eq!(
            q.tensor_type_of("blk.0.attn_q.weight", 30, &[576, 576], false),
            G::Q5_0
        );
        assert_eq!("q4_k_m".parse::<Quant>(), Ok(Quant::Q4KM));
    }

    #[test]
    fn partial_name_sits_beside_the_output() {
        assert_eq!(
            partial_path(Path::new("/x/m.gguf")),
            PathBuf::from("/x/m.gguf.partial")
        );
    }
}
