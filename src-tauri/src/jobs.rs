//! Thin commands over the application core's jobs and queue: plan, queue
//! (one job per file or folder dropped), pause, resume, cancel, reorder,
//! history, export and translation edits. The page hands the shell a
//! `Channel` once (`watch_jobs`); every job's events and progress reach it
//! there, in order, from the core's queue runner.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reportlens::app::{find_documents, Core, JobUpdate, QueueRunner, QueueView};
use reportlens::export::ExportFormat;
use reportlens::plan::{plan_file_with, Plan, PlanOptions};
use reportlens::store::{JobId, JobRecord, JobStatus, JobSummary, Store};
use reportlens::tasks::{self, JobEvent, JobProgress, JobRequest, JobResult, ServerRef};
use reportlens::{Block, TaskSpec};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::State;

use crate::commands::{engine_err, off_ui_thread, CommandError};

/// What the shell keeps between commands: the core and its queue runner
/// (`Err`: the data folder could not be found, said by every command).
pub struct JobState {
    runner: Result<Arc<QueueRunner>, CommandError>,
}

impl JobState {
    /// The core over this machine's folders; jobs a crash left running wait
    /// again in their places, and the queue starts.
    pub fn start() -> JobState {
        let runner = Core::from_env().map_err(engine_err).map(|core| {
            let runner = Arc::new(QueueRunner::new(Arc::new(core)));
            match runner.core().recover_queue() {
                Ok(_) => runner.wake(),
                Err(e) => eprintln!("reportlens: the queue could not be recovered: {e}"),
            }
            runner
        });
        JobState { runner }
    }

    pub fn runner(&self) -> Result<Arc<QueueRunner>, CommandError> {
        self.runner.clone()
    }

    pub fn core(&self) -> Result<Arc<Core>, CommandError> {
        Ok(self.runner()?.core().clone())
    }

    /// The window is closing: running jobs keep their places for next time.
    pub fn stop(&self) {
        if let Ok(r) = &self.runner {
            r.stop();
        }
    }
}

fn open_store(core: &Core) -> Result<Store, CommandError> {
    core.store().map_err(engine_err)
}

/// The plan a job for `path` and `task` would run, with the time it should
/// take at the speed measured on this machine.
pub fn plan_task_with(
    core: &Core,
    path: &Path,
    model: &Path,
    task: TaskSpec,
) -> Result<Plan, CommandError> {
    let opts = PlanOptions {
        task,
        ..Default::default()
    };
    let (_, _, plan) = plan_file_with(path, model, Some(&opts)).map_err(engine_err)?;
    Ok(plan.expect("a plan was asked for").with_speed(
        open_store(core)
            .ok()
            .and_then(|s| tasks::measured_speed(&s, model)),
    ))
}

#[tauri::command]
pub async fn plan_task(
    state: State<'_, JobState>,
    path: String,
    task: TaskSpec,
) -> Result<Plan, CommandError> {
    let core = state.core()?;
    off_ui_thread(move || {
        let (model, _) = core.resolve_model(None).map_err(engine_err)?;
        plan_task_with(&core, Path::new(&path), &model, task)
    })
    .await?
}

/// Every job's events and progress go to `on_event` from now on (a reloaded
/// page hands a new channel); returns the queue as it is.
#[tauri::command]
pub async fn watch_jobs(
    state: State<'_, JobState>,
    on_event: Channel<JobUpdate>,
) -> Result<QueueView, CommandError> {
    let runner = state.runner()?;
    runner.set_sink(channel_sink(on_event));
    runner.wake();
    off_ui_thread(move || runner.view().map_err(engine_err)).await?
}

/// Files and folders queued: the jobs made, and each file refused with why.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    pub jobs: Vec<JobId>,
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    pub path: PathBuf,
    pub message: String,
}

/// Queues one job per document in `paths` (folders walked) with `task` and
/// the settings chosen; the queue runs them in order.
pub fn queue_paths(
    runner: &QueueRunner,
    paths: &[PathBuf],
    task: TaskSpec,
) -> Result<Queued, CommandError> {
    let core = runner.core();
    let settings = core.settings().map_err(engine_err)?;
    let (model, _) = core.resolve_model(None).map_err(engine_err)?;
    let template = JobRequest {
        file: PathBuf::new(),
        model,
        task,
        strategy: None,
        context: None,
        glossary: settings.glossary.clone(),
        server: settings
            .server_config(&core.paths().data)
            .as_ref()
            .map(ServerRef::of),
    };
    let files: Vec<PathBuf> = find_documents(paths)
        .map_err(engine_err)?
        .into_iter()
        .map(|f| f.source)
        .collect();
    let mut queued = Queued {
        jobs: Vec::new(),
        refused: Vec::new(),
    };
    for r in core.queue_files(&files, &template, &mut |e| runner.report(e)) {
        match r {
            Ok(id) => queued.jobs.push(id),
            Err((path, e)) => queued.refused.push(Refused {
                path,
                message: e.to_string(),
            }),
        }
    }
    runner.wake();
    Ok(queued)
}

