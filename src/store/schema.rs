//! The database layout and its migrations, keyed by SQLite's `user_version`.
use rusqlite::Connection;

/// The newest schema this build writes.
pub const SCHEMA_VERSION: i64 = 4;

/// Migration `i` takes the database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE documents (
    sha256      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    source      TEXT NOT NULL,
    format      TEXT NOT NULL,
    pages       INTEGER,
    -- the whole reportlens::Document, blocks included
    document_json TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    document_sha256 TEXT NOT NULL REFERENCES documents(sha256),
    task            TEXT NOT NULL CHECK (task IN ('summarize', 'translate')),
    model_path      TEXT NOT NULL,
    model_id        TEXT NOT NULL,
    settings_json   TEXT NOT NULL,
    settings_key    TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('planned', 'running', 'cancelled', 'failed', 'done')),
    plan_json       TEXT,
    total_chunks    INTEGER,
    output          TEXT,
    findings_json   TEXT,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX jobs_by_settings_key ON jobs(settings_key);
CREATE INDEX jobs_by_document ON jobs(document_sha256);
CREATE TABLE chunks (
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    input_hash  TEXT NOT NULL,
    output      TEXT NOT NULL,
    tokens_in   INTEGER NOT NULL,
    tokens_out  INTEGER NOT NULL,
    elapsed_ms  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX chunks_by_input ON chunks(idx, input_hash);
"#,
    // 2: the device that ran the job ("cpu", "cuda", "metal"), for the history.
    r#"
ALTER TABLE jobs ADD COLUMN device TEXT;
"#,
    // 3: the queue of jobs waiting to run (it survives a restart or a crash), and
    // the measured speed of each model (it was a speed.json beside the database).
    r#"
CREATE TABLE queue (
    job_id    INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    state     TEXT NOT NULL CHECK (state IN ('waiting', 'paused', 'running')),
    added_at  INTEGER NOT NULL
);
CREATE INDEX queue_by_position ON queue(position);
CREATE TABLE speed (
    model_id             TEXT PRIMARY KEY,
    prefill_tokens_per_s REAL NOT NULL,
    decode_tokens_per_s  REAL NOT NULL,
    updated_at           INTEGER NOT NULL
);
"#,
    // 4: which process runs a claimed job ("pid:start", see store::queue), so
    // a start-up recovers only the jobs of a process that is gone (not those
    // another window is running).
    r#"
ALTER TABLE queue ADD COLUMN worker TEXT;
"#,
];

/// Outcome of `migrate` when the file is newer than this build.
pub enum Migrated {
    Ok,
    TooNew(i64),
    /// A negative `user_version`: some other program's database.
    Foreign,
}

/// Brings the database up to `SCHEMA_VERSION`, one migration per transaction.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Migrated> {
    debug_assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
    loop {
        // IMMEDIATE: two processes opening a fresh file at once must not both migrate.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version < 0 {
            return Ok(Migrated::Foreign);
        }
        if version > SCHEMA_VERSION {
            return Ok(Migrated::TooNew(version));
        }
        if version == SCHEMA_VERSION {
            return Ok(Migrated::Ok);
        }
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}
