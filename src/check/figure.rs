//! The data a figure carries once found and normalised.

use serde::{Deserialize, Serialize};

/// What a figure measures; only figures of a comparable kind are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureKind {
    /// Money: a currency was written next to it.
    Amount,
    /// `29.9%`, `29.9％`, `百分之29.9`.
    Percent,
    /// Percentage points: `3.5个百分点`, `3.5 percentage points`, `350 bps` (value in points).
    Points,
    /// A year, quarter or calendar date; value is `yyyymmdd` with unknown parts as 0.
    Date,
    /// A number of things with a unit: users, minutes, shares.
    Count,
    /// A number with no currency, percent sign or unit (table cells, scaled numbers).
    Plain,
}

impl FigureKind {
    /// Amounts, counts and plain numbers are all magnitudes and may be compared
    /// with each other (a table cell carries its currency in the column header).
    pub fn is_magnitude(self) -> bool {
        matches!(self, Self::Amount | Self::Count | Self::Plain)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Cny,
    Usd,
    Hkd,
    Eur,
    Gbp,
    Jpy,
}

/// Units of counted things, normalised across languages (`用户`, `人` and `users` are people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    People,
    /// Hours are converted to minutes so `2小时` matches `120 minutes`.
    Minutes,
    Days,
    Shares,
    Stores,
}

/// Where a figure sits in its text: byte offsets for Rust, char offsets for the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub char_start: usize,
    pub char_end: usize,
}

/// The parts of a date the text states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DateParts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarter: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<u8>,
}

impl DateParts {
    /// `yyyymmdd` with unknown parts as 0 (a quarter becomes its last month).
    pub fn value(&self) -> f64 {
        let month = self.month.or(self.quarter.map(|q| q * 3)).unwrap_or(0);
        f64::from(self.year.unwrap_or(0)) * 10_000.0
            + f64::from(month) * 100.0
            + f64::from(self.day.unwrap_or(0))
    }
}

/// The metric a figure is about, read from the words around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// Canonical name, e.g. `net_loss`, `revenue`, `gross_margin`.
    pub name: String,
    /// Metrics that share a family are comparable (`net_loss` and `net_profit` are `net_result`).
    pub family: String,
}

/// One figure found in a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// The figure as written, including its currency, scale word and unit.
    pub text: String,
    pub span: Span,
    /// Normalised value: currency units, percent, percentage points, people, minutes;
    /// negative when written negative (minus sign or brackets). Dates: `yyyymmdd`.
    pub value: f64,
    pub kind: FigureKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// Half a unit of the last digit shown, in value units: "61.3亿" is ± 0.05亿 = 5e6.
    pub tolerance: f64,
    /// Half a unit of the last digit written, trailing zeros included: "$300 million"
    /// is ± 50 million as a rounding but ± 0.5 million as written, and a source's
    /// "$300.1 million" is that figure, not a coarse neighbour.
    #[serde(default)]
    pub written_tolerance: f64,
    /// Significant digits shown (trailing zeros of an integer do not count).
    pub significant: u8,
    /// Whether a scale word (million, 亿 ...) was written.
    pub scaled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<DateParts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// The words around it make it negative although it is written positive:
    /// a loss (`net loss of RMB608.1 million`) or a decrease (`下降5%`).
    pub context_negative: bool,
    /// A direction word (increase, narrowed, 增长, 收窄) says which way a change went.
    /// Without one, a change is a magnitude: "61%" agrees with "narrowing by 61%".
    #[serde(default)]
    pub stated_direction: bool,
    /// Written in brackets as accounting tables print negatives (`(1,577)`): the sign
    /// is the table's convention (outflows, deductions), not a claim about direction.
    #[serde(default)]
    pub bracketed: bool,
}

impl Figure {
    /// The value with the sign its context gives it: a net loss of 608.1 is -608.1.
    pub fn signed_value(&self) -> f64 {
        if self.context_negative && self.value > 0.0 {
            -self.value
        } else {
            self.value
        }
    }
}
