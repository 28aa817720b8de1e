//! Index-1.9B as published, at toy size: a model directory with config.json
//! (norm_head, rope_ratio, no rope_theta), SentencePiece tokenizer.model and
//! weights as a torch-written pytorch_model.bin or as safetensors (single or
//! sharded). The engine's logits are checked against PyTorch's (computed when
//! the fixture was made) and against a plain reference computed here.
mod index_common;

use std::collections::HashMap;

use candle_core::{DType, Tensor};
use index_common::*;
use reportlens::model::load::check_memory;
use reportlens::model::template::{ChatTemplate, INDEX_ASSISTANT_ID, INDEX_USER_ID};
use reportlens::model::{inspect, load_engine, LoadOptions, ModelError, ModelFormat};
use reportlens::prompt::PromptFamily;

/// Agreement of two f32 implementations over the same bf16 weights.
const TOL: f32 = 2e-3;

#[test]
fn pytorch_bin_matches_torch_and_the_plain_reference() {
    let ids = reference_ids();
    let mut engine = load(&fixture_dir());
    let got = engine_logits(&mut engine, &ids);
    let torch = torch_logits();
    assert_eq!(got.dims(), torch.dims());
    let d = max_diff(&got, &torch);
    assert!(
        d < TOL,
        "engine vs torch: max diff {d} (logits up to {})",
        max_abs(&torch)
    );

    let s = Shape::index_tiny();
    let want = reference_logits(&s, &fixture_weights(), &ids, proper(&s));
    let d = max_diff(&got, &want);
    assert!(d < TOL, "engine vs plain reference: max diff {d}");

    // Chunked prefill against the growing cache gives the same last logits.
    engine.model.begin(ids.len()).unwrap();
    let mut last = None;
    for (i, c) in ids.chunks(7).enumerate() {
        last = Some(engine.model.forward(c, i * 7).unwrap());
    }
    let last = last.unwrap().unsqueeze(0).unwrap();
    let whole = got.narrow(0, ids.len() - 1, 1).unwrap();
    assert!(max_diff(&last, &whole) < 1e-4);
}

#[test]
fn norm_head_and_rope_ratio_both_matter() {
    let s = Shape::index_tiny();
    let w = fixture_weights();
    let ids = reference_ids();
    let mut engine = load(&fixture_dir());
    let got = engine_logits(&mut engine, &ids);
    let right = reference_logits(&s, &w, &ids, proper(&s));
    let no_norm = reference_logits(
        &s,
        &w,
        &ids,
        RefRules {
            norm_head: false,
            ..proper(&s)
        },
    );
    let base_10k = reference_logits(
        &s,
        &w,
        &ids,
        RefRules {
            rope_base: 10_000.0,
            ..proper(&s)
        },
    );
    assert!(max_diff(&got, &right) < TOL);
    // Each rule left out moves the logits by far more than the tolerance.
    let d = max_diff(&got, &no_norm);
    assert!(d > 100.0 * TOL, "without norm_head only {d}");
    let d = max_diff(&got, &base_10k);
    assert!(d > 100.0 * TOL, "with base 10000 only {d}");
    assert_eq!(engine.model.config().rope_theta, 320_000.0);
}

#[test]
fn safetensors_random_checkpoint_matches_the_plain_reference() {
    let s = Shape::index_tiny();
    let w = random_weights(&s, 7);
    let dir = tempfile::tempdir().unwrap();
    write_safetensors_dir(dir.path(), &s, &w);
    let ids: Vec<u32> = (0..29).map(|i| (i * 37 + 11) % 420).collect();
    let got = engine_logits(&mut load(dir.path()), &ids);
    let want = reference_logits(&s, &w, &ids, proper(&s));
    let d = max_diff(&got, &want);
    assert!(d < TOL, "max diff {d} (logits up to {})", max_abs(&want));
}

