//! The `queue` table: jobs waiting to run, in the user's order. It lives in the
//! database so a restart or a crash loses none of it; a job leaves the queue
//! when it finishes, fails, is cancelled or is removed (it stays in the history).
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::jobs::{raw_job, JOB_COLUMNS, JOB_COLUMN_COUNT};
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
    /// its place (a paused one is resumed). Returns its place (0-based).
    pub fn enqueue(&self, job: JobId) -> Result<usize, StoreError> {
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
        let ahead: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM queue o, queue q WHERE q.job_id = ?1
                 AND (o.position < q.position OR (o.position = q.position AND o.job_id < q.job_id))",
                [job.0],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        Ok(ahead as usize)
    }

    /// The queue in order, with each job's progress (one query).
    pub fn queue(&self) -> Result<Vec<QueueEntry>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS}, q.state, q.added_at FROM queue q
             JOIN jobs j ON j.id = q.job_id
             LEFT JOIN documents d ON d.sha256 = j.document_sha256
             ORDER BY q.position, q.job_id"
        );
        // The queue's own columns follow the job's.
        let own = JOB_COLUMN_COUNT;
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    raw_job(r)?,
                    r.get::<_, String>(own)?,
                    r.get::<_, i64>(own + 1)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (raw, state, added_at) = row.map_err(|e| self.sql(e))?;
            out.push(QueueEntry {
                job: self.job_record(raw)?.summary(),
                state: state
                    .parse()
                    .map_err(|e: String| self.corrupt("queue state", e))?,
                added_at,
            });
        }
        Ok(out)
    }

    /// Takes the first waiting job for a worker (it becomes `running`), or
    /// `None` when nothing waits. Atomic: two workers never take the same job.
    pub fn claim_next(&mut self) -> Result<Option<JobId>, StoreError> {
        let (tx, path) = self.immediate()?;
        let sql = |e| StoreError::sqlite(&path, e);
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
            tx.execute(
                "UPDATE queue SET state = 'running', worker = ?2 WHERE job_id = ?1",
                params![id, this_worker()],
            )
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

    /// Pauses or resumes a job that no worker holds: `Ok(false)` (nothing
    /// changed) when a worker is running it, `NotQueued` when it is not queued.
    pub fn set_idle_queue_state(&self, job: JobId, state: QueueState) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE queue SET state = ?2 WHERE job_id = ?1 AND state <> 'running'",
                params![job.0, state.as_str()],
            )
            .map_err(|e| self.sql(e))?;
        if n == 0 && self.queue_state(job)?.is_none() {
            return Err(StoreError::NotQueued(job));
        }
        Ok(n > 0)
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
        let (tx, path) = self.immediate()?;
        let sql = |e| StoreError::sqlite(&path, e);
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

    /// At start-up: jobs a crashed process had taken wait again in their
    /// places (a job another running process holds is left to it). Returns
    /// how many.
    pub fn recover_queue(&self) -> Result<usize, StoreError> {
        self.recover_queue_where(&process_alive)
    }

    /// `recover_queue` with the rule that says which workers (`"pid:start"`)
    /// still run.
    pub fn recover_queue_where(&self, alive: &dyn Fn(&str) -> bool) -> Result<usize, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT job_id, worker FROM queue WHERE state = 'running'")
            .map_err(|e| self.sql(e))?;
        let claimed: Vec<(i64, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))?;
        let mut recovered = 0;
        for (job, worker) in claimed {
            if worker.as_deref().is_some_and(alive) {
                continue;
            }
            recovered += self
                .conn
                .execute(
                    "UPDATE queue SET state = 'waiting', worker = NULL WHERE job_id = ?1",
                    [job],
                )
                .map_err(|e| self.sql(e))?;
        }
        Ok(recovered)
    }
}

/// This process as a queue worker: its pid and, where Linux says, its start
/// time (a pid is reused; a pid and its start time are not).
fn this_worker() -> String {
    worker_id(std::process::id())
}

fn worker_id(pid: u32) -> String {
    match start_time(pid) {
        Some(start) => format!("{pid}:{start}"),
        None => pid.to_string(),
    }
}

/// A process's start time (clock ticks since boot) from /proc, unless it has
/// ended (a zombie, killed but not yet reaped, runs nothing).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(Path::new(&format!("/proc/{pid}/stat"))).ok()?;
    // "pid (name) S ... starttime ...": fields after the last ')' (a name may
    // hold one); the state is the first, the start time the 20th.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if matches!(rest.first(), None | Some(&"Z") | Some(&"X")) {
        return None;
    }
    rest.get(19)?.parse().ok()
}

/// Whether the worker that claimed a job still runs: this process does;
/// another one where /proc shows the same pid started at the same time.
/// Where there is no /proc, another process's job counts as abandoned.
fn process_alive(worker: &str) -> bool {
    if worker == this_worker() {
        return true;
    }
    let Some((pid, start)) = worker.split_once(':') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    start_time(pid) == Some(start)
}

#[cfg(test)]
mod tests {
    use super::{process_alive, this_worker, worker_id};

    #[test]
    fn a_reaped_zombie_or_reused_pid_is_not_alive() {
        assert!(process_alive(&this_worker()));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let worker = worker_id(child.id());
        if std::path::Path::new("/proc").is_dir() {
            assert!(process_alive(&worker), "{worker} runs");
            // The same pid started at another time is another process.
            let pid = child.id();
            assert!(!process_alive(&format!("{pid}:1")));
        }
        child.kill().unwrap();
        // Killed but not yet waited for: a zombie.
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!process_alive(&worker), "a zombie runs no job");
        child.wait().unwrap();
        assert!(!process_alive(&worker));
        assert!(!process_alive("not a worker"));
    }
}
