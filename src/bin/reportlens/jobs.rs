//! `summarize`, `translate`, `resume`, `jobs`, `export`: jobs in the store,
//! with a progress bar and Ctrl-C as cancel (finished passes are kept).
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use reportlens::app::{AppError, Core, EngineSettings};
use reportlens::export::{self, ExportFormat};
use reportlens::model::device;
use reportlens::store::{JobId, Store};
use reportlens::tasks::{
    self, JobEvent, JobOutcome, JobProgress, JobRequest, JobResult, TaskError,
};
use reportlens::{Lang, Strategy, SummaryMode, TaskSpec};

/// Options shared by every command that runs a model.
#[derive(clap::Args, Clone)]
pub struct RunArgs {
    /// Plan for a smaller context than the model's (less memory, more passes).
    #[arg(long)]
    context: Option<usize>,
    /// CPU threads (default: all physical cores).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    device: crate::DeviceArgs,
    #[command(flatten)]
    kv: crate::KvArgs,
    #[command(flatten)]
    pub engine: crate::EngineArgs,
    /// Print the result (and its figure findings) as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Write the result to this file: .md or .docx (translations: bilingual).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct SummarizeArgs {
    file: PathBuf,
    /// Model: a GGUF file or a model directory (default: the test model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Language of the summary.
    #[arg(long, default_value = "en")]
    lang: Lang,
    /// general, or financial: key figures, drivers, outlook, risks.
    #[arg(long, default_value = "general")]
    mode: Mode,
    /// whole, map-reduce or head-tail (default: whole when it fits, else map-reduce).
    #[arg(long)]
    strategy: Option<Strategy>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    General,
    Financial,
}

impl From<Mode> for SummaryMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::General => SummaryMode::General,
            Mode::Financial => SummaryMode::Financial,
        }
    }
}

#[derive(clap::Args)]
pub struct TranslateArgs {
    file: PathBuf,
    #[arg(long)]
    model: Option<PathBuf>,
    /// Target language.
    #[arg(long)]
    to: Lang,
    /// Your own glossary (English<TAB>Chinese per line) on top of the shipped finance terms.
    #[arg(long)]
    glossary: Option<PathBuf>,
    /// With --out: write only the translation, not the two-column bilingual file.
    #[arg(long)]
    target_only: bool,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    /// The job id (`reportlens jobs` lists them).
    job: JobId,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args)]
pub struct JobsArgs {
    #[arg(long)]
    json: bool,
    /// Delete this job and its stored passes.
    #[arg(long)]
    delete: Option<JobId>,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    job: JobId,
    /// .md or .docx
    #[arg(long)]
    out: PathBuf,
    /// Two columns, source beside translation (translations only).
    #[arg(long)]
    bilingual: bool,
}

pub fn summarize(a: SummarizeArgs) -> anyhow::Result<()> {
    let task = TaskSpec::Summarize {
        lang: a.lang,
        mode: a.mode.into(),
    };
    let core = crate::core()?;
    let engine = engine_settings(&core, &a.run)?;
    let req = JobRequest {
        file: a.file,
        model: crate::job_model(&core, a.model, &engine)?,
        task,
        strategy: a.strategy,
        context: a.run.context,
        glossary: None,
        server: crate::server_ref(&engine),
    };
    submit_and_run(&core, req, &engine, &a.run, false)
}

pub fn translate(a: TranslateArgs) -> anyhow::Result<()> {
    let core = crate::core()?;
    let engine = engine_settings(&core, &a.run)?;
    let req = JobRequest {
        file: a.file,
        model: crate::job_model(&core, a.model, &engine)?,
        task: TaskSpec::Translate { to: a.to },
        strategy: None,
        context: a.run.context,
        glossary: a.glossary,
        server: crate::server_ref(&engine),
    };
    submit_and_run(&core, req, &engine, &a.run, !a.target_only)
}

