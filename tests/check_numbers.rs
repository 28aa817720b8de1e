//! The figure checker on hand-written sources and outputs with known slips,
//! both directions (English source -> Chinese output and the reverse), then
//! through the CLI, then on real corpus text checked against itself.

use std::path::{Path, PathBuf};

use reportlens::check::{check_numbers, FigureKind, NumberReport, Status};

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/check")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/check")
        .join(name)
}

/// Every output figure, in order, has exactly the expected text and status.
fn assert_statuses(report: &NumberReport, expected: &[(&str, Status)]) {
    let got: Vec<(&str, Status)> = report
        .findings
        .iter()
        .map(|f| (f.figure.text.as_str(), f.status))
        .collect();
    if got != expected {
        for f in &report.findings {
            eprintln!(
                "{:?}\t{}\t{:?}\t{}",
                f.status,
                f.figure.text,
                f.matched.as_ref().map(|m| &m.text),
                f.reason
            );
        }
    }
    assert_eq!(got, expected);
}

fn reason_of<'a>(report: &'a NumberReport, text: &str, nth: usize) -> &'a str {
    report
        .findings
        .iter()
        .filter(|f| f.figure.text == text)
        .nth(nth)
        .map(|f| f.reason.as_str())
        .unwrap_or_else(|| panic!("no output figure {text}"))
}

fn matched_of<'a>(report: &'a NumberReport, text: &str, nth: usize) -> &'a str {
    report
        .findings
        .iter()
        .filter(|f| f.figure.text == text)
        .nth(nth)
        .and_then(|f| f.matched.as_ref())
        .map(|m| m.text.as_str())
        .unwrap_or_else(|| panic!("output figure {text} matched nothing"))
}

use Status::{Approximate as A, Mismatch as M, Unsupported as U, Verified as V};

#[test]
fn english_source_faithful_chinese_summary() {
    let src = fixture("en_source.txt");
    let r = check_numbers(&src, &fixture("zh_summary_faithful.md"));
    assert_statuses(
        &r,
        &[
            ("2024年第三季度", V),
            ("人民币61.3亿元", V),
            ("8.431亿美元", V),
            ("16%", V),
            ("6.08亿元", V),
            ("13.5亿元", V),
            ("2.14亿元", V),
            ("29.9%", V),
            ("23.1%", V),
            ("6.8个百分点", V),
            ("1.023亿", V),
            ("9%", V),
            ("1亿人", A),
            ("95分钟", V),
            ("13%", V),
            ("7.275亿元", V),
            ("2024年9月30日", V),
            ("162.9亿元", V),
        ],
    );
    assert_eq!(matched_of(&r, "人民币61.3亿元", 0), "RMB6.13 billion");
    assert_eq!(matched_of(&r, "8.431亿美元", 0), "US$843.1 million");
    assert_eq!(matched_of(&r, "6.08亿元", 0), "RMB608.1 million");
    assert_eq!(matched_of(&r, "2.14亿元", 0), "RMB213.7 million");
    assert_eq!(matched_of(&r, "1亿人", 0), "102.3 million");
    assert_eq!(matched_of(&r, "2024年9月30日", 0), "September 30, 2024");
    let s = r.summary;
    assert_eq!(
        (
            s.total,
            s.verified,
            s.approximate,
            s.mismatch,
            s.unsupported
        ),
        (18, 17, 1, 0, 0)
    );
}

