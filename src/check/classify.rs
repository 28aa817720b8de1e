//! Match one output figure against the source figures and say what it is:
//! verified, approximate, mismatch (with the slip named) or unsupported.

use serde::{Deserialize, Serialize};

use super::derive::derived;
use super::figure::{Figure, FigureKind};
use super::numbers::{years_in, Said, Sources};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A source figure has this value within the rounding the output shows.
    Verified,
    /// Not printed in the source but computed from printed figures of one table or
    /// page: a ratio, margin, growth rate, change, sum or difference (the finding
    /// carries the formula and its inputs).
    Derived,
    /// It matches only as a coarser rounding ("1亿人" for 102.3 million) or is off
    /// by less than one unit of its last digit.
    Approximate,
    /// The comparable source figure differs: a power of ten, the sign, the currency,
    /// percent vs percentage points, or another value for the same metric.
    Mismatch,
    /// Nothing in the source is near it.
    Unsupported,
}

/// The verdict on one output figure: the index of the source figure it was
/// matched to (if any) and why, in words a user can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Status,
    pub matched: Option<usize>,
    pub reason: String,
    /// Derived figures: the formula and the indices of its inputs.
    pub formula: Option<String>,
    pub inputs: Vec<usize>,
}

impl Verdict {
    fn new(status: Status, matched: Option<usize>, reason: String) -> Self {
        Self {
            status,
            matched,
            reason,
            formula: None,
            inputs: Vec::new(),
        }
    }
}

/// Units a source may state once in a header ("(In millions)", "RMB'000"), which its
/// bare numbers then carry (used for text without table blocks).
pub fn implied_scales(source: &str) -> Vec<f64> {
    let lower = source.to_ascii_lowercase();
    let hints: &[(&[&str], f64)] = &[
        (&["in thousands", "'000", "’000", "千元"], 1e3),
        (&["万元"], 1e4),
        (&["in millions", "百万元"], 1e6),
        (&["亿元"], 1e8),
        (&["in billions"], 1e9),
    ];
    hints
        .iter()
        .filter(|(words, _)| words.iter().any(|w| lower.contains(w)))
        .map(|(_, scale)| *scale)
        .collect()
}

fn group(k: FigureKind) -> u8 {
    match k {
        FigureKind::Amount | FigureKind::Count | FigureKind::Plain => 0,
        FigureKind::Percent => 1,
        FigureKind::Points => 2,
        FigureKind::Date => 3,
    }
}

/// `adjusted_net_result` and `net_result`: a metric and its adjusted (non-GAAP)
/// variant are neither the same nor unrelated.
fn related_families(a: &str, b: &str) -> bool {
    a.strip_prefix("adjusted_") == Some(b) || b.strip_prefix("adjusted_") == Some(a)
}

/// How well the words around two figures agree: same metric high, another
/// metric of a different family negative, unknown or related neutral.
fn context_score(o: &Figure, s: &Figure) -> i32 {
    let mut score = 0;
    if let (Some(a), Some(b)) = (&o.metric, &s.metric) {
        if a.name == b.name {
            score += 3;
        } else if a.family == b.family {
            score += 2;
        } else if !related_families(&a.family, &b.family) {
            score -= 3;
        }
    }
    if o.currency.is_some() && o.currency == s.currency {
        score += 1;
    }
    if o.kind == s.kind {
        score += 1;
    }
    score
}

/// Currency and unit agree, or one side does not say.
fn units_agree(o: &Figure, s: &Figure) -> bool {
    let cur = o.currency.is_none() || s.currency.is_none() || o.currency == s.currency;
    let unit = o.unit.is_none() || s.unit.is_none() || o.unit == s.unit;
    let kinds = !matches!(
        (o.kind, s.kind),
        (FigureKind::Amount, FigureKind::Count) | (FigureKind::Count, FigureKind::Amount)
    );
    cur && unit && kinds
}

/// Both state the same unit of counted things (minutes, users): evidence that
/// outweighs the metric words around them.
fn same_explicit_unit(o: &Figure, s: &Figure) -> bool {
    o.unit.is_some() && o.unit == s.unit
}

fn eps(a: f64, b: f64) -> f64 {
    1e-9 * a.abs().max(b.abs()).max(1e-12)
}

