//! `batch`: argument mapping over the core's batch, with an overall progress
//! bar and one per file in flight; Ctrl-C cancels (finished passes are kept).
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use reportlens::app::{BatchEvent, BatchOptions, FileStatus, OutputFormat};
use reportlens::tasks::{JobEvent, JobProgress, JobRequest};
use reportlens::{Lang, TaskSpec};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Task {
    Summarize,
    Translate,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Md,
    Docx,
}

#[derive(clap::Args)]
pub struct Args {
    /// Files and folders (folders are walked for PDF, DOCX, TXT and MD files).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum)]
    task: Task,
    /// Translations: the target language.
    #[arg(long, default_value = "zh")]
    to: Lang,
    /// Summaries: their language.
    #[arg(long, default_value = "en")]
    lang: Lang,
    /// Summaries: general, or financial (key figures, drivers, outlook, risks).
    #[arg(long, default_value = "general")]
    mode: crate::jobs::Mode,
    /// The output folder: it mirrors the inputs, with index.csv.
    #[arg(long)]
    out: PathBuf,
    /// md (translations: side by side) or docx.
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Model: a GGUF file or a model directory (with a server: the same model
    /// here, for its prompts; optional).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Plan for a smaller context than the model's.
    #[arg(long)]
    context: Option<usize>,
    /// Translations: your glossary on top of the shipped finance terms.
    #[arg(long)]
    glossary: Option<PathBuf>,
    #[command(flatten)]
    engine: crate::EngineArgs,
    #[command(flatten)]
    device: crate::DeviceArgs,
    #[command(flatten)]
    kv: crate::KvArgs,
    /// Print the report (every file, its status, output and figure counts) as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let core = crate::core()?;
    let engine = crate::engine_settings(&core, &a.device, &a.kv, &a.engine)?;
    let task = match a.task {
        Task::Summarize => TaskSpec::Summarize {
            lang: a.lang,
            mode: a.mode.into(),
        },
        Task::Translate => TaskSpec::Translate { to: a.to },
    };
    let opts = BatchOptions {
        template: JobRequest {
            file: PathBuf::new(),
            model: crate::job_model(&core, a.model, &engine)?,
            task,
            strategy: None,
            context: a.context,
            glossary: a.glossary,
            server: crate::server_ref(&engine),
        },
        out: a.out,
        format: match a.format {
            Format::Md => OutputFormat::Markdown,
            Format::Docx => OutputFormat::Docx,
        },
        parallel: engine.answers_at_once,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let c = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if c.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!(
                "\ncancelling: finished passes are kept; run the same batch again to continue"
            );
        });
    }
    let bars = Bars::new();
    let report = core
        .batch(&a.paths, &opts, &engine, &cancel, &|e| bars.event(e))
        .map_err(crate::user)?;
    bars.done();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    let count = |f: fn(&FileStatus) -> bool| report.files.iter().filter(|(_, s)| f(s)).count();
    let done = count(|s| matches!(s, FileStatus::Done { .. }));
    let skipped = count(|s| matches!(s, FileStatus::Skipped { .. }));
    let cancelled = count(|s| matches!(s, FileStatus::Cancelled { .. }));
    let failed: Vec<_> = report.failed().collect();
    eprintln!(
        "{} files: {done} done, {skipped} already done, {} failed{}; index: {}",
        report.files.len(),
        failed.len(),
        if cancelled > 0 {
            format!(", {cancelled} cancelled")
        } else {
            String::new()
        },
        report.index.display()
    );
    for (f, reason) in &failed {
        let path = f.source.display().to_string();
        if reason.contains(&path) {
            eprintln!("failed: {reason}");
        } else {
            eprintln!("failed: {path}: {reason}");
        }
    }
    if !failed.is_empty() {
        return Err(crate::user(format!(
            "{} of {} files failed",
            failed.len(),
            report.files.len()
        )));
    }
    if cancelled > 0 {
        return Err(crate::user(
            "cancelled; run the same batch again to continue",
        ));
    }
    Ok(())
}

/// The overall bar and one bar per file in flight.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    /// Each file in flight: its bar and its job's progress (the engine's).
    files: Mutex<HashMap<usize, (ProgressBar, JobProgress)>>,
    names: Mutex<Vec<String>>,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("files {pos}/{len} [{bar:24}] {elapsed_precise} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Bars {
            multi,
            overall,
            files: Mutex::new(HashMap::new()),
            names: Mutex::new(Vec::new()),
        }
    }

    fn event(&self, e: &BatchEvent) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        match e {
            BatchEvent::Found { files: found } => {
                self.overall.set_length(found.len() as u64);
                *self.names.lock().unwrap_or_else(|e| e.into_inner()) = found
                    .iter()
                    .map(|f| f.relative.display().to_string())
                    .collect();
            }
            BatchEvent::Started { index, job } => {
                let pb = self.multi.add(ProgressBar::new(0));
                pb.set_style(
                    ProgressStyle::with_template("  {prefix} pass {pos}/{len} [{bar:16}] {msg}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                pb.set_prefix(format!("{} (job {job})", self.name(*index)));
                files.insert(*index, (pb, JobProgress::new(*job)));
            }
            BatchEvent::Job { index, event } => {
                let Some((pb, progress)) = files.get_mut(index) else {
                    return;
                };
                progress.update(event);
                pb.set_length(progress.passes as u64);
                pb.set_position(progress.passes_done as u64);
                match event {
                    JobEvent::ModelLoading { .. } => pb.set_message("loading the model"),
                    JobEvent::ModelLoaded { device, .. } => pb.set_message(format!("on {device}")),
                    JobEvent::PassStarted { kind, .. } => {
                        pb.set_message(format!("{kind:?}").to_lowercase());
                    }
                    JobEvent::Prefill { done, total, .. } => {
                        pb.set_message(format!("reading {done}/{total} tokens"))
                    }
                    _ => {}
                }
            }
            BatchEvent::Ended { index, status } => {
                if let Some((pb, _)) = files.remove(index) {
                    pb.finish_and_clear();
                    self.multi.remove(&pb);
                }
                let line = match status {
                    FileStatus::Done {
                        output, figures, ..
                    } => format!(
                        "done: {} -> {} ({} figures, {} verified, {} mismatch)",
                        self.name(*index),
                        output.display(),
                        figures.total,
                        figures.verified,
                        figures.mismatch
                    ),
                    FileStatus::Skipped { output } => {
                        format!("already done: {} ({})", self.name(*index), output.display())
                    }
                    FileStatus::Failed { .. } => format!("failed: {}", self.name(*index)),
                    FileStatus::Cancelled { .. } => format!("cancelled: {}", self.name(*index)),
                };
                self.overall.println(line);
                self.overall.inc(1);
            }
        }
    }

    fn name(&self, index: usize) -> String {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(index)
            .cloned()
            .unwrap_or_default()
    }

    fn done(&self) {
        self.overall.finish_and_clear();
    }
}
