//! `reportlens logits`: the model's next-token logits for given token ids, as
//! JSON, to compare this engine with another implementation of the same
//! checkpoint (tools/gpu-check compares CUDA with Hugging Face transformers).
use std::io::Write;
use std::path::PathBuf;

use candle_core::DType;
use reportlens::model::{load_engine, LoadOptions};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Model: a GGUF file or a model directory (default: the test model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Token ids, comma-separated (no BOS is added).
    #[arg(long, value_delimiter = ',', required = true)]
    ids: Vec<u32>,
    /// The logits of every position, not only the last.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    device: crate::DeviceArgs,
    /// Hold a model directory's dense weights in f32 (default f16).
    #[arg(long)]
    weights_f32: bool,
    #[command(flatten)]
    kv: crate::KvArgs,
}

#[derive(Serialize)]
struct Report {
    model: String,
    device: String,
    ids: Vec<u32>,
    /// One row per position (the last only, without --all).
    logits: Vec<Vec<f32>>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = crate::resolve_model(args.model)?;
    let load = LoadOptions {
        device: crate::resolve_device(&args.device)?,
        kv_type: args.kv.kv_type(),
        weight_dtype: args.weights_f32.then_some(DType::F32),
        max_tokens: Some(args.ids.len()),
        ..Default::default()
    };
    let mut engine = load_engine(&model, &load).map_err(crate::user)?;
    let m = &mut engine.model;
    if args.ids.len() > m.max_positions() {
        return Err(crate::user(format!(
            "{} ids exceed the model's context of {}",
            args.ids.len(),
            m.max_positions()
        )));
    }
    m.begin(args.ids.len())?;
    let logits = if args.all {
        m.forward_all(&args.ids, 0)?.to_vec2::<f32>()?
    } else {
        vec![m.forward(&args.ids, 0)?.to_vec1::<f32>()?]
    };
    let report = Report {
        model: engine.name.clone(),
        device: engine.device.to_string(),
        ids: args.ids,
        logits,
    };
    // Written, not printed: a closed pipe (`| head`) is an error, not a panic.
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &report)?;
    writeln!(out)?;
    Ok(())
}