/// Families whose sign is the claim itself (a profit or a loss), so an accounting
/// bracket there is not waived.
const SIGNED_FAMILIES: &[&str] = &[
    "net_result",
    "adjusted_net_result",
    "operating_result",
    "eps",
];

/// Compare magnitudes only: a change stated with a direction word on one side and
/// without on the other ("61%" vs "narrowing by 61%"), or an accounting bracket in a
/// table (`(1,577)` for an outflow) against a figure that claims no direction.
fn magnitude_only(o: &Figure, s: &Figure) -> bool {
    let change = matches!(o.kind, FigureKind::Percent | FigureKind::Points)
        && o.stated_direction != s.stated_direction;
    let signed = |f: &Figure| {
        f.metric
            .as_ref()
            .is_some_and(|m| SIGNED_FAMILIES.contains(&m.family.as_str()))
    };
    let bracket = s.bracketed && o.value > 0.0 && !o.context_negative && !signed(o) && !signed(s);
    change || bracket
}

/// How an output value relates to one source value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fit {
    Exact,
    Coarse,
    Near,
}

fn fit(o: &Figure, s: &Figure, scale: f64) -> Option<(Fit, f64)> {
    let (ov, target) = if magnitude_only(o, s) {
        (o.value.abs(), s.value.abs() * scale)
    } else {
        (o.signed_value(), s.signed_value() * scale)
    };
    let diff = (ov - target).abs();
    let e = eps(ov, target);
    let sig_ok = u32::from(o.significant) + 1 >= u32::from(s.significant.min(3));
    // "$300 million" against "$300.1 million": exact as written (trailing zeros count).
    if o.written_tolerance < o.tolerance && diff <= o.written_tolerance + e {
        return Some((Fit::Exact, diff));
    }
    if diff <= o.tolerance + e {
        return Some((if sig_ok { Fit::Exact } else { Fit::Coarse }, diff));
    }
    // Off by less than one unit of the last digit (truncated instead of rounded),
    // or more precise than the source but inside its rounding (a source figure of
    // two or more significant digits: "20%" in a table is not "about 20").
    if diff <= 2.0 * o.tolerance + e
        || (s.significant >= 2 && diff <= s.tolerance * scale.abs() + e)
    {
        return Some((Fit::Near, diff));
    }
    None
}

/// A source figure for a reason: its text, what it is about (a table's row label,
/// else the metric words around it), its column and page.
fn describe(sources: &Sources, i: usize) -> String {
    let s = &sources.figures[i];
    let o = &sources.origins[i];
    let about = o
        .row
        .clone()
        .or_else(|| s.metric.as_ref().map(|m| m.name.replace('_', " ")));
    let mut out = s.text.clone();
    match (&about, &o.column) {
        (Some(a), Some(c)) => out.push_str(&format!(" ({a}, {c})")),
        (Some(a), None) => out.push_str(&format!(" ({a})")),
        (None, Some(c)) => out.push_str(&format!(" ({c})")),
        (None, None) => {}
    }
    if let Some(p) = o.page {
        out.push_str(&format!(", p. {p}"));
    }
    out
}

/// One source figure that fits, and how.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    index: usize,
    fit: Fit,
    diff: f64,
    score: i32,
    scale: f64,
}

