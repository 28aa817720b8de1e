//! A batch: every report under some files and folders, one job each, written
//! to an output folder that mirrors the input tree (one Markdown or DOCX per
//! input) with a CSV index of each file's status and figure counts. A second
//! run skips what is written already; a file that fails is listed with its
//! reason and never stops the others.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::export::ExportFormat;
use crate::store::JobId;
use crate::tasks::{self, JobEvent, JobOutcome, JobRequest, JobResult, MarkCounts};

use super::{AppError, Core, EngineSettings};

/// File name of the index written beside the results.
pub const INDEX_FILE: &str = "index.csv";

/// What a batch reads in folders (a file named on its own is always tried).
const DOCUMENT_EXTENSIONS: &[&str] = &["pdf", "docx", "txt", "md"];

/// How each result is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Markdown,
    Docx,
}

#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The job for every file (`file` is replaced).
    pub template: JobRequest,
    pub out: PathBuf,
    pub format: OutputFormat,
    /// Files in flight at once (a server batches them; the local engine runs one).
    pub parallel: usize,
}

/// One input and where its result goes.
#[derive(Debug, Clone, Serialize)]
pub struct BatchFile {
    pub source: PathBuf,
    /// The path under the output folder (the input's place in its tree).
    pub relative: PathBuf,
}

/// How one file ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FileStatus {
    Done {
        job: JobId,
        output: PathBuf,
        figures: MarkCounts,
    },
    /// Its result was written by an earlier run.
    Skipped {
        output: PathBuf,
    },
    Failed {
        reason: String,
    },
    Cancelled {
        job: Option<JobId>,
    },
}

/// What a batch reports as it goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "batch", rename_all = "snake_case")]
pub enum BatchEvent {
    /// The files found, in order.
    Found {
        files: Vec<BatchFile>,
    },
    /// File `index` has its job.
    Started {
        index: usize,
        job: JobId,
    },
    Job {
        index: usize,
        event: JobEvent,
    },
    Ended {
        index: usize,
        status: FileStatus,
    },
}

/// Every file and how it ended, in input order.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    pub files: Vec<(BatchFile, FileStatus)>,
    pub index: PathBuf,
}

impl BatchReport {
    pub fn failed(&self) -> impl Iterator<Item = (&BatchFile, &str)> {
        self.files.iter().filter_map(|(f, s)| match s {
            FileStatus::Failed { reason } => Some((f, reason.as_str())),
            _ => None,
        })
    }
}

impl Core {
    /// Runs a batch over `inputs` (files and folders). `cancel` stops the
    /// jobs in flight (their passes are kept) and starts no more.
    pub fn batch(
        &self,
        inputs: &[PathBuf],
        opts: &BatchOptions,
        engine: &EngineSettings,
        cancel: &Arc<AtomicBool>,
        on_event: &(dyn Fn(&BatchEvent) + Sync),
    ) -> Result<BatchReport, AppError> {
        let files = find_documents(inputs)?;
        on_event(&BatchEvent::Found {
            files: files.clone(),
        });
        std::fs::create_dir_all(&opts.out).map_err(|source| AppError::Write {
            path: opts.out.clone(),
            source,
        })?;
        let statuses: Vec<Mutex<Option<FileStatus>>> =
            files.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let workers = engine.jobs_at_once(opts.parallel);
        std::thread::scope(|s| {
            for _ in 0..workers.min(files.len().max(1)) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(file) = files.get(i) else { return };
                    let status = if cancel.load(Ordering::SeqCst) {
                        FileStatus::Cancelled { job: None }
                    } else {
                        self.batch_file(i, file, opts, engine, cancel, on_event)
                    };
                    on_event(&BatchEvent::Ended {
                        index: i,
                        status: status.clone(),
                    });
                    *statuses[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
                });
            }
        });
        let files: Vec<(BatchFile, FileStatus)> = files
            .into_iter()
            .zip(statuses)
            .map(|(f, s)| {
                let s = s.into_inner().unwrap_or_else(|e| e.into_inner());
                (f, s.unwrap_or(FileStatus::Cancelled { job: None }))
            })
            .collect();
        let index = opts.out.join(INDEX_FILE);
        write_index(&index, &opts.out, &files)?;
        Ok(BatchReport { files, index })
    }

    fn batch_file(
        &self,
        index: usize,
        file: &BatchFile,
        opts: &BatchOptions,
        engine: &EngineSettings,
        cancel: &Arc<AtomicBool>,
        on_event: &(dyn Fn(&BatchEvent) + Sync),
    ) -> FileStatus {
        let output = output_path(&opts.out, &file.relative, opts.format);
        if output.is_file() {
            return FileStatus::Skipped { output };
        }
        let req = JobRequest {
            file: file.source.clone(),
            ..opts.template.clone()
        };
        let failed = |e: &dyn std::fmt::Display| FileStatus::Failed {
            reason: e.to_string(),
        };
        let id = match self
            .store()
            .and_then(|mut s| Ok(tasks::submit(&mut s, &req)?))
        {
            Ok(id) => id,
            Err(e) => return failed(&e),
        };
        on_event(&BatchEvent::Started { index, job: id });
        // The batch's flag is every job's: Ctrl-C stops them all, and a job
        // ending never sets it.
        let outcome = self.run_job(id, engine, cancel.clone(), &mut |e| {
            on_event(&BatchEvent::Job {
                index,
                event: e.clone(),
            })
        });
        match outcome {
            Ok(JobOutcome::Done(result)) => match write_result(&result, &output) {
                Ok(()) => FileStatus::Done {
                    job: id,
                    output,
                    figures: result.findings().counts,
                },
                Err(e) => failed(&e),
            },
            Ok(JobOutcome::Cancelled { .. }) => FileStatus::Cancelled { job: Some(id) },
            Err(e) => failed(&format!(
                "{e} (job {id}: `reportlens resume {id}` continues it)"
            )),
        }
    }
}

