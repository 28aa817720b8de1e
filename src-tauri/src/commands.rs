//! Thin Tauri commands over the engine. Every heavy call runs on a blocking
//! worker thread, never on the UI thread, and every failure (engine error or
//! panic in the worker) comes back to the window as a readable message.
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use reportlens::settings::{DevicePref, Settings};
use reportlens::{BlockKind, FilePlan};
use serde::Serialize;

/// Environment variable that names the model file or directory to use.
pub use reportlens::settings::MODEL_ENV;

/// How many blocks the preview carries; the plan counts all of them.
pub const PREVIEW_BLOCKS: usize = 200;

/// What the window receives when a command fails: a stable code the UI can
/// translate, and the engine's own message (which names the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no model configured: run models/fetch-test-models or choose a GGUF model (set {MODEL_ENV}); {0}")]
    NoModel(String),
    #[error("{0}")]
    Engine(String),
    #[error("internal error while reading the document: {0}")]
    Crashed(String),
    #[error("job {0} is still running: cancel it or wait for it to finish")]
    Busy(i64),
    #[error("a model conversion is already running: cancel it or wait for it to finish")]
    Converting,
}

impl CommandError {
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::NoModel(_) => "no_model",
            CommandError::Engine(_) => "engine",
            CommandError::Crashed(_) => "crashed",
            CommandError::Busy(_) | CommandError::Converting => "busy",
        }
    }
}

// `{code, message}`: the message is the full Display text the user reads.
impl Serialize for CommandError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("CommandError", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

/// One preview block, as the UI renders it (as text, never as HTML).
#[derive(Debug, Clone, Serialize)]
pub struct BlockView {
    pub kind: BlockKind,
    pub text: String,
    pub page: Option<u32>,
}

/// Everything the window shows after a file is opened.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentView {
    pub name: String,
    pub path: PathBuf,
    pub pages: Option<u32>,
    /// Total number of blocks in the document.
    pub block_count: usize,
    /// The first `PREVIEW_BLOCKS` blocks.
    pub blocks: Vec<BlockView>,
    pub plan: FilePlan,
}

/// The model shown in the window header.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelStatus {
    Ready {
        name: String,
        path: PathBuf,
        context_length: usize,
        /// "env" when REPORTLENS_MODEL chose it, "settings" when the user
        /// did, "default" for the test model.
        source: &'static str,
        /// Where it will run, e.g. "cpu (4 threads)" or "cuda".
        device: String,
    },
    Missing {
        message: String,
    },
    Broken {
        path: PathBuf,
        message: String,
    },
}

/// An engine error, as the window shows it (the engine's message names the file).
pub(crate) fn engine_err(e: impl std::fmt::Display) -> CommandError {
    CommandError::Engine(e.to_string())
}

/// The model to use: `$REPORTLENS_MODEL` (a per-launch override), else the
/// one chosen in Settings, else the fetched test model (the core's rule).
pub fn resolve_model() -> Result<(PathBuf, &'static str), CommandError> {
    resolve_model_with(&crate::settings::load_settings()?)
}

/// `resolve_model` for settings already read.
pub(crate) fn resolve_model_with(
    settings: &Settings,
) -> Result<(PathBuf, &'static str), CommandError> {
    settings
        .resolve_model(None)
        .map(|(p, source)| (p, source.as_str()))
        .ok_or_else(|| {
            CommandError::NoModel(format!(
                "expected the test model at {}",
                reportlens::paths::test_model_path().display()
            ))
        })
}

/// Extract `path` and count its tokens against `model`.
pub fn open_document_with(path: &Path, model: &Path) -> Result<DocumentView, CommandError> {
    let (doc, plan) = reportlens::plan_file(path, model).map_err(engine_err)?;
    let blocks = doc
        .blocks
        .into_iter()
        .take(PREVIEW_BLOCKS)
        .map(|b| BlockView {
            kind: b.kind,
            text: b.text,
            page: b.page,
        })
        .collect();
    Ok(DocumentView {
        name: plan.name.clone(),
        path: path.to_path_buf(),
        pages: plan.pages,
        block_count: plan.blocks,
        blocks,
        plan,
    })
}