/// Classify output figure `o` against the source. `named` are the metric families
/// the output's sentence names (what a computed figure may be computed from).
pub(crate) fn classify(o: &Figure, sources: &Sources, said: &Said) -> Verdict {
    let figs = &sources.figures;
    if o.kind == FigureKind::Date {
        return classify_date(o, figs);
    }
    let mut fits: Vec<Candidate> = Vec::new();
    for (i, s) in figs.iter().enumerate() {
        if group(s.kind) != group(o.kind) || !units_agree(o, s) || weak_evidence(o, s) {
            continue;
        }
        let mut scales = vec![1.0];
        if o.kind.is_magnitude()
            && !s.scaled
            && matches!(s.kind, FigureKind::Plain | FigureKind::Amount)
        {
            scales.extend_from_slice(&sources.scales[i]);
        }
        let best = scales
            .iter()
            .filter_map(|&k| fit(o, s, k).map(|(f, d)| (f, d, k)))
            .min_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.1.total_cmp(&b.1)));
        if let Some((fit, diff, scale)) = best {
            // A table row whose label names no metric the output's does is about
            // something else ("4.875% Senior Notes" for a net income).
            let unlabelled_row =
                o.metric.is_some() && s.metric.is_none() && sources.origins[i].row.is_some();
            fits.push(Candidate {
                index: i,
                fit,
                diff,
                score: context_score(o, s) - i32::from(unlabelled_row),
                scale,
            });
        }
    }
    let pick = |want: Fit, compatible_only: bool| {
        fits.iter()
            .filter(|x| x.fit == want && (!compatible_only || x.score >= 0))
            .max_by(|a, b| a.score.cmp(&b.score).then(b.diff.total_cmp(&a.diff)))
            .copied()
    };
    let scale_note = |c: &Candidate| {
        let origin = &sources.origins[c.index];
        match (&origin.unit, c.scale) {
            (_, 1.0) => String::new(),
            (Some(u), _) => format!(" in the table's unit {u}"),
            (None, k) => format!(" in the source's stated units (x{k:e})"),
        }
    };

    if let Some(c) = pick(Fit::Exact, true) {
        if let Some(v) = other_period(o, sources, c.index, &said.years) {
            return v;
        }
        return Verdict::new(
            Status::Verified,
            Some(c.index),
            format!("matches {}{}", describe(sources, c.index), scale_note(&c)),
        );
    }
    if let Some(v) = derived(o, sources, &said.families) {
        return v;
    }
    if let Some(c) = pick(Fit::Exact, false) {
        let i = c.index;
        // The value is in the source but the words around it name another metric.
        // Only when the source states this very metric with another value, and the
        // two share no explicit unit, was the figure attached to the wrong metric.
        if !same_explicit_unit(o, &figs[i]) {
            if let Some(j) = same_metric(o, figs, true) {
                return Verdict::new(
                    Status::Mismatch,
                    Some(j),
                    format!(
                        "the source gives {}; {} is the source's {}",
                        describe(sources, j),
                        figs[i].text,
                        metric_name(&figs[i])
                    ),
                );
            }
        }
        return Verdict::new(
            Status::Verified,
            Some(i),
            format!(
                "matches {}{} (the words around it name another metric)",
                describe(sources, i),
                scale_note(&c)
            ),
        );
    }
    for want in [Fit::Coarse, Fit::Near] {
        // A near value about another metric is no evidence for a figure that says
        // what it is about.
        let any_context = o.metric.is_none();
        if let Some(c) = pick(want, true).or(if any_context { pick(want, false) } else { None }) {
            let why = if c.fit == Fit::Coarse {
                "only a coarser rounding of"
            } else {
                "close to but not a rounding of"
            };
            return Verdict::new(
                Status::Approximate,
                Some(c.index),
                format!("{why} {}", describe(sources, c.index)),
            );
        }
    }
    if let Some(v) = slip(o, sources) {
        return v;
    }
    // A count in minutes against the source's minutes: the unit names the metric
    // even where the words around the source's figure do not.
    if let Some(j) = same_metric(o, figs, false).or_else(|| same_unit(o, figs)) {
        return Verdict::new(
            Status::Mismatch,
            Some(j),
            format!("the source gives {}", describe(sources, j)),
        );
    }
    Verdict::new(Status::Unsupported, None, "no source figure near it".into())
}

/// The output's sentence names a year, the matching table cell sits in another year's
/// column, and the same row has a column for the year named: the figure is the other
/// period's ("revenue in 2023 was $7.97 billion" with 7,970,141 under 2022 and
/// 8,187,301 under 2023).
fn other_period(o: &Figure, sources: &Sources, i: usize, years: &[i32]) -> Option<Verdict> {
    let origin = &sources.origins[i];
    let column_years = years_in(origin.column.as_deref()?);
    if years.is_empty() || column_years.is_empty() || column_years.iter().any(|y| years.contains(y))
    {
        return None;
    }
    // The named year's cell of this row: in the same table, or in the same row of a
    // table that repeats the layout for each year (segment tables), under a header
    // that differs only by its year.
    let without_years = |c: &str| {
        c.chars()
            .filter(|ch| !ch.is_ascii_digit())
            .collect::<String>()
    };
    let this_column = without_years(origin.column.as_deref()?);
    let j = (0..sources.figures.len())
        .filter(|&j| {
            let oj = &sources.origins[j];
            j != i
                && oj.row.is_some()
                && oj.row == origin.row
                && group(sources.figures[j].kind) == group(o.kind)
                && oj
                    .column
                    .as_deref()
                    .is_some_and(|c| years_in(c).iter().any(|y| years.contains(y)))
        })
        .filter_map(|j| {
            let oj = &sources.origins[j];
            let same_table = oj.block == origin.block;
            let same_header = oj.column.as_deref().map(without_years) == Some(this_column.clone());
            (same_table || same_header).then_some((u8::from(same_table) + u8::from(same_header), j))
        })
        .max_by_key(|&(score, j)| (score, std::cmp::Reverse(j)))
        .map(|(_, j)| j)?;
    Some(Verdict::new(
        Status::Mismatch,
        Some(j),
        format!(
            "the source gives {} for the period named; {} is {}'s",
            describe(sources, j),
            sources.figures[i].text,
            origin.column.as_deref().unwrap_or("another period")
        ),
    ))
}