#[test]
fn same_weights_as_bin_and_as_safetensors_give_the_same_logits() {
    let s = Shape::index_tiny();
    let dir = tempfile::tempdir().unwrap();
    write_safetensors_dir(dir.path(), &s, &fixture_weights());
    let ids = reference_ids();
    let a = engine_logits(&mut load(&fixture_dir()), &ids);
    let b = engine_logits(&mut load(dir.path()), &ids);
    assert!(max_diff(&a, &b) < 1e-5);
}

/// Two shards and `model.safetensors.index.json`, as Hugging Face writes them.
fn write_sharded(dir: &std::path::Path, s: &Shape, w: &HashMap<String, Tensor>) {
    write_meta(dir, s);
    let mut names: Vec<&String> = w.keys().collect();
    names.sort();
    let (first, second) = names.split_at(names.len() / 2);
    let mut map = serde_json::Map::new();
    for (file, part) in [
        ("model-00001-of-00002.safetensors", first),
        ("model-00002-of-00002.safetensors", second),
    ] {
        let shard: HashMap<String, Tensor> =
            part.iter().map(|n| ((*n).clone(), w[*n].clone())).collect();
        candle_core::safetensors::save(&shard, dir.join(file)).unwrap();
        for n in part {
            map.insert((*n).clone(), file.into());
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
}

#[test]
fn sharded_safetensors_load_through_their_index() {
    let s = Shape::index_tiny();
    let w = random_weights(&s, 11);
    let dir = tempfile::tempdir().unwrap();
    write_sharded(dir.path(), &s, &w);
    let ids: Vec<u32> = (0..17).map(|i| (i * 13 + 5) % 420).collect();
    let got = engine_logits(&mut load(dir.path()), &ids);
    let want = reference_logits(&s, &w, &ids, proper(&s));
    assert!(max_diff(&got, &want) < TOL);
}

#[test]
fn a_truncated_shard_is_refused_by_name_before_loading() {
    let s = Shape::index_tiny();
    let dir = tempfile::tempdir().unwrap();
    write_sharded(dir.path(), &s, &random_weights(&s, 3));
    let shard = dir.path().join("model-00002-of-00002.safetensors");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 1000]).unwrap();
    let err = load_engine(dir.path(), &LoadOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("model-00002-of-00002.safetensors") && msg.contains("truncated"),
        "{msg}"
    );
    // The index naming a shard that is not there.
    std::fs::remove_file(&shard).unwrap();
    let err = load_engine(dir.path(), &LoadOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, ModelError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("model-00002-of-00002"), "{err}");
}

#[test]
fn a_truncated_pytorch_bin_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write_meta(dir.path(), &Shape::index_tiny());
    let bytes = std::fs::read(fixture_dir().join("pytorch_model.bin")).unwrap();
    let bin = dir.path().join("pytorch_model.bin");
    for keep in [bytes.len() - 100, bytes.len() / 2] {
        std::fs::write(&bin, &bytes[..keep]).unwrap();
        let err = load_engine(dir.path(), &LoadOptions::default())
            .err()
            .unwrap();
        assert!(
            matches!(err, ModelError::Corrupt { .. }),
            "cut at {keep}: {err}"
        );
        assert!(err.to_string().contains("pytorch_model.bin"), "{err}");
    }
}

