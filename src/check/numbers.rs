//! Figure fidelity: every figure of an output (summary, translation) checked
//! against the figures of its source.
//!
//! The source is best a `Document`: its blocks say on which page a figure stands,
//! and its tables say which row and column a cell is in and what unit the table is
//! in ("(In millions)"), so `$1,577 million` verifies against the cell `(1,577)` of a
//! cash-flow statement in millions, and the finding names the page and the row.
//! Plain text works too, with the unit hints of the whole text.

use serde::{Deserialize, Serialize};

use super::classify::{classify, implied_scales, Status};
use super::context::families_in;
use super::extract::find_figures;
use super::figure::{Currency, Figure, FigureKind, Span};
use crate::ingest::{BlockKind, Document};

/// Where a source figure stands in its document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Index of the source block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<usize>,
    /// A table cell's row label ("Purchases of property and equipment").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<String>,
    /// A table cell's column header ("Six Months Ended June 30, 2023").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The table's unit line ("(In millions)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// A table cell's row and column in its table, 0-based in `cells` (what sums and
    /// changes line up by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<(usize, usize)>,
}

/// The figures of a source with where each stands and the scales its bare numbers
/// may carry.
pub(crate) struct Sources {
    pub figures: Vec<Figure>,
    pub origins: Vec<Origin>,
    /// Per figure: scales a bare number may be in besides 1 (its table's unit, or the
    /// unit hints of a source without tables).
    pub scales: Vec<Vec<f64>>,
}

impl Sources {
    /// Figures of plain text; every bare number may be in any unit the text states.
    pub fn from_text(source: &str) -> Sources {
        let figures = find_figures(source);
        let implied = implied_scales(source);
        Sources {
            origins: vec![Origin::default(); figures.len()],
            scales: vec![implied; figures.len()],
            figures,
        }
    }

    /// Figures of a document's text (`Document::plain_text`, so spans index it), each
    /// with its block, page, and for table cells its row, column and the table's unit.
    pub fn from_document(doc: &Document) -> Sources {
        let text = doc.plain_text();
        let mut figures = find_figures(&text);
        let implied = implied_scales(&text);
        let starts = block_starts(doc);
        let mut origins = Vec::with_capacity(figures.len());
        let mut scales = Vec::with_capacity(figures.len());
        for f in &mut figures {
            let bi = starts
                .partition_point(|s| *s <= f.span.start)
                .saturating_sub(1);
            let Some(block) = doc.blocks.get(bi) else {
                origins.push(Origin::default());
                scales.push(implied.clone());
                continue;
            };
            let mut origin = Origin {
                page: block.page,
                block: Some(bi),
                ..Origin::default()
            };
            let mut scale = implied.clone();
            if block.kind == BlockKind::Table {
                let offset = f.span.start - starts[bi];
                let before = &block.text[..offset.min(block.text.len())];
                let row = before.matches('\n').count();
                let col = before
                    .rsplit('\n')
                    .next()
                    .unwrap_or("")
                    .matches('\t')
                    .count();
                origin.cell = Some((row, col));
                if let Some(cells) = &block.cells {
                    let header = header_row(cells, block.unit.is_some());
                    if col > 0 && Some(row) != header {
                        origin.row = cells
                            .get(row)
                            .and_then(|r| r.first())
                            .filter(|l| !l.trim().is_empty())
                            .cloned();
                        origin.column = header
                            .and_then(|h| cells.get(h))
                            .and_then(|h| h.get(col))
                            .filter(|c| !c.trim().is_empty())
                            .cloned();
                    }
                }
                if let Some(unit) = &block.unit {
                    origin.unit = Some(unit.clone());
                    let (table_scale, currency) = unit_scale(unit);
                    // A table in millions states its cells in millions (per-share
                    // rows excepted, hence scale 1 stays a candidate).
                    scale = table_scale.map_or_else(Vec::new, |s| vec![s]);
                    if f.currency.is_none() && f.kind == FigureKind::Plain {
                        if let Some(c) = currency {
                            f.currency = Some(c);
                            f.kind = FigureKind::Amount;
                        }
                    }
                }
            }
            origins.push(origin);
            scales.push(scale);
        }
        Sources {
            figures,
            origins,
            scales,
        }
    }
}

/// Byte offset of each block in `Document::plain_text` (blocks joined by a blank line).
pub(crate) fn block_starts(doc: &Document) -> Vec<usize> {
    let mut starts = Vec::with_capacity(doc.blocks.len());
    let mut at = 0;
    for (i, b) in doc.blocks.iter().enumerate() {
        if i > 0 {
            at += 2;
        }
        starts.push(at);
        at += b.text.len();
    }
    starts
}

