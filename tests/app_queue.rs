//! The application core's queue with the real SmolLM2 test model: files
//! queued in order, one that cannot be read refused with its reason, a job
//! moved, one paused while waiting and one paused while running (at a known
//! point: its first token), resumed, cancelled, and the rest finished.
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use reportlens::app::{Core, EngineSettings, Paths, QueueControl};
use reportlens::model::device::DeviceChoice;
use reportlens::model::KvType;
use reportlens::store::{JobId, JobStatus, QueueState};
use reportlens::tasks::{JobEvent, JobRequest};
use reportlens::{Lang, SummaryMode, TaskSpec};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(name)
}

#[test]
fn a_queue_runs_in_order_and_pauses_resumes_and_cancels() {
    let model = reportlens::paths::test_model_path();
    if !model.is_file() {
        eprintln!("skipping: no test model (run models/fetch-test-models)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let core = Core::new(Paths {
        data: dir.path().join("data"),
        models: reportlens::paths::models_dir(),
    });
    let memo = dir.path().join("memo.txt");
    std::fs::write(
        &memo,
        "Q3 memo\n\nRevenue rose 12% to $6.13 billion. Operating income was $812 million.",
    )
    .unwrap();
    let template = JobRequest {
        file: PathBuf::new(),
        model,
        task: TaskSpec::Summarize {
            lang: Lang::En,
            mode: SummaryMode::General,
        },
        strategy: None,
        context: Some(2048),
        glossary: None,
        server: None,
    };
    let files = [
        corpus("pdf/olmocr__earnings.pdf"),
        corpus("pdf/pdftotext__corrupt.pdf"),
        corpus("docx/docling__word_sample.docx"),
        memo,
    ];
    let mut queued = Vec::new();
    let results = core.queue_files(&files, &template, &mut |e| queued.push(e.clone()));
    let err = results[1].as_ref().unwrap_err();
    assert!(err.1.to_string().contains("damaged"), "{}", err.1);
    let ids: Vec<JobId> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let (earnings, sample, memo) = (ids[0], ids[1], ids[2]);
    let positions: Vec<usize> = queued
        .iter()
        .map(|e| match e {
            JobEvent::Queued { position, .. } => *position,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(positions, [0, 1, 2]);

    // The memo goes first; the sample waits paused; the earnings release is
    // paused as soon as it writes.
    core.move_job(memo, 0).unwrap();
    let control = QueueControl::default();
    core.pause_job(sample, &control).unwrap();
    let engine = EngineSettings {
        device: DeviceChoice::Cpu,
        kv: KvType::F16,
        server: None,
        answers_at_once: 1,
    };
    let events = Mutex::new(Vec::new());
    core.run_queue(&engine, 1, &control, &|e| {
        if let JobEvent::Token { job, .. } = e {
            if *job == earnings {
                core.pause_job(earnings, &control).unwrap();
            }
        }
        events.lock().unwrap().push(e.clone());
    })
    .unwrap();
    let events = events.into_inner().unwrap();
    let finished: Vec<JobId> = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Finished { job, .. } => Some(*job),
            _ => None,
        })
        .collect();
    assert_eq!(finished, [memo], "only the memo ran to the end");
    let loading = events
        .iter()
        .filter(|e| matches!(e, JobEvent::ModelLoading { .. }))
        .count();
    assert_eq!(loading, 1, "the model is loaded once for the queue");
    let state = |q: &[reportlens::store::QueueEntry]| -> Vec<(JobId, QueueState)> {
        q.iter().map(|e| (e.job.id, e.state)).collect()
    };
    assert_eq!(
        state(&core.queue().unwrap()),
        [(earnings, QueueState::Paused), (sample, QueueState::Paused)]
    );
    let store = core.store().unwrap();
    assert_eq!(store.get_job(memo).unwrap().status, JobStatus::Done);
    assert_eq!(
        store.get_job(earnings).unwrap().status,
        JobStatus::Cancelled
    );

    // Resume both, cancel the sample while it waits: the earnings release ends.
    core.resume_job(earnings, &control).unwrap();
    core.resume_job(sample, &control).unwrap();
    core.cancel_job(sample, &control).unwrap();
    core.run_queue(&engine, 1, &control, &|_| {}).unwrap();
    assert!(core.queue().unwrap().is_empty());
    assert_eq!(store.get_job(earnings).unwrap().status, JobStatus::Done);
    assert_eq!(store.get_job(sample).unwrap().status, JobStatus::Cancelled);
}

