//! Shared by the Index checkpoint and conversion tests: tiny checkpoints in
//! the Hugging Face layout, and an independent plain-ops reference forward.
#![allow(dead_code)]
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, D};
use reportlens::model::{load_engine, Engine, LoadOptions};

/// The committed tiny Index checkpoint (torch-written `pytorch_model.bin`).
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index-tiny")
}

pub fn reference_json() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture_dir().join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The ids the fixture's reference logits are for: `[0] + system + [3] + user + [4]`.
pub fn reference_ids() -> Vec<u32> {
    reference_json()["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

/// Logits PyTorch computed for `reference_ids()` (make_index_tiny.py).
pub fn torch_logits() -> Tensor {
    let rows: Vec<Vec<f32>> = reference_json()["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let (n, v) = (rows.len(), rows[0].len());
    Tensor::from_vec(rows.concat(), (n, v), &Device::Cpu).unwrap()
}

/// A config.json for the test checkpoints.
#[derive(Debug, Clone)]
pub struct Shape {
    pub model_type: &'static str,
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub vocab: usize,
    pub context: usize,
    pub eps: f64,
    /// Index: `rope_ratio` (no `rope_theta` written); Llama: `rope_theta`.
    pub rope_ratio: Option<f64>,
    pub rope_theta: Option<f64>,
    pub norm_head: bool,
    pub tied: bool,
}

impl Shape {
    /// Index layout at toy size, over the fixture's 420-piece tokenizer.
    pub fn index_tiny() -> Self {
        Shape {
            model_type: "index",
            hidden: 64,
            intermediate: 160,
            layers: 2,
            heads: 4,
            kv_heads: 4,
            vocab: 423,
            context: 2048,
            eps: 1e-6,
            rope_ratio: Some(32.0),
            rope_theta: None,
            norm_head: true,
            tied: false,
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// The RoPE base the model is meant to run at.
    pub fn rope_base(&self) -> f64 {
        self.rope_theta.unwrap_or(10_000.0) * self.rope_ratio.unwrap_or(1.0)
    }

    pub fn config_json(&self) -> serde_json::Value {
        let mut c = serde_json::json!({
            "model_type": self.model_type,
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "vocab_size": self.vocab,
            "max_position_embeddings": self.context,
            "rms_norm_eps": self.eps,
            "hidden_act": "silu",
            "tie_word_embeddings": self.tied,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "torch_dtype": "bfloat16",
        });
        if let Some(r) = self.rope_ratio {
            c["rope_ratio"] = r.into();
        }
        if let Some(t) = self.rope_theta {
            c["rope_theta"] = t.into();
        }
        if self.norm_head {
            c["norm_head"] = 1.into();
        }
        c
    }
}

/// Random bf16 weights in the Hugging Face names (deterministic xorshift),
/// about unit gain per projection (uniform, std `1/sqrt(fan_in)`, a little
/// more for Q/K): a calm network whose quantization error stays
/// proportional, so tolerances can be tight.
pub fn random_weights(s: &Shape, seed: u64) -> HashMap<String, Tensor> {
    let mut state = seed | 1;
    let mut rand = |shape: &[usize], scale: f32, offset: f32| -> Tensor {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                offset + ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
            })
            .collect();
        Tensor::from_vec(data, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap()
    };
    let (h, i, v, hd) = (s.hidden, s.intermediate, s.vocab, s.head_dim());
    // Uniform on [-a, a] has std a/sqrt(3).
    let unit = |fan_in: usize| (3.0 / fan_in as f32).sqrt();
    let (qk, hu, iu) = (1.5 * unit(h), unit(h), unit(i));
    let mut w = HashMap::new();
    w.insert(
        "model.embed_tokens.weight".to_string(),
        rand(&[v, h], 1.5, 0.0),
    );
    for l in 0..s.layers {
        let p = format!("model.layers.{l}");
        let mut put = |name: &str, shape: &[usize], scale: f32, offset: f32| {
            w.insert(format!("{p}.{name}.weight"), rand(shape, scale, offset));
        };
        put("input_layernorm", &[h], 0.15, 1.0);
        put("self_attn.q_proj", &[s.heads * hd, h], qk, 0.0);
        put("self_attn.k_proj", &[s.kv_heads * hd, h], qk, 0.0);
        put("self_attn.v_proj", &[s.kv_heads * hd, h], hu, 0.0);
        put("self_attn.o_proj", &[h, s.heads * hd], hu, 0.0);
        put("post_attention_layernorm", &[h], 0.15, 1.0);
        put("mlp.gate_proj", &[i, h], hu, 0.0);
        put("mlp.up_proj", &[i, h], hu, 0.0);
        put("mlp.down_proj", &[h, i], iu, 0.0);
    }
    w.insert("model.norm.weight".to_string(), rand(&[h], 0.15, 1.0));
    if !s.tied {
        // Rows of unequal norm, so that norm_head changes the logits.
        let head = rand(&[v, h], 0.3, 0.0).to_dtype(DType::F32).unwrap();
        let scale = rand(&[v, 1], 1.4, 1.6).to_dtype(DType::F32).unwrap();
        let head = head
            .broadcast_mul(&scale)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap();
        w.insert("lm_head.weight".to_string(), head);
    }
    w
}

/// A model directory: config.json, the fixture tokenizer, weights as one
/// safetensors file.
pub fn write_safetensors_dir(dir: &Path, s: &Shape, w: &HashMap<String, Tensor>) {
    write_meta(dir, s);
    candle_core::safetensors::save(w, dir.join("model.safetensors")).unwrap();
}

/// config.json plus the fixture's tokenizer files.
pub fn write_meta(dir: &Path, s: &Shape) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&s.config_json()).unwrap(),
    )
    .unwrap();
    for f in ["tokenizer.model", "tokenizer_config.json"] {
        std::fs::copy(fixture_dir().join(f), dir.join(f)).unwrap();
    }
}

/// The fixture's weights as candle reads them from the torch pickle.
pub fn fixture_weights() -> HashMap<String, Tensor> {
    candle_core::pickle::read_all(fixture_dir().join("pytorch_model.bin"))
        .unwrap()
        .into_iter()
        .collect()
}

/// How the reference is run: normally as the model is meant to run; the
/// knobs let a test leave out one Index rule to show that it matters.
#[derive(Debug, Clone, Copy)]
pub struct RefRules {
    pub rope_base: f64,
    pub norm_head: bool,
}

/// Straightforward forward pass: f32, full causal attention over the whole
/// sequence, no cache, no chunking, Hugging Face rotate_half RoPE with
/// `inv_freq = base^(-2i/d)` in f64, the head rows normalized here when
/// `norm_head`. Returns `(len, vocab)` logits.
pub fn reference_logits(
    s: &Shape,
    w: &HashMap<String, Tensor>,
    ids: &[u32],
    rules: RefRules,
) -> Tensor {
    let dev = Device::Cpu;
    let f = |name: &str| w[name].to_dtype(DType::F32).unwrap();
    let n = ids.len();
    let (nh, nkv, hd) = (s.heads, s.kv_heads, s.head_dim());
    let rms = |x: &Tensor, g: &Tensor| -> Tensor {
        let ms = x.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
        x.broadcast_div(&(ms + s.eps).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(g)
            .unwrap()
    };
    let mm = |x: &Tensor, name: &str| x.matmul(&f(name).t().unwrap()).unwrap();
    // cos/sin (n, hd): angles repeated over both halves.
    let mut cos = vec![0f32; n * hd];
    let mut sin = vec![0f32; n * hd];
    for p in 0..n {
        for i in 0..hd / 2 {
            let inv = 1.0 / rules.rope_base.powf(2.0 * i as f64 / hd as f64);
            let a = p as f64 * inv;
            for j in [i, i + hd / 2] {
                cos[p * hd + j] = a.cos() as f32;
                sin[p * hd + j] = a.sin() as f32;
            }
        }
    }
    let cos = Tensor::from_vec(cos, (n, hd), &dev).unwrap();
    let sin = Tensor::from_vec(sin, (n, hd), &dev).unwrap();
    let rope = |x: &Tensor| -> Tensor {
        // x: (n, hd) for one head; rotate_half(x) = cat(-x2, x1).
        let x1 = x.narrow(1, 0, hd / 2).unwrap();
        let x2 = x.narrow(1, hd / 2, hd / 2).unwrap();
        let rot = Tensor::cat(&[&x2.neg().unwrap(), &x1], 1).unwrap();
        ((x * &cos).unwrap() + (rot * &sin).unwrap()).unwrap()
    };
    let mut mask = vec![0f32; n * n];
    for i in 0..n {
        for j in i + 1..n {
            mask[i * n + j] = f32::NEG_INFINITY;
        }
    }
    let mask = Tensor::from_vec(mask, (n, n), &dev).unwrap();
    let idx = Tensor::new(ids, &dev).unwrap();
    let mut x = f("model.embed_tokens.weight")
        .index_select(&idx, 0)
        .unwrap();
    for l in 0..s.layers {
        let p = format!("model.layers.{l}");
        let a = rms(&x, &f(&format!("{p}.input_layernorm.weight")));
        let q = mm(&a, &format!("{p}.self_attn.q_proj.weight"));
        let k = mm(&a, &format!("{p}.self_attn.k_proj.weight"));
        let v = mm(&a, &format!("{p}.self_attn.v_proj.weight"));
        let mut heads = Vec::new();
        for hh in 0..nh {
            let kv = hh / (nh / nkv);
            let qh = rope(&q.narrow(1, hh * hd, hd).unwrap());
            let kh = rope(&k.narrow(1, kv * hd, hd).unwrap());
            let vh = v.narrow(1, kv * hd, hd).unwrap();
            let scores = (qh.matmul(&kh.t().unwrap()).unwrap() / (hd as f64).sqrt())
                .unwrap()
                .broadcast_add(&mask)
                .unwrap();
            let probs = candle_nn::ops::softmax(&scores, D::Minus1).unwrap();
            heads.push(probs.matmul(&vh).unwrap());
        }
        let ctx = Tensor::cat(&heads, 1).unwrap();
        x = (x + mm(&ctx, &format!("{p}.self_attn.o_proj.weight"))).unwrap();
        let m = rms(&x, &f(&format!("{p}.post_attention_layernorm.weight")));
        let g = mm(&m, &format!("{p}.mlp.gate_proj.weight"));
        let g = (&g * candle_nn::ops::sigmoid(&g).unwrap()).unwrap();
        let u = mm(&m, &format!("{p}.mlp.up_proj.weight"));
        x = (x + mm(&(g * u).unwrap(), &format!("{p}.mlp.down_proj.weight"))).unwrap();
    }
    let x = rms(&x, &f("model.norm.weight"));
    let head_name = if w.contains_key("lm_head.weight") {
        "lm_head.weight"
    } else {
        "model.embed_tokens.weight"
    };
    let mut head = f(head_name);
    if rules.norm_head {
        let norm = head.sqr().unwrap().sum_keepdim(1).unwrap().sqrt().unwrap();
        head = head.broadcast_div(&norm).unwrap();
    }
    x.matmul(&head.t().unwrap()).unwrap()
}

/// The rules the checkpoint is meant to be run with.
pub fn proper(s: &Shape) -> RefRules {
    RefRules {
        rope_base: s.rope_base(),
        norm_head: s.norm_head,
    }
}

/// Loads with the exact f32 KV cache: these tests compare against plain f32
/// reference computations.
pub fn load(path: &Path) -> Engine {
    load_with(
        path,
        LoadOptions {
            kv_type: reportlens::model::KvType::F32,
            weight_dtype: Some(candle_core::DType::F32),
            ..Default::default()
        },
    )
}

pub fn load_with(path: &Path, opts: LoadOptions) -> Engine {
    match load_engine(path, &opts) {
        Ok(e) => e,
        Err(e) => panic!("{} does not load: {e}", path.display()),
    }
}

/// The engine's logits `(len, vocab)` for `ids` fed in one piece.
pub fn engine_logits(engine: &mut Engine, ids: &[u32]) -> Tensor {
    engine.model.begin(ids.len()).unwrap();
    engine.model.forward_all(ids, 0).unwrap()
}

/// Largest absolute difference, over the first `vocab` columns.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let v = a.dim(1).unwrap().min(b.dim(1).unwrap());
    let a = a.narrow(1, 0, v).unwrap();
    let b = b.narrow(1, 0, v).unwrap();
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Largest absolute logit, to size tolerances.
pub fn max_abs(a: &Tensor) -> f32 {
    a.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Root mean square of `a - b`, relative to the root mean square of `b`.
pub fn rel_rms(a: &Tensor, b: &Tensor) -> f32 {
    let rms = |t: &Tensor| {
        t.sqr()
            .unwrap()
            .mean_all()
            .unwrap()
            .sqrt()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    rms(&(a - b).unwrap()) / rms(b)
}
