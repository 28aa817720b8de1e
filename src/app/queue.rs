//! The persisted queue: many reports queued at once, run one after another
//! on the local engine (or several at once on a server), paused, resumed,
//! cancelled, reordered and removed. The order and states live in the store,
//! so a restart or a crash loses nothing; this adds the jobs in flight.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::plan::Plan;
use crate::store::{JobId, JobStatus, QueueEntry, QueueState, Store};
use crate::tasks::{self, JobEvent, JobOutcome, JobProgress, JobRequest};

use super::{AppError, Core, EngineSettings};

/// What a cancelled run means for its place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterStop {
    /// Out of the queue; its finished passes stay (resumable from History).
    Cancel,
    /// Keeps its place, skipped until resumed.
    Pause,
    /// Resumed while it was stopping: waits again in its place.
    Requeue,
}

#[derive(Debug)]
struct InFlight {
    cancel: Arc<AtomicBool>,
    after: AfterStop,
}

/// One queued job as a front end shows it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    #[serde(flatten)]
    pub entry: QueueEntry,
    /// Its progress, while it runs in this session.
    pub progress: Option<JobProgress>,
    /// Time left: the running job's at its measured speed, a waiting job's
    /// from its plan at the speed measured on this machine; `None` before
    /// any speed is known (or for a server job not yet planned).
    pub seconds_left: Option<f64>,
}

/// The queue in order and its time left.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueView {
    pub items: Vec<QueueItem>,
    /// The sum of the times known.
    pub seconds_left: f64,
    /// Jobs whose time is not known yet (not in `seconds_left`).
    pub unknown: usize,
}

/// A waiting job's time left from its stored plan and the speed measured for
/// its model now, less the passes it finished before.
fn planned_seconds_left(store: &Store, id: JobId) -> Result<Option<f64>, AppError> {
    let job = store.get_job(id)?;
    let Some(plan) = job
        .plan
        .and_then(|p| serde_json::from_value::<Plan>(p).ok())
    else {
        return Ok(None);
    };
    let passes = plan.passes.len().max(1) as f64;
    let done = store.finished_chunks(id)?.len() as f64;
    let speed = tasks::speed_of(store, &job.model_id);
    Ok(plan
        .with_speed(speed)
        .estimated_seconds
        .map(|s| s * (1.0 - done / passes).max(0.0)))
}

/// The jobs the queue's workers are running now, and how to stop them.
#[derive(Debug, Default)]
pub struct QueueControl {
    running: Mutex<HashMap<JobId, InFlight>>,
    /// Workers take no new job once set (the window is closing).
    stopping: AtomicBool,
}

impl QueueControl {
    fn stop(&self, job: JobId, after: AfterStop) -> bool {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.get_mut(&job) {
            Some(f) => {
                f.after = after;
                f.cancel.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Whether a worker is running `job` now.
    pub fn is_running(&self, job: JobId) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&job)
    }

    /// Let the jobs in flight finish their pass and take no new ones.
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        for f in running.values() {
            f.cancel.store(true, Ordering::SeqCst);
        }
    }
}

