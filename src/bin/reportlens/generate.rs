//! `reportlens generate`: stream a model's answer to a prompt on stdout.
use std::io::Write;
use std::path::PathBuf;

use candle_core::DType;
use reportlens::model::template::raw_prompt;
use reportlens::model::{
    device, load_engine, GenerateError, GenerateOptions, LoadOptions, Sampling,
};

#[derive(clap::Args)]
pub struct Args {
    /// Model: a GGUF file or a model directory such as Index-1.9B-32K (default: the test model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The prompt text.
    #[arg(long)]
    prompt: String,
    /// Wrap the prompt as a user turn in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// System text for --chat (default: the template's own, if any).
    #[arg(long)]
    system: Option<String>,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Always take the most likely token (no sampling).
    #[arg(long)]
    greedy: bool,
    #[arg(long, default_value_t = 0.7)]
    temperature: f64,
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long, default_value_t = 0.9)]
    top_p: f64,
    /// Above 1 discourages repeating recent tokens (1.0: off).
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Stop before this text (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// CPU threads (default: all physical cores).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    device: crate::DeviceArgs,
    #[command(flatten)]
    kv: crate::KvArgs,
    /// Hold a model directory's dense weights in f32 (exact; twice the memory
    /// of the default f16).
    #[arg(long)]
    weights_f32: bool,
    /// Print timing figures to stderr at the end.
    #[arg(long)]
    stats: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        device::set_cpu_threads(n);
    }
    let model = crate::resolve_model(args.model)?;
    let load = LoadOptions {
        device: crate::resolve_device(&args.device)?,
        kv_type: args.kv.kv_type(),
        weight_dtype: args.weights_f32.then_some(DType::F32),
        ..Default::default()
    };
    let mut engine = load_engine(&model, &load).map_err(crate::user)?;
    let prompt = if args.chat {
        engine.chat_prompt(args.system.as_deref(), &args.prompt)
    } else {
        raw_prompt(&engine.tokenizer, &args.prompt)
    }
    .map_err(crate::user)?;
    let sampling = if args.greedy {
        Sampling::Greedy
    } else {
        Sampling::Sample {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: Some(args.top_p),
            seed: args.seed,
        }
    };
    let opts = GenerateOptions {
        max_new_tokens: args.max_tokens,
        sampling,
        repetition_penalty: args.repeat_penalty,
        stop: args.stop,
        ..Default::default()
    };
    let mut out = std::io::stdout().lock();
    let result = engine.generate(
        &prompt,
        &opts,
        |piece| {
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        },
        |_| {},
    );
    let gen = match result {
        Ok(g) => g,
        Err(e @ (GenerateError::EmptyPrompt | GenerateError::PromptTooLong { .. })) => {
            return Err(crate::user(e))
        }
        Err(e) => return Err(e.into()),
    };
    writeln!(out)?;
    if args.stats {
        let s = &gen.stats;
        eprintln!(
            "device {} | prompt {} tokens, {:.1} tok/s | generated {} tokens, {:.1} tok/s | stop: {:?}",
            engine.device,
            s.prompt_tokens,
            s.prefill_tokens_per_second,
            s.generated_tokens,
            s.decode_tokens_per_second,
            s.stop_reason
        );
    }
    Ok(())
}