/// The header's model line, computed without loading weights.
pub fn model_status_now() -> ModelStatus {
    let settings = match crate::settings::load_settings() {
        Ok(s) => s,
        Err(e) => {
            return ModelStatus::Missing {
                message: e.to_string(),
            }
        }
    };
    match resolve_model_with(&settings) {
        Err(e) => ModelStatus::Missing {
            message: e.to_string(),
        },
        Ok((path, source)) => match catch(|| reportlens::model::inspect(&path)) {
            Ok(Ok(info)) => ModelStatus::Ready {
                name: info.name,
                path,
                context_length: info.context_length,
                source,
                device: device_line(settings.device),
            },
            Ok(Err(e)) => ModelStatus::Broken {
                path,
                message: e.to_string(),
            },
            Err(e) => ModelStatus::Broken {
                path,
                message: e.to_string(),
            },
        },
    }
}

/// The device the next job will use, as the window shows it.
fn device_line(pref: DevicePref) -> String {
    use reportlens::model::{device, DeviceKind};
    match device::select_device(pref) {
        Ok((_, DeviceKind::Cpu)) => format!("cpu ({} threads)", device::cpu_threads()),
        Ok((d, gpu)) => match device::free_memory(&d) {
            Some(free) => format!("{gpu} ({} free)", device::human_bytes(free)),
            None => gpu.to_string(),
        },
        Err(e) => format!("{pref}: {e}"),
    }
}

/// Open a document: extract, tokenize and plan it on a worker thread.
#[tauri::command]
pub async fn open_document(path: String) -> Result<DocumentView, CommandError> {
    let path = PathBuf::from(path);
    let (model, _) = resolve_model()?;
    off_ui_thread(move || open_document_with(&path, &model)).await?
}

/// Which model the window will use, or why there is none.
#[tauri::command]
pub async fn model_status() -> Result<ModelStatus, CommandError> {
    off_ui_thread(model_status_now).await
}

/// Run `f` on Tauri's blocking pool; a panic becomes `CommandError::Crashed`.
pub(crate) async fn off_ui_thread<T, F>(f: F) -> Result<T, CommandError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tauri::async_runtime::spawn_blocking(move || catch(f))
        .await
        .map_err(|e| CommandError::Crashed(e.to_string()))?
}

pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, CommandError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| CommandError::Crashed(panic_text(&*p)))
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    reportlens::panic_message(payload).unwrap_or_else(|| "the worker thread panicked".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_in_the_worker_become_readable_errors() {
        let err = catch(|| -> u32 { panic!("pdf parser blew up") }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "internal error while reading the document: pdf parser blew up"
        );
        let err = catch(|| -> u32 { panic!("{}", String::from("owned")) }).unwrap_err();
        assert!(err.to_string().ends_with("owned"));
    }

    #[test]
    fn the_preview_is_capped_but_the_count_is_not() {
        let model = reportlens::paths::test_model_path();
        if !model.is_file() {
            eprintln!("skipped: no test model; run models/fetch-test-models");
            return;
        }
        let dir = std::env::temp_dir().join(format!("reportlens-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("many.txt");
        let text: Vec<String> = (1..=250)
            .map(|i| format!("Paragraph number {i}."))
            .collect();
        std::fs::write(&file, text.join("\n\n")).unwrap();

        let view = open_document_with(&file, &model).unwrap();
        assert_eq!(view.block_count, 250);
        assert_eq!(view.blocks.len(), PREVIEW_BLOCKS);
        assert_eq!(view.blocks[199].text, "Paragraph number 200.");
        assert_eq!(view.plan.blocks, 250);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn errors_serialize_with_a_code_for_the_ui() {
        let v = serde_json::to_value(CommandError::Engine("x.pdf: bad".into())).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code": "engine", "message": "x.pdf: bad"})
        );
    }
}
