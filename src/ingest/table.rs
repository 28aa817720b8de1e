//! One page's lines -> table blocks: financial statements (a label, then one figure
//! per period column, right-aligned) and other aligned tables.
//!
//! A statement is recognised by its rows: a label, a gap (or dot leaders), then figures
//! only. Its columns are the x-ranges the figures share (they are right-aligned, so a
//! column's figures overlap whatever their widths); `$` signs set apart from their
//! figures (EDGAR's converters left-align them in the column) join the figure to their
//! right; `)` and `%` join the figure to their left. The lines just above the first row
//! whose words sit over the columns are the column headers (periods), and a unit line
//! ("(In millions, except per share amounts)", "单位：人民币千元") above or among them
//! is the table's `unit`. Tables of other content (text cells) keep the simpler rule:
//! columns are the x-ranges the cells of several rows share.

use super::layout::{Line, Word};
use super::{Block, BlockKind};

/// Gap (in font sizes) above which a line is split into separate cells.
pub const CELL_GAP: f32 = 1.5;
/// Header lines looked for above a table's first row, at most.
const MAX_HEADER_LINES: usize = 8;
/// Vertical distance (in font sizes) between lines of one table.
const ROW_GAP: f32 = 3.0;
/// Between header lines, and from the headers to the first row.
const HEADER_GAP: f32 = 3.5;
/// How far (in font sizes) a row's figures may stand above the line before them.
const CENTRED_ROW: f32 = 1.0;
/// A label line inside a table (a section heading of rows) is at most this long.
const MAX_LABEL_CHARS: usize = 120;
/// Cells longer than this are prose, not table content.
const MAX_CELL_CHARS: usize = 80;
/// A header cell of a figure column is short ("Three Months Ended June 30, 2023").
const MAX_HEADER_CHARS: usize = 48;
/// A unit line is short.
const MAX_UNIT_CHARS: usize = 140;
/// How far left of the first figure column (in font sizes) a column header may start
/// (a spanning header centred over two columns starts before the first).
const HEADER_REACH: f32 = 4.0;
/// The same for a header that reaches into the first column (centred over it).
const CENTRED_HEADER_REACH: f32 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// A figure: `1,234`, `(660)`, `29.9%`, `$ 1.5`, or a placeholder (`—`, `n/a`).
    Figure,
    /// A currency sign on its own, waiting for its figure.
    Currency,
}

#[derive(Debug, Clone)]
struct Cell {
    x0: f32,
    x1: f32,
    /// Where the figure itself starts (after a detached currency sign): columns are
    /// found from figures, which align, not from the signs, which sit at the edge.
    fig_x0: f32,
    text: String,
    kind: Kind,
    /// The words it was made of, for splitting a header that runs over columns.
    words: Vec<Word>,
}

fn is_superscript(c: char) -> bool {
    matches!(c, '⁰' | '¹' | '²' | '³' | '⁴' | '⁵' | '⁶' | '⁷' | '⁸' | '⁹')
}

fn is_currency(t: &str) -> bool {
    matches!(
        t,
        "$" | "€" | "£" | "¥" | "￥" | "US$" | "HK$" | "RMB" | "USD" | "HKD" | "CNY" | "EUR"
    )
}

/// Em-dash zeros and other placeholders that stand in a figure column.
fn is_placeholder(t: &str) -> bool {
    matches!(
        t,
        "—" | "–"
            | "-"
            | "−"
            | "—%"
            | "-%"
            | "–%"
            | "n/a"
            | "N/A"
            | "NA"
            | "NM"
            | "nm"
            | "n.m."
            | "*"
            | "**"
            | "—  %"
    )
}

/// A figure as statements print it: sign or bracket, currency, digits with grouping
/// and decimals, closing bracket, percent or multiple; footnote markers allowed.
pub fn is_figure(t: &str) -> bool {
    let t = t.trim_end_matches(|c: char| is_superscript(c) || c == '*');
    if t.is_empty() {
        return false;
    }
    if is_placeholder(t) {
        return true;
    }
    let mut s = t;
    for p in ["(", "-", "−", "–", "+"] {
        s = s.strip_prefix(p).unwrap_or(s);
    }
    for c in ["US$", "HK$", "RMB", "$", "€", "£", "¥", "￥"] {
        s = s.strip_prefix(c).unwrap_or(s);
    }
    s = s.strip_prefix('(').unwrap_or(s);
    for suffix in [")", "%", "x", "bps", "pts", "pp", "ppt", ")%", "%)"] {
        s = s.strip_suffix(suffix).unwrap_or(s);
    }
    s = s.strip_suffix(')').unwrap_or(s);
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && s.ends_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
}

/// A year as a column header (`2023`), not a figure of the table.
fn is_year(t: &str) -> bool {
    let t = t.trim_end_matches(is_superscript);
    t.len() == 4 && t.parse::<u32>().is_ok_and(|y| (1900..=2100).contains(&y))
}

