//! The SQLite job store: round trips, checkpoints across reopen, reuse, cascade, history
//! order, two connections at once, and a clear error for a file that is not a database.
use std::path::{Path, PathBuf};

use reportlens::store::{
    sha256_file, ChunkStats, JobId, JobStatus, NewJob, Store, StoreError, TaskKind,
};
use reportlens::{Block, BlockKind, Document, Format};

fn doc(name: &str) -> Document {
    let mut table = Block::new(BlockKind::Table, "Revenue\t6,130\nProfit\t(120)");
    table.cells = Some(vec![
        vec!["Revenue".into(), "6,130".into()],
        vec!["Profit".into(), "(120)".into()],
    ]);
    table.page = Some(2);
    Document {
        source: format!("/tmp/{name}"),
        name: name.to_string(),
        format: Format::Pdf,
        pages: Some(2),
        fallback_pages: Vec::new(),
        no_text_pages: Vec::new(),
        blocks: vec![
            Block::new(BlockKind::Heading, "Annual results 年度业绩"),
            Block::new(BlockKind::Paragraph, "Revenue rose 12% to RMB6.13 billion."),
            table,
        ],
    }
}

fn new_job(sha: &str, reuse: bool) -> NewJob {
    NewJob {
        document_sha256: sha.to_string(),
        task: TaskKind::Translate,
        model_path: "/models/smol.gguf".into(),
        model_id: "smol-sha-abc".into(),
        settings: serde_json::json!({"to": "zh", "batch": 4}),
        reuse,
    }
}

fn stats(n: u32) -> ChunkStats {
    ChunkStats {
        tokens_in: 100 + n,
        tokens_out: 50 + n,
        elapsed_ms: 1000 + n as u64,
    }
}

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("nested").join("reportlens.sqlite3")
}

#[test]
fn document_and_job_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    let d = doc("report.pdf");
    store.put_document(&d, "sha-doc").unwrap();
    assert_eq!(store.get_document("sha-doc").unwrap(), d);

    let id = store.create_job(new_job("sha-doc", false)).unwrap();
    let rec = store.get_job(id).unwrap();
    assert_eq!(rec.status, JobStatus::Planned);
    assert_eq!(rec.task, TaskKind::Translate);
    assert_eq!(rec.document_name, "report.pdf");
    assert_eq!(rec.settings, serde_json::json!({"batch": 4, "to": "zh"}));
    assert_eq!(rec.settings_key.len(), 64);
    assert_eq!(rec.output, None);

    let plan = serde_json::json!({"strategy": "map-reduce", "passes": 3});
    store.save_plan(id, &plan, 3).unwrap();
    store.set_status(id, JobStatus::Running).unwrap();
    let findings = serde_json::json!([{"text": "84.3亿美元", "status": "mismatch"}]);
    store.finish_job(id, "译文", &findings).unwrap();
    let rec = store.get_job(id).unwrap();
    assert_eq!(rec.status, JobStatus::Done);
    assert_eq!(rec.plan, Some(plan));
    assert_eq!(rec.total_chunks, Some(3));
    assert_eq!(rec.output.as_deref(), Some("译文"));
    assert_eq!(rec.findings, Some(findings));
    assert!(rec.updated_at >= rec.created_at);

    store.update_output(id, "改过的译文").unwrap();
    assert_eq!(
        store.get_job(id).unwrap().output.as_deref(),
        Some("改过的译文")
    );

    store.fail_job(id, "model file vanished").unwrap();
    let rec = store.get_job(id).unwrap();
    assert_eq!(rec.status, JobStatus::Failed);
    assert_eq!(rec.error.as_deref(), Some("model file vanished"));

    // The record serialises for the UI.
    let json = serde_json::to_value(&rec).unwrap();
    assert_eq!(json["status"], "failed");
    assert_eq!(json["task"], "translate");
}

#[test]
fn missing_job_and_document_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    let err = store.get_job(JobId(42)).unwrap_err();
    assert!(matches!(err, StoreError::NoSuchJob(JobId(42))), "{err}");
    assert!(err.to_string().contains("42"));
    let err = store
        .save_chunk(JobId(7), 0, "h", "out", stats(0))
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSuchJob(JobId(7))), "{err}");
    let err = store.create_job(new_job("nope", false)).unwrap_err();
    assert!(matches!(err, StoreError::NoSuchDocument(_)), "{err}");
    assert!(matches!(
        store.set_status(JobId(3), JobStatus::Running),
        Err(StoreError::NoSuchJob(_))
    ));
}

