//! The one Llama-family decoder ReportLens runs, over quantized (GGUF) or
//! dense weights.
//!
//! Unlike candle-transformers' `quantized_llama`, positions are not capped at
//! 4096, the KV cache is pre-allocated (and grows by doubling when it must),
//! and a prompt can be fed in chunks: `forward(chunk, offset)` attends to
//! every cached position plus causally within the chunk, so a 32K prompt never
//! builds a 32K x 32K attention matrix. On the CPU attention is our own
//! online-softmax kernel (`attention.rs`), GQA without copies.
use candle_core::quantized::QMatMul;

pub use super::embedding::Embedding;
use super::quant::forward_each;
pub use super::quant::Linear;
use super::rows::par_rows_mut;
use candle_core::{DType, Device, Module, Result, Tensor, D};
use reportlens_kernels::activation::{swiglu as swiglu_row, ExpFlavor};

/// How RoPE pairs the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (2i, 2i+1): GGUF `llama` weights (llama.cpp's converter
    /// permutes Q/K into this order).
    Interleaved,
    /// Halves (i, i + d/2): Hugging Face checkpoints (Index-1.9B as published).
    Half,
}

/// Optional RoPE scaling for prompts beyond the trained context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    None,
    /// Dynamic NTK: when a sequence is planned longer than the trained
    /// context `C`, the base becomes `base * (f*n/C - (f-1))^(d/(d-2))` for the
    /// planned length `n`, fixed for the whole sequence so cached keys stay
    /// consistent. Allows up to `C * factor` positions.
    DynamicNtk {
        factor: f64,
    },
}

/// Architecture hyper-parameters (from GGUF metadata or `config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    /// Dimensions of each head that RoPE rotates (the first `rope_dim`).
    pub rope_dim: usize,
    pub rope_theta: f64,
    pub rope_style: RopeStyle,
    pub rms_norm_eps: f64,
    /// Trained context length in tokens.
    pub context_length: usize,
}

impl LlamaConfig {
    /// Checks the numbers fit together; the message says which do not.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let c = self;
        if c.num_layers == 0 || c.num_heads == 0 || c.num_kv_heads == 0 || c.head_dim == 0 {
            return Err("layer, head and head-size counts must be positive".into());
        }
        if !c.num_heads.is_multiple_of(c.num_kv_heads) {
            return Err(format!(
                "{} attention heads cannot share {} KV heads evenly",
                c.num_heads, c.num_kv_heads
            ));
        }
        if c.rope_dim == 0 || c.rope_dim > c.head_dim || !c.rope_dim.is_multiple_of(2) {
            return Err(format!(
                "RoPE dimension {} does not fit head size {}",
                c.rope_dim, c.head_dim
            ));
        }
        if c.context_length == 0 {
            return Err("context length is 0".into());
        }
        if !(c.rope_theta.is_finite() && c.rope_theta > 1.0) {
            return Err(format!("RoPE base {} is not usable", c.rope_theta));
        }
        Ok(())
    }

    /// Bytes of KV cache per token for a cache of `kv`.
    pub fn kv_bytes_per_token(&self, kv: KvType) -> u64 {
        (self.num_layers * 2 * self.num_kv_heads * kv.head_bytes(self.head_dim)) as u64
    }
}

/// One decoder block's weights.
#[derive(Debug, Clone)]
pub struct LayerWeights {
    pub attn_norm: Tensor,
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub ffn_norm: Tensor,
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
}

/// Every weight of the model, quantized or dense, already on the device.
#[derive(Debug, Clone)]
pub struct LlamaWeights {
    /// (vocab, hidden): rows are gathered per token.
    pub embed: Embedding,
    pub layers: Vec<LayerWeights>,
    pub norm: Tensor,
    /// (vocab, hidden); the embedding again when the output is tied.
    pub lm_head: Linear,
}

impl Linear {
    /// A dense `(out, in)` weight.
    pub fn dense(w: Tensor) -> Self {
        Linear::Candle(QMatMul::Tensor(w))
    }
}

/// Per-layer KV storage: `(capacity, n_kv_heads, head_dim)` tensors of which
/// the first `len` positions are valid. The layout is the attention kernel's
/// `(S, H, D)`, so the valid prefix is a zero-copy `narrow`.
#[derive(Debug, Clone)]
struct LayerCache {
    k: Tensor,
    v: Tensor,
}

/// How the KV cache holds keys and values (Settings and `--kv-cache` use
/// the lowercase names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum KvType {
    /// Exact attention in f32 (twice f16's memory).
    #[serde(rename = "f32")]
    F32,
    /// llama.cpp's default cache, computed as it does.
    #[default]
    #[serde(rename = "f16")]
    F16,
    /// llama.cpp's `--cache-type-k/v q8_0`: ggml q8_0 blocks (34 bytes per
    /// 32 values, 53% of f16), computed as llama.cpp does. CPU only; heads
    /// must be whole blocks.
    #[serde(rename = "q8_0")]
    Q8_0,
}

impl KvType {
    /// Bytes of one cached head of `d` values.
    pub fn head_bytes(self, d: usize) -> usize {
        match self {
            KvType::F32 => 4 * d,
            KvType::F16 => 2 * d,
            KvType::Q8_0 => reportlens_kernels::attention::q8_0_head_bytes(d),
        }
    }

