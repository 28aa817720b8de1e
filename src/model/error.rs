use std::path::PathBuf;

/// Why a model could not be loaded or run. Messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: model not found")]
    NotFound { path: PathBuf },
    #[error("{path}: cannot read the model: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a model ReportLens can read: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("{path}: the model file is damaged or truncated: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: tokenizer: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("{path}: not enough memory: {detail}")]
    OutOfMemory { path: PathBuf, detail: String },
    #[error("{path}: cannot run the model: {reason}")]
    Runtime { path: PathBuf, reason: String },
    #[error(transparent)]
    Device(#[from] super::device::DeviceError),
}