fn kind_of(t: &str) -> Kind {
    if is_currency(t) {
        Kind::Currency
    } else if is_figure(t) {
        Kind::Figure
    } else {
        Kind::Text
    }
}

/// Dot leaders (`......`) between a label and its figures.
fn is_leader(t: &str) -> bool {
    t.chars().count() >= 2 && t.chars().all(|c| matches!(c, '.' | '·' | '…' | '_' | ' '))
}

fn is_leader_dot(t: &str) -> bool {
    matches!(t, "." | "·" | "…")
}

/// A line's words with a flag: does a cell boundary (a wide gap, dot leaders) come
/// before the word?
fn words(line: &Line) -> Vec<(bool, Word)> {
    let mut out: Vec<(bool, Word)> = Vec::new();
    let mut boundary = false;
    let all: Vec<&Word> = line.segs.iter().flat_map(|s| &s.words).collect();
    // Letter-spaced leaders come as single dots: ". . . . .".
    let dot = |k: usize| all.get(k).is_some_and(|w| is_leader_dot(&w.text));
    let mut k = 0;
    for (si, seg) in line.segs.iter().enumerate() {
        for (wi, w) in seg.words.iter().enumerate() {
            let at_gap = boundary || (si > 0 && wi == 0);
            boundary = false;
            let spaced_leader = dot(k) && (dot(k + 1) || k > 0 && dot(k - 1));
            k += 1;
            if is_leader(&w.text) || spaced_leader {
                boundary = true;
                continue;
            }
            // `revenue.........` glued to its leader.
            let trimmed = w.text.trim_end_matches(['.', '…']);
            if w.text.len() - trimmed.len() >= 3 && !trimmed.is_empty() {
                let mut w = w.clone();
                w.text = trimmed.to_string();
                out.push((at_gap, w));
                boundary = true;
                continue;
            }
            out.push((at_gap, w.clone()));
        }
    }
    out
}

/// A line as cells: a new cell at each wide gap, and between two figures even when
/// they are close; a currency sign joins the figure after it, `)` and `%` the one
/// before.
fn cells(line: &Line) -> Vec<Cell> {
    let mut out: Vec<Cell> = Vec::new();
    for (gap, w) in words(line) {
        let kind = kind_of(&w.text);
        if let Some(last) = out.last_mut() {
            if last.kind == Kind::Currency && kind == Kind::Figure {
                last.text.push(' ');
                last.text.push_str(&w.text);
                last.x1 = w.x1;
                last.fig_x0 = w.x0;
                last.kind = Kind::Figure;
                last.words.push(w);
                continue;
            }
            if last.kind == Kind::Figure && matches!(w.text.as_str(), ")" | "%" | ")%") {
                last.text.push_str(&w.text);
                last.x1 = w.x1;
                last.words.push(w);
                continue;
            }
            let split =
                gap || kind == Kind::Currency || (kind == Kind::Figure && last.kind != Kind::Text);
            if !split {
                last.text.push(' ');
                last.text.push_str(&w.text);
                last.x1 = w.x1;
                if kind != last.kind {
                    last.kind = Kind::Text;
                }
                last.words.push(w);
                continue;
            }
        }
        out.push(Cell {
            x0: w.x0,
            x1: w.x1,
            fig_x0: w.x0,
            text: w.text.clone(),
            kind,
            words: vec![w],
        });
    }
    // A currency sign with no figure after it stays text.
    for c in &mut out {
        if c.kind == Kind::Currency {
            c.kind = Kind::Text;
        }
    }
    out
}

/// A line of a statement: a label (or none), then figures only.
fn figure_row(cells: &[Cell]) -> bool {
    let start = usize::from(cells.first().is_some_and(|c| c.kind == Kind::Text));
    let values = &cells[start..];
    !values.is_empty()
        && values.iter().all(|c| c.kind == Kind::Figure)
        && cells[..start]
            .iter()
            .all(|c| c.text.chars().count() <= MAX_LABEL_CHARS)
        && (start == 1 || values.len() >= 2)
}

/// A line of some table: several short cells, figures among them or three or more.
fn generic_row(cells: &[Cell]) -> bool {
    cells.len() >= 2
        && cells
            .iter()
            .all(|c| c.text.chars().count() <= MAX_CELL_CHARS)
        && (cells.len() >= 3 || cells.iter().any(|c| c.kind == Kind::Figure))
}

