//! A 16K-token prompt through a random-weight Llama GGUF with a 32K
//! context, fed in 512-token chunks: what it takes beyond the loaded model
//! is the KV cache plus one chunk's working set. A chunk's scores over the
//! whole context (512 x 16K x 4 bytes per head) are never materialised.
//! The figure for a real model is `reportlens bench --prompt-tokens 16384`.
mod index_common;

use index_common::*;
use reportlens::model::convert::{convert, Quant};
use reportlens::model::LoadOptions;

/// A `/proc/self/status` figure in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn a_16k_prompt_in_chunks_takes_the_kv_cache_and_a_chunks_working_set() {
    if status_bytes("VmHWM").is_none() {
        eprintln!("no /proc/self/status here: the memory figures cannot be read");
        return;
    }
    let s = Shape {
        model_type: "llama",
        hidden: 256,
        intermediate: 512,
        layers: 2,
        heads: 4,
        kv_heads: 4,
        context: 32_768,
        rope_ratio: None,
        rope_theta: Some(10_000.0),
        norm_head: false,
        tied: true,
        ..Shape::index_tiny()
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("long");
    write_safetensors_dir(&dir, &s, &random_weights(&s, 5));
    let gguf = tmp.path().join("long-q8_0.gguf");
    convert(&dir, Quant::Q8_0, &gguf, None, |_| {}).unwrap();
    let mut engine = load_with(&gguf, LoadOptions::default());
    let cfg = engine.model.config().clone();
    assert_eq!(cfg.context_length, 32_768);

    let total = 16_384;
    let ids: Vec<u32> = (0..total as u32).map(|i| (i * 7919 + 13) % 420).collect();
    let kv = cfg.kv_bytes_per_token(reportlens::model::KvType::F16) * total as u64;
    let scores = (512 * total * 4 * s.heads) as u64;
    // Peak resident memory from here on ("5": reset VmHWM to VmRSS).
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("cannot reset the peak-memory counter here ({e}): the figures cannot be read");
        return;
    }
    let before = status_bytes("VmRSS").unwrap();
    engine.model.begin(total).unwrap();
    let mut logits = None;
    for (c, chunk) in ids.chunks(512).enumerate() {
        logits = Some(engine.model.forward(chunk, c * 512).unwrap());
    }
    let grew = status_bytes("VmHWM").unwrap().saturating_sub(before);
    let logits = logits.unwrap().to_vec1::<f32>().unwrap();
    assert!(logits.iter().all(|x| x.is_finite()));
    assert_eq!(engine.model.position(), total);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "16K prompt: peak grew {:.1} MiB; f16 KV cache {:.1} MiB; one chunk's scores {:.1} MiB",
        mib(grew),
        mib(kv),
        mib(scores)
    );
    // The cache is really there (written in full), and little else is.
    assert!(
        grew as f64 > 0.9 * kv as f64,
        "peak grew {grew}, KV cache {kv}"
    );
    assert!(
        grew < kv + 48 * (1 << 20),
        "peak grew {:.1} MiB: more than the {:.1} MiB cache and a chunk's working set",
        mib(grew),
        mib(kv)
    );
    assert!(kv + 48 * (1 << 20) < scores, "the test tells the two apart");
}