/// The row of a statement table that holds its column headers: after the unit row,
/// the first row whose label cell is empty.
fn header_row(cells: &[Vec<String>], has_unit: bool) -> Option<usize> {
    let first = usize::from(has_unit);
    (first..cells.len().min(first + 2))
        .find(|&r| cells[r].first().is_some_and(|c| c.trim().is_empty()) && cells[r].len() > 1)
}

/// The scale and currency a unit line states: "(Dollars in millions)" is 1e6 US$,
/// "单位：人民币千元" 1e3 CNY, "(In thousands)" 1e3 of no stated currency.
pub fn unit_scale(unit: &str) -> (Option<f64>, Option<Currency>) {
    let lower = unit.to_lowercase();
    let scale = [
        (&["billion", "十亿"][..], 1e9),
        (&["million", "百万", "mm)"][..], 1e6),
        (&["thousand", "000", "千元", "千"][..], 1e3),
        (&["亿元", "亿"][..], 1e8),
        (&["万元", "万"][..], 1e4),
    ]
    .iter()
    .find(|(words, _)| words.iter().any(|w| lower.contains(w)))
    .map(|(_, s)| *s)
    .or_else(|| (lower.contains("单位") && lower.contains('元')).then_some(1.0));
    let currency = if lower.contains("hk$") || lower.contains("港元") || lower.contains("港币")
    {
        Some(Currency::Hkd)
    } else if lower.contains("rmb") || lower.contains("人民币") {
        Some(Currency::Cny)
    } else if lower.contains('$') || lower.contains("dollar") || lower.contains("美元") {
        Some(Currency::Usd)
    } else if lower.contains('€') || lower.contains("euro") {
        Some(Currency::Eur)
    } else {
        None
    };
    (scale, currency)
}

/// The source figure an output figure was matched to, and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    pub text: String,
    pub span: Span,
    pub value: f64,
    pub kind: FigureKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(flatten)]
    pub origin: Origin,
}

impl SourceRef {
    fn of(sources: &Sources, i: usize) -> Self {
        let f = &sources.figures[i];
        Self {
            text: f.text.clone(),
            span: f.span,
            value: f.value,
            kind: f.kind,
            currency: f.currency,
            origin: sources.origins[i].clone(),
        }
    }
}

/// One output figure and what the checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    #[serde(flatten)]
    pub figure: Figure,
    pub status: Status,
    /// The source figure it was matched to (verified, approximate, mismatch; for a
    /// derived figure the first of its inputs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<SourceRef>,
    /// Why, in words: "off by a factor of 10^1 from the source's US$843.1 million".
    pub reason: String,
    /// A derived figure's computation: "22.3% = 1,827,183 / 8,187,301".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// A derived figure's inputs, in the formula's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<SourceRef>,
}

/// How many output figures fell in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub verified: usize,
    #[serde(default)]
    pub derived: usize,
    pub approximate: usize,
    pub mismatch: usize,
    pub unsupported: usize,
}

impl Summary {
    fn count(findings: &[Finding]) -> Self {
        let mut s = Self {
            total: findings.len(),
            ..Self::default()
        };
        for f in findings {
            match f.status {
                Status::Verified => s.verified += 1,
                Status::Derived => s.derived += 1,
                Status::Approximate => s.approximate += 1,
                Status::Mismatch => s.mismatch += 1,
                Status::Unsupported => s.unsupported += 1,
            }
        }
        s
    }
}

/// The findings for every figure of an output, in order, with the counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberReport {
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

/// Check every figure in `output` against the figures in `source` (plain text).
pub fn check_numbers(source: &str, output: &str) -> NumberReport {
    check_against_sources(&Sources::from_text(source), output)
}

/// Check every figure in `output` against a document: its pages, tables and their
/// units. Spans of matched source figures index `doc.plain_text()`.
pub fn check_document(doc: &Document, output: &str) -> NumberReport {
    check_against_sources(&Sources::from_document(doc), output)
}

fn check_against_sources(sources: &Sources, output: &str) -> NumberReport {
    let findings: Vec<Finding> = find_figures(output)
        .into_iter()
        .map(|figure| {
            let said = Said::of(sentence_of(output, figure.span.start, figure.span.end));
            let v = classify(&figure, sources, &said);
            Finding {
                figure,
                status: v.status,
                matched: v.matched.map(|i| SourceRef::of(sources, i)),
                reason: v.reason,
                formula: v.formula,
                inputs: v
                    .inputs
                    .iter()
                    .map(|&i| SourceRef::of(sources, i))
                    .collect(),
            }
        })
        .collect();
    let summary = Summary::count(&findings);
    NumberReport { findings, summary }
}