#[tauri::command]
pub async fn queue_files(
    state: State<'_, JobState>,
    paths: Vec<PathBuf>,
    task: TaskSpec,
) -> Result<Queued, CommandError> {
    let runner = state.runner()?;
    off_ui_thread(move || queue_paths(&runner, &paths, task)).await?
}

/// Queues the open document (it runs at once when nothing else waits).
#[tauri::command]
pub async fn start_job(
    state: State<'_, JobState>,
    path: PathBuf,
    task: TaskSpec,
) -> Result<JobId, CommandError> {
    let runner = state.runner()?;
    off_ui_thread(move || {
        let mut q = queue_paths(&runner, std::slice::from_ref(&path), task)?;
        match q.refused.pop() {
            Some(r) => Err(CommandError::Engine(r.message)),
            None => q
                .jobs
                .pop()
                .ok_or_else(|| CommandError::Engine(format!("{}: not a document", path.display()))),
        }
    })
    .await?
}

/// The queue in order, each job with its progress and time left.
#[tauri::command]
pub async fn queue_view(state: State<'_, JobState>) -> Result<QueueView, CommandError> {
    let runner = state.runner()?;
    off_ui_thread(move || runner.view().map_err(engine_err)).await?
}

/// Runs `f` over the core and its queue, then returns the queue as it is.
async fn queue_op(
    state: State<'_, JobState>,
    f: impl FnOnce(&QueueRunner) -> Result<(), reportlens::app::AppError> + Send + 'static,
) -> Result<QueueView, CommandError> {
    let runner = state.runner()?;
    off_ui_thread(move || {
        f(&runner).map_err(engine_err)?;
        runner.view().map_err(engine_err)
    })
    .await?
}

/// Continue a paused, cancelled or failed job from its last finished pass
/// (it joins the queue, or takes its turn again).
#[tauri::command]
pub async fn resume_job(state: State<'_, JobState>, job: i64) -> Result<QueueView, CommandError> {
    queue_op(state, move |r| {
        r.core().resume_job(JobId(job), r.control())?;
        r.wake();
        Ok(())
    })
    .await
}

/// Pause a job: a running one stops within a token and keeps its place.
#[tauri::command]
pub async fn pause_job(state: State<'_, JobState>, job: i64) -> Result<QueueView, CommandError> {
    queue_op(state, move |r| r.core().pause_job(JobId(job), r.control())).await
}

/// Cancel (running) or remove (waiting) a job; it keeps its finished passes
/// in the history, where it can be resumed.
#[tauri::command]
pub async fn cancel_job(state: State<'_, JobState>, job: i64) -> Result<QueueView, CommandError> {
    queue_op(state, move |r| r.core().cancel_job(JobId(job), r.control())).await
}

/// Move a queued job to place `to` (0-based).
#[tauri::command]
pub async fn move_job(
    state: State<'_, JobState>,
    job: i64,
    to: usize,
) -> Result<QueueView, CommandError> {
    queue_op(state, move |r| r.core().move_job(JobId(job), to)).await
}

