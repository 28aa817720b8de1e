//! Figure fidelity: every figure of an output (summary, translation) checked
//! against the figures of its source.

use serde::{Deserialize, Serialize};

use super::classify::{classify, implied_scales, Status};
use super::extract::find_figures;
use super::figure::{Currency, Figure, FigureKind, Span};

/// The source figure an output figure was matched to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    pub text: String,
    pub span: Span,
    pub value: f64,
    pub kind: FigureKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

impl From<&Figure> for SourceRef {
    fn from(f: &Figure) -> Self {
        Self {
            text: f.text.clone(),
            span: f.span,
            value: f.value,
            kind: f.kind,
            currency: f.currency,
        }
    }
}

/// One output figure and what the checker found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    #[serde(flatten)]
    pub figure: Figure,
    pub status: Status,
    /// The source figure it was matched to (verified, approximate, mismatch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<SourceRef>,
    /// Why, in words: "off by a factor of 10^1 from the source's US$843.1 million".
    pub reason: String,
}

/// How many output figures fell in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub verified: usize,
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

/// Check every figure in `output` against the figures in `source`.
pub fn check_numbers(source: &str, output: &str) -> NumberReport {
    let sources = find_figures(source);
    let implied = implied_scales(source);
    let findings: Vec<Finding> = find_figures(output)
        .into_iter()
        .map(|figure| {
            let v = classify(&figure, &sources, &implied);
            Finding {
                figure,
                status: v.status,
                matched: v.matched.map(|i| SourceRef::from(&sources[i])),
                reason: v.reason,
            }
        })
        .collect();
    let summary = Summary::count(&findings);
    NumberReport { findings, summary }
}