#[test]
fn chunk_checkpoints_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let id = {
        let mut store = Store::open(&path).unwrap();
        store.put_document(&doc("a.pdf"), "sha-a").unwrap();
        let id = store.create_job(new_job("sha-a", false)).unwrap();
        store
            .save_plan(id, &serde_json::json!({"chunks": 4}), 4)
            .unwrap();
        store.set_status(id, JobStatus::Running).unwrap();
        store.save_chunk(id, 0, "in0", "第一块", stats(0)).unwrap();
        store.save_chunk(id, 1, "in1", "第二块", stats(1)).unwrap();
        id
        // dropped here without finishing, as a killed run would leave it
    };
    let mut store = Store::open(&path).unwrap();
    let done = store.finished_chunks(id).unwrap();
    assert_eq!(done.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(done[&1].output, "第二块");
    assert_eq!(done[&1].input_hash, "in1");
    assert_eq!(done[&1].tokens_in, 101);
    assert_eq!(done[&1].tokens_out, 51);
    assert_eq!(done[&1].elapsed_ms, 1001);
    assert!(done[&1].finished_at > 0);
    let rec = store.get_job(id).unwrap();
    assert_eq!(rec.status, JobStatus::Running);
    assert_eq!((rec.done_chunks, rec.total_chunks), (2, Some(4)));

    // A retried chunk replaces the earlier output instead of duplicating it.
    store
        .save_chunk(id, 1, "in1b", "第二块（重试）", stats(9))
        .unwrap();
    let done = store.finished_chunks(id).unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(done[&1].output, "第二块（重试）");
}

#[test]
fn reuse_returns_unfinished_job_and_finds_chunks_by_settings_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    store.put_document(&doc("a.pdf"), "sha-a").unwrap();
    let first = store.create_job(new_job("sha-a", true)).unwrap();
    store.save_chunk(first, 0, "in0", "out0", stats(0)).unwrap();
    store.set_status(first, JobStatus::Cancelled).unwrap();

    // Same document, model and settings (keys in another order): the cancelled job comes back.
    let mut again = new_job("sha-a", true);
    again.settings = serde_json::json!({"batch": 4, "to": "zh"});
    let second = store.create_job(again).unwrap();
    assert_eq!(second, first);
    assert_eq!(store.finished_chunks(second).unwrap().len(), 1);

    // Without reuse, or with other settings, a new job.
    let fresh = store.create_job(new_job("sha-a", false)).unwrap();
    assert_ne!(fresh, first);
    let mut other = new_job("sha-a", true);
    other.settings = serde_json::json!({"to": "en", "batch": 4});
    let other_id = store.create_job(other).unwrap();
    assert_ne!(other_id, first);

    // A done job is not resumed, but its chunks are found for a re-run by key and input.
    store
        .finish_job(first, "all", &serde_json::json!([]))
        .unwrap();
    let rerun = store.create_job(new_job("sha-a", true)).unwrap();
    assert_ne!(rerun, first, "a done job is never reopened");
    let key = store.get_job(first).unwrap().settings_key;
    assert_eq!(store.get_job(rerun).unwrap().settings_key, key);
    let hit = store.find_chunk_output(&key, 0, "in0").unwrap().unwrap();
    assert_eq!(hit.output, "out0");
    assert!(store
        .find_chunk_output(&key, 0, "changed-input")
        .unwrap()
        .is_none());
    assert!(store.find_chunk_output(&key, 1, "in0").unwrap().is_none());
    let other_key = store.get_job(other_id).unwrap().settings_key;
    assert!(store
        .find_chunk_output(&other_key, 0, "in0")
        .unwrap()
        .is_none());
}

#[test]
fn delete_cascades_to_chunks_and_orphan_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    store.put_document(&doc("a.pdf"), "sha-a").unwrap();
    let a = store.create_job(new_job("sha-a", false)).unwrap();
    let b = store.create_job(new_job("sha-a", false)).unwrap();
    for i in 0..3 {
        store
            .save_chunk(a, i, &format!("in{i}"), "x", stats(i))
            .unwrap();
    }
    let key = store.get_job(a).unwrap().settings_key;
    store.delete_job(a).unwrap();
    assert!(matches!(store.get_job(a), Err(StoreError::NoSuchJob(_))));
    assert!(matches!(
        store.finished_chunks(a),
        Err(StoreError::NoSuchJob(_))
    ));
    assert!(
        store.find_chunk_output(&key, 0, "in0").unwrap().is_none(),
        "chunks deleted"
    );
    // b still uses the document.
    assert!(store.get_document("sha-a").is_ok());
    store.delete_job(b).unwrap();
    assert!(matches!(
        store.get_document("sha-a"),
        Err(StoreError::NoSuchDocument(_))
    ));
    assert!(matches!(store.delete_job(b), Err(StoreError::NoSuchJob(_))));
    // Reused row ids must not see old chunks either.
    store.put_document(&doc("a.pdf"), "sha-a").unwrap();
    let c = store.create_job(new_job("sha-a", false)).unwrap();
    assert!(store.finished_chunks(c).unwrap().is_empty());
}

