use std::path::PathBuf;

use super::types::JobId;

/// Everything that can go wrong with the job database, phrased for the user.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "no data directory for the job database on this machine; set REPORTLENS_DATA to a folder"
    )]
    NoDataDir,

    #[error("cannot create the data folder {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is not a ReportLens job database (not an SQLite file, or it is corrupt); move it away or set REPORTLENS_DATA to another folder", path.display())]
    NotADatabase { path: PathBuf },

    #[error("the job database {} is locked by another ReportLens process; close the other window or CLI run and retry", path.display())]
    Locked { path: PathBuf },

    #[error("the job database {} was written by a newer ReportLens (schema {found}, this build knows up to {supported}); update ReportLens or set REPORTLENS_DATA to another folder", path.display())]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("no job {0} in the database; `reportlens jobs` lists the jobs there are")]
    NoSuchJob(JobId),

    #[error("job {0} is not in the queue")]
    NotQueued(JobId),

    #[error("no document with hash {0} in the database; extract the file again")]
    NoSuchDocument(String),

    #[error("job database {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("job database {}: stored {what} is unreadable ({detail}); delete the job and run it again", path.display())]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },

    #[error("cannot serialise {what} for the job database: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Sorts an SQLite error into the case the user can act on.
    pub(crate) fn sqlite(path: &std::path::Path, e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(C::NotADatabase) | Some(C::DatabaseCorrupt) => StoreError::NotADatabase { path },
            Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => StoreError::Locked { path },
            _ => StoreError::Sqlite { path, source: e },
        }
    }
}