/// Where the result of `relative` goes: the same place under `out`, with the
/// format's extension added (`q3.pdf` -> `q3.pdf.md`, so `q3.pdf` and
/// `q3.docx` never write the same file).
fn output_path(out: &Path, relative: &Path, format: OutputFormat) -> PathBuf {
    let ext = match format {
        OutputFormat::Markdown => "md",
        OutputFormat::Docx => "docx",
    };
    let mut name = relative.as_os_str().to_os_string();
    name.push(".");
    name.push(ext);
    out.join(name)
}

/// Writes a result (its format from the file name `output_path` gave it); a
/// translation is written side by side with its source.
fn write_result(result: &JobResult, output: &Path) -> Result<(), AppError> {
    let bilingual = matches!(result, JobResult::Translation { .. });
    let format =
        ExportFormat::from_path(output, bilingual).expect("output_path names .md or .docx files");
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).map_err(|source| AppError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    tasks::export_result(result, format, output)?;
    Ok(())
}

/// The documents under `inputs`, in a stable order: a file as given, a
/// folder walked (sorted, hidden entries skipped) for document extensions.
pub fn find_documents(inputs: &[PathBuf]) -> Result<Vec<BatchFile>, AppError> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| AppError::Files {
            path: input.clone(),
            detail: e.to_string(),
        })?;
        if meta.is_dir() {
            walk(input, Path::new(""), &mut out)?;
        } else {
            let name = input.file_name().map(PathBuf::from).unwrap_or_default();
            out.push(BatchFile {
                source: input.clone(),
                relative: name,
            });
        }
    }
    Ok(out)
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<BatchFile>) -> Result<(), AppError> {
    let dir = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| AppError::Files {
            path: dir.clone(),
            detail: e.to_string(),
        })?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let rel = rel.join(&name);
        let path = e.path();
        if path.is_dir() {
            walk(root, &rel, out)?;
        } else if is_document(&path) {
            out.push(BatchFile {
                source: path,
                relative: rel,
            });
        }
    }
    Ok(())
}

fn is_document(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        DOCUMENT_EXTENSIONS
            .iter()
            .any(|d| e.eq_ignore_ascii_case(d))
    })
}

