//! Document -> key figures: the headline numbers of a financial report (revenue, net
//! income, diluted EPS, operating cash flow, ...) read straight off its own primary
//! statement tables, as printed. No model is involved, so every figure here is one the
//! reader can find on the page named beside it.
//!
//! How a figure is found:
//! 1. every table block becomes a table: its header row parsed into columns (period
//!    length, end date, whether the column holds ratios such as "% of sales" or
//!    "Inc/(Dec)"); a header the reading order put outside the table (a line of dates
//!    just above it, "2023 2022" below it) is taken back; a header-less block right under
//!    a table on the same page with the same width (the per-share lines split off a
//!    statement) is joined to it;
//! 2. each table is scored as an income statement, cash-flow statement and balance sheet
//!    from its title (the short blocks around it) and the kinds of rows it has; titles of
//!    non-GAAP reconciliations, segment and quarterly-data notes count against it;
//! 3. per metric, the best-scoring table of that metric's statement that has a row for it
//!    (the total over a sub-total: "Total revenues" over "Net sales"; the line attributable
//!    to the company over the consolidated one);
//! 4. in that table, the main column (the shortest period printed, then the latest date:
//!    the quarter in a 10-Q, not the year-to-date; the latest year in a 10-K whichever
//!    way its columns run) and its comparison column (same length, a year earlier).
//!
//! Labels are matched in English and Chinese (营业收入, 归属于母公司所有者的净利润,
//! 经营活动产生的现金流量净额, 货币资金 ...). Nothing here knows any one company.

use std::cmp::Reverse;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::ingest::{BlockKind, Document};

/// The headline metrics an analyst looks for first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyMetric {
    /// Total revenue (net sales, 营业总收入).
    Revenue,
    GrossProfit,
    /// Gross margin as printed: a "gross margin %" row, or the gross-profit line of a
    /// percent-of-revenue column.
    GrossMargin,
    /// Operating income (loss).
    OperatingIncome,
    /// Net income (loss) attributable to the company where the statement prints both.
    NetIncome,
    /// Diluted earnings per share.
    DilutedEps,
    /// Net cash provided by (used in) operating activities.
    OperatingCashFlow,
    /// Purchases of property and equipment, as printed (usually negative).
    CapitalExpenditures,
    /// Cash and cash equivalents on the balance sheet.
    CashAndEquivalents,
}

impl KeyMetric {
    pub const ALL: [KeyMetric; 9] = [
        KeyMetric::Revenue,
        KeyMetric::GrossProfit,
        KeyMetric::GrossMargin,
        KeyMetric::OperatingIncome,
        KeyMetric::NetIncome,
        KeyMetric::DilutedEps,
        KeyMetric::OperatingCashFlow,
        KeyMetric::CapitalExpenditures,
        KeyMetric::CashAndEquivalents,
    ];

    /// The serde name (`net_income`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMetric::Revenue => "revenue",
            KeyMetric::GrossProfit => "gross_profit",
            KeyMetric::GrossMargin => "gross_margin",
            KeyMetric::OperatingIncome => "operating_income",
            KeyMetric::NetIncome => "net_income",
            KeyMetric::DilutedEps => "diluted_eps",
            KeyMetric::OperatingCashFlow => "operating_cash_flow",
            KeyMetric::CapitalExpenditures => "capital_expenditures",
            KeyMetric::CashAndEquivalents => "cash_and_equivalents",
        }
    }

    /// A name for people ("Diluted EPS").
    pub fn name(self) -> &'static str {
        match self {
            KeyMetric::Revenue => "Revenue",
            KeyMetric::GrossProfit => "Gross profit",
            KeyMetric::GrossMargin => "Gross margin",
            KeyMetric::OperatingIncome => "Operating income",
            KeyMetric::NetIncome => "Net income",
            KeyMetric::DilutedEps => "Diluted EPS",
            KeyMetric::OperatingCashFlow => "Operating cash flow",
            KeyMetric::CapitalExpenditures => "Capital expenditures",
            KeyMetric::CashAndEquivalents => "Cash and cash equivalents",
        }
    }

    fn statement(self) -> Statement {
        match self {
            KeyMetric::Revenue
            | KeyMetric::GrossProfit
            | KeyMetric::GrossMargin
            | KeyMetric::OperatingIncome
            | KeyMetric::NetIncome
            | KeyMetric::DilutedEps => Statement::Income,
            KeyMetric::OperatingCashFlow | KeyMetric::CapitalExpenditures => Statement::CashFlow,
            KeyMetric::CashAndEquivalents => Statement::Balance,
        }
    }
}

impl std::fmt::Display for KeyMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One headline figure, as printed in the source, with where it was printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyFigure {
    pub metric: KeyMetric,
    /// The row label as printed.
    pub label: String,
    /// The column header of the main period.
    pub period: String,
    /// The cell as printed (`$ 8,187,301`, `(2,758)`).
    pub value: String,
    pub prior_period: Option<String>,
    pub prior_value: Option<String>,
    /// Change vs the prior period, computed from the two cells ("+3.5%", "−45.2%"),
    /// None when not computable (a sign change, a zero, a placeholder). Two negative
    /// cells compare their magnitudes: capex of (8,796) against (7,419) is "+18.6%".
    /// Percentages (gross margin) change in points: "−1.1 pp".
    pub change: Option<String>,
    /// The table's unit line.
    pub unit: Option<String>,
    pub page: Option<u32>,
    /// Index of the table block in `doc.blocks`.
    pub block: usize,
}

