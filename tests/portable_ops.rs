//! The device-agnostic forward pass (what CUDA and Metal run) on the real test
//! model, on the CPU: its logits follow the CPU path's, which is exact with
//! llama.cpp, through a chunked prefill and a run of decode steps. A logic
//! error in the GPU branch (a wrong mask offset, RoPE layout or cache write)
//! moves logits by whole units and fails here, not on a user's GPU.
use candle_core::Tensor;
use reportlens::model::llama::Ops;
use reportlens::model::{load_engine, Engine, LoadOptions};

/// Portable and native logits differ by rounding only (f32 matmul attention
/// against the CPU's f16-tile kernel, candle's norm against ggml's), but the
/// Q4_1 model quantizes every activation to 8 bits, so an ulp of difference
/// can flip a rounding step: measured 0.02-0.04 of the largest logit. A logic
/// error (tried: the causal mask one position off) gives 0.5-1.0.
const REL_TOL: f32 = 0.1;

fn engine(ops: Ops) -> Option<Engine> {
    let path = reportlens::paths::test_model_path();
    if !path.is_file() {
        eprintln!(
            "skipping: test model not at {} (run models/fetch-test-models)",
            path.display()
        );
        return None;
    }
    let opts = LoadOptions {
        max_tokens: Some(1024),
        kv_type: reportlens::model::KvType::F16,
        ops,
        ..Default::default()
    };
    Some(load_engine(&path, &opts).expect("the test model loads"))
}

fn rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    let scale = b
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let d = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    d / scale.max(1e-6)
}

fn argmax(t: &Tensor) -> u32 {
    t.argmax(0).unwrap().to_scalar::<u32>().unwrap()
}

#[test]
fn the_gpu_path_follows_the_cpu_path_on_the_real_model() {
    let (Some(mut native), Some(mut portable)) = (engine(Ops::Native), engine(Ops::Portable))
    else {
        return;
    };
    let text = "Net sales for the quarter were $53,648 million, up 1.9% from $52,596 million \
                a year earlier. Net income was $1,302 million, or $2.93 per diluted share. \
                Membership fee income rose to $1,044 million. Gross margin as a share of net \
                sales improved by 53 basis points. The board declared a quarterly dividend of \
                $1.02 per share. In summary,";
    let ids = native.tokenizer.encode(text, true).unwrap();
    assert!(ids.len() > 64, "a prompt long enough for several chunks");
    let total = ids.len() + 16;
    native.model.begin(total).unwrap();
    portable.model.begin(total).unwrap();
    // A chunked prefill: the second chunk attends across the first through the cache.
    let split = ids.len() / 2;
    native.model.forward(&ids[..split], 0).unwrap();
    portable.model.forward(&ids[..split], 0).unwrap();
    let mut a = native.model.forward(&ids[split..], split).unwrap();
    let mut b = portable.model.forward(&ids[split..], split).unwrap();
    let mut worst = 0f32;
    let mut same = 0;
    for step in 0..16 {
        let d = rel_diff(&b, &a);
        worst = worst.max(d);
        assert!(
            d < REL_TOL,
            "step {step}: logits differ by {d} of the largest"
        );
        // Both follow the native greedy path, so each step compares like with like.
        let next = argmax(&a);
        same += usize::from(argmax(&b) == next);
        let pos = ids.len() + step;
        a = native.model.forward(&[next], pos).unwrap();
        b = portable.model.forward(&[next], pos).unwrap();
    }
    eprintln!(
        "portable vs native: worst relative difference {worst:.2e}; same greedy token {same}/16"
    );
    assert!(
        same >= 14,
        "the greedy choice agreed at only {same} of 16 steps"
    );
}
