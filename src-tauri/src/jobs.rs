//! Thin commands over the engine's jobs: plan, run (streamed to the window as
//! `job-event` events), cancel, resume, history, export and translation edits.
//! A job runs on its own thread; the loaded model is kept between jobs.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reportlens::export::ExportFormat;
use reportlens::model::{load_engine_fitting, Engine, KvType};
use reportlens::plan::{plan_file_with, Plan, PlanOptions};
use reportlens::settings::DevicePref;
use reportlens::store::{JobId, JobRecord, JobSummary, Store};
use reportlens::tasks::{self, JobEvent, JobRequest, JobResult};
use reportlens::{Block, TaskSpec};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime, State};

use crate::commands::{
    catch, engine_err, off_ui_thread, resolve_model, resolve_model_with, CommandError,
};

/// The event every job message travels on.
pub const JOB_EVENT: &str = "job-event";

/// A model loaded for some settings, kept for the next job.
struct Loaded {
    model: PathBuf,
    device: DevicePref,
    kv_cache: KvType,
    engine: Engine,
}

/// The job running now and how to stop it.
struct Running {
    job: JobId,
    cancel: Arc<AtomicBool>,
}

/// What the shell keeps between commands.
#[derive(Default)]
pub struct JobState {
    engine: Mutex<Option<Loaded>>,
    running: Mutex<Option<Running>>,
}

impl JobState {
    fn running_job(&self) -> Option<JobId> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|r| r.job)
    }
}

fn open_store() -> Result<Store, CommandError> {
    Store::open_default().map_err(engine_err)
}

fn device_pref() -> DevicePref {
    crate::settings::load_settings()
        .map(|s| s.device)
        .unwrap_or_default()
}

fn kv_cache_pref() -> KvType {
    crate::settings::load_settings()
        .map(|s| s.kv_cache)
        .unwrap_or_default()
}

/// The plan a job for `path` and `task` would run, with the time it should
/// take at the speed measured on this machine.
pub fn plan_task_with(path: &Path, model: &Path, task: TaskSpec) -> Result<Plan, CommandError> {
    let opts = PlanOptions {
        task,
        ..Default::default()
    };
    let (_, _, plan) = plan_file_with(path, model, Some(&opts)).map_err(engine_err)?;
    Ok(plan.expect("a plan was asked for").with_speed(
        open_store()
            .ok()
            .and_then(|s| tasks::measured_speed(&s, model)),
    ))
}

#[tauri::command]
pub async fn plan_task(path: String, task: TaskSpec) -> Result<Plan, CommandError> {
    let (model, _) = resolve_model()?;
    off_ui_thread(move || plan_task_with(Path::new(&path), &model, task)).await?
}

/// Store the document and create (or find the unfinished) job, then run it.
#[tauri::command]
pub async fn start_job<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, JobState>,
    path: String,
    task: TaskSpec,
) -> Result<JobId, CommandError> {
    if let Some(j) = state.running_job() {
        return Err(CommandError::Busy(j.0));
    }
    let settings = crate::settings::load_settings()?;
    let (model, _) = resolve_model_with(&settings)?;
    let req = JobRequest {
        file: PathBuf::from(path),
        model: model.clone(),
        task,
        strategy: None,
        context: None,
        glossary: settings.glossary,
        server: None,
    };
    let id = off_ui_thread(move || -> Result<JobId, CommandError> {
        let mut store = open_store()?;
        tasks::submit(&mut store, &req).map_err(engine_err)
    })
    .await??;
    spawn_run(app, id, model)?;
    Ok(id)
}

/// Continue an unfinished job from its last finished pass.
#[tauri::command]
pub async fn resume_job<R: Runtime>(app: AppHandle<R>, job: i64) -> Result<JobId, CommandError> {
    // `spawn_run` refuses while another job runs.
    let id = JobId(job);
    let record = off_ui_thread(move || open_store()?.get_job(id).map_err(engine_err)).await??;
    spawn_run(app, id, PathBuf::from(&record.model_path))?;
    Ok(id)
}

/// Ask the running job to stop; it keeps its finished passes.
#[tauri::command]
pub fn cancel_job(state: State<'_, JobState>, job: i64) -> bool {
    let running = state.running.lock().unwrap_or_else(|e| e.into_inner());
    match running.as_ref() {
        Some(r) if r.job.0 == job => {
            r.cancel.store(true, Ordering::SeqCst);
            true
        }
        _ => false,
    }
}

fn spawn_run<R: Runtime>(app: AppHandle<R>, id: JobId, model: PathBuf) -> Result<(), CommandError> {
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let state = app.state::<JobState>();
        let mut running = state.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = running.as_ref() {
            return Err(CommandError::Busy(r.job.0));
        }
        *running = Some(Running {
            job: id,
            cancel: cancel.clone(),
        });
    }
    let worker_app = app.clone();
    std::thread::Builder::new()
        .name(format!("reportlens-job-{id}"))
        .spawn(move || {
            let app = worker_app;
            let outcome = catch(|| run_on_this_thread(&app, id, &model, cancel));
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            *app.state::<JobState>()
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = None;
            if let Some(error) = failure {
                if let Ok(store) = open_store() {
                    let _ = store.fail_job(id, &error);
                }
                let _ = app.emit(JOB_EVENT, JobEvent::Failed { job: id, error });
            }
            let _ = app.emit(JOB_EVENT, serde_json::json!({"event": "idle", "job": id}));
        })
        .map_err(|e| CommandError::Crashed(e.to_string()))?;
    Ok(())
}