/// The key figures of `doc`: at most one row per metric, in [`KeyMetric::ALL`] order.
/// Empty for documents without financial statements.
pub fn key_figures(doc: &Document) -> Vec<KeyFigure> {
    let tables = tables(doc);
    let mut out = Vec::new();
    for metric in KeyMetric::ALL {
        let found = match metric {
            KeyMetric::GrossMargin => gross_margin(&tables, &out),
            _ => best(&tables, metric),
        };
        out.extend(found);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Tables

/// A column's end date: (year, month, day), 0 where not printed.
type Date = (i32, u8, u8);

#[derive(Debug, Clone)]
struct Column {
    /// The header as shown in a figure: the printed header, completed with a spanning
    /// header or year printed elsewhere in the header row.
    period: String,
    end: Option<Date>,
    /// The length of the period in days (91 for a quarter), None for a point in time.
    days: Option<u32>,
    /// Ratios, changes or percentages, never a period's amount.
    ratio: bool,
}

#[derive(Debug, Clone)]
struct Row {
    /// As printed, trimmed.
    label: String,
    /// Normalised for matching: see [`key`].
    key: String,
    /// Lower-cased label with its parentheses kept ("(Basic/Diluted)").
    lower: String,
    /// Value cells, one per column (missing cells empty).
    cells: Vec<String>,
    block: usize,
    page: Option<u32>,
    /// The key of the last label-only row above ("earnings per share").
    section: String,
}

#[derive(Debug)]
struct Table {
    block: usize,
    last_block: usize,
    page: Option<u32>,
    unit: Option<String>,
    columns: Vec<Column>,
    rows: Vec<Row>,
    /// Lower-cased text of the short blocks just before the table on its page.
    before: String,
    /// The same just after it (a title the reading order put below its table).
    after: String,
    /// The main and comparison columns, once the columns are known.
    main: Option<usize>,
    prior: Option<usize>,
    /// [`score`] for each [`Statement`], once the rows are known.
    scores: [i32; 3],
}

impl Table {
    /// Table block `i` with these columns and no rows yet.
    fn new(doc: &Document, i: usize, columns: Vec<Column>) -> Self {
        let b = &doc.blocks[i];
        Table {
            block: i,
            last_block: i,
            page: b.page,
            unit: b.unit.clone(),
            columns,
            rows: Vec::new(),
            before: context(doc, i, false),
            after: context(doc, i, true),
            main: None,
            prior: None,
            scores: [0; 3],
        }
    }
}

/// Every table of `doc` with a header (printed in it or as a line of dates above it),
/// header-less continuations joined to the table above.
fn tables(doc: &Document) -> Vec<Table> {
    let mut out: Vec<Table> = Vec::new();
    for (i, b) in doc.blocks.iter().enumerate() {
        if b.kind != BlockKind::Table {
            continue;
        }
        let Some(cells) = &b.cells else { continue };
        let mut start = 0;
        if cells.first().is_some_and(|r| r.len() == 1)
            && b.unit
                .as_deref()
                .is_some_and(|u| u.trim() == cells[0][0].trim())
        {
            start = 1;
        }
        let body_of = |from: usize| &cells[from.min(cells.len())..];
        match cells.get(start).filter(|r| is_header(r)) {
            Some(header) => {
                let mut t = Table::new(doc, i, columns(header));
                push_rows(&mut t, body_of(start + 1), i, b.page);
                out.push(t);
            }
            None => {
                // A header-less block right under a table on the same page, as wide as it:
                // the rest of that table (a statement's per-share lines split off it).
                let body = body_of(start);
                let width = body.iter().map(Vec::len).max().unwrap_or(0);
                if let Some(t) = out.last_mut() {
                    let near = i - t.last_block <= 2 && b.page == t.page;
                    if near && width == t.columns.len() + 1 && b.unit.is_none() {
                        push_rows(t, body, i, b.page);
                        t.last_block = i;
                        continue;
                    }
                }
                // Its header printed as a line of dates above it.
                let above = (i.saturating_sub(4)..i).rev();
                let above = above.take_while(|&j| doc.blocks[j].kind != BlockKind::Table);
                if let Some(header) = displaced_header(doc, b.page, width.saturating_sub(1), above)
                {
                    let mut t = Table::new(doc, i, displaced_columns(header));
                    push_rows(&mut t, body, i, b.page);
                    out.push(t);
                }
            }
        }
    }
    for t in &mut out {
        mark_ratio_columns(t);
        recover_displaced_header(doc, t);
        inherit_lengths(&mut t.columns);
        (t.main, t.prior) = main_and_prior(&t.columns);
        t.scores = Statement::ALL.map(|s| score(t, s));
    }
    out
}

fn push_rows(t: &mut Table, body: &[Vec<String>], block: usize, page: Option<u32>) {
    let n = t.columns.len();
    let mut section = t.rows.last().map(|r| r.section.clone()).unwrap_or_default();
    let mut wrapped: Option<String> = None;
    for r in body {
        let Some(label) = r.first() else { continue };
        let label = label.trim();
        let cells: Vec<String> = (0..n)
            .map(|j| {
                r.get(j + 1)
                    .map(|c| c.trim().to_string())
                    .unwrap_or_default()
            })
            .collect();
        if cells.iter().all(|c| c.is_empty()) {
            if !label.is_empty() {
                // "NET INCOME PER COMMON SHARE ATTRIBUTABLE TO" / "COSTCO:": one label
                // wrapped over two rows.
                section = match wrapped.take() {
                    Some(first) => key(&format!("{first} {label}")),
                    None => key(label),
                };
                if !label.ends_with(':') {
                    wrapped = Some(label.to_string());
                }
            }
            continue;
        }
        wrapped = None;
        t.rows.push(Row {
            label: label.to_string(),
            key: key(label),
            lower: label.to_lowercase(),
            cells,
            block,
            page,
            section: section.clone(),
        });
    }
}

/// The lower-cased text of up to four non-table blocks before (or two after) table `i`
/// on its page: where a statement's title is.
fn context(doc: &Document, i: usize, after: bool) -> String {
    let page = doc.blocks[i].page;
    let mut parts = Vec::new();
    let range: Box<dyn Iterator<Item = usize>> = if after {
        Box::new(i + 1..doc.blocks.len())
    } else {
        Box::new((0..i).rev())
    };
    for j in range.take(if after { 2 } else { 4 }) {
        let b = &doc.blocks[j];
        if b.kind == BlockKind::Table || b.page != page {
            break;
        }
        if b.text.chars().count() <= 200 {
            parts.push(b.text.to_lowercase());
        }
    }
    parts.join(" \n ")
}

fn is_header(row: &[String]) -> bool {
    let values = row.get(1..).unwrap_or_default();
    values.iter().any(|c| !c.trim().is_empty())
        && values.iter().all(|c| {
            let c = c.trim();
            c.is_empty()
                || c.chars().any(char::is_alphabetic)
                || is_year(c)
                || SLASH_DATE.is_match(c)
        })
}

fn is_year(s: &str) -> bool {
    s.len() == 4
        && (s.starts_with("19") || s.starts_with("20"))
        && s.bytes().all(|b| b.is_ascii_digit())
}

fn columns(header: &[String]) -> Vec<Column> {
    let stub = clean_header(&header[0]);
    let stub_year = is_year(&stub);
    let stub_period = !stub_year && period_days(&stub).is_some();
    header[1..]
        .iter()
        .map(|h| {
            let raw = clean_header(h);
            let ratio = is_ratio_header(&raw);
            let mut period = raw.clone();
            if stub_year && last_date(&raw).is_none() && !raw.is_empty() {
                // "2016" printed left of "52 Weeks Ended August 28,".
                period = format!("{raw} {stub}");
            } else if stub_period && !ratio && !raw.is_empty() {
                // "Quarters Ended June 30," spanning "2023" and "2022".
                period = format!("{stub} {raw}");
            }
            let end = last_date(&period)
                .map(|(d, _)| d)
                .or_else(|| relative_period(&period));
            Column {
                days: period_days(&period),
                end,
                ratio,
                period,
            }
        })
        .collect()
}

fn clean_header(s: &str) -> String {
    static NOISE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\((?:un)?audited\)").unwrap());
    let s = NOISE.replace_all(s, " ");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_ratio_header(h: &str) -> bool {
    static CHANGE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^(?:inc\b|inc/|incr|increase|decrease|decr|change|chg|variance|var\b|growth|b/\(w\)|better|favou?rable|y/y|yoy)").unwrap()
    });
    let l = h.to_lowercase();
    l.contains('%')
        || ((l.contains("percent") || l.contains("percentage")) && !l.contains("amount"))
        || CHANGE.is_match(&l)
        || ["增减", "变动", "比例", "占比", "同比", "比上年"]
            .iter()
            .any(|w| l.contains(w))
}

/// Columns of ratios found from their cells: mostly `%` values, or 100 on the revenue line
/// (a percent-of-revenue column printed without `%` signs).
fn mark_ratio_columns(t: &mut Table) {
    let revenue = t.rows.iter().find(|r| revenue_priority(&r.key).is_some());
    for (j, col) in t.columns.iter_mut().enumerate() {
        if col.ratio {
            continue;
        }
        let cells: Vec<&str> = t
            .rows
            .iter()
            .map(|r| r.cells[j].as_str())
            .filter(|c| !c.is_empty())
            .collect();
        let percents = cells
            .iter()
            .filter(|c| c.ends_with('%') || c.ends_with("%)"))
            .count();
        let hundred =
            revenue.is_some_and(|r| amount(&r.cells[j]).is_some_and(|a| a.value == 100.0));
        if (!cells.is_empty() && percents * 2 >= cells.len()) || hundred {
            col.ratio = true;
        }
    }
}

/// A header printed outside its table (the reading order put "FIRST QUARTER" and
/// "2023 2022" below the statement): when no column has a date, a header line on the same
/// page with as many dates as the table has amount columns dates them.
fn recover_displaced_header(doc: &Document, t: &mut Table) {
    if t.columns.iter().any(|c| c.end.is_some()) {
        return;
    }
    let amount_cols: Vec<usize> = (0..t.columns.len())
        .filter(|&j| !t.columns[j].ratio)
        .collect();
    let before = (t.block.saturating_sub(4)..t.block).rev();
    let after = t.last_block + 1..(t.last_block + 13).min(doc.blocks.len());
    let Some(header) = displaced_header(doc, t.page, amount_cols.len(), before.chain(after)) else {
        return;
    };
    for (&c, col) in amount_cols.iter().zip(displaced_columns(header)) {
        t.columns[c] = col;
    }
}

/// "12 Weeks Ended 6/17/2023" spanning "6/11/2022": a dated column without a length takes
/// its left neighbour's length and the words before that neighbour's date.
fn inherit_lengths(columns: &mut [Column]) {
    for j in 1..columns.len() {
        if columns[j].ratio || columns[j].days.is_some() || columns[j].end.is_none() {
            continue;
        }
        let Some(left) = columns[..j].iter().rev().find(|c| !c.ratio) else {
            continue;
        };
        let Some(days) = left.days else { continue };
        let prefix = last_date(&left.period)
            .map(|(_, at)| left.period[..at].trim().to_string())
            .unwrap_or_default();
        let col = &mut columns[j];
        col.days = Some(days);
        if !prefix.is_empty() && period_days(&col.period).is_none() {
            col.period = format!("{prefix} {}", col.period);
        }
    }
}

/// The main column (shortest period, then latest end; leftmost on ties) and its
/// comparison (same length, earlier end: a year before when printed, else the latest).
/// Without any date, the first two amount columns of the same length.
fn main_and_prior(columns: &[Column]) -> (Option<usize>, Option<usize>) {
    let dated = columns.iter().any(|c| !c.ratio && c.end.is_some());
    let eligible: Vec<usize> = (0..columns.len())
        .filter(|&j| !columns[j].ratio && (!dated || columns[j].end.is_some()))
        .collect();
    if eligible.is_empty() {
        return (None, None);
    }
    let bucket = |j: usize| columns[j].days.map(|d| (d + 15) / 30);
    // Shortest first, a point in time (a balance-sheet date) after any length.
    let shortest = eligible
        .iter()
        .map(|&j| bucket(j).unwrap_or(u32::MAX))
        .min();
    let same: Vec<usize> = eligible
        .iter()
        .copied()
        .filter(|&j| Some(bucket(j).unwrap_or(u32::MAX)) == shortest)
        .collect();
    if !dated {
        return (same.first().copied(), same.get(1).copied());
    }
    let end = |j: usize| columns[j].end.unwrap_or_default();
    let main = *same
        .iter()
        .min_by_key(|&&j| (Reverse(end(j)), j))
        .expect("not empty");
    let earlier: Vec<usize> = same
        .iter()
        .copied()
        .filter(|&j| end(j) < end(main))
        .collect();
    let prior = earlier
        .iter()
        .copied()
        .filter(|&j| end(j).0 == end(main).0 - 1)
        .min_by_key(|&j| (Reverse(end(j)), j))
        .or_else(|| {
            earlier
                .iter()
                .copied()
                .min_by_key(|&j| (Reverse(end(j)), j))
        });
    (Some(main), prior)
}

// ---------------------------------------------------------------------------------------
// Periods and dates

static SLASH_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{1,2}/\d{1,2}/(?:19|20)\d\d$").unwrap());

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month_number(name: &str) -> u8 {
    let l = name.to_lowercase();
    MONTHS
        .iter()
        .position(|m| l.starts_with(m))
        .map_or(0, |i| i as u8 + 1)
}

/// The dates printed in a text, in order: (date, start, end) byte ranges. A bare year
/// inside a full date is part of it.
fn all_dates(s: &str) -> Vec<(Date, usize, usize)> {
    static PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        let m = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?";
        [
            format!(r"(?i)\b{m}\s+(\d{{1,2}}),?\s+((?:19|20)\d\d)(?-u:\b)"),
            format!(r"(?i)\b(\d{{1,2}})\s+{m},?\s+((?:19|20)\d\d)(?-u:\b)"),
            r"(?-u:\b)(\d{1,2})/(\d{1,2})/((?:19|20)\d\d)(?-u:\b)".to_string(),
            r"((?:19|20)\d\d)\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*日)?".to_string(),
            r"(?-u:\b)((?:19|20)\d\d)(?-u:\b)".to_string(),
        ]
        .iter()
        .map(|p| Regex::new(p).unwrap())
        .collect()
    });
    let mut found: Vec<(Date, usize, usize)> = Vec::new();
    for (k, re) in PATTERNS.iter().enumerate() {
        for c in re.captures_iter(s) {
            let all = c.get(0).unwrap();
            let num = |i: usize| {
                c.get(i)
                    .and_then(|m| m.as_str().parse::<i64>().ok())
                    .unwrap_or(0)
            };
            let date = match k {
                0 => (num(3) as i32, month_number(&c[1]), num(2) as u8),
                1 => (num(3) as i32, month_number(&c[2]), num(1) as u8),
                2 => (num(3) as i32, num(1) as u8, num(2) as u8),
                3 => (num(1) as i32, num(2) as u8, num(3) as u8),
                _ => (num(1) as i32, 0, 0),
            };
            let (a, b) = (all.start(), all.end());
            if !found.iter().any(|&(_, s0, e0)| a < e0 && b > s0) {
                found.push((date, a, b));
            }
        }
    }
    found.sort_by_key(|&(_, a, _)| a);
    found
}

