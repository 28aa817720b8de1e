//! Settings commands: read and save the user's settings (kept by the engine
//! in the data folder) and show the model catalogue against this machine.
use std::path::PathBuf;

use reportlens::catalog::{self, CatalogEntry};
use reportlens::settings::Settings;
use serde::Serialize;

use crate::commands::{engine_err, off_ui_thread, CommandError};

/// The data folder (the core's paths: settings, jobs, the server's key).
pub fn data_dir() -> Result<PathBuf, CommandError> {
    Ok(reportlens::app::Paths::from_env().map_err(engine_err)?.data)
}

/// The settings from the data folder (defaults when none were saved).
pub fn load_settings() -> Result<Settings, CommandError> {
    Settings::load(&data_dir()?).map_err(engine_err)
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
    /// Whether an API key for the server is saved (the key itself never
    /// reaches the page).
    pub has_api_key: bool,
    /// Set when `REPORTLENS_API_KEY` gives the key for this run.
    pub env_api_key: bool,
}

pub fn settings_view() -> Result<SettingsView, CommandError> {
    let models_dir = reportlens::paths::models_dir();
    let available_memory = reportlens::model::device::available_memory();
    let dir = data_dir()?;
    Ok(SettingsView {
        has_api_key: dir.join(reportlens::settings::API_KEY_FILE).is_file(),
        env_api_key: std::env::var_os(reportlens::settings::API_KEY_ENV)
            .is_some_and(|v| !v.is_empty()),
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
/// is written. `api_key`: `None` keeps the saved key, `""` forgets it, any
/// other value replaces it (kept apart from the settings, readable by the
/// user only).
#[tauri::command]
pub async fn save_settings(
    settings: Settings,
    api_key: Option<String>,
) -> Result<SettingsView, CommandError> {
    off_ui_thread(move || {
        let dir = data_dir()?;
        if let Some(s) = &settings.server {
            reportlens::remote::ServerConfig {
                url: s.url.clone(),
                model: s.model.clone(),
                api_key: None,
            }
            .validate()
            .map_err(engine_err)?;
        }
        settings.save(&dir).map_err(engine_err)?;
        if let Some(key) = api_key {
            reportlens::settings::save_api_key(&dir, Some(key.as_str()).filter(|k| !k.is_empty()))
                .map_err(engine_err)?;
        }
        settings_view()
    })
    .await?
}
