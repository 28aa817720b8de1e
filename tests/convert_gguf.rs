//! `convert`: an Index (or Llama) model directory -> Llama GGUF, and GGUF
//! re-quantization. The GGUF must load through the same engine and give the
//! directory model's logits (Q/K permuted for interleaved RoPE, norm_head
//! baked in, RoPE base and vocabulary in the metadata).
mod index_common;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::GgmlDType;
use candle_core::Device;
use index_common::*;
use reportlens::model::convert::{convert, ConvertError, Quant};
use reportlens::model::template::{ChatTemplate, INDEX_JINJA};
use reportlens::model::{inspect, read_gguf};
use reportlens::prompt::PromptFamily;

fn run(src: &Path, quant: Quant, out: &Path) {
    let mut seen = 0;
    let summary = convert(src, quant, out, None, |p| {
        assert_eq!(p.done, seen + 1, "progress in order");
        seen = p.done;
    })
    .unwrap_or_else(|e| panic!("convert {}: {e}", src.display()));
    assert_eq!(summary.tensors, seen);
    assert!(out.is_file());
    assert!(!out
        .with_file_name(format!(
            "{}.partial",
            out.file_name().unwrap().to_string_lossy()
        ))
        .exists());
}

fn meta<'a>(ct: &'a gguf_file::Content, key: &str) -> &'a Value {
    ct.metadata
        .get(key)
        .unwrap_or_else(|| panic!("no `{key}` in the GGUF"))
}

#[test]
fn index_to_f16_and_q8_0_gives_the_directory_model_s_logits() {
    let dir = fixture_dir();
    let ids = reference_ids();
    let mut dense = load(&dir);
    let want = engine_logits(&mut dense, &ids);
    let scale = max_abs(&want);
    let tmp = tempfile::tempdir().unwrap();
    // f16 weights: rounding only (measured 2.4e-4 of the largest logit).
    // q8_0: 8-bit weights and, as in llama.cpp, 8-bit activations (measured
    // 2% relative RMS, 3% of the largest logit on this 64-wide toy).
    for (quant, max_tol, rms_tol, matrix_type) in [
        (Quant::F16, 0.002 * scale, 0.001, GgmlDType::F16),
        (Quant::Q8_0, 0.1 * scale, 0.05, GgmlDType::Q8_0),
    ] {
        let out = tmp.path().join(format!("index-{quant:?}.gguf"));
        run(&dir, quant, &out);
        let mut g = load(&out);
        assert_eq!(g.template, ChatTemplate::IndexRaw);
        let got = engine_logits(&mut g, &ids);
        let d = max_diff(&got, &want);
        assert!(d < max_tol, "{quant:?}: max diff {d} (tolerance {max_tol})");
        let r = rel_rms(&got, &want);
        assert!(r < rms_tol, "{quant:?}: relative RMS difference {r}");
        let ct = read_gguf(&out).unwrap();
        let types: Vec<(String, GgmlDType)> = ct
            .tensor_infos
            .iter()
            .map(|(n, i)| (n.clone(), i.ggml_dtype))
            .collect();
        assert_eq!(types.len(), 2 + 9 * 2 + 1);
        for (name, t) in types {
            let want = if name.ends_with("norm.weight") {
                GgmlDType::F32
            } else {
                matrix_type
            };
            assert_eq!(t, want, "{name}");
        }
    }
    // The f16 file holds norm_head already applied: unit output rows.
    let out = tmp.path().join("index-F16.gguf");
    let ct = read_gguf(&out).unwrap();
    let mut f = std::fs::File::open(&out).unwrap();
    let head = ct
        .tensor(&mut f, "output.weight", &Device::Cpu)
        .unwrap()
        .dequantize(&Device::Cpu)
        .unwrap();
    let norms = head.sqr().unwrap().sum(1).unwrap().sqrt().unwrap();
    let norms: Vec<f32> = norms.to_vec1().unwrap();
    assert!(
        norms.iter().all(|n| (n - 1.0).abs() < 2e-3),
        "{:?}",
        &norms[..5]
    );
}