/// Does this line state a table's unit (scale and currency of its figures)?
pub fn is_unit_line(text: &str) -> bool {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > MAX_UNIT_CHARS {
        return false;
    }
    // 单位：元 / 单位：人民币千元 / 金额单位：万元 (not 营业单位, "business unit").
    for mark in ["单位", "單位"] {
        if let Some(at) = t.find(mark) {
            let rest = t[at + mark.len()..].trim_start();
            let head = &t[..at];
            return (head.is_empty() || head.ends_with("金额") || head.ends_with("金額"))
                && (rest.starts_with(['：', ':'])
                    || [
                        "元",
                        "人民币",
                        "港币",
                        "美元",
                        "千元",
                        "万元",
                        "百万元",
                        "亿元",
                    ]
                    .iter()
                    .any(|w| rest.starts_with(w)));
        }
    }
    let lower = t.to_lowercase();
    let inner = lower
        .trim_start_matches(['(', '['])
        .trim_end_matches([')', ']', '.'])
        .trim();
    let scale = [
        "thousand", "million", "billion", "000s", "000's", "$000", "(000)", "000)", "mm)",
    ];
    let has_scale = scale.iter().any(|s| inner.contains(s)) || inner.ends_with("000");
    let opens = [
        "in ",
        "amounts in",
        "dollars in",
        "$ in",
        "$ and shares in",
        "dollars and shares in",
        "u.s. dollars in",
        "expressed in",
        "all amounts in",
        "€ in",
        "€ million",
        "$ million",
        "$ billion",
        "us$",
        "unaudited",
        "millions",
        "thousands",
        "billions",
        "dollars",
        "amounts",
        "in millions",
    ];
    has_scale && (opens.iter().any(|o| inner.starts_with(o)) || lower.starts_with('('))
}

/// What a table consumed of the page: the lines (indices), the block they make, and
/// the line where it stands in reading order (its headers or first row: a unit line
/// found in the title block above is consumed, but the title stays first).
pub struct Found {
    pub lines: Vec<usize>,
    pub at: usize,
    pub block: Block,
}

/// Find the page's tables. Lines not returned are prose.
pub fn find(lines: &[Line]) -> Vec<Found> {
    let line_cells: Vec<Vec<Cell>> = lines.iter().map(cells).collect();
    let mut used = vec![false; lines.len()];
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let is_row = |k: usize| generic_row(&line_cells[k]) || figure_row(&line_cells[k]);
        if !is_row(i) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < lines.len() {
            let (prev, l) = (&lines[j - 1], &lines[j]);
            let dy = l.y - prev.y;
            // A row's figures may sit a little above the last line of its wrapped
            // label (set vertically centred on the two lines).
            let size = prev.size.max(l.size);
            let close = dy > -CENTRED_ROW * size && dy < ROW_GAP * size;
            // A label line between rows ("Adjustments to reconcile net income to net
            // cash provided by operating activities:") when rows follow it.
            let label_line = |k: usize| {
                line_cells[k].len() == 1 && lines[k].text().chars().count() <= MAX_LABEL_CHARS
            };
            let label_row = label_line(j)
                && (j + 1 < lines.len() && is_row(j + 1)
                    || j + 2 < lines.len() && label_line(j + 1) && is_row(j + 2));
            if close && (is_row(j) || label_row) {
                j += 1;
            } else {
                break;
            }
        }
        // One line makes a table only as a row of a statement: a label and two or more
        // figures set apart (a statement's last row carried over to the next page).
        let lone_row = j - i == 1
            && is_data_row(&line_cells[i])
            && line_cells[i].len() >= 3
            && line_cells[i][0].kind == Kind::Text;
        if j - i < 2 && !lone_row {
            i += 1;
            continue;
        }
        // Period headers set as a little table of their own ("July 29, January 28,"
        // over "2023 2023 2022") right above a statement: left for the statement to
        // take as its headers.
        let headers_only = (i..j).all(|k| !is_data_row(&line_cells[k]));
        if headers_only
            && (j..lines.len().min(j + MAX_SECTION_LABELS + 1)).any(|k| is_data_row(&line_cells[k]))
        {
            i = j;
            continue;
        }
        // Rows of figures make it a statement: two or more, or most of the multi-cell
        // rows (a page's last rows, with a clipped fragment among them).
        let figure_rows = (i..j).filter(|&k| figure_row(&line_cells[k])).count();
        let data_rows = (i..j).filter(|&k| is_data_row(&line_cells[k])).count();
        let multi_cell = (i..j).filter(|&k| line_cells[k].len() >= 2).count();
        let found = if figure_rows >= 2 || (data_rows >= 1 && 2 * data_rows >= multi_cell) {
            statement(lines, &line_cells, i, j, &used)
        } else {
            Some(generic(lines, i, j))
        };
        if let Some(f) = found {
            for &k in &f.lines {
                used[k] = true;
            }
            out.push(f);
        }
        i = j;
    }
    out
}

/// A row's figure cells' extents (the figure itself, without a detached currency sign).
fn figure_spans(cells: &[Cell]) -> Vec<(f32, f32)> {
    let start = usize::from(cells.first().is_some_and(|c| c.kind == Kind::Text));
    cells[start..]
        .iter()
        .filter(|c| c.kind == Kind::Figure)
        .map(|c| (c.fig_x0, c.x1))
        .collect()
}

