//! The records the store hands out; all serde-serialisable so the desktop UI can show them.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A job's id: the SQLite row id, shown to the user (`reportlens resume 12`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for JobId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .trim_start_matches('#')
            .parse::<i64>()
            .map(JobId)
            .map_err(|_| format!("`{s}` is not a job id; `reportlens jobs` lists them"))
    }
}

/// What a job produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Summarize,
    Translate,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Summarize => "summarize",
            TaskKind::Translate => "translate",
        }
    }
}

impl FromStr for TaskKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "summarize" => Ok(TaskKind::Summarize),
            "translate" => Ok(TaskKind::Translate),
            _ => Err(format!("unknown task `{s}` (summarize or translate)")),
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job stands. `Done` is final; the others can be resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Planned,
    Running,
    Cancelled,
    Failed,
    Done,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Planned => "planned",
            JobStatus::Running => "running",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Failed => "failed",
            JobStatus::Done => "done",
        }
    }

    /// A job that can still be continued (everything but `Done`).
    pub fn is_unfinished(self) -> bool {
        self != JobStatus::Done
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "planned" => Ok(JobStatus::Planned),
            "running" => Ok(JobStatus::Running),
            "cancelled" => Ok(JobStatus::Cancelled),
            "failed" => Ok(JobStatus::Failed),
            "done" => Ok(JobStatus::Done),
            _ => Err(format!("unknown job status `{s}`")),
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `Store::create_job` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// sha256 of the document file (`sha256_file`); the document must be stored first.
    pub document_sha256: String,
    pub task: TaskKind,
    /// The model file or folder as the user gave it.
    pub model_path: String,
    /// What identifies the weights (e.g. their sha256 or name+size); part of the reuse key.
    pub model_id: String,
    /// Task settings (language, mode, glossary, sampling...), any JSON; part of the reuse key.
    pub settings: serde_json::Value,
    /// Return an unfinished job with the same settings key instead of creating a new one.
    #[serde(default)]
    pub reuse: bool,
}

/// Measurements of one finished chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkStats {
    pub tokens_in: u32,
    pub tokens_out: u32,
    pub elapsed_ms: u64,
}

/// One chunk's stored output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub idx: u32,
    /// Hash of exactly what the model was given for this chunk (prompt + text + carried figures).
    pub input_hash: String,
    pub output: String,
    pub tokens_in: u32,
    pub tokens_out: u32,
    pub elapsed_ms: u64,
    /// Unix time in milliseconds.
    pub finished_at: i64,
}

/// A row of the job history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: JobId,
    pub document_sha256: String,
    pub document_name: String,
    pub task: TaskKind,
    pub model_id: String,
    pub status: JobStatus,
    /// Chunks finished so far.
    pub done_chunks: u32,
    /// Chunks in the plan, once a plan is saved.
    pub total_chunks: Option<u32>,
    /// Unix time in milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// The device it last ran on (`cpu`, `cuda`, `metal`); `None` before it ran.
    pub device: Option<String>,
    /// Why it failed, when it did.
    #[serde(default)]
    pub error: Option<String>,
}

/// Everything stored about one job, except the chunks (`finished_chunks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub document_sha256: String,
    pub document_name: String,
    pub task: TaskKind,
    pub model_path: String,
    pub model_id: String,
    pub settings: serde_json::Value,
    /// The reuse key: `settings_key(document, task, model, settings)`.
    pub settings_key: String,
    pub status: JobStatus,
    pub plan: Option<serde_json::Value>,
    pub total_chunks: Option<u32>,
    pub done_chunks: u32,
    /// The final output (text, or JSON for structured results), once done.
    pub output: Option<String>,
    pub findings: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The device it last ran on; `None` before it ran.
    #[serde(default)]
    pub device: Option<String>,
}

impl JobRecord {
    /// The job as the history and the queue list it.
    pub fn summary(&self) -> JobSummary {
        JobSummary {
            id: self.id,
            document_sha256: self.document_sha256.clone(),
            document_name: self.document_name.clone(),
            task: self.task,
            model_id: self.model_id.clone(),
            status: self.status,
            done_chunks: self.done_chunks,
            total_chunks: self.total_chunks,
            created_at: self.created_at,
            updated_at: self.updated_at,
            device: self.device.clone(),
            error: self.error.clone(),
        }
    }
}
