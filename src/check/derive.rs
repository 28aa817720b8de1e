//! Figures a faithful output computes rather than quotes: a growth rate or a change
//! in points between two figures of one metric, a ratio or margin of two figures, a
//! sum or difference of two or three cells of one table column. Each is `Derived`,
//! with its formula and inputs (`22.3% = 1,827,183 / 8,187,301, p. 3`).
//!
//! The search is bounded to keep coincidences out: inputs come from one page (one
//! table column for sums, one table row or 400 characters of prose for changes), at
//! most `MAX_INPUTS` per page, about metrics the output figure or its sentence names;
//! across pages only a ratio of two statement lines of one year whose metrics the
//! sentence names both. An output figure with fewer than two significant digits is
//! never derived.

use super::classify::{Status, Verdict};
use super::figure::{Figure, FigureKind};
use super::numbers::Sources;

/// Inputs considered per page, at most (the figures about the metrics named).
const MAX_INPUTS: usize = 48;
/// Two prose figures compared in one statement stand this close (bytes).
const PROSE_REACH: usize = 400;
/// Output figures need this many significant digits to be taken as computed.
const MIN_SIGNIFICANT: u8 = 2;

/// Margins are a result over revenue: the families of their numerators.
const MARGINS: &[(&str, &str)] = &[
    ("gross_margin", "gross_profit"),
    ("operating_margin", "operating_result"),
    ("net_margin", "net_result"),
];

#[derive(Clone, Copy)]
struct Input<'a> {
    index: usize,
    figure: &'a Figure,
    /// The value as a quantity: accounting brackets are a presentation sign.
    value: f64,
}

fn family(f: &Figure) -> Option<&str> {
    f.metric.as_ref().map(|m| m.family.as_str())
}

pub(crate) fn derived(o: &Figure, sources: &Sources, named: &[&str]) -> Option<Verdict> {
    let om = o.metric.as_ref()?;
    if o.significant < MIN_SIGNIFICANT || o.kind == FigureKind::Date {
        return None;
    }
    let margin_of = MARGINS
        .iter()
        .find(|(m, _)| *m == om.family)
        .map(|(_, n)| *n);
    let wanted = |f: &str| {
        f == om.family || named.contains(&f) || margin_of.is_some_and(|n| n == f || f == "revenue")
    };
    // Inputs by page (or by block where the source has no pages).
    let mut pages: Vec<(Option<u32>, Vec<Input<'_>>)> = Vec::new();
    for (i, s) in sources.figures.iter().enumerate() {
        if s.kind == FigureKind::Date || !family(s).is_some_and(wanted) {
            continue;
        }
        let origin = &sources.origins[i];
        let key = origin.page.or(origin.block.map(|b| b as u32));
        let value = if s.bracketed {
            s.value.abs()
        } else {
            s.signed_value()
        };
        let input = Input {
            index: i,
            figure: s,
            value,
        };
        match pages.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) if list.len() < MAX_INPUTS => list.push(input),
            Some(_) => {}
            None => pages.push((key, vec![input])),
        }
    }
    let verdict = |formula: String, used: Vec<usize>| {
        let mut pages: Vec<u32> = used
            .iter()
            .filter_map(|&i| sources.origins[i].page)
            .collect();
        pages.dedup();
        let at = match pages.as_slice() {
            [] => String::new(),
            [p] => format!(", p. {p}"),
            ps => format!(
                ", pp. {}",
                ps.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
        };
        let formula = format!("{formula}{at}");
        Verdict {
            status: Status::Derived,
            matched: used.first().copied(),
            reason: format!("computed from the source: {formula}"),
            formula: Some(formula),
            inputs: used,
        }
    };
    for (_, inputs) in &pages {
        let found = change(o, sources, inputs)
            .or_else(|| ratio(o, sources, inputs, margin_of))
            .or_else(|| sum(o, sources, inputs));
        if let Some((formula, used)) = found {
            return Some(verdict(formula, used));
        }
    }
    // A ratio of two statements' lines for one period (capex on the cash-flow page over
    // revenue on the income statement): table cells of two metrics the sentence names,
    // in columns of the same year.
    let cells: Vec<Input<'_>> = pages
        .iter()
        .flat_map(|(_, list)| list.iter().copied())
        .filter(|i| {
            sources.origins[i.index].row.is_some()
                && family(i.figure).is_some_and(|f| named.contains(&f))
        })
        .take(MAX_INPUTS * 2)
        .collect();
    cross_statement_ratio(o, sources, &cells).map(|(formula, used)| verdict(formula, used))
}