/// Columns: the x-ranges that the figures of the rows share. Only rows with one figure
/// count are merged: a stray fragment (text clipped at a page edge, drawn at odd
/// places) would otherwise bridge two columns into one. The most common count whose
/// columns give no row two figures in one column wins (ties: more columns).
fn columns(rows: &[&[Cell]]) -> Vec<(f32, f32)> {
    let spans: Vec<Vec<(f32, f32)>> = rows.iter().map(|r| figure_spans(r)).collect();
    let mut counts = std::collections::HashMap::<usize, usize>::new();
    for f in &spans {
        *counts.entry(f.len()).or_default() += 1;
    }
    let mut candidates: Vec<(usize, usize)> = counts.into_iter().collect();
    candidates.sort_by_key(|&(n, c)| std::cmp::Reverse((c, n)));
    let mut fallback = Vec::new();
    for (k, &(n, _)) in candidates.iter().enumerate() {
        let cols = merge_spans(spans.iter().filter(|f| f.len() == n).flatten().copied());
        let clean = spans.iter().all(|f| {
            let mut homes: Vec<usize> = f.iter().map(|s| nearest_column(&cols, s.0, s.1)).collect();
            homes.dedup();
            homes.len() == f.len()
        });
        if clean {
            return cols;
        }
        if k == 0 {
            fallback = cols;
        }
    }
    fallback
}

/// The union of overlapping x-ranges, left to right.
fn merge_spans(spans: impl Iterator<Item = (f32, f32)>) -> Vec<(f32, f32)> {
    let mut spans: Vec<(f32, f32)> = spans.collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut cols: Vec<(f32, f32)> = Vec::new();
    for (a, b) in spans {
        match cols.last_mut() {
            Some(c) if a <= c.1 => c.1 = c.1.max(b),
            _ => cols.push((a, b)),
        }
    }
    cols
}

fn overlap(col: (f32, f32), x0: f32, x1: f32) -> f32 {
    let o = col.1.min(x1) - col.0.max(x0);
    if o > 0.0 {
        o
    } else {
        -(col.0 - x0).abs().min((col.1 - x1).abs())
    }
}

fn nearest_column(cols: &[(f32, f32)], x0: f32, x1: f32) -> usize {
    cols.iter()
        .enumerate()
        .max_by(|a, b| overlap(*a.1, x0, x1).total_cmp(&overlap(*b.1, x0, x1)))
        .map_or(0, |(k, _)| k)
}

