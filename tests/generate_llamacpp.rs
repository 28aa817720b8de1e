//! Greedy generation against llama.cpp on the real SmolLM2-135M-Instruct
//! Q4_1 model: the completions in the fixture must come out identical.
use std::path::{Path, PathBuf};

use reportlens::model::template::raw_prompt;
use reportlens::model::{
    load_engine, Engine, GenerateOptions, KvType, LoadOptions, Sampling, StopReason,
};

fn fixture() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/smollm2/llamacpp-reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The test model with llama.cpp's default f16 KV cache (`f16`), which this
/// engine computes bit for bit as llama.cpp's CPU backend does, or with the
/// f32 cache.
fn engine_with(f16: bool) -> Option<Engine> {
    // The fixture was made by llama.cpp built for AVX-512 (no FP16): replay
    // its rounding on any x86 CPU.
    reportlens_kernels::force_simd(reportlens_kernels::Simd::Avx512);
    let path: PathBuf = reportlens::paths::test_model_path();
    if !path.is_file() {
        eprintln!(
            "skipping: test model not at {} (run models/fetch-test-models)",
            path.display()
        );
        return None;
    }
    let opts = LoadOptions {
        max_tokens: Some(2048),
        kv_type: if f16 { KvType::F16 } else { KvType::F32 },
        ..Default::default()
    };
    Some(load_engine(&path, &opts).expect("the test model loads"))
}

fn engine() -> Option<Engine> {
    engine_with(false)
}

/// llama.cpp prints `[end of text]` when it stops at EOS, and pads with newlines.
fn llamacpp_text(completion: &str) -> (String, bool) {
    let trimmed = completion.trim_end_matches('\n');
    match trimmed.strip_suffix(" [end of text]") {
        Some(t) => (t.to_string(), true),
        None => (trimmed.to_string(), false),
    }
}

// With an f16 KV cache every tensor of the forward pass equals llama.cpp's
// bit for bit on x86 (quantized dot lanes, RoPE's fused multiply-adds,
// ggml's vector `exp` in SwiGLU, the flash-attention kernel's f16
// accumulator), so greedy decoding must agree token for token, near-ties
// included (prompt 3 has one: " stock" leads " US" by 0.02 at step 7).
#[test]
fn greedy_completions_match_llamacpp() {
    let Some(mut engine) = engine_with(true) else {
        return;
    };
    let fx = fixture();
    let cases = fx["greedy"].as_array().expect("greedy cases");
    assert!(!cases.is_empty());
    for case in cases {
        let prompt = case["prompt"].as_str().unwrap();
        let n = case["n"].as_u64().unwrap() as usize;
        let (want, ended) = llamacpp_text(case["completion"].as_str().unwrap());
        let ids = raw_prompt(&engine.tokenizer, prompt).unwrap();
        let opts = GenerateOptions {
            max_new_tokens: n,
            sampling: Sampling::Greedy,
            ..Default::default()
        };
        let mut streamed = String::new();
        let gen = engine
            .generate(&ids, &opts, |t| streamed.push_str(t), |_| {})
            .unwrap();
        assert_eq!(gen.text, want, "prompt {prompt:?}: ids {:?}", gen.tokens);
        assert_eq!(streamed, gen.text, "streamed pieces add up to the text");
        let want_reason = if ended {
            StopReason::Eos
        } else {
            StopReason::MaxTokens
        };
        assert_eq!(gen.stats.stop_reason, want_reason, "prompt {prompt:?}");
        if !ended {
            assert_eq!(gen.stats.generated_tokens, n);
        }
    }
}

#[test]
fn chunked_prefill_gives_the_same_logits_on_the_real_model() {
    let Some(mut engine) = engine() else { return };
    let fx = fixture();
    // llama.cpp's own ids for several texts, joined into one longer prompt.
    let ids: Vec<u32> = fx["tokenize"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            c["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
        })
        .collect();
    assert!(ids.len() > 100);
    let m = &mut engine.model;
    m.begin(ids.len()).unwrap();
    let whole = m.forward(&ids, 0).unwrap().to_vec1::<f32>().unwrap();
    m.begin(ids.len()).unwrap();
    let mut last = Vec::new();
    for (i, c) in ids.chunks(7).enumerate() {
        last = m.forward(c, i * 7).unwrap().to_vec1::<f32>().unwrap();
    }
    let diff = whole
        .iter()
        .zip(&last)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-3, "chunked vs one-piece logits differ by {diff}");
    assert_eq!(argmax(&whole), argmax(&last));
}