/// Sends updates to the page's channel, streamed text in pieces of at most
/// ~10 a second (`TokenBatcher`); a ticker sends held text on time even when
/// the model writes nothing more for a while. Dropping the sink (a new page
/// took over) stops its ticker.
fn channel_sink(channel: Channel<JobUpdate>) -> reportlens::app::UpdateSink {
    let batcher = Arc::new(Mutex::new(TokenBatcher::default()));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (batcher, stop, channel) = (batcher.clone(), stop.clone(), channel.clone());
        let _ = std::thread::Builder::new()
            .name("reportlens-events".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    std::thread::sleep(TokenBatcher::EVERY / 2);
                    // Sent while the batcher is locked, so held text and the
                    // runner's next events reach the page in order.
                    let mut b = batcher.lock().unwrap_or_else(|e| e.into_inner());
                    for u in b.due() {
                        let _ = channel.send(u);
                    }
                }
            });
    }
    let guard = StopOnDrop(stop);
    Box::new(move |u: &JobUpdate| {
        let _keep = &guard;
        let mut b = batcher.lock().unwrap_or_else(|e| e.into_inner());
        for out in b.push(u) {
            let _ = channel.send(out);
        }
    })
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Streamed text reaches the window in pieces of at most ~10 per second:
/// every message costs the webview a script evaluation, and a repaint per
/// token would take CPU from the model. Text is held per pass (a server
/// writes several at once); other events pass at once, after the text held
/// before them.
#[derive(Default)]
struct TokenBatcher {
    held: Vec<JobUpdate>,
    last: Option<Instant>,
}

impl TokenBatcher {
    const EVERY: Duration = Duration::from_millis(100);

    fn push(&mut self, u: &JobUpdate) -> Vec<JobUpdate> {
        let JobEvent::Token {
            job,
            pass,
            text,
            tokens,
            ..
        } = &u.event
        else {
            let mut out = self.flush();
            out.push(u.clone());
            return out;
        };
        let same = self.held.iter_mut().find(|h| {
            matches!(&h.event, JobEvent::Token { job: hj, pass: hp, .. } if hj == job && hp == pass)
        });
        match same {
            Some(JobUpdate {
                event:
                    JobEvent::Token {
                        text: ht,
                        tokens: hn,
                        ..
                    },
                progress,
            }) => {
                ht.push_str(text);
                *hn += tokens;
                *progress = u.progress.clone();
            }
            _ => self.held.push(u.clone()),
        }
        if self.last.is_none_or(|t| t.elapsed() >= Self::EVERY) {
            return self.flush();
        }
        Vec::new()
    }

    /// The held text, once it has waited its interval.
    fn due(&mut self) -> Vec<JobUpdate> {
        if self.last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return Vec::new();
        }
        self.flush()
    }

    fn flush(&mut self) -> Vec<JobUpdate> {
        if !self.held.is_empty() {
            self.last = Some(Instant::now());
        }
        std::mem::take(&mut self.held)
    }
}

/// Past jobs, newest first.
#[tauri::command]
pub async fn list_jobs(state: State<'_, JobState>) -> Result<Vec<JobSummary>, CommandError> {
    let core = state.core()?;
    off_ui_thread(move || open_store(&core)?.list_jobs().map_err(engine_err)).await?
}

/// A stored job as the window shows it: the source blocks, the result when
/// done, the outputs of the passes finished so far, and where it stands.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub job: JobRecord,
    /// A worker is running it now.
    pub running: bool,
    /// Its place in the queue: "waiting", "paused" or "running"; `None`
    /// when it is not queued.
    pub queued: Option<reportlens::store::QueueState>,
    /// Its progress, when it ran in this session.
    pub progress: Option<JobProgress>,
    pub blocks: Vec<Block>,
    pub pages: Option<u32>,
    pub result: Option<JobResult>,
    pub passes_done: Vec<String>,
}

pub fn job_view(runner: &QueueRunner, id: JobId) -> Result<JobView, CommandError> {
    let store = open_store(runner.core())?;
    let job = store.get_job(id).map_err(engine_err)?;
    let doc = store
        .get_document(&job.document_sha256)
        .map_err(engine_err)?;
    let result = if job.status == JobStatus::Done {
        Some(tasks::load_result(&store, id).map_err(engine_err)?)
    } else {
        None
    };
    let passes_done = store
        .finished_chunks(id)
        .map_err(engine_err)?
        .into_values()
        .map(|c| c.output)
        .collect();
    Ok(JobView {
        running: runner.is_running(id),
        queued: store.queue_state(id).map_err(engine_err)?,
        progress: runner.progress(id),
        job,
        blocks: doc.blocks,
        pages: doc.pages,
        result,
        passes_done,
    })
}

/// Reopen a job from the history (or the queue) without recomputing anything.
#[tauri::command]
pub async fn open_job(state: State<'_, JobState>, job: i64) -> Result<JobView, CommandError> {
    let runner = state.runner()?;
    off_ui_thread(move || job_view(&runner, JobId(job))).await?
}

