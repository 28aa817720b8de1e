//! `reportlens key-figures FILE`: the headline figures a document's own statements
//! give (revenue, net income, EPS, cash flow ...), with period, change, unit and page,
//! as the financial summary's table shows them. No model involved.
use std::path::PathBuf;

use reportlens::check::key_figures::key_figures;
use reportlens::export::{key_figures as table, write_atomic};

#[derive(clap::Args)]
pub struct Args {
    /// The document (.pdf, .docx, .txt, .md).
    file: PathBuf,
    /// Print the rows as JSON.
    #[arg(long)]
    json: bool,
    /// Write the table to a .csv, .xlsx or .md file instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let doc = reportlens::extract(&a.file).map_err(crate::user)?;
    let rows = key_figures(&doc);
    if rows.is_empty() {
        eprintln!(
            "note: {}: no income statement, balance sheet or cash-flow table found",
            doc.name
        );
    }
    if let Some(out) = &a.out {
        let ext = out
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let bytes = match ext.as_deref() {
            Some("csv") => table::to_csv(&rows).into_bytes(),
            Some("xlsx") => table::to_xlsx(&rows).map_err(crate::user)?,
            Some("md" | "markdown") => table::to_markdown(&rows).into_bytes(),
            _ => {
                return Err(crate::user(format!(
                    "{}: use a .csv, .xlsx or .md file name",
                    out.display()
                )))
            }
        };
        write_atomic(out, &bytes).map_err(|e| crate::user(format!("{}: {e}", out.display())))?;
        eprintln!("wrote {}", out.display());
    } else if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", table::to_markdown(&rows));
    }
    Ok(())
}
