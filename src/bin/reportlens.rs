//! The `reportlens` CLI: one thin subcommand per pipeline step.
//!
//! Exit codes: 0 success, 1 user error (one-line message on stderr), 2 internal error.

// The crate root is src/bin/reportlens.rs, so submodules need explicit paths.
#[path = "reportlens/bench.rs"]
mod bench;
#[path = "reportlens/bench_extract.rs"]
mod bench_extract;
#[path = "reportlens/check_numbers.rs"]
mod check_numbers;
#[path = "reportlens/convert.rs"]
mod convert;
#[path = "reportlens/extract.rs"]
mod extract;
#[path = "reportlens/generate.rs"]
mod generate;
#[path = "reportlens/jobs.rs"]
mod jobs;
#[path = "reportlens/key_figures.rs"]
mod key_figures;
#[path = "reportlens/logits.rs"]
mod logits;
#[path = "reportlens/model_forms.rs"]
mod model_forms;
#[path = "reportlens/plan.rs"]
mod plan;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reportlens",
    version,
    about = "Offline summaries and translations of long reports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Extract a PDF, DOCX, TXT or MD file into blocks.
    Extract(extract::Args),
    /// Count the document's tokens against the model's context.
    Plan(plan::Args),
    /// Generate text from a prompt, streamed to stdout.
    Generate(generate::Args),
    /// Measure load time, prefill and decode speed, and peak memory.
    Bench(bench::Args),
    /// The model's logits for token ids, as JSON (to compare implementations).
    Logits(logits::Args),
    /// Pages per second of PDF extraction on a folder, against pdftotext.
    BenchExtract(bench_extract::Args),
    /// Check every figure in an output against the source document.
    CheckNumbers(check_numbers::Args),
    /// The headline figures of a document's statements (CSV, XLSX, Markdown, JSON).
    KeyFigures(key_figures::Args),
    /// Write a quantized Llama GGUF from a model directory (Index-1.9B) or a GGUF.
    Convert(convert::Args),
    /// How a model directory runs: dense or converted once (the memory each needs; --use chooses).
    Model(model_forms::Args),
    /// Summarize a document (a resumable job; figures checked against the source).
    Summarize(jobs::SummarizeArgs),
    /// Translate a document block by block, for the side-by-side view.
    Translate(jobs::TranslateArgs),
    /// Continue an unfinished (cancelled, failed or killed) job.
    Resume(jobs::ResumeArgs),
    /// List past jobs (or delete one).
    Jobs(jobs::JobsArgs),
    /// Export a finished job to Markdown or DOCX (a financial summary's key figures
    /// also to CSV or XLSX).
    Export(jobs::ExportArgs),
}

/// A failure the user can fix (bad file, missing model): exit code 1.
#[derive(Debug)]
pub struct UserError(pub String);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UserError {}

/// Wrap an engine error that is the user's to fix.
pub fn user(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(UserError(e.to_string()))
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Extract(a) => extract::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Logits(a) => logits::run(a),
        Command::BenchExtract(a) => bench_extract::run(a),
        Command::CheckNumbers(a) => check_numbers::run(a),
        Command::KeyFigures(a) => key_figures::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Model(a) => model_forms::run(a),
        Command::Summarize(a) => jobs::summarize(a),
        Command::Translate(a) => jobs::translate(a),
        Command::Resume(a) => jobs::resume(a),
        Command::Jobs(a) => jobs::jobs(a),
        Command::Export(a) => jobs::export_job(a),
    };
    if let Err(e) = result {
        if let Some(u) = e.downcast_ref::<UserError>() {
            eprintln!("error: {u}");
            std::process::exit(1);
        }
        eprintln!("internal error: {e:#}");
        std::process::exit(2);
    }
}

/// The model to use: the one given, else the one chosen in the app's
/// Settings, else the fetched test model.
/// Where the model runs: `--cpu`, else `--device`, else the Settings' choice.
pub fn resolve_device(
    given: &DeviceArgs,
) -> anyhow::Result<reportlens::model::device::DeviceChoice> {
    use reportlens::model::device::DeviceChoice;
    if given.cpu {
        return Ok(DeviceChoice::Cpu);
    }
    if let Some(d) = given.device {
        return Ok(d);
    }
    let dir = reportlens::store::data_dir().map_err(user)?;
    Ok(reportlens::settings::Settings::load(&dir)
        .map_err(user)?
        .device)
}

/// The device options every command that runs the model takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DeviceArgs {
    /// Where the model runs: auto, cpu, cuda, cuda:N (the Nth GPU) or metal
    /// (default: the choice in Settings, else auto)
    #[arg(long)]
    pub device: Option<reportlens::model::device::DeviceChoice>,
    /// The same as --device cpu.
    #[arg(long, conflicts_with = "device")]
    pub cpu: bool,
}

/// The KV cache options every command that runs the model takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KvArgs {
    /// KV cache type: f16 (the default, llama.cpp's), q8_0 (about half of
    /// f16's memory; llama.cpp's --cache-type-k/v q8_0, CPU only) or f32
    /// (exact attention, twice f16's memory)
    #[arg(long = "kv-cache", value_name = "TYPE")]
    pub kv_cache: Option<reportlens::model::KvType>,
    /// The same as --kv-cache f32.
    #[arg(long, conflicts_with = "kv_cache")]
    pub kv_f32: bool,
}

impl KvArgs {
    pub fn kv_type(&self) -> reportlens::model::KvType {
        match (self.kv_f32, self.kv_cache) {
            (true, _) => reportlens::model::KvType::F32,
            (false, kv) => kv.unwrap_or(reportlens::model::KvType::F16),
        }
    }
}

pub fn resolve_model(given: Option<std::path::PathBuf>) -> anyhow::Result<std::path::PathBuf> {
    let dir = reportlens::store::data_dir().map_err(user)?;
    let settings = reportlens::settings::Settings::load(&dir).map_err(user)?;
    // The app's rule, the same function: --model, $REPORTLENS_MODEL, Settings, the test model.
    settings
        .resolve_model(given.as_deref())
        .map(|(p, _)| p)
        .ok_or_else(|| {
            user(format!(
                "no model given and the test model is not at {}; pass --model, set {} or run \
                 models/fetch-test-models",
                reportlens::paths::test_model_path().display(),
                reportlens::settings::MODEL_ENV
            ))
        })
}
