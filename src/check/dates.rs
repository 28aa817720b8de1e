//! Dates, years and quarters, found before amounts so `2023年12月31日` or
//! `December 31, 2023` is one date, not three numbers.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::figure::DateParts;

/// A date found in folded text: byte range and the parts it states.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoundDate {
    pub start: usize,
    pub end: usize,
    pub parts: DateParts,
}

type Parse = fn(&Captures) -> Option<DateParts>;

const MONTHS: &str = "January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec";

/// Patterns from the most to the least specific; an earlier match claims its text.
static PATTERNS: LazyLock<Vec<(Regex, Parse)>> = LazyLock::new(|| {
    let b = r"(?-u:\b)";
    let pats: Vec<(String, Parse)> = vec![
        // 2023年12月31日
        (
            r"([0-9]{4})\s*年\s*([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*日".into(),
            |c| ymd(year(&c[1]), num(&c[2]), num(&c[3])),
        ),
        // 二零一六年九月三十日, 二零一六年
        (
            r"([〇零○一二三四五六七八九]{4})\s*年(?:\s*([一二三四五六七八九十]{1,3})\s*月(?:\s*([一二三四五六七八九十]{1,3})\s*日)?)?".into(),
            |c| {
                let y = cn_year(&c[1])?;
                let m = c.get(2).and_then(|m| cn_int(m.as_str()));
                let d = c.get(3).and_then(|d| cn_int(d.as_str()));
                check(DateParts { year: Some(y), quarter: None, month: m, day: d })
            },
        ),
        // 2023年12月
        (
            r"([0-9]{4})\s*年\s*([0-9]{1,2})\s*月".into(),
            |c| ymd(year(&c[1]), num(&c[2]), None),
        ),
        // 2023年第三季度, 2023年Q3
        (
            r"([0-9]{4})\s*年\s*(?:第\s*([1-4一二三四])\s*季度?|([1-4])\s*季度|Q([1-4]))".into(),
            |c| {
                let q = c.get(2).or(c.get(3)).or(c.get(4)).and_then(|q| cn_int(q.as_str()).or(num(q.as_str())));
                check(DateParts { year: year(&c[1]), quarter: q, month: None, day: None })
            },
        ),
        // 2023年, 2023财年, 2023年度
        (r"([0-9]{4})\s*(?:年|财年|财政年度)".into(), |c| ymd(year(&c[1]), None, None)),
        // 12月31日
        (
            r"([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*日".into(),
            |c| ymd(None, num(&c[1]), num(&c[2])),
        ),
        // December 31, 2023
        (
            format!(r"{b}({MONTHS})\.?\s+([0-9]{{1,2}})(?:st|nd|rd|th)?,?\s+([0-9]{{4}}){b}"),
            |c| ymd(year(&c[3]), month(&c[1]), num(&c[2])),
        ),
        // 31 December 2023
        (
            format!(r"{b}([0-9]{{1,2}})(?:st|nd|rd|th)?\s+({MONTHS})\.?,?\s+([0-9]{{4}}){b}"),
            |c| ymd(year(&c[3]), month(&c[2]), num(&c[1])),
        ),
        // December 2023
        (
            format!(r"{b}({MONTHS})\.?,?\s+([0-9]{{4}}){b}"),
            |c| ymd(year(&c[2]), month(&c[1]), None),
        ),
        // Jan 28 (a table header without its year)
        (
            format!(r"{b}({MONTHS})\.?\s+([0-9]{{1,2}})(?:st|nd|rd|th)?{b}"),
            |c| ymd(None, month(&c[1]), num(&c[2])),
        ),
        // 30 September
        (
            format!(r"{b}([0-9]{{1,2}})(?:st|nd|rd|th)?\s+({MONTHS}){b}"),
            |c| ymd(None, month(&c[2]), num(&c[1])),
        ),
        // Q3 2024, 3Q24, Q3 FY2024, Q3'24
        (
            format!(r"{b}(?:Q([1-4])|([1-4])Q)\s*(?:FY\s*)?'?([0-9]{{4}}|[0-9]{{2}}){b}"),
            |c| {
                let q = c.get(1).or(c.get(2)).and_then(|q| num(q.as_str()));
                check(DateParts { year: year(&c[3]), quarter: q, month: None, day: None })
            },
        ),
        // third quarter of 2024
        (
            format!(r"(?i){b}(first|second|third|fourth|1st|2nd|3rd|4th)\s+(?:fiscal\s+)?quarter\s+(?:of\s+)?(?:fiscal\s+(?:year\s+)?)?([0-9]{{4}}){b}"),
            |c| {
                let q = match c[1].to_ascii_lowercase().as_str() {
                    "first" | "1st" => 1,
                    "second" | "2nd" => 2,
                    "third" | "3rd" => 3,
                    _ => 4,
                };
                check(DateParts { year: year(&c[2]), quarter: Some(q), month: None, day: None })
            },
        ),
        // H1 2024, 1H24: the year is what can be checked
        (
            format!(r"{b}(?:H[12]|[12]H)\s*'?([0-9]{{4}}|[0-9]{{2}}){b}"),
            |c| ymd(year(&c[1]), None, None),
        ),
        // FY2025, FY25, fiscal 2025, fiscal year 2025
        (
            format!(r"{b}(?:FY|[Ff]iscal\s+(?:[Yy]ear\s+)?)\s*'?([0-9]{{4}}|[0-9]{{2}}){b}"),
            |c| ymd(year(&c[1]), None, None),
        ),
        // 2023-12-31, 2023/12/31
        (
            format!(r"{b}([0-9]{{4}})[-/.]([0-9]{{1,2}})[-/.]([0-9]{{1,2}}){b}"),
            |c| ymd(year(&c[1]), num(&c[2]), num(&c[3])),
        ),
        // 2015/16 (a fiscal year across two calendar years)
        (
            format!(r"{b}((?:19|20)[0-9]{{2}})/[0-9]{{2}}{b}"),
            |c| ymd(year(&c[1]), None, None),
        ),
        // Q3 alone
        (format!(r"{b}Q([1-4]){b}"), |c| {
            check(DateParts { year: None, quarter: num(&c[1]), month: None, day: None })
        }),
    ];
    pats.into_iter()
        .map(|(p, f)| (Regex::new(&p).expect("date pattern is valid"), f))
        .collect()
});

