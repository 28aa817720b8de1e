//! Model-form commands: how a model directory runs (dense, or converted once
//! into the model cache), with the memory each form needs; choosing one
//! converts it when needed (progress events, cancellable) and remembers it
//! in the settings the CLI shares. Thin over `reportlens::model::forms`.
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reportlens::model::forms::{self, Form, FormOption};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::commands::{engine_err, off_ui_thread, CommandError};
use crate::settings::load_settings;

/// The event a conversion reports its progress on.
pub const CONVERT_EVENT: &str = "convert-event";

/// The conversion running now, to cancel.
#[derive(Default)]
pub struct ConvertState {
    cancel: std::sync::Mutex<Option<Arc<AtomicBool>>>,
}

/// A model directory's forms as the settings screen shows them.
#[derive(Debug, Clone, Serialize)]
pub struct FormsView {
    pub model: PathBuf,
    pub chosen: Option<Form>,
    pub options: Vec<FormOption>,
}

/// The model the user chose (environment override, then settings), before
/// its form is applied: the directory itself.
fn chosen_model(given: Option<String>) -> Result<Option<PathBuf>, CommandError> {
    let given = given.map(PathBuf::from);
    Ok(load_settings()?
        .chosen_model(given.as_deref())
        .map(|(p, _)| p))
}

fn view(model: PathBuf) -> Result<Option<FormsView>, CommandError> {
    let cache = reportlens::paths::models_dir();
    let Some(options) = forms::options(&model, &cache).map_err(engine_err)? else {
        return Ok(None);
    };
    let chosen = load_settings()?.forms.get(&forms::key(&model)).copied();
    Ok(Some(FormsView {
        model,
        chosen,
        options,
    }))
}

/// The forms of `model` (default: the chosen model); `None` for a GGUF,
/// which runs as it is.
#[tauri::command]
pub async fn model_forms(model: Option<String>) -> Result<Option<FormsView>, CommandError> {
    off_ui_thread(move || match chosen_model(model)? {
        Some(m) => view(m),
        None => Ok(None),
    })
    .await?
}

/// Run `model` (default: the chosen model) as `form`: converted into the
/// model cache first when needed, with `convert-event` progress; then
/// remembered. A cancelled conversion leaves no file and changes nothing.
#[tauri::command]
pub async fn use_model_form<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, ConvertState>,
    model: Option<String>,
    form: Form,
) -> Result<Option<FormsView>, CommandError> {
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let mut slot = state.cancel.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Err(CommandError::Converting);
        }
        *slot = Some(cancel.clone());
    }
    let flag = cancel.clone();
    let result = off_ui_thread(move || -> Result<Option<FormsView>, CommandError> {
        let Some(model) = chosen_model(model)? else {
            return Ok(None);
        };
        let cache = reportlens::paths::models_dir();
        forms::prepare(&model, form, &cache, Some(&flag), |p| {
            let _ = app.emit(
                CONVERT_EVENT,
                serde_json::json!({"form": form, "done": p.done, "total": p.total,
                                   "bytes": p.bytes_written}),
            );
        })
        .map_err(engine_err)?;
        let dir = crate::settings::data_dir()?;
        let mut settings = load_settings()?;
        settings.forms.insert(forms::key(&model), form);
        settings.save(&dir).map_err(engine_err)?;
        view(model)
    })
    .await;
    *state.cancel.lock().unwrap_or_else(|e| e.into_inner()) = None;
    result?
}

/// Stop the running conversion; false when none runs.
#[tauri::command]
pub fn cancel_conversion(state: State<'_, ConvertState>) -> bool {
    match state
        .cancel
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        Some(c) => {
            c.store(true, Ordering::SeqCst);
            true
        }
        None => false,
    }
}