/// A financial statement (or any table of figures) from rows `i..j`, with the header
/// lines and unit line found above it.
fn statement(
    lines: &[Line],
    line_cells: &[Vec<Cell>],
    i: usize,
    j: usize,
    used: &[bool],
) -> Option<Found> {
    // Columns from the rows with figures (not the year-only header rows).
    let data: Vec<&[Cell]> = (i..j)
        .filter(|&k| is_data_row(&line_cells[k]))
        .map(|k| line_cells[k].as_slice())
        .collect();
    let cols = columns(&data);
    if cols.is_empty() {
        return None;
    }
    let left = cols[0].0;
    let mut first = first_data(line_cells, i, j);
    let size = lines[first.min(j - 1)].size.max(1.0);
    // Leading rows without such figures are period headers the row rule let in, but a
    // section label right above the first row ("Revenues:") is the body's.
    while first > i && is_section_label(&line_cells[first - 1], &lines[first - 1], left, size) {
        first -= 1;
    }
    // Section labels ("ASSETS", "CURRENT ASSETS") above the region's first row too;
    // the headers are above them.
    let mut i = i;
    let mut taken = 0;
    while first == i && i > 0 && taken < MAX_SECTION_LABELS {
        let above = i - 1;
        let dy = lines[i].y - lines[above].y;
        if used[above]
            || !is_section_label(&line_cells[above], &lines[above], left, size)
            || !(dy > 0.0 && dy < ROW_GAP * lines[i].size.max(lines[above].size))
        {
            break;
        }
        i = above;
        first = above;
        taken += 1;
    }

    // Header lines: walking up from the first data row while lines are close and
    // their cells sit over the columns (or state the unit).
    let mut header: Vec<usize> = (i..first).collect();
    let mut k = i;
    while k > 0 && header.len() < MAX_HEADER_LINES + (first - i) {
        let above = k - 1;
        let (l, below) = (&lines[above], &lines[k]);
        let dy = below.y - l.y;
        if used[above] || !(dy > 0.0 && dy < HEADER_GAP * l.size.max(below.size)) {
            break;
        }
        let cs = unit_split(&line_cells[above]);
        let states_unit = is_unit_line(&l.text()) || cs.iter().any(|c| opens_unit(&c.text));
        if !(states_unit || is_header_line(&cs, left, size)) {
            break;
        }
        header.insert(0, above);
        k = above;
    }
    let mut head_lines: Vec<(usize, Vec<Cell>)> = header
        .iter()
        .map(|&h| (h, unit_split(&line_cells[h])))
        .collect();
    let (unit_text, unit_line) = match take_unit(lines, &mut head_lines) {
        Some(u) => (Some(u), None),
        None => match unit_above(lines, used, header.first().copied().unwrap_or(i), size) {
            Some((text, line)) => (Some(text), Some(line)),
            None => (None, None),
        },
    };

    let n = cols.len();
    let mut rows: Vec<Vec<String>> = Vec::new();
    if let Some(u) = &unit_text {
        rows.push(vec![u.clone()]);
    }
    // One header row: each column's header words top to bottom; words left of the
    // columns (a stub such as "Year Ended") in the first cell.
    let mut head = vec![String::new(); n + 1];
    for (_, cells) in &head_lines {
        let line: Vec<Cell> = cells
            .iter()
            .flat_map(|c| split_over_columns(c, &cols, size))
            .collect();
        let over = line.iter().filter(|c| !is_stub(c, left, size)).count();
        for c in &line {
            let targets: Vec<usize> = if is_stub(c, left, size) {
                vec![0]
            } else if over == 1 && !is_year(&c.text) {
                // The only header on its line ("Year Ended December 31,") heads all.
                (1..=n).collect()
            } else {
                // A spanning header ("Three Months Ended") heads every column it covers.
                let covered: Vec<usize> = (0..n)
                    .filter(|&k| overlap(cols[k], c.x0, c.x1) > 0.0)
                    .map(|k| k + 1)
                    .collect();
                if covered.is_empty() {
                    vec![nearest_column(&cols, c.x0, c.x1) + 1]
                } else {
                    covered
                }
            };
            for t in targets {
                if !head[t].is_empty() {
                    head[t].push(' ');
                }
                head[t].push_str(&c.text);
            }
        }
    }
    if head.iter().any(|h| !h.is_empty()) {
        rows.push(head);
    }
    let mut pending_label: Option<String> = None;
    for cs in &line_cells[first..j] {
        let has_label = cs.first().is_some_and(|c| c.kind == Kind::Text);
        let mut row = vec![String::new(); n + 1];
        let values = if has_label {
            row[0] = cs[0].text.clone();
            &cs[1..]
        } else {
            &cs[..]
        };
        if values.is_empty() {
            // A section label ("Revenues:") or the first line of a wrapped label; a
            // lower-case line continues the label before it.
            match pending_label.take() {
                Some(p) if continues_label(&p, &row[0]) => {
                    pending_label = Some(join_label(&p, &row[0]));
                }
                Some(p) => {
                    rows.push(label_row(p, n));
                    pending_label = Some(row[0].clone());
                }
                None => pending_label = Some(row[0].clone()),
            }
            continue;
        }
        if let Some(p) = pending_label.take() {
            // "Net income attributable to noncontrolling" + "interests  23  17"; a
            // row of figures without a label is the label's (centred on its lines).
            if row[0].is_empty() {
                row[0] = p;
            } else if continues_label(&p, &row[0]) {
                row[0] = join_label(&p, &row[0]);
            } else {
                rows.push(label_row(p, n));
            }
        }
        for c in values {
            let col = nearest_column(&cols, c.fig_x0, c.x1) + 1;
            if !row[col].is_empty() {
                row[col].push(' ');
            }
            row[col].push_str(&c.text);
        }
        rows.push(row);
    }
    if let Some(p) = pending_label {
        rows.push(label_row(p, n));
    }
    // A unit line right above the headers opens the table; one further up, in the
    // title block, is taken out of it and the table stays below the rest of the title.
    let at = header.first().copied().unwrap_or(i);
    let at = match unit_line {
        Some(u) if u + 1 == at => u,
        _ => at,
    };
    let mut consumed: Vec<usize> = header.clone();
    consumed.extend(i..j);
    consumed.extend(unit_line);
    consumed.sort_unstable();
    let mut block = table_from_rows(rows);
    block.unit = unit_text;
    Some(Found {
        lines: consumed,
        at,
        block,
    })
}

/// How far above a table's headers (in font sizes) its unit line may stand, in the
/// title block (which producers may write anywhere in the page's stream).
const UNIT_REACH: f32 = 14.0;

/// `(` opens a unit statement that `)` has not closed yet on this line.
fn unclosed(t: &str) -> bool {
    t.matches('(').count() > t.matches(')').count()
}

/// A cell that states a unit, or opens one that wraps onto the next line
/// ("(In millions, except par value" + "amounts)").
fn opens_unit(t: &str) -> bool {
    is_unit_line(t) || (t.starts_with('(') && unclosed(t) && is_unit_line(&format!("{t})")))
}

