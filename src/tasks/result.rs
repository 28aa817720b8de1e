//! A finished job's result and its figure marks: what the store keeps, the
//! UI shows and the exporters write.
use serde::{Deserialize, Serialize};

use crate::check::key_figures::KeyFigure;
use crate::check::{self, NumberReport, Origin, Status};
use crate::export::{ExportContent, Mark, MarkKind, Pair, PairMark};
use crate::ingest::Document;

/// A source figure an output figure was matched to, with where it sits (page, block,
/// and for table cells row, column and unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFigure {
    pub text: String,
    #[serde(flatten)]
    pub origin: Origin,
}

impl SourceFigure {
    fn of(s: check::SourceRef) -> Self {
        SourceFigure {
            text: s.text,
            origin: s.origin,
        }
    }
}

/// One checked figure of the output, as a char span of its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureMark {
    /// For translations: the pair whose target holds the figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<usize>,
    /// Unicode scalar offsets in the target text.
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub status: Status,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceFigure>,
    /// Derived figures: how the source's figures give it ("22.3% = 1,827,183 / 8,187,301").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// Derived figures: every input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<SourceFigure>,
}

/// Counts per status over a whole result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkCounts {
    pub total: usize,
    pub verified: usize,
    #[serde(default)]
    pub derived: usize,
    pub approximate: usize,
    pub mismatch: usize,
    pub unsupported: usize,
}

impl MarkCounts {
    pub fn of(marks: &[FigureMark]) -> Self {
        let mut c = MarkCounts {
            total: marks.len(),
            ..Default::default()
        };
        for m in marks {
            match m.status {
                Status::Verified => c.verified += 1,
                Status::Derived => c.derived += 1,
                Status::Approximate => c.approximate += 1,
                Status::Mismatch => c.mismatch += 1,
                Status::Unsupported => c.unsupported += 1,
            }
        }
        c
    }
}

/// The checker's findings as stored with a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    pub counts: MarkCounts,
    pub marks: Vec<FigureMark>,
    /// Financial summaries: the headline figures read from the source's statements
    /// (not from the model), each with its page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_figures: Vec<KeyFigure>,
}

impl Findings {
    pub fn new(marks: Vec<FigureMark>) -> Self {
        Findings {
            counts: MarkCounts::of(&marks),
            marks,
            key_figures: Vec::new(),
        }
    }

    pub fn with_key_figures(self, key_figures: Vec<KeyFigure>) -> Self {
        Findings {
            key_figures,
            ..self
        }
    }
}

/// What a finished job produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobResult {
    Summary {
        title: String,
        markdown: String,
        findings: Findings,
    },
    Translation {
        title: String,
        pairs: Vec<Pair>,
        findings: Findings,
    },
}

impl JobResult {
    pub fn findings(&self) -> &Findings {
        match self {
            JobResult::Summary { findings, .. } | JobResult::Translation { findings, .. } => {
                findings
            }
        }
    }

    /// The text stored as the job's output: the summary's Markdown, or the
    /// pairs as JSON.
    pub fn stored_output(&self) -> String {
        match self {
            JobResult::Summary { markdown, .. } => markdown.clone(),
            JobResult::Translation { pairs, .. } => {
                serde_json::to_string(pairs).expect("pairs serialise")
            }
        }
    }

    /// What the exporters write; mismatches and unsupported figures are highlighted.
    pub fn export_content(&self) -> ExportContent {
        let mark = |m: &FigureMark| -> Option<Mark> {
            let kind = match m.status {
                Status::Mismatch => MarkKind::Mismatch,
                Status::Unsupported => MarkKind::Unsupported,
                Status::Verified | Status::Derived | Status::Approximate => return None,
            };
            let note = match &m.source {
                Some(s) => Some(match s.origin.page {
                    Some(p) => format!("source: {} (page {p}) — {}", s.text, m.reason),
                    None => format!("source: {} — {}", s.text, m.reason),
                }),
                None => Some(m.reason.clone()),
            };
            Some(Mark {
                start: m.start,
                end: m.end,
                kind,
                note,
            })
        };
        match self {
            JobResult::Summary {
                title,
                markdown,
                findings,
            } => ExportContent::Summary {
                title: title.clone(),
                markdown: markdown.clone(),
                marks: findings.marks.iter().filter_map(mark).collect(),
                key_figures: findings.key_figures.clone(),
            },
            JobResult::Translation {
                title,
                pairs,
                findings,
            } => ExportContent::Translation {
                title: title.clone(),
                pairs: pairs.clone(),
                marks: findings
                    .marks
                    .iter()
                    .filter_map(|m| {
                        Some(PairMark {
                            pair: m.pair?,
                            mark: mark(m)?,
                        })
                    })
                    .collect(),
            },
        }
    }
}

/// Check `output` against the whole source document; marks carry the page (and for
/// table cells the row and column) of the source figure each output figure was
/// matched to.
pub fn check_against(doc: &Document, output: &str) -> Vec<FigureMark> {
    let report: NumberReport = check::check_document(doc, output);
    report
        .findings
        .into_iter()
        .map(|f| FigureMark {
            pair: None,
            start: f.figure.span.char_start,
            end: f.figure.span.char_end,
            text: f.figure.text.clone(),
            status: f.status,
            reason: f.reason,
            source: f.matched.map(SourceFigure::of),
            formula: f.formula,
            inputs: f.inputs.into_iter().map(SourceFigure::of).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Block, BlockKind, Format};

    fn doc() -> Document {
        let mut a = Block::new(BlockKind::Paragraph, "Intro without figures.");
        a.page = Some(1);
        let mut b = Block::new(
            BlockKind::Paragraph,
            "Net revenues were US$843.1 million, up 30% year over year.",
        );
        b.page = Some(4);
        Document {
            source: "x.pdf".into(),
            name: "x.pdf".into(),
            format: Format::Pdf,
            pages: Some(4),
            blocks: vec![a, b],
            fallback_pages: Vec::new(),
            no_text_pages: Vec::new(),
        }
    }

    #[test]
    fn marks_know_the_source_page_and_slips_are_flagged() {
        let d = doc();
        let out = "- Net revenues: US$843.1 million\n- 净营收84.3亿美元";
        let marks = check_against(&d, out);
        assert_eq!(marks.len(), 2, "{marks:?}");
        assert_eq!(marks[0].status, Status::Verified);
        assert_eq!(marks[0].source.as_ref().unwrap().origin.page, Some(4));
        assert_eq!(marks[0].source.as_ref().unwrap().origin.block, Some(1));
        let s: String = out
            .chars()
            .skip(marks[1].start)
            .take(marks[1].end - marks[1].start)
            .collect();
        assert_eq!(s, marks[1].text);
        assert_eq!(marks[1].status, Status::Mismatch);
        let r = JobResult::Summary {
            title: "t".into(),
            markdown: out.into(),
            findings: Findings::new(marks),
        };
        match r.export_content() {
            ExportContent::Summary { marks, .. } => {
                assert_eq!(marks.len(), 1, "only the mismatch is highlighted");
                assert!(marks[0].note.as_ref().unwrap().contains("page 4"));
            }
            _ => unreachable!(),
        }
    }
}
