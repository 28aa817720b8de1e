//! `reportlens bench-extract DIR`: pages per second of ReportLens's PDF
//! extraction on every PDF under DIR, measured in the same run against
//! poppler's `pdftotext -layout` (the baseline), with the ratio.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// A folder of PDFs (searched recursively), e.g. ../shared/corpus/pdf.
    dir: PathBuf,
    /// Repeat each extraction this many times and keep the fastest.
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct FileRow {
    file: String,
    pages: u32,
    ours_ms: f64,
    pdftotext_ms: Option<f64>,
    /// Pages whose text came from the fallback extractor (lopdf) rather than the interpreter.
    fallback_pages: u32,
}

#[derive(Serialize)]
struct Report {
    files: usize,
    pages: u64,
    ours_pages_per_s: f64,
    pdftotext_pages_per_s: Option<f64>,
    /// ours / pdftotext: above 1, ReportLens is faster.
    ratio: Option<f64>,
    /// Pages read by each extractor (the interpreter first, lopdf where it fails).
    interpreter_pages: u64,
    lopdf_fallback_pages: u64,
    rows: Vec<FileRow>,
}

fn pdfs(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            pdfs(&p, out)?;
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("pdf")) {
            out.push(p);
        }
    }
    Ok(())
}

fn fastest<T>(n: u32, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..n.max(1) {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.expect("ran at least once"))
}

fn pdftotext_available() -> bool {
    Command::new("pdftotext").arg("-v").output().is_ok()
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut files = Vec::new();
    pdfs(&a.dir, &mut files).map_err(|e| crate::user(format!("{}: {e}", a.dir.display())))?;
    files.sort();
    if files.is_empty() {
        return Err(crate::user(format!(
            "no PDF files under {}",
            a.dir.display()
        )));
    }
    let baseline = pdftotext_available();
    if !baseline {
        eprintln!(
            "pdftotext not found (apt-get install poppler-utils): measuring ReportLens alone"
        );
    }
    let mut rows = Vec::new();
    for f in &files {
        // Only files both can read count: errors (encrypted, broken) are not speed.
        let (ours, doc) = fastest(a.repeat, || reportlens::extract(f));
        let Ok(doc) = doc else { continue };
        let Some(pages) = doc.pages.filter(|p| *p > 0) else {
            continue;
        };
        let theirs = baseline.then(|| {
            fastest(a.repeat, || {
                Command::new("pdftotext")
                    .args(["-q", "-layout"])
                    .arg(f)
                    .arg("-")
                    .output()
                    .map(|o| o.status.success())
                    .unwrap_or(false)
            })
        });
        let pdftotext_ms = match theirs {
            Some((d, true)) => Some(d.as_secs_f64() * 1e3),
            _ => None,
        };
        if baseline && pdftotext_ms.is_none() {
            continue;
        }
        rows.push(FileRow {
            file: f.strip_prefix(&a.dir).unwrap_or(f).display().to_string(),
            pages,
            ours_ms: ours.as_secs_f64() * 1e3,
            pdftotext_ms,
            fallback_pages: doc.fallback_pages.len() as u32,
        });
    }
    let pages: u64 = rows.iter().map(|r| r.pages as u64).sum();
    let ours_s: f64 = rows.iter().map(|r| r.ours_ms).sum::<f64>() / 1e3;
    let theirs_s: Option<f64> =
        baseline.then(|| rows.iter().filter_map(|r| r.pdftotext_ms).sum::<f64>() / 1e3);
    let ours_pps = pages as f64 / ours_s.max(1e-9);
    let theirs_pps = theirs_s.map(|s| pages as f64 / s.max(1e-9));
    let fallback: u64 = rows.iter().map(|r| r.fallback_pages as u64).sum();
    let report = Report {
        files: rows.len(),
        pages,
        interpreter_pages: pages - fallback,
        lopdf_fallback_pages: fallback,
        ours_pages_per_s: ours_pps,
        pdftotext_pages_per_s: theirs_pps,
        ratio: theirs_pps.map(|t| ours_pps / t),
        rows,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{:>8} {:>10} {:>12}  file",
        "pages", "ours ms", "pdftotext ms"
    );
    for r in &report.rows {
        let theirs = r
            .pdftotext_ms
            .map(|t| format!("{t:12.1}"))
            .unwrap_or_else(|| format!("{:>12}", "-"));
        let by = if r.fallback_pages > 0 {
            format!("  (lopdf read {} of its pages)", r.fallback_pages)
        } else {
            String::new()
        };
        println!(
            "{:>8} {:>10.1} {theirs}  {}{by}",
            r.pages, r.ours_ms, r.file
        );
    }
    println!(
        "extractor per page: interpreter {}, lopdf fallback {}",
        report.interpreter_pages, report.lopdf_fallback_pages
    );
    println!(
        "{} files, {} pages: ReportLens {:.1} pages/s",
        report.files, report.pages, report.ours_pages_per_s
    );
    if let (Some(t), Some(ratio)) = (report.pdftotext_pages_per_s, report.ratio) {
        println!("pdftotext -layout {t:.1} pages/s; ratio ReportLens/pdftotext = {ratio:.2}");
    }
    Ok(())
}
