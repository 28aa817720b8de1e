use std::path::PathBuf;

use reportlens::check::{check_files, Finding, NumberReport, Status};

#[derive(clap::Args)]
pub struct Args {
    /// The source document (.pdf, .docx, .txt, .md).
    #[arg(long)]
    source: PathBuf,
    /// The summary or translation to check (text or Markdown).
    #[arg(long)]
    output: PathBuf,
    /// Print the findings and the counts per status as JSON (shape documented in the README).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let report = check_files(&args.source, &args.output).map_err(crate::user)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Verified => "verified",
        Status::Derived => "derived",
        Status::Approximate => "approximate",
        Status::Mismatch => "mismatch",
        Status::Unsupported => "unsupported",
    }
}

/// Pad to a display width, counting CJK characters as two columns.
fn pad(s: &str, width: usize) -> String {
    let w: usize = s
        .chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum();
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

fn row(f: &Finding) -> String {
    let matched = match (&f.formula, &f.matched) {
        (Some(_), _) => "(computed)",
        (None, Some(m)) => m.text.as_str(),
        (None, None) => "-",
    };
    format!(
        "{} {} {} {} {}\n",
        pad(status_word(f.status), 11),
        pad(&format!("{}", f.figure.span.char_start), 6),
        pad(&f.figure.text, 24),
        pad(matched, 24),
        f.reason
    )
}

fn table(r: &NumberReport) -> String {
    let mut out = format!(
        "{} {} {} {} {}\n",
        pad("STATUS", 11),
        pad("AT", 6),
        pad("OUTPUT FIGURE", 24),
        pad("SOURCE FIGURE", 24),
        "WHY"
    );
    for f in &r.findings {
        out.push_str(&row(f));
    }
    let s = r.summary;
    out.push_str(&format!(
        "\n{} figures: {} verified, {} derived, {} approximate, {} mismatch, {} unsupported\n",
        s.total, s.verified, s.derived, s.approximate, s.mismatch, s.unsupported
    ));
    out
}
