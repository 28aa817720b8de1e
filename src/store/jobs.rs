//! The `jobs` and `chunks` tables: job lifecycle, per-chunk checkpoints, reuse, history.
use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::hash::settings_key;
use super::types::{
    ChunkRecord, ChunkStats, JobId, JobRecord, JobStatus, JobSummary, NewJob, TaskKind,
};
use super::{now_ms, to_json, Store, StoreError};

/// Columns of `JobRecord`, in the order `job_record` reads them.
pub(super) const JOB_COLUMNS: &str =
    "j.id, j.document_sha256, COALESCE(d.name, ''), j.task, j.model_path,
    j.model_id, j.settings_json, j.settings_key, j.status, j.plan_json, j.total_chunks,
    (SELECT COUNT(*) FROM chunks c WHERE c.job_id = j.id), j.output, j.findings_json, j.error,
    j.created_at, j.updated_at, j.device";
/// How many columns `JOB_COLUMNS` names (`raw_job` reads `0..JOB_COLUMN_COUNT`).
pub(super) const JOB_COLUMN_COUNT: usize = 18;

impl Store {
    /// Creates a job in state `planned`. With `new.reuse`, returns instead the newest
    /// unfinished job (planned, running, cancelled or failed) with the same settings key,
    /// so its finished chunks are not computed again.
    pub fn create_job(&mut self, new: NewJob) -> Result<JobId, StoreError> {
        let key = settings_key(&new.document_sha256, new.task, &new.model_id, &new.settings);
        let settings = to_json("job settings", &new.settings)?;
        // IMMEDIATE: two processes asking for the same reusable job must not both insert.
        let (tx, path) = self.immediate()?;
        let sql = |e| StoreError::sqlite(&path, e);
        let doc_known: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM documents WHERE sha256 = ?1)",
                [&new.document_sha256],
                |r| r.get(0),
            )
            .map_err(sql)?;
        if !doc_known {
            return Err(StoreError::NoSuchDocument(new.document_sha256));
        }
        if new.reuse {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM jobs WHERE settings_key = ?1 AND status != 'done'
                     ORDER BY updated_at DESC, id DESC LIMIT 1",
                    [&key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            if let Some(id) = existing {
                return Ok(JobId(id));
            }
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO jobs (document_sha256, task, model_path, model_id, settings_json,
                               settings_key, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'planned', ?7, ?7)",
            params![
                new.document_sha256,
                new.task.as_str(),
                new.model_path,
                new.model_id,
                settings,
                key,
                now
            ],
        )
        .map_err(sql)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(sql)?;
        Ok(JobId(id))
    }

    /// Records the device a job runs on (each run: a resumed job may move).
    pub fn set_device(&self, job: JobId, device: &str) -> Result<(), StoreError> {
        self.update_job(
            job,
            "UPDATE jobs SET device = ?2, updated_at = ?3 WHERE id = ?1",
            params![job.0, device, now_ms()],
        )
    }

    /// Sets a job's status (`running` when work starts, `cancelled` on cancel...).
    pub fn set_status(&self, job: JobId, status: JobStatus) -> Result<(), StoreError> {
        self.update_job(
            job,
            "UPDATE jobs SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![job.0, status.as_str(), now_ms()],
        )
    }

    /// Saves the plan (any serialisable value) and how many chunks it has, for progress.
    pub fn save_plan<P: Serialize + ?Sized>(
        &self,
        job: JobId,
        plan: &P,
        total_chunks: u32,
    ) -> Result<(), StoreError> {
        let plan = to_json("plan", plan)?;
        self.update_job(
            job,
            "UPDATE jobs SET plan_json = ?2, total_chunks = ?3, updated_at = ?4 WHERE id = ?1",
            params![job.0, plan, total_chunks, now_ms()],
        )
    }

    /// Checkpoints one finished chunk, in one transaction. Saving the same index again
    /// replaces it (a retried chunk).
    pub fn save_chunk(
        &mut self,
        job: JobId,
        idx: u32,
        input_hash: &str,
        output: &str,
        stats: ChunkStats,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let (tx, path) = self.immediate()?;
        let sql = |e| StoreError::sqlite(&path, e);
        let touched = tx
            .execute(
                "UPDATE jobs SET updated_at = ?2 WHERE id = ?1",
                params![job.0, now],
            )
            .map_err(sql)?;
        if touched == 0 {
            return Err(StoreError::NoSuchJob(job));
        }
        tx.execute(
            "INSERT OR REPLACE INTO chunks
                (job_id, idx, input_hash, output, tokens_in, tokens_out, elapsed_ms, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                job.0,
                idx,
                input_hash,
                output,
                stats.tokens_in,
                stats.tokens_out,
                i64::try_from(stats.elapsed_ms).unwrap_or(i64::MAX),
                now
            ],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// The chunks a job has finished, by index.
    pub fn finished_chunks(&self, job: JobId) -> Result<BTreeMap<u32, ChunkRecord>, StoreError> {
        self.require_job(job)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT idx, input_hash, output, tokens_in, tokens_out, elapsed_ms, finished_at
                 FROM chunks WHERE job_id = ?1 ORDER BY idx",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([job.0], chunk_record)
            .map_err(|e| self.sql(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let rec = row.map_err(|e| self.sql(e))?;
            out.insert(rec.idx, rec);
        }
        Ok(out)
    }

    /// An output computed before for the same settings key, chunk index and input,
    /// by any job (newest first), to reuse instead of generating again.
    pub fn find_chunk_output(
        &self,
        settings_key: &str,
        idx: u32,
        input_hash: &str,
    ) -> Result<Option<ChunkRecord>, StoreError> {
        self.conn
            .query_row(
                "SELECT c.idx, c.input_hash, c.output, c.tokens_in, c.tokens_out, c.elapsed_ms,
                        c.finished_at
                 FROM chunks c JOIN jobs j ON j.id = c.job_id
                 WHERE j.settings_key = ?1 AND c.idx = ?2 AND c.input_hash = ?3
                 ORDER BY c.finished_at DESC LIMIT 1",
                params![settings_key, idx, input_hash],
                chunk_record,
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Marks a job done with its final output and the figure checker's findings.
    pub fn finish_job<F: Serialize + ?Sized>(
        &self,
        job: JobId,
        output: &str,
        findings: &F,
    ) -> Result<(), StoreError> {
        let findings = to_json("findings", findings)?;
        self.update_job(
            job,
            "UPDATE jobs SET status = 'done', output = ?2, findings_json = ?3, error = NULL,
                             updated_at = ?4 WHERE id = ?1",
            params![job.0, output, findings, now_ms()],
        )
    }

    /// Marks a job failed with the message shown to the user. Its chunks stay for a resume.
    pub fn fail_job(&self, job: JobId, error: &str) -> Result<(), StoreError> {
        self.update_job(
            job,
            "UPDATE jobs SET status = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1",
            params![job.0, error, now_ms()],
        )
    }

    /// Replaces a job's final output (the user edited a translated block).
    pub fn update_output(&self, job: JobId, new_output: &str) -> Result<(), StoreError> {
        self.update_job(
            job,
            "UPDATE jobs SET output = ?2, updated_at = ?3 WHERE id = ?1",
            params![job.0, new_output, now_ms()],
        )
    }

    /// Replaces a job's findings (after re-checking an edited output).
    pub fn update_findings<F: Serialize + ?Sized>(
        &self,
        job: JobId,
        findings: &F,
    ) -> Result<(), StoreError> {
        let findings = to_json("findings", findings)?;
        self.update_job(
            job,
            "UPDATE jobs SET findings_json = ?2, updated_at = ?3 WHERE id = ?1",
            params![job.0, findings, now_ms()],
        )
    }

    /// The job history, newest first, with progress.
    pub fn list_jobs(&self) -> Result<Vec<JobSummary>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN documents d ON d.sha256 = j.document_sha256
             ORDER BY j.created_at DESC, j.id DESC"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.sql(e))?;
        let rows = stmt.query_map([], raw_job).map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let rec = self.job_record(row.map_err(|e| self.sql(e))?)?;
            out.push(rec.summary());
        }
        Ok(out)
    }

    /// Everything stored about one job.
    pub fn get_job(&self, job: JobId) -> Result<JobRecord, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN documents d ON d.sha256 = j.document_sha256
             WHERE j.id = ?1"
        );
        let raw = self
            .conn
            .query_row(&sql, [job.0], raw_job)
            .optional()
            .map_err(|e| self.sql(e))?
            .ok_or(StoreError::NoSuchJob(job))?;
        self.job_record(raw)
    }

    /// Deletes a job and its chunks; its document goes too when no other job uses it.
    pub fn delete_job(&mut self, job: JobId) -> Result<(), StoreError> {
        let (tx, path) = self.immediate()?;
        let sql = |e| StoreError::sqlite(&path, e);
        let doc: Option<String> = tx
            .query_row(
                "SELECT document_sha256 FROM jobs WHERE id = ?1",
                [job.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        let doc = doc.ok_or(StoreError::NoSuchJob(job))?;
        // Chunks go by ON DELETE CASCADE (foreign_keys is on for every connection).
        tx.execute("DELETE FROM jobs WHERE id = ?1", [job.0])
            .map_err(sql)?;
        tx.execute(
            "DELETE FROM documents WHERE sha256 = ?1
               AND NOT EXISTS (SELECT 1 FROM jobs WHERE document_sha256 = ?1)",
            [&doc],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Runs an UPDATE on one job, turning "no row changed" into `NoSuchJob`.
    fn update_job(
        &self,
        job: JobId,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<(), StoreError> {
        let n = self.conn.execute(sql, params).map_err(|e| self.sql(e))?;
        if n == 0 {
            return Err(StoreError::NoSuchJob(job));
        }
        Ok(())
    }

    pub(super) fn require_job(&self, job: JobId) -> Result<(), StoreError> {
        let exists: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ?1)",
                [job.0],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        if exists {
            Ok(())
        } else {
            Err(StoreError::NoSuchJob(job))
        }
    }

    pub(super) fn job_record(&self, raw: RawJob) -> Result<JobRecord, StoreError> {
        let json = |what: &'static str, s: &str| -> Result<serde_json::Value, StoreError> {
            serde_json::from_str(s).map_err(|e| self.corrupt(what, e))
        };
        Ok(JobRecord {
            id: JobId(raw.id),
            document_sha256: raw.document_sha256,
            document_name: raw.document_name,
            task: raw
                .task
                .parse::<TaskKind>()
                .map_err(|e| self.corrupt("task", e))?,
            model_path: raw.model_path,
            model_id: raw.model_id,
            settings: json("settings", &raw.settings_json)?,
            settings_key: raw.settings_key,
            status: raw
                .status
                .parse::<JobStatus>()
                .map_err(|e| self.corrupt("status", e))?,
            plan: raw
                .plan_json
                .as_deref()
                .map(|s| json("plan", s))
                .transpose()?,
            total_chunks: raw.total_chunks,
            done_chunks: raw.done_chunks,
            output: raw.output,
            findings: raw
                .findings_json
                .as_deref()
                .map(|s| json("findings", s))
                .transpose()?,
            error: raw.error,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
            device: raw.device,
        })
    }
}

/// A `jobs` row as SQLite holds it, before parsing enums and JSON.
pub(super) struct RawJob {
    id: i64,
    document_sha256: String,
    document_name: String,
    task: String,
    model_path: String,
    model_id: String,
    settings_json: String,
    settings_key: String,
    status: String,
    plan_json: Option<String>,
    total_chunks: Option<u32>,
    done_chunks: u32,
    output: Option<String>,
    findings_json: Option<String>,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
    device: Option<String>,
}

pub(super) fn raw_job(r: &Row<'_>) -> rusqlite::Result<RawJob> {
    Ok(RawJob {
        id: r.get(0)?,
        document_sha256: r.get(1)?,
        document_name: r.get(2)?,
        task: r.get(3)?,
        model_path: r.get(4)?,
        model_id: r.get(5)?,
        settings_json: r.get(6)?,
        settings_key: r.get(7)?,
        status: r.get(8)?,
        plan_json: r.get(9)?,
        total_chunks: r.get(10)?,
        done_chunks: r.get(11)?,
        output: r.get(12)?,
        findings_json: r.get(13)?,
        error: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
        device: r.get(17)?,
    })
}

fn chunk_record(r: &Row<'_>) -> rusqlite::Result<ChunkRecord> {
    let elapsed: i64 = r.get(5)?;
    Ok(ChunkRecord {
        idx: r.get(0)?,
        input_hash: r.get(1)?,
        output: r.get(2)?,
        tokens_in: r.get(3)?,
        tokens_out: r.get(4)?,
        elapsed_ms: u64::try_from(elapsed).unwrap_or(0),
        finished_at: r.get(6)?,
    })
}
