//! Model on disk -> `Engine`: GGUF header checks, config from metadata, a
//! memory check, then weights onto the device. Every failure names the file
//! and is found before the long part (reading the weights) starts where it can be.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use serde::Serialize;

use super::device::{
    device_kind, free_memory, human_bytes, select_device, DeviceChoice, DeviceKind,
};
use super::llama::{
    Embedding, KvType, LayerWeights, Linear, Llama, LlamaConfig, LlamaWeights, ModelOptions, Ops,
    RopeScaling, RopeStyle,
};
use super::quant::requantized_on_cpu;
use super::template::ChatTemplate;
use super::{load_tokenizer, read_gguf, ModelError, TextTokenizer};

/// How to load a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Stay on the CPU even when a GPU is available.
    /// Where the model runs (`--device`, Settings).
    pub device: DeviceChoice,
    /// KV cache type: F16 (the default: llama.cpp's default and, on the CPU,
    /// its numerics bit for bit; half of F32's memory), Q8_0 (llama.cpp's
    /// q8_0 cache, its numerics too; about half of F16's) or F32 (exact
    /// attention).
    pub kv_type: KvType,
    pub rope_scaling: RopeScaling,
    /// The most tokens one run will hold (prompt + answer), for the memory
    /// check. `None`: [`DEFAULT_CHECK_TOKENS`] (or the context, if shorter);
    /// longer runs are checked as they start.
    pub max_tokens: Option<usize>,
    /// Prefill chunk size, for the working-memory estimate.
    pub chunk_size: usize,
    /// Refuse to load when the estimate exceeds available memory.
    pub check_memory: bool,
    /// Dense matrices of a model directory: F16 (`None`, the default; bf16
    /// weights lose only exponent range they do not use), or `Some(F32)`,
    /// exact and twice the memory, when asked for. GGUF weights keep their
    /// own types (F16/BF16 ones are held as F16).
    pub weight_dtype: Option<DType>,
    /// The per-layer operations; `Ops::Portable` runs a GPU's on the CPU.
    pub ops: Ops,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            kv_type: KvType::F16,
            rope_scaling: RopeScaling::None,
            max_tokens: None,
            chunk_size: 512,
            check_memory: true,
            weight_dtype: None,
            ops: Ops::Native,
        }
    }
}

/// A model ready to generate: weights + cache, tokenizer, chat template.
pub struct Engine {
    pub model: Llama,
    pub tokenizer: TextTokenizer,
    pub template: ChatTemplate,
    pub device: DeviceKind,
    pub path: PathBuf,
    /// GGUF `general.name`, else the file name.
    pub name: String,
    pub load_time: Duration,
    pub memory: MemoryEstimate,
}

/// What running the model will need, in bytes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MemoryEstimate {
    pub weights: u64,
    pub kv_cache: u64,
    pub working: u64,
    pub total: u64,
    /// Positions the KV cache was sized for.
    pub tokens: usize,
    /// `MemAvailable` when measured; `None` where unknown.
    pub available: Option<u64>,
}

/// Load a model with its tokenizer and chat template: a GGUF file, or a
/// model directory (`config.json` + safetensors or `pytorch_model.bin` +
/// tokenizer), e.g. Index-1.9B-32K as published.
pub fn load_engine(path: &Path, opts: &LoadOptions) -> Result<Engine, ModelError> {
    let start = Instant::now();
    if super::info::stat(path)?.is_dir() {
        return super::dir_model::load_dir_engine(path, opts);
    }
    let content = read_gguf(path)?;
    let cfg = gguf_config(path, &content)?;
    let tokenizer = load_tokenizer(path)?;
    if tokenizer.vocab_size() > cfg.vocab_size {
        return Err(corrupt(
            path,
            format!(
                "the tokenizer has {} tokens but the embedding only {} rows",
                tokenizer.vocab_size(),
                cfg.vocab_size
            ),
        ));
    }
    let (device, kind) = select_device(opts.device)?;
    let mut memory = estimate_memory(&cfg, &content, opts, kind);
    memory.available = free_memory(&device);
    if opts.check_memory {
        check_memory(path, &memory)?;
    }
    let template = ChatTemplate::from_jinja(meta_str(&content, "tokenizer.chat_template"));
    let name = meta_str(&content, "general.name")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            path.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let weights = load_gguf_weights(path, &content, &cfg, &device)?;
    let model_opts = ModelOptions {
        kv_type: opts.kv_type,
        rope_scaling: opts.rope_scaling,
        ops: opts.ops,
    };
    let model = Llama::new(cfg, weights, model_opts, &device).map_err(|e| runtime(path, e))?;
    Ok(Engine {
        model,
        tokenizer,
        template,
        device: device_kind(&device),
        path: path.to_path_buf(),
        name,
        load_time: start.elapsed(),
        memory,
    })
}