/// Every date in `text` (folded), in order, not overlapping.
pub fn find(text: &str) -> Vec<FoundDate> {
    let mut found: Vec<FoundDate> = Vec::new();
    for (re, parse) in PATTERNS.iter() {
        for c in re.captures_iter(text) {
            let m = c.get(0).expect("group 0 always matches");
            if !digit_boundaries(text, m.start(), m.end())
                || found.iter().any(|f| f.start < m.end() && m.start() < f.end)
            {
                continue;
            }
            if let Some(parts) = parse(&c) {
                found.push(FoundDate {
                    start: m.start(),
                    end: m.end(),
                    parts,
                });
            }
        }
    }
    found.sort_by_key(|f| f.start);
    found
}

/// A date must not be glued to more digits (`12023年`, `2023.5`); a date ending
/// in 年/日 may be followed by anything (`2023年1-6月`).
fn digit_boundaries(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let mut after = text[end..].chars();
    let a0 = after.next();
    let first = text[start..end].chars().next();
    let last = text[start..end].chars().next_back();
    let glued_before =
        first.is_some_and(|c| c.is_ascii_digit()) && before.is_some_and(|c| c.is_ascii_digit());
    if !last.is_some_and(|c| c.is_ascii_alphanumeric()) {
        return !glued_before;
    }
    let glued_after = match a0 {
        Some(c) if c.is_ascii_digit() || c == '%' => true,
        Some('.') | Some(',') => after.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    !glued_before && !glued_after
}

fn ymd(year: Option<i32>, month: Option<u8>, day: Option<u8>) -> Option<DateParts> {
    check(DateParts {
        year,
        quarter: None,
        month,
        day,
    })
}

/// Reject impossible parts so `2023年13月` is not taken for a date.
fn check(p: DateParts) -> Option<DateParts> {
    let ok = p.year.is_none_or(|y| (1900..=2100).contains(&y))
        && p.month.is_none_or(|m| (1..=12).contains(&m))
        && p.day.is_none_or(|d| (1..=31).contains(&d))
        && p.quarter.is_none_or(|q| (1..=4).contains(&q))
        && (p.year.is_some() || p.month.is_some() || p.quarter.is_some());
    ok.then_some(p)
}

fn num(s: &str) -> Option<u8> {
    s.parse().ok()
}

/// A 4-digit year, or a 2-digit one taken as 20yy.
fn year(s: &str) -> Option<i32> {
    let y: i32 = s.parse().ok()?;
    Some(if s.len() == 2 { 2000 + y } else { y })
}

fn month(s: &str) -> Option<u8> {
    let m = match &s[..3] {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    Some(m)
}

/// 二零一六 -> 2016.
fn cn_year(s: &str) -> Option<i32> {
    s.chars()
        .try_fold(0i32, |acc, c| Some(acc * 10 + i32::from(cn_digit(c)?)))
}

/// A Chinese numeral below 100 (十, 十二, 二十, 三十一) or one digit.
pub fn cn_int(s: &str) -> Option<u8> {
    let chars: Vec<char> = s.chars().collect();
    match chars.as_slice() {
        [d] if *d != '十' => cn_digit(*d),
        ['十'] => Some(10),
        ['十', u] => Some(10 + cn_digit(*u)?),
        [t, '十'] => Some(cn_digit(*t)? * 10),
        [t, '十', u] => Some(cn_digit(*t)? * 10 + cn_digit(*u)?),
        _ => None,
    }
}

pub fn cn_digit(c: char) -> Option<u8> {
    Some(match c {
        '〇' | '零' | '○' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> (String, DateParts) {
        let f = find(text);
        assert_eq!(f.len(), 1, "{text}: {f:?}");
        (text[f[0].start..f[0].end].to_string(), f[0].parts)
    }

    fn p(y: Option<i32>, q: Option<u8>, m: Option<u8>, d: Option<u8>) -> DateParts {
        DateParts {
            year: y,
            quarter: q,
            month: m,
            day: d,
        }
    }

    #[test]
    fn chinese_dates() {
        assert_eq!(
            one("截至2023年12月31日止"),
            (
                "2023年12月31日".into(),
                p(Some(2023), None, Some(12), Some(31))
            )
        );
        assert_eq!(one("2023年全年").1, p(Some(2023), None, None, None));
        assert_eq!(one("2024年第三季度").1, p(Some(2024), Some(3), None, None));
        assert_eq!(
            one("截至二零一六年九月三十日止年度").1,
            p(Some(2016), None, Some(9), Some(30))
        );
        assert!(find("13年前").is_empty());
        assert!(find("2023年13月").len() == 1, "falls back to the year");
    }

    #[test]
    fn english_dates() {
        assert_eq!(
            one("as of December 31, 2023, cash"),
            (
                "December 31, 2023".into(),
                p(Some(2023), None, Some(12), Some(31))
            )
        );
        assert_eq!(
            one("At 30 September 2016").1,
            p(Some(2016), None, Some(9), Some(30))
        );
        assert_eq!(
            one("in Q3 2024 revenue").1,
            p(Some(2024), Some(3), None, None)
        );
        assert_eq!(one("3Q24").1, p(Some(2024), Some(3), None, None));
        assert_eq!(
            one("the third quarter of 2024").1,
            p(Some(2024), Some(3), None, None)
        );
        assert_eq!(
            one("in fiscal year 2025").1,
            p(Some(2025), None, None, None)
        );
        assert_eq!(
            one("Jan 28, 2024").1,
            p(Some(2024), None, Some(1), Some(28))
        );
        assert!(find("revenue of 2,023").is_empty());
    }
}
