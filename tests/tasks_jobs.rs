//! Summaries and translations end to end with the real SmolLM2 test model on
//! real corpus documents: plan, passes, alignment, storage, cancel, resume
//! after a real process kill, export, figure findings. A 135M model writes
//! poor summaries; these tests check the mechanics, not the prose.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reportlens::export::ExportFormat;
use reportlens::model::{load_engine, Engine, LoadOptions};
use reportlens::plan::PassKind;
use reportlens::store::{JobStatus, Store};
use reportlens::tasks::{self, JobEvent, JobOutcome, JobRequest, JobResult};
use reportlens::{BlockKind, Lang, Strategy, SummaryMode, TaskSpec};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(name)
}

fn model() -> Option<PathBuf> {
    let p = reportlens::paths::test_model_path();
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "skipping: test model not at {} (run models/fetch-test-models)",
            p.display()
        );
        None
    }
}

/// The model tests take turns: candle's CPU thread pools spin while they
/// wait, so two jobs at once on CI's two cores run far slower than one after
/// the other (measured: 354 s in parallel, 234 s in turn).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn engine(model: &Path) -> Engine {
    load_engine(model, &LoadOptions::default()).expect("the test model loads")
}

fn summary_request(model: &Path, file: &str, context: Option<usize>) -> JobRequest {
    JobRequest {
        file: corpus(file),
        model: model.to_path_buf(),
        task: TaskSpec::Summarize {
            lang: Lang::En,
            mode: SummaryMode::Financial,
        },
        strategy: None,
        context,
        glossary: None,
        server: None,
    }
}

/// The CLI with its data folder in `data`.
fn cli(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reportlens"));
    c.env("REPORTLENS_DATA", data);
    c
}

/// An English filing (about 670 tokens) that needs several passes in a small
/// context: two maps and a reduce at 768 tokens with the general prompt.
const LONG_DOC: &str = "pdf/olmocr__edgar.pdf";
/// The context the map-reduce tests plan for (the model's own is 8192).
const SMALL_CONTEXT: &str = "768";
const SHORT_DOC: &str = "pdf/olmocr__earnings.pdf";

#[test]
fn whole_summary_is_stored_checked_exported_and_reused() {
    let Some(m) = model() else { return };
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let mut eng = engine(&m);
    let req = summary_request(&m, SHORT_DOC, None);
    let id = tasks::submit(&mut store, &req).unwrap();
    let mut events = Vec::new();
    let out = tasks::run_job(&mut store, &mut eng, id, None, &mut |e| {
        events.push(e.clone())
    })
    .unwrap();
    let JobOutcome::Done(result) = out else {
        panic!("not done")
    };
    let JobResult::Summary {
        markdown, findings, ..
    } = result.as_ref()
    else {
        panic!("not a summary")
    };
    assert!(!markdown.trim().is_empty());
    // The plan came first and had one whole pass.
    let JobEvent::Planned { plan, .. } = &events[0] else {
        panic!("first event {:?}", events[0])
    };
    assert_eq!(plan.strategy, Strategy::Whole);
    assert_eq!(plan.passes.len(), 1);
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Token { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        streamed
            .trim_start()
            .starts_with(markdown.lines().next().unwrap().trim()),
        "streamed text is the answer"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, JobEvent::Prefill { done, total, .. } if done == total)));
    // Findings cover every figure of the summary, with their spans.
    let chars: Vec<char> = markdown.chars().collect();
    for f in &findings.marks {
        let s: String = chars[f.start..f.end].iter().collect();
        assert_eq!(s, f.text);
    }
    // Stored: the history shows it done, the result reloads without the model.
    let job = store.get_job(id).unwrap();
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(
        job.device.as_deref(),
        Some("cpu"),
        "the history says where it ran"
    );
    assert_eq!(&tasks::load_result(&store, id).unwrap(), result.as_ref());
    // Export in both single-language formats.
    for (name, fmt) in [
        ("s.md", ExportFormat::Markdown),
        ("s.docx", ExportFormat::Docx),
    ] {
        let p = dir.path().join(name);
        reportlens::export::write(&result.export_content(), fmt, &p).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 0);
    }
    // The same document, model and settings again: a new job, nothing recomputed.
    let id2 = tasks::submit(&mut store, &req).unwrap();
    assert_ne!(id, id2);
    let mut events2 = Vec::new();
    let out2 = tasks::run_job(&mut store, &mut eng, id2, None, &mut |e| {
        events2.push(e.clone())
    })
    .unwrap();
    let JobOutcome::Done(r2) = out2 else { panic!() };
    assert_eq!(r2.stored_output(), result.stored_output());
    assert!(
        !events2.iter().any(|e| matches!(e, JobEvent::Token { .. })),
        "no generation on reuse"
    );
    assert!(events2
        .iter()
        .any(|e| matches!(e, JobEvent::PassFinished { reused: true, .. })));
}

