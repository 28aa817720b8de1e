//! The application core both front ends share (the CLI and the desktop
//! shell): paths, settings and model resolution, the store, the loaded
//! engine, running jobs on the chosen engine, the persisted queue and
//! batches. It knows no window and no terminal: it reports through
//! `JobEvent`s and returns typed errors; the front ends map arguments to it.
mod batch;
mod engines;
mod queue;
mod runner;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::model::device::DeviceChoice;
use crate::model::KvType;
use crate::remote::{RemoteError, Server, ServerConfig};
use crate::settings::{ModelSource, Settings, SettingsError};
use crate::store::{JobId, Store, StoreError};
use crate::tasks::{self, JobEvent, JobOutcome, ServerEngine, TaskError};

pub use batch::{
    find_documents, BatchEvent, BatchFile, BatchOptions, BatchReport, FileStatus, OutputFormat,
};
pub use engines::EngineCache;
pub use queue::{QueueControl, QueueItem, QueueView};
pub use runner::{JobUpdate, QueueRunner, UpdateSink};

/// Where ReportLens keeps its data and models on this machine (one place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The job database and settings.
    pub data: PathBuf,
    /// Downloaded and converted models.
    pub models: PathBuf,
}

impl Paths {
    /// `$REPORTLENS_DATA` / `$REPORTLENS_MODELS`, else the platform folders.
    pub fn from_env() -> Result<Paths, AppError> {
        Ok(Paths {
            data: crate::store::data_dir()?,
            models: crate::paths::models_dir(),
        })
    }

    pub fn database(&self) -> PathBuf {
        self.data.join(crate::store::DB_FILE)
    }
}

/// What runs a job's passes: a job made for a server runs on that server
/// (`server` must name it), any other job on the model here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EngineSettings {
    pub device: DeviceChoice,
    pub kv: KvType,
    pub server: Option<ServerConfig>,
    /// On a server: a job's answers in flight at once (its translation
    /// passes); the engine here writes one at a time.
    pub answers_at_once: usize,
}

impl EngineSettings {
    /// How many jobs run at once when `parallel` are asked for: a server
    /// batches them; the engine here runs one (a second would only share
    /// its cores and memory).
    pub fn jobs_at_once(&self, parallel: usize) -> usize {
        if self.server.is_some() {
            parallel.max(1)
        } else {
            1
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("no model given and the test model is not at {expected}; choose one in Settings, pass --model, set {env} or run models/fetch-test-models")]
    NoModel {
        expected: PathBuf,
        env: &'static str,
    },
    #[error("job {job} runs on the server {url} ({model}); give its settings (Settings, or --engine openai --server-url {url} --server-model {model}) to run it")]
    NeedsServer {
        job: JobId,
        url: String,
        model: String,
    },
    #[error(
        "job {0} is being run by another ReportLens window or process; pause or cancel it there"
    )]
    RunningElsewhere(JobId),
    #[error("internal error (please report it): {0}")]
    Internal(String),
    #[error("{path}: {detail}")]
    Files { path: PathBuf, detail: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The application core. Cheap to share (`Arc`): every method opens what it
/// needs; the loaded engine is kept between jobs.
#[derive(Debug)]
pub struct Core {
    paths: Paths,
    engines: EngineCache,
}

impl Core {
    pub fn new(paths: Paths) -> Core {
        Core {
            paths,
            engines: EngineCache::default(),
        }
    }

    /// The core over this machine's folders (environment overrides included).
    pub fn from_env() -> Result<Core, AppError> {
        Ok(Core::new(Paths::from_env()?))
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The user's settings (defaults when none were saved).
    pub fn settings(&self) -> Result<Settings, AppError> {
        Ok(Settings::load(&self.paths.data)?)
    }

    pub fn store(&self) -> Result<Store, AppError> {
        Ok(Store::open(&self.paths.database())?)
    }

    /// The engine and how many jobs at once, as chosen in Settings: the
    /// server there (with its key), else the model here on its device.
    pub fn engine_settings(&self) -> Result<(EngineSettings, usize), AppError> {
        let s = self.settings()?;
        let parallel = s.server.as_ref().map_or(1, |srv| srv.parallel.max(1));
        let engine = EngineSettings {
            device: s.device,
            kv: s.kv_cache,
            server: s.server_config(&self.paths.data),
            answers_at_once: parallel,
        };
        Ok((engine, parallel))
    }

    /// The model every front end runs (`Settings::resolve_model`'s rule:
    /// given, `$REPORTLENS_MODEL`, Settings, the test model).
    pub fn resolve_model(&self, given: Option<&Path>) -> Result<(PathBuf, ModelSource), AppError> {
        self.settings()?
            .resolve_model(given)
            .ok_or_else(|| AppError::NoModel {
                expected: crate::paths::test_model_path(),
                env: crate::settings::MODEL_ENV,
            })
    }

    /// Runs (or resumes) job `id` on `engine`: a local model is loaded (or
    /// reused) first, a server is connected first; every step is an event.
    /// A job that cannot run is stored as failed with its reason (and a
    /// `Failed` event); its finished passes stay for a resume.
    pub fn run_job(
        &self,
        id: JobId,
        engine: &EngineSettings,
        cancel: Arc<AtomicBool>,
        on_event: &mut dyn FnMut(&JobEvent),
    ) -> Result<JobOutcome, AppError> {
        let mut store = self.store()?;
        let job = store.get_job(id)?;
        let settings = tasks::job_settings(&job)?;
        let model_path = PathBuf::from(&job.model_path);
        let fail = |store: &Store, e: AppError, on_event: &mut dyn FnMut(&JobEvent)| {
            let error = e.to_string();
            let _ = store.fail_job(id, &error);
            on_event(&JobEvent::Failed { job: id, error });
            e
        };
        match &settings.server {
            Some(r) => {
                let cfg = match &engine.server {
                    Some(cfg) if cfg.root() == r.url && cfg.model == r.model => cfg.clone(),
                    _ => {
                        let e = AppError::NeedsServer {
                            job: id,
                            url: r.url.clone(),
                            model: r.model.clone(),
                        };
                        return Err(fail(&store, e, on_event));
                    }
                };
                let local = model_path.exists().then_some(model_path.as_path());
                let connected = Server::connect(cfg)
                    .map_err(AppError::from)
                    .and_then(|s| Ok(ServerEngine::new(s, local, settings.context)?))
                    .map(|e| e.with_answers_at_once(engine.answers_at_once));
                let mut server = match connected {
                    Ok(s) => s,
                    Err(e) => return Err(fail(&store, e, on_event)),
                };
                on_event(&JobEvent::ModelLoaded {
                    job: id,
                    device: tasks::JobEngine::device(&server),
                });
                Ok(tasks::run_job(
                    &mut store,
                    &mut server,
                    id,
                    Some(cancel),
                    on_event,
                )?)
            }
            None => {
                let tokens = settings.context.or_else(|| {
                    job.plan
                        .clone()
                        .and_then(|p| serde_json::from_value::<crate::plan::Plan>(p).ok())
                        .map(|p| p.max_pass_tokens())
                });
                let loaded =
                    self.engines
                        .get(&model_path, engine.device, engine.kv, tokens, id, on_event);
                let mut slot = match loaded {
                    Ok(s) => s,
                    Err(e) => return Err(fail(&store, e, on_event)),
                };
                let engine = slot.as_mut().expect("loaded by get");
                Ok(tasks::run_job(
                    &mut store,
                    engine,
                    id,
                    Some(cancel),
                    on_event,
                )?)
            }
        }
    }
}
