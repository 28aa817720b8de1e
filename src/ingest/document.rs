use serde::{Deserialize, Serialize};

/// The file formats ReportLens reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pdf,
    Docx,
    Txt,
    Md,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Heading,
    Paragraph,
    Table,
    ListItem,
}

/// One unit of reading order: a heading, a paragraph, a list item or a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub kind: BlockKind,
    /// The block's text; for tables, rows joined by newlines and cells by tabs.
    pub text: String,
    /// 1-based page number, for formats that have pages (PDF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// 0-based index of the source paragraph/element, for formats without pages (DOCX, text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Table rows and cells, for `BlockKind::Table`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<Vec<Vec<String>>>,
    /// A table's unit line as printed ("(In millions, except per share amounts)",
    /// "单位：人民币千元"): the scale and currency its figures are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl Block {
    pub fn new(kind: BlockKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
            page: None,
            index: None,
            cells: None,
            unit: None,
        }
    }
}

/// Sorted page numbers as ranges: `[3, 4, 5, 9]` -> "3–5 and 9".
pub fn page_ranges(pages: &[u32]) -> Option<String> {
    let mut sorted = pages.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for p in sorted {
        match ranges.last_mut() {
            Some(r) if p == r.1 + 1 => r.1 = p,
            _ => ranges.push((p, p)),
        }
    }
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect();
    match parts.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [rest @ .., last] => Some(format!("{} and {last}", rest.join(", "))),
    }
}

/// An extracted document: where it came from and its blocks in reading order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The path the document was read from.
    pub source: String,
    /// The file name shown to the user.
    pub name: String,
    pub format: Format,
    /// Number of pages, for formats that have pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    pub blocks: Vec<Block>,
    /// PDF pages (1-based) whose text came from the fallback extractor (lopdf's) because
    /// the interpreter failed on them or returned garbage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_pages: Vec<u32>,
    /// PDF pages (1-based) that show only images (scans) and were not read: the
    /// document is incomplete there until OCR exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_text_pages: Vec<u32>,
}

impl Document {
    /// The text the model reads: blocks in order, separated by blank lines.
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&b.text);
        }
        out
    }

    /// "pages 45–52 and 60 have no text layer and were not read", when some do.
    pub fn no_text_note(&self) -> Option<String> {
        let pages = page_ranges(&self.no_text_pages)?;
        let verb = if self.no_text_pages.len() == 1 {
            "has"
        } else {
            "have"
        };
        let noun = if self.no_text_pages.len() == 1 {
            "page"
        } else {
            "pages"
        };
        Some(format!(
            "{noun} {pages} {verb} no text layer (scanned) and {} not read",
            if self.no_text_pages.len() == 1 {
                "was"
            } else {
                "were"
            }
        ))
    }

    pub fn char_count(&self) -> usize {
        self.blocks.iter().map(|b| b.text.chars().count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_without_text_are_named_as_ranges() {
        assert_eq!(page_ranges(&[]), None);
        assert_eq!(page_ranges(&[7]).as_deref(), Some("7"));
        assert_eq!(
            page_ranges(&[45, 46, 47, 52, 60, 61]).as_deref(),
            Some("45–47, 52 and 60–61")
        );
        let doc = Document {
            source: "x.pdf".into(),
            name: "x.pdf".into(),
            format: Format::Pdf,
            pages: Some(60),
            blocks: Vec::new(),
            fallback_pages: Vec::new(),
            no_text_pages: vec![45, 46, 47, 48, 49, 50, 51, 52],
        };
        assert_eq!(
            doc.no_text_note().as_deref(),
            Some("pages 45–52 have no text layer (scanned) and were not read")
        );
    }
}