/// Delete a job and its passes; a running job must be cancelled first.
#[tauri::command]
pub async fn delete_job(state: State<'_, JobState>, job: i64) -> Result<(), CommandError> {
    let runner = state.runner()?;
    if runner.is_running(JobId(job)) {
        return Err(CommandError::Busy(job));
    }
    off_ui_thread(move || {
        open_store(runner.core())?
            .delete_job(JobId(job))
            .map_err(engine_err)
    })
    .await?
}

/// Write a finished job to `path` as `format` (markdown, bilingual-markdown,
/// docx, bilingual-docx, key-figures-csv, key-figures-xlsx).
pub fn export_job_to(
    core: &Core,
    id: JobId,
    format: &str,
    path: &Path,
) -> Result<PathBuf, CommandError> {
    let format: ExportFormat = format.parse().map_err(CommandError::Engine)?;
    let store = open_store(core)?;
    let result = tasks::load_result(&store, id).map_err(engine_err)?;
    tasks::export_result(&result, format, path).map_err(engine_err)
}

#[tauri::command]
pub async fn export_job(
    state: State<'_, JobState>,
    job: i64,
    format: String,
    path: String,
) -> Result<PathBuf, CommandError> {
    let core = state.core()?;
    off_ui_thread(move || export_job_to(&core, JobId(job), &format, Path::new(&path))).await?
}

/// Save the user's edit of one translated block; the figures are re-checked.
#[tauri::command]
pub async fn edit_translation(
    state: State<'_, JobState>,
    job: i64,
    index: usize,
    text: String,
) -> Result<JobResult, CommandError> {
    let core = state.core()?;
    off_ui_thread(move || {
        let store = open_store(&core)?;
        tasks::edit_translation(&store, JobId(job), index, &text).map_err(engine_err)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(event: JobEvent) -> JobUpdate {
        let mut progress = JobProgress::new(event.job());
        progress.update(&event);
        JobUpdate { event, progress }
    }

    fn token(pass: usize, text: &str) -> JobUpdate {
        update(JobEvent::Token {
            job: JobId(1),
            pass,
            text: text.into(),
            tokens: 1,
        })
    }

    fn texts(updates: &[JobUpdate]) -> Vec<String> {
        updates
            .iter()
            .map(|u| match &u.event {
                JobEvent::Token { text, .. } => text.clone(),
                other => format!("<{}>", serde_json::to_value(other).unwrap()["event"]),
            })
            .collect()
    }

    #[test]
    fn tokens_are_batched_and_nothing_is_lost_or_reordered() {
        let mut b = TokenBatcher::default();
        let mut out = Vec::new();
        // The first token goes at once; the next ones are held (< 100 ms).
        out.extend(b.push(&token(0, "Rev")));
        out.extend(b.push(&token(0, "enue ")));
        out.extend(b.push(&token(0, "rose")));
        assert_eq!(texts(&out), vec!["Rev"]);
        // Another event flushes the held text first.
        out.extend(b.push(&update(JobEvent::Cancelled {
            job: JobId(1),
            passes_done: 0,
        })));
        assert_eq!(texts(&out), vec!["Rev", "enue rose", "<\"cancelled\">"]);
        // Batched text says how many tokens it holds, so counts stay exact.
        let counts: Vec<usize> = out
            .iter()
            .filter_map(|u| match &u.event {
                JobEvent::Token { tokens, .. } => Some(*tokens),
                _ => None,
            })
            .collect();
        assert_eq!(counts, vec![1, 2]);
        assert!(b.flush().is_empty());
        // Passes written at once are held apart, never merged, each in order.
        let mut b = TokenBatcher::default();
        let mut out = b.push(&token(0, "a"));
        out.extend(b.push(&token(0, "b")));
        out.extend(b.push(&token(1, "c")));
        out.extend(b.push(&token(0, "d")));
        out.extend(b.push(&token(1, "e")));
        out.extend(b.flush());
        assert_eq!(texts(&out), vec!["a", "bd", "ce"]);
    }

    #[test]
    fn held_text_is_due_after_its_interval_without_another_event() {
        let mut b = TokenBatcher::default();
        assert!(b.due().is_empty(), "nothing held, nothing due");
        let mut out = b.push(&token(0, "Net "));
        out.extend(b.push(&token(0, "income")));
        assert!(b.due().is_empty(), "not yet: the interval has not passed");
        std::thread::sleep(TokenBatcher::EVERY);
        out.extend(b.due());
        assert_eq!(texts(&out), vec!["Net ", "income"]);
        assert!(b.due().is_empty());
    }
}
