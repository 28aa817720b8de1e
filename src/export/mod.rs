//! A finished job's content -> files: Markdown, bilingual Markdown, DOCX, bilingual DOCX.
//!
//! Figures the checker flagged are highlighted in every format: `<mark>` plus a footnote
//! with the source figure in Markdown, a highlighted run plus a comment in DOCX. Text is
//! always written as text: HTML in a translation (`<script>`) stays visible characters.
//! Files are written to a temporary file beside the target and renamed over it, so an
//! existing export is never left half-written.

mod atomic;
mod docx;
pub mod key_figures;
mod markdown;
mod marks;
mod table;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::check::key_figures::KeyFigure;
use crate::BlockKind;

pub use atomic::write_atomic;

/// What the checker says about a flagged span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MarkKind {
    /// A figure that contradicts the source (e.g. a unit slipped by 10x): highlighted.
    #[default]
    Mismatch,
    /// A figure with no source figure near it: highlighted more quietly.
    Unsupported,
}

/// A flagged span: chars `start..end` (Unicode scalar values, not bytes) of a target text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub start: usize,
    pub end: usize,
    #[serde(default)]
    pub kind: MarkKind,
    /// Shown beside the span, e.g. "source: US$843.1 million".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A mark in the target text of one translation pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairMark {
    /// Index into `ExportContent::Translation::pairs`.
    pub pair: usize,
    #[serde(flatten)]
    pub mark: Mark,
}

/// One source block and its translation, as the side-by-side view shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub kind: BlockKind,
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Table rows and cells, for `BlockKind::Table`; else the text's lines and tabs are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_cells: Option<Vec<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cells: Option<Vec<Vec<String>>>,
}

/// What a finished job exports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportContent {
    /// A summary in Markdown; `marks` are char spans of `markdown`. A financial
    /// summary carries the key-figures table read from the source.
    Summary {
        title: String,
        markdown: String,
        #[serde(default)]
        marks: Vec<Mark>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        key_figures: Vec<KeyFigure>,
    },
    /// Aligned pairs; each mark names its pair and spans that pair's `target`.
    Translation {
        title: String,
        pairs: Vec<Pair>,
        #[serde(default)]
        marks: Vec<PairMark>,
    },
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// A summary as is; a translation as its target text.
    Markdown,
    /// A two-column table: source | translation.
    BilingualMarkdown,
    Docx,
    /// A two-column table: source | translation.
    BilingualDocx,
    /// A financial summary's key-figures table alone, as CSV.
    KeyFiguresCsv,
    /// The key-figures table as an Excel workbook.
    KeyFiguresXlsx,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 6] = [
        ExportFormat::Markdown,
        ExportFormat::BilingualMarkdown,
        ExportFormat::Docx,
        ExportFormat::BilingualDocx,
        ExportFormat::KeyFiguresCsv,
        ExportFormat::KeyFiguresXlsx,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Markdown => "markdown",
            ExportFormat::BilingualMarkdown => "bilingual-markdown",
            ExportFormat::Docx => "docx",
            ExportFormat::BilingualDocx => "bilingual-docx",
            ExportFormat::KeyFiguresCsv => "key-figures-csv",
            ExportFormat::KeyFiguresXlsx => "key-figures-xlsx",
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Markdown | ExportFormat::BilingualMarkdown => "md",
            ExportFormat::Docx | ExportFormat::BilingualDocx => "docx",
            ExportFormat::KeyFiguresCsv => "csv",
            ExportFormat::KeyFiguresXlsx => "xlsx",
        }
    }

    pub fn is_bilingual(self) -> bool {
        matches!(
            self,
            ExportFormat::BilingualMarkdown | ExportFormat::BilingualDocx
        )
    }

    /// The format an output path asks for (`.md`/`.markdown`, `.docx`, or the key
    /// figures' `.csv`/`.xlsx`), if any.
    pub fn from_path(path: &Path, bilingual: bool) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match (ext.as_str(), bilingual) {
            ("csv", _) => Some(ExportFormat::KeyFiguresCsv),
            ("xlsx", _) => Some(ExportFormat::KeyFiguresXlsx),
            ("md" | "markdown", false) => Some(ExportFormat::Markdown),
            ("md" | "markdown", true) => Some(ExportFormat::BilingualMarkdown),
            ("docx", false) => Some(ExportFormat::Docx),
            ("docx", true) => Some(ExportFormat::BilingualDocx),
            _ => None,
        }
    }
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExportFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown export format `{s}` (markdown, bilingual-markdown, docx, bilingual-docx, key-figures-csv, key-figures-xlsx)")
            })
    }
}

impl std::fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("a summary has no source text to put beside it; export it as Markdown or DOCX instead of {0}")]
    NotBilingual(ExportFormat),

    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot build the DOCX file: {0}")]
    Docx(String),

    #[error("this result has no key-figures table (only financial-mode summaries of documents with statements have one); export it as Markdown or DOCX instead of {0}")]
    NoKeyFigures(ExportFormat),

    #[error(transparent)]
    KeyFigures(#[from] key_figures::KeyFiguresError),
}

/// Renders `content` in `format` to bytes (UTF-8 for Markdown).
pub fn render(content: &ExportContent, format: ExportFormat) -> Result<Vec<u8>, ExportError> {
    match format {
        ExportFormat::Markdown => Ok(markdown::plain(content).into_bytes()),
        ExportFormat::BilingualMarkdown => Ok(markdown::bilingual(content)?.into_bytes()),
        ExportFormat::Docx => docx::plain(content),
        ExportFormat::BilingualDocx => docx::bilingual(content),
        ExportFormat::KeyFiguresCsv | ExportFormat::KeyFiguresXlsx => {
            let rows = match content {
                ExportContent::Summary { key_figures, .. } if !key_figures.is_empty() => {
                    key_figures
                }
                _ => return Err(ExportError::NoKeyFigures(format)),
            };
            Ok(if format == ExportFormat::KeyFiguresCsv {
                key_figures::to_csv(rows).into_bytes()
            } else {
                key_figures::to_xlsx(rows)?
            })
        }
    }
}

/// Renders `content` and writes it to `path`, replacing any file there only once the
/// new one is complete.
pub fn write(
    content: &ExportContent,
    format: ExportFormat,
    path: &Path,
) -> Result<(), ExportError> {
    let bytes = render(content, format)?;
    write_atomic(path, &bytes)
}

impl ExportContent {
    fn title(&self) -> &str {
        match self {
            ExportContent::Summary { title, .. } | ExportContent::Translation { title, .. } => {
                title
            }
        }
    }
}

/// The marks of pair `i`.
fn marks_of(marks: &[PairMark], i: usize) -> impl Iterator<Item = &Mark> {
    marks.iter().filter(move |m| m.pair == i).map(|m| &m.mark)
}