#[test]
fn index_gguf_metadata_says_what_llama_cpp_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("index.gguf");
    run(&fixture_dir(), Quant::Q8_0, &out);
    let ct = read_gguf(&out).unwrap();
    let u = |k: &str| meta(&ct, k).to_u32().unwrap();
    assert_eq!(
        meta(&ct, "general.architecture").to_string().unwrap(),
        "llama"
    );
    assert_eq!(meta(&ct, "general.name").to_string().unwrap(), "index-tiny");
    assert_eq!(u("general.file_type"), 7);
    assert_eq!(u("llama.context_length"), 2048);
    assert_eq!(u("llama.embedding_length"), 64);
    assert_eq!(u("llama.block_count"), 2);
    assert_eq!(u("llama.feed_forward_length"), 160);
    assert_eq!(u("llama.attention.head_count"), 4);
    assert_eq!(u("llama.attention.head_count_kv"), 4);
    assert_eq!(u("llama.rope.dimension_count"), 16);
    assert_eq!(u("llama.vocab_size"), 423);
    assert_eq!(
        meta(&ct, "llama.rope.freq_base").to_f32().unwrap(),
        320_000.0
    );
    let eps = meta(&ct, "llama.attention.layer_norm_rms_epsilon")
        .to_f32()
        .unwrap();
    assert!((eps - 1e-6).abs() < 1e-12);

    assert_eq!(
        meta(&ct, "tokenizer.ggml.model").to_string().unwrap(),
        "llama"
    );
    let tokens = meta(&ct, "tokenizer.ggml.tokens").to_vec().unwrap();
    assert_eq!(tokens.len(), 423, "padded to the embedding's rows");
    assert_eq!(tokens[3].to_string().unwrap(), "reserved_0");
    assert_eq!(tokens[422].to_string().unwrap(), "[PAD422]");
    assert_eq!(
        meta(&ct, "tokenizer.ggml.scores").to_vec().unwrap().len(),
        423
    );
    let types = meta(&ct, "tokenizer.ggml.token_type").to_vec().unwrap();
    assert_eq!(types[0].to_i32().unwrap(), 2, "<unk> is the unknown piece");
    assert_eq!(types[1].to_i32().unwrap(), 3, "<s> is a control piece");
    assert_eq!(types[3].to_i32().unwrap(), 4, "reserved_0 is user-defined");
    assert_eq!(types[422].to_i32().unwrap(), 5);
    assert_eq!(u("tokenizer.ggml.bos_token_id"), 1);
    assert_eq!(u("tokenizer.ggml.eos_token_id"), 2);
    assert_eq!(u("tokenizer.ggml.unknown_token_id"), 0);
    assert!(!meta(&ct, "tokenizer.ggml.add_bos_token").to_bool().unwrap());
    assert!(meta(&ct, "tokenizer.ggml.add_space_prefix")
        .to_bool()
        .unwrap());
    assert_eq!(
        meta(&ct, "tokenizer.chat_template").to_string().unwrap(),
        INDEX_JINJA
    );

    // The app knows it as an Index model: Index prompts, Index chat ids.
    let info = inspect(&out).unwrap();
    assert_eq!(info.architecture, "llama");
    assert_eq!(info.context_length, 2048);
    assert_eq!(PromptFamily::of_model(&info), PromptFamily::Index);
    let g = load(&out);
    let d = load(&fixture_dir());
    assert_eq!(g.model.config().rope_theta, 320_000.0);
    let sys = "You summarise reports.";
    let user = "Revenue grew 16% to RMB6.13 billion. 净亏损收窄。";
    assert_eq!(
        g.chat_prompt(Some(sys), user).unwrap(),
        d.chat_prompt(Some(sys), user).unwrap()
    );
    for text in [
        "Total net revenues were RMB6.13 billion.",
        "毛利率提升至24.2%",
        " a  b\nc",
    ] {
        assert_eq!(
            g.tokenizer.encode(text, false).unwrap(),
            d.tokenizer.encode(text, false).unwrap(),
            "{text:?}"
        );
    }
    assert!(!g.tokenizer.add_bos());
    assert!(g.tokenizer.is_eog(2));
}

#[test]
fn q4k_conversion_of_a_wider_llama_directory() {
    // K-quants need rows of 256: a wider toy Llama, tied embeddings.
    let s = Shape {
        model_type: "llama",
        hidden: 256,
        intermediate: 512,
        heads: 4,
        kv_heads: 2,
        rope_ratio: None,
        rope_theta: Some(10_000.0),
        norm_head: false,
        tied: true,
        ..Shape::index_tiny()
    };
    let w = random_weights(&s, 33);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wide");
    write_safetensors_dir(&dir, &s, &w);
    let out = tmp.path().join("wide-q4k.gguf");
    run(&dir, Quant::Q4K, &out);
    let ct = read_gguf(&out).unwrap();
    assert_eq!(
        ct.tensor_infos["blk.0.attn_q.weight"].ggml_dtype,
        GgmlDType::Q4K
    );
    assert_eq!(
        ct.tensor_infos["blk.1.ffn_down.weight"].ggml_dtype,
        GgmlDType::Q4K
    );
    // Tied: no output.weight; the embedding is the head, quantized as one.
    assert!(!ct.tensor_infos.contains_key("output.weight"));
    assert_eq!(
        ct.tensor_infos["token_embd.weight"].ggml_dtype,
        GgmlDType::Q6K
    );
    assert_eq!(
        meta(&ct, "llama.rope.freq_base").to_f32().unwrap(),
        10_000.0
    );

    let ids: Vec<u32> = (0..21).map(|i| (i * 31 + 7) % 420).collect();
    let want = reference_logits(&s, &w, &ids, proper(&s));
    let got = engine_logits(&mut load(&out), &ids);
    // 4-bit weights: about 7x the q8_0 error of the same model (measured
    // 13% against 1.8% relative RMS; a wrong block layout or permutation
    // gives more than 100%).
    let r = rel_rms(&got, &want);
    assert!(r < 0.2, "q4k: relative RMS difference {r}");
}