#[test]
fn cancel_stops_generation() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let Some(mut engine) = engine() else { return };
    let ids = raw_prompt(&engine.tokenizer, "The capital of France is").unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let opts = GenerateOptions {
        max_new_tokens: 50,
        cancel: Some(flag.clone()),
        ..Default::default()
    };
    let mut pieces = 0;
    let gen = engine
        .generate(
            &ids,
            &opts,
            |_| {
                pieces += 1;
                if pieces == 3 {
                    flag.store(true, Ordering::Relaxed);
                }
            },
            |_| {},
        )
        .unwrap();
    assert_eq!(gen.stats.stop_reason, StopReason::Cancelled);
    assert!(gen.stats.generated_tokens >= 3 && gen.stats.generated_tokens < 50);

    // Cancelled before the prompt is read: nothing generated.
    flag.store(true, Ordering::Relaxed);
    let gen = engine.generate(&ids, &opts, |_| {}, |_| {}).unwrap();
    assert_eq!(gen.stats.stop_reason, StopReason::Cancelled);
    assert_eq!(gen.stats.generated_tokens, 0);
}

#[test]
fn prefill_reports_progress_per_chunk() {
    let Some(mut engine) = engine() else { return };
    let text = "Total net revenues were RMB6.13 billion. ".repeat(20);
    let ids = raw_prompt(&engine.tokenizer, &text).unwrap();
    let opts = GenerateOptions {
        max_new_tokens: 1,
        chunk_size: 64,
        ..Default::default()
    };
    let mut seen = Vec::new();
    engine
        .generate(&ids, &opts, |_| {}, |p| seen.push((p.done, p.total)))
        .unwrap();
    let chunks = ids.len().div_ceil(64);
    assert_eq!(
        seen.len(),
        chunks + 1,
        "a report before and after each chunk"
    );
    assert_eq!(seen.first(), Some(&(0, ids.len())));
    assert_eq!(seen.last(), Some(&(ids.len(), ids.len())));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn stop_string_ends_generation() {
    let Some(mut engine) = engine() else { return };
    let ids = raw_prompt(&engine.tokenizer, "The capital of France is").unwrap();
    // The greedy answer starts " Paris.\n\n": stop at the blank line.
    let opts = GenerateOptions {
        max_new_tokens: 24,
        stop: vec!["\n\n".into()],
        ..Default::default()
    };
    let gen = engine.generate(&ids, &opts, |_| {}, |_| {}).unwrap();
    assert_eq!(gen.text, " Paris.");
    assert_eq!(gen.stats.stop_reason, StopReason::Stop);
}

/// How far the f32 KV cache may move a token's probability from llama.cpp's
/// numerics (the f16 cache; exact f32 attention instead of f16 rounding),
/// and the logit gap under which two tokens count as tied. A wrong model
/// (RoPE, norms, weights) misses by whole logits.
const F32_CACHE_DRIFT: f32 = 0.15;
const NEAR_TIE: f32 = 0.3;

fn softmax(v: &[f32]) -> Vec<f32> {
    let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |a, (i, &x)| if x > a.1 { (i, x) } else { a },
        )
        .0
}

