//! Job history and checkpoints in SQLite.
//!
//! Every summarise/translate run is a job: its document, plan, each chunk's output as it
//! completes, the final output and the figure findings. A chunk is written in one
//! transaction when it finishes, so a crash, kill or cancel loses at most the chunk in
//! flight, and `resume` continues from `finished_chunks`. Re-running the same document,
//! model and settings finds earlier chunk outputs by `settings_key` + input hash.
//!
//! One `Store` is one connection (not `Sync`); the app keeps it behind a mutex. Several
//! processes may open the same file: WAL mode plus a busy timeout lets them take turns.

mod documents;
mod error;
mod hash;
mod jobs;
mod queue;
mod schema;
mod speed;
mod types;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use error::StoreError;
pub use hash::{settings_key, sha256_file, sha256_hex};
pub use queue::{QueueEntry, QueueState};
pub use schema::SCHEMA_VERSION;
pub use speed::SpeedRecord;
pub use types::{
    ChunkRecord, ChunkStats, JobId, JobRecord, JobStatus, JobSummary, NewJob, TaskKind,
};

/// File name of the database inside the data folder.
pub const DB_FILE: &str = "reportlens.sqlite3";

/// How long a write waits for another process's write to finish before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The data folder: `$REPORTLENS_DATA`, else the platform data dir
/// (`~/.local/share/reportlens` on Linux).
pub fn data_dir() -> Result<PathBuf, StoreError> {
    if let Some(dir) = std::env::var_os("REPORTLENS_DATA").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "reportlens")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or(StoreError::NoDataDir)
}

/// Where `Store::open_default` keeps the database.
pub fn default_db_path() -> Result<PathBuf, StoreError> {
    Ok(data_dir()?.join(DB_FILE))
}

/// An open job database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the database in the data folder, creating folder and file as needed.
    pub fn open_default() -> Result<Self, StoreError> {
        Self::open(&default_db_path()?)
    }

    /// Opens (or creates) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let sql = |e| StoreError::sqlite(path, e);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let mut conn = Connection::open_with_flags(path, flags).map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        // The first statement that reads the file: a non-SQLite file fails here.
        let mode: String =
            retry_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)))
                .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            // e.g. a filesystem without shared memory; rollback journal still works.
            eprintln!(
                "reportlens: {} runs in {mode} journal mode, not WAL",
                path.display()
            );
        }
        // NORMAL is durable in WAL mode except for the last commits on power loss.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sql)?;
        match schema::migrate(&mut conn).map_err(sql)? {
            schema::Migrated::Ok => {}
            schema::Migrated::TooNew(found) => {
                return Err(StoreError::TooNew {
                    path: path.to_path_buf(),
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
            schema::Migrated::Foreign => {
                return Err(StoreError::NotADatabase {
                    path: path.to_path_buf(),
                })
            }
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The database file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A write transaction that takes the write lock at once (IMMEDIATE):
    /// two processes reading then writing the same rows must take turns, not
    /// both write. With the path its errors name (the transaction borrows the
    /// connection, so `self.sql` cannot be used while it lives).
    fn immediate(&mut self) -> Result<(rusqlite::Transaction<'_>, PathBuf), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| StoreError::sqlite(&path, e))?;
        Ok((tx, path))
    }

    fn sql(&self, e: rusqlite::Error) -> StoreError {
        StoreError::sqlite(&self.path, e)
    }

    fn corrupt(&self, what: &'static str, detail: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what,
            detail: detail.to_string(),
        }
    }
}

/// Unix time in milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn to_json<T: serde::Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Json { what, source })
}

/// Runs `f` again while SQLite answers BUSY without waiting, up to
/// `BUSY_TIMEOUT`. Switching a new file to WAL needs the file to itself, and
/// SQLite refuses at once (its busy handler is not asked) when another
/// connection opening the same new file holds it: a batch's first workers,
/// a window and a CLI run starting together.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let start = std::time::Instant::now();
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && start.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}
