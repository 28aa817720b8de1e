//! `reportlens convert`: a model directory (Index-1.9B, Llama) or a GGUF ->
//! a quantized Llama-architecture GGUF. Progress on stderr.
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use reportlens::model::convert::{convert, ConvertError, Quant};
use reportlens::model::device::human_bytes;

#[derive(clap::Args)]
pub struct Args {
    /// A model directory (config.json + weights + tokenizer.model), or a GGUF to re-quantize.
    #[arg(long)]
    model: PathBuf,
    /// Weight type: q8_0, q4k (Q4_K, Q6_K output), q4_k_m (llama.cpp's Q4_K_M mix) or f16.
    #[arg(long)]
    quant: Quant,
    /// The GGUF file to write.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut err = std::io::stderr().lock();
    let result = convert(&args.model, args.quant, &args.out, None, |p| {
        let dims: Vec<String> = p.shape.iter().map(|d| d.to_string()).collect();
        let _ = writeln!(
            err,
            "[{:>4}/{}] {:<28} {:<5} {:<14} {}",
            p.done,
            p.total,
            p.tensor,
            format!("{:?}", p.dtype),
            dims.join(" x "),
            human_bytes(p.bytes_written)
        );
    });
    let summary = match result {
        Ok(s) => s,
        Err(e @ (ConvertError::Model(_) | ConvertError::SameFile { .. })) => {
            return Err(crate::user(e))
        }
        Err(e) => return Err(e.into()),
    };
    let types: Vec<String> = summary
        .types
        .iter()
        .map(|(t, n)| format!("{n} {t}"))
        .collect();
    eprintln!(
        "wrote {} ({} tensors: {}; {} of weights) in {:.1} s",
        summary.out.display(),
        summary.tensors,
        types.join(", "),
        human_bytes(summary.bytes),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
