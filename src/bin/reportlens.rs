//! The `reportlens` CLI: one thin subcommand per pipeline step.
//!
//! Exit codes: 0 success, 1 user error (one-line message on stderr), 2 internal error.

// The crate root is src/bin/reportlens.rs, so submodules need explicit paths.
#[path = "reportlens/batch.rs"]
mod batch;
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
    /// Summarize or translate every report under files and folders, into a
    /// folder that mirrors them, with a CSV index; a second run skips what is done.
    Batch(batch::Args),
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
        Command::Batch(a) => batch::run(a),
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
    // The app's rule, the same function: --model, $REPORTLENS_MODEL, Settings, the test model.
    core()?
        .resolve_model(given.as_deref())
        .map(|(p, _)| p)
        .map_err(user)
}

/// The application core over this machine's folders.
pub fn core() -> anyhow::Result<reportlens::app::Core> {
    reportlens::app::Core::from_env().map_err(user)
}

/// The model a job is made with: required for the local engine; for a
/// server, the same model here (for its prompts and tokenizer) when there is one.
pub fn job_model(
    core: &reportlens::app::Core,
    given: Option<std::path::PathBuf>,
    engine: &reportlens::app::EngineSettings,
) -> anyhow::Result<std::path::PathBuf> {
    match (core.resolve_model(given.as_deref()), &engine.server) {
        (Ok((p, _)), _) => Ok(p),
        (Err(_), Some(_)) => Ok(std::path::PathBuf::new()),
        (Err(e), None) => Err(user(e)),
    }
}

/// The engine a job runs on: the flags, else the choices in Settings (the
/// KV cache: the flag, else f16, as every command that loads a model).
pub fn engine_settings(
    core: &reportlens::app::Core,
    device: &DeviceArgs,
    kv: &KvArgs,
    engine: &EngineArgs,
) -> anyhow::Result<reportlens::app::EngineSettings> {
    let server = engine.server(core)?;
    let saved = core
        .settings()
        .map_err(user)?
        .server
        .map_or(1, |s| s.parallel);
    Ok(reportlens::app::EngineSettings {
        device: resolve_device(device)?,
        kv: kv.kv_type(),
        answers_at_once: if server.is_some() {
            engine.parallel.unwrap_or(saved).max(1)
        } else {
            1
        },
        server,
    })
}

/// The job's server, as stored with it (no key).
pub fn server_ref(
    engine: &reportlens::app::EngineSettings,
) -> Option<reportlens::tasks::ServerRef> {
    engine.server.as_ref().map(reportlens::tasks::ServerRef::of)
}

/// Which engine runs the passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The model on this machine (no network at all).
    Local,
    /// An OpenAI-compatible server (llama-server, vLLM, SGLang, Ollama, LM Studio).
    Openai,
}

/// The engine options every command that runs jobs takes. The server's API
/// key comes from $REPORTLENS_API_KEY or Settings, never the command line
/// (where other users of the machine could read it).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EngineArgs {
    /// local or openai (default: the choice in Settings, else local)
    #[arg(long, value_enum)]
    pub engine: Option<EngineKind>,
    /// The server's base URL, e.g. http://127.0.0.1:8080 (default: Settings')
    #[arg(long, value_name = "URL")]
    pub server_url: Option<String>,
    /// The model name the server serves (default: Settings')
    #[arg(long, value_name = "NAME")]
    pub server_model: Option<String>,
    /// On a server: answers in flight at once, files of a batch and a
    /// translation's passes alike (default: Settings', else 1). The local
    /// engine writes one at a time.
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
}

impl EngineArgs {
    /// The server to run on, or `None` for the local engine.
    pub fn server(
        &self,
        core: &reportlens::app::Core,
    ) -> anyhow::Result<Option<reportlens::remote::ServerConfig>> {
        let settings = core.settings().map_err(user)?;
        let saved = settings.server_config(&core.paths().data);
        let remote = match self.engine {
            Some(EngineKind::Local) => false,
            Some(EngineKind::Openai) => true,
            None => saved.is_some() || self.server_url.is_some(),
        };
        if !remote {
            return Ok(None);
        }
        let mut cfg = saved.unwrap_or_else(|| reportlens::remote::ServerConfig {
            api_key: reportlens::settings::api_key(&core.paths().data),
            ..Default::default()
        });
        if let Some(u) = &self.server_url {
            cfg.url = u.clone();
        }
        if let Some(m) = &self.server_model {
            cfg.model = m.clone();
        }
        if cfg.url.trim().is_empty() {
            return Err(user(
                "--engine openai needs a server: pass --server-url (and --server-model) or choose one in Settings",
            ));
        }
        Ok(Some(cfg))
    }
}
