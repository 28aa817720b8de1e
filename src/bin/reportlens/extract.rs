use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The file to read (.pdf, .docx, .txt, .md).
    file: PathBuf,
    /// Print the Document as JSON (shape documented in the README).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let doc = reportlens::extract(&args.file).map_err(crate::user)?;
    if let Some(note) = doc.no_text_note() {
        eprintln!("note: {}: {note}", doc.name);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{}", doc.plain_text());
    }
    Ok(())
}