#[test]
fn english_source_chinese_summary_with_slips() {
    let src = fixture("en_source.txt");
    let r = check_numbers(&src, &fixture("zh_summary_slips.md"));
    assert_statuses(
        &r,
        &[
            ("2024年第三季度", V),
            ("人民币6.13亿元", M), // x10: 6.13亿 for 6.13 billion
            ("16%", V),
            ("84.31亿美元", M), // million <-> 亿: 843.1 million read as 84.31亿
            ("6.08亿美元", M),  // wrong currency
            ("6.08亿元", M),    // sign lost: a net loss written as a net profit
            ("6.8%", M),        // percent for percentage points
            ("32.9%", M),       // another value for the same metric
            ("10.23亿", M),     // x10
            ("13%", M),         // a decrease written as growth
            ("59分钟", M),      // same metric, other value
            ("2024年6月30日", M),
            ("162.9亿元", V),
            ("3,200人", U),
            ("2022年", U),
        ],
    );
    assert!(reason_of(&r, "人民币6.13亿元", 0).contains("10^-1"));
    assert_eq!(matched_of(&r, "人民币6.13亿元", 0), "RMB6.13 billion");
    assert!(reason_of(&r, "84.31亿美元", 0).contains("10^1"));
    assert_eq!(matched_of(&r, "84.31亿美元", 0), "US$843.1 million");
    assert!(reason_of(&r, "6.08亿美元", 0).starts_with("wrong currency"));
    assert_eq!(matched_of(&r, "6.08亿美元", 0), "RMB608.1 million");
    assert!(reason_of(&r, "6.08亿元", 0).starts_with("sign"));
    assert!(reason_of(&r, "6.8%", 0).starts_with("percent vs percentage points"));
    assert_eq!(matched_of(&r, "6.8%", 0), "6.8 percentage points");
    assert_eq!(matched_of(&r, "32.9%", 0), "29.9%");
    assert_eq!(matched_of(&r, "10.23亿", 0), "102.3 million");
    assert!(reason_of(&r, "13%", 0).starts_with("sign"));
    assert_eq!(matched_of(&r, "59分钟", 0), "95 minutes");
    assert_eq!(matched_of(&r, "2024年6月30日", 0), "September 30, 2024");
    let s = r.summary;
    assert_eq!((s.verified, s.mismatch, s.unsupported), (3, 10, 2));
}

#[test]
fn chinese_source_faithful_english_summary() {
    let src = fixture("zh_source.txt");
    let r = check_numbers(&src, &fixture("en_summary_faithful.md"));
    assert_statuses(
        &r,
        &[
            ("FY2023", V),
            ("2023", V),
            ("RMB123.46 billion", V),
            ("8.2%", V),
            ("RMB8.63 billion", V),
            ("12.5%", V),
            ("21.4%", V),
            ("1.6 percentage points", V),
            ("RMB15.27 billion", V),
            ("December 31, 2023", V),
            ("RMB345.68 billion", V),
            ("RMB1.25", V),
            ("RMB3.8", V),
            ("10 shares", V),
            ("58,320 employees", V),
            ("RMB6.45 billion", V),
        ],
    );
    assert_eq!(matched_of(&r, "RMB123.46 billion", 0), "1,234.56亿元");
    assert_eq!(matched_of(&r, "December 31, 2023", 0), "2023年12月31日");
    assert_eq!(matched_of(&r, "58,320 employees", 0), "58,320人");
}

#[test]
fn chinese_source_english_summary_with_slips() {
    let src = fixture("zh_source.txt");
    let r = check_numbers(&src, &fixture("en_summary_slips.md"));
    assert_statuses(
        &r,
        &[
            ("FY2023", V),
            ("US$123.46 billion", M),   // wrong currency
            ("RMB1,234.56 million", M), // 亿 read as million
            ("RMB86.3 billion", M),     // 亿 read as billion
            ("12.5%", M),               // a decrease written as a rise
            ("RMB8.63 billion", M),     // a profit written as a loss
            ("1.6%", M),                // percentage points written as percent
            ("RMB34.57 billion", M),    // x0.1
            ("RMB17.1 billion", M),     // another value for the same metric
            ("200 new stores", U),
            ("2021", U),
        ],
    );
    assert!(reason_of(&r, "US$123.46 billion", 0).starts_with("wrong currency"));
    assert!(reason_of(&r, "RMB1,234.56 million", 0).contains("10^-2"));
    assert!(reason_of(&r, "RMB86.3 billion", 0).contains("10^1"));
    assert!(reason_of(&r, "RMB8.63 billion", 0).starts_with("sign"));
    assert!(reason_of(&r, "1.6%", 0).starts_with("percent vs percentage points"));
    assert_eq!(matched_of(&r, "RMB17.1 billion", 0), "152.7亿元");
}

