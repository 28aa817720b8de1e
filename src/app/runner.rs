//! The queue running behind a long-lived front end (the window): one thread
//! that runs queued jobs whenever some wait, woken when jobs are queued or
//! resumed, sending every event with the job's progress to the front end's
//! sink. It keeps each running job's progress, so the queue's view (and its
//! time left) is the engine's, not the page's arithmetic.
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use serde::Serialize;

use crate::store::JobId;
use crate::tasks::{JobEvent, JobProgress};

use super::{AppError, Core, QueueControl, QueueView};

/// How long closing waits for the jobs in flight to stop (a token is
/// milliseconds; loading a model is not interruptible).
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// One event of a job and the job's progress after it.
#[derive(Debug, Clone, Serialize)]
pub struct JobUpdate {
    pub event: JobEvent,
    pub progress: JobProgress,
}

/// Where updates go (a window's channel); replaced when the page reloads.
pub type UpdateSink = Box<dyn Fn(&JobUpdate) + Send + Sync>;

#[derive(Default)]
struct Wake {
    /// Jobs may wait: run the queue (again).
    pending: bool,
    closing: bool,
}

struct Shared {
    core: Arc<Core>,
    control: QueueControl,
    wake: Mutex<Wake>,
    bell: Condvar,
    live: Mutex<HashMap<JobId, JobProgress>>,
    sink: Mutex<Option<UpdateSink>>,
}

/// The background queue of a front end that stays open.
pub struct QueueRunner {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for QueueRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueRunner").finish_non_exhaustive()
    }
}

impl QueueRunner {
    /// A runner over `core`; it starts on the first `wake`.
    pub fn new(core: Arc<Core>) -> QueueRunner {
        QueueRunner {
            shared: Arc::new(Shared {
                core,
                control: QueueControl::default(),
                wake: Mutex::new(Wake::default()),
                bell: Condvar::new(),
                live: Mutex::new(HashMap::new()),
                sink: Mutex::new(None),
            }),
            thread: Mutex::new(None),
        }
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.shared.core
    }

    pub fn control(&self) -> &QueueControl {
        &self.shared.control
    }

    /// Sends every update from now on to `sink` (the previous one is dropped).
    pub fn set_sink(&self, sink: UpdateSink) {
        *lock(&self.shared.sink) = Some(sink);
    }

    /// Reports `event` (a job queued by a command, say) like the runner's own.
    pub fn report(&self, event: &JobEvent) {
        self.shared.report(event);
    }

    /// Runs the queue now if it is idle (jobs were queued or resumed).
    pub fn wake(&self) {
        {
            let mut w = lock(&self.shared.wake);
            if w.closing {
                return;
            }
            w.pending = true;
        }
        self.shared.bell.notify_all();
        let mut thread = lock(&self.thread);
        // None yet, or it died (a panic outside any job): start one.
        if thread.as_ref().is_none_or(|t| t.is_finished()) {
            let shared = self.shared.clone();
            *thread = std::thread::Builder::new()
                .name("reportlens-queue".into())
                .spawn(move || shared.serve())
                .ok();
        }
    }

    /// The queue in order, each job with its progress and time left.
    pub fn view(&self) -> Result<QueueView, AppError> {
        let live = lock(&self.shared.live).clone();
        self.shared.core.queue_view(&live)
    }

    /// The progress of a job running (or just ended) in this session.
    pub fn progress(&self, job: JobId) -> Option<JobProgress> {
        lock(&self.shared.live).get(&job).cloned()
    }

    /// Whether `job` is being run now.
    pub fn is_running(&self, job: JobId) -> bool {
        self.shared.control.is_running(job)
    }

    /// The window is closing: jobs in flight stop at their next token and
    /// keep their places (they resume at the next start). Waits for them up
    /// to `STOP_WAIT`: a model still loading cannot be interrupted, and the
    /// window must not hang on it (its job is recovered at the next start).
    pub fn stop(&self) {
        lock(&self.shared.wake).closing = true;
        self.shared.control.stop_all();
        self.shared.bell.notify_all();
        if let Some(t) = lock(&self.thread).take() {
            let (done, ended) = std::sync::mpsc::channel();
            let _ = std::thread::Builder::new()
                .name("reportlens-queue-stop".into())
                .spawn(move || {
                    let _ = t.join();
                    let _ = done.send(());
                });
            let _ = ended.recv_timeout(STOP_WAIT);
        }
    }
}

impl Shared {
    fn serve(&self) {
        loop {
            {
                let mut w = lock(&self.wake);
                while !w.pending && !w.closing {
                    w = self.bell.wait(w).unwrap_or_else(|e| e.into_inner());
                }
                if w.closing {
                    return;
                }
                w.pending = false;
            }
            // Settings are read per round: a device or server chosen in
            // Settings applies from the next job on.
            let round = self.core.engine_settings().and_then(|(engine, parallel)| {
                self.core
                    .run_queue(&engine, parallel, &self.control, &|e| self.report(e))
            });
            if let Err(e) = round {
                // Each job's own failure is stored and reported as its event;
                // this is the queue itself failing (the store unreadable).
                eprintln!("reportlens: the queue stopped: {e}");
            }
        }
    }

    fn report(&self, event: &JobEvent) {
        let job = event.job();
        let progress = {
            let mut live = lock(&self.live);
            let p = live.entry(job).or_insert_with(|| JobProgress::new(job));
            p.update(event);
            p.clone()
        };
        if let Some(sink) = lock(&self.sink).as_ref() {
            sink(&JobUpdate {
                event: event.clone(),
                progress,
            });
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