    /// The element type of the cache tensors (q8_0 blocks as bytes).
    fn dtype(self) -> DType {
        match self {
            KvType::F32 => DType::F32,
            KvType::F16 => DType::F16,
            KvType::Q8_0 => DType::U8,
        }
    }
}

impl std::str::FromStr for KvType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(KvType::F32),
            "f16" => Ok(KvType::F16),
            "q8_0" | "q8" => Ok(KvType::Q8_0),
            other => Err(format!(
                "unknown KV cache type `{other}` (use f16, q8_0 or f32)"
            )),
        }
    }
}

impl std::fmt::Display for KvType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
        })
    }
}

#[derive(Debug, Clone)]
struct KvCache {
    layers: Vec<Option<LayerCache>>,
    capacity: usize,
    len: usize,
    kv: KvType,
}

impl KvCache {
    fn new(num_layers: usize, kv: KvType) -> Self {
        Self {
            layers: vec![None; num_layers],
            capacity: 0,
            len: 0,
            kv,
        }
    }

    /// Makes room for `needed` positions (never more than `max`), keeping
    /// the valid prefix. Grows by doubling so decode rarely copies.
    fn ensure(
        &mut self,
        needed: usize,
        max: usize,
        kv_heads: usize,
        dim: usize,
        dev: &Device,
    ) -> Result<()> {
        if needed <= self.capacity {
            return Ok(());
        }
        if needed > max {
            candle_core::bail!("{needed} positions exceed the model's {max}");
        }
        let new_cap = needed.max((self.capacity * 2).min(max));
        // q8_0 rows are a head's blocks as bytes.
        let width = match self.kv {
            KvType::Q8_0 => self.kv.head_bytes(dim),
            _ => dim,
        };
        for layer in self.layers.iter_mut() {
            let k = Tensor::zeros((new_cap, kv_heads, width), self.kv.dtype(), dev)?;
            let v = Tensor::zeros((new_cap, kv_heads, width), self.kv.dtype(), dev)?;
            if let Some(old) = layer.as_ref() {
                if self.len > 0 {
                    k.slice_set(&old.k.narrow(0, 0, self.len)?, 0, 0)?;
                    v.slice_set(&old.v.narrow(0, 0, self.len)?, 0, 0)?;
                }
            }
            *layer = Some(LayerCache { k, v });
        }
        self.capacity = new_cap;
        Ok(())
    }

    /// The rotations a cache of heads of `d` takes (llama.cpp's
    /// `attn_rot_k/v`: a quantized cache, heads a multiple of 64): keys in
    /// the largest power of two dividing `d`, values in 64.
    fn rotation(&self, d: usize) -> Option<Rotation> {
        const MIN_ROTATION: usize = 64;
        if self.kv != KvType::Q8_0 || !d.is_multiple_of(MIN_ROTATION) {
            return None;
        }
        let mut qk = MIN_ROTATION;
        while d.is_multiple_of(qk * 2) {
            qk *= 2;
        }
        Some(Rotation {
            qk,
            v: MIN_ROTATION,
        })
    }

    /// Writes `k`/`v` `(L, H_kv, D)` at `pos` and returns the valid prefix
    /// `(pos + L, H_kv, D)` of both.
    fn write(&self, layer: usize, pos: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let c = match self.layers.get(layer).and_then(|l| l.as_ref()) {
            Some(c) => c,
            None => candle_core::bail!("KV cache for layer {layer} not allocated"),
        };
        let l = k.dim(0)?;
        let stored = |t: &Tensor| match self.kv {
            KvType::Q8_0 => q8_0_rows(t),
            kv => t.to_dtype(kv.dtype())?.contiguous(),
        };
        c.k.slice_set(&stored(k)?, 0, pos)?;
        c.v.slice_set(&stored(v)?, 0, pos)?;
        Ok((c.k.narrow(0, 0, pos + l)?, c.v.narrow(0, 0, pos + l)?))
    }
}

/// The Hadamard rotations llama.cpp applies around a quantized cache:
/// queries and keys in rows of `qk`, values and the attention output in
/// rows of `v` (see `fwht_rows`).
#[derive(Debug, Clone, Copy)]
struct Rotation {
    qk: usize,
    v: usize,
}

/// Rows of `n` of `t` (any shape) through the Hadamard rotation.
fn rotate(t: &Tensor, n: usize) -> Result<Tensor> {
    let mut x = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    par_rows_mut(&mut x, n, |_, row| {
        reportlens_kernels::attention::fwht_rows(row, n)
    });
    Tensor::from_vec(x, t.dims(), t.device())
}

/// `t` `(L, H, D)` as q8_0 blocks, `(L, H, D / 32 * 34)` bytes (CPU).
fn q8_0_rows(t: &Tensor) -> Result<Tensor> {
    let (l, h, d) = t.dims3()?;
    let x = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let mut bytes = Vec::with_capacity(l * h * KvType::Q8_0.head_bytes(d));
    reportlens_kernels::attention::quantize_q8_0_blocks(&x, &mut bytes);
    Tensor::from_vec(bytes, (l, h, KvType::Q8_0.head_bytes(d)), t.device())
}

