//! K-quant files and the q8_0 KV cache with llama.cpp's numerics: the test
//! model re-quantized to Q4_K_M by our converter (Q4_K and Q6_K down
//! projections, Q5_0 elsewhere, Q8_0 value projections and head), and the
//! test model as shipped with a q8_0 cache, must decode greedily to exactly
//! llama.cpp's text (`tests/fixtures/llamacpp-kquant/`, made by `make.py`
//! there).
use std::path::{Path, PathBuf};

use candle_core::quantized::GgmlDType;
use reportlens::model::convert::{convert, Quant};
use reportlens::model::template::raw_prompt;
use reportlens::model::{load_engine, read_gguf, GenerateOptions, KvType, LoadOptions, Sampling};
use sha2::{Digest, Sha256};

fn fixture(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/llamacpp-kquant")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The test model converted to Q4_K_M in `dir`, or `None` (with the reason
/// printed) when the test model is absent.
fn q4_k_m(dir: &Path) -> Option<PathBuf> {
    let src = reportlens::paths::test_model_path();
    if !src.is_file() {
        eprintln!(
            "skipping: test model not at {} (run models/fetch-test-models)",
            src.display()
        );
        return None;
    }
    let out = dir.join("smollm2-q4_k_m.gguf");
    convert(&src, Quant::Q4KM, &out, None, |_| {}).expect("the test model converts");
    Some(out)
}

/// llama.cpp prints `[end of text]` when it stops at EOS, and pads with newlines.
fn llamacpp_text(completion: &str) -> String {
    let trimmed = completion.trim_end_matches('\n');
    trimmed
        .strip_suffix(" [end of text]")
        .unwrap_or(trimmed)
        .to_string()
}

fn corpus_prompt(pdf: &str, chars: usize) -> Option<String> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pdf");
    if !corpus.is_dir() {
        eprintln!(
            "skipping the corpus prompt: no corpus at {}",
            corpus.display()
        );
        return None;
    }
    let out = std::process::Command::new("pdftotext")
        .arg(corpus.join(pdf))
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(chars)
            .collect(),
    )
}

#[test]
fn q4_k_m_greedy_text_is_llamacpp_s() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(path) = q4_k_m(tmp.path()) else {
        return;
    };
    let fx = fixture("llamacpp-kquant.json");
    let digest = format!("{:x}", Sha256::digest(std::fs::read(&path).unwrap()));
    assert_eq!(
        digest,
        fx["gguf_sha256"].as_str().unwrap(),
        "the converter wrote another Q4_K_M file than the fixture's (regenerate it with make.py)"
    );
    // The mix this test is about: every kernel family in one file.
    let ct = read_gguf(&path).unwrap();
    for t in [
        GgmlDType::Q4K,
        GgmlDType::Q6K,
        GgmlDType::Q5_0,
        GgmlDType::Q8_0,
    ] {
        assert!(
            ct.tensor_infos.values().any(|i| i.ggml_dtype == t),
            "no {t:?} tensor in the Q4_K_M file"
        );
    }
    replay(&path, KvType::F16, &fx);
}

/// llama.cpp rotates queries, keys and values (Hadamard) around a
/// quantized cache; a q8_0 cache takes 34 bytes per 32 values.
#[test]
fn q8_0_cache_greedy_text_is_llamacpp_s() {
    let path = reportlens::paths::test_model_path();
    if !path.is_file() {
        eprintln!("skipping: test model not at {}", path.display());
        return;
    }
    replay(&path, KvType::Q8_0, &fixture("llamacpp-kv-q8_0.json"));
}

/// Greedy decoding of every case of `fx` on `model` with a `kv` cache
/// equals llama.cpp's text.
fn replay(model: &Path, kv: KvType, fx: &serde_json::Value) {
    // The fixtures were made by llama.cpp built for AVX-512: replay its
    // rounding on any x86 CPU, with its decode split between its threads.
    reportlens_kernels::force_simd(reportlens_kernels::Simd::Avx512);
    reportlens_kernels::attention::set_split_threads(fx["threads"].as_u64().unwrap() as usize);
    let opts = LoadOptions {
        max_tokens: Some(2048),
        kv_type: kv,
        ..Default::default()
    };
    let mut engine = load_engine(model, &opts).expect("the model loads");
    for case in fx["cases"].as_array().unwrap() {
        let prompt = match case["prompt"].as_str() {
            Some(p) => p.to_string(),
            None => {
                let pdf = case["pdf"].as_str().unwrap();
                let Some(p) = corpus_prompt(pdf, case["chars"].as_u64().unwrap() as usize) else {
                    continue;
                };
                let digest = format!("{:x}", Sha256::digest(p.as_bytes()));
                assert_eq!(
                    digest,
                    case["sha256"].as_str().unwrap(),
                    "{pdf}: the prompt text differs from the fixture's (another pdftotext?)"
                );
                p
            }
        };
        let ids = raw_prompt(&engine.tokenizer, &prompt).unwrap();
        let want = llamacpp_text(case["completion"].as_str().unwrap());
        let gen = engine
            .generate(
                &ids,
                &GenerateOptions {
                    max_new_tokens: case["n"].as_u64().unwrap() as usize,
                    sampling: Sampling::Greedy,
                    ..Default::default()
                },
                |_| {},
                |_| {},
            )
            .unwrap();
        // llama.cpp's last token may have ended inside a character it
        // could not print; compare what both printed.
        assert!(
            gen.text.starts_with(&want) && gen.text.len() - want.len() < 4,
            "{} prompt tokens: ours {:?}, llama.cpp {want:?}",
            ids.len(),
            gen.text
        );
    }
}