/// The window's queue runner: woken by a queued job, it streams the job's
/// events with its progress to the sink; closing (`stop`) stops the job in
/// flight within moments and leaves it waiting in its place for the next
/// start, its progress kept by the engine.
#[test]
fn closing_the_window_stops_the_runner_and_keeps_the_job_queued() {
    use reportlens::app::{JobUpdate, QueueRunner};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let model = reportlens::paths::test_model_path();
    if !model.is_file() {
        eprintln!("skipping: no test model (run models/fetch-test-models)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let core = Arc::new(Core::new(Paths {
        data: dir.path().join("data"),
        models: reportlens::paths::models_dir(),
    }));
    let runner = QueueRunner::new(core.clone());
    let updates: Arc<Mutex<Vec<JobUpdate>>> = Arc::default();
    let sink = updates.clone();
    runner.set_sink(Box::new(move |u| sink.lock().unwrap().push(u.clone())));
    let template = JobRequest {
        file: corpus("docx/docling__word_sample.docx"),
        model,
        task: TaskSpec::Translate { to: Lang::Zh },
        strategy: None,
        context: Some(1024),
        glossary: None,
        server: None,
    };
    let ids = core.queue_files(std::slice::from_ref(&template.file), &template, &mut |e| {
        runner.report(e)
    });
    let id = *ids[0].as_ref().unwrap();
    runner.wake();
    // Wait for its first words.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !updates
        .lock()
        .unwrap()
        .iter()
        .any(|u| matches!(u.event, JobEvent::Token { .. }))
    {
        assert!(Instant::now() < deadline, "no text in 2 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = runner.progress(id).unwrap();
    assert!(running.is_active() && running.passes >= 1, "{running:?}");
    assert!(runner.is_running(id));
    let t0 = Instant::now();
    runner.stop();
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert!(!runner.is_running(id));
    let queue = core.queue().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(
        (queue[0].job.id, queue[0].state),
        (id, QueueState::Waiting),
        "waits in its place for the next start"
    );
    // Every update carried the job's progress after its event.
    for u in updates.lock().unwrap().iter() {
        assert_eq!(u.progress.job, id);
    }
    // A stopped runner takes no more work.
    runner.wake();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!runner.is_running(id));
}

/// A job another worker is running (another window, or this one between its
/// claim and its start) is not paused, cancelled or removed under it: the
/// user is told where it runs, and nothing changes in the store.
#[test]
fn a_job_running_elsewhere_is_not_paused_or_cancelled_under_it() {
    use reportlens::app::AppError;
    let dir = tempfile::tempdir().unwrap();
    let core = Core::new(Paths {
        data: dir.path().join("data"),
        models: reportlens::paths::models_dir(),
    });
    let note = dir.path().join("note.txt");
    std::fs::write(&note, "Revenue was $4.2 million.").unwrap();
    let req = JobRequest {
        file: note,
        model: dir.path().join("any.gguf"),
        task: TaskSpec::Summarize {
            lang: Lang::En,
            mode: SummaryMode::General,
        },
        strategy: None,
        context: None,
        glossary: None,
        server: None,
    };
    let mut store = core.store().unwrap();
    let id = reportlens::tasks::submit(&mut store, &req).unwrap();
    store.enqueue(id).unwrap();
    // Another worker (a live process: this one, through its own store) claims it.
    assert_eq!(store.claim_next().unwrap(), Some(id));
    let control = QueueControl::default();
    let err = core.pause_job(id, &control).unwrap_err();
    assert!(
        matches!(err, AppError::RunningElsewhere(j) if j == id),
        "{err}"
    );
    let err = core.cancel_job(id, &control).unwrap_err();
    assert!(
        err.to_string().contains("another ReportLens window"),
        "{err}"
    );
    assert_eq!(store.queue_state(id).unwrap(), Some(QueueState::Running));
    assert_ne!(store.get_job(id).unwrap().status, JobStatus::Cancelled);
    // Resuming it is harmless: it is running already.
    core.resume_job(id, &control).unwrap();
    assert_eq!(store.queue_state(id).unwrap(), Some(QueueState::Running));
}
