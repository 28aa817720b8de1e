//! The user's settings (model, device, default languages, glossary, UI
//! language), kept as JSON in the data folder so the app and the CLI share
//! them.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::forms::{self, Form};
use crate::prompt::{Lang, SummaryMode};

/// File name of the settings inside the data folder.
pub const SETTINGS_FILE: &str = "settings.json";

/// Which device runs the model (`auto`, `cpu`, `cuda`, `cuda:N`, `metal`).
pub use crate::model::device::DeviceChoice as DevicePref;

/// Everything the user can set. Unknown or missing fields fall back to the
/// defaults, so an older or hand-edited file still loads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// A GGUF file or an Index model folder; `None`: the test model.
    pub model: Option<PathBuf>,
    pub device: DevicePref,
    /// The KV cache: f16 (the default), q8_0 (about half the memory, for
    /// long documents on small machines) or f32.
    pub kv_cache: crate::model::KvType,
    pub summary_lang: Lang,
    pub summary_mode: SummaryMode,
    pub translate_to: TranslateTo,
    /// A user glossary (TSV/CSV, English and Chinese) on top of the shipped one.
    pub glossary: Option<PathBuf>,
    /// "en" or "zh"; `None` follows the system locale.
    pub ui_lang: Option<String>,
    /// How each model directory runs (dense, or converted once), by path.
    pub forms: std::collections::BTreeMap<PathBuf, Form>,
    /// Run jobs on this OpenAI-compatible server instead of this machine
    /// (`None`: the local engine, which opens no socket at all). Its API key
    /// is kept apart (`API_KEY_FILE`), never in this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerSettings>,
}

/// A server chosen in Settings: where it is and which model it serves.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerSettings {
    pub url: String,
    pub model: String,
    /// Jobs sent at once (the server batches them; give it as many slots).
    #[serde(default = "default_server_parallel")]
    pub parallel: usize,
}

/// Jobs sent to a server at once unless the user says otherwise: llama-server
/// started as the README says (`-np 4`) serves four.
pub const DEFAULT_SERVER_PARALLEL: usize = 4;

fn default_server_parallel() -> usize {
    DEFAULT_SERVER_PARALLEL
}

/// The API key for the server, in the data folder, readable by the user only.
pub const API_KEY_FILE: &str = "server-api-key";
/// An API key for this run, over the saved one.
pub const API_KEY_ENV: &str = "REPORTLENS_API_KEY";

/// The environment variable that overrides the chosen model for one launch.
pub const MODEL_ENV: &str = "REPORTLENS_MODEL";

/// Where the model a front end runs came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSource {
    /// Given for this run (`--model`).
    Given,
    /// `$REPORTLENS_MODEL`.
    Env,
    /// Chosen in Settings.
    Settings,
    /// The fetched test model.
    Default,
}

impl ModelSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelSource::Given => "given",
            ModelSource::Env => "env",
            ModelSource::Settings => "settings",
            ModelSource::Default => "default",
        }
    }
}

impl Settings {
    /// The model every front end runs: the one `given` for this run, else
    /// `$REPORTLENS_MODEL`, else the one chosen in Settings, else the fetched
    /// test model; a model directory in the form chosen for it. `None` when
    /// there is none.
    pub fn resolve_model(&self, given: Option<&Path>) -> Option<(PathBuf, ModelSource)> {
        match self.chosen_model(given) {
            Some((p, source)) => Some((self.runnable_model(&p), source)),
            None => crate::paths::default_model().map(|p| (p, ModelSource::Default)),
        }
    }

    /// The model the user chose, as chosen (a folder stays the folder): the
    /// one `given` for this run, else `$REPORTLENS_MODEL`, else Settings'.
    /// `None` when nothing was chosen.
    pub fn chosen_model(&self, given: Option<&Path>) -> Option<(PathBuf, ModelSource)> {
        let env = std::env::var_os(MODEL_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        given
            .map(|p| (p.to_path_buf(), ModelSource::Given))
            .or(env.map(|p| (p, ModelSource::Env)))
            .or(self.model.clone().map(|p| (p, ModelSource::Settings)))
    }

    /// The file to load for `model`: its converted GGUF where the user chose
    /// a converted form and it exists (`model::forms::runnable`).
    pub fn runnable_model(&self, model: &Path) -> PathBuf {
        forms::runnable(
            model,
            self.forms.get(&forms::key(model)).copied(),
            &crate::paths::models_dir(),
        )
    }
}

/// The default translation target (Chinese: most users read English reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TranslateTo(pub Lang);

impl Default for TranslateTo {
    fn default() -> Self {
        TranslateTo(Lang::Zh)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the settings file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the settings file {path} is not valid ({source}); fix or delete it")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot save the settings to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the UI language `{0}` is not supported (use en or zh)")]
    UiLang(String),
    #[error("the model {0} does not exist; choose a GGUF file or an Index model folder")]
    ModelMissing(PathBuf),
    #[error("the glossary {0} does not exist")]
    GlossaryMissing(PathBuf),
}

impl Settings {
    /// The chosen server with its key (`$REPORTLENS_API_KEY`, else the saved
    /// one), or `None` for the local engine.
    pub fn server_config(&self, dir: &Path) -> Option<crate::remote::ServerConfig> {
        let s = self.server.as_ref()?;
        Some(crate::remote::ServerConfig {
            url: s.url.clone(),
            model: s.model.clone(),
            api_key: api_key(dir),
        })
    }

