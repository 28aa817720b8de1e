//! Whole real filings (`../shared/filings/`: 26 US 10-Ks, 10-Qs, 8-Ks, earnings releases
//! and annual reports, 1,236 pages) come out whole:
//!
//! - page by page, every figure that poppler's `pdftotext -layout` finds on a page (3+
//!   digits, or a decimal point; commas dropped) is on our page too: at least 0.995 of
//!   them per document, the counts committed in `tests/expectations/filings.tsv` so a
//!   regression shows as a diff (`REPORTLENS_BLESS=1` rewrites it);
//! - no figure has a space inside it (`(6 6 0 )` for `(660)`, the bug this replaced);
//! - the primary statements listed in `tests/fixtures/filings/statements.tsv` (read off
//!   the documents by hand) are tables on their page, with the unit line as printed and
//!   a row of a label and one cell per period column.
//!
//! Printed page numbers (a line that is only a number at the top or bottom of a page)
//! do not count as figures: running headers and footers are removed on purpose.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Figure recall each document must reach, page by page, against pdftotext.
const MIN_RECALL: f64 = 0.995;
/// A spaced-apart figure is found by rejoining up to this many digit groups.
const MAX_GROUPS: usize = 8;

fn filings_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/filings")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// The filings and pdftotext, or `None` with the reason printed.
fn setup() -> Option<Vec<PathBuf>> {
    let dir = filings_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: filings not found at {}", dir.display());
        return None;
    };
    if std::process::Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("skipping: pdftotext (poppler-utils) is not installed");
        return None;
    }
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "too few filings: {}", files.len());
    Some(files)
}

/// Figures as the shared `page-figure-recall` tool counts them: digit runs with
/// commas and one decimal part, trailing punctuation and commas dropped, kept when
/// they have 3+ digits or a decimal point.
fn figures(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == ',') {
            i += 1;
        }
        if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
        let raw: String = chars[start..i].iter().collect();
        let d = raw.trim_end_matches([',', '.']).replace(',', "");
        if d.chars().filter(char::is_ascii_digit).count() >= 3 || d.contains('.') {
            out.insert(d);
        }
    }
    out
}

/// A printed page number: a line of just a number (maybe `- 12 -`, `Page 12`).
fn is_page_number(line: &str) -> bool {
    let t = line
        .trim()
        .trim_start_matches("Page")
        .trim_start_matches("page")
        .trim_matches(|c: char| c == '-' || c == '–' || c.is_whitespace());
    !t.is_empty() && t.len() <= 4 && t.chars().all(|c| c.is_ascii_digit())
}

