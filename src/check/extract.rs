//! Find every figure in a text and normalise it: sign, currency, scale word,
//! percent or percentage points, unit, and the precision the text shows.
//!
//! Works on the folded text (full-width forms as ASCII) and maps spans back.

use std::sync::LazyLock;

use regex::Regex;

use super::context;
use super::dates::{self, cn_digit};
use super::figure::{Currency, DateParts, Figure, FigureKind, Span, Unit};
use super::normalize::Folded;

/// Digits with thousands separators (ASCII or Chinese comma) or without, then decimals.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9]{1,3}(?:[,，][0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?")
        .expect("number pattern is valid")
});

/// 百分之二十九点九
static CN_PERCENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"百分之([零〇两一二三四五六七八九十百]+(?:点[零〇一二三四五六七八九]+)?)")
        .expect("percent pattern is valid")
});

/// A figure with its byte range in the folded text.
pub(crate) struct Located {
    pub start: usize,
    pub end: usize,
    pub figure: Figure,
}

/// Every figure in `text`, in order of appearance.
pub fn find_figures(text: &str) -> Vec<Figure> {
    let folded = Folded::new(text);
    let mut found = locate(&folded.text);
    context::annotate(&folded.text, &mut found);
    found
        .into_iter()
        .map(|l| {
            let (os, oe) = (folded.orig_byte(l.start), folded.orig_byte(l.end));
            Figure {
                text: text[os..oe].to_string(),
                span: Span {
                    start: os,
                    end: oe,
                    char_start: folded.char_index(l.start),
                    char_end: folded.char_index(l.end),
                },
                ..l.figure
            }
        })
        .collect()
}

fn locate(t: &str) -> Vec<Located> {
    let found_dates = dates::find(t);
    let mut out: Vec<Located> = found_dates
        .iter()
        .map(|d| Located {
            start: d.start,
            end: d.end,
            figure: date_figure(d.parts),
        })
        .collect();
    for m in NUMBER.find_iter(t) {
        if found_dates
            .iter()
            .any(|d| d.start < m.end() && m.start() < d.end)
        {
            continue;
        }
        if let Some(l) = number_at(t, m.start(), m.end()) {
            out.push(l);
        }
    }
    for c in CN_PERCENT.captures_iter(t) {
        let m = c.get(0).expect("group 0 always matches");
        if let Some(figure) = cn_percent(&c[1]) {
            out.push(Located {
                start: m.start(),
                end: m.end(),
                figure,
            });
        }
    }
    out.sort_by_key(|l| (l.start, std::cmp::Reverse(l.end)));
    // A figure's suffix can swallow the next match (`5亿` then `亿`); keep the first.
    let mut kept: Vec<Located> = Vec::with_capacity(out.len());
    for l in out {
        if kept.last().is_none_or(|k| k.end <= l.start) {
            kept.push(l);
        }
    }
    kept
}

fn blank(kind: FigureKind, value: f64) -> Figure {
    Figure {
        text: String::new(),
        span: Span {
            start: 0,
            end: 0,
            char_start: 0,
            char_end: 0,
        },
        value,
        kind,
        currency: None,
        unit: None,
        tolerance: 0.0,
        written_tolerance: 0.0,
        significant: 0,
        scaled: false,
        date: None,
        metric: None,
        context_negative: false,
        stated_direction: false,
        bracketed: false,
    }
}