/// The last date printed in a header, with the byte offset where it starts.
fn last_date(s: &str) -> Option<(Date, usize)> {
    all_dates(s).last().map(|&(d, a, _)| (d, a))
}

/// A header line the reading order put outside its table ("Twelve Months Ended January
/// 28, 2023 January 29, 2022"; "2023 2022"): optional period words, then only dates.
/// Gives each date's column header, the period words before it.
fn header_line(text: &str) -> Option<Vec<(String, Date)>> {
    let text = text.trim();
    let dates = all_dates(text);
    if dates.len() < 2 || text.chars().count() > 160 {
        return None;
    }
    let prefix = text[..dates[0].1].trim();
    let words = prefix.to_lowercase();
    if !(prefix.is_empty() || period_days(prefix).is_some() || words.starts_with("as of")) {
        return None;
    }
    let joined = dates
        .windows(2)
        .all(|w| matches!(text[w[0].2..w[1].1].trim(), "" | "," | "and" | "&" | "|"));
    if !joined || !text[dates.last().unwrap().2..].trim().is_empty() {
        return None;
    }
    Some(
        dates
            .iter()
            .map(|&(d, a, b)| (format!("{prefix} {}", &text[a..b]).trim().to_string(), d))
            .collect(),
    )
}

/// The first header line for `n` columns among blocks `near` (same page, not tables),
/// with the period words of the block just above it when it has none ("FIRST QUARTER"
/// above "2023 2022").
fn displaced_header(
    doc: &Document,
    page: Option<u32>,
    n: usize,
    near: impl Iterator<Item = usize>,
) -> Option<Vec<(String, Date)>> {
    for j in near {
        let b = &doc.blocks[j];
        if b.kind == BlockKind::Table || b.page != page {
            continue;
        }
        let Some(mut header) = header_line(&b.text).filter(|h| h.len() == n) else {
            continue;
        };
        let above = j
            .checked_sub(1)
            .map(|p| &doc.blocks[p])
            .filter(|p| p.kind != BlockKind::Table && p.page == page)
            .map(|p| p.text.trim())
            .filter(|p| {
                p.chars().count() <= 40 && period_days(p).is_some() && all_dates(p).is_empty()
            });
        if let Some(above) = above {
            if header.iter().all(|(h, _)| period_days(h).is_none()) {
                for (h, _) in &mut header {
                    *h = format!("{above} {h}");
                }
            }
        }
        return Some(header);
    }
    None
}

fn displaced_columns(header: Vec<(String, Date)>) -> Vec<Column> {
    header
        .into_iter()
        .map(|(period, end)| Column {
            days: period_days(&period),
            end: Some(end),
            ratio: false,
            period,
        })
        .collect()
}

/// Current / prior period words of Chinese statements without dates (本期金额, 上期金额).
fn relative_period(s: &str) -> Option<Date> {
    if ["本期", "本年", "期末", "本季", "本报告期"]
        .iter()
        .any(|w| s.contains(w))
    {
        Some((2, 0, 0))
    } else if ["上期", "上年", "期初", "上季", "年初"]
        .iter()
        .any(|w| s.contains(w))
    {
        Some((1, 0, 0))
    } else {
        None
    }
}

/// The length of the period a header names, in days.
fn period_days(s: &str) -> Option<u32> {
    static N_UNITS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|twenty-four|twenty-six|thirty-six|thirty-nine|fifty-two|fifty-three)[\s-]+(weeks?|months?)\b").unwrap()
    });
    static QUARTER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)quarter|\bqtr\b|\bq[1-4]\b|季度|本季|上季").unwrap());
    static HALF: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\bhalf[- ]year|\b[12]h\b|半年").unwrap());
    static CN_MONTHS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(\d{1,2})\s*[-–—~至]\s*(\d{1,2})\s*月").unwrap());
    static YEAR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\byears?\b|\bfiscal\b|\bannual|年度|全年|本年|上年").unwrap()
    });
    if let Some(c) = N_UNITS.captures(s) {
        let n = match c[1].to_lowercase().as_str() {
            "one" => 1,
            "two" => 2,
            "three" => 3,
            "four" => 4,
            "five" => 5,
            "six" => 6,
            "seven" => 7,
            "eight" => 8,
            "nine" => 9,
            "ten" => 10,
            "eleven" => 11,
            "twelve" => 12,
            "thirteen" => 13,
            "twenty-four" => 24,
            "twenty-six" => 26,
            "thirty-six" => 36,
            "thirty-nine" => 39,
            "fifty-two" => 52,
            "fifty-three" => 53,
            d => d.parse().unwrap_or(0),
        };
        let unit = if c[2].to_lowercase().starts_with("week") {
            7
        } else {
            30
        };
        return (n > 0).then_some(n * unit);
    }
    if QUARTER.is_match(s) {
        return Some(91);
    }
    if HALF.is_match(s) {
        return Some(182);
    }
    if let Some(c) = CN_MONTHS.captures(s) {
        let (a, b): (u32, u32) = (c[1].parse().ok()?, c[2].parse().ok()?);
        return (b >= a).then_some((b - a + 1) * 30);
    }
    YEAR.is_match(s).then_some(365)
}

// ---------------------------------------------------------------------------------------
// Row labels

/// A label normalised for matching: lower case, footnote marks and parentheses
/// ("(loss)", "(used in)", "（净亏损以“－”号填列）") and leading ordinals ("一、", "加：")
/// removed, spaces collapsed, trailing punctuation dropped.
fn key(label: &str) -> String {
    static PARENS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"/?\s*\([^()]*\)|（[^（）]*）").unwrap());
    static LEADING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]+[）)]|\d{1,2}[、．]|加[:：]|减[:：]|其中[:：]|less[:：]?\s|add[:：]?\s|plus[:：]?\s)\s*").unwrap()
    });
    // "1.归属于..." but not "3.375% Notes".
    static NUMBERED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\d{1,2}\.\s*([^\d.])").unwrap());
    let lower: String = label
        .to_lowercase()
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{2013}' | '\u{2014}' | '\u{2212}' => '-',
            '\u{a0}' => ' ',
            _ => c,
        })
        .filter(|c| {
            !matches!(
                c,
                '¹' | '²' | '³' | '⁴' | '⁵' | '⁶' | '⁷' | '⁸' | '⁹' | '⁰' | '*' | '†' | '‡'
            )
        })
        .collect();
    let mut s = lower;
    loop {
        let next = PARENS.replace_all(&s, " ").into_owned();
        if next == s {
            break;
        }
        s = next;
    }
    let mut s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    loop {
        let next = LEADING.replace(&s, "");
        let next = NUMBERED.replace(&next, "$1").into_owned();
        if next == s {
            break;
        }
        s = next;
    }
    s.trim_end_matches([',', ':', ';', '：', '.', ' '])
        .trim()
        .to_string()
}

fn per_share(s: &str) -> bool {
    s.contains("per share")
        || s.contains("per common share")
        || s.contains("per diluted share")
        || s.contains("per basic share")
        || s.contains("per ordinary share")
        || s.contains("每股")
}

fn revenue_priority(k: &str) -> Option<u8> {
    static TOTAL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^total (?:net )?(?:operating )?(?:revenues?|sales|net sales|sales and (?:other )?revenues?)$|^(?:营业总收入|营业收入合计)$").unwrap()
    });
    static PLAIN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:net )?(?:operating )?(?:revenues?|sales)$|^revenues?, net$|^net sales and (?:other )?revenues?$|^sales to customers$|^turnover$|^营业收入$").unwrap()
    });
    if TOTAL.is_match(k) {
        Some(3)
    } else if PLAIN.is_match(k) {
        Some(2)
    } else {
        None
    }
}