/// What an output figure's sentence says besides the figure: the metric families it
/// names (what a computed figure may come from) and the years it is about.
pub(crate) struct Said {
    pub families: Vec<&'static str>,
    pub years: Vec<i32>,
}

impl Said {
    pub fn of(sentence: &str) -> Said {
        Said {
            families: families_in(sentence),
            years: years_in(sentence),
        }
    }
}

/// The years a text names: four digits from 1990 to 2099 standing alone ("2023",
/// "2023年", "fiscal 2022"), not inside a longer number.
pub(crate) fn years_in(text: &str) -> Vec<i32> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= b.len() {
        let four = b[i..i + 4].iter().all(u8::is_ascii_digit);
        let alone = (i == 0 || !b[i - 1].is_ascii_digit())
            && b.get(i + 4).is_none_or(|c| !c.is_ascii_digit());
        if four && alone {
            let y: i32 = text[i..i + 4].parse().unwrap_or(0);
            if (1990..2100).contains(&y) && !out.contains(&y) {
                out.push(y);
            }
            i += 4;
        } else {
            i += 1;
        }
    }
    out
}

/// The sentence (or line) of `text` around bytes `start..end`.
fn sentence_of(text: &str, start: usize, end: usize) -> &str {
    let is_end = |c: char| matches!(c, '\n' | '。' | ';' | '；' | '!' | '?' | '！' | '？');
    let from = text[..start]
        .char_indices()
        .rev()
        .find(|&(i, c)| is_end(c) || (c == '.' && text[i + 1..].starts_with(' ')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let to = text[end..]
        .char_indices()
        .find(|&(i, c)| is_end(c) || (c == '.' && text[end + i + 1..].starts_with(' ')))
        .map_or(text.len(), |(i, _)| end + i);
    &text[from..to]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_lines_give_scale_and_currency() {
        assert_eq!(
            unit_scale("(In millions, except per share amounts)"),
            (Some(1e6), None)
        );
        assert_eq!(
            unit_scale("(Dollars in thousands, except per share data)"),
            (Some(1e3), Some(Currency::Usd))
        );
        assert_eq!(
            unit_scale("单位：人民币万元"),
            (Some(1e4), Some(Currency::Cny))
        );
        assert_eq!(
            unit_scale("单位：元 币种：人民币"),
            (Some(1.0), Some(Currency::Cny))
        );
        assert_eq!(
            unit_scale("($ and shares in millions)"),
            (Some(1e6), Some(Currency::Usd))
        );
    }

    #[test]
    fn years_a_sentence_names() {
        assert_eq!(
            years_in("Revenue in fiscal 2023 rose from 2022's"),
            vec![2023, 2022]
        );
        assert_eq!(years_in("2023年营业收入12,345万元"), vec![2023]);
        assert!(years_in("$12,023 million; 20231 items; 1,985").is_empty());
    }

    #[test]
    fn sentences_around_a_figure() {
        let t = "Revenue grew. Capex was 0.66 of revenue; margins fell.\nNext";
        let at = t.find("0.66").unwrap();
        assert_eq!(sentence_of(t, at, at + 4), " Capex was 0.66 of revenue");
    }

    /// A document with one statement table: a value of the prior year's column, said
    /// of the year the sentence names, is that period's slip; said of no year, or of
    /// both, it verifies.
    #[test]
    fn values_of_another_period_in_the_same_row() {
        use crate::ingest::{Block, BlockKind, Document, Format};
        let cells: Vec<Vec<String>> = [
            vec!["(In millions)"],
            vec!["", "2023", "2022"],
            vec!["Total revenue", "$ 5,050", "$ 4,905"],
        ]
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
        let mut table = Block::new(
            BlockKind::Table,
            cells
                .iter()
                .map(|r| r.join("\t"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        table.cells = Some(cells);
        table.unit = Some("(In millions)".into());
        table.page = Some(7);
        let doc = Document {
            source: "x.pdf".into(),
            name: "x.pdf".into(),
            format: Format::Pdf,
            pages: Some(7),
            blocks: vec![table],
            fallback_pages: Vec::new(),
            no_text_pages: Vec::new(),
        };
        let status = |out: &str| check_document(&doc, out).findings.last().unwrap().status;
        assert_eq!(
            status("Total revenue in 2023 was $4.905 billion."),
            Status::Mismatch
        );
        assert_eq!(
            status("Total revenue in 2023 was $5.05 billion."),
            Status::Verified
        );
        assert_eq!(
            status("Total revenue was $4.905 billion."),
            Status::Verified
        );
        assert_eq!(
            status("Total revenue rose from 2022 to 2023, from $4.905 billion."),
            Status::Verified
        );
    }
}