fn submit_and_run(
    core: &Core,
    req: JobRequest,
    engine: &EngineSettings,
    run: &RunArgs,
    bilingual: bool,
) -> anyhow::Result<()> {
    let mut store = core.store().map_err(crate::user)?;
    let id = tasks::submit(&mut store, &req).map_err(task_err)?;
    eprintln!("job {id}");
    execute(core, id, engine, run, bilingual)
}

pub fn resume(a: ResumeArgs) -> anyhow::Result<()> {
    let core = crate::core()?;
    let job = core
        .store()
        .and_then(|s| Ok(s.get_job(a.job)?))
        .map_err(crate::user)?;
    let bilingual = job.task == reportlens::store::TaskKind::Translate;
    eprintln!(
        "resuming job {} ({} of its passes are done)",
        job.id, job.done_chunks
    );
    let engine = engine_settings(&core, &a.run)?;
    execute(&core, a.job, &engine, &a.run, bilingual)
}

/// The engine for this run (`--threads` applies to it).
fn engine_settings(core: &Core, run: &RunArgs) -> anyhow::Result<EngineSettings> {
    if let Some(n) = run.threads {
        device::set_cpu_threads(n);
    }
    crate::engine_settings(core, &run.device, &run.kv, &run.engine)
}

fn execute(
    core: &Core,
    id: JobId,
    engine: &EngineSettings,
    run: &RunArgs,
    bilingual: bool,
) -> anyhow::Result<()> {
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let c = cancel.clone();
        // First Ctrl-C cancels cleanly (finished passes stay); a second one exits at once.
        let _ = ctrlc::set_handler(move || {
            if c.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ncancelling: finished passes are kept (`reportlens resume {id}`)");
        });
    }
    let mut bar = Bar::new();
    let outcome = core.run_job(id, engine, cancel, &mut |e| bar.event(e));
    bar.done();
    match outcome.map_err(app_err)? {
        JobOutcome::Cancelled { passes_done } => Err(crate::user(format!(
            "job {id} cancelled after {passes_done} passes; `reportlens resume {id}` continues it"
        ))),
        JobOutcome::Done(result) => deliver(&result, run.json, run.out.as_deref(), bilingual),
    }
}

fn deliver(
    result: &JobResult,
    json: bool,
    out: Option<&Path>,
    bilingual: bool,
) -> anyhow::Result<()> {
    if let Some(path) = out {
        write_export(result, path, bilingual)?;
        eprintln!("wrote {}", path.display());
    }
    let c = result.findings().counts;
    if json {
        println!("{}", serde_json::to_string_pretty(result)?);
    } else if out.is_none() {
        let content = result.export_content();
        let format = if bilingual {
            ExportFormat::BilingualMarkdown
        } else {
            ExportFormat::Markdown
        };
        let bytes = export::render(&content, format).map_err(crate::user)?;
        println!("{}", String::from_utf8_lossy(&bytes));
    }
    eprintln!(
        "figures: {} checked — {} verified, {} derived, {} approximate, {} mismatch, {} unsupported",
        c.total, c.verified, c.derived, c.approximate, c.mismatch, c.unsupported
    );
    Ok(())
}

fn write_export(result: &JobResult, path: &Path, bilingual: bool) -> anyhow::Result<()> {
    let format = ExportFormat::from_path(path, bilingual)
        .ok_or_else(|| {
            crate::user(format!(
                "{}: use a .md or .docx file name (.csv or .xlsx for a financial summary's key figures)",
                path.display()
            ))
        })?;
    tasks::export_result(result, format, path).map_err(crate::user)?;
    Ok(())
}

pub fn jobs(a: JobsArgs) -> anyhow::Result<()> {
    let mut store = Store::open_default().map_err(crate::user)?;
    if let Some(id) = a.delete {
        store.delete_job(id).map_err(crate::user)?;
        eprintln!("deleted job {id}");
        return Ok(());
    }
    let list = store.list_jobs().map_err(crate::user)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        println!("no jobs yet");
    }
    for j in list {
        let total = j
            .total_chunks
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".into());
        println!(
            "{:>4}  {:<9}  {:<9}  {}/{} passes  {}  ({}, {})",
            j.id,
            j.task,
            j.status,
            j.done_chunks,
            total,
            j.document_name,
            j.model_id,
            j.device.as_deref().unwrap_or("not run")
        );
    }
    Ok(())
}