/// A bare source number with no metric word, matched by an output figure of one
/// or two digits that says what it counts ("59分钟" against a lone "59" in a long
/// report), is a coincidence, not evidence.
fn weak_evidence(o: &Figure, s: &Figure) -> bool {
    s.kind == FigureKind::Plain
        && s.metric.is_none()
        && !s.scaled
        && o.kind != FigureKind::Plain
        && o.significant <= 2
}

fn rank(f: Fit) -> u8 {
    match f {
        Fit::Exact => 0,
        Fit::Coarse => 1,
        Fit::Near => 2,
    }
}

fn metric_name(s: &Figure) -> String {
    s.metric
        .as_ref()
        .map_or_else(|| "figure".into(), |m| m.name.replace('_', " "))
}

/// The source figure nearest in value among those about the same metric (same kind
/// group, units agreeing): of the same name when `same_name`, else of the family.
fn same_metric(o: &Figure, sources: &[Figure], same_name: bool) -> Option<usize> {
    let om = o.metric.as_ref()?;
    sources
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            group(s.kind) == group(o.kind)
                && units_agree(o, s)
                && s.metric.as_ref().is_some_and(|m| {
                    if same_name {
                        m.name == om.name
                    } else {
                        m.family == om.family
                    }
                })
        })
        .min_by(|(_, a), (_, b)| {
            let da = log_distance(o.value, a.value);
            let db = log_distance(o.value, b.value);
            let na = a.metric.as_ref().is_some_and(|m| m.name == om.name);
            let nb = b.metric.as_ref().is_some_and(|m| m.name == om.name);
            nb.cmp(&na).then(da.total_cmp(&db))
        })
        .map(|(i, _)| i)
}

/// The source figure nearest in value with the same explicit unit (minutes, users).
fn same_unit(o: &Figure, sources: &[Figure]) -> Option<usize> {
    sources
        .iter()
        .enumerate()
        .filter(|(_, s)| same_explicit_unit(o, s) && o.metric.is_some())
        .min_by(|(_, a), (_, b)| {
            log_distance(o.value, a.value).total_cmp(&log_distance(o.value, b.value))
        })
        .map(|(i, _)| i)
}

fn log_distance(a: f64, b: f64) -> f64 {
    let (a, b) = (a.abs().max(1e-12), b.abs().max(1e-12));
    (a.ln() - b.ln()).abs()
}

/// Margin and rate metrics: a change of one stated in percent is often written
/// "3%" for 3 percentage points.
fn is_rate(f: &Figure) -> bool {
    f.metric
        .as_ref()
        .is_some_and(|m| m.family.ends_with("margin") || m.family.ends_with("rate"))
}