/// pdftotext's pages, each without its printed page number lines.
fn poppler_pages(path: &Path) -> Vec<String> {
    let out = std::process::Command::new("pdftotext")
        .args(["-q", "-layout"])
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    String::from_utf8_lossy(&out.stdout)
        .split('\u{c}')
        .map(|page| {
            let lines: Vec<&str> = page.lines().filter(|l| !l.trim().is_empty()).collect();
            let n = lines.len();
            lines
                .iter()
                .enumerate()
                .filter(|(k, l)| !((*k < 2 || *k + 2 >= n) && is_page_number(l)))
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// Our text by page.
fn our_pages(doc: &reportlens::Document) -> BTreeMap<u32, String> {
    let mut pages: BTreeMap<u32, String> = BTreeMap::new();
    for b in &doc.blocks {
        let t = pages.entry(b.page.unwrap_or(0)).or_default();
        t.push_str(&b.text);
        t.push('\n');
    }
    pages
}

/// Figures of `reference` that our text writes with spaces inside: runs of digit
/// groups separated by single spaces whose rejoining is one of poppler's figures.
fn spaced_figures(ours: &str, reference: &HashSet<String>) -> Vec<String> {
    let mut bad = Vec::new();
    let tokens: Vec<&str> = ours.split(' ').collect();
    let group = |t: &str| {
        let t = t.trim_matches(|c: char| "()$%".contains(c));
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
    };
    for start in 0..tokens.len() {
        if !group(tokens[start]) {
            continue;
        }
        let mut joined = tokens[start].to_string();
        for end in start + 1..tokens.len().min(start + MAX_GROUPS) {
            if !group(tokens[end]) {
                break;
            }
            joined.push_str(tokens[end]);
            let whole = figures(&joined);
            let parts: HashSet<String> = figures(&tokens[start..=end].join(" "));
            for f in whole.difference(&parts) {
                if reference.contains(f) && !parts.contains(f) {
                    bad.push(tokens[start..=end].join(" "));
                }
            }
        }
    }
    bad
}

struct Recall {
    found: usize,
    total: usize,
    spaced: Vec<String>,
}

fn recall(path: &Path) -> Recall {
    let doc = reportlens::extract(path).unwrap_or_else(|e| panic!("{e}"));
    let ours = our_pages(&doc);
    let mut r = Recall {
        found: 0,
        total: 0,
        spaced: Vec::new(),
    };
    for (i, page) in poppler_pages(path).iter().enumerate() {
        let want = figures(page);
        let text = ours.get(&(i as u32 + 1)).map_or("", String::as_str);
        let got = figures(text);
        r.total += want.len();
        r.found += want.intersection(&got).count();
        for s in spaced_figures(&text.replace(['\n', '\t'], "  "), &want) {
            r.spaced.push(format!("page {}: {s:?}", i + 1));
        }
    }
    r
}

#[test]
fn every_figure_of_every_filing_is_on_its_page() {
    let Some(files) = setup() else { return };
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let (mut found, mut total) = (0, 0);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let r = recall(f);
        let share = r.found as f64 / r.total.max(1) as f64;
        eprintln!("  {share:.3} {}/{} {name}", r.found, r.total);
        if share < MIN_RECALL {
            failures.push(format!(
                "{name}: figure recall {share:.3} below {MIN_RECALL}"
            ));
        }
        if !r.spaced.is_empty() {
            failures.push(format!(
                "{name}: figures with spaces inside: {:?}",
                r.spaced
            ));
        }
        lines.push(format!("{name}\t{}/{}", r.found, r.total));
        found += r.found;
        total += r.total;
    }
    eprintln!(
        "figure recall over {} filings: {found}/{total} = {:.4}",
        files.len(),
        found as f64 / total.max(1) as f64
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let path = fixture("tests/expectations/filings.tsv");
    let actual = format!(
        "# file\tfigures found/pdftotext's (REPORTLENS_BLESS=1 cargo test --test filings)\n{}\n",
        lines.join("\n")
    );
    if std::env::var("REPORTLENS_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &actual).expect("write expectations");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with REPORTLENS_BLESS=1", path.display()));
    assert_eq!(
        expected, actual,
        "figure counts changed; if intended, rerun with REPORTLENS_BLESS=1"
    );
}

/// Footnote markers and spacing do not matter when matching a row's label.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !"¹²³⁴⁵⁶⁷⁸⁹⁰*".contains(*c))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn value(s: &str) -> String {
    s.replace(['$', ' '], "")
}

#[test]
fn primary_statements_are_tables_with_their_units() {
    let Some(_) = setup() else { return };
    let spec = std::fs::read_to_string(fixture("tests/fixtures/filings/statements.tsv"))
        .expect("statements fixture");
    let mut docs: BTreeMap<String, reportlens::Document> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in spec.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let [file, page, statement, unit, label, values] = f[..] else {
            panic!("bad fixture line {line:?}");
        };
        let page: u32 = page.parse().expect("page number");
        let want: Vec<String> = values.split('|').map(value).collect();
        let doc = docs.entry(file.to_string()).or_insert_with(|| {
            reportlens::extract(&filings_dir().join(file)).unwrap_or_else(|e| panic!("{e}"))
        });
        checked += 1;
        let found = doc.blocks.iter().any(|b| {
            b.page == Some(page)
                && b.kind == reportlens::BlockKind::Table
                && (unit == "-" || b.unit.as_deref().map(squash) == Some(squash(unit)))
                && b.cells.iter().flatten().any(|row| {
                    row.first().is_some_and(|l| squash(l) == squash(label))
                        && row[1..]
                            .iter()
                            .filter(|c| !c.trim().is_empty())
                            .map(|c| value(c))
                            .collect::<Vec<_>>()
                            == want
                })
        });
        if !found {
            failures.push(format!(
                "{file} page {page} ({statement}): no table with unit {unit:?} and row {label:?} {values}"
            ));
        }
    }
    eprintln!("{checked} statement pages checked");
    assert!(
        checked >= 60,
        "too few statement pages in the fixture: {checked}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_spaced_figure_check_catches_the_old_bug() {
    let reference: HashSet<String> = ["660", "403", "1234.5"].map(String::from).into();
    assert_eq!(
        spaced_figures("Net lo ss $ (6 6 0 ) $ (4 0 3 ) $ (8 3 )", &reference),
        vec!["(6 6 0", "(4 0 3"]
    );
    assert!(spaced_figures("Net loss $ (660) $ (403) 2023 2022", &reference).is_empty());
    assert_eq!(spaced_figures("1,23 4.5", &reference), vec!["1,23 4.5"]);
    assert!(is_page_number("- 101 -") && is_page_number("Page 3") && !is_page_number("2,345"));
}
