//! Match one output figure against the source figures and say what it is:
//! verified, approximate, mismatch (with the slip named) or unsupported.

use serde::{Deserialize, Serialize};

use super::figure::{Figure, FigureKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A source figure has this value within the rounding the output shows.
    Verified,
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
}

impl Verdict {
    fn new(status: Status, matched: Option<usize>, reason: String) -> Self {
        Self {
            status,
            matched,
            reason,
        }
    }
}

/// Units a source table may state once in a header ("(In millions)", "RMB'000"),
/// which its bare cells then carry.
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

/// How well the words around two figures agree: same metric high, another
/// metric of a different family negative, unknown neutral.
fn context_score(o: &Figure, s: &Figure) -> i32 {
    let mut score = 0;
    if let (Some(a), Some(b)) = (&o.metric, &s.metric) {
        if a.name == b.name {
            score += 3;
        } else if a.family == b.family {
            score += 2;
        } else {
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

fn eps(a: f64, b: f64) -> f64 {
    1e-9 * a.abs().max(b.abs()).max(1e-12)
}

/// How an output value relates to one source value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fit {
    Exact,
    Coarse,
    Near,
}

fn fit(o: &Figure, s: &Figure, scale: f64) -> Option<(Fit, f64)> {
    let target = s.signed_value() * scale;
    let ov = o.signed_value();
    let diff = (ov - target).abs();
    let e = eps(ov, target);
    let sig_ok = u32::from(o.significant) + 1 >= u32::from(s.significant.min(3));
    if diff <= o.tolerance + e {
        return Some((if sig_ok { Fit::Exact } else { Fit::Coarse }, diff));
    }
    // Off by less than one unit of the last digit (truncated instead of rounded),
    // or more precise than the source but inside its rounding.
    if diff <= 2.0 * o.tolerance + e || diff <= s.tolerance * scale.abs() + e {
        return Some((Fit::Near, diff));
    }
    None
}

fn describe(s: &Figure) -> String {
    match &s.metric {
        Some(m) => format!("{} ({})", s.text, m.name.replace('_', " ")),
        None => s.text.clone(),
    }
}

/// Classify output figure `o` against `sources`.
pub fn classify(o: &Figure, sources: &[Figure], implied: &[f64]) -> Verdict {
    if o.kind == FigureKind::Date {
        return classify_date(o, sources);
    }
    // (source index, fit, diff, context score, scale used)
    let mut fits: Vec<(usize, Fit, f64, i32, f64)> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        if group(s.kind) != group(o.kind) || !units_agree(o, s) || weak_evidence(o, s) {
            continue;
        }
        let mut scales = vec![1.0];
        if o.kind.is_magnitude()
            && !s.scaled
            && matches!(s.kind, FigureKind::Plain | FigureKind::Amount)
        {
            scales.extend_from_slice(implied);
        }
        let best = scales
            .iter()
            .filter_map(|&k| fit(o, s, k).map(|(f, d)| (f, d, k)))
            .min_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.1.total_cmp(&b.1)));
        if let Some((f, d, k)) = best {
            fits.push((i, f, d, context_score(o, s), k));
        }
    }
    let pick = |want: Fit, compatible_only: bool| {
        fits.iter()
            .filter(|x| x.1 == want && (!compatible_only || x.3 >= 0))
            .max_by(|a, b| a.3.cmp(&b.3).then(b.2.total_cmp(&a.2)))
            .copied()
    };
    let scale_note = |k: f64| {
        if k == 1.0 {
            String::new()
        } else {
            format!(" in the source's stated units (x{k:e})")
        }
    };

    if let Some((i, _, _, _, k)) = pick(Fit::Exact, true) {
        return Verdict::new(
            Status::Verified,
            Some(i),
            format!("matches {}{}", describe(&sources[i]), scale_note(k)),
        );
    }
    if let Some(v) = derived(o, sources) {
        return v;
    }
    let exact_elsewhere = pick(Fit::Exact, false);
    if let Some((i, _, _, _, _)) = exact_elsewhere {
        // The value is in the source but about another metric. If the source states
        // this metric with another value, the figure was attached to the wrong metric.
        if let Some(j) = same_metric(o, sources) {
            return Verdict::new(
                Status::Mismatch,
                Some(j),
                format!(
                    "the source gives {}; {} is the source's {}",
                    describe(&sources[j]),
                    sources[i].text,
                    metric_name(&sources[i])
                ),
            );
        }
        return Verdict::new(
            Status::Verified,
            Some(i),
            format!(
                "matches {} (about another metric in the source)",
                describe(&sources[i])
            ),
        );
    }
    for want in [Fit::Coarse, Fit::Near] {
        if let Some((i, f, _, _, _)) = pick(want, true).or(pick(want, false)) {
            let why = if f == Fit::Coarse {
                "only a coarser rounding of"
            } else {
                "close to but not a rounding of"
            };
            return Verdict::new(
                Status::Approximate,
                Some(i),
                format!("{why} {}", describe(&sources[i])),
            );
        }
    }
    if let Some(v) = slip(o, sources) {
        return v;
    }
    if let Some(j) = same_metric(o, sources) {
        return Verdict::new(
            Status::Mismatch,
            Some(j),
            format!("the source gives {}", describe(&sources[j])),
        );
    }
    Verdict::new(Status::Unsupported, None, "no source figure near it".into())
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