/// A source checked against itself: every figure is found again and verified.
#[test]
fn sources_verify_against_themselves() {
    for name in ["en_source.txt", "zh_source.txt"] {
        let src = fixture(name);
        let r = check_numbers(&src, &src);
        assert!(
            r.summary.total >= 15,
            "{name}: only {} figures",
            r.summary.total
        );
        for f in &r.findings {
            assert_eq!(
                f.status,
                Status::Verified,
                "{name}: {} ({})",
                f.figure.text,
                f.reason
            );
            let m = f
                .matched
                .as_ref()
                .expect("verified figures name their source");
            assert_eq!(
                m.value, f.figure.value,
                "{name}: {} matched {}",
                f.figure.text, m.text
            );
        }
    }
}

#[test]
fn findings_serialize_for_the_ui() {
    let src = fixture("en_source.txt");
    let out = "净亏损为6.08亿美元。";
    let r = check_numbers(&src, out);
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["text"], "6.08亿美元");
    assert_eq!(f["status"], "mismatch");
    assert_eq!(f["kind"], "amount");
    assert_eq!(f["currency"], "USD");
    assert_eq!(f["span"]["char_start"], 4);
    assert_eq!(f["span"]["char_end"], 11);
    assert_eq!(
        &out[f["span"]["start"].as_u64().unwrap() as usize
            ..f["span"]["end"].as_u64().unwrap() as usize],
        "6.08亿美元"
    );
    assert_eq!(f["matched"]["text"], "RMB608.1 million");
    assert_eq!(f["matched"]["currency"], "CNY");
    assert_eq!(v["summary"]["mismatch"], 1);
    let back: NumberReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

/// Runs the CLI; None (with the reason printed) while ingestion is not implemented.
fn cli(args: &[&str]) -> Option<std::process::Output> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reportlens"))
        .args(args)
        .output()
        .expect("run reportlens");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("not yet implemented") {
        eprintln!(
            "skipping: extraction is not implemented yet ({})",
            stderr.trim()
        );
        return None;
    }
    Some(out)
}

#[test]
fn cli_json_and_table() {
    let source = fixture_path("en_source.txt");
    let output = fixture_path("zh_summary_slips.md");
    let (s, o) = (source.to_str().unwrap(), output.to_str().unwrap());
    let Some(out) = cli(&["check-numbers", "--source", s, "--output", o, "--json"]) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["mismatch"], 10);
    assert_eq!(v["summary"]["verified"], 3);
    assert_eq!(v["findings"].as_array().unwrap().len(), 15);

    let out = cli(&["check-numbers", "--source", s, "--output", o]).unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("mismatch") && table.contains("84.31亿美元"),
        "{table}"
    );
    assert!(
        table.contains(
            "15 figures: 3 verified, 0 derived, 0 approximate, 10 mismatch, 2 unsupported"
        ),
        "{table}"
    );
}

#[test]
fn cli_missing_output_is_a_user_error() {
    let source = fixture_path("en_source.txt");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_reportlens"))
        .args([
            "check-numbers",
            "--source",
            source.to_str().unwrap(),
            "--output",
        ])
        .arg("/nonexistent/summary.md")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/summary.md"), "{err}");
}

/// Real corpus pages (a Hong Kong annual-report table in Chinese and English,
/// and a US 10-K page): extracted, then checked against themselves.
#[test]
fn corpus_pages_verify_against_themselves() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pdf");
    for (name, min_figures) in [
        ("olmocr__f_Cbt29nNq_pg79.pdf", 60),
        ("olmocr__earnings.pdf", 30),
    ] {
        let path = corpus.join(name);
        if !path.exists() {
            eprintln!("skipping {name}: corpus not at {}", path.display());
            continue;
        }
        let extracted = std::panic::catch_unwind(|| reportlens::extract(&path));
        let doc = match extracted {
            Ok(doc) => doc.unwrap_or_else(|e| panic!("{name}: {e}")),
            Err(_) => {
                eprintln!("skipping {name}: extraction is not implemented yet");
                continue;
            }
        };
        let text = doc.plain_text();
        let r = check_numbers(&text, &text);
        let amounts = r
            .findings
            .iter()
            .filter(|f| f.figure.kind != FigureKind::Date)
            .count();
        eprintln!("{name}: {} figures ({amounts} not dates)", r.summary.total);
        assert!(
            r.summary.total >= min_figures,
            "{name}: only {} figures",
            r.summary.total
        );
        for f in &r.findings {
            assert_eq!(
                f.status,
                Status::Verified,
                "{name}: {} ({})",
                f.figure.text,
                f.reason
            );
        }
    }
}
