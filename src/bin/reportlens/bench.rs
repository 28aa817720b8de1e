//! `reportlens bench`: load time, prefill and decode speed, peak memory.
use std::path::PathBuf;
use std::time::Instant;

use reportlens::model::llama::RopeScaling;
use reportlens::model::{device, load_engine, LoadOptions};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Model: a GGUF file (default: the test model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Prompt length to prefill.
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens to decode after the prompt.
    #[arg(long, default_value_t = 64)]
    gen_tokens: usize,
    /// Prefill chunk size.
    #[arg(long, default_value_t = 512)]
    chunk: usize,
    /// CPU threads (default: all physical cores).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    device: crate::DeviceArgs,
    #[command(flatten)]
    kv: crate::KvArgs,
    /// Dynamic NTK RoPE scaling by this factor: prompts up to context x
    /// factor (e.g. 16K tokens on an 8K model with 2, for the long-context
    /// memory figures).
    #[arg(long)]
    rope_ntk: Option<f64>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

/// The `--json` shape (stable; see the README).
#[derive(Serialize)]
struct Report {
    model: String,
    device: String,
    threads: usize,
    load_seconds: f64,
    prompt_tokens: usize,
    gen_tokens: usize,
    prefill_tokens_per_second: f64,
    decode_tokens_per_second: f64,
    peak_rss_bytes: Option<u64>,
    /// What the memory check expected: weights, KV cache, working memory.
    estimate: reportlens::model::MemoryEstimate,
}

/// Real text, repeated to length, so the prompt looks like what users feed.
const FILLER: &str = "Total net revenues were RMB6.13 billion (US$843.1 million), representing an increase of 16% year over year. Gross profit margin reached 29.9%, improving from 23.1% in the same period last year. ";

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        device::set_cpu_threads(n);
    }
    if args.prompt_tokens == 0 {
        return Err(crate::user("--prompt-tokens must be at least 1"));
    }
    let model = crate::resolve_model(args.model)?;
    let total = args.prompt_tokens + args.gen_tokens;
    let load = LoadOptions {
        device: crate::resolve_device(&args.device)?,
        kv_type: args.kv.kv_type(),
        max_tokens: Some(total),
        chunk_size: args.chunk,
        rope_scaling: match args.rope_ntk {
            Some(factor) if factor > 1.0 => RopeScaling::DynamicNtk { factor },
            Some(factor) => {
                return Err(crate::user(format!(
                    "--rope-ntk {factor}: the factor must be above 1"
                )))
            }
            None => RopeScaling::None,
        },
        ..Default::default()
    };
    let mut engine = load_engine(&model, &load).map_err(crate::user)?;
    if total > engine.model.max_positions() {
        return Err(crate::user(format!(
            "{total} tokens exceed the model's context of {}",
            engine.model.max_positions()
        )));
    }
    let unit = engine
        .tokenizer
        .encode(FILLER, false)
        .map_err(crate::user)?;
    let prompt: Vec<u32> = unit
        .iter()
        .copied()
        .cycle()
        .take(args.prompt_tokens)
        .collect();

    let m = &mut engine.model;
    m.begin(total)?;
    let t0 = Instant::now();
    let mut logits = None;
    for (i, c) in prompt.chunks(args.chunk.max(1)).enumerate() {
        logits = Some(m.forward(c, i * args.chunk.max(1))?);
    }
    // Reading the logits waits for a GPU to finish the prompt.
    let mut next = argmax(&logits.expect("prompt is not empty").to_vec1::<f32>()?);
    let prefill = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for pos in args.prompt_tokens..total {
        next = argmax(&m.forward(&[next], pos)?.to_vec1::<f32>()?);
    }
    let decode = t1.elapsed().as_secs_f64();

    let report = Report {
        model: engine.name.clone(),
        device: engine.device.to_string(),
        threads: device::cpu_threads(),
        load_seconds: engine.load_time.as_secs_f64(),
        prompt_tokens: args.prompt_tokens,
        gen_tokens: args.gen_tokens,
        prefill_tokens_per_second: args.prompt_tokens as f64 / prefill,
        decode_tokens_per_second: if decode > 0.0 {
            args.gen_tokens as f64 / decode
        } else {
            0.0
        },
        peak_rss_bytes: device::peak_rss(),
        estimate: engine.memory,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("model:    {} ({})", report.model, model.display());
        println!("device:   {} ({} threads)", report.device, report.threads);
        println!("load:     {:.2} s", report.load_seconds);
        println!(
            "prefill:  {} tokens, {:.1} tok/s",
            report.prompt_tokens, report.prefill_tokens_per_second
        );
        println!(
            "decode:   {} tokens, {:.1} tok/s",
            report.gen_tokens, report.decode_tokens_per_second
        );
        let e = &report.estimate;
        println!(
            "memory:   estimate {} (weights {} + KV cache {} + working {})",
            device::human_bytes(e.total),
            device::human_bytes(e.weights),
            device::human_bytes(e.kv_cache),
            device::human_bytes(e.working)
        );
        if let Some(b) = report.peak_rss_bytes {
            println!("peak RSS: {}", device::human_bytes(b));
        }
    }
    Ok(())
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}