    /// Loads `dir/settings.json`; a missing file gives the defaults.
    pub fn load(dir: &Path) -> Result<Self, SettingsError> {
        let path = dir.join(SETTINGS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| SettingsError::Parse { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(source) => Err(SettingsError::Read { path, source }),
        }
    }

    /// Checks what can be checked before saving: files exist, languages known.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if let Some(l) = &self.ui_lang {
            if l != "en" && l != "zh" {
                return Err(SettingsError::UiLang(l.clone()));
            }
        }
        if let Some(m) = self.model.as_ref().filter(|m| !m.exists()) {
            return Err(SettingsError::ModelMissing(m.clone()));
        }
        if let Some(g) = self.glossary.as_ref().filter(|g| !g.is_file()) {
            return Err(SettingsError::GlossaryMissing(g.clone()));
        }
        Ok(())
    }

    /// Validates and writes `dir/settings.json` atomically (a crash mid-write
    /// leaves the old file, never half a file).
    pub fn save(&self, dir: &Path) -> Result<(), SettingsError> {
        self.validate()?;
        let path = dir.join(SETTINGS_FILE);
        let write = |source| SettingsError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(write)?;
        let tmp = dir.join(format!("{SETTINGS_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(self).expect("settings serialise");
        std::fs::write(&tmp, json).map_err(write)?;
        std::fs::rename(&tmp, &path).map_err(write)
    }
}

/// The server's API key for this run: `$REPORTLENS_API_KEY`, else the saved one.
pub fn api_key(dir: &Path) -> Option<String> {
    std::env::var(API_KEY_ENV)
        .ok()
        .or_else(|| std::fs::read_to_string(dir.join(API_KEY_FILE)).ok())
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
}

/// Saves (or with `None`, forgets) the server's API key, readable by the
/// user only, apart from the settings (which may be shared or exported).
pub fn save_api_key(dir: &Path, key: Option<&str>) -> Result<(), SettingsError> {
    let path = dir.join(API_KEY_FILE);
    let write = |source| SettingsError::Write {
        path: path.clone(),
        source,
    };
    match key.map(str::trim).filter(|k| !k.is_empty()) {
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(write(e)),
            _ => Ok(()),
        },
        Some(k) => {
            std::fs::create_dir_all(dir).map_err(write)?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            use std::io::Write;
            opts.open(&path)
                .and_then(|mut f| f.write_all(k.as_bytes()))
                .map_err(write)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_gives_defaults_and_saved_settings_reload() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(dir.path()).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.translate_to.0, Lang::Zh);
        let glossary = dir.path().join("g.tsv");
        std::fs::write(&glossary, "revenue\t营业收入\n").unwrap();
        assert_eq!(s.kv_cache, crate::model::KvType::F16, "f16 unless chosen");
        let s = Settings {
            device: DevicePref::Cpu,
            kv_cache: crate::model::KvType::Q8_0,
            summary_lang: Lang::Zh,
            summary_mode: SummaryMode::Financial,
            translate_to: TranslateTo(Lang::En),
            glossary: Some(glossary),
            ui_lang: Some("zh".into()),
            model: None,
            forms: [(dir.path().join("Index-1.9B-32K"), Form::Q8_0)].into(),
            server: Some(ServerSettings {
                url: "http://127.0.0.1:8080".into(),
                model: "index-1.9b".into(),
                parallel: 2,
            }),
        };
        s.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap(), s);
        let text = std::fs::read_to_string(dir.path().join(SETTINGS_FILE)).unwrap();
        assert!(text.contains("\"q8_0\""), "{text}");
        assert!(text.contains("\"device\": \"cpu\""), "{text}");
        assert!(text.contains("\"kv_cache\": \"q8_0\""), "{text}");
        // The key lives apart, readable by the user only, never in settings.json.
        save_api_key(dir.path(), Some("sk-secret")).unwrap();
        let cfg = s.server_config(dir.path()).unwrap();
        assert_eq!(cfg.api_key.as_deref(), Some("sk-secret"));
        assert!(!format!("{cfg:?}").contains("sk-secret"));
        s.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(SETTINGS_FILE)).unwrap();
        assert!(!text.contains("sk-secret"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(API_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        save_api_key(dir.path(), None).unwrap();
        if std::env::var_os(API_KEY_ENV).is_none() {
            assert!(s.server_config(dir.path()).unwrap().api_key.is_none());
        }
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings {
            ui_lang: Some("fr".into()),
            ..Default::default()
        };
        assert!(matches!(s.save(dir.path()), Err(SettingsError::UiLang(_))));
        let s = Settings {
            model: Some(dir.path().join("nope.gguf")),
            ..Default::default()
        };
        let e = s.save(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("nope.gguf") && e.contains("does not exist"),
            "{e}"
        );
        assert!(!dir.path().join(SETTINGS_FILE).exists());
    }

    #[test]
    fn a_partial_or_broken_file_is_handled() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SETTINGS_FILE), r#"{"device":"cpu"}"#).unwrap();
        let s = Settings::load(dir.path()).unwrap();
        assert_eq!(s.device, DevicePref::Cpu);
        assert_eq!(s.summary_lang, Lang::En);
        std::fs::write(dir.path().join(SETTINGS_FILE), "{not json").unwrap();
        let e = Settings::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not valid"), "{e}");
    }
}