/// A metric's priority for a row (higher wins within a table), None when the row is not
/// that metric.
fn priority(metric: KeyMetric, row: &Row) -> Option<u8> {
    static GROSS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:total )?gross (?:profit|margin)$|^毛利(?:润)?$").unwrap()
    });
    static GROSS_MARGIN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^gross (?:profit )?margin (?:percentage|%|rate|ratio)$|^gross (?:profit )?margin as a percentage of (?:net )?(?:sales|revenues?)$|^毛利率$").unwrap()
    });
    static OPERATING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:total )?(?:operating (?:income|profit|earnings|loss)|(?:income|earnings|profit) from operations)$|^营业利润$").unwrap()
    });
    static NET_OWN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:consolidated )?net (?:income|earnings|profit|loss)(?: for the (?:year|period))?,? attributable to (.+)$|^归属于(?:母公司|上市公司|本公司)(?:所有者|股东|普通股股东)的净利润$").unwrap()
    });
    static NET: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:consolidated )?net (?:income|earnings|profit|loss)(?: for the (?:year|period))?$|^净利润$").unwrap()
    });
    static NET_ALL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:consolidated )?net (?:income|earnings|profit),? (?:including|before allocation to) .*(?:non-?controlling|minority)").unwrap()
    });
    static OCF: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:net |total )?cash (?:flows? )?(?:provided by |generated by |generated from |from |used in |used for |provided from )?(continuing )?(?:operating activities|operations)(?: of continuing operations)?$|^经营活动产生的现金流量净额$").unwrap()
    });
    static CAPEX: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:total )?capital (?:expenditures?|spending)$|^(?:purchases?|payments?|additions?|expenditures?|acquisitions?|investments?)(?: for| of| to| in)?(?: the)?(?: acquisition of| purchase of)? (?:property|properties|premises|land|fixed assets|capital assets|plant)|^购建固定资产").unwrap()
    });
    static CASH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:total )?cash and (?:cash )?equivalents$|^货币资金$").unwrap()
    });
    let k = row.key.as_str();
    match metric {
        KeyMetric::Revenue => revenue_priority(k),
        KeyMetric::GrossProfit => GROSS.is_match(k).then_some(2),
        KeyMetric::GrossMargin => GROSS_MARGIN.is_match(k).then_some(2),
        KeyMetric::OperatingIncome => {
            (OPERATING.is_match(k) && !k.contains("non-operating")).then_some(2)
        }
        KeyMetric::NetIncome => {
            if per_share(k) || per_share(&row.section) {
                return None;
            }
            if let Some(c) = NET_OWN.captures(k) {
                let whom = c.get(1).map_or("", |m| m.as_str());
                let minority = ["controlling", "minority", "redeemable", "participating"]
                    .iter()
                    .any(|w| whom.contains(w));
                return (!minority).then_some(3);
            }
            if NET.is_match(k) {
                Some(2)
            } else if NET_ALL.is_match(k) {
                Some(1)
            } else {
                None
            }
        }
        KeyMetric::DilutedEps => {
            let lower = row.lower.as_str();
            if lower.contains("稀释每股收益") {
                return Some(3);
            }
            let shares = |s: &str| {
                [
                    "weighted",
                    "shares used",
                    "shares outstanding",
                    "number of shares",
                ]
                .iter()
                .any(|w| s.contains(w))
            };
            if shares(k) || shares(&row.section) {
                return None;
            }
            let diluted_here = lower.contains("diluted");
            let diluted_above = row.section.contains("diluted");
            if !(diluted_here || diluted_above) || !(per_share(lower) || per_share(&row.section)) {
                return None;
            }
            // "Diluted", "Diluted net income per share", or under "Earnings per common
            // share - diluted:" the net income line (not continuing operations).
            let net_line = NET_OWN.is_match(k) || NET.is_match(k) || per_share(lower);
            Some(if diluted_here || net_line { 3 } else { 1 })
        }
        KeyMetric::OperatingCashFlow => OCF
            .captures(k)
            .map(|c| if c.get(1).is_some() { 1 } else { 2 }),
        KeyMetric::CapitalExpenditures => {
            let excluded = [
                "proceeds",
                "accrued",
                "not paid",
                "transfer",
                "sale of",
                "sales of",
                "held for sale",
            ];
            (CAPEX.is_match(k) && !excluded.iter().any(|w| k.contains(w))).then_some(2)
        }
        KeyMetric::CashAndEquivalents => CASH.is_match(k).then_some(2),
    }
}

// ---------------------------------------------------------------------------------------
// Statements

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Statement {
    Income,
    CashFlow,
    Balance,
}

impl Statement {
    const ALL: [Statement; 3] = [Statement::Income, Statement::CashFlow, Statement::Balance];
}

/// Below this a table is not taken for that statement at all.
fn threshold(s: Statement) -> i32 {
    match s {
        Statement::Income => 5,
        Statement::CashFlow => 4,
        Statement::Balance => 4,
    }
}

fn title_kind(text: &str) -> Option<Statement> {
    static INCOME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"statements? of (?:consolidated )?(?:income|operations|earnings|profit or loss)|income statements?|利润表|损益表").unwrap()
    });
    static CASH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"statements? of (?:consolidated )?cash flows?|cash flows? statements?|现金流量表",
        )
        .unwrap()
    });
    static BALANCE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"balance sheets?|statements? of (?:consolidated )?financial (?:position|condition)|资产负债表").unwrap()
    });
    let comprehensive = text.contains("comprehensive") || text.contains("综合收益表");
    if CASH.is_match(text) {
        Some(Statement::CashFlow)
    } else if BALANCE.is_match(text) {
        Some(Statement::Balance)
    } else if INCOME.is_match(text) && !comprehensive {
        Some(Statement::Income)
    } else {
        None
    }
}

/// How much `t` looks like statement `s`: the kinds of rows it has, plus its title.
fn score(t: &Table, s: Statement) -> i32 {
    let keys: Vec<&str> = t.rows.iter().map(|r| r.key.as_str()).collect();
    let any = |f: &dyn Fn(&str) -> bool| keys.iter().any(|k| f(k));
    let has = |m: KeyMetric| t.rows.iter().any(|r| priority(m, r).is_some());
    let contains = |words: &[&str]| any(&|k: &str| words.iter().any(|w| k.contains(w)));
    let features: Vec<bool> = match s {
        Statement::Income => vec![
            has(KeyMetric::Revenue),
            any(&|k: &str| {
                [
                    "cost of",
                    "costs of",
                    "costs and expenses",
                    "total costs",
                    "operating expenses",
                    "营业成本",
                    "营业总成本",
                ]
                .iter()
                .any(|w| k.starts_with(w))
            }),
            has(KeyMetric::GrossProfit),
            has(KeyMetric::OperatingIncome),
            contains(&[
                "before income tax",
                "before provision",
                "before taxes",
                "provision for",
                "income tax",
                "taxes on income",
                "利润总额",
                "所得税",
            ]),
            has(KeyMetric::NetIncome),
            t.rows
                .iter()
                .any(|r| per_share(&r.lower) || per_share(&r.section)),
            contains(&["weighted", "shares outstanding", "shares used"]),
        ],
        Statement::CashFlow => vec![
            contains(&["operating activities", "经营活动"]),
            contains(&["investing activities", "投资活动"]),
            contains(&["financing activities", "筹资活动"]),
            contains(&["depreciation", "折旧"]),
            has(KeyMetric::CapitalExpenditures),
            contains(&[
                "increase in cash",
                "decrease in cash",
                "change in cash",
                "现金及现金等价物净增加额",
            ]),
            contains(&["beginning of", "end of", "期初", "期末"]),
        ],
        Statement::Balance => vec![
            contains(&["total assets", "资产总计"]),
            contains(&["total current assets", "流动资产合计"]),
            contains(&["total liabilities", "负债合计"]),
            contains(&["total current liabilities", "流动负债合计"]),
            contains(&["equity", "所有者权益", "股东权益"]),
            has(KeyMetric::CashAndEquivalents),
            contains(&["receivable", "应收"]),
            contains(&["inventor", "存货"]),
            contains(&["property", "固定资产"]),
            contains(&["accounts payable", "应付"]),
        ],
    };
    let mut score = features.iter().filter(|&&f| f).count() as i32;
    let title = title_kind(&t.before).or_else(|| title_kind(&t.after));
    match title {
        Some(k) if k == s => score += 3,
        Some(_) => score -= 3,
        None if t.before.contains("comprehensive") && s == Statement::Income => score -= 3,
        None => {}
    }
    const NOT_PRIMARY: [&str; 12] = [
        "non-gaap",
        "non gaap",
        "reconciliation",
        "adjusted",
        "pro forma",
        "supplemental",
        "segment",
        "quarterly",
        "selected financial",
        "five-year",
        "by quarter",
        "summary",
    ];
    if NOT_PRIMARY.iter().any(|w| t.before.contains(w)) {
        score -= 4;
    }
    if any(&|k: &str| {
        k.contains("non-gaap") || k.starts_with("adjusted") || k.contains("free cash flow")
    }) {
        score -= 3;
    }
    score
}

