//! Output + source -> findings: is every figure in a summary or translation
//! faithful to the document it came from?
//!
//! `extract` finds figures (English and Chinese notation), `context` reads the
//! metric words around them, `classify` matches output figures to source
//! figures, `numbers` puts it together. All of it works on plain strings.

mod classify;
mod context;
mod dates;
mod derive;
mod extract;
mod figure;
pub mod key_figures;
mod normalize;
mod numbers;

use std::path::{Path, PathBuf};

pub use classify::Status;
pub use extract::find_figures;
pub use figure::{Currency, DateParts, Figure, FigureKind, Metric, Span, Unit};
pub use numbers::{
    check_document, check_numbers, unit_scale, Finding, NumberReport, Origin, SourceRef, Summary,
};

use crate::ingest::{self, IngestError};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Source(#[from] IngestError),
    #[error("cannot read the output file {}: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Check an output file (text or Markdown) against a source document
/// (PDF, DOCX, TXT or MD, read through ingestion).
pub fn check_files(source: &Path, output: &Path) -> Result<NumberReport, CheckError> {
    // The output first: a missing output file should not cost a PDF parse.
    let out = std::fs::read_to_string(output).map_err(|e| CheckError::Output {
        path: output.to_path_buf(),
        source: e,
    })?;
    let doc = ingest::extract(source)?;
    Ok(check_document(&doc, &out))
}