/// The architecture of a GGUF from its metadata. Only the Llama family
/// (`general.architecture = llama`) is accepted.
pub fn gguf_config(path: &Path, ct: &gguf_file::Content) -> Result<LlamaConfig, ModelError> {
    let arch = meta_str(ct, "general.architecture")
        .ok_or_else(|| unsupported(path, "the GGUF metadata has no `general.architecture`"))?;
    if arch != "llama" {
        return Err(unsupported(
            path,
            format!("architecture `{arch}` is not supported (ReportLens runs Llama-architecture models)"),
        ));
    }
    let req = |key: &str| -> Result<usize, ModelError> {
        let full = format!("{arch}.{key}");
        meta_uint(ct, &full)
            .filter(|&n| n > 0)
            .ok_or_else(|| unsupported(path, format!("the GGUF metadata has no valid `{full}`")))
    };
    let hidden_size = req("embedding_length")?;
    let num_heads = req("attention.head_count")?;
    let num_layers = req("block_count")?;
    let num_kv_heads =
        meta_uint(ct, &format!("{arch}.attention.head_count_kv")).unwrap_or(num_heads);
    let head_dim = meta_uint(ct, &format!("{arch}.attention.key_length"))
        .unwrap_or(hidden_size / num_heads.max(1));
    let embd = ct
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| unsupported(path, "tensor `token_embd.weight` is missing"))?;
    let vocab_size = embd.shape.dims().first().copied().unwrap_or(0);
    let scaling_type = meta_str(ct, &format!("{arch}.rope.scaling.type")).unwrap_or("none");
    if scaling_type != "none" {
        return Err(unsupported(
            path,
            format!("RoPE scaling `{scaling_type}` is not supported"),
        ));
    }
    if ct.tensor_infos.contains_key("rope_freqs.weight") {
        return Err(unsupported(
            path,
            "per-frequency RoPE factors (Llama 3.1 `rope_freqs`) are not supported",
        ));
    }
    let cfg = LlamaConfig {
        vocab_size,
        hidden_size,
        intermediate_size: req("feed_forward_length")?,
        num_layers,
        num_heads,
        num_kv_heads,
        head_dim,
        rope_dim: meta_uint(ct, &format!("{arch}.rope.dimension_count")).unwrap_or(head_dim),
        // llama.cpp's default for Llama when the key is absent.
        rope_theta: meta_f64(ct, &format!("{arch}.rope.freq_base")).unwrap_or(10_000.0),
        // llama.cpp's converter permutes Q/K rows so GGUF Llama rotates adjacent pairs.
        rope_style: RopeStyle::Interleaved,
        rms_norm_eps: meta_f64(ct, &format!("{arch}.attention.layer_norm_rms_epsilon"))
            .ok_or_else(|| {
                unsupported(
                    path,
                    format!("the GGUF metadata has no `{arch}.attention.layer_norm_rms_epsilon`"),
                )
            })?,
        context_length: req("context_length")?,
    };
    cfg.validate().map_err(|r| corrupt(path, r))?;
    Ok(cfg)
}