/// Load (or reuse) the model and run the job, forwarding every event.
fn run_on_this_thread<R: Runtime>(
    app: &AppHandle<R>,
    id: JobId,
    model: &Path,
    cancel: Arc<AtomicBool>,
) -> Result<(), CommandError> {
    let state = app.state::<JobState>();
    let (device, kv_cache) = (device_pref(), kv_cache_pref());
    let mut slot = state.engine.lock().unwrap_or_else(|e| e.into_inner());
    if !slot
        .as_ref()
        .is_some_and(|l| l.model == model && l.device == device && l.kv_cache == kv_cache)
    {
        *slot = None; // free the old model before loading the new one
        let _ = app.emit(
            JOB_EVENT,
            serde_json::json!({"event": "loading-model", "job": id, "model": model}),
        );
        // The memory check budgets the job's longest pass where its plan is
        // stored already (a resumed job); a longer run is checked as it starts.
        let tokens = open_store()?
            .get_job(id)
            .ok()
            .and_then(|j| j.plan)
            .and_then(|p| serde_json::from_value::<Plan>(p).ok())
            .map(|p| p.max_pass_tokens());
        let engine = load_engine_fitting(model, device, kv_cache, tokens).map_err(engine_err)?;
        let _ = app.emit(
            JOB_EVENT,
            serde_json::json!({"event": "model-loaded", "job": id, "device": engine.device.to_string()}),
        );
        *slot = Some(Loaded {
            model: model.to_path_buf(),
            device,
            kv_cache,
            engine,
        });
    }
    let engine = &mut slot.as_mut().expect("loaded above").engine;
    let mut store = open_store()?;
    // Events are sent while the batcher is locked, so the ticker's late text
    // and the runner's events reach the window in the order they happened.
    let tokens = Mutex::new(TokenBatcher::default());
    let finished = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Text held back for batching goes out within its interval even when
        // the model writes nothing more for a while (a slow step, a pause).
        s.spawn(|| {
            while !finished.load(Ordering::Acquire) {
                std::thread::sleep(TokenBatcher::EVERY / 2);
                let mut t = tokens.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(out) = t.due() {
                    let _ = app.emit(JOB_EVENT, out);
                }
            }
        });
        // The ticker stops however this ends, a panic in the runner included
        // (the caller turns that into a failed job; it must not hang here).
        let _stop = StopOnDrop(&finished);
        // Done, cancelled or failed: the runner has stored the outcome and sent
        // its event, so there is nothing left to report here.
        let _ = tasks::run_job(&mut store, engine, id, Some(cancel), &mut |e| {
            let mut t = tokens.lock().unwrap_or_else(|e| e.into_inner());
            for out in t.push(e) {
                let _ = app.emit(JOB_EVENT, out);
            }
        });
        let mut t = tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(out) = t.flush() {
            let _ = app.emit(JOB_EVENT, out);
        }
    });
    Ok(())
}

/// Sets its flag when dropped, on return or unwinding.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Streamed text reaches the window in pieces of at most ~10 per second:
/// every event costs the webview a script evaluation, and a repaint per token
/// would take CPU from the model. Other events pass at once, after the text
/// held before them.
#[derive(Default)]
struct TokenBatcher {
    held: Option<HeldText>,
    last: Option<Instant>,
}

/// Text of one pass not yet sent, and how many tokens it holds.
struct HeldText {
    job: JobId,
    pass: usize,
    text: String,
    tokens: usize,
}

impl TokenBatcher {
    const EVERY: Duration = Duration::from_millis(100);

    fn push(&mut self, e: &JobEvent) -> Vec<JobEvent> {
        match e {
            JobEvent::Token {
                job,
                pass,
                text,
                tokens,
            } => {
                match &mut self.held {
                    Some(h) if h.job == *job && h.pass == *pass => {
                        h.text.push_str(text);
                        h.tokens += tokens;
                    }
                    _ => {
                        let before = self.flush();
                        self.held = Some(HeldText {
                            job: *job,
                            pass: *pass,
                            text: text.clone(),
                            tokens: *tokens,
                        });
                        if let Some(b) = before {
                            return vec![b];
                        }
                    }
                }
                if self.last.is_none_or(|t| t.elapsed() >= Self::EVERY) {
                    return self.flush().into_iter().collect();
                }
                Vec::new()
            }
            other => {
                let mut out: Vec<JobEvent> = self.flush().into_iter().collect();
                out.push(other.clone());
                out
            }
        }
    }