/// Teacher-forced along llama.cpp's completions, the f32 cache against the
/// f16 one (llama.cpp's numerics): probabilities stay within
/// `F32_CACHE_DRIFT`, and
/// the two pick different tokens only at near-ties, rarely (one step in
/// eight at most).
#[test]
fn the_f32_cache_stays_close_to_llamacpp() {
    let (Some(mut exact), Some(mut wide)) = (engine_with(true), engine_with(false)) else {
        return;
    };
    let fx = fixture();
    for (n, case) in fx["greedy"].as_array().unwrap().iter().enumerate() {
        let prompt = case["prompt"].as_str().unwrap();
        let (want, ended) = llamacpp_text(case["completion"].as_str().unwrap());
        let ids = raw_prompt(&exact.tokenizer, prompt).unwrap();
        let mut cont = exact.tokenizer.encode(&want, false).unwrap();
        if ended {
            cont.push(exact.tokenizer.eos_id().expect("SmolLM2 has an EOS"));
        }
        let mut logits = Vec::new();
        for e in [&mut exact, &mut wide] {
            e.model.reset();
            e.model.begin(ids.len() + cont.len() + 1).unwrap();
            logits.push(e.model.forward(&ids, 0).unwrap().to_vec1::<f32>().unwrap());
        }
        let (mut drift, mut ties) = (0f32, Vec::new());
        for (step, &t) in cont.iter().enumerate() {
            let (a, b) = (&logits[0], &logits[1]);
            assert_eq!(
                argmax(a) as u32,
                t,
                "prompt {n} step {step}: the f16 cache is llama.cpp"
            );
            let (pa, pb) = (softmax(a), softmax(b));
            let d = pa
                .iter()
                .zip(&pb)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            drift = drift.max(d);
            let other = argmax(b);
            if other as u32 != t {
                let gap = a[t as usize] - a[other];
                assert!(
                    gap < NEAR_TIE,
                    "prompt {prompt:?} step {step}: llama.cpp chose {t} over {other} by {gap}"
                );
                ties.push((step, gap));
            }
            let pos = ids.len() + step;
            logits = [&mut exact, &mut wide]
                .into_iter()
                .map(|e| {
                    e.model
                        .forward(&[t], pos)
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                })
                .collect();
        }
        eprintln!(
            "prompt {n}: {} steps, largest probability change {drift:.4}, near-ties {ties:?}",
            cont.len()
        );
        assert!(
            drift < F32_CACHE_DRIFT,
            "prompt {prompt:?}: a probability moved {drift}"
        );
        assert!(
            ties.len() * 8 <= cont.len(),
            "prompt {prompt:?}: too many near-ties {ties:?} in {} steps",
            cont.len()
        );
    }
}

/// Long prompts cut from corpus PDFs, against llama.cpp's greedy output
/// (`tests/fixtures/llamacpp-long/`, made by `make.py` there): 586 to 2624
/// tokens, so prefill runs llama.cpp's tiled attention in 512-token chunks
/// and decoding its split-KV kernel. Identical text, token for token.
#[test]
fn long_prompts_match_llamacpp() {
    use sha2::{Digest, Sha256};
    let Some(mut engine) = engine_with(true) else {
        return;
    };
    let fx_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/llamacpp-long/llamacpp-long.json");
    let fx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx_path).unwrap()).unwrap();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pdf");
    if !corpus.is_dir() {
        eprintln!("skipping: corpus not found at {}", corpus.display());
        return;
    }
    // llama.cpp split decode steps between this many threads.
    reportlens_kernels::attention::set_split_threads(fx["threads"].as_u64().unwrap() as usize);
    for case in fx["cases"].as_array().unwrap() {
        let name = case["pdf"].as_str().unwrap();
        let out = std::process::Command::new("pdftotext")
            .arg(corpus.join(name))
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils) runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let prompt: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(case["chars"].as_u64().unwrap() as usize)
            .collect();
        let digest = format!("{:x}", Sha256::digest(prompt.as_bytes()));
        assert_eq!(
            digest,
            case["sha256"].as_str().unwrap(),
            "{name}: the prompt text differs from the fixture's (another pdftotext?)"
        );
        let ids = raw_prompt(&engine.tokenizer, &prompt).unwrap();
        let n = case["n"].as_u64().unwrap() as usize;
        let (want, _) = llamacpp_text(case["completion"].as_str().unwrap());
        let opts = GenerateOptions {
            max_new_tokens: n,
            sampling: Sampling::Greedy,
            ..Default::default()
        };
        let gen = engine.generate(&ids, &opts, |_| {}, |_| {}).unwrap();
        // llama.cpp's last token may have ended inside a character it
        // could not print; compare what both printed.
        assert!(
            gen.text.starts_with(&want) && gen.text.len() - want.len() < 4,
            "{name} ({} prompt tokens): ours {:?}, llama.cpp {want:?}",
            ids.len(),
            gen.text
        );
    }
    reportlens_kernels::attention::set_split_threads(0);
}