/// Options fixed when the model is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelOptions {
    /// How the KV cache holds keys and values.
    pub kv_type: KvType,
    pub rope_scaling: RopeScaling,
    pub ops: Ops,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            kv_type: KvType::F32,
            rope_scaling: RopeScaling::None,
            ops: Ops::Native,
        }
    }
}

/// Which implementation of the per-layer operations (norm, RoPE, SwiGLU,
/// attention) a forward pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ops {
    /// On the CPU, ours with llama.cpp's numerics; on a GPU, candle's.
    #[default]
    Native,
    /// candle's device-agnostic operations everywhere: what CUDA and Metal
    /// run. On the CPU it exists so tests exercise the GPU path's logic.
    Portable,
}

/// A loaded model with its KV cache: feed tokens, get next-token logits.
#[derive(Debug, Clone)]
pub struct Llama {
    cfg: LlamaConfig,
    w: LlamaWeights,
    opts: ModelOptions,
    cache: KvCache,
    /// RoPE base in use for the current sequence (changes only with NTK).
    rope_base: f64,
    device: Device,
}

impl Llama {
    pub fn new(
        cfg: LlamaConfig,
        w: LlamaWeights,
        opts: ModelOptions,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::msg)?;
        if w.layers.len() != cfg.num_layers {
            candle_core::bail!(
                "{} layers of weights for {} in the config",
                w.layers.len(),
                cfg.num_layers
            );
        }
        if opts.kv_type == KvType::Q8_0 {
            if !(device.is_cpu() && opts.ops == Ops::Native) {
                candle_core::bail!("the q8_0 KV cache runs on the CPU only; use f16 on a GPU");
            }
            if !cfg.head_dim.is_multiple_of(32) {
                candle_core::bail!(
                    "the q8_0 KV cache needs heads of whole 32-value blocks, not {}",
                    cfg.head_dim
                );
            }
        }
        let cache = KvCache::new(cfg.num_layers, opts.kv_type);
        Ok(Self {
            rope_base: cfg.rope_theta,
            cfg,
            w,
            opts,
            cache,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    pub fn options(&self) -> &ModelOptions {
        &self.opts
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Positions the KV cache has room for now (it grows as runs need it).
    pub fn cache_capacity(&self) -> usize {
        self.cache.capacity
    }

    /// Positions currently held in the KV cache.
    pub fn position(&self) -> usize {
        self.cache.len
    }

    /// The most positions one sequence may use: the trained context, or
    /// `context * factor` with dynamic NTK scaling.
    pub fn max_positions(&self) -> usize {
        match self.opts.rope_scaling {
            RopeScaling::None => self.cfg.context_length,
            RopeScaling::DynamicNtk { factor } => {
                (self.cfg.context_length as f64 * factor.max(1.0)) as usize
            }
        }
    }

    /// Forget the sequence (the cache memory is kept for the next one).
    pub fn reset(&mut self) {
        self.cache.len = 0;
        self.rope_base = self.cfg.rope_theta;
    }

    /// Start a sequence that will use `total` positions: allocates the KV
    /// cache once, and fixes the RoPE base when NTK scaling applies.
    pub fn begin(&mut self, total: usize) -> Result<()> {
        self.reset();
        let max = self.max_positions();
        if total > max {
            candle_core::bail!("{total} tokens exceed the model's context of {max}");
        }
        self.rope_base = rope_base_for(&self.cfg, self.opts.rope_scaling, total);
        self.cache.ensure(
            total.max(1),
            max,
            self.cfg.num_kv_heads,
            self.cfg.head_dim,
            &self.device,
        )
    }

    /// Feeds `tokens` at positions `offset..offset + len` and returns the
    /// logits `(vocab,)` (f32) for the last of them. `offset` must not be past
    /// the cached positions; a smaller one rewinds the cache to it (reusing a
    /// shared prompt prefix).
    pub fn forward(&mut self, tokens: &[u32], offset: usize) -> Result<Tensor> {
        let h = self.forward_hidden(tokens, offset)?;
        let l = tokens.len();
        let last = h.narrow(1, l - 1, 1)?;
        let native = self.device.is_cpu() && self.opts.ops == Ops::Native;
        let last = rms_norm(native, &last, &self.w.norm, self.cfg.rms_norm_eps)?;
        self.w
            .lm_head
            .forward(&last)?
            .flatten_all()?
            .to_dtype(DType::F32)
    }

    /// Like `forward`, but the logits `(len, vocab)` of every position.
    pub fn forward_all(&mut self, tokens: &[u32], offset: usize) -> Result<Tensor> {
        let h = self.forward_hidden(tokens, offset)?;
        let native = self.device.is_cpu() && self.opts.ops == Ops::Native;
        let h = rms_norm(native, &h, &self.w.norm, self.cfg.rms_norm_eps)?;
        self.w.lm_head.forward(&h)?.squeeze(0)?.to_dtype(DType::F32)
    }

    /// Runs the decoder blocks; returns hidden states `(1, L, hidden)`.
    fn forward_hidden(&mut self, tokens: &[u32], offset: usize) -> Result<Tensor> {
        // candle's CPU kernels share one process-wide thread pool; two models
        // computing at once gain nothing on it and were seen to corrupt each
        // other's results (candle 0.11), so forwards take turns.
        let _turn = self
            .device
            .is_cpu()
            .then(|| FORWARD_LOCK.lock().unwrap_or_else(|e| e.into_inner()));
        let l = tokens.len();
        if l == 0 {
            candle_core::bail!("forward called with no tokens");
        }
        if offset > self.cache.len {
            candle_core::bail!(
                "position {offset} is past the {} cached positions",
                self.cache.len
            );
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.cfg.vocab_size) {
            candle_core::bail!(
                "token id {bad} is outside the vocabulary of {}",
                self.cfg.vocab_size
            );
        }
        let cfg = &self.cfg;
        let end = offset + l;
        let max = self.max_positions();
        self.cache
            .ensure(end, max, cfg.num_kv_heads, cfg.head_dim, &self.device)?;
        let (cos, sin) = rope_tables(cfg, self.rope_base, offset, l, &self.device)?;

        let mut x = self.w.embed.lookup(tokens, &self.device)?.unsqueeze(0)?; // (1, L, hidden)
        let eps = cfg.rms_norm_eps;
        let native = self.device.is_cpu() && self.opts.ops == Ops::Native;
        let mask = (!native && l > 1)
            .then(|| causal_mask(l, offset, &self.device))
            .transpose()?;
        let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
        for (i, lw) in self.w.layers.iter().enumerate() {
            let h = rms_norm(native, &x, &lw.attn_norm, eps)?;
            let [q, k, v] = forward_each([&lw.q, &lw.k, &lw.v], &h)?;
            let q = q.reshape((l, nh, hd))?;
            let k = k.reshape((l, nkv, hd))?;
            let v = v.reshape((l, nkv, hd))?;
            let q = apply_rope(native, cfg, &q, &cos, &sin)?;
            let k = apply_rope(native, cfg, &k, &cos, &sin)?;
            let rot = self.cache.rotation(hd);
            let (q, k, v) = match rot {
                Some(r) => (rotate(&q, r.qk)?, rotate(&k, r.qk)?, rotate(&v, r.v)?),
                None => (q, k, v),
            };
            let (k_all, v_all) = self.cache.write(i, offset, &k, &v)?;
            let ctx = attention(native, cfg, &q, &k_all, &v_all, offset, mask.as_ref())?; // (1, L, H*D)
            let ctx = match rot {
                Some(r) => rotate(&ctx, r.v)?,
                None => ctx,
            };
            x = (x + lw.o.forward(&ctx)?)?;
            let h = rms_norm(native, &x, &lw.ffn_norm, eps)?;
            let [gate, up] = forward_each([&lw.gate, &lw.up], &h)?;
            x = (x + lw.down.forward(&swiglu(native, &gate, &up)?)?)?;
        }
        self.cache.len = end;
        Ok(x)
    }
}

static FORWARD_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The RoPE base for a sequence of `total` positions.
fn rope_base_for(cfg: &LlamaConfig, scaling: RopeScaling, total: usize) -> f64 {
    match scaling {
        RopeScaling::DynamicNtk { factor } if total > cfg.context_length && factor > 1.0 => {
            let d = cfg.rope_dim as f64;
            let ratio = factor * total as f64 / cfg.context_length as f64 - (factor - 1.0);
            cfg.rope_theta * ratio.powf(d / (d - 2.0))
        }
        _ => cfg.rope_theta,
    }
}

/// cos/sin `(L, 1, rope_dim/2)` for positions `offset..offset+L`, computed
/// as ggml does (f32, each frequency the previous times `base^(-2/d)`), so
/// positions rotate exactly as in llama.cpp.
fn rope_tables(
    cfg: &LlamaConfig,
    base: f64,
    offset: usize,
    l: usize,
    dev: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = cfg.rope_dim / 2;
    let theta_scale = (base as f32).powf(-2.0 / cfg.rope_dim as f32);
    let mut cos = Vec::with_capacity(l * half);
    let mut sin = Vec::with_capacity(l * half);
    for p in offset..offset + l {
        let mut theta = p as f32;
        for _ in 0..half {
            cos.push(theta.cos());
            sin.push(theta.sin());
            theta *= theta_scale;
        }
    }
    Ok((
        Tensor::from_vec(cos, (l, 1, half), dev)?,
        Tensor::from_vec(sin, (l, 1, half), dev)?,
    ))
}

/// RMSNorm as ggml computes it on the CPU (sum of squares in f64,
/// `x * (1/sqrt(mean + eps)) * w`) when `native`; candle's kernel otherwise.
fn rms_norm(native: bool, x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    if !native {
        return candle_nn::ops::rms_norm(x, w, eps as f32);
    }
    let dims = x.dims().to_vec();
    let n = *dims.last().unwrap_or(&1);
    let mut xs = x.flatten_all()?.to_vec1::<f32>()?;
    let ws = w.to_vec1::<f32>()?;
    par_rows_mut(&mut xs, n, |_, row| {
        let sum: f64 = row.iter().map(|&v| (v * v) as f64).sum();
        let mean = (sum / n as f64) as f32;
        let scale = 1.0 / (mean + eps as f32).sqrt();
        for (v, g) in row.iter_mut().zip(&ws) {
            *v = *v * scale * g;
        }
    });
    Tensor::from_vec(xs, dims, x.device())
}

/// Rotates `x` `(L, H, D)` in place of position; only the first `rope_dim`
/// dimensions of each head turn.
fn apply_rope(
    native: bool,
    cfg: &LlamaConfig,
    x: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
) -> Result<Tensor> {
    if native && x.dtype() == DType::F32 {
        return rope_cpu(cfg, x, cos, sin);
    }
    let (l, h, d) = x.dims3()?;
    let rot = |t: &Tensor| -> Result<Tensor> {
        // Positions as the batch axis: (L, H, 1, d) with per-batch cos (L, 1, d/2).
        let t = t.contiguous()?.reshape((l, h, 1, t.dim(D::Minus1)?))?;
        let out = match cfg.rope_style {
            RopeStyle::Interleaved => candle_nn::rotary_emb::rope_i(&t, cos, sin)?,
            RopeStyle::Half => candle_nn::rotary_emb::rope(&t, cos, sin)?,
        };
        out.reshape((l, h, ()))
    };
    if cfg.rope_dim == d {
        rot(x)
    } else {
        let head = rot(&x.narrow(2, 0, cfg.rope_dim)?)?;
        let tail = x.narrow(2, cfg.rope_dim, d - cfg.rope_dim)?;
        Tensor::cat(&[&head, &tail], 2)
    }
}

/// RoPE as ggml's CPU `rotate_pairs` computes it, GCC's fused
/// multiply-adds included: `x0 c - x1 s` is `fma(x0, c, -(x1 s))` and
/// `x0 s + x1 c` is `fma(x0, s, x1 c)`. Unfused, about one value in ten
/// comes out an ulp off llama.cpp's.
fn rope_cpu(cfg: &LlamaConfig, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (l, h, d) = x.dims3()?;
    let mut xs = x.flatten_all()?.to_vec1::<f32>()?;
    let (cos, sin) = (
        cos.flatten_all()?.to_vec1::<f32>()?,
        sin.flatten_all()?.to_vec1::<f32>()?,
    );
    let half = cfg.rope_dim / 2;
    // Interleaved turns (2i, 2i+1); Half (NeoX) turns (i, i + rope_dim/2).
    let (step, other) = match cfg.rope_style {
        RopeStyle::Interleaved => (2, 1),
        RopeStyle::Half => (1, half),
    };
    par_rows_mut(&mut xs, d, |row, head| {
        let p = row / h;
        for i in 0..half {
            let (c, s) = (cos[p * half + i], sin[p * half + i]);
            let (a, b) = (i * step, i * step + other);
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0.mul_add(c, -(x1 * s));
            head[b] = x0.mul_add(s, x1 * c);
        }
    });
    Tensor::from_vec(xs, (l, h, d), x.device())
}

/// `silu(gate) * up`: natively with ggml's vector `exp`, otherwise candle's.
fn swiglu(native: bool, gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if !(native && gate.dtype() == DType::F32 && up.dtype() == DType::F32) {
        return gate.silu()? * up;
    }
    let g = gate.flatten_all()?.to_vec1::<f32>()?;
    let u = up.flatten_all()?.to_vec1::<f32>()?;
    let mut out = vec![0f32; g.len()];
    let n = *gate.dims().last().unwrap_or(&1);
    // ggml runs the vector loop row by row: each row's tail uses libm.
    let flavor = ExpFlavor::detect();
    par_rows_mut(&mut out, n, |r, o| {
        swiglu_row(flavor, &g[r * n..(r + 1) * n], &u[r * n..(r + 1) * n], o)
    });
    Tensor::from_vec(out, gate.dims(), gate.device())
}

/// The portable path's additive causal mask `(L, offset + L)` for a chunk of
/// `l` positions at `offset`: made once per forward and shared by every
/// layer (made per layer, a 32K prompt built and copied 36x the masks).
fn causal_mask(l: usize, offset: usize, device: &Device) -> Result<Tensor> {
    let kv_len = offset + l;
    let mask: Vec<f32> = (0..l)
        .flat_map(|i| {
            (0..kv_len).map(move |j| {
                if j > offset + i {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Tensor::from_vec(mask, (l, kv_len), device)
}

/// Causal attention of the chunk `q` `(L, H, D)` at positions
/// `offset..offset+L` over the cached `k`/`v` `(offset + L, H_kv, D)`.
/// Returns `(1, L, H*D)`.
fn attention(
    native: bool,
    cfg: &LlamaConfig,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    offset: usize,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (l, nh, hd) = q.dims3()?;
    let scale = 1.0 / (hd as f64).sqrt();
    if native {
        return super::attention::causal_attention_cpu(q, k, v, offset)?.unsqueeze(0);
    }
    // Portable (every GPU): plain matmul attention with an offset causal mask.
    let groups = cfg.num_heads / cfg.num_kv_heads;
    let q = q.transpose(0, 1)?.contiguous()?; // (H, L, D)
    let k = repeat_kv(&k.transpose(0, 1)?.to_dtype(q.dtype())?, groups)?; // (H, S, D)
    let v = repeat_kv(&v.transpose(0, 1)?.to_dtype(q.dtype())?, groups)?;
    let scores = (q.matmul(&k.t()?)? * scale)?; // (H, L, S)
    let scores = match mask {
        Some(mask) if l > 1 => scores.broadcast_add(mask)?,
        _ => scores,
    };
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    let ctx = probs.matmul(&v)?; // (H, L, D)
    ctx.transpose(0, 1)?.reshape((1, l, nh * hd))
}

/// `(H_kv, S, D)` -> `(H_kv * groups, S, D)`, each KV head repeated for its
/// group of query heads.
fn repeat_kv(x: &Tensor, groups: usize) -> Result<Tensor> {
    if groups == 1 {
        return x.contiguous();
    }
    let (h, s, d) = x.dims3()?;
    x.unsqueeze(1)?
        .broadcast_as((h, groups, s, d))?
        .contiguous()?
        .reshape((h * groups, s, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny random model; dense weights so the test is fast and exact.
    pub(crate) fn tiny(cfg: &LlamaConfig, dev: &Device) -> Result<LlamaWeights> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = |shape: (usize, usize), scale: f32| -> Result<Tensor> {
            let n = shape.0 * shape.1;
            let data: Vec<f32> = (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
                })
                .collect();
            Tensor::from_vec(data, shape, dev)
        };
        let (hs, is) = (cfg.hidden_size, cfg.intermediate_size);
        let qd = cfg.num_heads * cfg.head_dim;
        let kd = cfg.num_kv_heads * cfg.head_dim;
        let mut layers = Vec::new();
        for _ in 0..cfg.num_layers {
            layers.push(LayerWeights {
                attn_norm: (rand((1, hs), 0.2)?.squeeze(0)? + 1.0)?,
                q: Linear::dense(rand((qd, hs), 0.5)?),
                k: Linear::dense(rand((kd, hs), 0.5)?),
                v: Linear::dense(rand((kd, hs), 0.5)?),
                o: Linear::dense(rand((hs, qd), 0.5)?),
                ffn_norm: (rand((1, hs), 0.2)?.squeeze(0)? + 1.0)?,
                gate: Linear::dense(rand((is, hs), 0.5)?),
                up: Linear::dense(rand((is, hs), 0.5)?),
                down: Linear::dense(rand((hs, is), 0.5)?),
            });
        }
        let embed = rand((cfg.vocab_size, hs), 2.0)?;
        Ok(LlamaWeights {
            lm_head: Linear::dense(embed.clone()),
            embed: Embedding::Dense(embed),
            layers,
            norm: Tensor::ones(hs, DType::F32, dev)?,
        })
    }

    pub(crate) fn tiny_config() -> LlamaConfig {
        LlamaConfig {
            vocab_size: 50,
            hidden_size: 32,
            intermediate_size: 48,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            head_dim: 8,
            rope_dim: 8,
            rope_theta: 10000.0,
            rope_style: RopeStyle::Interleaved,
            rms_norm_eps: 1e-5,
            context_length: 64,
        }
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// Straightforward reference: full causal attention over the whole
    /// sequence, no cache, no chunking, rotations written out by hand.
    fn reference_logits(cfg: &LlamaConfig, w: &LlamaWeights, tokens: &[u32]) -> Result<Tensor> {
        let dev = Device::Cpu;
        let l = tokens.len();
        let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
        let rms = |x: &Tensor, g: &Tensor| -> Result<Tensor> {
            let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
            x.broadcast_div(&(ms + cfg.rms_norm_eps)?.sqrt()?)?
                .broadcast_mul(g)
        };
        let rope = |x: &Tensor| -> Result<Tensor> {
            // x: (L, H, D) as Vec, rotate pairs by hand.
            let (l, h, d) = x.dims3()?;
            let mut v = x.flatten_all()?.to_vec1::<f32>()?;
            for p in 0..l {
                for hh in 0..h {
                    // Only the first `rope_dim` dimensions turn.
                    let r = cfg.rope_dim;
                    for i in 0..r / 2 {
                        let a = p as f64 / cfg.rope_theta.powf(2.0 * i as f64 / r as f64);
                        let (c, s) = (a.cos() as f32, a.sin() as f32);
                        let (i0, i1) = match cfg.rope_style {
                            RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                            RopeStyle::Half => (i, i + r / 2),
                        };
                        let base = (p * h + hh) * d;
                        let (x0, x1) = (v[base + i0], v[base + i1]);
                        v[base + i0] = x0 * c - x1 * s;
                        v[base + i1] = x0 * s + x1 * c;
                    }
                }
            }
            Tensor::from_vec(v, (l, h, d), &dev)
        };
        let lin = |m: &Linear, x: &Tensor| -> Result<Tensor> {
            match m {
                Linear::Candle(QMatMul::Tensor(t)) => x.matmul(&t.t()?),
                _ => candle_core::bail!("dense only"),
            }
        };
        let mut x = w.embed.lookup(tokens, &dev)?; // (L, hidden)
        let mut mask = vec![0f32; l * l];
        for i in 0..l {
            for j in i + 1..l {
                mask[i * l + j] = f32::NEG_INFINITY;
            }
        }
        let mask = Tensor::from_vec(mask, (l, l), &dev)?;
        for lw in &w.layers {
            let h = rms(&x, &lw.attn_norm)?;
            let q = rope(&lin(&lw.q, &h)?.reshape((l, nh, hd))?)?;
            let k = rope(&lin(&lw.k, &h)?.reshape((l, nkv, hd))?)?;
            let v = lin(&lw.v, &h)?.reshape((l, nkv, hd))?;
            let mut heads = Vec::new();
            for hh in 0..nh {
                let kv = hh / (nh / nkv);
                let qh = q.narrow(1, hh, 1)?.squeeze(1)?;
                let kh = k.narrow(1, kv, 1)?.squeeze(1)?;
                let vh = v.narrow(1, kv, 1)?.squeeze(1)?;
                let s = (qh.matmul(&kh.t()?)? / (hd as f64).sqrt())?.broadcast_add(&mask)?;
                let p = candle_nn::ops::softmax(&s, D::Minus1)?;
                heads.push(p.matmul(&vh)?);
            }
            let ctx = Tensor::cat(&heads, 1)?;
            x = (x + lin(&lw.o, &ctx)?)?;
            let h = rms(&x, &lw.ffn_norm)?;
            let g = lin(&lw.gate, &h)?;
            let g = (&g * candle_nn::ops::sigmoid(&g)?)?;
            x = (x + lin(&lw.down, &(g * lin(&lw.up, &h)?)?)?)?;
        }
        let x = rms(&x, &w.norm)?;
        lin(&w.lm_head, &x)
    }

    #[test]
    fn matches_plain_reference_for_both_rope_styles() -> Result<()> {
        let dev = Device::Cpu;
        for style in [RopeStyle::Interleaved, RopeStyle::Half] {
            let cfg = LlamaConfig {
                rope_style: style,
                ..tiny_config()
            };
            let w = tiny(&cfg, &dev)?;
            let tokens: Vec<u32> = (0..19).map(|i| (i * 7 + 3) % 50).collect();
            let want = reference_logits(&cfg, &w, &tokens)?;
            let mut m = Llama::new(cfg, w, ModelOptions::default(), &dev)?;
            m.begin(tokens.len())?;
            let got = m.forward_all(&tokens, 0)?;
            let diff = max_abs_diff(&got, &want);
            assert!(diff < 1e-3, "{style:?}: max diff {diff}");
        }
        Ok(())
    }

    #[test]
    fn chunked_prefill_matches_one_piece() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = tiny_config();
        let w = tiny(&cfg, &dev)?;
        let tokens: Vec<u32> = (0..40).map(|i| (i * 13 + 5) % 50).collect();
        let mut m = Llama::new(cfg, w, ModelOptions::default(), &dev)?;
        m.begin(tokens.len())?;
        let whole = m.forward(&tokens, 0)?;
        m.begin(tokens.len())?;
        let mut last = None;
        for (i, chunk) in tokens.chunks(7).enumerate() {
            last = Some(m.forward(chunk, i * 7)?);
        }
        assert_eq!(m.position(), tokens.len());
        let diff = max_abs_diff(&whole, &last.unwrap());
        assert!(diff < 1e-4, "max diff {diff}");
        // Decoding one token after the chunks equals one piece of 41.
        let mut longer = tokens.clone();
        longer.push(9);
        let step = m.forward(&[9], tokens.len())?;
        m.begin(longer.len())?;
        let full = m.forward(&longer, 0)?;
        assert!(max_abs_diff(&step, &full) < 1e-4);
        Ok(())
    }

    #[test]
    fn cache_grows_and_rewinds() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = tiny_config();
        let w = tiny(&cfg, &dev)?;
        let tokens: Vec<u32> = (0..30).map(|i| (i * 3 + 1) % 50).collect();
        let mut m = Llama::new(cfg, w, ModelOptions::default(), &dev)?;
        m.begin(2)?; // reserves 2, must grow while feeding 30
        for (i, t) in tokens.iter().enumerate() {
            m.forward(&[*t], i)?;
        }
        let grown = m.forward(&[4], 30)?;
        // Rewind to 30 and feed the same token: same logits.
        let again = m.forward(&[4], 30)?;
        assert!(max_abs_diff(&grown, &again) < 1e-6);
        m.begin(31)?;
        let mut all = tokens.clone();
        all.push(4);
        let fresh = m.forward(&all, 0)?;
        assert!(max_abs_diff(&grown, &fresh) < 1e-4);
        Ok(())
    }

    /// `w` with every matrix held as f16 and applied as candle does on a
    /// GPU (`QMatMul::TensorF16`), as a model directory loads there.
    fn as_f16(w: &LlamaWeights) -> Result<LlamaWeights> {
        let half = |m: &Linear| -> Result<Linear> {
            match m {
                Linear::Candle(QMatMul::Tensor(t)) => {
                    Ok(Linear::Candle(QMatMul::TensorF16(t.to_dtype(DType::F16)?)))
                }
                _ => candle_core::bail!("dense only"),
            }
        };
        let mut out = w.clone();
        for l in &mut out.layers {
            for m in [
                &mut l.q,
                &mut l.k,
                &mut l.v,
                &mut l.o,
                &mut l.gate,
                &mut l.up,
                &mut l.down,
            ] {
                *m = half(m)?;
            }
        }
        out.lm_head = half(&w.lm_head)?;
        Ok(out)
    }

    /// The largest difference relative to the largest reference logit.
    fn relative_diff(got: &Tensor, want: &Tensor) -> f32 {
        let scale = want
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        max_abs_diff(got, want) / scale.max(1e-6)
    }

    /// The device-agnostic operations (what CUDA and Metal run) give the
    /// plain reference's logits: both RoPE styles, a partial rotation, grouped
    /// KV heads, a chunked prefill and a decode step.
    #[test]
    fn portable_ops_match_the_plain_reference() -> Result<()> {
        let dev = Device::Cpu;
        let portable = ModelOptions {
            ops: Ops::Portable,
            ..Default::default()
        };
        for style in [RopeStyle::Interleaved, RopeStyle::Half] {
            for rope_dim in [8, 4] {
                let cfg = LlamaConfig {
                    rope_style: style,
                    rope_dim,
                    ..tiny_config()
                };
                let w = tiny(&cfg, &dev)?;
                let tokens: Vec<u32> = (0..23).map(|i| (i * 7 + 3) % 50).collect();
                let want = reference_logits(&cfg, &w, &tokens)?;
                let mut m = Llama::new(cfg.clone(), w, portable, &dev)?;
                m.begin(tokens.len())?;
                let all = m.forward_all(&tokens, 0)?;
                let diff = max_abs_diff(&all, &want);
                assert!(
                    diff < 1e-3,
                    "{style:?}, rope_dim {rope_dim}: max diff {diff}"
                );
                // In pieces through the cache, then one token at a time.
                m.begin(tokens.len())?;
                for (i, chunk) in tokens[..16].chunks(5).enumerate() {
                    m.forward(chunk, i * 5)?;
                }
                for (p, &t) in tokens.iter().enumerate().skip(16) {
                    let got = m.forward(&[t], p)?;
                    let diff = max_abs_diff(&got, &want.get(p)?);
                    assert!(
                        diff < 1e-3,
                        "{style:?}, rope_dim {rope_dim}, decode at {p}: {diff}"
                    );
                }
            }
        }
        Ok(())
    }

    /// The GPU's usual setting, f16 weights and an f16 cache, stays close to
    /// the f32 reference, and to the CPU's own operations on the same weights.
    #[test]
    fn portable_ops_with_f16_weights_and_cache_stay_close() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = tiny_config();
        let w = tiny(&cfg, &dev)?;
        let tokens: Vec<u32> = (0..20).map(|i| (i * 11 + 2) % 50).collect();
        let want = reference_logits(&cfg, &w, &tokens)?;
        let half = as_f16(&w)?;
        let run = |ops: Ops| -> Result<Tensor> {
            let opts = ModelOptions {
                kv_type: KvType::F16,
                ops,
                ..Default::default()
            };
            let mut m = Llama::new(cfg.clone(), half.clone(), opts, &dev)?;
            m.begin(tokens.len())?;
            m.forward(&tokens[..12], 0)?;
            let mut last = None;
            for (p, &t) in tokens.iter().enumerate().skip(12) {
                last = Some(m.forward(&[t], p)?);
            }
            Ok(last.expect("decoded"))
        };
        let portable = run(Ops::Portable)?;
        let native = run(Ops::Native)?;
        let last = want.get(tokens.len() - 1)?;
        let to_ref = relative_diff(&portable, &last);
        assert!(to_ref < 0.02, "portable f16 vs f32 reference: {to_ref}");
        let to_native = relative_diff(&portable, &native);
        assert!(to_native < 0.02, "portable vs native on f16: {to_native}");
        Ok(())
    }

    #[test]
    fn f16_cache_stays_close() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = tiny_config();
        let w = tiny(&cfg, &dev)?;
        let tokens: Vec<u32> = (0..20).map(|i| (i * 11 + 2) % 50).collect();
        let mut exact = Llama::new(cfg.clone(), w.clone(), ModelOptions::default(), &dev)?;
        let opts = ModelOptions {
            kv_type: KvType::F16,
            ..Default::default()
        };
        let mut half = Llama::new(cfg, w, opts, &dev)?;
        exact.begin(20)?;
        half.begin(20)?;
        let a = exact.forward(&tokens[..12], 0)?;
        let b = half.forward(&tokens[..12], 0)?;
        assert!(max_abs_diff(&a, &b) < 0.05);
        let a = exact.forward(&tokens[12..13], 12)?;
        let b = half.forward(&tokens[12..13], 12)?;
        assert!(max_abs_diff(&a, &b) < 0.05);
        Ok(())
    }

    #[test]
    fn refuses_positions_past_context_and_bad_ids() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = tiny_config();
        let w = tiny(&cfg, &dev)?;
        let mut m = Llama::new(cfg, w, ModelOptions::default(), &dev)?;
        assert!(m.begin(65).is_err());
        m.begin(4)?;
        assert!(m.forward(&[50], 0).is_err());
        assert!(m.forward(&[1], 3).is_err());
        let opts = ModelOptions {
            rope_scaling: RopeScaling::DynamicNtk { factor: 4.0 },
            ..Default::default()
        };
        let mut m = Llama::new(tiny_config(), tiny(&tiny_config(), &dev)?, opts, &dev)?;
        assert_eq!(m.max_positions(), 256);
        m.begin(200)?;
        assert!(m.rope_base > 10000.0);
        Ok(())
    }
}