#[test]
fn list_is_newest_first_with_progress() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db(&dir)).unwrap();
    store.put_document(&doc("a.pdf"), "sha-a").unwrap();
    store.put_document(&doc("b.docx"), "sha-b").unwrap();
    let a = store.create_job(new_job("sha-a", false)).unwrap();
    let mut nb = new_job("sha-b", false);
    nb.task = TaskKind::Summarize;
    let b = store.create_job(nb).unwrap();
    store.save_plan(b, &serde_json::json!({}), 5).unwrap();
    store.save_chunk(b, 0, "i", "o", stats(0)).unwrap();
    store.save_chunk(b, 3, "i", "o", stats(3)).unwrap();

    let list = store.list_jobs().unwrap();
    assert_eq!(list.iter().map(|j| j.id).collect::<Vec<_>>(), vec![b, a]);
    assert_eq!(list[0].document_name, "b.docx");
    assert_eq!(list[0].task, TaskKind::Summarize);
    assert_eq!((list[0].done_chunks, list[0].total_chunks), (2, Some(5)));
    assert_eq!(list[1].document_name, "a.pdf");
    assert_eq!((list[1].done_chunks, list[1].total_chunks), (0, None));
    assert_eq!(list[1].status, JobStatus::Planned);
}

#[test]
fn two_connections_write_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let (a, b) = {
        let mut s = Store::open(&path).unwrap();
        s.put_document(&doc("a.pdf"), "sha-a").unwrap();
        (
            s.create_job(new_job("sha-a", false)).unwrap(),
            s.create_job(new_job("sha-a", false)).unwrap(),
        )
    };
    let writer = |path: PathBuf, job: JobId| {
        std::thread::spawn(move || {
            let mut s = Store::open(&path).unwrap();
            for i in 0..40 {
                s.save_chunk(job, i, &format!("in{i}"), &format!("{job}-{i}"), stats(i))
                    .unwrap();
                // Reads interleaved with the other connection's writes.
                assert_eq!(s.finished_chunks(job).unwrap().len(), i as usize + 1);
            }
        })
    };
    let ta = writer(path.clone(), a);
    let tb = writer(path.clone(), b);
    ta.join().unwrap();
    tb.join().unwrap();
    let s = Store::open(&path).unwrap();
    assert_eq!(s.finished_chunks(a).unwrap().len(), 40);
    assert_eq!(s.finished_chunks(b).unwrap()[&39].output, format!("{b}-39"));
}

#[test]
fn a_file_that_is_not_a_database_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reportlens.sqlite3");
    std::fs::write(&path, "this is a text file, not SQLite\n".repeat(200)).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("REPORTLENS_DATA"), "{msg}");
    // The file is left untouched for the user to inspect.
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("this is a text file"));
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(Store::open(&path).unwrap());
    set_user_version_99(&path);
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found: 99, .. }),
        "{err:?}"
    );
}

/// Sets `user_version` to 99 by patching the header bytes (offset 60, big-endian), so the
/// test needs no SQLite dependency of its own.
fn set_user_version_99(path: &Path) {
    // Closing the last connection checkpointed the WAL into the main file.
    let mut bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..16], b"SQLite format 3\0");
    bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn sha256_file_matches_the_corpus_manifest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let manifest = root.join("manifest.tsv");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        eprintln!("skipping: {} is absent", manifest.display());
        return;
    };
    let mut checked = 0;
    for line in text.lines().skip(1).take(3) {
        let cols: Vec<&str> = line.split('\t').collect();
        let file = root.join(cols[0]).join(cols[1]);
        assert_eq!(sha256_file(&file).unwrap(), cols[3], "{}", file.display());
        checked += 1;
    }
    assert!(checked > 0);
    let err = sha256_file(&root.join("no-such-file.pdf")).unwrap_err();
    assert!(err.to_string().contains("no-such-file.pdf"));
}

#[test]
fn open_default_uses_reportlens_data() {
    // The only test in this binary that reads the variable.
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("REPORTLENS_DATA", dir.path());
    let store = Store::open_default().unwrap();
    std::env::remove_var("REPORTLENS_DATA");
    assert_eq!(store.path(), dir.path().join("reportlens.sqlite3"));
    assert!(store.path().is_file());
}