impl Core {
    /// Extracts each file and queues one job per file with `task`; a file
    /// that cannot be read is reported with its reason and queues nothing.
    pub fn queue_files(
        &self,
        files: &[PathBuf],
        template: &JobRequest,
        on_event: &mut dyn FnMut(&JobEvent),
    ) -> Vec<Result<JobId, (PathBuf, AppError)>> {
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            let req = JobRequest {
                file: f.clone(),
                ..template.clone()
            };
            out.push(self.queue_one(&req, on_event).map_err(|e| (f.clone(), e)));
        }
        out
    }

    fn queue_one(
        &self,
        req: &JobRequest,
        on_event: &mut dyn FnMut(&JobEvent),
    ) -> Result<JobId, AppError> {
        let mut store = self.store()?;
        let id = tasks::submit_planned(&mut store, req)?;
        let position = store.enqueue(id)?;
        on_event(&JobEvent::Queued { job: id, position });
        Ok(id)
    }

    /// The queue in order.
    pub fn queue(&self) -> Result<Vec<QueueEntry>, AppError> {
        Ok(self.store()?.queue()?)
    }

    /// The queue in order, each job with its progress (`live`: the jobs run
    /// in this session) and time left, and the whole queue's time left.
    pub fn queue_view(&self, live: &HashMap<JobId, JobProgress>) -> Result<QueueView, AppError> {
        let store = self.store()?;
        let mut view = QueueView::default();
        for entry in store.queue()? {
            let id = entry.job.id;
            // Progress belongs to a running job: a waiting one (paused or not)
            // shows its stored passes, whatever an earlier run left.
            let progress = (entry.state == QueueState::Running)
                .then(|| live.get(&id).filter(|p| p.is_active()).cloned())
                .flatten();
            let seconds_left = match progress.as_ref().and_then(|p| p.eta_seconds) {
                Some(s) => Some(s),
                None => planned_seconds_left(&store, id)?,
            };
            match seconds_left {
                Some(s) => view.seconds_left += s,
                None => view.unknown += 1,
            }
            view.items.push(QueueItem {
                entry,
                progress,
                seconds_left,
            });
        }
        Ok(view)
    }

    /// At start-up: jobs a crashed run had taken wait again in their places.
    pub fn recover_queue(&self) -> Result<usize, AppError> {
        Ok(self.store()?.recover_queue()?)
    }

    /// Runs queued jobs until none waits (or `control.stop_all`), `parallel`
    /// at a time on a server, one at a time on this machine's engine.
    pub fn run_queue(
        &self,
        engine: &EngineSettings,
        parallel: usize,
        control: &QueueControl,
        on_event: &(dyn Fn(&JobEvent) + Sync),
    ) -> Result<(), AppError> {
        let workers = engine.jobs_at_once(parallel);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| s.spawn(|| self.queue_worker(engine, control, on_event)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect::<Result<Vec<()>, AppError>>()
        })?;
        Ok(())
    }

    fn queue_worker(
        &self,
        engine: &EngineSettings,
        control: &QueueControl,
        on_event: &(dyn Fn(&JobEvent) + Sync),
    ) -> Result<(), AppError> {
        let mut store = self.store()?;
        while !control.stopping.load(Ordering::SeqCst) {
            let cancel = Arc::new(AtomicBool::new(false));
            // Claimed and marked in flight under one lock: a pause or cancel
            // sees the job either waiting in the store or running here.
            let id = {
                let mut running = control.running.lock().unwrap_or_else(|e| e.into_inner());
                let Some(id) = store.claim_next()? else {
                    return Ok(());
                };
                running.insert(
                    id,
                    InFlight {
                        cancel: cancel.clone(),
                        after: AfterStop::Cancel,
                    },
                );
                id
            };
            // A panic in one job fails that job, not the queue (nor, in the
            // window, the app): the rest still run.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.run_job(id, engine, cancel, &mut |e| on_event(e))
            }))
            .unwrap_or_else(|p| {
                let e = AppError::Internal(
                    crate::panic_message(&*p).unwrap_or_else(|| "a worker thread panicked".into()),
                );
                let error = e.to_string();
                let _ = store.fail_job(id, &error);
                on_event(&JobEvent::Failed { job: id, error });
                Err(e)
            });
            let after = control
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id)
                .map(|f| f.after);
            match outcome {
                Ok(JobOutcome::Cancelled { .. })
                    if matches!(after, Some(AfterStop::Pause | AfterStop::Requeue))
                        || control.stopping.load(Ordering::SeqCst) =>
                {
                    // Paused, resumed while stopping, or the app is closing:
                    // it keeps its place.
                    let state = if after == Some(AfterStop::Pause) {
                        QueueState::Paused
                    } else {
                        QueueState::Waiting
                    };
                    store.set_queue_state(id, state)?;
                }
                // Done, cancelled or failed (`Core::run_job` stored which and
                // sent its event): out of the queue, in the history.
                _ => store.dequeue(id)?,
            }
        }
        Ok(())
    }

    /// Pauses a job: a running one stops within a token and keeps its
    /// finished passes and its place; a waiting one is skipped until resumed.
    pub fn pause_job(&self, id: JobId, control: &QueueControl) -> Result<(), AppError> {
        if !control.stop(id, AfterStop::Pause)
            && !self.store()?.set_idle_queue_state(id, QueueState::Paused)?
        {
            return Err(AppError::RunningElsewhere(id));
        }
        Ok(())
    }

    /// Lets a paused (or cancelled, failed) job run again in its turn.
    pub fn resume_job(&self, id: JobId, control: &QueueControl) -> Result<(), AppError> {
        // Stopping now (paused or cancelled a moment ago): it waits again.
        if control.stop(id, AfterStop::Requeue) {
            return Ok(());
        }
        let store = self.store()?;
        match store.queue_state(id)? {
            Some(QueueState::Running) => Ok(()),
            Some(_) => Ok(store.set_queue_state(id, QueueState::Waiting)?),
            None => {
                store.enqueue(id)?;
                Ok(())
            }
        }
    }

    /// Cancels a job: a running one stops within a token, a waiting one
    /// leaves the queue; either keeps its finished passes in the history.
    pub fn cancel_job(&self, id: JobId, control: &QueueControl) -> Result<(), AppError> {
        if control.stop(id, AfterStop::Cancel) {
            return Ok(());
        }
        let store = self.store()?;
        if store.queue_state(id)? == Some(QueueState::Running) {
            return Err(AppError::RunningElsewhere(id));
        }
        store.dequeue(id)?;
        if store.get_job(id)?.status != JobStatus::Done {
            store.set_status(id, JobStatus::Cancelled)?;
        }
        Ok(())
    }

    /// Moves a queued job to place `to` (0-based).
    pub fn move_job(&self, id: JobId, to: usize) -> Result<(), AppError> {
        Ok(self.store()?.move_in_queue(id, to)?)
    }
}
