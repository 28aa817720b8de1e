//! A Hugging Face style model directory (Index-1.9B as published, or a
//! Llama checkpoint) -> `Engine` with dense weights.
//!
//! The tensor table here is shared with the GGUF converter: which checkpoint
//! tensor becomes which decoder weight (and GGUF tensor), with what shape,
//! and what must be done to it on the way (`norm_head`, Q/K permutation).
use std::path::Path;
use std::time::Instant;

use candle_core::quantized::QMatMul;
use candle_core::{DType, Device, Tensor, D};

use super::checkpoint::Checkpoint;
use super::config::{read_dir_config, DirConfig};
use super::device::{device_kind, free_memory, select_device};
use super::info::dir_name;
use super::llama::{Embedding, LayerWeights, Linear, Llama, LlamaWeights, ModelOptions};
use super::load::{check_memory, estimate_with_weights, Engine, LoadOptions, MemoryEstimate};
use super::template::ChatTemplate;
use super::{load_tokenizer, ModelError};

/// What a checkpoint tensor is to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `(vocab, hidden)`, rows gathered per token.
    Embedding,
    /// RMSNorm gain `(hidden,)`.
    Norm,
    /// A projection `(out, in)`. `rope_heads`: Q or K, whose rows
    /// llama.cpp's converter permutes for interleaved RoPE (the head count).
    Matrix { rope_heads: Option<usize> },
    /// `lm_head` `(vocab, hidden)`; `normalize`: Index `norm_head`.
    Head { normalize: bool },
}

/// One tensor of the decoder: where it comes from and where it goes.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    /// Name in the checkpoint (`model.layers.0.self_attn.q_proj.weight`).
    pub source: String,
    /// Name in a Llama GGUF (`blk.0.attn_q.weight`).
    pub gguf: String,
    pub shape: Vec<usize>,
    pub role: Role,
}