/// The figure for `metric` from the best table of its statement that has a row for it.
fn best(tables: &[Table], metric: KeyMetric) -> Option<KeyFigure> {
    let s = metric.statement();
    // Score, then the shorter main period (a 13-week statement over the 26-week one on
    // the same page), then the earlier table.
    type Rank = (i32, Reverse<u32>, Reverse<usize>);
    let mut found: Option<(Rank, KeyFigure)> = None;
    for t in tables {
        let Some(main) = t.main else { continue };
        let sc = t.scores[s as usize];
        if sc < threshold(s) {
            continue;
        }
        let rank = (
            sc,
            Reverse(t.columns[main].days.unwrap_or(u32::MAX)),
            Reverse(t.block),
        );
        if found.as_ref().is_some_and(|(r, _)| *r >= rank) {
            continue;
        }
        let row = t
            .rows
            .iter()
            .filter(|r| has_figure(&r.cells[main]))
            .filter_map(|r| priority(metric, r).map(|p| (p, r)))
            .min_by_key(|(p, _)| Reverse(*p))
            .map(|(_, r)| r);
        if let Some(row) = row {
            found = Some((rank, figure(metric, t, row, main, t.prior)));
        }
    }
    found.map(|(_, f)| f)
}

fn has_figure(cell: &str) -> bool {
    cell.chars().any(|c| c.is_ascii_digit())
}

fn figure(metric: KeyMetric, t: &Table, row: &Row, main: usize, prior: Option<usize>) -> KeyFigure {
    let prior = prior.filter(|&p| has_figure(&row.cells[p]));
    let value = row.cells[main].clone();
    let prior_value = prior.map(|p| row.cells[p].clone());
    KeyFigure {
        metric,
        label: row.label.clone(),
        period: t.columns[main].period.clone(),
        change: prior_value
            .as_deref()
            .and_then(|p| change(&value, p, metric == KeyMetric::GrossMargin)),
        value,
        prior_period: prior.map(|p| t.columns[p].period.clone()),
        prior_value,
        unit: t.unit.clone(),
        page: row.page,
        block: row.block,
    }
}

/// Gross margin as printed: a "gross margin %" row of the income statement, else the
/// gross-profit line of the percent-of-revenue column beside the main one.
fn gross_margin(tables: &[Table], found: &[KeyFigure]) -> Option<KeyFigure> {
    if let Some(f) = best(tables, KeyMetric::GrossMargin) {
        return Some(f);
    }
    let gross = found.iter().find(|f| f.metric == KeyMetric::GrossProfit)?;
    let t = tables
        .iter()
        .find(|t| (t.block..=t.last_block).contains(&gross.block))?;
    let main = t.main?;
    let row = t
        .rows
        .iter()
        .find(|r| r.block == gross.block && r.label == gross.label)?;
    let beside = |c: usize| {
        let r = c + 1;
        (r < t.columns.len() && t.columns[r].ratio && t.columns[r].end.is_none()).then_some(r)
    };
    let revenue = t.rows.iter().find(|r| revenue_priority(&r.key).is_some())?;
    let percent_of_revenue = |c: usize| {
        amount(&revenue.cells[c]).is_some_and(|a| a.value == 100.0) && has_figure(&row.cells[c])
    };
    let m = beside(main).filter(|&c| percent_of_revenue(c))?;
    let p = t.prior.and_then(beside).filter(|&c| percent_of_revenue(c));
    let mut f = figure(KeyMetric::GrossMargin, t, row, m, p);
    f.period = t.columns[main].period.clone();
    f.prior_period = p.and(t.prior).map(|c| t.columns[c].period.clone());
    Some(f)
}

// ---------------------------------------------------------------------------------------
// Amounts and changes

/// A cell's number: `$ (1,872)` is -1872, `39.3%` is 39.3 with `percent` set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Amount {
    pub value: f64,
    pub percent: bool,
    /// Digits printed after the decimal point.
    pub decimals: usize,
}

/// Parses a cell as printed; None for placeholders ("—", "n/a", "*") and text.
pub fn amount(cell: &str) -> Option<Amount> {
    let mut s: String = cell
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, ',' | '$' | '¥' | '￥' | '€' | '£' | '*'))
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            _ => c,
        })
        .collect();
    for currency in ["USD", "US", "HKD", "HK", "RMB", "CNY", "NT", "S"] {
        if let Some(rest) = s.strip_prefix(currency) {
            if rest.starts_with(|c: char| c.is_ascii_digit() || c == '(' || c == '-') {
                s = rest.to_string();
                break;
            }
        }
    }
    let mut t = s.as_str();
    // "(1,872)", "(0.2%)"; a minus sign inside or instead of them.
    let mut negative = false;
    if let Some(inner) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        negative = true;
        t = inner;
    }
    if let Some(rest) = t.strip_prefix(['-', '−', '–']) {
        negative = !negative;
        t = rest;
    }
    let (t, percent) = match t.strip_suffix('%') {
        Some(r) => (r, true),
        None => (t, false),
    };
    let digits = t.starts_with(|c: char| c.is_ascii_digit())
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.matches('.').count() <= 1;
    if !digits {
        return None;
    }
    let value: f64 = t.parse().ok()?;
    Some(Amount {
        value: if negative { -value } else { value },
        percent,
        decimals: t.split_once('.').map_or(0, |(_, d)| d.len()),
    })
}

