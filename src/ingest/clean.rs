//! Text repair shared by the parsers: joining wrapped lines into paragraphs (hyphenation,
//! CJK) and removing running headers/footers detected across pages.

use std::collections::HashMap;

/// CJK ideographs, kana, hangul and full-width punctuation: scripts written without
/// spaces between words, so a line break inside them is not a space.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF      // Hangul Jamo
        | 0x2E80..=0x2FDF    // CJK radicals
        | 0x3000..=0x303F    // CJK symbols and punctuation
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3100..=0x312F    // Bopomofo
        | 0x3130..=0x318F    // Hangul compatibility Jamo
        | 0x31F0..=0x31FF
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFE30..=0xFE4F    // CJK compatibility forms
        | 0xFF00..=0xFFEF    // Full-width forms
        | 0x20000..=0x2FA1F) // CJK extensions B..F
}

/// Hangul is written with spaces between words, unlike Chinese and Japanese.
fn is_hangul(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF)
}

/// Join the wrapped lines of one paragraph: a hyphen at a line end before a lower-case
/// letter is a broken word (`infor-` + `mation`), a break between two CJK characters is
/// no space, anything else is one space.
pub fn join_lines<S: AsRef<str>>(lines: &[S]) -> String {
    let mut out = String::new();
    for line in lines {
        let line = line.as_ref().trim();
        if line.is_empty() {
            continue;
        }
        if out.is_empty() {
            out.push_str(line);
            continue;
        }
        let prev = out.chars().last().unwrap_or(' ');
        let next = line.chars().next().unwrap_or(' ');
        if is_soft_hyphen_break(&out, next) {
            out.pop();
        } else if !joins_without_space(prev, next) {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// Two CJK characters (not Korean, which spaces words), CJK before ASCII punctuation,
/// or a figure before its percent sign.
fn joins_without_space(prev: char, next: char) -> bool {
    (is_cjk(prev) && is_cjk(next) && !(is_hangul(prev) && is_hangul(next)))
        || (is_cjk(prev) && !is_hangul(prev) && next.is_ascii_punctuation())
        || (prev.is_ascii_digit() && next == '%')
}

/// `out` ends in `letter-` (not `--`, not a lone dash) and the next line starts lower-case.
fn is_soft_hyphen_break(out: &str, next: char) -> bool {
    let mut rev = out.chars().rev();
    let (Some(h), Some(before)) = (rev.next(), rev.next()) else {
        return false;
    };
    matches!(h, '-' | '\u{00AD}' | '\u{2010}')
        && before.is_alphabetic()
        && !is_cjk(before)
        && next.is_lowercase()
}

/// One line of a page for header/footer detection: its text and vertical position as a
/// fraction of the page height from the top (None when unknown: then only the order of
/// lines on the page counts).
#[derive(Debug, Clone)]
pub struct EdgeLine<'a> {
    pub text: &'a str,
    pub top: Option<f32>,
}

/// How many lines at each end of a page are candidates for running headers/footers.
const EDGE_LINES: usize = 3;

/// Indices (page, line) of running headers, footers and page numbers: lines near the top
/// or bottom of a page whose text, with digits masked, recurs near the edges of at least
/// half of the pages (and at least 2). Page numbers (`12`, `Page 3 of 9`, `- 4 -`, `第5页`)
/// recur once digits are masked, so they are found the same way, across pages, never by
/// guessing from one page.
pub fn running_lines(pages: &[Vec<EdgeLine<'_>>]) -> Vec<(usize, usize)> {
    if pages.len() < 2 {
        return Vec::new();
    }
    let edge_sets: Vec<Vec<usize>> = pages.iter().map(|p| edge_indices(p)).collect();
    // Every line's key, masked once.
    // A line of several numbers and nothing else ("2022 2021 2020", a table's column
    // years near the top) is content; a page number is one number.
    let keys: Vec<Vec<String>> = pages
        .iter()
        .map(|p| {
            p.iter()
                .map(|l| {
                    if several_numbers(l.text) {
                        String::new()
                    } else {
                        mask(l.text)
                    }
                })
                .collect()
        })
        .collect();
    let seen = pages_with(
        keys.iter()
            .zip(&edge_sets)
            .map(|(k, edges)| edges.iter().map(|&i| &k[i]).filter(|k| !k.is_empty())),
    );
    let needed = pages.len().div_ceil(2).max(2);
    // Long lines anywhere on the page that recur on nearly every page: margin notes set
    // sideways (printer's slugs, "Downloaded from ..." stamps) sit mid-page by position.
    let anywhere = pages_with(
        keys.iter()
            .map(|k| k.iter().filter(|k| k.chars().count() >= LONG_RUNNING)),
    );
    let anywhere_needed = (pages.len() * 3).div_ceil(4).max(3);
    let count = |m: &HashMap<&str, usize>, k: &str| m.get(k).copied().unwrap_or(0);
    let mut out = Vec::new();
    for (p, (k, edges)) in keys.iter().zip(&edge_sets).enumerate() {
        for &i in edges {
            if !k[i].is_empty() && count(&seen, &k[i]) >= needed {
                out.push((p, i));
            }
        }
        for (i, key) in k.iter().enumerate() {
            if count(&anywhere, key) >= anywhere_needed {
                out.push((p, i));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn several_numbers(text: &str) -> bool {
    let mut tokens = text.split_whitespace();
    let number = |t: &str| {
        t.chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
    };
    tokens.clone().count() > 1 && tokens.all(number)
}

/// On how many pages each key occurs (once per page however often it repeats there).
fn pages_with<'k, P, K>(pages: P) -> HashMap<&'k str, usize>
where
    P: Iterator<Item = K>,
    K: Iterator<Item = &'k String>,
{
    let mut count: HashMap<&str, usize> = HashMap::new();
    for page in pages {
        let mut keys: Vec<&str> = page.map(String::as_str).collect();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            *count.entry(k).or_default() += 1;
        }
    }
    count
}

/// The first and last few non-empty lines of a page, by order and (when known) by position.
fn edge_indices(page: &[EdgeLine<'_>]) -> Vec<usize> {
    let nonempty: Vec<usize> = (0..page.len())
        .filter(|&i| !page[i].text.trim().is_empty())
        .collect();
    let mut idx: Vec<usize> = nonempty.iter().take(EDGE_LINES).copied().collect();
    idx.extend(nonempty.iter().rev().take(EDGE_LINES).copied());
    let mut by_pos: Vec<(f32, usize)> = nonempty
        .iter()
        .filter_map(|&i| page[i].top.map(|t| (t, i)))
        .collect();
    by_pos.sort_by(|a, b| a.0.total_cmp(&b.0));
    idx.extend(by_pos.iter().take(EDGE_LINES).map(|&(_, i)| i));
    idx.extend(by_pos.iter().rev().take(EDGE_LINES).map(|&(_, i)| i));
    // Positioned lines far from the edges are body text even if they are among the first
    // lines in content order.
    idx.retain(|&i| page[i].top.is_none_or(|t| !(0.15..=0.85).contains(&t)));
    idx.sort_unstable();
    idx.dedup();
    idx
}

/// Masked length from which a line recurring on nearly every page counts as running
/// wherever it sits.
const LONG_RUNNING: usize = 24;

/// Text with digits masked and whitespace removed, so "Page 3" and "Page 4" match. A page
/// number at either end is dropped, so headers that put it outside on facing pages
/// ("47700 Federal Register" / "Federal Register 47701") match too.
fn mask(text: &str) -> String {
    let masked = mask_digits(text);
    let trimmed = masked.trim_start_matches('#').trim_end_matches('#');
    // A bare page number keeps its mark, so it still recurs as "#".
    if trimmed.is_empty() {
        masked
    } else {
        trimmed.to_string()
    }
}

fn mask_digits(text: &str) -> String {
    let mut out = String::new();
    let mut last_digit = false;
    for c in text.chars() {
        if c.is_whitespace() {
            continue;
        }
        if c.is_ascii_digit() || matches!(c, 'ⅰ'..='ⅿ' | 'Ⅰ'..='Ⅿ') {
            if !last_digit {
                out.push('#');
            }
            last_digit = true;
        } else {
            out.push(c);
            last_digit = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphen_at_line_end_before_lowercase_is_repaired() {
        assert_eq!(
            join_lines(&["the infor-", "mation given"]),
            "the information given"
        );
        // A real compound before a capital, and a dash, are kept.
        assert_eq!(
            join_lines(&["Hong Kong-", "Shanghai"]),
            "Hong Kong- Shanghai"
        );
        assert_eq!(join_lines(&["costs --", "net"]), "costs -- net");
        assert_eq!(join_lines(&["revenue", "grew"]), "revenue grew");
    }

    #[test]
    fn cjk_lines_join_without_space() {
        assert_eq!(
            join_lines(&["本公司营业收入", "同比增长１２％。"]),
            "本公司营业收入同比增长１２％。"
        );
        assert_eq!(
            join_lines(&["营业收入为", "1,234.5 万元"]),
            "营业收入为 1,234.5 万元"
        );
        assert_eq!(join_lines(&["Revenue was", "人民币"]), "Revenue was 人民币");
        // Korean separates words with spaces.
        assert_eq!(join_lines(&["한국어", "텍스트"]), "한국어 텍스트");
    }

    fn page<'a>(lines: &[&'a str]) -> Vec<EdgeLine<'a>> {
        lines
            .iter()
            .map(|t| EdgeLine { text: t, top: None })
            .collect()
    }

    #[test]
    fn running_headers_footers_and_page_numbers_found_across_pages() {
        let pages = vec![
            page(&[
                "ACME Corp Annual Report 2023",
                "Revenue rose 12%.",
                "Costs fell.",
                "Outlook is good.",
                "1",
            ]),
            page(&[
                "ACME Corp Annual Report 2023",
                "Net profit was 5.",
                "Dividends paid.",
                "Cash grew.",
                "2",
            ]),
            page(&[
                "ACME Corp Annual Report 2023",
                "Risks remain.",
                "Rates matter.",
                "We hedge.",
                "3",
            ]),
        ];
        let found = running_lines(&pages);
        assert_eq!(found, vec![(0, 0), (0, 4), (1, 0), (1, 4), (2, 0), (2, 4)]);
    }

    #[test]
    fn headers_with_the_page_number_on_alternating_sides_match() {
        let head = [
            "47700 Federal Register / Vol. 85",
            "Federal Register / Vol. 85 47701",
        ];
        let bodies = [["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"]];
        let pages: Vec<Vec<EdgeLine<'_>>> = (0..4)
            .map(|i| page(&[head[i % 2], bodies[i][0], bodies[i][1]]))
            .collect();
        let found = running_lines(&pages);
        assert_eq!(found, vec![(0, 0), (1, 0), (2, 0), (3, 0)]);
    }

    #[test]
    fn long_slugs_recurring_mid_page_on_nearly_every_page_are_running() {
        // A printer's slug set sideways in the margin sits mid-page by position.
        let slugs = [
            "VerDate Sep<11>2014 16:21 Aug 05, 2020 Frm 00001",
            "VerDate Sep<11>2014 16:21 Aug 05, 2020 Frm 00002",
            "VerDate Sep<11>2014 16:21 Aug 05, 2020 Frm 00003",
            "VerDate Sep<11>2014 16:21 Aug 05, 2020 Frm 00004",
        ];
        let bodies = [["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"]];
        let pages: Vec<Vec<EdgeLine<'_>>> = slugs
            .iter()
            .zip(&bodies)
            .map(|(s, b)| {
                [(b[0], 0.05), (*s, 0.5), (b[1], 0.95)]
                    .iter()
                    .map(|&(text, t)| EdgeLine { text, top: Some(t) })
                    .collect()
            })
            .collect();
        assert_eq!(running_lines(&pages), vec![(0, 1), (1, 1), (2, 1), (3, 1)]);
    }

    #[test]
    fn single_page_and_unrepeated_lines_are_kept() {
        assert!(running_lines(&[page(&["Title", "Body", "7"])]).is_empty());
        let pages = vec![
            page(&["Intro", "a", "b", "c"]),
            page(&["Method", "d", "e", "f"]),
        ];
        assert!(running_lines(&pages).is_empty());
    }

    #[test]
    fn positioned_body_lines_are_never_running() {
        // The same sentence mid-page on both pages is content, not a header.
        let mk = |t: f32| {
            vec![
                EdgeLine {
                    text: "Same sentence",
                    top: Some(t),
                },
                EdgeLine {
                    text: "x",
                    top: Some(0.9),
                },
            ]
        };
        assert_eq!(running_lines(&[mk(0.5), mk(0.5)]), vec![(0, 1), (1, 1)]);
    }
}