/// The decoder's tensors in GGUF order, each checked against the
/// checkpoint (present, right shape) before anything is read.
pub fn tensor_table(cfg: &DirConfig, ckpt: &Checkpoint) -> Result<Vec<TensorSpec>, ModelError> {
    let c = &cfg.llama;
    let (hs, is, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
    let qd = c.num_heads * c.head_dim;
    let kd = c.num_kv_heads * c.head_dim;
    let mut t = Vec::with_capacity(3 + 9 * c.num_layers);
    let mut add = |source: String, gguf: String, shape: Vec<usize>, role: Role| {
        t.push(TensorSpec {
            source,
            gguf,
            shape,
            role,
        })
    };
    add(
        "model.embed_tokens.weight".into(),
        "token_embd.weight".into(),
        vec![v, hs],
        Role::Embedding,
    );
    let mat = |rope_heads| Role::Matrix { rope_heads };
    for i in 0..c.num_layers {
        let (p, g) = (format!("model.layers.{i}"), format!("blk.{i}"));
        let layer: [(&str, &str, Vec<usize>, Role); 9] = [
            ("input_layernorm", "attn_norm", vec![hs], Role::Norm),
            (
                "self_attn.q_proj",
                "attn_q",
                vec![qd, hs],
                mat(Some(c.num_heads)),
            ),
            (
                "self_attn.k_proj",
                "attn_k",
                vec![kd, hs],
                mat(Some(c.num_kv_heads)),
            ),
            ("self_attn.v_proj", "attn_v", vec![kd, hs], mat(None)),
            ("self_attn.o_proj", "attn_output", vec![hs, qd], mat(None)),
            ("post_attention_layernorm", "ffn_norm", vec![hs], Role::Norm),
            ("mlp.gate_proj", "ffn_gate", vec![is, hs], mat(None)),
            ("mlp.up_proj", "ffn_up", vec![is, hs], mat(None)),
            ("mlp.down_proj", "ffn_down", vec![hs, is], mat(None)),
        ];
        for (src, dst, shape, role) in layer {
            add(
                format!("{p}.{src}.weight"),
                format!("{g}.{dst}.weight"),
                shape,
                role,
            );
        }
    }
    add(
        "model.norm.weight".into(),
        "output_norm.weight".into(),
        vec![hs],
        Role::Norm,
    );
    // The head: `lm_head.weight`, or the embedding when tied. A tied head
    // under norm_head is a normalized copy, so it is listed on its own.
    let head_source = if ckpt.entry("lm_head.weight").is_some() {
        Some("lm_head.weight")
    } else if cfg.tie_word_embeddings {
        cfg.norm_head.then_some("model.embed_tokens.weight")
    } else {
        return Err(ModelError::Corrupt {
            path: ckpt.file_of("lm_head.weight"),
            reason: "the checkpoint has no tensor `lm_head.weight` and config.json does not \
                     tie it to the embedding"
                .into(),
        });
    };
    if let Some(src) = head_source {
        add(
            src.into(),
            "output.weight".into(),
            vec![v, hs],
            Role::Head {
                normalize: cfg.norm_head,
            },
        );
    }
    for spec in &t {
        ckpt.expect(&spec.source, &spec.shape)?;
    }
    Ok(t)
}

/// Reads `spec` as f32 with what the decoder needs applied: the unit-norm
/// rows of an Index head. (Q/K stay in the checkpoint's half-split order:
/// the engine runs them with `RopeStyle::Half`.)
pub fn read_f32(ckpt: &Checkpoint, spec: &TensorSpec) -> Result<Tensor, ModelError> {
    let t = ckpt.read(&spec.source)?;
    let t = t.to_dtype(DType::F32).map_err(|e| compute(ckpt, spec, e))?;
    match spec.role {
        Role::Head { normalize: true } => normalize_rows(&t).map_err(|e| compute(ckpt, spec, e)),
        _ => Ok(t),
    }
}

fn compute(ckpt: &Checkpoint, spec: &TensorSpec, e: candle_core::Error) -> ModelError {
    ModelError::Runtime {
        path: ckpt.file_of(&spec.source),
        reason: format!("tensor `{}`: {e}", spec.source),
    }
}

/// Each row scaled to unit L2 norm (`torch.nn.functional.normalize`, eps 1e-12).
pub fn normalize_rows(w: &Tensor) -> candle_core::Result<Tensor> {
    let norm = w
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    w.broadcast_div(&norm)
}

/// Reorders the rows of a Hugging Face Q or K projection `(heads*d, in)` so
/// that interleaved RoPE (pairs `2i, 2i+1`) rotates what half-split RoPE
/// (pairs `i, i+d/2`) rotated: llama.cpp's `LlamaModel.permute`,
/// `reshape(heads, 2, d/2, in).swapaxes(1, 2)`.
pub fn permute_for_interleaved(w: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    if heads == 0 || !rows.is_multiple_of(2 * heads) {
        candle_core::bail!("{rows} rows cannot be split into {heads} heads of even size");
    }
    w.reshape((heads, 2, rows / heads / 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))
}

/// The element type dense matrices are held in: F16 unless F32 is asked for.
/// A bf16 checkpoint is never widened to f32 behind the user's back (that
/// doubles its memory: 8.7 GB for Index); candle has no BF16 matmul on the
/// CPU (it widens every call), and f16 keeps bf16's 8-bit mantissa exactly.
fn weight_dtype(opts: &LoadOptions) -> DType {
    match opts.weight_dtype {
        Some(DType::F32) => DType::F32,
        _ => DType::F16,
    }
}

/// Memory the loaded directory model will need: matrices in `dtype`,
/// embedding and norms in f32, plus one tensor in flight while loading.
pub(crate) fn estimate(
    cfg: &DirConfig,
    table: &[TensorSpec],
    ckpt: &Checkpoint,
    dtype: DType,
    opts: &LoadOptions,
) -> MemoryEstimate {
    let mut weights = 0u64;
    let mut in_flight = 0u64;
    for spec in table {
        let n = spec.shape.iter().product::<usize>() as u64;
        weights += match spec.role {
            Role::Embedding | Role::Norm => n * 4,
            Role::Matrix { .. } | Role::Head { .. } => n * dtype.size_in_bytes() as u64,
        };
        let stored = ckpt
            .entry(&spec.source)
            .map_or(4, |e| e.dtype.size_in_bytes() as u64);
        in_flight = in_flight.max(n * (stored + 4));
    }
    // A tied head without norm_head shares the f32 embedding, or is an f16 copy.
    let tied = !table.iter().any(|s| matches!(s.role, Role::Head { .. }));
    if tied && dtype != DType::F32 {
        weights += (cfg.llama.vocab_size * cfg.llama.hidden_size * dtype.size_in_bytes()) as u64;
    }
    estimate_with_weights(&cfg.llama, weights, in_flight, opts)
}

/// Load a model directory: config, tokenizer, checks (tensors, shapes,
/// file sizes, memory), then the weights one tensor at a time.
pub fn load_dir_engine(path: &Path, opts: &LoadOptions) -> Result<Engine, ModelError> {
    let start = Instant::now();
    let cfg = read_dir_config(path)?;
    let ckpt = Checkpoint::open(path)?;
    let table = tensor_table(&cfg, &ckpt)?;
    let tokenizer = load_tokenizer(path)?;
    if tokenizer.vocab_size() > cfg.llama.vocab_size {
        return Err(ModelError::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "the tokenizer has {} tokens but the embedding only {} rows",
                tokenizer.vocab_size(),
                cfg.llama.vocab_size
            ),
        });
    }
    let (device, _) = select_device(opts.device)?;
    let dtype = weight_dtype(opts);
    let memory = estimate(&cfg, &table, &ckpt, dtype, opts);
    let mut memory = memory;
    memory.available = free_memory(&device);
    if opts.check_memory {
        check_memory(path, &memory)?;
    }
    let template = dir_template(path, &cfg)?;
    let weights = load_weights(&cfg, &ckpt, &table, dtype, &device)?;
    let model_opts = ModelOptions {
        kv_type: opts.kv_type,
        rope_scaling: opts.rope_scaling,
        ops: opts.ops,
    };
    let model = Llama::new(cfg.llama.clone(), weights, model_opts, &device).map_err(|e| {
        ModelError::Runtime {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    Ok(Engine {
        model,
        tokenizer,
        template,
        device: device_kind(&device),
        path: path.to_path_buf(),
        name: dir_name(path),
        load_time: start.elapsed(),
        memory,
    })
}

/// Index speaks in raw ids; others carry a Jinja template in
/// `tokenizer_config.json` (recognised by its markup).
pub fn dir_template(dir: &Path, cfg: &DirConfig) -> Result<ChatTemplate, ModelError> {
    if cfg.is_index() {
        return Ok(ChatTemplate::IndexRaw);
    }
    Ok(ChatTemplate::from_jinja(
        dir_chat_template_source(dir)?.as_deref(),
    ))
}

/// `chat_template` of `tokenizer_config.json` (the default one of a list).
pub fn dir_chat_template_source(dir: &Path) -> Result<Option<String>, ModelError> {
    let path = dir.join("tokenizer_config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ModelError::Io { path, source }),
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| ModelError::Corrupt {
        path: path.clone(),
        reason: format!("not valid JSON: {e}"),
    })?;
    Ok(match json.get("chat_template") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .or_else(|| list.first())
            .and_then(|t| t.get("template"))
            .and_then(|t| t.as_str())
            .map(str::to_string),
        _ => None,
    })
}

fn load_weights(
    cfg: &DirConfig,
    ckpt: &Checkpoint,
    table: &[TensorSpec],
    dtype: DType,
    device: &Device,
) -> Result<LlamaWeights, ModelError> {
    let load = |spec: &TensorSpec| -> Result<Tensor, ModelError> {
        read_f32(ckpt, spec)?
            .to_device(device)
            .map_err(|e| compute(ckpt, spec, e))
    };
    let linear = |spec: &TensorSpec, t: Tensor| -> Result<Linear, ModelError> {
        Ok(match dtype {
            DType::F16 => Linear::Candle(QMatMul::TensorF16(
                t.to_dtype(DType::F16).map_err(|e| compute(ckpt, spec, e))?,
            )),
            _ => Linear::dense(t),
        })
    };
    // The table is in decoder order: embedding, 9 per layer, norm, [head].
    let per_layer = 9;
    let c = &cfg.llama;
    if table.len() < 2 + per_layer * c.num_layers {
        return Err(ModelError::Runtime {
            path: ckpt.file_of(""),
            reason: "internal: incomplete tensor table".into(),
        });
    }
    let embed = load(&table[0])?;
    let mut layers = Vec::with_capacity(c.num_layers);
    for i in 0..c.num_layers {
        let s = &table[1 + per_layer * i..1 + per_layer * (i + 1)];
        let mat = |j: usize| -> Result<Linear, ModelError> { linear(&s[j], load(&s[j])?) };
        layers.push(LayerWeights {
            attn_norm: load(&s[0])?,
            q: mat(1)?,
            k: mat(2)?,
            v: mat(3)?,
            o: mat(4)?,
            ffn_norm: load(&s[5])?,
            gate: mat(6)?,
            up: mat(7)?,
            down: mat(8)?,
        });
    }
    let rest = &table[1 + per_layer * c.num_layers..];
    let norm = load(&rest[0])?;
    let lm_head = match rest.get(1) {
        Some(spec) => linear(spec, load(spec)?)?,
        // Tied: the embedding itself (shared when f32).
        None => linear(&table[0], embed.clone())?,
    };
    Ok(LlamaWeights {
        embed: Embedding::Dense(embed),
        layers,
        norm,
        lm_head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rows_gives_unit_rows() {
        let w = Tensor::new(&[[3f32, 4.0], [0.0, 0.5], [0.0, 0.0]], &Device::Cpu).unwrap();
        let n = normalize_rows(&w).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(n, vec![vec![0.6, 0.8], vec![0.0, 1.0], vec![0.0, 0.0]]);
    }

    #[test]
    fn permutation_is_llama_cpp_s() {
        // One head of 4 rows: half-split pairs (0,2) and (1,3) become
        // adjacent: order 0, 2, 1, 3.
        let w = Tensor::new(
            &[[0f32], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0]],
            &Device::Cpu,
        )
        .unwrap();
        let p = permute_for_interleaved(&w, 2).unwrap();
        let rows: Vec<f32> = p.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(rows, vec![0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
        assert!(permute_for_interleaved(&w, 3).is_err());
    }
}