#[test]
fn long_document_runs_the_map_reduce_plan_it_printed() {
    let Some(m) = model() else { return };
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let doc = corpus(LONG_DOC);
    let plan_out = cli(dir.path())
        .args([
            "plan",
            doc.to_str().unwrap(),
            "--model",
            m.to_str().unwrap(),
        ])
        .args(["--task", "summarize", "--context", SMALL_CONTEXT, "--json"])
        .output()
        .unwrap();
    assert!(
        plan_out.status.success(),
        "{}",
        String::from_utf8_lossy(&plan_out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&plan_out.stdout).unwrap();
    let printed_plan = &printed["plan"];
    assert_eq!(printed_plan["strategy"], "map-reduce");
    let passes = printed_plan["passes"].as_array().unwrap();
    assert!(
        passes.len() >= 3,
        "a long document in a small context needs several passes: {}",
        passes.len()
    );
    assert!(passes.iter().filter(|p| p["kind"] == "map").count() >= 2);
    assert_eq!(passes.last().unwrap()["kind"], "reduce");

    let run = cli(dir.path())
        .args([
            "summarize",
            doc.to_str().unwrap(),
            "--model",
            m.to_str().unwrap(),
        ])
        .args(["--context", SMALL_CONTEXT, "--json"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(result["kind"], "summary");
    assert!(!result["markdown"].as_str().unwrap().trim().is_empty());

    let store = Store::open(&dir.path().join(reportlens::store::DB_FILE)).unwrap();
    let jobs = store.list_jobs().unwrap();
    assert_eq!(jobs.len(), 1);
    let job = store.get_job(jobs[0].id).unwrap();
    assert_eq!(job.status, JobStatus::Done);
    // The job ran exactly the plan that was printed: same passes, one checkpoint each.
    assert_eq!(
        &job.plan.as_ref().unwrap()["passes"],
        &printed_plan["passes"]
    );
    assert_eq!(
        &job.plan.as_ref().unwrap()["chunks"],
        &printed_plan["chunks"]
    );
    let chunks = store.finished_chunks(job.id).unwrap();
    assert_eq!(
        chunks.keys().copied().collect::<Vec<_>>(),
        (0..passes.len() as u32).collect::<Vec<_>>()
    );
    for (i, p) in passes.iter().enumerate() {
        let c = &chunks[&(i as u32)];
        assert!(
            c.tokens_in as u64 <= p["input_tokens"].as_u64().unwrap() + 64,
            "pass {i} read more than planned"
        );
        assert!(c.tokens_out as u64 <= p["max_output_tokens"].as_u64().unwrap());
    }
}

#[test]
fn a_killed_job_resumes_without_recomputing_finished_passes() {
    let Some(m) = model() else { return };
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let doc = corpus(LONG_DOC);
    let mut child = cli(dir.path())
        .args([
            "summarize",
            doc.to_str().unwrap(),
            "--model",
            m.to_str().unwrap(),
        ])
        .args(["--context", SMALL_CONTEXT, "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the first checkpoint, then kill the process outright (SIGKILL).
    let db = dir.path().join(reportlens::store::DB_FILE);
    let deadline = Instant::now() + Duration::from_secs(300);
    let (job, before) = loop {
        assert!(Instant::now() < deadline, "no pass finished in time");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the job ended before it could be killed"
        );
        if let Ok(store) = Store::open(&db) {
            if let Some(j) = store.list_jobs().unwrap().first() {
                let done = store.finished_chunks(j.id).unwrap();
                if !done.is_empty() {
                    break (j.id, done);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let store = Store::open(&db).unwrap();
    let record = store.get_job(job).unwrap();
    assert_ne!(record.status, JobStatus::Done);
    let total = record.total_chunks.unwrap() as usize;
    // Whatever was checkpointed by the time of the kill (maybe more than we saw).
    let before_kill = store.finished_chunks(job).unwrap();
    assert!(before_kill.len() >= before.len() && before_kill.len() < total);
    drop(store);

    let resumed = cli(dir.path())
        .args(["resume", &job.to_string(), "--json"])
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let store = Store::open(&db).unwrap();
    let record = store.get_job(job).unwrap();
    assert_eq!(record.status, JobStatus::Done);
    let after = store.finished_chunks(job).unwrap();
    assert_eq!(after.len(), total, "every pass is there");
    for (idx, c) in &before_kill {
        assert_eq!(&after[idx], c, "pass {idx} was recomputed after the resume");
    }
    assert!(!record.output.unwrap().trim().is_empty());
}

#[test]
fn cancel_keeps_finished_passes_and_a_rerun_completes() {
    let Some(m) = model() else { return };
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let mut eng = engine(&m);
    // 960 tokens: two passes (a map and the reduce). The page's 628 tokens (666 when
    // its words came out split) would fit one pass of 1024.
    let req = summary_request(&m, LONG_DOC, Some(960));
    let id = tasks::submit(&mut store, &req).unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let c = cancel.clone();
    let mut tokens_after_cancel = 0;
    let out = tasks::run_job(&mut store, &mut eng, id, Some(cancel.clone()), &mut |e| {
        // Cancel while the second pass is writing.
        if matches!(e, JobEvent::Token { pass: 1, .. }) && c.swap(true, Ordering::SeqCst) {
            tokens_after_cancel += 1;
        }
    })
    .unwrap();
    assert!(
        matches!(out, JobOutcome::Cancelled { passes_done: 1 }),
        "{out:?}"
    );
    assert!(
        tokens_after_cancel <= 1,
        "cancel takes effect within a token"
    );
    assert_eq!(store.get_job(id).unwrap().status, JobStatus::Cancelled);
    let kept = store.finished_chunks(id).unwrap();
    assert_eq!(kept.keys().copied().collect::<Vec<_>>(), vec![0]);
    // The same request finds the unfinished job and finishes it.
    assert_eq!(tasks::submit(&mut store, &req).unwrap(), id);
    let mut reused = Vec::new();
    let out = tasks::run_job(&mut store, &mut eng, id, None, &mut |e| {
        if let JobEvent::PassFinished {
            pass, reused: true, ..
        } = e
        {
            reused.push(*pass);
        }
    })
    .unwrap();
    assert!(matches!(out, JobOutcome::Done(_)));
    assert_eq!(reused, vec![0]);
    assert_eq!(store.finished_chunks(id).unwrap()[&0], kept[&0]);
}

#[test]
fn translation_aligns_blocks_keeps_table_numbers_and_saves_edits() {
    let Some(m) = model() else { return };
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let mut eng = engine(&m);
    let file = corpus(TABLE_DOC);
    let doc = reportlens::extract(&file).unwrap();
    let req = JobRequest {
        file: file.clone(),
        model: m.clone(),
        task: TaskSpec::Translate { to: Lang::Zh },
        strategy: None,
        context: None,
        glossary: None,
        server: None,
    };
    let id = tasks::submit(&mut store, &req).unwrap();
    let mut pass_kinds = Vec::new();
    let out = tasks::run_job(&mut store, &mut eng, id, None, &mut |e| {
        if let JobEvent::PassStarted { kind, .. } = e {
            pass_kinds.push(*kind);
        }
    })
    .unwrap();
    assert!(pass_kinds.iter().all(|k| *k == PassKind::Translate));
    let JobOutcome::Done(result) = out else {
        panic!()
    };
    let JobResult::Translation { pairs, .. } = result.as_ref() else {
        panic!()
    };
    // One pair per source block, in order, each translated (non-empty).
    let blocks: Vec<&str> = doc
        .blocks
        .iter()
        .filter(|b| !b.text.trim().is_empty())
        .map(|b| b.text.as_str())
        .collect();
    assert_eq!(
        pairs.iter().map(|p| p.source.as_str()).collect::<Vec<_>>(),
        blocks
    );
    assert!(pairs.iter().all(|p| !p.target.trim().is_empty()));
    // Tables: same shape, numeric cells copied unchanged.
    let mut numeric_cells = 0;
    for p in pairs.iter().filter(|p| p.kind == BlockKind::Table) {
        let (s, t) = (
            p.source_cells.as_ref().unwrap(),
            p.target_cells.as_ref().unwrap(),
        );
        assert_eq!(s.len(), t.len());
        for (sr, tr) in s.iter().zip(t) {
            assert_eq!(sr.len(), tr.len());
            for (sc, tc) in sr.iter().zip(tr) {
                if tasks::translate::is_numeric_cell(sc) {
                    assert_eq!(sc.trim(), tc, "numeric cell changed");
                    numeric_cells += 1;
                }
            }
        }
    }
    assert!(numeric_cells > 0, "{TABLE_DOC} has a table of figures");
    // A user edit is stored and re-checked.
    let edited = tasks::edit_translation(&store, id, 0, "编辑过的译文 2023年").unwrap();
    let reloaded = tasks::load_result(&store, id).unwrap();
    assert_eq!(edited, reloaded);
    let JobResult::Translation { pairs, .. } = &reloaded else {
        panic!()
    };
    assert_eq!(pairs[0].target, "编辑过的译文 2023年");
    // Bilingual exports.
    for (name, fmt) in [
        ("t.md", ExportFormat::BilingualMarkdown),
        ("t.docx", ExportFormat::BilingualDocx),
    ] {
        let p = dir.path().join(name);
        reportlens::export::write(&reloaded.export_content(), fmt, &p).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 0);
    }
}

/// A real DOCX with a table whose last column holds figures (50, 150, 200).
const TABLE_DOC: &str = "docx/docling__word_sample.docx";