#[test]
fn requantizing_a_gguf_keeps_its_metadata_and_logits() {
    let src = reportlens::paths::test_model_path();
    if !src.is_file() {
        eprintln!("skipping: test model not fetched at {}", src.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("smollm2-q8_0.gguf");
    run(&src, Quant::Q8_0, &out);
    let a = read_gguf(&src).unwrap();
    let b = read_gguf(&out).unwrap();
    assert_eq!(a.tensor_infos.len(), b.tensor_infos.len());
    for (name, info) in &b.tensor_infos {
        assert_eq!(
            info.shape.dims(),
            a.tensor_infos[name].shape.dims(),
            "{name}"
        );
        if info.shape.dims().len() == 2 {
            assert_eq!(info.ggml_dtype, GgmlDType::Q8_0, "{name}");
        }
    }
    for key in [
        "tokenizer.chat_template",
        "llama.rope.freq_base",
        "general.name",
    ] {
        assert_eq!(
            format!("{:?}", a.metadata[key]),
            format!("{:?}", b.metadata[key]),
            "{key}"
        );
    }
    assert_eq!(b.metadata["general.file_type"].to_u32().unwrap(), 7);
    let mut x = load(&src);
    let mut y = load(&out);
    let ids = x
        .chat_prompt(None, "What is the capital of France?")
        .unwrap();
    assert_eq!(
        ids,
        y.chat_prompt(None, "What is the capital of France?")
            .unwrap()
    );
    let la = engine_logits(&mut x, &ids);
    let lb = engine_logits(&mut y, &ids);
    // Measured 5% relative RMS over 30 layers; the same Q4_1 weights run
    // as f16 (no activation quantization) already differ by 4.5%.
    let r = rel_rms(&lb, &la);
    assert!(r < 0.1, "Q4_1 -> Q8_0: relative RMS difference {r}");
    let last = |l: &candle_core::Tensor| {
        l.narrow(0, ids.len() - 1, 1)
            .unwrap()
            .argmax(1)
            .unwrap()
            .to_vec1::<u32>()
            .unwrap()
    };
    assert_eq!(last(&la), last(&lb));
}

#[test]
fn refusals_and_cancel_leave_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.gguf");
    // Cancelled before the first tensor.
    let stop = AtomicBool::new(true);
    let err = convert(&fixture_dir(), Quant::Q8_0, &out, Some(&stop), |_| {}).unwrap_err();
    assert!(matches!(err, ConvertError::Cancelled { .. }), "{err}");
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "nothing left behind"
    );

    // Converting a GGUF onto itself.
    run(&fixture_dir(), Quant::F16, &out);
    let err = convert(&out, Quant::Q8_0, &out, None, |_| {}).unwrap_err();
    assert!(matches!(err, ConvertError::SameFile { .. }), "{err}");

    // A Unigram tokenizer.model cannot become a `llama` (BPE) GGUF vocabulary.
    let dir = tmp.path().join("unigram");
    write_safetensors_dir(
        &dir,
        &Shape::index_tiny(),
        &random_weights(&Shape::index_tiny(), 1),
    );
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer/unigram-nfkc.model"),
        dir.join("tokenizer.model"),
    )
    .unwrap();
    let err = convert(&dir, Quant::Q8_0, &tmp.path().join("u.gguf"), None, |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("tokenizer.model") && msg.contains("BPE"),
        "{msg}"
    );

    // Unknown model type: the config names it.
    let dir = tmp.path().join("mamba");
    write_meta(&dir, &Shape::index_tiny());
    let mut cfg = Shape::index_tiny().config_json();
    cfg["model_type"] = "mamba".into();
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    let err = convert(&dir, Quant::Q8_0, &tmp.path().join("m.gguf"), None, |_| {}).unwrap_err();
    assert!(err.to_string().contains("`mamba`"), "{err}");
}