/// A named slip against a source figure in a compatible context: wrong currency,
/// sign lost, percent for percentage points, or a power of ten.
fn slip(o: &Figure, sources: &Sources) -> Option<Verdict> {
    let figs = &sources.figures;
    let ov = o.signed_value();
    // (score, priority, index, reason, status)
    let mut found: Option<(i32, u8, usize, String, Status)> = None;
    for (i, s) in figs.iter().enumerate() {
        let score = context_score(o, s);
        if score < 0 || s.kind == FigureKind::Date {
            continue;
        }
        let sv = s.signed_value();
        let tol = o.tolerance.max(s.tolerance) + eps(ov, sv);
        let same_abs = (ov.abs() - sv.abs()).abs() <= tol;
        let same_group = group(s.kind) == group(o.kind);
        let mut candidate = |prio: u8, why: String, status: Status| {
            let better = found.as_ref().is_none_or(|(sc, pr, _, _, _)| {
                (score, std::cmp::Reverse(prio)) > (*sc, std::cmp::Reverse(*pr))
            });
            if better {
                found = Some((score, prio, i, why, status));
            }
        };
        if same_group && o.kind.is_magnitude() && same_abs && ov.signum() == sv.signum() {
            if let (Some(a), Some(b)) = (o.currency, s.currency) {
                if a != b {
                    candidate(
                        0,
                        format!("wrong currency: the source has {}", describe(sources, i)),
                        Status::Mismatch,
                    );
                    continue;
                }
            }
        }
        if same_group
            && units_agree(o, s)
            && same_abs
            && ov != 0.0
            && ov.signum() != sv.signum()
            && score >= 1
        {
            let what = if sv < 0.0 {
                "negative (a loss or a decrease)"
            } else {
                "positive"
            };
            candidate(
                0,
                format!("sign: the source's {} is {what}", describe(sources, i)),
                Status::Mismatch,
            );
            continue;
        }
        let pp = matches!(
            (o.kind, s.kind),
            (FigureKind::Percent, FigureKind::Points) | (FigureKind::Points, FigureKind::Percent)
        );
        if pp && (ov.abs() - sv.abs()).abs() <= tol {
            // "3 percentage points" for a margin change the source writes "3%" is the
            // careful reading of the same fact; "3%" for the source's points is not.
            if o.kind == FigureKind::Points && (is_rate(o) || is_rate(s)) {
                candidate(
                    0,
                    format!(
                        "the source writes this change of a rate as {} (percent or points?)",
                        describe(sources, i)
                    ),
                    Status::Approximate,
                );
            } else {
                candidate(
                    0,
                    format!(
                        "percent vs percentage points: the source has {}",
                        describe(sources, i)
                    ),
                    Status::Mismatch,
                );
            }
            continue;
        }
        // A power of ten is a coincidence unless the metric or the currency agrees.
        if same_group && units_agree(o, s) && o.significant >= 2 && s.significant >= 2 && score >= 2
        {
            for k in [-4i32, -3, -2, -1, 1, 2, 3, 4] {
                let p = 10f64.powi(k);
                let t = o.tolerance.max(s.tolerance * p) + eps(ov, sv * p);
                if (ov.abs() - sv.abs() * p).abs() <= t {
                    let hint = if k.abs() == 1 && o.kind.is_magnitude() {
                        " (a million/亿 or billion/亿 slip?)"
                    } else {
                        ""
                    };
                    candidate(
                        1,
                        format!(
                            "off by a factor of 10^{k} from the source's {}{hint}",
                            describe(sources, i)
                        ),
                        Status::Mismatch,
                    );
                    break;
                }
            }
        }
    }
    found.map(|(_, _, i, why, status)| Verdict::new(status, Some(i), why))
}

