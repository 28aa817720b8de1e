//! Key figures read off whole real filings (`../shared/filings/`) match the headline
//! revenue and net income read off each document's primary income statement by hand
//! (`tests/fixtures/filings/key_figures.tsv`): the same cell (compared with `$` and spaces
//! removed), the same comparison cell, the same page. Documents marked `none` there (8-Ks
//! without statements) give no revenue at all.
//!
//! Labels and periods that differ from the fixture's are printed, not failed: the
//! fixture writes periods as a reader would ("12 Weeks Ended 6/11/2022"), the table may
//! print them split or merged with a neighbour's words.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reportlens::check::key_figures::{key_figures, KeyFigure, KeyMetric};

fn filings_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/filings")
}

struct Expected {
    line: usize,
    metric: Option<KeyMetric>,
    label: String,
    period: String,
    prior_period: String,
    value: String,
    prior_value: String,
    page: Option<u32>,
}

fn fixture() -> BTreeMap<String, Vec<Expected>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/filings/key_figures.tsv");
    let text = std::fs::read_to_string(&path).expect("the key-figures fixture");
    let mut out: BTreeMap<String, Vec<Expected>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 9, "line {}: 9 columns expected: {line}", i + 1);
        let metric = match f[1] {
            "revenue" => Some(KeyMetric::Revenue),
            "net_income" => Some(KeyMetric::NetIncome),
            "none" => None,
            other => panic!("line {}: unknown metric {other}", i + 1),
        };
        out.entry(f[0].to_string()).or_default().push(Expected {
            line: i + 1,
            metric,
            label: f[2].to_string(),
            period: f[3].to_string(),
            prior_period: f[4].to_string(),
            value: f[5].to_string(),
            prior_value: f[6].to_string(),
            page: f[8].parse().ok(),
        });
    }
    out
}

/// A cell compared as the fixture writes it: no `$`, no spaces.
fn bare(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '$' && !c.is_whitespace())
        .collect()
}

fn show(f: &KeyFigure) -> String {
    format!(
        "{:<22} {:<45} {:>14} vs {:>14} {:>8}  p.{:<4} [{}] vs [{}]",
        f.metric.as_str(),
        f.label,
        f.value,
        f.prior_value.as_deref().unwrap_or("-"),
        f.change.as_deref().unwrap_or("-"),
        f.page.map_or("?".to_string(), |p| p.to_string()),
        f.period,
        f.prior_period.as_deref().unwrap_or("-"),
    )
}

#[test]
fn key_figures_match_the_statements_read_by_hand() {
    let dir = filings_dir();
    if !dir.is_dir() {
        eprintln!("skipping: filings not found at {}", dir.display());
        return;
    }
    let fixture = fixture();
    let files: Vec<(&String, &Vec<Expected>)> = fixture.iter().collect();
    // Two workers: whole filings take a while to ingest in a debug build.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((name, expected)) = files.get(i) else {
                    break;
                };
                let path = dir.join(name);
                let report = check_file(&path, name, expected);
                results.lock().unwrap().push((name.to_string(), report));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort();
    let mut failures = Vec::new();
    let (mut passed, mut total) = (0, 0);
    for (name, r) in &results {
        eprintln!("== {name}");
        for line in &r.table {
            eprintln!("   {line}");
        }
        for n in &r.notes {
            eprintln!("   note: {n}");
        }
        passed += r.passed;
        total += r.checked;
        failures.extend(r.failures.iter().map(|f| format!("{name}: {f}")));
    }
    eprintln!("{passed}/{total} fixture rows pass");
    assert!(
        failures.is_empty(),
        "{} fixture rows fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[derive(Default, PartialEq, Eq, PartialOrd, Ord)]
struct Report {
    passed: usize,
    checked: usize,
    failures: Vec<String>,
    notes: Vec<String>,
    table: Vec<String>,
}

fn check_file(path: &Path, name: &str, expected: &[Expected]) -> Report {
    let mut r = Report::default();
    let doc = match reportlens::extract(path) {
        Ok(d) => d,
        Err(e) => {
            r.checked = expected.len();
            r.failures.push(format!("cannot extract {name}: {e}"));
            return r;
        }
    };
    let figs = key_figures(&doc);
    r.table = figs.iter().map(show).collect();
    for e in expected {
        r.checked += 1;
        let Some(metric) = e.metric else {
            match figs.iter().find(|f| f.metric == KeyMetric::Revenue) {
                Some(f) => r.failures.push(format!(
                    "line {}: a document without statements gave {}",
                    e.line,
                    show(f)
                )),
                None => r.passed += 1,
            }
            continue;
        };
        let Some(f) = figs.iter().find(|f| f.metric == metric) else {
            r.failures.push(format!(
                "line {}: no {metric} (expected {} {})",
                e.line, e.label, e.value
            ));
            continue;
        };
        let got = (bare(&f.value), f.prior_value.as_deref().map(bare), f.page);
        let want = (bare(&e.value), Some(bare(&e.prior_value)), e.page);
        if got != want {
            r.failures.push(format!(
                "line {}: {metric}: got {:?}, expected {:?} ({} on p. {:?})",
                e.line, got, want, e.label, e.page
            ));
            continue;
        }
        r.passed += 1;
        if f.label != e.label {
            r.notes.push(format!(
                "{metric} label {:?}, fixture {:?}",
                f.label, e.label
            ));
        }
        if f.period != e.period || f.prior_period.as_deref() != Some(e.prior_period.as_str()) {
            r.notes.push(format!(
                "{metric} periods {:?} / {:?}, fixture {:?} / {:?}",
                f.period, f.prior_period, e.period, e.prior_period
            ));
        }
    }
    r
}
