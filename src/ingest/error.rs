use std::path::PathBuf;

/// Why a file could not be turned into a `Document`. Every message names the
/// file and says what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: cannot read the file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error(
        "{path}: unsupported file type '{extension}' (ReportLens reads .pdf, .docx, .txt and .md)"
    )]
    Unsupported { path: PathBuf, extension: String },
    #[error("{path}: the file is named .{expected} but its content is {found}")]
    WrongType {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{path}: the {format} file is damaged or truncated: {reason}")]
    Corrupt {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error("{path}: the PDF is password-protected; remove the password and try again")]
    Encrypted { path: PathBuf },
    #[error("{path}: the PDF has no text layer (it looks scanned); OCR is not supported yet")]
    NoText { path: PathBuf },
    #[error("{path}: the document contains no text")]
    NoContent { path: PathBuf },
    #[error("{path}: the file is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{path}: reading the {format} file took longer than {seconds} s and was stopped")]
    Timeout {
        path: PathBuf,
        format: &'static str,
        seconds: u64,
    },
}
