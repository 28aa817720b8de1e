//! The `queue` table: jobs waiting to run, in the user's order. It lives in the
//! database so a restart or a crash loses none of it; a job leaves the queue
//! when it finishes, fails, is cancelled or is removed (it stays in the history).
use std::fmt;
use std::str::FromStr;

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use super::types::{JobId, JobSummary};
use super::{now_ms, Store, StoreError};

/// Where a queued job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueState {
    /// Runs when its turn comes.
    Waiting,
    /// Skipped until resumed; it keeps its place.
    Paused,
    /// Taken by a worker.
    Running,
}

impl QueueState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::Waiting => "waiting",
            QueueState::Paused => "paused",
            QueueState::Running => "running",
        }
    }
}

impl FromStr for QueueState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "waiting" => Ok(QueueState::Waiting),
            "paused" => Ok(QueueState::Paused),
            "running" => Ok(QueueState::Running),
            _ => Err(format!("unknown queue state `{s}`")),
        }
    }
}

impl fmt::Display for QueueState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One job in the queue, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub job: JobSummary,
    pub state: QueueState,
    /// Unix time in milliseconds.
    pub added_at: i64,
}

impl Store {
    /// Puts `job` at the end of the queue, waiting. A job already queued keeps
    /// its place (a paused one is resumed).
    pub fn enqueue(&self, job: JobId) -> Result<(), StoreError> {
        self.require_job(job)?;
        self.conn
            .execute(
                "INSERT INTO queue (job_id, position, state, added_at)
                 VALUES (?1, (SELECT COALESCE(MAX(position), -1) + 1 FROM queue), 'waiting', ?2)
                 ON CONFLICT(job_id) DO UPDATE SET
                    state = CASE state WHEN 'paused' THEN 'waiting' ELSE state END",
                params![job.0, now_ms()],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// The queue in order, with each job's progress.
    pub fn queue(&self) -> Result<Vec<QueueEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT job_id, state, added_at FROM queue ORDER BY position, job_id")
            .map_err(|e| self.sql(e))?;
        let rows: Vec<(i64, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, state, added_at) in rows {
            let state = state
                .parse()
                .map_err(|e: String| self.corrupt("queue state", e))?;
            out.push(QueueEntry {
                job: self.get_job(JobId(id))?.summary(),
                state,
                added_at,
            });
        }
        Ok(out)
    }

    /// Takes the first waiting job for a worker (it becomes `running`), or
    /// `None` when nothing waits. Atomic: two workers never take the same job.
    pub fn claim_next(&mut self) -> Result<Option<JobId>, StoreError> {
        let path = self.path.clone();
        let sql = |e| StoreError::sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let next: Option<i64> = tx
            .query_row(
                "SELECT job_id FROM queue WHERE state = 'waiting'
                 ORDER BY position, job_id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        if let Some(id) = next {
            tx.execute("UPDATE queue SET state = 'running' WHERE job_id = ?1", [id])
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(next.map(JobId))
    }

    /// Sets a queued job's state (pause, resume, or back to waiting after a
    /// worker let it go). `NoSuchJob` when it is not queued.
    pub fn set_queue_state(&self, job: JobId, state: QueueState) -> Result<(), StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE queue SET state = ?2 WHERE job_id = ?1",
                params![job.0, state.as_str()],
            )
            .map_err(|e| self.sql(e))?;
        if n == 0 {
            return Err(StoreError::NotQueued(job));
        }
        Ok(())
    }

    /// The state of `job` in the queue; `None` when it is not queued.
    pub fn queue_state(&self, job: JobId) -> Result<Option<QueueState>, StoreError> {
        let state: Option<String> = self
            .conn
            .query_row("SELECT state FROM queue WHERE job_id = ?1", [job.0], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sql(e))?;
        state
            .map(|s| {
                s.parse()
                    .map_err(|e: String| self.corrupt("queue state", e))
            })
            .transpose()
    }

    /// Takes `job` out of the queue (finished, failed, cancelled or removed);
    /// nothing happens when it is not queued.
    pub fn dequeue(&self, job: JobId) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM queue WHERE job_id = ?1", [job.0])
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Moves `job` to place `to` (0-based; past the end means last).
    pub fn move_in_queue(&mut self, job: JobId, to: usize) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |e| StoreError::sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let mut order: Vec<i64> = {
            let mut stmt = tx
                .prepare("SELECT job_id FROM queue ORDER BY position, job_id")
                .map_err(sql)?;
            let ids = stmt
                .query_map([], |r| r.get(0))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?;
            ids
        };
        let from = order
            .iter()
            .position(|&id| id == job.0)
            .ok_or(StoreError::NotQueued(job))?;
        let id = order.remove(from);
        order.insert(to.min(order.len()), id);
        for (position, id) in order.iter().enumerate() {
            tx.execute(
                "UPDATE queue SET position = ?2 WHERE job_id = ?1",
                params![id, position as i64],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    /// After a crash or a kill, jobs a worker had taken are waiting again, in
    /// their places. Returns how many there were.
    pub fn recover_queue(&self) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE queue SET state = 'waiting' WHERE state = 'running'",
                [],
            )
            .map_err(|e| self.sql(e))
    }
}