/// A database made before jobs recorded their device (schema 1) opens, keeps
/// its jobs (device unknown), and records the device of the next run.
#[test]
fn a_schema_1_database_gains_the_device_column_and_keeps_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let id = {
        let mut store = Store::open(&path).unwrap();
        store.put_document(&doc("old.pdf"), "sha-old").unwrap();
        store.create_job(new_job("sha-old", false)).unwrap()
    };
    // Back to schema 1, as an older build left it.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE queue; DROP TABLE speed; ALTER TABLE jobs DROP COLUMN device; PRAGMA user_version = 1;",
        )
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let job = store.get_job(id).unwrap();
    assert_eq!(job.device, None);
    assert_eq!(store.list_jobs().unwrap()[0].device, None);
    store.set_device(id, "cuda").unwrap();
    assert_eq!(store.get_job(id).unwrap().device.as_deref(), Some("cuda"));
    assert_eq!(
        store.list_jobs().unwrap()[0].device.as_deref(),
        Some("cuda")
    );
}

#[test]
fn the_queue_keeps_its_order_and_states_across_a_restart() {
    use reportlens::store::QueueState;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let mut store = Store::open(&path).unwrap();
    let mut jobs = Vec::new();
    for name in ["a.pdf", "b.pdf", "c.pdf"] {
        let sha = format!("sha-{name}");
        store.put_document(&doc(name), &sha).unwrap();
        let id = store.create_job(new_job(&sha, false)).unwrap();
        assert_eq!(store.enqueue(id).unwrap(), jobs.len(), "queued last");
        jobs.push(id);
    }
    assert_eq!(
        store.enqueue(jobs[0]).unwrap(),
        0,
        "queued twice: keeps its place"
    );
    let order = |s: &Store| -> Vec<(JobId, QueueState)> {
        s.queue()
            .unwrap()
            .into_iter()
            .map(|e| (e.job.id, e.state))
            .collect()
    };
    use QueueState::*;
    assert_eq!(
        order(&store),
        vec![(jobs[0], Waiting), (jobs[1], Waiting), (jobs[2], Waiting)]
    );
    // The last goes first; the first is paused and skipped.
    store.move_in_queue(jobs[2], 0).unwrap();
    assert_eq!(
        store.enqueue(jobs[0]).unwrap(),
        1,
        "its place after the move"
    );
    store.set_queue_state(jobs[0], Paused).unwrap();
    assert_eq!(store.claim_next().unwrap(), Some(jobs[2]));
    assert_eq!(
        order(&store),
        vec![(jobs[2], Running), (jobs[0], Paused), (jobs[1], Waiting)]
    );
    // Another window of this process runs it: a start-up leaves it alone.
    assert_eq!(store.recover_queue().unwrap(), 0);
    // A crash: the running job waits again, in its place, after a reopen
    // (its worker process is gone).
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.recover_queue_where(&|_| false).unwrap(), 1);
    assert_eq!(
        order(&store),
        vec![(jobs[2], Waiting), (jobs[0], Paused), (jobs[1], Waiting)]
    );
    assert_eq!(store.claim_next().unwrap(), Some(jobs[2]));
    store.dequeue(jobs[2]).unwrap();
    assert_eq!(store.claim_next().unwrap(), Some(jobs[1]));
    store.dequeue(jobs[1]).unwrap();
    assert_eq!(
        store.claim_next().unwrap(),
        None,
        "only the paused job is left"
    );
    store.enqueue(jobs[0]).unwrap(); // queueing a paused job resumes it
    assert_eq!(store.queue_state(jobs[0]).unwrap(), Some(Waiting));
    assert!(matches!(
        store.move_in_queue(jobs[1], 0),
        Err(StoreError::NotQueued(_))
    ));
    // Deleting a job takes it out of the queue too.
    store.delete_job(jobs[0]).unwrap();
    assert!(store.queue().unwrap().is_empty());
}

/// Several workers opening a new database at once (a batch's first files, a
/// window and a CLI run) all get it: the first creates and migrates it, the
/// others wait their turn; none fails with "locked".
#[test]
fn a_new_database_opened_by_several_workers_at_once_opens_for_all() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reportlens.sqlite3");
        let barrier = std::sync::Barrier::new(6);
        std::thread::scope(|s| {
            let opened: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        Store::open(&path).map(|_| ())
                    })
                })
                .collect();
            for o in opened {
                if let Err(e) = o.join().unwrap() {
                    panic!("round {round}: {e}");
                }
            }
        });
    }
}