/// The source figure nearest in value among those about the same metric
/// (same family, same kind group, units agreeing).
fn same_metric(o: &Figure, sources: &[Figure]) -> Option<usize> {
    let om = o.metric.as_ref()?;
    sources
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            group(s.kind) == group(o.kind)
                && units_agree(o, s)
                && s.metric.as_ref().is_some_and(|m| m.family == om.family)
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

fn log_distance(a: f64, b: f64) -> f64 {
    let (a, b) = (a.abs().max(1e-12), b.abs().max(1e-12));
    (a.ln() - b.ln()).abs()
}

/// A named slip against a source figure in a compatible context: wrong currency,
/// sign lost, percent for percentage points, or a power of ten.
fn slip(o: &Figure, sources: &[Figure]) -> Option<Verdict> {
    let ov = o.signed_value();
    let mut found: Option<(i32, u8, usize, String)> = None;
    for (i, s) in sources.iter().enumerate() {
        let score = context_score(o, s);
        if score < 0 || s.kind == FigureKind::Date {
            continue;
        }
        let sv = s.signed_value();
        let tol = o.tolerance.max(s.tolerance) + eps(ov, sv);
        let same_abs = (ov.abs() - sv.abs()).abs() <= tol;
        let same_group = group(s.kind) == group(o.kind);
        let mut candidate = |prio: u8, why: String| {
            let better = found.as_ref().is_none_or(|(sc, pr, _, _)| {
                (score, std::cmp::Reverse(prio)) > (*sc, std::cmp::Reverse(*pr))
            });
            if better {
                found = Some((score, prio, i, why));
            }
        };
        if same_group && o.kind.is_magnitude() && same_abs && ov.signum() == sv.signum() {
            if let (Some(a), Some(b)) = (o.currency, s.currency) {
                if a != b {
                    candidate(0, format!("wrong currency: the source has {}", describe(s)));
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
            candidate(0, format!("sign: the source's {} is {what}", describe(s)));
            continue;
        }
        let pp = matches!(
            (o.kind, s.kind),
            (FigureKind::Percent, FigureKind::Points) | (FigureKind::Points, FigureKind::Percent)
        );
        if pp && same_abs {
            candidate(
                0,
                format!(
                    "percent vs percentage points: the source has {}",
                    describe(s)
                ),
            );
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
                            describe(s)
                        ),
                    );
                    break;
                }
            }
        }
    }
    found.map(|(_, _, i, why)| Verdict::new(Status::Mismatch, Some(i), why))
}

/// Figures a faithful summary computes from the source: a change in percentage
/// points between two percents of the same metric, or a growth rate between two
/// amounts of the same metric.
fn derived(o: &Figure, sources: &[Figure]) -> Option<Verdict> {
    let om = o.metric.as_ref()?;
    let same: Vec<(usize, &Figure)> = sources
        .iter()
        .enumerate()
        .filter(|(_, s)| s.metric.as_ref().is_some_and(|m| m.family == om.family))
        .collect();
    let ov = o.signed_value();
    let ok = |v: f64, slack: f64| (ov - v).abs() <= o.tolerance + slack + eps(ov, v);
    for (ai, a) in &same {
        for (bi, b) in &same {
            // Comparisons are stated together: only pairs close in the text.
            if ai == bi || a.span.start.abs_diff(b.span.start) > 400 {
                continue;
            }
            let (av, bv) = (a.signed_value(), b.signed_value());
            if o.kind == FigureKind::Points
                && a.kind == FigureKind::Percent
                && b.kind == FigureKind::Percent
            {
                // Compare magnitudes: the output states the direction in words or not at all.
                let d = av - bv;
                if d > 0.0
                    && (ov.abs() - d).abs() <= o.tolerance + a.tolerance + b.tolerance + eps(ov, d)
                {
                    return Some(Verdict::new(
                        Status::Verified,
                        Some(*ai),
                        format!("the change from {} to {}", b.text, a.text),
                    ));
                }
            }
            if o.kind == FigureKind::Percent
                && a.kind.is_magnitude()
                && b.kind.is_magnitude()
                && a.currency == b.currency
                && bv != 0.0
            {
                let growth = (av - bv) / bv.abs() * 100.0;
                if ok(growth, 0.0) {
                    return Some(Verdict::new(
                        Status::Verified,
                        Some(*ai),
                        format!("the change from {} to {}", b.text, a.text),
                    ));
                }
            }
        }
    }
    None
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
        let sources = find_figures(source);
        let out = find_figures(output);
        assert_eq!(out.len(), 1, "{out:#?}");
        classify(&out[0], &sources, &implied_scales(source))
    }

    #[test]
    fn points_derived_from_two_percents() {
        let v = verdict(
            "Gross margin was 29.9%, compared with 23.1% a year ago.",
            "毛利率同比提升6.8个百分点",
        );
        assert_eq!(v.status, Status::Verified, "{v:?}");
        assert!(
            v.reason.contains("23.1%") && v.reason.contains("29.9%"),
            "{v:?}"
        );
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
        assert_eq!(v.status, Status::Verified, "{v:?}");
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
}