    /// The held text, once it has waited its interval.
    fn due(&mut self) -> Option<JobEvent> {
        if self.last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return None;
        }
        self.flush()
    }

    fn flush(&mut self) -> Option<JobEvent> {
        let h = self.held.take()?;
        self.last = Some(Instant::now());
        Some(JobEvent::Token {
            job: h.job,
            pass: h.pass,
            text: h.text,
            tokens: h.tokens,
        })
    }
}

/// Past jobs, newest first.
#[tauri::command]
pub async fn list_jobs() -> Result<Vec<JobSummary>, CommandError> {
    off_ui_thread(|| open_store()?.list_jobs().map_err(engine_err)).await?
}

/// A stored job as the window shows it: the source blocks, the result when
/// done, and the outputs of the passes finished so far.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub job: JobRecord,
    pub running: bool,
    pub blocks: Vec<Block>,
    pub pages: Option<u32>,
    pub result: Option<JobResult>,
    pub passes_done: Vec<String>,
}

pub fn job_view(id: JobId, running: bool) -> Result<JobView, CommandError> {
    let store = open_store()?;
    let job = store.get_job(id).map_err(engine_err)?;
    let doc = store
        .get_document(&job.document_sha256)
        .map_err(engine_err)?;
    let result = if job.status == reportlens::store::JobStatus::Done {
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
        job,
        running,
        blocks: doc.blocks,
        pages: doc.pages,
        result,
        passes_done,
    })
}

/// Reopen a job from the history without recomputing anything.
#[tauri::command]
pub async fn open_job(state: State<'_, JobState>, job: i64) -> Result<JobView, CommandError> {
    let running = state.running_job() == Some(JobId(job));
    off_ui_thread(move || job_view(JobId(job), running)).await?
}

#[tauri::command]
pub async fn delete_job(state: State<'_, JobState>, job: i64) -> Result<(), CommandError> {
    if state.running_job() == Some(JobId(job)) {
        return Err(CommandError::Busy(job));
    }
    off_ui_thread(move || open_store()?.delete_job(JobId(job)).map_err(engine_err)).await?
}

/// Write a finished job to `path` as `format` (markdown, bilingual-markdown,
/// docx, bilingual-docx).
pub fn export_job_to(id: JobId, format: &str, path: &Path) -> Result<PathBuf, CommandError> {
    let format: ExportFormat = format.parse().map_err(CommandError::Engine)?;
    let store = open_store()?;
    let result = tasks::load_result(&store, id).map_err(engine_err)?;
    tasks::export_result(&result, format, path).map_err(engine_err)
}

#[tauri::command]
pub async fn export_job(job: i64, format: String, path: String) -> Result<PathBuf, CommandError> {
    off_ui_thread(move || export_job_to(JobId(job), &format, Path::new(&path))).await?
}

/// Save the user's edit of one translated block; the figures are re-checked.
#[tauri::command]
pub async fn edit_translation(
    job: i64,
    index: usize,
    text: String,
) -> Result<JobResult, CommandError> {
    off_ui_thread(move || {
        let store = open_store()?;
        tasks::edit_translation(&store, JobId(job), index, &text).map_err(engine_err)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> JobEvent {
        JobEvent::Token {
            job: JobId(1),
            pass: 0,
            text: text.into(),
            tokens: 1,
        }
    }

    fn texts(events: &[JobEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
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
        out.extend(b.push(&token("Rev")));
        out.extend(b.push(&token("enue ")));
        out.extend(b.push(&token("rose")));
        assert_eq!(texts(&out), vec!["Rev"]);
        // Another event flushes the held text first.
        out.extend(b.push(&JobEvent::Cancelled {
            job: JobId(1),
            passes_done: 0,
        }));
        assert_eq!(texts(&out), vec!["Rev", "enue rose", "<\"cancelled\">"]);
        // Batched text says how many tokens it holds, so counts stay exact.
        let counts: Vec<usize> = out
            .iter()
            .filter_map(|e| match e {
                JobEvent::Token { tokens, .. } => Some(*tokens),
                _ => None,
            })
            .collect();
        assert_eq!(counts, vec![1, 2]);
        assert!(b.flush().is_none());
        // Held text of one pass never merges into the next pass.
        let mut b = TokenBatcher::default();
        let mut out = b.push(&token("a"));
        out.extend(b.push(&token("b")));
        out.extend(b.push(&JobEvent::Token {
            job: JobId(1),
            pass: 1,
            text: "c".into(),
            tokens: 1,
        }));
        out.extend(b.flush());
        assert_eq!(texts(&out), vec!["a", "b", "c"]);
    }

    #[test]
    fn held_text_is_due_after_its_interval_without_another_event() {
        let mut b = TokenBatcher::default();
        assert!(b.due().is_none(), "nothing held, nothing due");
        let mut out = b.push(&token("Net "));
        out.extend(b.push(&token("income")));
        assert!(b.due().is_none(), "not yet: the interval has not passed");
        std::thread::sleep(TokenBatcher::EVERY);
        out.extend(b.due());
        assert_eq!(texts(&out), vec!["Net ", "income"]);
        assert!(b.due().is_none());
    }
}
