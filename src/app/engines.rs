//! The loaded local engine, kept between jobs: loading a model takes seconds
//! (minutes for a large one), so the next job with the same model, device
//! and KV cache reuses it; any other frees it before loading the new one.
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::model::device::DeviceChoice;
use crate::model::{load_engine_fitting, Engine, KvType};
use crate::store::JobId;
use crate::tasks::JobEvent;

use super::AppError;

/// One loaded engine and what it was loaded for.
struct Loaded {
    model: PathBuf,
    device: DeviceChoice,
    kv: KvType,
    engine: Engine,
}

#[derive(Default)]
pub struct EngineCache {
    slot: Mutex<Option<Loaded>>,
}

impl std::fmt::Debug for EngineCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("EngineCache")
            .field("model", &slot.as_ref().map(|l| &l.model))
            .finish()
    }
}

/// The engine, held for one job (the lock is the engine's: one job at a time).
pub struct EngineGuard<'a>(MutexGuard<'a, Option<Loaded>>);

impl EngineGuard<'_> {
    pub fn as_mut(&mut self) -> Option<&mut Engine> {
        self.0.as_mut().map(|l| &mut l.engine)
    }
}

impl EngineCache {
    /// The engine for `model` on `device` with `kv`, loaded now if another
    /// (or none) is held; `tokens`: the longest run expected, for the memory
    /// check. Loading is reported as events of job `job`.
    pub(super) fn get(
        &self,
        model: &Path,
        device: DeviceChoice,
        kv: KvType,
        tokens: Option<usize>,
        job: JobId,
        on_event: &mut dyn FnMut(&JobEvent),
    ) -> Result<EngineGuard<'_>, AppError> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        let reusable = slot
            .as_ref()
            .is_some_and(|l| l.model == model && l.device == device && l.kv == kv);
        if !reusable {
            *slot = None; // free the old model before loading the new one
            on_event(&JobEvent::ModelLoading {
                job,
                model: model.to_path_buf(),
            });
            let engine = load_engine_fitting(model, device, kv, tokens)?;
            *slot = Some(Loaded {
                model: model.to_path_buf(),
                device,
                kv,
                engine,
            });
        }
        let device_name = slot.as_ref().map(|l| l.engine.device.to_string());
        on_event(&JobEvent::ModelLoaded {
            job,
            device: device_name.unwrap_or_default(),
        });
        Ok(EngineGuard(slot))
    }
}
