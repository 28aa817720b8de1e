//! `reportlens plan`: the token budget of a document against a model, and
//! with `--task` the passes a job will run and how long they should take.
use std::path::PathBuf;

use reportlens::plan::{plan_file_with, PlanOptions};
use reportlens::{Lang, Strategy, TaskSpec};

#[derive(clap::Args)]
pub struct Args {
    /// The document to plan.
    file: PathBuf,
    /// Model: a GGUF file or an Index model directory (default: the test model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Also plan the passes of this task.
    #[arg(long)]
    task: Option<Task>,
    /// Summary language.
    #[arg(long, default_value = "en")]
    lang: Lang,
    /// Summary mode: general or financial.
    #[arg(long, default_value = "general")]
    mode: crate::jobs::Mode,
    /// Translation target language (with --task translate).
    #[arg(long, default_value = "zh")]
    to: Lang,
    /// whole, map-reduce or head-tail (default: whole when it fits, else map-reduce).
    #[arg(long)]
    strategy: Option<Strategy>,
    /// Plan for a smaller context than the model's.
    #[arg(long)]
    context: Option<usize>,
    /// Print the plan as JSON (shape documented in the README).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Task {
    Summarize,
    Translate,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = crate::resolve_model(args.model)?;
    let opts = args.task.map(|t| PlanOptions {
        task: match t {
            Task::Summarize => TaskSpec::Summarize {
                lang: args.lang,
                mode: args.mode.into(),
            },
            Task::Translate => TaskSpec::Translate { to: args.to },
        },
        strategy: args.strategy,
        context_override: args.context,
        ..Default::default()
    });
    let (doc, fp, full) = plan_file_with(&args.file, &model, opts.as_ref()).map_err(crate::user)?;
    if let Some(note) = doc.no_text_note() {
        eprintln!("note: {}: {note}", doc.name);
    }
    let speed = reportlens::store::Store::open_default()
        .ok()
        .and_then(|s| reportlens::tasks::measured_speed(&s, &model));
    let full = full.map(|p| p.with_speed(speed));
    if args.json {
        let mut v = serde_json::to_value(&fp)?;
        if let Some(p) = &full {
            v["plan"] = serde_json::to_value(p)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let b = &fp.budget;
    println!("file:      {}", fp.file.display());
    if let Some(p) = fp.pages {
        println!("pages:     {p}");
    }
    println!("model:     {} ({})", fp.model.name, fp.model.path.display());
    println!("document:  {} tokens", b.document_tokens);
    println!("prompt:    {} tokens", b.prompt_overhead);
    println!("reserve:   {} tokens for the answer", b.output_reserve);
    println!(
        "total:     {} / {} tokens — {}",
        b.total_tokens,
        b.context_length,
        if b.fits { "fits" } else { "does not fit" }
    );
    if let Some(p) = full {
        let pb = &p.budget;
        if pb.context_length != b.context_length || pb.total_tokens != b.total_tokens {
            // The task's own prompt, or a --context smaller than the model's.
            println!(
                "task:      {} prompt + {} document + {} reserve = {} / {} tokens — {}",
                pb.prompt_overhead,
                pb.document_tokens,
                pb.output_reserve,
                pb.total_tokens,
                pb.context_length,
                if pb.fits { "fits" } else { "does not fit" }
            );
        }
        println!(
            "strategy:  {} in {} passes ({}-token context)",
            serde_json::to_value(p.strategy)?.as_str().unwrap_or("?"),
            p.passes.len(),
            p.budget.context_length
        );
        for pass in &p.passes {
            let pages = pass
                .chunk
                .and_then(|c| p.chunks[c].pages)
                .map(|(a, b)| {
                    if a == b {
                        format!(" page {a}")
                    } else {
                        format!(" pages {a}–{b}")
                    }
                })
                .unwrap_or_default();
            println!(
                "  pass {:>2}  {:<9} {:>6} tokens in, up to {:>5} out{pages}",
                pass.index + 1,
                serde_json::to_value(pass.kind)?.as_str().unwrap_or("?"),
                pass.input_tokens,
                pass.max_output_tokens
            );
        }
        if let Some(d) = &p.dropped {
            println!(
                "dropped:   {} tokens from the middle (blocks {}–{})",
                d.tokens, d.first_block, d.last_block
            );
        }
        match p.estimated_seconds {
            Some(s) => println!("estimate:  about {:.0} s on this machine (at most)", s),
            None => println!("estimate:  not yet measured on this machine (first run measures it)"),
        }
    }
    Ok(())
}