/// Dates match when the source states every part the output states and they agree;
/// a date with the same year but another month or day (or the same day in
/// another year) is a mismatch; one the source states less precisely is approximate.
fn classify_date(o: &Figure, sources: &[Figure]) -> Verdict {
    let Some(od) = o.date else {
        return Verdict::new(Status::Unsupported, None, "no source date near it".into());
    };
    let mut verified: Option<(usize, usize)> = None;
    // The conflicting date that states the most parts names the slip best.
    let mut conflict: Option<(usize, usize)> = None;
    let mut partial: Option<usize> = None;
    for (i, s) in sources.iter().enumerate() {
        let Some(sd) = s.date else { continue };
        let differ = |a: Option<u8>, b: Option<u8>| a.is_some() && b.is_some() && a != b;
        // A quarter agrees with a month in it: Q4 2023 and December 31, 2023.
        let in_quarter = |q: Option<u8>, m: Option<u8>| match (q, m) {
            (Some(q), Some(m)) => m.div_ceil(3) == q,
            _ => false,
        };
        let quarter_clash = (od.quarter.is_some()
            && sd.month.is_some()
            && !in_quarter(od.quarter, sd.month))
            || (sd.quarter.is_some() && od.month.is_some() && !in_quarter(sd.quarter, od.month));
        let parts_clash = differ(od.quarter, sd.quarter)
            || differ(od.month, sd.month)
            || differ(od.day, sd.day)
            || quarter_clash;
        let same_year = od.year.is_some() && od.year == sd.year;
        let year_clash = od.year.is_some() && sd.year.is_some() && od.year != sd.year;
        if (same_year && parts_clash)
            || (year_clash
                && od.month.is_some()
                && od.month == sd.month
                && od.day.is_some()
                && od.day == sd.day)
        {
            let stated = s.significant as usize;
            if conflict.is_none_or(|(_, n)| stated > n) {
                conflict = Some((i, stated));
            }
            continue;
        }
        if parts_clash || year_clash {
            continue;
        }
        let covered = [
            od.year.is_none() || sd.year.is_some(),
            od.quarter.is_none() || sd.quarter.is_some() || in_quarter(od.quarter, sd.month),
            od.month.is_none() || sd.month.is_some(),
            od.day.is_none() || sd.day.is_some(),
        ];
        let shared = [
            same_year,
            od.quarter.is_some() && (od.quarter == sd.quarter || in_quarter(od.quarter, sd.month)),
            od.month.is_some() && od.month == sd.month,
            od.day.is_some() && od.day == sd.day,
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if shared == 0 {
            continue;
        }
        if covered.iter().all(|x| *x) {
            if verified.is_none_or(|(_, n)| shared > n) {
                verified = Some((i, shared));
            }
        } else {
            partial.get_or_insert(i);
        }
    }
    if let Some((i, _)) = verified {
        return Verdict::new(
            Status::Verified,
            Some(i),
            format!("matches {}", sources[i].text),
        );
    }
    if let Some((i, _)) = conflict {
        return Verdict::new(
            Status::Mismatch,
            Some(i),
            format!("the source's date is {}", sources[i].text),
        );
    }
    if let Some(i) = partial {
        return Verdict::new(
            Status::Approximate,
            Some(i),
            format!("the source states only {}", sources[i].text),
        );
    }
    Verdict::new(Status::Unsupported, None, "no source date near it".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::extract::find_figures;

    fn verdict(source: &str, output: &str) -> Verdict {
        let sources = Sources::from_text(source);
        let out = find_figures(output);
        assert_eq!(out.len(), 1, "{out:#?}");
        classify(&out[0], &sources, &Said::of(output))
    }

    #[test]
    fn points_derived_from_two_percents() {
        let v = verdict(
            "Gross margin was 29.9%, compared with 23.1% a year ago.",
            "毛利率同比提升6.8个百分点",
        );
        assert_eq!(v.status, Status::Derived, "{v:?}");
        assert_eq!(v.formula.as_deref(), Some("6.8个百分点 = 29.9% − 23.1%"));
        assert_eq!(v.inputs, vec![0, 1]);
        let v = verdict(
            "Gross margin was 29.9%, compared with 23.1% a year ago.",
            "毛利率同比提升7.8个百分点",
        );
        assert_eq!(v.status, Status::Unsupported, "{v:?}");
    }

    #[test]
    fn growth_derived_from_two_amounts() {
        let src = "Revenue was RMB6.13 billion, compared with RMB5.28 billion a year ago.";
        let v = verdict(src, "营收同比增长16.1%");
        assert_eq!(v.status, Status::Derived, "{v:?}");
        assert_eq!(
            v.formula.as_deref(),
            Some("16.1% = (RMB6.13 billion − RMB5.28 billion) / RMB5.28 billion")
        );
        let v = verdict(src, "营收同比增长61%");
        assert_eq!(v.status, Status::Unsupported, "{v:?}");
    }

    #[test]
    fn table_units_stated_once() {
        let src = "(In millions)\nResearch and development 3,423 2,532";
        let v = verdict(src, "R&D expenses were $3.4 billion");
        assert_eq!(v.status, Status::Verified, "{v:?}");
        assert!(v.reason.contains("stated units"), "{v:?}");
        let v = verdict(
            "Research and development 3,423 2,532",
            "R&D expenses were $3.4 billion",
        );
        assert_ne!(v.status, Status::Verified, "{v:?}");
    }

    #[test]
    fn rounding_and_precision() {
        let src = "Total net revenues were RMB6.13 billion.";
        assert_eq!(verdict(src, "收入约61亿元").status, Status::Verified);
        assert_eq!(verdict(src, "收入约60亿元").status, Status::Approximate);
        assert_eq!(verdict(src, "收入61.4亿元").status, Status::Approximate);
        assert_eq!(verdict(src, "收入61.5亿元").status, Status::Mismatch);
        assert_eq!(verdict(src, "收入6,130,000,000元").status, Status::Verified);
    }

    #[test]
    fn wrong_metric_for_a_source_value() {
        let src = "Revenue grew 16%. Gross margin was 29.9%.";
        let v = verdict(src, "毛利率为16%");
        assert_eq!(v.status, Status::Mismatch, "{v:?}");
        assert!(v.reason.contains("29.9%"), "{v:?}");
    }

    #[test]
    fn coincidences_in_unrelated_text_are_not_findings() {
        let src = "See section 59 and the 32 items in Table 7.";
        assert_eq!(verdict(src, "日均使用59分钟").status, Status::Unsupported);
        assert_eq!(verdict(src, "员工3,200人").status, Status::Unsupported);
        // A long bare number is evidence even without words around it.
        assert_eq!(
            verdict("Total 1,421,831", "合计1,421,831港元").status,
            Status::Verified
        );
    }

    #[test]
    fn dates() {
        let src = "As of December 31, 2023 and for fiscal 2023.";
        assert_eq!(verdict(src, "截至2023年12月31日").status, Status::Verified);
        assert_eq!(verdict(src, "2023年第四季度").status, Status::Verified);
        assert_eq!(verdict(src, "截至2023年11月30日").status, Status::Mismatch);
        assert_eq!(verdict(src, "截至2022年12月31日").status, Status::Mismatch);
        assert_eq!(
            verdict("In 2023 revenue grew.", "截至2023年6月30日").status,
            Status::Approximate
        );
        assert_eq!(verdict(src, "2021年").status, Status::Unsupported);
    }

    /// The Index demo's false alarms, as classes: a narrowing stated with a direction
    /// on one side only, the adjusted metric read next to the unadjusted one, minutes
    /// beside a count of users.
    #[test]
    fn directions_adjusted_metrics_and_time_units() {
        let src = "Net loss was RMB608.1 million, narrowing by 61% year over year. Adjusted \
                   net loss was RMB213.7 million, narrowing by 72% year over year. Daily active \
                   users reached 102.3 million, who spent an average of 99 minutes a day, \
                   compared with 94 minutes a year ago.";
        for out in [
            "净亏损同比收窄61%",
            "净亏损下降61%",
            "net loss narrowed 61%",
        ] {
            let v = verdict(src, out);
            assert_eq!(v.status, Status::Verified, "{out}: {v:?}");
        }
        let v = verdict(src, "经调整后净亏损同比收窄72%");
        assert_eq!(v.status, Status::Verified, "{v:?}");
        let v = verdict(src, "经调整净亏损为2.137亿元");
        assert_eq!(v.status, Status::Verified, "{v:?}");
        for out in ["日均使用时长99分钟", "去年同期为94分钟"] {
            let v = verdict(src, out);
            assert_eq!(v.status, Status::Verified, "{out}: {v:?}");
        }
        // Still caught: the opposite direction, another value.
        let v = verdict(src, "净亏损同比扩大61%");
        assert_eq!(v.status, Status::Mismatch, "{v:?}");
        let v = verdict(src, "日均使用时长85分钟");
        assert_eq!(v.status, Status::Mismatch, "{v:?}");
    }

    #[test]
    fn points_for_a_margin_change_written_as_percent() {
        let src = "Operating margin was 22%, up 3% from a year ago.";
        let v = verdict(src, "operating margin rose 3 percentage points");
        assert_eq!(v.status, Status::Approximate, "{v:?}");
        // The other way round is the slip: percent for the source's points.
        let v = verdict(
            "Gross margin improved by 6.8 percentage points.",
            "gross margin up 6.8%",
        );
        assert_eq!(v.status, Status::Mismatch, "{v:?}");
    }

    #[test]
    fn a_stated_value_is_not_a_mismatch_because_another_lies_nearer() {
        // 16% is revenue growth and the gross margin is 29.9%: attaching 16% to the
        // gross margin is still the slip.
        let src = "Revenue grew 16%. Gross margin was 29.9%.";
        assert_eq!(verdict(src, "毛利率为16%").status, Status::Mismatch);
        // But a value the source states, about a metric it gives no other value for,
        // verifies although the words around it differ.
        let src = "Sales and marketing expenses were $1.2 billion, 15% of revenue.";
        let v = verdict(src, "marketing spend of 15%");
        assert_eq!(v.status, Status::Verified, "{v:?}");
    }
}
