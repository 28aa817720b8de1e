//! File -> `Document`: PDF, DOCX and plain text/Markdown into page-aware blocks.
//!
//! `extract` sniffs the content (magic bytes), checks it against the extension, then
//! hands the bytes to one parser. Parsers of untrusted binary formats run isolated
//! (`isolate`): on their own thread, panics caught, time-limited.

mod clean;
mod document;
mod docx;
mod error;
mod isolate;
mod layout;
mod pdf;
mod sniff;
mod table;
mod text;

pub use document::{Block, BlockKind, Document, Format};
pub use error::IngestError;
pub use sniff::Sniffed;

use std::path::Path;
use std::time::Duration;

/// Limits applied while reading one file.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Files larger than this are refused before reading (`TooLarge`).
    pub max_bytes: u64,
    /// Wall-clock limit for parsing one PDF or DOCX (`Timeout`).
    pub timeout: Duration,
    /// Upper bound on what a DOCX may decompress to, all entries together (zip bombs).
    pub max_unzipped_bytes: u64,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            max_bytes: 200 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            max_unzipped_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Extract a document from `path` with the default limits, choosing the parser from the
/// file's content (checked against its extension).
pub fn extract(path: &Path) -> Result<Document, IngestError> {
    extract_with(path, &ExtractOptions::default())
}

/// Extract a document from `path` with explicit limits.
pub fn extract_with(path: &Path, opts: &ExtractOptions) -> Result<Document, IngestError> {
    let format = format_of(path)?;
    let io = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size == 0 {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
        });
    }
    within_limit(path, size, opts)?;
    let bytes = std::fs::read(path).map_err(io)?;
    extract_bytes(path, format, bytes, opts)
}

/// Extract a document already in memory, its format taken from `name`'s extension as
/// for a file (the fuzz targets' entry point; the same checks and isolation apply).
pub fn extract_mem(
    name: &Path,
    bytes: Vec<u8>,
    opts: &ExtractOptions,
) -> Result<Document, IngestError> {
    let format = format_of(name)?;
    within_limit(name, bytes.len() as u64, opts)?;
    extract_bytes(name, format, bytes, opts)
}

/// Files over the configured size are refused before they are parsed.
fn within_limit(path: &Path, size: u64, opts: &ExtractOptions) -> Result<(), IngestError> {
    if size > opts.max_bytes {
        return Err(IngestError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: opts.max_bytes,
        });
    }
    Ok(())
}

/// The format a file's extension claims.
fn format_of(path: &Path) -> Result<Format, IngestError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let format = match ext.as_str() {
        "pdf" => Format::Pdf,
        "docx" => Format::Docx,
        "txt" | "text" => Format::Txt,
        "md" | "markdown" => Format::Md,
        _ => {
            return Err(IngestError::Unsupported {
                path: path.to_path_buf(),
                extension: if ext.is_empty() {
                    "(none)".into()
                } else {
                    format!(".{ext}")
                },
            })
        }
    };
    Ok(format)
}

/// Parse `bytes` read from `path` as `format` (the extension's claim), after checking
/// that the content agrees.
fn extract_bytes(
    path: &Path,
    format: Format,
    bytes: Vec<u8>,
    opts: &ExtractOptions,
) -> Result<Document, IngestError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
        });
    }
    let sniffed = sniff::sniff(&bytes);
    let wrong = |found: &Sniffed| IngestError::WrongType {
        path: path.to_path_buf(),
        expected: ext_name(format).into(),
        found: found.describe(),
    };
    let doc = |pages: Option<u32>, blocks: Vec<Block>| Document {
        source: path.display().to_string(),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string()),
        format,
        pages,
        blocks,
        fallback_pages: Vec::new(),
        no_text_pages: Vec::new(),
    };
    let doc = match (format, &sniffed) {
        (Format::Pdf, Sniffed::Pdf) => {
            let p = path.to_path_buf();
            let timeout = opts.timeout;
            // The parser's own deadline: isolate answers at the timeout, and the page
            // workers stop there instead of running on unobserved.
            let deadline = std::time::Instant::now() + timeout;
            let t = isolate::run(path, "PDF", timeout, move || {
                pdf::extract(&p, &bytes, deadline)
            })?;
            Document {
                fallback_pages: t.fallback_pages,
                no_text_pages: t.no_text_pages,
                ..doc(Some(t.pages), t.blocks)
            }
        }
        (Format::Docx, Sniffed::Docx | Sniffed::BrokenZip) => {
            let p = path.to_path_buf();
            let limit = opts.max_unzipped_bytes;
            let blocks = isolate::run(path, "DOCX", opts.timeout, move || {
                docx::extract(&p, &bytes, limit)
            })?;
            doc(None, blocks)
        }
        (Format::Txt | Format::Md, Sniffed::Text) => {
            doc(None, text::extract(path, &bytes, format == Format::Md)?)
        }
        (_, found) => return Err(wrong(found)),
    };
    if doc.blocks.iter().all(|b| b.text.trim().is_empty()) {
        return Err(match format {
            Format::Pdf => IngestError::NoText {
                path: path.to_path_buf(),
            },
            _ => IngestError::NoContent {
                path: path.to_path_buf(),
            },
        });
    }
    Ok(doc)
}

fn ext_name(format: Format) -> &'static str {
    match format {
        Format::Pdf => "pdf",
        Format::Docx => "docx",
        Format::Txt => "txt",
        Format::Md => "md",
    }
}

#[cfg(test)]
mod tests;
