//! `reportlens model`: the forms a model directory can run in (dense, or
//! converted once to Q8_0 or Q4_K_M), with the memory each needs, and
//! `--use FORM` to choose one: converted into the model cache when needed
//! (progress on stderr, Ctrl-C cancels and leaves no file), then remembered
//! for that model by the CLI and the app alike.
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reportlens::model::device::human_bytes;
use reportlens::model::forms::{self, Form};
use reportlens::settings::Settings;

#[derive(clap::Args)]
pub struct Args {
    /// The model directory (default: the model in Settings).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Run it as: dense, q8_0 or q4k (converting once if needed).
    #[arg(long = "use")]
    form: Option<Form>,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let data = reportlens::store::data_dir().map_err(crate::user)?;
    let mut settings = Settings::load(&data).map_err(crate::user)?;
    // The same choice as every command, before a folder's form is applied.
    let model = settings
        .chosen_model(args.model.as_deref())
        .map(|(p, _)| p)
        .ok_or_else(|| crate::user("no model given: pass --model DIR"))?;
    let cache = reportlens::paths::models_dir();
    let Some(options) = forms::options(&model, &cache).map_err(crate::user)? else {
        return Err(crate::user(format!(
            "{} is a GGUF file: it runs as it is (forms are for model directories)",
            model.display()
        )));
    };
    if let Some(form) = args.form {
        let cancel = Arc::new(AtomicBool::new(false));
        let c = cancel.clone();
        let _ = ctrlc::set_handler(move || c.store(true, Ordering::SeqCst));
        let mut err = std::io::stderr().lock();
        let made = forms::prepare(&model, form, &cache, Some(&cancel), |p| {
            let _ = write!(
                err,
                "\rconverting to {form}: {}/{} tensors, {}   ",
                p.done,
                p.total,
                human_bytes(p.bytes_written)
            );
        });
        let _ = writeln!(err);
        match made {
            Ok(Some(s)) => eprintln!("wrote {} ({})", s.out.display(), human_bytes(s.bytes)),
            Ok(None) => {}
            Err(e) => return Err(crate::user(e)),
        }
        settings.forms.insert(forms::key(&model), form);
        settings.save(&data).map_err(crate::user)?;
        eprintln!("{} now runs as {form}", model.display());
    }
    let chosen = settings.forms.get(&forms::key(&model)).copied();
    let options = forms::options(&model, &cache)
        .map_err(crate::user)?
        .unwrap_or(options);
    if args.json {
        let v = serde_json::json!({ "model": model, "chosen": chosen, "options": options });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{}", model.display());
    for o in &options {
        let mark = if Some(o.form) == chosen { "*" } else { " " };
        let state = match (&o.file, o.ready) {
            (None, _) => "ready".to_string(),
            (Some(f), true) => format!("converted: {}", f.display()),
            (Some(_), false) => "not converted (`--use` converts it once)".to_string(),
        };
        println!(
            "{mark} {:<6} needs {:>10}  {state}",
            o.form.to_string(),
            human_bytes(o.memory)
        );
    }
    Ok(())
}