/// Cells with a bracketed unit split off what follows it on the same cell
/// ("(Amounts in millions) 2021 2020": the unit, then the headers).
fn unit_split(cells: &[Cell]) -> Vec<Cell> {
    let mut out = Vec::new();
    for c in cells {
        let close = c.text.starts_with('(').then(|| {
            let mut depth = 0i32;
            c.words.iter().position(|w| {
                depth += w.text.matches('(').count() as i32 - w.text.matches(')').count() as i32;
                depth <= 0
            })
        });
        match close.flatten() {
            Some(at) if at + 1 < c.words.len() && is_unit_line(&join_words(&c.words[..=at])) => {
                out.push(cell_of(&c.words[..=at]));
                out.push(cell_of(&c.words[at + 1..]));
            }
            _ => out.push(c.clone()),
        }
    }
    out
}

fn join_words(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn cell_of(words: &[Word]) -> Cell {
    let text = join_words(words);
    Cell {
        x0: words[0].x0,
        x1: words[words.len() - 1].x1,
        fig_x0: words[0].x0,
        kind: kind_of(&text),
        text,
        words: words.to_vec(),
    }
}

/// Take the unit out of the header lines: a cell that states it (with its wrapped
/// end from the next header line), or a whole line that does.
fn take_unit(lines: &[Line], head: &mut [(usize, Vec<Cell>)]) -> Option<String> {
    for idx in 0..head.len() {
        let line_text = lines[head[idx].0].text();
        if let Some(ci) = head[idx].1.iter().position(|c| opens_unit(&c.text)) {
            let mut text = head[idx].1.remove(ci).text;
            if unclosed(&text) {
                if let Some((_, next)) = head.get_mut(idx + 1) {
                    if let Some(cj) = next
                        .iter()
                        .position(|c| c.text.ends_with(')') && !c.text.contains('('))
                    {
                        text = format!("{text} {}", next.remove(cj).text);
                    }
                }
            }
            return Some(text);
        }
        if is_unit_line(&line_text) {
            head[idx].1.clear();
            return Some(line_text);
        }
    }
    None
}

/// A unit line in the title block above the table (by position: the title may be
/// written anywhere in the stream), and its line.
fn unit_above(lines: &[Line], used: &[bool], top: usize, size: f32) -> Option<(String, usize)> {
    let top_y = lines[top].y;
    let mut best: Option<usize> = None;
    for (k, l) in lines.iter().enumerate() {
        let above = top_y - l.y;
        if used[k] || k == top || !(above > 0.0 && above <= UNIT_REACH * size) {
            continue;
        }
        if is_unit_line(&l.text()) && best.is_none_or(|b| lines[b].y < l.y) {
            best = Some(k);
        }
    }
    best.map(|k| (lines[k].text(), k))
}

/// Word gaps wider than this (in font sizes) may separate the headers of two columns
/// that the line's cell gap did not tell apart ("December 31,  December 25,").
const HEADER_WORD_GAP: f32 = 0.6;

/// A header cell that runs over several columns is one header per column when its
/// wide word gaps cut it into one piece per column ("December 31, December 25,");
/// otherwise it is a spanning header ("Three Months Ended") and stays whole.
fn split_over_columns(c: &Cell, cols: &[(f32, f32)], size: f32) -> Vec<Cell> {
    let covered = cols
        .iter()
        .filter(|&&k| overlap(k, c.x0, c.x1) > 0.0)
        .count();
    if covered < 2 || c.words.len() < 2 {
        return vec![c.clone()];
    }
    let gaps: Vec<f32> = c.words.windows(2).map(|p| p[1].x0 - p[0].x1).collect();
    let mut sorted = gaps.clone();
    sorted.sort_by(f32::total_cmp);
    let usual = sorted[sorted.len() / 2];
    let mut pieces: Vec<&[Word]> = Vec::new();
    let mut start = 0;
    for (k, g) in gaps.iter().enumerate() {
        // Wide against the line's own spacing, and wide in absolute terms.
        if *g > HEADER_WORD_GAP * size && *g > 2.0 * usual {
            pieces.push(&c.words[start..=k]);
            start = k + 1;
        }
    }
    pieces.push(&c.words[start..]);
    if pieces.len() != covered {
        return vec![c.clone()];
    }
    // Each piece must sit over its own column, in order.
    let mut last = None;
    for p in &pieces {
        let (x0, x1) = (p[0].x0, p[p.len() - 1].x1);
        let home = nearest_column(cols, x0, x1);
        let over = cols.iter().filter(|&&k| overlap(k, x0, x1) > 0.0).count();
        if over > 1 || last.is_some_and(|l| l >= home) || overlap(cols[home], x0, x1) <= -size {
            return vec![c.clone()];
        }
        last = Some(home);
    }
    pieces.into_iter().map(cell_of).collect()
}

/// Does `next` continue the wrapped label `label`: a lower-case start, or Chinese
/// running on from Chinese that did not end its label with a colon.
fn continues_label(label: &str, next: &str) -> bool {
    let cjk = |c: Option<char>| c.is_some_and(super::clean::is_cjk);
    next.starts_with(|c: char| c.is_lowercase())
        || (cjk(label.chars().last()) && cjk(next.chars().next()) && !label.ends_with(['：', ':']))
}

fn join_label(label: &str, next: &str) -> String {
    super::clean::join_lines(&[label, next])
}

fn label_row(label: String, n: usize) -> Vec<String> {
    let mut r = vec![String::new(); n + 1];
    r[0] = label;
    r
}

/// The first row of `i..j` with a figure that is not a year.
fn first_data(line_cells: &[Vec<Cell>], i: usize, j: usize) -> usize {
    (i..j).find(|&k| is_data_row(&line_cells[k])).unwrap_or(i)
}

/// Section labels taken into a table from above its first row, at most.
const MAX_SECTION_LABELS: usize = 3;

/// A line that labels the rows below it: one short text cell left of the figure
/// columns, not a unit line.
fn is_section_label(cells: &[Cell], line: &Line, left: f32, size: f32) -> bool {
    cells.len() == 1
        && cells[0].kind == Kind::Text
        && is_stub(&cells[0], left, size)
        && line.text().chars().count() <= 60
        && !is_unit_line(&cells[0].text)
}

/// A row of the table's body: some figure that is not a year.
fn is_data_row(cells: &[Cell]) -> bool {
    figure_row(cells)
        && cells
            .iter()
            .any(|c| c.kind == Kind::Figure && !is_year(&c.text))
}

/// A column-header line: short cells over the figure columns (at least one), the
/// rest a stub left of them. A title centred over the page starts far left of the
/// columns and is neither.
fn is_header_line(cells: &[Cell], left: f32, size: f32) -> bool {
    let mut over = 0;
    for c in cells {
        let n = c.text.chars().count();
        if is_stub(c, left, size) {
            if n > MAX_CELL_CHARS {
                return false;
            }
        } else if (c.x0 >= left - HEADER_REACH * size
            // A date centred over right-aligned figures starts well left of them, and
            // reaches into their column.
            || (c.x1 > left + 0.5 * size && c.x0 >= left - CENTRED_HEADER_REACH * size))
            && n <= MAX_HEADER_CHARS
            && (c.kind != Kind::Figure || is_year(&c.text))
        {
            over += 1;
        } else {
            return false;
        }
    }
    over >= 1
}

/// A header cell wholly left of the figure columns (it heads the labels).
fn is_stub(c: &Cell, left: f32, size: f32) -> bool {
    c.x1 < left - size
}

/// A table of text cells: columns are the x-ranges that the cells of multi-cell rows
/// share.
fn generic(lines: &[Line], i: usize, j: usize) -> Found {
    let rows: Vec<&Line> = lines[i..j].iter().collect();
    let cols = merge_spans(
        rows.iter()
            .filter(|r| r.segs.len() >= 2)
            .flat_map(|r| r.segs.iter().map(|s| (s.x0, s.x1))),
    );
    let max_cells = rows.iter().map(|r| r.segs.len()).max().unwrap_or(1);
    let use_cols = cols.len() >= 2 && cols.len() <= 2 * max_cells;
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            if !use_cols || r.segs.len() == 1 {
                return r.segs.iter().map(|s| s.text.clone()).collect();
            }
            let mut row = vec![String::new(); cols.len()];
            for s in &r.segs {
                let k = nearest_column(&cols, s.x0, s.x1);
                if !row[k].is_empty() {
                    row[k].push(' ');
                }
                row[k].push_str(&s.text);
            }
            row
        })
        .collect();
    Found {
        lines: (i..j).collect(),
        at: i,
        block: table_from_rows(cells),
    }
}

