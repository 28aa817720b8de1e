//! Settings commands: read and save the user's settings (kept by the engine
//! in the data folder) and show the model catalogue against this machine.
use std::path::PathBuf;

use reportlens::catalog::{self, CatalogEntry};
use reportlens::settings::Settings;
use serde::Serialize;

use crate::commands::{engine_err, off_ui_thread, CommandError};

/// The settings from the data folder (defaults when none were saved).
pub fn load_settings() -> Result<Settings, CommandError> {
    let dir = reportlens::store::data_dir().map_err(engine_err)?;
    Settings::load(&dir).map_err(engine_err)
}

/// What the settings screen shows.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    pub settings: Settings,
    /// The known models, whether each is here and fits this machine.
    pub catalog: Vec<CatalogEntry>,
    /// Where downloaded models are looked for.
    pub models_dir: PathBuf,
    /// Set when `REPORTLENS_MODEL` overrides the chosen model for this run.
    pub env_model: Option<PathBuf>,
    /// Memory available now, in bytes.
    pub available_memory: Option<u64>,
}

pub fn settings_view() -> Result<SettingsView, CommandError> {
    let models_dir = reportlens::paths::models_dir();
    let available_memory = reportlens::model::device::available_memory();
    Ok(SettingsView {
        settings: load_settings()?,
        catalog: catalog::entries(&models_dir, available_memory),
        models_dir,
        env_model: std::env::var_os(crate::commands::MODEL_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        available_memory,
    })
}

#[tauri::command]
pub async fn get_settings() -> Result<SettingsView, CommandError> {
    off_ui_thread(settings_view).await?
}

/// Validate and persist; a bad value is refused with the reason and nothing
/// is written.
#[tauri::command]
pub async fn save_settings(settings: Settings) -> Result<SettingsView, CommandError> {
    off_ui_thread(move || {
        let dir = reportlens::store::data_dir().map_err(engine_err)?;
        settings.save(&dir).map_err(engine_err)?;
        settings_view()
    })
    .await?
}