pub fn export_job(a: ExportArgs) -> anyhow::Result<()> {
    let store = Store::open_default().map_err(crate::user)?;
    let result = tasks::load_result(&store, a.job).map_err(task_err)?;
    write_export(&result, &a.out, a.bilingual)?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

/// `task_err` for the core's errors.
fn app_err(e: AppError) -> anyhow::Error {
    match e {
        AppError::Task(t) => task_err(t),
        other => crate::user(other),
    }
}

/// Engine failures inside a job are internal errors; everything else
/// (bad file, missing job, glossary) is the user's to fix.
fn task_err(e: TaskError) -> anyhow::Error {
    match e {
        TaskError::Generate(reportlens::model::GenerateError::Compute(_)) => anyhow::Error::new(e),
        other => crate::user(other),
    }
}

/// The progress bar: one step per pass; the message says what the pass is
/// doing. Where the job stands is the engine's `JobProgress`, as the window
/// shows it.
struct Bar {
    pb: ProgressBar,
    progress: Option<JobProgress>,
}

impl Bar {
    fn new() -> Self {
        let pb = ProgressBar::new(0);
        pb.set_style(
            ProgressStyle::with_template("{spinner} pass {pos}/{len} [{bar:24}] {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Bar { pb, progress: None }
    }

    fn event(&mut self, e: &JobEvent) {
        match e {
            JobEvent::Planned { plan, .. } => {
                self.pb.println(format!(
                    "plan: {:?}, {} passes, {} document tokens in a {}-token context{}",
                    plan.strategy,
                    plan.passes.len(),
                    plan.budget.document_tokens,
                    plan.budget.context_length,
                    plan.estimated_seconds
                        .map(|s| format!(", about {} on this machine", human_secs(s)))
                        .unwrap_or_default()
                ));
                if let Some(d) = &plan.dropped {
                    self.pb.println(format!(
                        "head-tail drops {} tokens (blocks {}–{})",
                        d.tokens, d.first_block, d.last_block
                    ));
                }
            }
            JobEvent::PassFinished {
                pass, reused: true, ..
            } => {
                self.pb
                    .println(format!("pass {}: reused from the store", pass + 1));
            }
            JobEvent::ModelLoading { model, .. } => {
                self.pb.set_message(format!("loading {}", model.display()));
            }
            JobEvent::ModelLoaded { device, .. } => {
                self.pb.set_message(format!("running on {device}"));
            }
            _ => {}
        }
        let p = self
            .progress
            .get_or_insert_with(|| JobProgress::new(e.job()));
        p.update(e);
        self.pb.set_length(p.passes as u64);
        self.pb.set_position(p.passes_done as u64);
        if !matches!(
            e,
            JobEvent::PassStarted { .. } | JobEvent::Prefill { .. } | JobEvent::Token { .. }
        ) {
            return;
        }
        let kind = p
            .pass_kind
            .map(|k| format!("{k:?}").to_lowercase())
            .unwrap_or_default();
        let doing = match p.reading {
            Some(r) => format!("reading {}/{} tokens", r.done, r.total),
            None => format!("writing, {} tokens", p.tokens),
        };
        let tps = p
            .tokens_per_second
            .map(|t| format!(", {t:.1} tok/s"))
            .unwrap_or_default();
        let left = p
            .eta_seconds
            .map(|s| format!(" · ~{} left", human_secs(s)))
            .unwrap_or_default();
        self.pb.set_message(format!("{kind}: {doing}{tps}{left}"));
    }

    fn done(&self) {
        self.pb.finish_and_clear();
    }
}

fn human_secs(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