#[test]
fn unknown_model_type_missing_tensor_and_wrong_shape_each_say_so() {
    let s = Shape::index_tiny();
    let w = random_weights(&s, 5);

    let dir = tempfile::tempdir().unwrap();
    write_safetensors_dir(dir.path(), &s, &w);
    let mut cfg = s.config_json();
    cfg["model_type"] = "qwen2".into();
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let err = load_engine(dir.path(), &LoadOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, ModelError::Unsupported { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("config.json") && msg.contains("`qwen2`"),
        "{msg}"
    );
    assert!(inspect(dir.path()).is_err(), "the plan refuses it too");

    let dir = tempfile::tempdir().unwrap();
    let mut missing = w.clone();
    missing.remove("model.layers.1.mlp.up_proj.weight");
    write_safetensors_dir(dir.path(), &s, &missing);
    let err = load_engine(dir.path(), &LoadOptions::default())
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("no tensor `model.layers.1.mlp.up_proj.weight`"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut wrong = w.clone();
    wrong.insert(
        "model.layers.0.self_attn.k_proj.weight".into(),
        Tensor::zeros((32, 64), DType::BF16, &candle_core::Device::Cpu).unwrap(),
    );
    write_safetensors_dir(dir.path(), &s, &wrong);
    let err = load_engine(dir.path(), &LoadOptions::default())
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("k_proj") && msg.contains("[32, 64]"),
        "{msg}"
    );

    let dir = tempfile::tempdir().unwrap();
    write_meta(dir.path(), &s);
    let err = load_engine(dir.path(), &LoadOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("no weights"), "{err}");
}

#[test]
fn index_chat_format_and_tokenizer_as_published() {
    let engine = load(&fixture_dir());
    assert_eq!(engine.template, ChatTemplate::IndexRaw);
    let reference = reference_json();
    let tok = &engine.tokenizer;
    for case in reference["tokenizer"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let got = tok.encode(text, false).unwrap();
        if text.contains("reserved_0") {
            // sentencepiece matches user-defined pieces in any text; document
            // text here never becomes a turn marker (deliberately different).
            assert!(want.contains(&INDEX_USER_ID), "{want:?}");
            assert!(!got.contains(&INDEX_USER_ID), "{got:?}");
        } else {
            assert_eq!(got, want, "{text:?}");
        }
    }
    // [0] + system + [3] + user + [4], no BOS; EOS is 2.
    let ids = engine
        .chat_prompt(
            Some("You summarise reports."),
            "Revenue grew 16% to RMB6.13 billion. 净亏损收窄。",
        )
        .unwrap();
    assert_eq!(ids, reference_ids());
    assert!(!tok.add_bos());
    assert_eq!(tok.eos_id(), Some(2));
    assert!(tok.is_eog(2));
    // A document that spells the marker stays text.
    let doc = engine.chat_prompt(None, "reserved_0 reserved_1").unwrap();
    assert_eq!(doc.iter().filter(|&&i| i == INDEX_USER_ID).count(), 1);
    assert_eq!(doc.iter().filter(|&&i| i == INDEX_ASSISTANT_ID).count(), 1);
}

#[test]
fn inspect_and_plan_see_an_index_directory() {
    let info = inspect(&fixture_dir()).unwrap();
    assert_eq!(info.architecture, "index");
    assert_eq!(info.format, ModelFormat::Directory);
    assert_eq!(info.context_length, 2048);
    assert_eq!(PromptFamily::of_model(&info), PromptFamily::Index);
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/pdf/olmocr__earnings.pdf");
    if !doc.is_file() {
        eprintln!("skipping the plan half: {} is absent", doc.display());
        return;
    }
    let (_, plan) = reportlens::plan_file(&doc, &fixture_dir()).unwrap();
    assert_eq!(plan.model.architecture, "index");
    assert_eq!(plan.budget.context_length, 2048);
    assert!(plan.budget.document_tokens > 100);
}

#[test]
fn memory_estimate_counts_directory_weights_and_refuses_with_numbers() {
    let s = Shape::index_tiny();
    let (h, i, v) = (s.hidden as u64, s.intermediate as u64, s.vocab as u64);
    let matrices = s.layers as u64 * (4 * h * h + 3 * h * i) + v * h; // + lm_head
    let f32_only = (v * h + (2 * s.layers as u64 + 1) * h) * 4; // embedding, norms
    let e = load(&fixture_dir());
    assert_eq!(e.memory.weights, f32_only + matrices * 4);
    assert_eq!(e.memory.tokens, 2048);
    assert_eq!(
        e.memory.kv_cache,
        2048 * (s.layers * 2 * s.hidden * 4) as u64
    );
    let half = load_with(
        &fixture_dir(),
        LoadOptions {
            weight_dtype: Some(DType::F16),
            max_tokens: Some(512),
            ..Default::default()
        },
    );
    // The default cache is f16.
    assert_eq!(half.memory.weights, f32_only + matrices * 2);
    assert_eq!(
        half.memory.kv_cache,
        512 * (s.layers * 2 * s.hidden * 2) as u64
    );

    let mut short = e.memory;
    short.available = Some(short.total - 1);
    let err = check_memory(&fixture_dir(), &short).unwrap_err();
    assert!(matches!(err, ModelError::OutOfMemory { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("KV cache") && msg.contains("2048 tokens"),
        "{msg}"
    );
    assert!(
        msg.contains("shorter context") && msg.contains("convert"),
        "{msg}"
    );
}

/// Dense weights load as f16 unless f32 is asked for, and the KV cache is
/// budgeted for the runs made: a run longer than the load-time budget is
/// checked and counted as it starts.
#[test]
fn dense_weights_are_f16_by_default_and_the_cache_grows_with_the_runs() {
    let s = Shape::index_tiny();
    let (h, i, v) = (s.hidden as u64, s.intermediate as u64, s.vocab as u64);
    let matrices = s.layers as u64 * (4 * h * h + 3 * h * i) + v * h;
    let f32_only = (v * h + (2 * s.layers as u64 + 1) * h) * 4;
    let mut e = load_with(
        &fixture_dir(),
        LoadOptions {
            max_tokens: Some(16),
            ..Default::default()
        },
    );
    assert_eq!(e.memory.weights, f32_only + matrices * 2, "f16 matrices");
    assert_eq!(e.memory.tokens, 16);
    let per_token = (s.layers * 2 * s.hidden * 2) as u64; // f16 cache
    assert_eq!(e.memory.kv_cache, 16 * per_token);
    let ids = reference_ids();
    let opts = reportlens::model::GenerateOptions {
        max_new_tokens: 8,
        sampling: reportlens::model::Sampling::Greedy,
        ..Default::default()
    };
    let out = e.generate(&ids, &opts, |_| {}, |_| {}).unwrap();
    let run = ids.len() + 8;
    assert!(run > 16, "the run is longer than the load-time budget");
    assert_eq!(e.memory.tokens, run, "{out:?}");
    assert_eq!(e.memory.kv_cache, run as u64 * per_token);
    assert_eq!(
        e.memory.total,
        e.memory.weights + e.memory.kv_cache + e.memory.working
    );
    // Without a known job size the check budgets the default run, not the context.
    let d = load_with(&fixture_dir(), LoadOptions::default());
    assert_eq!(
        d.memory.tokens,
        reportlens::model::load::DEFAULT_CHECK_TOKENS.min(s.context)
    );
}

#[test]
fn f16_weights_stay_close_to_f32() {
    let ids = reference_ids();
    let a = engine_logits(&mut load(&fixture_dir()), &ids);
    let mut half = load_with(
        &fixture_dir(),
        LoadOptions {
            weight_dtype: Some(DType::F16),
            ..Default::default()
        },
    );
    let b = engine_logits(&mut half, &ids);
    let d = max_diff(&a, &b);
    assert!(d < 0.05, "f16 weights: max diff {d}");
    assert!(d > 0.0, "f16 weights were not used");
}

#[test]
fn llama_directory_with_gqa_and_tied_embeddings() {
    let s = Shape {
        model_type: "llama",
        kv_heads: 2,
        rope_ratio: None,
        rope_theta: Some(50_000.0),
        norm_head: false,
        tied: true,
        ..Shape::index_tiny()
    };
    let w = random_weights(&s, 21);
    let dir = tempfile::tempdir().unwrap();
    write_safetensors_dir(dir.path(), &s, &w);
    let mut engine = load(dir.path());
    assert_eq!(engine.model.config().rope_theta, 50_000.0);
    assert_eq!(engine.model.config().num_kv_heads, 2);
    let ids: Vec<u32> = (0..23).map(|i| (i * 29 + 3) % 420).collect();
    let got = engine_logits(&mut engine, &ids);
    let want = reference_logits(&s, &w, &ids, proper(&s));
    assert!(max_diff(&got, &want) < TOL);
    let info = inspect(dir.path()).unwrap();
    assert_eq!(info.architecture, "llama");
    assert_eq!(PromptFamily::of_model(&info), PromptFamily::Generic);
}