/// Reads every tensor, checking its shape against the config.
fn load_gguf_weights(
    path: &Path,
    ct: &gguf_file::Content,
    cfg: &LlamaConfig,
    device: &Device,
) -> Result<LlamaWeights, ModelError> {
    let mut file = std::fs::File::open(path).map_err(|e| ModelError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut read = |name: &str, shape: &[usize]| -> Result<QTensor, ModelError> {
        let info = ct
            .tensor_infos
            .get(name)
            .ok_or_else(|| unsupported(path, format!("tensor `{name}` is missing")))?;
        if info.shape.dims() != shape {
            return Err(corrupt(
                path,
                format!(
                    "tensor `{name}` has shape {:?}, the metadata implies {shape:?}",
                    info.shape.dims()
                ),
            ));
        }
        ct.tensor(&mut file, name, device)
            .map_err(|e| corrupt(path, format!("cannot read tensor `{name}`: {e}")))
    };
    let (hs, is) = (cfg.hidden_size, cfg.intermediate_size);
    let qd = cfg.num_heads * cfg.head_dim;
    let kd = cfg.num_kv_heads * cfg.head_dim;
    let dense = |t: QTensor, name: &str| -> Result<Tensor, ModelError> {
        t.dequantize(device)
            .map_err(|e| runtime(path, format!("tensor `{name}`: {e}")))
    };
    let mm = |t: QTensor| -> Result<Linear, ModelError> {
        Linear::from_qtensor(t).map_err(|e| runtime(path, e))
    };

    let embd_q = read("token_embd.weight", &[cfg.vocab_size, hs])?;
    let embed = Embedding::from_qtensor(&embd_q, device)
        .map_err(|e| runtime(path, format!("tensor `token_embd.weight`: {e}")))?;
    let mut layers = Vec::with_capacity(cfg.num_layers);
    for i in 0..cfg.num_layers {
        let p = format!("blk.{i}");
        layers.push(LayerWeights {
            attn_norm: dense(read(&format!("{p}.attn_norm.weight"), &[hs])?, "attn_norm")?,
            q: mm(read(&format!("{p}.attn_q.weight"), &[qd, hs])?)?,
            k: mm(read(&format!("{p}.attn_k.weight"), &[kd, hs])?)?,
            v: mm(read(&format!("{p}.attn_v.weight"), &[kd, hs])?)?,
            o: mm(read(&format!("{p}.attn_output.weight"), &[hs, qd])?)?,
            ffn_norm: dense(read(&format!("{p}.ffn_norm.weight"), &[hs])?, "ffn_norm")?,
            gate: mm(read(&format!("{p}.ffn_gate.weight"), &[is, hs])?)?,
            up: mm(read(&format!("{p}.ffn_up.weight"), &[is, hs])?)?,
            down: mm(read(&format!("{p}.ffn_down.weight"), &[hs, is])?)?,
        });
    }
    let norm = dense(read("output_norm.weight", &[hs])?, "output_norm")?;
    // Tied output: no `output.weight` means the embedding doubles as the head.
    let lm_head = if ct.tensor_infos.contains_key("output.weight") {
        mm(read("output.weight", &[cfg.vocab_size, hs])?)?
    } else {
        mm(embd_q)?
    };
    Ok(LlamaWeights {
        embed,
        layers,
        norm,
        lm_head,
    })
}

/// The desktop app's rule: the KV cache chosen in Settings (f16 unless
/// chosen: llama.cpp's, half the memory of f32, as fast) with room for
/// `max_tokens` (the job's longest pass, when its plan is known), or the
/// memory check's refusal with its numbers.
pub fn load_engine_fitting(
    path: &Path,
    device: DeviceChoice,
    kv_type: KvType,
    max_tokens: Option<usize>,
) -> Result<Engine, ModelError> {
    load_engine(
        path,
        &LoadOptions {
            device,
            kv_type,
            max_tokens,
            ..Default::default()
        },
    )
}

/// Where the job's size is not known at load, the memory check budgets a KV
/// cache this long (or the whole context when shorter), not the trained 32K
/// context: a longer run is checked when it starts (`Engine::generate`).
pub const DEFAULT_CHECK_TOKENS: usize = 8192;

/// Weights + KV cache + working memory for a run of `opts.max_tokens`.
pub fn estimate_memory(
    cfg: &LlamaConfig,
    ct: &gguf_file::Content,
    opts: &LoadOptions,
    kind: DeviceKind,
) -> MemoryEstimate {
    let gpu = kind != DeviceKind::Cpu;
    let mut weights = 0u64;
    // Re-quantizing a matrix holds it dequantized to f32 beside its Q8_0 copy.
    let mut loading = 0u64;
    // Without `output.weight` the embedding is also the head (a matrix);
    // with one, it is only the table that rows are gathered from (counted
    // below): counting it as a matrix too overstated Index-1.9B by 75 MB
    // (Q4_K) to 141 MB (Q8_0).
    let tied = !ct.tensor_infos.contains_key("output.weight");
    for (name, info) in &ct.tensor_infos {
        let elems = info.shape.elem_count() as u64;
        let stored =
            elems / info.ggml_dtype.block_size() as u64 * info.ggml_dtype.type_size() as u64;
        // Matrices as `held_matrix_bytes` says; other tensors as stored,
        // dense ones widened to f32.
        let matrix = info.shape.dims().len() == 2 && (tied || name != "token_embd.weight");
        let held = match info.ggml_dtype {
            _ if !matrix && name == "token_embd.weight" => 0,
            d if matrix => {
                if !gpu && requantized_on_cpu(d) {
                    // The dense copy and ggml's Q8_0 blocks, packed from.
                    loading = loading.max(elems * 4 + elems / 32 * 34);
                }
                held_matrix_bytes(d, info.shape.dims()[0] as u64, elems, gpu)
            }
            GgmlDType::F16 | GgmlDType::BF16 => elems * 4,
            _ => stored,
        };
        weights += held;
        if name == "token_embd.weight" {
            // The table rows are gathered from, as stored (f32 if dense).
            // A GPU gathers from a dense f32 copy.
            weights += match info.ggml_dtype {
                GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => elems * 4,
                _ if gpu => elems * 4,
                _ => stored,
            };
        }
    }
    estimate_with_weights(cfg, weights, loading, opts)
}

/// Bytes held of a weight matrix of `rows` rows and `elems` values stored
/// as `dtype` (`Linear::from_qtensor`): F16/BF16 as F16; on the CPU, Q8_0,
/// Q5_0, Q4_K and Q6_K re-laid where this CPU packs them (`q8_packed`,
/// `q5_0_packed`, `q4k_packed`, `q6k_packed`: ggml's bytes, a last group of
/// sixteen rows padded), formats without a kernel of ours re-quantized to
/// Q8_0, the others (Q4_0/Q4_1, Q5_K) as stored; a GPU holds the blocks as
/// stored (candle's kernels read them).
pub(crate) fn held_matrix_bytes(dtype: GgmlDType, rows: u64, elems: u64, gpu: bool) -> u64 {
    let stored = elems / dtype.block_size() as u64 * dtype.type_size() as u64;
    match dtype {
        GgmlDType::F16 | GgmlDType::BF16 => elems * 2,
        _ if gpu => stored,
        GgmlDType::Q8_0 if rows > 0 => q8_0_held(rows, elems),
        GgmlDType::Q4K if rows > 0 => {
            let k = (elems / rows) as usize;
            reportlens_kernels::q4k_packed::held_bytes(rows as usize, k) as u64
        }
        GgmlDType::Q6K if rows > 0 => {
            let k = (elems / rows) as usize;
            reportlens_kernels::q6k_packed::held_bytes(rows as usize, k) as u64
        }
        GgmlDType::Q5_0 if rows > 0 => {
            let k = (elems / rows) as usize;
            reportlens_kernels::q5_0_packed::held_bytes(rows as usize, k) as u64
        }
        d if requantized_on_cpu(d) && rows > 0 => q8_0_held(rows, elems).max(stored),
        _ => stored,
    }
}

/// Bytes of `elems` values in `rows` rows held as Q8_0 on the CPU.
fn q8_0_held(rows: u64, elems: u64) -> u64 {
    let k = (elems / rows) as usize;
    reportlens_kernels::q8_packed::held_bytes(rows as usize, k) as u64
}

/// The estimate for `weights` bytes of loaded weights; `loading` is what
/// loading holds besides them at its peak (one tensor being converted).
pub(crate) fn estimate_with_weights(
    cfg: &LlamaConfig,
    weights: u64,
    loading: u64,
    opts: &LoadOptions,
) -> MemoryEstimate {
    let tokens = opts
        .max_tokens
        .unwrap_or(DEFAULT_CHECK_TOKENS)
        .min(cfg.context_length);
    let kv_cache = cfg.kv_bytes_per_token(opts.kv_type) * tokens as u64;
    let chunk = opts.chunk_size.max(1) as u64;
    let per_token = (4 * cfg.hidden_size
        + 3 * cfg.intermediate_size
        + 3 * cfg.num_heads * cfg.head_dim
        + 2 * cfg.num_kv_heads * cfg.head_dim) as u64
        * 4;
    // Activations of one chunk (x2 for temporaries alive at once), logits,
    // and a fixed allowance for the runtime.
    let run = 2 * chunk * per_token + 2 * cfg.vocab_size as u64 * 4 + 64 * 1024 * 1024;
    let working = run.max(loading);
    MemoryEstimate {
        weights,
        kv_cache,
        working,
        total: weights + kv_cache + working,
        tokens,
        // Filled in by the loader from the device it chose.
        available: None,
    }
}

/// Refuses when the estimate does not fit in available memory; the message
/// has the numbers and what to try instead.
pub fn check_memory(path: &Path, m: &MemoryEstimate) -> Result<(), ModelError> {
    let Some(available) = m.available else {
        return Ok(());
    };
    if m.total <= available {
        return Ok(());
    }
    Err(ModelError::OutOfMemory {
        path: path.to_path_buf(),
        detail: format!(
            "needs {} (weights {} + KV cache {} for {} tokens + working {}) but only {} is available; \
             use a shorter context or a smaller quantized model \
             (`reportlens convert --quant q8_0|q4k` makes one from a model directory)",
            human_bytes(m.total),
            human_bytes(m.weights),
            human_bytes(m.kv_cache),
            m.tokens,
            human_bytes(m.working),
            human_bytes(available)
        ),
    })
}

fn meta_str<'a>(ct: &'a gguf_file::Content, key: &str) -> Option<&'a str> {
    match ct.metadata.get(key)? {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

fn meta_uint(ct: &gguf_file::Content, key: &str) -> Option<usize> {
    let v = ct.metadata.get(key)?;
    let n: u64 = match v {
        Value::U8(n) => *n as u64,
        Value::U16(n) => *n as u64,
        Value::U32(n) => *n as u64,
        Value::U64(n) => *n,
        Value::I8(n) => u64::try_from(*n).ok()?,
        Value::I16(n) => u64::try_from(*n).ok()?,
        Value::I32(n) => u64::try_from(*n).ok()?,
        Value::I64(n) => u64::try_from(*n).ok()?,
        _ => return None,
    };
    usize::try_from(n).ok()
}

fn meta_f64(ct: &gguf_file::Content, key: &str) -> Option<f64> {
    match ct.metadata.get(key)? {
        Value::F32(x) => Some(*x as f64),
        Value::F64(x) => Some(*x),
        _ => meta_uint(ct, key).map(|n| n as f64),
    }
}

fn unsupported(path: &Path, reason: impl Into<String>) -> ModelError {
    ModelError::Unsupported {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> ModelError {
    ModelError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn runtime(path: &Path, reason: impl std::fmt::Display) -> ModelError {
    ModelError::Runtime {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}