fn date_figure(parts: DateParts) -> Figure {
    let mut f = blank(FigureKind::Date, parts.value());
    f.date = Some(parts);
    f.significant = [
        parts.year.is_some(),
        parts.quarter.is_some(),
        parts.month.is_some(),
        parts.day.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count() as u8;
    f
}

/// Significant digits and the exponent of the last digit shown.
/// An integer's trailing zeros are not significant: "100" is shown to the hundred.
fn precision(int_part: &str, frac: &str) -> (u8, i32) {
    let all = format!("{int_part}{frac}");
    let lead = all.trim_start_matches('0');
    if lead.is_empty() {
        return (1, -(frac.len() as i32));
    }
    if !frac.is_empty() {
        return (lead.len().min(255) as u8, -(frac.len() as i32));
    }
    let core = lead.trim_end_matches('0');
    let zeros = lead.len() - core.len();
    (core.len().clamp(1, 255) as u8, zeros as i32)
}

/// Parse a figure whose digits are `t[s..e]`, reading its prefix and suffix.
fn number_at(t: &str, s: usize, e: usize) -> Option<Located> {
    let digits: String = t[s..e]
        .chars()
        .filter(|c| *c != ',' && *c != '，')
        .collect();
    let before = &t[..s];
    let prev = before.chars().next_back();
    let prev2 = before.chars().rev().nth(1);
    match prev {
        Some(c) if c.is_ascii_digit() => return None,
        // 1.2.3 (a version or a section number)
        Some('.') if prev2.is_some_and(|c| c.is_ascii_digit()) => return None,
        // RMB'000, '23
        Some('\'') | Some('’') => return None,
        _ => {}
    }

    let mut start = s;
    let mut currency = None;
    if let Some((cur, len)) = currency_prefix(before) {
        currency = Some(cur);
        start -= len;
    } else if prev.is_some_and(|c| c.is_ascii_alphabetic() || c == '_') {
        // revenue1 (a footnote marker), A100, H20: not a figure.
        return None;
    } else if prev == Some('-') && prev2.is_some_and(|c| c.is_ascii_alphabetic()) {
        // COVID-19
        return None;
    }

    let mut negative = false;
    if let Some(pre) = t[..start].strip_suffix('-') {
        if !pre
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            negative = true;
            start -= 1;
        }
    }
    let mut percent = false;
    if t[..start].ends_with("百分之") {
        percent = true;
        start -= "百分之".len();
    }

    let mut pos = e;
    let mut points = false;
    let mut factor = 1.0;
    let mut scaled = false;
    if !percent {
        let p = skip_space(t, pos);
        if t[p..].starts_with('%') {
            percent = true;
            pos = p + 1;
        } else if let Some((end, f)) = match_suffix(t, p, POINTS) {
            points = true;
            factor = f;
            pos = end;
        } else if let Some((end, _)) = match_suffix(t, p, PERCENT_WORDS) {
            percent = true;
            pos = end;
        }
    }
    if !percent && !points {
        let p = skip_space(t, pos);
        if let Some((end, f)) = match_suffix(t, p, SCALES) {
            factor = f;
            scaled = true;
            pos = end;
        } else if let Some((end, f)) = match_glued_scale(t, pos) {
            factor = f;
            scaled = true;
            pos = end;
        }
        let p = skip_space(t, pos);
        if let Some((end, cur)) = match_currency_suffix(t, p) {
            currency = currency.or(Some(cur));
            pos = end;
        }
    }
    let mut unit = None;
    if !percent && !points && currency.is_none() {
        if let Some((end, u, f)) = match_unit(t, pos) {
            unit = Some(u);
            factor *= f;
            pos = end;
        }
    }

    let mut bracketed = false;
    // Accounting negatives: (608.1), (1,421,831), (5.2)%.  A parenthesis with a
    // currency and a scale word is a conversion, not a negative: (US$843.1 million).
    if t[..start].ends_with('(') && t[pos..].starts_with(')') && !(scaled && currency.is_some()) {
        let line_start = t[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        let at_line_start = t[line_start..start - 1].trim().is_empty();
        let bare_int = !digits.contains('.') && currency.is_none() && !percent && !points;
        if bare_int && at_line_start && digits.len() <= 2 {
            return None; // (1) as a list marker
        }
        negative = true;
        bracketed = true;
        start -= 1;
        pos += 1;
        if !percent && !points && t[pos..].starts_with('%') {
            percent = true;
            pos += 1;
        }
    }

    // Glued to letters after it: 5G, 10-K, 3-year.
    let mut rest = t[pos..].chars();
    match rest.next() {
        Some(c) if c.is_ascii_alphabetic() => return None,
        Some('-') if rest.next().is_some_and(|c| c.is_ascii_alphabetic()) => return None,
        _ => {}
    }
    if is_list_marker(t, start, pos, &digits) && currency.is_none() && !percent && !points {
        return None;
    }

    let (int_part, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    let mantissa: f64 = digits.parse().ok()?;
    let bare = currency.is_none() && !percent && !points && !scaled && unit.is_none();
    if bare && !negative && frac.is_empty() && digits.len() == 4 && t[s..e].len() == 4 {
        if let Ok(y) = digits.parse::<i32>() {
            if (1900..=2100).contains(&y) {
                return Some(Located {
                    start,
                    end: pos,
                    figure: date_figure(DateParts {
                        year: Some(y),
                        ..DateParts::default()
                    }),
                });
            }
        }
    }

    let (significant, exp) = precision(int_part, frac);
    let kind = if points {
        FigureKind::Points
    } else if percent {
        FigureKind::Percent
    } else if currency.is_some() {
        FigureKind::Amount
    } else if unit.is_some() {
        FigureKind::Count
    } else {
        FigureKind::Plain
    };
    let value = mantissa * factor;
    let mut f = blank(kind, if negative { -value } else { value });
    f.currency = currency;
    f.unit = unit;
    f.scaled = scaled;
    f.bracketed = bracketed;
    // A change written with its sign ("-22.23%") states its direction.
    f.stated_direction = negative && (percent || points);
    f.significant = significant;
    f.tolerance = 0.5 * 10f64.powi(exp) * factor;
    f.written_tolerance = 0.5 * 10f64.powi(-(frac.len() as i32)) * factor;
    Some(Located {
        start,
        end: pos,
        figure: f,
    })
}

/// `1. Revenue` or `2、收入` at the start of a line: a list number, not a figure.
fn is_list_marker(t: &str, start: usize, end: usize, digits: &str) -> bool {
    if digits.len() > 2 || digits.contains('.') {
        return false;
    }
    let line_start = t[..start].rfind('\n').map_or(0, |i| i + 1);
    // Also `## 1. Revenue` in Markdown.
    let before = t[line_start..start].trim().trim_start_matches('#').trim();
    let after = &t[end..];
    (before.is_empty() || before == "-" || before == "*")
        && (after.starts_with(". ") || after.starts_with('、') || after.starts_with(") "))
}

fn skip_space(t: &str, pos: usize) -> usize {
    if t[pos..].starts_with(' ') {
        pos + 1
    } else {
        pos
    }
}

/// Suffixes written as words or characters: (text, factor, needs an ASCII word boundary after).
type Suffix = (&'static str, f64);

const POINTS: &[Suffix] = &[
    ("个百分点", 1.0),
    ("百分点", 1.0),
    ("个基点", 0.01),
    ("基点", 0.01),
    ("percentage points", 1.0),
    ("percentage point", 1.0),
    ("percent points", 1.0),
    ("ppts", 1.0),
    ("ppt", 1.0),
    ("pps", 1.0),
    ("pp", 1.0),
    ("basis points", 0.01),
    ("basis point", 0.01),
    ("bps", 0.01),
    ("bp", 0.01),
];

const PERCENT_WORDS: &[Suffix] = &[("per cent", 1.0), ("percent", 1.0)];

const SCALES: &[Suffix] = &[
    ("万亿", 1e12),
    ("千亿", 1e11),
    ("百亿", 1e10),
    ("十亿", 1e9),
    ("千万", 1e7),
    ("百万", 1e6),
    ("亿", 1e8),
    ("万", 1e4),
    ("千", 1e3),
    ("trillions", 1e12),
    ("trillion", 1e12),
    ("billions", 1e9),
    ("billion", 1e9),
    ("millions", 1e6),
    ("million", 1e6),
    ("thousands", 1e3),
    ("thousand", 1e3),
    ("trn", 1e12),
    ("tn", 1e12),
    ("bn", 1e9),
    ("mln", 1e6),
    ("mn", 1e6),
];

/// The first suffix in `list` at `pos` (ASCII case-insensitive, word boundary after
/// an ASCII suffix). Returns the end and the suffix's factor.
fn match_suffix(t: &str, pos: usize, list: &[Suffix]) -> Option<(usize, f64)> {
    let rest = &t[pos..];
    list.iter().find_map(|(word, f)| {
        let n = word.len();
        let head = rest.get(..n)?;
        let same = if word.is_ascii() {
            head.eq_ignore_ascii_case(word) && !letter_at(t, pos + n)
        } else {
            head == *word
        };
        same.then_some((pos + n, *f))
    })
}

fn letter_at(t: &str, pos: usize) -> bool {
    t[pos..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
}

/// `5m`, `2.1bn`, `300k`: single-letter scales count only when glued to the digits.
fn match_glued_scale(t: &str, pos: usize) -> Option<(usize, f64)> {
    let c = t[pos..].chars().next()?;
    let f = match c {
        'k' | 'K' => 1e3,
        'm' | 'M' => 1e6,
        'b' | 'B' => 1e9,
        _ => return None,
    };
    // "10b5-1" (an SEC rule) is no ten billion: the letter must end the token.
    let next = t[pos + c.len_utf8()..].chars().next();
    (!letter_at(t, pos + 1) && !next.is_some_and(|n| n.is_ascii_digit())).then_some((pos + 1, f))
}

const CURRENCY_PREFIXES: &[(&str, Currency)] = &[
    ("US$", Currency::Usd),
    ("HK$", Currency::Hkd),
    ("RMB", Currency::Cny),
    ("Rmb", Currency::Cny),
    ("CNY", Currency::Cny),
    ("USD", Currency::Usd),
    ("HKD", Currency::Hkd),
    ("EUR", Currency::Eur),
    ("GBP", Currency::Gbp),
    ("JPY", Currency::Jpy),
    ("人民币", Currency::Cny),
    ("$", Currency::Usd),
    ("¥", Currency::Cny),
    ("€", Currency::Eur),
    ("£", Currency::Gbp),
];

/// A currency written right before the digits (one space allowed): its currency and length.
fn currency_prefix(before: &str) -> Option<(Currency, usize)> {
    let (b, space) = match before.strip_suffix(' ') {
        Some(b) => (b, 1),
        None => (before, 0),
    };
    CURRENCY_PREFIXES.iter().find_map(|(tok, cur)| {
        let pre = b.strip_suffix(tok)?;
        // XRMB or AUS$ are something else.
        if tok.is_ascii()
            && pre
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphabetic())
        {
            return None;
        }
        Some((*cur, tok.len() + space))
    })
}

const CURRENCY_SUFFIXES: &[(&str, Currency)] = &[
    ("人民币", Currency::Cny),
    ("美元", Currency::Usd),
    ("美金", Currency::Usd),
    ("港元", Currency::Hkd),
    ("港币", Currency::Hkd),
    ("欧元", Currency::Eur),
    ("日元", Currency::Jpy),
    ("英镑", Currency::Gbp),
    ("元", Currency::Cny),
    ("RMB", Currency::Cny),
    ("CNY", Currency::Cny),
    ("USD", Currency::Usd),
    ("HKD", Currency::Hkd),
    ("EUR", Currency::Eur),
    ("yuan", Currency::Cny),
    ("renminbi", Currency::Cny),
];

fn match_currency_suffix(t: &str, pos: usize) -> Option<(usize, Currency)> {
    let rest = &t[pos..];
    CURRENCY_SUFFIXES.iter().find_map(|(tok, cur)| {
        let head = rest.get(..tok.len())?;
        let same = if tok.is_ascii() {
            head.eq_ignore_ascii_case(tok) && !letter_at(t, pos + tok.len())
        } else {
            head == *tok
        };
        same.then_some((pos + tok.len(), *cur))
    })
}

const CN_UNITS: &[(&str, Unit, f64)] = &[
    ("月活跃用户", Unit::People, 1.0),
    ("月活用户", Unit::People, 1.0),
    ("日活跃用户", Unit::People, 1.0),
    ("名用户", Unit::People, 1.0),
    ("个用户", Unit::People, 1.0),
    ("位用户", Unit::People, 1.0),
    ("用户", Unit::People, 1.0),
    ("名员工", Unit::People, 1.0),
    ("人", Unit::People, 1.0),
    ("名", Unit::People, 1.0),
    ("位", Unit::People, 1.0),
    ("户", Unit::People, 1.0),
    ("分钟", Unit::Minutes, 1.0),
    ("小时", Unit::Minutes, 60.0),
    ("天", Unit::Days, 1.0),
    ("股", Unit::Shares, 1.0),
    ("家", Unit::Stores, 1.0),
];

/// Words that may stand between a number and its unit: "102.3 million monthly active users".
const EN_MODIFIERS: &[&str] = &[
    "monthly",
    "daily",
    "active",
    "average",
    "paying",
    "unique",
    "registered",
    "new",
    "total",
    "full-time",
    "mobile",
    "annual",
    "cumulative",
    "online",
    "ordinary",
];

fn en_unit(word: &str) -> Option<(Unit, f64)> {
    Some(match word {
        "users" | "user" | "maus" | "mau" | "daus" | "dau" | "customers" | "customer"
        | "subscribers" | "subscriber" | "people" | "persons" | "employees" | "employee"
        | "members" | "member" | "buyers" | "merchants" | "accounts" => (Unit::People, 1.0),
        "minutes" | "minute" | "mins" | "min" => (Unit::Minutes, 1.0),
        "hours" | "hour" | "hrs" => (Unit::Minutes, 60.0),
        "days" | "day" => (Unit::Days, 1.0),
        "shares" | "share" => (Unit::Shares, 1.0),
        "stores" | "store" | "outlets" | "restaurants" | "branches" => (Unit::Stores, 1.0),
        _ => return None,
    })
}

/// A unit after the number: Chinese right after it, English within three words.
fn match_unit(t: &str, pos: usize) -> Option<(usize, Unit, f64)> {
    let p = skip_space(t, pos);
    for (tok, unit, f) in CN_UNITS {
        if t[p..].starts_with(tok) {
            // 人民币 is a currency, handled before; 人民 is not a unit.
            if *tok == "人" && t[p..].starts_with("人民") {
                return None;
            }
            return Some((p + tok.len(), *unit, *f));
        }
    }
    let mut p = pos;
    for _ in 0..3 {
        if !t[p..].starts_with(' ') {
            return None;
        }
        let w_start = p + 1;
        let len = t[w_start..]
            .find(|c: char| !(c.is_ascii_alphabetic() || c == '-'))
            .unwrap_or(t.len() - w_start);
        if len == 0 {
            return None;
        }
        let word = t[w_start..w_start + len].to_ascii_lowercase();
        if let Some((u, f)) = en_unit(&word) {
            return Some((w_start + len, u, f));
        }
        if !EN_MODIFIERS.contains(&word.as_str()) {
            return None;
        }
        p = w_start + len;
    }
    None
}

/// 百分之二十九点九 -> 29.9%.
fn cn_percent(numeral: &str) -> Option<Figure> {
    let (int_s, frac_s) = numeral.split_once('点').unwrap_or((numeral, ""));
    let mut total: u64 = 0;
    let mut cur: Option<u64> = None;
    for c in int_s.chars() {
        match c {
            '十' => {
                total += cur.unwrap_or(1) * 10;
                cur = None;
            }
            '百' => {
                total += cur.unwrap_or(1) * 100;
                cur = None;
            }
            _ => cur = Some(u64::from(cn_digit(c)?)),
        }
    }
    total += cur.unwrap_or(0);
    let frac: String = frac_s
        .chars()
        .map(|c| cn_digit(c).map(|d| char::from(b'0' + d)))
        .collect::<Option<_>>()?;
    let int_digits = total.to_string();
    let value: f64 = if frac.is_empty() {
        total as f64
    } else {
        format!("{int_digits}.{frac}").parse().ok()?
    };
    let (significant, exp) = precision(&int_digits, &frac);
    let mut f = blank(FigureKind::Percent, value);
    f.significant = significant;
    f.tolerance = 0.5 * 10f64.powi(exp);
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(text: &str) -> Figure {
        let f = find_figures(text);
        assert_eq!(f.len(), 1, "{text}: {f:#?}");
        f.into_iter().next().unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn bracket_negative() {
        let f = only("Net loss (608.1) for the year");
        assert_eq!(f.text, "(608.1)");
        assert!(close(f.value, -608.1));
        assert_eq!(f.kind, FigureKind::Plain);
        assert!(close(f.tolerance, 0.05));
    }

    #[test]
    fn currency_and_scale_words() {
        let f = only("revenues were RMB6.13 billion.");
        assert_eq!(f.text, "RMB6.13 billion");
        assert!(close(f.value, 6.13e9));
        assert_eq!(
            (f.kind, f.currency),
            (FigureKind::Amount, Some(Currency::Cny))
        );
        assert!(close(f.tolerance, 5e6));
        assert_eq!(f.significant, 3);

        let f = only("净亏损6.08亿元，");
        assert_eq!(f.text, "6.08亿元");
        assert!(close(f.value, 6.08e8));
        assert_eq!(f.currency, Some(Currency::Cny));
        assert!(close(f.tolerance, 5e5));

        let f = only("规模达1.2万亿");
        assert!(close(f.value, 1.2e12));
        assert_eq!(f.kind, FigureKind::Plain);
        assert!(f.scaled);

        let f = only("(US$843.1 million)");
        assert_eq!(f.text, "US$843.1 million");
        assert!(
            close(f.value, 843.1e6),
            "a conversion in brackets is not negative"
        );
        assert_eq!(f.currency, Some(Currency::Usd));

        let f = only("84.3亿美元");
        assert!(close(f.value, 8.43e9));
        assert_eq!(f.currency, Some(Currency::Usd));
        assert_eq!(only("HK$1,421,831").currency, Some(Currency::Hkd));
        assert!(close(only("$2.5bn").value, 2.5e9));
        assert!(close(only("净利润-3.2亿元").value, -3.2e8));
    }

    #[test]
    fn percents_and_points() {
        let f = only("gross margin 29.9%");
        assert_eq!((f.kind, f.text.as_str()), (FigureKind::Percent, "29.9%"));
        assert!(close(f.value, 29.9));
        assert_eq!(only("毛利率２９．９％").text, "２９．９％");
        assert!(close(only("毛利率２９．９％").value, 29.9));
        let f = only("上升3.5个百分点");
        assert_eq!(
            (f.kind, f.text.as_str()),
            (FigureKind::Points, "3.5个百分点")
        );
        assert!(close(f.value, 3.5));
        assert_eq!(only("up 3.5 percentage points").kind, FigureKind::Points);
        let f = only("down 50 bps");
        assert_eq!(f.kind, FigureKind::Points);
        assert!(close(f.value, 0.5));
        let f = only("占比百分之二十九点九");
        assert_eq!(
            (f.kind, f.text.as_str()),
            (FigureKind::Percent, "百分之二十九点九")
        );
        assert!(close(f.value, 29.9));
        assert!(close(only("百分之16").value, 16.0));
        assert!(close(only("(5.2)%").value, -5.2));
    }

    #[test]
    fn dates_are_dates() {
        let f = only("2023年");
        assert_eq!(f.kind, FigureKind::Date);
        assert_eq!(f.date.unwrap().year, Some(2023));
        let f = only("in 2023, revenue");
        assert_eq!((f.kind, f.text.as_str()), (FigureKind::Date, "2023"));
        assert_eq!(only("截至2023年12月31日").value, 20231231.0);
        assert_eq!(only("as of December 31, 2023").value, 20231231.0);
        assert_eq!(only("Q3 2024").kind, FigureKind::Date);
        assert_eq!(only("2,023").kind, FigureKind::Plain);
    }

    #[test]
    fn plain_numbers_and_counts() {
        let f = only("total 1,234,567 units");
        assert!(close(f.value, 1_234_567.0));
        assert_eq!(f.significant, 7);
        assert!(close(only("总计1，234.5").value, 1234.5));
        let f = only("had 102.3 million monthly active users.");
        assert_eq!(f.text, "102.3 million monthly active users");
        assert_eq!((f.kind, f.unit), (FigureKind::Count, Some(Unit::People)));
        assert!(close(f.value, 102.3e6));
        let f = only("约1亿人使用");
        assert_eq!((f.text.as_str(), f.unit), ("1亿人", Some(Unit::People)));
        assert_eq!(f.significant, 1);
        assert!(close(only("日均使用2小时").value, 120.0));
        assert_eq!(only("平均使用时长为125分钟").unit, Some(Unit::Minutes));
    }

    #[test]
    fn footnotes_identifiers_and_markers_are_not_figures() {
        let f = find_figures("Total revenue¹ was RMB6.13 billion².");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].text, "RMB6.13 billion");
        let f = find_figures("revenue1 was RMB6.13 billion2.");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(find_figures("COVID-19 and 5G on Form 10-K, A100 chips").is_empty());
        assert!(find_figures("RMB'000").is_empty());
        let f = find_figures("1. Revenue grew 16%\n(2) Net loss\n## 3. Outlook");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].text, "16%");
    }

    #[test]
    fn spans_point_into_the_original() {
        let text = "营收为６１．３亿元，增长16%";
        let f = find_figures(text);
        assert_eq!(f.len(), 2);
        assert_eq!(&text[f[0].span.start..f[0].span.end], "６１．３亿元");
        assert_eq!((f[0].span.char_start, f[0].span.char_end), (3, 9));
        assert!(close(f[0].value, 6.13e9));
        assert_eq!(&text[f[1].span.start..f[1].span.end], "16%");
    }
}