/// The CSV index: one row per input. A file skipped now keeps the row an
/// earlier run wrote for it (its job and figure counts).
fn write_index(path: &Path, out: &Path, files: &[(BatchFile, FileStatus)]) -> Result<(), AppError> {
    let earlier: std::collections::HashMap<String, String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| Some((first_field(l)?, l.to_string())))
        .collect();
    let mut csv = String::from(
        "input,status,output,job,figures,verified,derived,approximate,mismatch,unsupported,reason\n",
    );
    for (f, status) in files {
        let input = f.relative.display().to_string();
        let rel_out = |p: &Path| p.strip_prefix(out).unwrap_or(p).display().to_string();
        let row = match status {
            FileStatus::Done {
                job,
                output,
                figures: c,
            } => vec![
                input.clone(),
                "done".into(),
                rel_out(output),
                job.to_string(),
                c.total.to_string(),
                c.verified.to_string(),
                c.derived.to_string(),
                c.approximate.to_string(),
                c.mismatch.to_string(),
                c.unsupported.to_string(),
                String::new(),
            ],
            FileStatus::Skipped { output } => {
                if let Some(line) = earlier.get(&input) {
                    csv.push_str(line);
                    csv.push('\n');
                    continue;
                }
                let mut r = vec![input.clone(), "done".into(), rel_out(output)];
                r.extend(std::iter::repeat_n(String::new(), 8));
                r
            }
            FileStatus::Failed { reason } => {
                let mut r = vec![input.clone(), "failed".into()];
                r.extend(std::iter::repeat_n(String::new(), 8));
                r.push(reason.clone());
                r
            }
            FileStatus::Cancelled { job } => {
                let mut r = vec![
                    input.clone(),
                    "cancelled".into(),
                    String::new(),
                    job.map(|j| j.to_string()).unwrap_or_default(),
                ];
                r.extend(std::iter::repeat_n(String::new(), 7));
                r
            }
        };
        let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    crate::export::write_atomic(path, csv.as_bytes()).map_err(|e| AppError::Files {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// RFC 4180 quoting where a cell needs it.
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The first cell of a CSV row (the input path), unquoted.
fn first_field(line: &str) -> Option<String> {
    if let Some(rest) = line.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    out.push('"');
                    chars.next();
                }
                '"' => return Some(out),
                c => out.push(c),
            }
        }
        None
    } else {
        line.split(',').next().map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_walked_in_order_and_mirrored() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("in");
        std::fs::create_dir_all(root.join("q3/sub")).unwrap();
        for f in [
            "b.pdf",
            "a.txt",
            "q3/sub/c.docx",
            "q3/notes.xlsx",
            ".hidden.pdf",
        ] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let lone = d.path().join("lone.md");
        std::fs::write(&lone, "x").unwrap();
        let found = find_documents(&[root.clone(), lone.clone()]).unwrap();
        let rel: Vec<String> = found
            .iter()
            .map(|f| f.relative.display().to_string())
            .collect();
        assert_eq!(rel, ["a.txt", "b.pdf", "q3/sub/c.docx", "lone.md"]);
        assert_eq!(
            output_path(Path::new("/o"), &found[2].relative, OutputFormat::Docx),
            Path::new("/o/q3/sub/c.docx.docx")
        );
        let e = find_documents(&[d.path().join("missing")]).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn the_index_quotes_cells_and_keeps_earlier_rows_of_skipped_files() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path();
        let file = |r: &str| BatchFile {
            source: out.join(r),
            relative: r.into(),
        };
        let counts = MarkCounts {
            total: 3,
            verified: 2,
            ..Default::default()
        };
        let first = vec![
            (
                file("a, b.pdf"),
                FileStatus::Done {
                    job: JobId(7),
                    output: out.join("a, b.pdf.md"),
                    figures: counts,
                },
            ),
            (
                file("bad.pdf"),
                FileStatus::Failed {
                    reason: "bad.pdf: \"encrypted\"".into(),
                },
            ),
        ];
        let index = out.join(INDEX_FILE);
        write_index(&index, out, &first).unwrap();
        let text = std::fs::read_to_string(&index).unwrap();
        assert!(
            text.contains("\"a, b.pdf\",done,\"a, b.pdf.md\",7,3,2,"),
            "{text}"
        );
        assert!(
            text.contains("bad.pdf,failed,,,,,,,,,\"bad.pdf: \"\"encrypted\"\"\""),
            "{text}"
        );
        let second = vec![(
            file("a, b.pdf"),
            FileStatus::Skipped {
                output: out.join("a, b.pdf.md"),
            },
        )];
        write_index(&index, out, &second).unwrap();
        let again = std::fs::read_to_string(&index).unwrap();
        assert!(
            again.contains("\"a, b.pdf\",done,\"a, b.pdf.md\",7,3,2,"),
            "{again}"
        );
    }
}