fn table_from_rows(cells: Vec<Vec<String>>) -> Block {
    let text = cells
        .iter()
        .map(|r| r.join("\t"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut b = Block::new(BlockKind::Table, text);
    b.cells = Some(cells);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::layout::build_lines;
    use crate::ingest::layout::tests::glyphs;

    fn page(items: &[(f32, f32, &str)]) -> Vec<Line> {
        build_lines(&glyphs(items))
    }

    #[test]
    fn figures_and_placeholders() {
        for t in [
            "1,234", "(660)", "29.9%", "$23,601", "(1,210)", "—", "0.85", "2023¹", "(3.5)%",
        ] {
            assert!(is_figure(t), "{t}");
        }
        for t in ["Revenue", "6/17/2023", "Q2", "1.2.3a", "(a)", "%", "."] {
            assert!(!is_figure(t), "{t}");
        }
    }

    #[test]
    fn unit_lines() {
        for t in [
            "(In millions, except per share amounts)",
            "(in thousands, except per share data)",
            "(Dollars in millions, except per share amounts)",
            "($ and shares in millions, except per share amounts)",
            "(IN MILLIONS)",
            "In millions, except per share data",
            "(Amounts in thousands)",
            "单位：人民币千元",
            "单位：元 币种：人民币",
            "金额单位：万元",
        ] {
            assert!(is_unit_line(t), "{t}");
        }
        for t in [
            "Revenue grew to $1.2 million in the quarter as demand recovered.",
            "Consolidated Statements of Operations",
            "(unaudited)",
            "取得子公司及其他营业单位支付的",
            "单位 余额",
        ] {
            assert!(!is_unit_line(t), "{t}");
        }
    }

    /// An EDGAR-style statement: `$` left in the column, figures right-aligned, a
    /// spanning period header, the unit in the title block, a wrapped label.
    #[test]
    fn statement_with_headers_unit_and_dollar_signs() {
        let lines = page(&[
            (200.0, 40.0, "Consolidated Statements of Operations"),
            (210.0, 52.0, "(in thousands, except per share data)"),
            (380.0, 80.0, "Three Months Ended"),
            (340.0, 92.0, "June 30,"),
            (440.0, 92.0, "June 30,"),
            (350.0, 104.0, "2023"),
            (450.0, 104.0, "2022"),
            (40.0, 120.0, "Revenues"),
            (300.0, 120.0, "$"),
            (345.0, 120.0, "8,187,301"),
            (395.0, 120.0, "$"),
            (445.0, 120.0, "7,970,141"),
            (40.0, 132.0, "Interest expense"),
            (345.0, 132.0, "(174,812)"),
            (445.0, 132.0, "(175,455)"),
            (40.0, 144.0, "Net income attributable to noncontrolling"),
            (40.0, 156.0, "interests"),
            (365.0, 156.0, "23"),
            (465.0, 156.0, "—"),
        ]);
        let found = find(&lines);
        assert_eq!(found.len(), 1);
        let t = &found[0];
        assert_eq!(
            t.block.unit.as_deref(),
            Some("(in thousands, except per share data)")
        );
        let cells = t.block.cells.as_ref().unwrap();
        assert_eq!(cells[0], vec!["(in thousands, except per share data)"]);
        assert_eq!(
            cells[1],
            vec![
                "",
                "Three Months Ended June 30, 2023",
                "Three Months Ended June 30, 2022"
            ]
        );
        assert_eq!(cells[2], vec!["Revenues", "$ 8,187,301", "$ 7,970,141"]);
        assert_eq!(cells[3], vec!["Interest expense", "(174,812)", "(175,455)"]);
        assert_eq!(
            cells[4],
            vec![
                "Net income attributable to noncontrolling interests",
                "23",
                "—"
            ]
        );
        // The title stays prose; the unit line is the table's.
        assert!(!t.lines.contains(&0));
        assert!(t.lines.contains(&1));
    }

    #[test]
    fn dot_leaders_and_years_in_the_header() {
        let lines = page(&[
            (40.0, 80.0, "(In millions)"),
            (305.0, 80.0, "2022"),
            (405.0, 80.0, "2021"),
            (40.0, 100.0, "Net revenue ........"),
            (290.0, 100.0, "$23,601"),
            (390.0, 100.0, "$16,434"),
            (
                40.0,
                112.0,
                "Gross profit ..................................... 10,603",
            ),
            (400.0, 112.0, "7,929"),
        ]);
        let found = find(&lines);
        assert_eq!(found.len(), 1);
        let cells = found[0].block.cells.as_ref().unwrap();
        assert_eq!(found[0].block.unit.as_deref(), Some("(In millions)"));
        assert_eq!(cells[1], vec!["", "2022", "2021"]);
        assert_eq!(cells[2], vec!["Net revenue", "$23,601", "$16,434"]);
        assert_eq!(cells[3], vec!["Gross profit", "10,603", "7,929"]);
    }

    /// Best Buy's cash-flow statement: dates centred over narrow right-aligned figures
    /// start far left of them, below a title that must stay prose.
    #[test]
    fn centred_dates_head_right_aligned_figures() {
        let lines = page(&[
            (200.0, 60.0, "(Unaudited and subject to reclassification)"),
            (420.0, 90.0, "Twelve Months Ended"),
            (380.0, 102.0, "January 28, 2023"),
            (480.0, 102.0, "January 29, 2022"),
            (40.0, 114.0, "Net earnings"),
            (425.0, 114.0, "1,419"),
            (525.0, 114.0, "2,454"),
            (40.0, 126.0, "Restructuring charges"),
            (435.0, 126.0, "147"),
            (525.0, 126.0, "(34)"),
        ]);
        let found = find(&lines);
        assert_eq!(found.len(), 1);
        let cells = found[0].block.cells.as_ref().unwrap();
        assert_eq!(
            cells[0],
            vec![
                "",
                "Twelve Months Ended January 28, 2023",
                "Twelve Months Ended January 29, 2022"
            ]
        );
        assert!(!found[0].lines.contains(&0), "the title stays prose");
    }

    #[test]
    fn prose_with_figures_is_not_a_table() {
        let lines = page(&[
            (
                40.0,
                100.0,
                "Revenue grew 12% to $1,234 million in 2023, driven by",
            ),
            (
                40.0,
                112.0,
                "demand for data center products and 1,000 new customers.",
            ),
        ]);
        assert!(find(&lines).is_empty());
    }
}