/// "+3.5%" / "−45.2%" from the cells as printed; in points ("−1.1 pp") for percentages.
fn change(value: &str, prior: &str, points: bool) -> Option<String> {
    let (v, p) = (amount(value)?, amount(prior)?);
    // One decimal, a real minus sign, no sign on a change that rounds to zero.
    let signed = |x: f64, suffix: &str| {
        let digits = format!("{:.1}", x.abs());
        let sign = match () {
            _ if digits == "0.0" => "",
            _ if x > 0.0 => "+",
            _ => "\u{2212}",
        };
        format!("{sign}{digits}{suffix}")
    };
    if points || (v.percent && p.percent) {
        return Some(signed(v.value - p.value, " pp"));
    }
    if p.value == 0.0 || v.value == 0.0 || (v.value < 0.0) != (p.value < 0.0) {
        return None;
    }
    Some(signed(
        (v.value.abs() - p.value.abs()) / p.value.abs() * 100.0,
        "%",
    ))
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use super::*;
    use crate::ingest::{Block, Format};

    fn table(page: u32, unit: Option<&str>, rows: &[&[&str]]) -> Block {
        let mut cells: Vec<Vec<String>> = Vec::new();
        if let Some(u) = unit {
            cells.push(vec![u.to_string()]);
        }
        cells.extend(
            rows.iter()
                .map(|r| r.iter().map(|c| c.to_string()).collect()),
        );
        let text = cells
            .iter()
            .map(|r| r.join("\t"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut b = Block::new(BlockKind::Table, text);
        b.page = Some(page);
        b.cells = Some(cells);
        b.unit = unit.map(str::to_string);
        b
    }

    fn para(page: u32, text: &str) -> Block {
        let mut b = Block::new(BlockKind::Paragraph, text);
        b.page = Some(page);
        b
    }

    fn doc(blocks: Vec<Block>) -> Document {
        Document {
            source: "test.pdf".into(),
            name: "test.pdf".into(),
            format: Format::Pdf,
            pages: Some(10),
            blocks,
            fallback_pages: vec![],
            no_text_pages: vec![],
        }
    }

    fn get(figs: &[KeyFigure], m: KeyMetric) -> &KeyFigure {
        figs.iter()
            .find(|f| f.metric == m)
            .unwrap_or_else(|| panic!("no {m} in {figs:#?}"))
    }

    const UNIT: &str = "(in thousands, except per share data)";

    /// A 10-Q statement: three-month columns first, then six-month ones.
    fn quarterly_income(page: u32) -> Block {
        table(
            page,
            Some(UNIT),
            &[
                &["", "Three Months Ended June 30, 2023", "Three Months Ended June 30, 2022", "Six Months Ended June 30, 2023", "Six Months Ended June 30, 2022"],
                &["Revenues", "$ 8,187,301", "$ 7,970,141", "$ 16,348,804", "$ 15,837,908"],
                &["Cost of revenues", "4,673,470", "4,690,755", "9,477,095", "8,975,460"],
                &["Operating income", "1,827,183", "1,578,283", "3,541,500", "3,549,909"],
                &["Other income (expense):", "", "", "", ""],
                &["Interest expense", "(174,812)", "(175,455)", "(349,051)", "(363,034)"],
                &["Income before income taxes", "1,679,332", "1,623,054", "3,148,206", "3,602,746"],
                &["Provision for income taxes", "(191,722)", "(182,103)", "(355,476)", "(564,348)"],
                &["Net income", "$ 1,487,610", "$ 1,440,951", "$ 2,792,730", "$ 3,038,398"],
                &["Earnings per share:", "", "", "", ""],
                &["Basic", "$ 3.35", "$ 3.24", "$ 6.28", "$ 6.84"],
                &["Diluted", "$ 3.29", "$ 3.20", "$ 6.18", "$ 6.73"],
                &["Weighted-average shares of common stock outstanding:", "", "", "", ""],
                &["Basic", "443,881", "444,557", "444,559", "444,352"],
                &["Diluted", "451,572", "450,169", "451,990", "451,578"],
            ],
        )
    }

    #[test]
    fn quarterly_statement_takes_the_three_month_columns() {
        let d = doc(vec![
            para(3, "Consolidated Statements of Operations"),
            quarterly_income(3),
        ]);
        let figs = key_figures(&d);
        let r = get(&figs, KeyMetric::Revenue);
        assert_eq!(r.label, "Revenues");
        assert_eq!(r.value, "$ 8,187,301");
        assert_eq!(r.prior_value.as_deref(), Some("$ 7,970,141"));
        assert_eq!(r.period, "Three Months Ended June 30, 2023");
        assert_eq!(
            r.prior_period.as_deref(),
            Some("Three Months Ended June 30, 2022")
        );
        assert_eq!(r.change.as_deref(), Some("+2.7%"));
        assert_eq!(r.unit.as_deref(), Some(UNIT));
        assert_eq!((r.page, r.block), (Some(3), 1));
        assert_eq!(get(&figs, KeyMetric::NetIncome).value, "$ 1,487,610");
        assert_eq!(get(&figs, KeyMetric::OperatingIncome).value, "1,827,183");
        let eps = get(&figs, KeyMetric::DilutedEps);
        assert_eq!(
            (eps.value.as_str(), eps.prior_value.as_deref()),
            ("$ 3.29", Some("$ 3.20"))
        );
        // No cash-flow statement or balance sheet here: nothing made up for them.
        assert!(figs
            .iter()
            .all(|f| f.metric.statement() == Statement::Income));
    }

    #[test]
    fn annual_columns_oldest_first_pick_the_latest_year() {
        let d = doc(vec![
            para(39, "CONSOLIDATED STATEMENTS OF OPERATIONS"),
            table(
                39,
                Some("(in millions, except per share data)"),
                &[
                    &["", "Year Ended December 31, 2018", "Year Ended December 31, 2019", "Year Ended December 31, 2020"],
                    &["Net product sales", "$ 141,915", "$ 160,408", "$ 215,915"],
                    &["Net service sales", "90,972", "120,114", "170,149"],
                    &["Total net sales", "232,887", "280,522", "386,064"],
                    &["Operating income", "12,421", "14,541", "22,899"],
                    &["Provision for income taxes", "(1,197)", "(2,374)", "(2,863)"],
                    &["Net income", "$ 10,073", "$ 11,588", "$ 21,331"],
                    &["Diluted earnings per share", "$ 20.14", "$ 23.01", "$ 41.83"],
                ],
            ),
        ]);
        let figs = key_figures(&d);
        let r = get(&figs, KeyMetric::Revenue);
        assert_eq!(
            (r.label.as_str(), r.value.as_str()),
            ("Total net sales", "386,064")
        );
        assert_eq!(r.prior_value.as_deref(), Some("280,522"));
        assert_eq!(r.period, "Year Ended December 31, 2020");
        assert_eq!(get(&figs, KeyMetric::NetIncome).value, "$ 21,331");
        assert_eq!(get(&figs, KeyMetric::DilutedEps).value, "$ 41.83");
    }

    #[test]
    fn attributable_net_income_and_total_revenue_win() {
        let d = doc(vec![
            para(
                42,
                "COSTCO WHOLESALE CORPORATION CONSOLIDATED STATEMENTS OF INCOME",
            ),
            table(
                42,
                Some("(amounts in millions, except per share data)"),
                &[
                    // The year printed in the stub, not in the first column.
                    &["2016", "52 Weeks Ended August 28,", "52 Weeks Ended August 30, 2015", "52 Weeks Ended August 31, 2014"],
                    &["REVENUE", "", "", ""],
                    &["Net sales", "$ 116,073", "$ 113,666", "$ 110,212"],
                    &["Membership fees", "2,646", "2,533", "2,428"],
                    &["Total revenue", "118,719", "116,199", "112,640"],
                    &["OPERATING INCOME", "3,672", "3,624", "3,220"],
                    &["Provision for income taxes", "1,243", "1,195", "1,109"],
                    &["Net income including noncontrolling interests", "2,376", "2,409", "2,088"],
                    &["Net income attributable to noncontrolling interests", "(26)", "(32)", "(30)"],
                    &["NET INCOME ATTRIBUTABLE TO COSTCO", "$ 2,350", "$ 2,377", "$ 2,058"],
                    // One label wrapped over two label-only rows.
                    &["NET INCOME PER COMMON SHARE ATTRIBUTABLE TO", "", "", ""],
                    &["COSTCO:", "", "", ""],
                    &["Basic", "$ 5.36", "$ 5.41", "$ 4.69"],
                    &["Diluted", "$ 5.33", "$ 5.37", "$ 4.65"],
                ],
            ),
        ]);
        let figs = key_figures(&d);
        let r = get(&figs, KeyMetric::Revenue);
        assert_eq!(
            (r.label.as_str(), r.value.as_str()),
            ("Total revenue", "118,719")
        );
        assert_eq!(r.period, "52 Weeks Ended August 28, 2016");
        let n = get(&figs, KeyMetric::NetIncome);
        assert_eq!(n.label, "NET INCOME ATTRIBUTABLE TO COSTCO");
        assert_eq!(
            (n.value.as_str(), n.prior_value.as_deref()),
            ("$ 2,350", Some("$ 2,377"))
        );
        assert_eq!(n.change.as_deref(), Some("\u{2212}1.1%"));
        assert_eq!(get(&figs, KeyMetric::DilutedEps).value, "$ 5.33");
    }

    #[test]
    fn percent_and_change_columns_are_skipped() {
        let d = doc(vec![
            para(6, "Consolidated Statements of Income"),
            table(
                6,
                Some("(In thousands, except per share data)"),
                &[
                    &["", "13 Weeks Ended July 29, 2023 (Unaudited)", "13 Weeks Ended", "13 Weeks Ended July 30, 2022 (Unaudited)", "13 Weeks Ended"],
                    &["Net sales", "$ 2,529,809", "100.0%", "$ 2,297,113", "100.0%"],
                    &["Cost of sales", "1,536,197", "60.7%", "1,368,949", "59.6%"],
                    &["Gross profit", "993,612", "39.3%", "928,164", "40.4%"],
                    &["Operating income", "391,642", "15.5%", "391,428", "17.0%"],
                    &["Income tax expense", "95,989", "3.8%", "95,859", "4.2%"],
                    &["Net income", "$ 300,102", "11.9%", "$ 295,677", "12.9%"],
                    &["Net income per common share:", "", "", "", ""],
                    &["Diluted", "$ 6.02", "", "$ 5.70", ""],
                ],
            ),
        ]);
        let figs = key_figures(&d);
        let r = get(&figs, KeyMetric::Revenue);
        assert_eq!(
            (r.value.as_str(), r.prior_value.as_deref()),
            ("$ 2,529,809", Some("$ 2,297,113"))
        );
        assert_eq!(r.period, "13 Weeks Ended July 29, 2023");
        let gm = get(&figs, KeyMetric::GrossMargin);
        assert_eq!(
            (gm.value.as_str(), gm.prior_value.as_deref()),
            ("39.3%", Some("40.4%"))
        );
        assert_eq!(gm.change.as_deref(), Some("\u{2212}1.1 pp"));
        assert_eq!(gm.period, "13 Weeks Ended July 29, 2023");
    }

    #[test]
    fn spanning_header_and_change_columns() {
        // McDonald's: the period in the stub, an Inc/(Dec) amount and a % column.
        let d = doc(vec![
            para(5, "CONDENSED CONSOLIDATED STATEMENT OF INCOME (UNAUDITED)"),
            table(
                5,
                Some("Dollars and shares in millions, except per share data"),
                &[
                    &["Quarters Ended June 30,", "2023", "2022", "Inc/ (Dec)", ""],
                    &["Revenues", "", "", "", ""],
                    &["Sales by Company-operated restaurants", "$ 2,487.0", "$ 2,112.8", "$ 374.2", "18%"],
                    &["TOTAL REVENUES", "6,497.5", "5,718.4", "779.1", "14"],
                    &["OPERATING INCOME", "3,118.1", "2,244.3", "873.8", "39"],
                    &["Provision for income taxes", "654.0", "764.4", "(110.4)", "(14)"],
                    &["NET INCOME", "$ 2,310.4", "$ 1,188.0", "$ 1,122.4", "94%"],
                    &["EARNINGS PER COMMON SHARE-DILUTED", "$ 3.15", "$ 1.60", "$ 1.55", "97%"],
                ],
            ),
        ]);
        let figs = key_figures(&d);
        let r = get(&figs, KeyMetric::Revenue);
        assert_eq!(
            (r.value.as_str(), r.prior_value.as_deref()),
            ("6,497.5", Some("5,718.4"))
        );
        assert_eq!(r.period, "Quarters Ended June 30, 2023");
        assert_eq!(r.change.as_deref(), Some("+13.6%"));
        assert_eq!(
            get(&figs, KeyMetric::NetIncome).change.as_deref(),
            Some("+94.5%")
        );
        assert_eq!(get(&figs, KeyMetric::DilutedEps).value, "$ 3.15");
    }

    #[test]
    fn headers_without_spans_and_slash_dates() {
        // PepsiCo: the period length printed over the first column of each pair only.
        let d = doc(vec![
            para(5, "Condensed Consolidated Statement of Income"),
            table(
                5,
                Some("(in millions except per share amounts, unaudited)"),
                &[
                    &["", "12 Weeks Ended 6/17/2023", "6/11/2022", "24 Weeks Ended 6/17/2023", "6/11/2022"],
                    &["Net Revenue", "$ 22,322", "$ 20,225", "$ 40,168", "$ 36,425"],
                    &["Cost of sales", "10,121", "9,415", "18,109", "16,848"],
                    &["Operating Profit", "3,557", "2,175", "6,091", "6,945"],
                    &["Provision for income taxes", "(738)", "(519)", "(1,197)", "(1,378)"],
                    &["Net income", "2,771", "1,446", "4,715", "5,719"],
                    &["Less: Net income attributable to noncontrolling interests", "23", "17", "35", "29"],
                    &["Net Income Attributable to PepsiCo", "$ 2,748", "$ 1,429", "$ 4,680", "$ 5,690"],
                    &["Diluted", "", "", "", ""],
                    &["Net income attributable to PepsiCo per common share", "$ 1.99", "$ 1.03", "$ 3.38", "$ 4.09"],
                    &["Weighted-average common shares outstanding", "1,384", "1,389", "1,384", "1,390"],
                ],
            ),
        ]);
        let figs = key_figures(&d);
        let n = get(&figs, KeyMetric::NetIncome);
        assert_eq!(n.label, "Net Income Attributable to PepsiCo");
        assert_eq!(
            (n.value.as_str(), n.prior_value.as_deref()),
            ("$ 2,748", Some("$ 1,429"))
        );
        assert_eq!(n.prior_period.as_deref(), Some("12 Weeks Ended 6/11/2022"));
        assert_eq!(get(&figs, KeyMetric::OperatingIncome).value, "3,557");
        let eps = get(&figs, KeyMetric::DilutedEps);
        assert_eq!(
            (eps.value.as_str(), eps.prior_value.as_deref()),
            ("$ 1.99", Some("$ 1.03"))
        );
    }

    #[test]
    fn header_lines_printed_above_their_tables() {
        // The dates came out as a line above a header-less table; the liabilities half
        // of the balance sheet is a block of its own right under it.
        let d = doc(vec![
            para(7, "CONDENSED CONSOLIDATED BALANCE SHEETS"),
            para(7, "(Unaudited and subject to reclassification)"),
            para(7, "January 28, 2023 January 29, 2022"),
            table(
                7,
                Some("($ in millions)"),
                &[
                    &["Assets", "", ""],
                    &["Current assets:", "", ""],
                    &["Cash and cash equivalents", "$ 1,874", "$ 2,936"],
                    &["Receivables, net", "1,141", "1,042"],
                    &["Merchandise inventories", "5,140", "5,965"],
                    &["Total current assets", "8,802", "10,539"],
                    &["Total assets", "$ 15,803", "$ 17,504"],
                ],
            ),
            table(
                7,
                None,
                &[
                    &["Liabilities and equity", "", ""],
                    &["Accounts payable", "$ 5,687", "$ 6,803"],
                    &["Total current liabilities", "8,979", "10,674"],
                    &["Total equity", "2,795", "3,020"],
                ],
            ),
            para(8, "CONDENSED CONSOLIDATED STATEMENTS OF CASH FLOWS"),
            para(8, "Twelve Months Ended January 28, 2023 January 29, 2022"),
            table(
                8,
                Some("($ in millions)"),
                &[
                    &["Operating activities", "", ""],
                    &["Net earnings", "$ 1,419", "$ 2,454"],
                    &["Depreciation and amortization", "918", "869"],
                    &["Total cash provided by operating activities", "1,824", "3,252"],
                    &["Investing activities", "", ""],
                    &["Additions to property and equipment", "(930)", "(737)"],
                    &["Total cash used in investing activities", "(1,372)", "(1,372)"],
                    &["Total cash used in financing activities", "(1,806)", "(4,297)"],
                ],
            ),
        ]);
        let figs = key_figures(&d);
        let c = get(&figs, KeyMetric::CashAndEquivalents);
        assert_eq!(
            (c.value.as_str(), c.prior_value.as_deref()),
            ("$ 1,874", Some("$ 2,936"))
        );
        assert_eq!(
            (c.period.as_str(), c.prior_period.as_deref()),
            ("January 28, 2023", Some("January 29, 2022"))
        );
        let o = get(&figs, KeyMetric::OperatingCashFlow);
        assert_eq!((o.value.as_str(), o.page), ("1,824", Some(8)));
        assert_eq!(o.period, "Twelve Months Ended January 28, 2023");
        assert_eq!(get(&figs, KeyMetric::CapitalExpenditures).value, "(930)");
        assert_eq!(
            header_line("Twelve Months Ended January 28, 2023 January 29, 2022").map(|h| h.len()),
            Some(2)
        );
        // Prose with dates in it is no header line.
        assert_eq!(header_line("Results for 2023 compared with 2022"), None);
    }

    #[test]
    fn cash_flow_and_balance_sheet() {
        let d = doc(vec![
            para(6, "CONDENSED CONSOLIDATED BALANCE SHEETS"),
            table(
                6,
                Some("(In millions)"),
                &[
                    &["", "July 1, 2023", "September 24, 2022"],
                    &["Current assets:", "", ""],
                    &["Cash and cash equivalents", "$ 28,408", "$ 23,646"],
                    &["Accounts receivable, net", "19,549", "28,184"],
                    &["Inventories", "7,351", "4,946"],
                    &["Total current assets", "122,659", "135,405"],
                    &["Total assets", "$ 335,038", "$ 352,755"],
                    &["Total liabilities", "274,764", "302,083"],
                    &["Total shareholders' equity", "60,274", "50,672"],
                ],
            ),
            para(
                8,
                "CONDENSED CONSOLIDATED STATEMENTS OF CASH FLOWS (Unaudited)",
            ),
            table(
                8,
                Some("(In millions)"),
                &[
                    &["", "Nine Months Ended July 1, 2023", "Nine Months Ended June 25, 2022"],
                    &["Cash, cash equivalents and restricted cash, beginning balances", "$ 24,977", "$ 35,929"],
                    &["Operating activities:", "", ""],
                    &["Net income", "74,039", "79,082"],
                    &["Depreciation and amortization", "8,866", "8,239"],
                    &["Cash generated by operating activities", "88,945", "98,024"],
                    &["Investing activities:", "", ""],
                    &["Payments for acquisition of property, plant and equipment", "(8,796)", "(7,419)"],
                    &["Cash generated by/(used in) investing activities", "1,290", "(11,624)"],
                    &["Cash used in financing activities", "(84,948)", "(85,781)"],
                ],
            ),
        ]);
        let figs = key_figures(&d);
        let c = get(&figs, KeyMetric::CashAndEquivalents);
        assert_eq!(
            (c.value.as_str(), c.prior_value.as_deref()),
            ("$ 28,408", Some("$ 23,646"))
        );
        assert_eq!(c.period, "July 1, 2023");
        let o = get(&figs, KeyMetric::OperatingCashFlow);
        assert_eq!((o.value.as_str(), o.block), ("88,945", 3));
        let x = get(&figs, KeyMetric::CapitalExpenditures);
        assert_eq!(x.value, "(8,796)");
        // Two outflows compare their sizes: capex grew.
        assert_eq!(x.change.as_deref(), Some("+18.6%"));
        // A net income line in a cash-flow statement is no income statement.
        assert!(figs.iter().all(|f| f.metric != KeyMetric::NetIncome));
    }

    #[test]
    fn chinese_statement() {
        let d = doc(vec![
            para(50, "合并利润表"),
            table(
                50,
                Some("单位：元 币种：人民币"),
                &[
                    &["项目", "2023年度", "2022年度"],
                    &["一、营业总收入", "1,234,567,890.12", "1,000,000,000.00"],
                    &["其中：营业收入", "1,200,000,000.00", "980,000,000.00"],
                    &["二、营业总成本", "900,000,000.00", "800,000,000.00"],
                    &["三、营业利润（亏损以“－”号填列）", "300,000,000.00", "150,000,000.00"],
                    &["四、利润总额（亏损总额以“－”号填列）", "310,000,000.00", "160,000,000.00"],
                    &["减：所得税费用", "60,000,000.00", "40,000,000.00"],
                    &["五、净利润（净亏损以“－”号填列）", "250,000,000.00", "120,000,000.00"],
                    &["1.归属于母公司所有者的净利润", "240,000,000.00", "110,000,000.00"],
                    &["2.少数股东损益", "10,000,000.00", "10,000,000.00"],
                    &["（二）稀释每股收益（元/股）", "0.52", "0.24"],
                ],
            ),
        ]);
        let figs = key_figures(&d);
        let r = get(&figs, KeyMetric::Revenue);
        assert_eq!(
            (r.label.as_str(), r.value.as_str()),
            ("一、营业总收入", "1,234,567,890.12")
        );
        assert_eq!(r.period, "2023年度");
        let n = get(&figs, KeyMetric::NetIncome);
        assert_eq!(
            (n.label.as_str(), n.value.as_str()),
            ("1.归属于母公司所有者的净利润", "240,000,000.00")
        );
        assert_eq!(n.change.as_deref(), Some("+118.2%"));
        assert_eq!(
            get(&figs, KeyMetric::OperatingIncome).value,
            "300,000,000.00"
        );
        assert_eq!(get(&figs, KeyMetric::DilutedEps).value, "0.52");
    }

    #[test]
    fn reconciliations_and_segment_tables_are_not_statements() {
        let d = doc(vec![
            para(9, "Reconciliation of GAAP to Non-GAAP Financial Measures"),
            table(
                9,
                Some("(In millions)"),
                &[
                    &["", "Three Months Ended June 30, 2023", "Three Months Ended June 30, 2022"],
                    &["Net revenues", "$ 2,540", "$ 2,422"],
                    &["Cost of net revenues", "718", "663"],
                    &["Non-GAAP operating income", "700", "650"],
                    &["Provision for income taxes", "100", "90"],
                    &["Net income", "$ 555", "$ 554"],
                    &["Diluted earnings per share", "$ 1.03", "$ 0.99"],
                ],
            ),
        ]);
        assert!(key_figures(&d).is_empty());
        // A document without tables has no key figures.
        assert!(key_figures(&doc(vec![para(1, "Item 5.02 Departure of Directors")])).is_empty());
    }

    #[test]
    fn the_titled_statement_beats_an_mdna_summary() {
        let summary = table(
            3,
            Some("(In millions, except per share amounts)"),
            &[
                &["", "Three Months Ended June 30, 2023", "Three Months Ended June 30, 2022"],
                &["Net revenues", "$ 2,540", "$ 2,422"],
                &["Operating income", "$ 555", "$ 554"],
                &["Net income", "$ 999", "$ 998"],
                &["Diluted EPS", "$ 1.03", "$ 0.99"],
            ],
        );
        let d = doc(vec![
            para(3, "Second quarter highlights"),
            summary,
            para(8, "Unaudited Condensed Consolidated Statement of Income"),
            table(
                8,
                Some("(In millions, except per share amounts)"),
                &[
                    &["", "Three Months Ended June 30, 2023", "Three Months Ended 2022", "Six Months Ended June 30, 2023", "Six Months Ended 2022"],
                    &["Net revenues", "$ 2,540", "$ 2,422", "$ 5,050", "$ 4,905"],
                    &["Cost of net revenues (1)", "718", "663", "1,418", "1,352"],
                    &["Income from operations", "580", "560", "1,100", "1,000"],
                    &["Provision for income taxes", "(74)", "(60)", "(150)", "(120)"],
                    &["Net income (loss)", "$ 171", "$ (531)", "$ 738", "$ (1,872)"],
                    &["Net income (loss) per share - diluted", "$ 0.32", "$ (0.95)", "$ 1.38", "$ (3.29)"],
                ],
            ),
        ]);
        let figs = key_figures(&d);
        let n = get(&figs, KeyMetric::NetIncome);
        assert_eq!(
            (n.value.as_str(), n.prior_value.as_deref(), n.page),
            ("$ 171", Some("$ (531)"), Some(8))
        );
        assert_eq!(n.prior_period.as_deref(), Some("Three Months Ended 2022"));
        // A loss turned into a profit: no percentage.
        assert_eq!(n.change, None);
        assert_eq!(
            get(&figs, KeyMetric::OperatingIncome).label,
            "Income from operations"
        );
        assert_eq!(get(&figs, KeyMetric::DilutedEps).value, "$ 0.32");
    }

    #[test]
    fn per_share_lines_split_into_their_own_block_join_the_statement() {
        let d = doc(vec![
            para(6, "CONDENSED CONSOLIDATED STATEMENTS OF EARNINGS"),
            table(
                6,
                Some("($ and shares in millions, except per share amounts)"),
                &[
                    &["", "Three Months Ended January 28, 2023", "Three Months Ended January 29, 2022", "Twelve Months Ended January 28, 2023", "Twelve Months Ended January 29, 2022"],
                    &["Revenue", "$ 14,735", "$ 16,365", "$ 46,298", "$ 51,761"],
                    &["Cost of sales", "11,795", "13,052", "36,386", "40,121"],
                    &["Gross profit", "2,940", "3,313", "9,912", "11,640"],
                    &["Operating income", "638", "818", "1,795", "3,039"],
                    &["Income tax expense", "148", "189", "370", "574"],
                    &["Net earnings", "$ 495", "$ 626", "$ 1,419", "$ 2,454"],
                ],
            ),
            table(
                6,
                None,
                &[
                    &["Basic earnings per share", "$ 2.24", "$ 2.65", "$ 6.31", "$ 9.94"],
                    &["Diluted earnings per share", "$ 2.23", "$ 2.62", "$ 6.29", "$ 9.84"],
                ],
            ),
        ]);
        let figs = key_figures(&d);
        let eps = get(&figs, KeyMetric::DilutedEps);
        assert_eq!((eps.value.as_str(), eps.block), ("$ 2.23", 2));
        assert_eq!(eps.period, "Three Months Ended January 28, 2023");
        assert_eq!(get(&figs, KeyMetric::Revenue).value, "$ 14,735");
        assert_eq!(get(&figs, KeyMetric::GrossProfit).value, "2,940");
        // No percent-of-revenue column: no gross margin made up.
        assert!(figs.iter().all(|f| f.metric != KeyMetric::GrossMargin));
    }

    #[test]
    fn years_printed_outside_the_table_date_its_columns() {
        let d = doc(vec![
            para(10, "Condensed Consolidated Statement of Earnings"),
            table(
                10,
                Some("(Unaudited; in Millions Except Per Share Figures)"),
                &[
                    &["", "Percent Amount", "Percent Percent to Sales", "Percent Amount", "Percent Percent to Sales", "Percent Increase (Decrease)"],
                    &["Sales to customers", "$ 24,746", "100.0", "$ 23,426", "100.0", "5.6"],
                    &["Cost of products sold", "8,395", "33.9", "7,598", "32.4", "10.5"],
                    &["Gross Profit", "16,351", "66.1", "15,828", "67.6", "3.3"],
                    &["Provision for/(Benefit from) taxes on income", "(669)", "(2.7)", "713", "3.0", "(193.8)"],
                    &["Net earnings/(Loss)", "$ (68)", "(0.3)", "$ 5,149", "22.0", "(101.3)"],
                ],
            ),
            para(10, "FIRST QUARTER"),
            para(10, "2023 2022"),
        ]);
        let figs = key_figures(&d);
        let r = get(&figs, KeyMetric::Revenue);
        assert_eq!(
            (r.value.as_str(), r.prior_value.as_deref()),
            ("$ 24,746", Some("$ 23,426"))
        );
        assert_eq!(r.period, "FIRST QUARTER 2023");
        assert_eq!(r.prior_period.as_deref(), Some("FIRST QUARTER 2022"));
        let n = get(&figs, KeyMetric::NetIncome);
        assert_eq!(
            (n.value.as_str(), n.prior_value.as_deref()),
            ("$ (68)", Some("$ 5,149"))
        );
        let gm = get(&figs, KeyMetric::GrossMargin);
        assert_eq!(
            (gm.value.as_str(), gm.prior_value.as_deref()),
            ("66.1", Some("67.6"))
        );
        assert_eq!(gm.change.as_deref(), Some("\u{2212}1.5 pp"));
    }

    #[test]
    fn amounts_and_changes() {
        let a = |s: &str| amount(s).map(|a| a.value);
        assert_eq!(a("$ 8,187,301"), Some(8_187_301.0));
        assert_eq!(a("(174,812)"), Some(-174_812.0));
        assert_eq!(a("$ (0.03)"), Some(-0.03));
        assert_eq!(a("($68)"), Some(-68.0));
        assert_eq!(a("-1,234.5"), Some(-1234.5));
        assert_eq!(a("(0.2%)"), Some(-0.2));
        assert_eq!(a("（1,000）"), Some(-1000.0));
        assert_eq!(
            amount("39.3%").map(|a| (a.percent, a.decimals)),
            Some((true, 1))
        );
        for placeholder in ["—", "-", "", "n/a", "*", "NM", "1.2.3"] {
            assert_eq!(a(placeholder), None, "{placeholder}");
        }
        assert_eq!(
            change("$ 8,187,301", "$ 7,970,141", false).as_deref(),
            Some("+2.7%")
        );
        assert_eq!(
            change("12,734", "27,742", false).as_deref(),
            Some("\u{2212}54.1%")
        );
        assert_eq!(change("171", "(531)", false), None);
        assert_eq!(change("5", "0", false), None);
        assert_eq!(change("—", "5", false), None);
        assert_eq!(change("100", "100", false).as_deref(), Some("0.0%"));
        assert_eq!(
            change("(2,768)", "(1,000)", false).as_deref(),
            Some("+176.8%")
        );
        assert_eq!(
            change("39.3%", "40.4%", false).as_deref(),
            Some("\u{2212}1.1 pp")
        );
    }

    #[test]
    fn labels_normalise() {
        assert_eq!(
            key("Net income (loss) attributable to Intel"),
            "net income attributable to intel"
        );
        assert_eq!(key("Net earnings/(Loss)"), "net earnings");
        assert_eq!(key("Net earnings³,⁴"), "net earnings");
        assert_eq!(
            key("Net cash (used in) provided by operating activities"),
            "net cash provided by operating activities"
        );
        assert_eq!(key("五、净利润（净亏损以“－”号填列）"), "净利润");
        assert_eq!(key("Revenue:"), "revenue");
        assert_eq!(period_days("Second-Quarter 2023"), Some(91));
        assert_eq!(period_days("52 Weeks Ended August 28, 2016"), Some(364));
        assert_eq!(period_days("Fiscal Year 2023"), Some(365));
        assert_eq!(period_days("December 3, 2021"), None);
        assert_eq!(period_days("2023年1-6月"), Some(180));
        assert_eq!(
            last_date("Three Months Ended Apr 1, 2023").map(|d| d.0),
            Some((2023, 4, 1))
        );
        assert_eq!(
            last_date("12 Weeks Ended 6/17/2023").map(|d| d.0),
            Some((2023, 6, 17))
        );
        assert_eq!(
            last_date("Second-Quarter 2022 (Decr.)").map(|d| d.0),
            Some((2022, 0, 0))
        );
        assert_eq!(last_date("2023年6月30日").map(|d| d.0), Some((2023, 6, 30)));
        assert_eq!(last_date("Three Months Ended"), None);
    }

    #[test]
    fn serde_names_are_snake_case() {
        let f = KeyFigure {
            metric: KeyMetric::CashAndEquivalents,
            label: "Cash and cash equivalents".into(),
            period: "June 30, 2023".into(),
            value: "$ 7,662,788".into(),
            prior_period: None,
            prior_value: None,
            change: None,
            unit: None,
            page: Some(6),
            block: 40,
        };
        let json = serde_json::to_string(&f).unwrap();
        assert!(
            json.contains(r#""metric":"cash_and_equivalents""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<KeyFigure>(&json).unwrap(), f);
        for m in KeyMetric::ALL {
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.as_str())
            );
        }
    }
}