/// Years a table cell's column header names.
fn column_years(sources: &Sources, i: usize) -> Vec<i32> {
    sources.origins[i]
        .column
        .as_deref()
        .map(super::numbers::years_in)
        .unwrap_or_default()
}

fn cross_statement_ratio(
    o: &Figure,
    sources: &Sources,
    cells: &[Input<'_>],
) -> Option<(String, Vec<usize>)> {
    let as_percent = o.kind == FigureKind::Percent;
    let plain_ratio = o.kind == FigureKind::Plain && o.currency.is_none() && o.value.abs() < 100.0;
    if !as_percent && !plain_ratio {
        return None;
    }
    for a in cells {
        let ya = column_years(sources, a.index);
        if ya.is_empty() {
            continue;
        }
        for b in cells {
            if a.index == b.index
                || same_family(a, b)
                || b.value == 0.0
                || sources.origins[a.index].block == sources.origins[b.index].block
                || !column_years(sources, b.index)
                    .iter()
                    .any(|y| ya.contains(y))
                || !a.figure.kind.is_magnitude()
                || !b.figure.kind.is_magnitude()
            {
                continue;
            }
            let r = (a.value / b.value).abs() * if as_percent { 100.0 } else { 1.0 };
            let slack = r * (rel(a.figure, a.value) + rel(b.figure, b.value));
            if close(o, r, slack) {
                return Some((
                    format!("{} = {} / {}", o.text, a.figure.text, b.figure.text),
                    vec![a.index, b.index],
                ));
            }
        }
    }
    None
}

/// Two inputs compared by the source itself: one table row (periods side by side),
/// or prose close together.
fn side_by_side(sources: &Sources, a: &Input<'_>, b: &Input<'_>) -> bool {
    let (oa, ob) = (&sources.origins[a.index], &sources.origins[b.index]);
    if oa.cell.is_some() || ob.cell.is_some() {
        return match (oa.cell, ob.cell) {
            (Some((ra, ca)), Some((rb, cb))) => oa.block == ob.block && ra == rb && ca != cb,
            _ => false,
        };
    }
    a.figure.span.start.abs_diff(b.figure.span.start) <= PROSE_REACH
}

/// Two cells of one table column in adjacent rows (the lines a subtotal adds up).
fn adjacent_in_column(sources: &Sources, a: &Input<'_>, b: &Input<'_>) -> bool {
    let (oa, ob) = (&sources.origins[a.index], &sources.origins[b.index]);
    match (oa.cell, ob.cell) {
        (Some((ra, ca)), Some((rb, cb))) => {
            oa.block == ob.block && ca == cb && ra.abs_diff(rb) == 1
        }
        _ => false,
    }
}

fn same_family(a: &Input<'_>, b: &Input<'_>) -> bool {
    family(a.figure) == family(b.figure)
}

/// The output value, signed when it states a direction, else a magnitude.
fn close(o: &Figure, computed: f64, slack: f64) -> bool {
    let ov = o.signed_value();
    let (ov, c) = if o.stated_direction || ov < 0.0 {
        (ov, computed)
    } else {
        (ov.abs(), computed.abs())
    };
    (ov - c).abs() <= o.tolerance + slack + 1e-9 * ov.abs().max(c.abs())
}

/// A growth rate (percent) or a change in points between two figures of one metric.
fn change(o: &Figure, sources: &Sources, inputs: &[Input<'_>]) -> Option<(String, Vec<usize>)> {
    let om = o.metric.as_ref()?;
    for a in inputs {
        for b in inputs {
            if a.index == b.index
                || !same_family(a, b)
                || family(a.figure) != Some(om.family.as_str())
                || !side_by_side(sources, a, b)
            {
                continue;
            }
            let (af, bf) = (a.figure, b.figure);
            if o.kind == FigureKind::Points
                && af.kind == FigureKind::Percent
                && bf.kind == FigureKind::Percent
            {
                let d = a.value - b.value;
                if d != 0.0 && close(o, d, af.written_tolerance + bf.written_tolerance) {
                    return Some((
                        format!("{} = {} − {}", o.text, af.text, bf.text),
                        vec![a.index, b.index],
                    ));
                }
            }
            if o.kind == FigureKind::Percent
                && af.kind.is_magnitude()
                && bf.kind.is_magnitude()
                && af.currency == bf.currency
                && b.value != 0.0
            {
                let g = (a.value - b.value) / b.value.abs() * 100.0;
                let slack = g.abs() * rel(af, a.value) + 100.0 * rel(bf, b.value);
                if close(o, g, slack) {
                    return Some((
                        format!("{} = ({} − {}) / {}", o.text, af.text, bf.text, bf.text),
                        vec![a.index, b.index],
                    ));
                }
            }
        }
    }
    None
}

/// Relative rounding of an input, as printed (a table's "100" is 100, not "about 100").
fn rel(f: &Figure, v: f64) -> f64 {
    if v == 0.0 {
        0.0
    } else {
        f.written_tolerance.max(f64::EPSILON) / v.abs()
    }
}

/// A computed value is only evidence when the inputs' rounding leaves it this precise.
const MAX_SLACK_SHARE: f64 = 0.01;

/// A ratio of two figures of different metrics the output names (capex over revenue),
/// or a margin (gross profit over revenue), as a percent or a plain ratio.
fn ratio(
    o: &Figure,
    sources: &Sources,
    inputs: &[Input<'_>],
    margin_of: Option<&str>,
) -> Option<(String, Vec<usize>)> {
    let as_percent = o.kind == FigureKind::Percent;
    let plain_ratio = o.kind == FigureKind::Plain && o.currency.is_none() && o.value.abs() < 100.0;
    if !as_percent && !plain_ratio {
        return None;
    }
    for a in inputs {
        for b in inputs {
            if a.index == b.index || same_family(a, b) || b.value == 0.0 {
                continue;
            }
            let (af, bf) = (a.figure, b.figure);
            if !af.kind.is_magnitude() || !bf.kind.is_magnitude() {
                continue;
            }
            if let Some(num) = margin_of {
                if family(af) != Some(num) || family(bf) != Some("revenue") {
                    continue;
                }
            }
            // Two cells of one table: the same period.
            let (oa, ob) = (&sources.origins[a.index], &sources.origins[b.index]);
            if oa.block.is_some()
                && oa.block == ob.block
                && oa.cell.map(|c| c.1) != ob.cell.map(|c| c.1)
            {
                continue;
            }
            let r = (a.value / b.value).abs() * if as_percent { 100.0 } else { 1.0 };
            let slack = r * (rel(af, a.value) + rel(bf, b.value));
            if close(o, r, slack) {
                return Some((
                    format!("{} = {} / {}", o.text, af.text, bf.text),
                    vec![a.index, b.index],
                ));
            }
        }
    }
    None
}

/// A sum or difference of two or three cells of one table column.
fn sum(o: &Figure, sources: &Sources, inputs: &[Input<'_>]) -> Option<(String, Vec<usize>)> {
    if !o.kind.is_magnitude() {
        return None;
    }
    let cells: Vec<&Input<'_>> = inputs
        .iter()
        .filter(|i| i.figure.kind.is_magnitude() && sources.origins[i.index].cell.is_some())
        .collect();
    // Cells are in their table's unit (or as printed); no other scale is guessed.
    let scales = |i: &Input<'_>| {
        let mut s = vec![1.0];
        if sources.origins[i.index].unit.is_some() {
            s.extend_from_slice(&sources.scales[i.index]);
        }
        s
    };
    let try_value = |v: f64, parts: &[&Input<'_>]| {
        let slack: f64 = parts.iter().map(|p| p.figure.written_tolerance).sum();
        v != 0.0
            && slack <= MAX_SLACK_SHARE * v.abs()
            && scales(parts[0])
                .into_iter()
                .any(|k| close(o, v * k, slack * k))
    };
    for (x, a) in cells.iter().enumerate() {
        for b in &cells[x + 1..] {
            if !adjacent_in_column(sources, a, b) {
                continue;
            }
            let pairs = [
                (
                    a.value + b.value,
                    format!("{} + {}", a.figure.text, b.figure.text),
                ),
                (
                    a.value - b.value,
                    format!("{} − {}", a.figure.text, b.figure.text),
                ),
                (
                    b.value - a.value,
                    format!("{} − {}", b.figure.text, a.figure.text),
                ),
            ];
            for (v, f) in pairs {
                if try_value(v, &[a, b]) {
                    return Some((format!("{} = {f}", o.text), vec![a.index, b.index]));
                }
            }
            for c in cells.iter().skip(x + 1) {
                if c.index == b.index || c.index <= b.index || !adjacent_in_column(sources, b, c) {
                    continue;
                }
                let v = a.value + b.value + c.value;
                if try_value(v, &[a, b, c]) {
                    return Some((
                        format!(
                            "{} = {} + {} + {}",
                            o.text, a.figure.text, b.figure.text, c.figure.text
                        ),
                        vec![a.index, b.index, c.index],
                    ));
                }
            }
        }
    }
    None
}
