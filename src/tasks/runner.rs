//! Runs a job pass by pass against the store: every finished pass is
//! checkpointed before the next starts, so a crash, a kill or a cancel loses at
//! most the pass in flight, and a resumed (or repeated) job reuses what is done.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::ingest::{self, Document};
use crate::model::StopReason;
use crate::plan::{self, PassKind, Plan, PlanOptions, Speed, Strategy};
use crate::prompt::{Lang, PromptFamily, SummaryMode, TaskSpec};
use crate::store::{
    self, ChunkStats, JobId, JobRecord, JobStatus, NewJob, SpeedRecord, Store, TaskKind,
};

use super::engine::{ChatTurn, JobEngine, Written};
use super::events::JobEvent;
use super::glossary::Glossary;
use super::result::{check_against, FigureMark, Findings, JobResult};
use super::summarize::{self, PassInput};
use super::translate;
use super::TaskError;

/// Repetition penalty for every pass: the Index demo's greedy setting.
pub const REPETITION_PENALTY: f32 = 1.1;

/// What the user asked to run.
#[derive(Debug, Clone)]
pub struct JobRequest {
    pub file: PathBuf,
    /// A GGUF file or a model directory.
    pub model: PathBuf,
    pub task: TaskSpec,
    /// `None`: whole when it fits, else map-reduce.
    pub strategy: Option<Strategy>,
    /// Plan for a smaller context than the model's (saves memory and time).
    pub context: Option<usize>,
    /// A user glossary (TSV/CSV, English and Chinese) on top of the shipped one.
    pub glossary: Option<PathBuf>,
    /// Run on this OpenAI-compatible server instead of in this process
    /// (`model` is then the same model here, for its prompts, or empty).
    pub server: Option<ServerRef>,
}

/// Which server and model a job runs on (no key: keys are not stored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerRef {
    pub url: String,
    pub model: String,
}

impl ServerRef {
    /// The job's reference to `server`: its root URL and model, never its key.
    pub fn of(server: &crate::remote::ServerConfig) -> ServerRef {
        ServerRef {
            url: server.root(),
            model: server.model.clone(),
        }
    }
}

/// The settings stored with a job; they make its reuse key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobSettings {
    #[serde(flatten)]
    pub task: TaskSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glossary: Option<PathBuf>,
    /// sha256 of the user glossary when the job was made: editing it makes a new job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glossary_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerRef>,
    pub repetition_penalty: f32,
}

/// How a run ended (errors are `Err`).
#[derive(Debug, Clone)]
pub enum JobOutcome {
    Done(Box<JobResult>),
    Cancelled { passes_done: usize },
}

/// What identifies a model for reuse: its file name and size (hashing a
/// multi-gigabyte file on every run would cost more than it saves).
pub fn model_id(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let size = if path.is_dir() {
        std::fs::read_dir(path)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    } else {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    };
    format!("{name}:{size}")
}

/// Extracts and stores the document and creates the job, or finds the
/// unfinished job with the same document, model and settings.
pub fn submit(store: &mut Store, req: &JobRequest) -> Result<JobId, TaskError> {
    let doc = ingest::extract(&req.file)?;
    submit_document(store, req, &doc)
}

/// `submit`, and for a job on the model here, its plan made now (with the
/// model's own tokenizer and context, as its run would make it) and stored:
/// a queue shows each job's passes and time before it starts, and the run
/// follows exactly that plan. A server job is planned when it starts (its
/// token counts are the server's).
pub fn submit_planned(store: &mut Store, req: &JobRequest) -> Result<JobId, TaskError> {
    let doc = ingest::extract(&req.file)?;
    let id = submit_document(store, req, &doc)?;
    let job = store.get_job(id)?;
    if req.server.is_some() || job.plan.is_some() {
        return Ok(id);
    }
    let model_path = Path::new(&job.model_path);
    let info = crate::model::inspect(model_path)?;
    let tokenizer = crate::model::load_tokenizer(model_path)?;
    let plan = plan::make_plan(
        &doc,
        PromptFamily::of_model(&info),
        info.context_length,
        &tokenizer,
        &plan_options(&job_settings(&job)?),
    )?
    .with_speed(speed_of(store, &job.model_id));
    store.save_plan(id, &plan, plan.passes.len() as u32)?;
    Ok(id)
}

/// How a job's settings shape its plan (one rule for the run and the queue).
fn plan_options(s: &JobSettings) -> PlanOptions {
    PlanOptions {
        task: s.task,
        strategy: s.strategy,
        context_override: s.context,
        ..Default::default()
    }
}

fn submit_document(
    store: &mut Store,
    req: &JobRequest,
    doc: &Document,
) -> Result<JobId, TaskError> {
    let sha = store::sha256_file(&req.file)?;
    store.put_document(doc, &sha)?;
    let glossary_sha256 = match &req.glossary {
        Some(g) => {
            // Parse it now: a broken glossary is reported before any work starts.
            Glossary::with_user_file(Some(g))?;
            Some(store::sha256_file(g)?)
        }
        None => None,
    };
    let settings = JobSettings {
        task: req.task,
        strategy: req.strategy,
        context: req.context,
        glossary: req.glossary.clone(),
        glossary_sha256,
        server: req.server.clone(),
        repetition_penalty: REPETITION_PENALTY,
    };
    let task = match req.task {
        TaskSpec::Summarize { .. } => TaskKind::Summarize,
        TaskSpec::Translate { .. } => TaskKind::Translate,
    };
    let model_path = canonical(&req.model);
    let model_id = match &req.server {
        // The server's model is what answers; its speed is the server's.
        Some(s) => format!("{}@{}", s.model, s.url),
        None => model_id(&model_path),
    };
    Ok(store.create_job(NewJob {
        document_sha256: sha,
        task,
        model_path: model_path.display().to_string(),
        model_id,
        settings: serde_json::to_value(&settings).expect("settings serialise"),
        reuse: true,
    })?)
}

/// The settings a stored job was made with.
pub fn job_settings(job: &JobRecord) -> Result<JobSettings, TaskError> {
    serde_json::from_value(job.settings.clone()).map_err(|e| TaskError::BadJob {
        job: job.id,
        detail: format!("its settings do not parse: {e}"),
    })
}

/// The stored result of a finished job (no model needed).
pub fn load_result(store: &Store, id: JobId) -> Result<JobResult, TaskError> {
    let job = store.get_job(id)?;
    if job.status != JobStatus::Done {
        return Err(TaskError::NotFinished {
            job: id,
            status: job.status,
        });
    }
    let bad = |detail: String| TaskError::BadJob { job: id, detail };
    let output = job
        .output
        .clone()
        .ok_or_else(|| bad("it has no output".into()))?;
    let findings: Findings = job
        .findings
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| bad(format!("its findings do not parse: {e}")))?
        .unwrap_or_else(|| Findings::new(Vec::new()));
    let title = job.document_name.clone();
    Ok(match job.task {
        TaskKind::Summarize => JobResult::Summary {
            title,
            markdown: output,
            findings,
        },
        TaskKind::Translate => JobResult::Translation {
            title,
            pairs: serde_json::from_str(&output)
                .map_err(|e| bad(format!("its translation does not parse: {e}")))?,
            findings,
        },
    })
}

/// Replaces one translated block (a user edit in the side-by-side view) and
/// re-checks its figures; the edit is stored at once.
pub fn edit_translation(
    store: &Store,
    id: JobId,
    pair: usize,
    text: &str,
) -> Result<JobResult, TaskError> {
    let job = store.get_job(id)?;
    let doc = store.get_document(&job.document_sha256)?;
    let mut result = load_result(store, id)?;
    if let JobResult::Translation {
        pairs, findings, ..
    } = &mut result
    {
        let p = pairs.get_mut(pair).ok_or_else(|| TaskError::BadJob {
            job: id,
            detail: format!("it has no block {pair}"),
        })?;
        p.target = text.to_string();
        p.target_cells = p.target_cells.as_ref().map(|_| {
            text.lines()
                .map(|l| l.split('\t').map(|c| c.trim().to_string()).collect())
                .collect()
        });
        *findings = Findings::new(translation_marks(&doc, pairs));
        store.update_output(id, &result.stored_output())?;
        store.update_findings(id, result.findings())?;
        Ok(result)
    } else {
        Err(TaskError::BadJob {
            job: id,
            detail: "it is a summary, not a translation".into(),
        })
    }
}

/// Runs (or resumes) `id` with `engine`, reporting to `on_event`. Setting
/// `cancel` stops within one prefill chunk or token; finished passes stay stored.
pub fn run_job(
    store: &mut Store,
    engine: &mut dyn JobEngine,
    id: JobId,
    cancel: Option<Arc<AtomicBool>>,
    on_event: &mut dyn FnMut(&JobEvent),
) -> Result<JobOutcome, TaskError> {
    let job = store.get_job(id)?;
    if job.status == JobStatus::Done {
        let result = load_result(store, id)?;
        on_event(&JobEvent::Finished {
            job: id,
            result: Box::new(result.clone()),
        });
        return Ok(JobOutcome::Done(Box::new(result)));
    }
    store.set_status(id, JobStatus::Running)?;
    store.set_device(id, &engine.device())?;
    let mut run = Run {
        store,
        engine,
        job,
        cancel: cancel.unwrap_or_default(),
        on_event,
        measured: Measured::default(),
    };
    match run.go() {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            let msg = e.to_string();
            let _ = run.store.fail_job(id, &msg);
            (run.on_event)(&JobEvent::Failed {
                job: id,
                error: msg,
            });
            Err(e)
        }
    }
}

#[derive(Default)]
struct Measured {
    prefill_tokens: usize,
    prefill_s: f64,
    decode_tokens: usize,
    decode_s: f64,
}

impl Measured {
    /// Counts one written answer (its own clock: prefill and decode apart).
    fn add(&mut self, w: &Written) {
        self.prefill_tokens += w.prompt_tokens;
        self.prefill_s += w.prefill_seconds;
        self.decode_tokens += w.generated_tokens;
        self.decode_s += w.decode_seconds;
    }

    fn speed(&self) -> Option<Speed> {
        (self.prefill_s > 0.0 && self.decode_s > 0.0 && self.decode_tokens > 0).then(|| Speed {
            prefill_tokens_per_s: self.prefill_tokens as f64 / self.prefill_s,
            decode_tokens_per_s: self.decode_tokens as f64 / self.decode_s,
        })
    }
}

/// What a translation's passes read and how they are asked.
struct Translation<'a> {
    doc: &'a Document,
    plan: &'a Plan,
    family: PromptFamily,
    to: Lang,
    glossary: &'a Glossary,
    finished: &'a std::collections::BTreeMap<u32, store::ChunkRecord>,
}

/// A translation pass ready to ask: its blocks, its turn, its reuse key.
struct PassRequest {
    pass: usize,
    units: Vec<translate::Unit>,
    turn: ChatTurn,
    hash: String,
    max_new: usize,
}

struct Run<'a> {
    store: &'a mut Store,
    engine: &'a mut dyn JobEngine,
    job: JobRecord,
    cancel: Arc<AtomicBool>,
    on_event: &'a mut dyn FnMut(&JobEvent),
    measured: Measured,
}

/// One generation's answer and what it cost.
struct Answer {
    text: String,
    stats: ChunkStats,
    stop: StopReason,
}

impl Run<'_> {
    fn id(&self) -> JobId {
        self.job.id
    }

    fn emit(&mut self, e: JobEvent) {
        (self.on_event)(&e);
    }

    fn go(&mut self) -> Result<JobOutcome, TaskError> {
        let settings = job_settings(&self.job)?;
        let doc = self.store.get_document(&self.job.document_sha256)?;
        let family = self.engine.prompt_family()?;
        let plan = self.plan(&doc, family, &settings)?;
        self.emit(JobEvent::Planned {
            job: self.id(),
            plan: Box::new(plan.clone()),
        });
        let glossary = Glossary::with_user_file(settings.glossary.as_deref())?;
        let finished = self.store.finished_chunks(self.id())?;
        let n = plan.passes.len();
        let mut outputs: Vec<String> = Vec::with_capacity(n);
        // Translation passes are independent: an engine that writes several
        // answers at once (a server) gets them in windows of that many.
        let at_once = self.engine.answers_at_once();
        let translation = match plan.task {
            TaskSpec::Translate { to } => Some(Translation {
                doc: &doc,
                plan: &plan,
                family,
                to,
                glossary: &glossary,
                finished: &finished,
            }),
            TaskSpec::Summarize { .. } => None,
        };
        if let (Some(t), true) = (&translation, at_once > 1) {
            for window in plan.passes.chunks(at_once) {
                if self.cancel.load(Ordering::Relaxed) {
                    return self.cancelled(outputs.len());
                }
                let passes: Vec<usize> = window.iter().map(|p| p.index).collect();
                match self.translate_window(t, &passes)? {
                    Some(outs) => outputs.extend(outs),
                    None => return self.cancelled(outputs.len()),
                }
            }
            return self.deliver(&doc, &plan, &outputs);
        }
        for pass in &plan.passes {
            if self.cancel.load(Ordering::Relaxed) {
                return self.cancelled(outputs.len());
            }
            self.emit(JobEvent::PassStarted {
                job: self.id(),
                pass: pass.index,
                passes: n,
                kind: pass.kind,
                input_tokens: pass.input_tokens,
            });
            let out = match (pass.kind, &translation) {
                (PassKind::Translate, Some(t)) => self.translate_pass(t, pass.index)?,
                (PassKind::Translate, None) => {
                    unreachable!("translate passes only in translation plans")
                }
                _ => {
                    let input = self.summary_input(&plan, pass.index, family, &outputs);
                    self.summary_pass(&plan, pass.index, &input, &finished)?
                }
            };
            match out {
                Some(o) => outputs.push(o),
                None => return self.cancelled(outputs.len()),
            }
        }
        self.deliver(&doc, &plan, &outputs)
    }

    /// All passes written: the result checked, stored and reported.
    fn deliver(
        &mut self,
        doc: &Document,
        plan: &Plan,
        outputs: &[String],
    ) -> Result<JobOutcome, TaskError> {
        let result = self.finish(doc, plan, outputs)?;
        self.store
            .finish_job(self.id(), &result.stored_output(), result.findings())?;
        if let Some(s) = self.measured.speed() {
            // The estimate is a convenience: a failure to record it is not the job's.
            let _ = self.store.record_speed(
                &self.job.model_id,
                SpeedRecord {
                    prefill_tokens_per_s: s.prefill_tokens_per_s,
                    decode_tokens_per_s: s.decode_tokens_per_s,
                },
            );
        }
        self.emit(JobEvent::Finished {
            job: self.id(),
            result: Box::new(result.clone()),
        });
        Ok(JobOutcome::Done(Box::new(result)))
    }

    fn cancelled(&mut self, passes_done: usize) -> Result<JobOutcome, TaskError> {
        self.store.set_status(self.id(), JobStatus::Cancelled)?;
        self.emit(JobEvent::Cancelled {
            job: self.id(),
            passes_done,
        });
        Ok(JobOutcome::Cancelled { passes_done })
    }

    /// The stored plan (a resumed job does exactly what it showed), or a new one.
    fn plan(
        &mut self,
        doc: &Document,
        family: PromptFamily,
        s: &JobSettings,
    ) -> Result<Plan, TaskError> {
        if let Some(p) = &self.job.plan {
            return serde_json::from_value(p.clone()).map_err(|e| TaskError::BadJob {
                job: self.id(),
                detail: format!("its plan does not parse: {e}"),
            });
        }
        let opts = plan_options(s);
        let context = self.engine.context_length();
        let speed = speed_of(self.store, &self.job.model_id);
        let mut plan =
            plan::make_plan(doc, family, context, self.engine.counter(), &opts)?.with_speed(speed);
        plan.approximate = !self.engine.exact_counts();
        self.store
            .save_plan(self.id(), &plan, plan.passes.len() as u32)?;
        self.job.plan = Some(serde_json::to_value(&plan).expect("plans serialise"));
        Ok(plan)
    }

    fn summary_input(
        &self,
        plan: &Plan,
        i: usize,
        family: PromptFamily,
        outputs: &[String],
    ) -> PassInput {
        let pass = &plan.passes[i];
        let (task, lang) = match plan.task {
            TaskSpec::Summarize { lang, .. } => (plan.task, lang),
            TaskSpec::Translate { to } => (plan.task, to),
        };
        match pass.kind {
            PassKind::Map => {
                let chunk = &plan.chunks[pass.chunk.expect("map passes read a chunk")];
                let parts = plan.chunks.len();
                let earlier: Vec<&str> = outputs[..i].iter().map(String::as_str).collect();
                let tok = self.engine.counter();
                let count = |s: &str| tok.count(s);
                let carried = summarize::carry_figures(&earlier, pass.carry_tokens, &count);
                summarize::map_input(family, lang, chunk.index + 1, parts, &carried, chunk)
            }
            PassKind::Reduce => {
                let labels = summarize::reduce_labels(lang, pass, &plan.passes, &plan.chunks);
                let partials: Vec<(String, String)> = labels
                    .into_iter()
                    .zip(&pass.inputs)
                    .map(|(l, &j)| (l, outputs[j].clone()))
                    .collect();
                summarize::reduce_input(family, task, &partials)
            }
            _ => {
                let chunk = &plan.chunks[pass.chunk.unwrap_or(0)];
                summarize::whole_input(family, task, chunk)
            }
        }
    }

    fn summary_pass(
        &mut self,
        plan: &Plan,
        i: usize,
        input: &PassInput,
        finished: &std::collections::BTreeMap<u32, store::ChunkRecord>,
    ) -> Result<Option<String>, TaskError> {
        let pass = &plan.passes[i];
        let turn = self.engine.turn(&input.system, &input.user)?;
        let hash = input_hash(&turn.identity, pass.max_output_tokens);
        if let Some(out) = self.reuse(i, plan.passes.len(), &hash, turn.tokens, finished)? {
            return Ok(Some(out));
        }
        let Some(ans) = self.generate(i, &turn, pass.max_output_tokens)? else {
            return Ok(None);
        };
        let text = if ans.stop == StopReason::Eos || ans.stop == StopReason::Stop {
            ans.text.trim().to_string()
        } else {
            summarize::clean_end(&ans.text)
        };
        let is_final = i + 1 == plan.passes.len();
        if text.is_empty() && is_final {
            return Err(TaskError::EmptyOutput { pass: i });
        }
        self.checkpoint(i, plan.passes.len(), &hash, &text, ans.stats)?;
        Ok(Some(text))
    }

    /// One translation pass: its blocks in one answer, any block the answer
    /// dropped retried alone. `None` when cancelled.
    fn translate_pass(
        &mut self,
        t: &Translation<'_>,
        i: usize,
    ) -> Result<Option<String>, TaskError> {
        let p = match self.translate_request(t, i)? {
            Ok(reused) => return Ok(Some(reused)),
            Err(p) => p,
        };
        let mut stats = ChunkStats::default();
        let got: Vec<Option<String>> = if p.units.is_empty() {
            Vec::new()
        } else {
            let Some(ans) = self.generate(i, &p.turn, p.max_new)? else {
                return Ok(None);
            };
            add(&mut stats, ans.stats);
            translate::parse_batch(&ans.text, p.units.len())
        };
        let Some(out) = self.fill_dropped(t, &p, got, &mut stats)? else {
            return Ok(None);
        };
        let json = serde_json::to_string(&out).expect("strings serialise");
        self.checkpoint(i, t.plan.passes.len(), &p.hash, &json, stats)?;
        Ok(Some(json))
    }

    /// Pass `i` of a translation: its output when a finished pass with the
    /// same input is stored (`Ok`), else the request to ask (`Err`).
    fn translate_request(
        &mut self,
        t: &Translation<'_>,
        i: usize,
    ) -> Result<Result<String, PassRequest>, TaskError> {
        let pass = &t.plan.passes[i];
        let chunk = &t.plan.chunks[pass.chunk.expect("translate passes read a chunk")];
        let units = translate::units_of(t.doc, chunk);
        let texts: Vec<&str> = units.iter().map(|u| u.text.as_str()).collect();
        let input = translate::batch_input(t.family, t.to, t.glossary, &texts);
        let turn = self.engine.turn(&input.system, &input.user)?;
        let hash = input_hash(&turn.identity, pass.max_output_tokens);
        let n = t.plan.passes.len();
        Ok(match self.reuse(i, n, &hash, turn.tokens, t.finished)? {
            Some(out) => Ok(out),
            None => Err(PassRequest {
                pass: i,
                units,
                turn,
                hash,
                max_new: pass.max_output_tokens,
            }),
        })
    }

    /// Each block a batch answer dropped or merged, retried alone; a block
    /// still without an answer keeps its source text rather than be lost.
    /// `None` when cancelled.
    fn fill_dropped(
        &mut self,
        t: &Translation<'_>,
        p: &PassRequest,
        mut got: Vec<Option<String>>,
        stats: &mut ChunkStats,
    ) -> Result<Option<Vec<String>>, TaskError> {
        for (k, slot) in got.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let text = &p.units[k].text;
            let input = translate::single_input(t.family, t.to, t.glossary, text);
            let turn = self.engine.turn(&input.system, &input.user)?;
            let budget = (self.engine.counter().count(text) * 3 + 32).min(p.max_new.max(64));
            let Some(ans) = self.generate(p.pass, &turn, budget)? else {
                return Ok(None);
            };
            add(stats, ans.stats);
            *slot = Some(translate::parse_single(&ans.text).unwrap_or_else(|| text.clone()));
        }
        Ok(Some(
            got.into_iter().map(Option::unwrap_or_default).collect(),
        ))
    }

    /// Translation passes written at once: each pass's blocks in one answer
    /// (the passes sent together), then any block an answer dropped retried
    /// alone, as `translate_pass` does. `None` when cancelled (the passes
    /// finished before stay checkpointed).
    fn translate_window(
        &mut self,
        t: &Translation<'_>,
        passes: &[usize],
    ) -> Result<Option<Vec<String>>, TaskError> {
        let n = t.plan.passes.len();
        let mut outs: Vec<Option<String>> = vec![None; passes.len()];
        let mut pending: Vec<(usize, PassRequest)> = Vec::new();
        for (slot, &i) in passes.iter().enumerate() {
            let pass = &t.plan.passes[i];
            self.emit(JobEvent::PassStarted {
                job: self.id(),
                pass: i,
                passes: n,
                kind: pass.kind,
                input_tokens: pass.input_tokens,
            });
            match self.translate_request(t, i)? {
                Ok(reused) => outs[slot] = Some(reused),
                Err(p) => pending.push((slot, p)),
            }
        }
        let asked: Vec<(&ChatTurn, usize)> = pending
            .iter()
            .filter(|(_, p)| !p.units.is_empty())
            .map(|(_, p)| (&p.turn, p.max_new))
            .collect();
        let asked_passes: Vec<usize> = pending
            .iter()
            .filter(|(_, p)| !p.units.is_empty())
            .map(|(_, p)| p.pass)
            .collect();
        let job = self.id();
        let on_event = &mut *self.on_event;
        let written =
            self.engine
                .write_many(&asked, REPETITION_PENALTY, &self.cancel, &mut |k, t| {
                    on_event(&JobEvent::Token {
                        job,
                        pass: asked_passes[k],
                        text: t.to_string(),
                        tokens: 1,
                    })
                });
        let mut answers = written.into_iter();
        // Every answer that came back whole is checkpointed, even when another
        // of the window failed or the job was cancelled meanwhile: the
        // server's work is kept for the resume.
        let mut failure: Option<TaskError> = None;
        let mut cancelled = false;
        for (slot, p) in pending {
            let mut stats = ChunkStats::default();
            let got: Vec<Option<String>> = if p.units.is_empty() {
                Vec::new()
            } else {
                match answers.next().expect("one answer per pass asked") {
                    Err(e) => {
                        failure.get_or_insert(e);
                        continue;
                    }
                    Ok(gen) if gen.stop == StopReason::Cancelled => {
                        cancelled = true;
                        continue;
                    }
                    Ok(gen) => {
                        self.measured.add(&gen);
                        add(
                            &mut stats,
                            ChunkStats {
                                tokens_in: gen.prompt_tokens as u32,
                                tokens_out: gen.generated_tokens as u32,
                                elapsed_ms: ((gen.prefill_seconds + gen.decode_seconds) * 1000.0)
                                    as u64,
                            },
                        );
                        translate::parse_batch(&gen.text, p.units.len())
                    }
                }
            };
            // Once the window has failed, no more is asked of the engine.
            if (failure.is_some() || cancelled) && got.iter().any(Option::is_none) {
                continue;
            }
            let Some(out) = self.fill_dropped(t, &p, got, &mut stats)? else {
                cancelled = true;
                continue;
            };
            let json = serde_json::to_string(&out).expect("strings serialise");
            self.checkpoint(p.pass, n, &p.hash, &json, stats)?;
            outs[slot] = Some(json);
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if cancelled {
            return Ok(None);
        }
        Ok(Some(
            outs.into_iter().map(Option::unwrap_or_default).collect(),
        ))
    }

    /// A finished pass of this job with the same input, or one another job
    /// with the same settings computed: used instead of generating again.
    fn reuse(
        &mut self,
        i: usize,
        n: usize,
        hash: &str,
        tokens_in: usize,
        finished: &std::collections::BTreeMap<u32, store::ChunkRecord>,
    ) -> Result<Option<String>, TaskError> {
        let rec = match finished.get(&(i as u32)).filter(|r| r.input_hash == hash) {
            Some(r) => Some(r.clone()),
            None => {
                let found = self
                    .store
                    .find_chunk_output(&self.job.settings_key, i as u32, hash)?;
                if let Some(r) = &found {
                    let stats = ChunkStats {
                        tokens_in: r.tokens_in,
                        tokens_out: r.tokens_out,
                        elapsed_ms: r.elapsed_ms,
                    };
                    self.store
                        .save_chunk(self.id(), i as u32, hash, &r.output, stats)?;
                }
                found
            }
        };
        Ok(rec.map(|r| {
            self.emit(JobEvent::PassFinished {
                job: self.id(),
                pass: i,
                passes: n,
                reused: true,
                output: r.output.clone(),
                tokens_in,
                tokens_out: r.tokens_out as usize,
                tokens_per_second: 0.0,
                eta_seconds: None,
            });
            r.output
        }))
    }

    /// Generates one answer, streaming events. `None` when cancelled.
    fn generate(
        &mut self,
        pass: usize,
        turn: &ChatTurn,
        max_new: usize,
    ) -> Result<Option<Answer>, TaskError> {
        let job = self.id();
        let started = Instant::now();
        let hold = test_hold(&self.job);
        let cancel = self.cancel.clone();
        let mut written = 0usize;
        // Both callbacks forward events as they happen; they share the sink.
        let sink = std::cell::RefCell::new(&mut *self.on_event);
        let gen = self.engine.write(
            turn,
            max_new,
            REPETITION_PENALTY,
            &self.cancel,
            &mut |t| {
                (sink.borrow_mut())(&JobEvent::Token {
                    job,
                    pass,
                    text: t.to_string(),
                    tokens: 1,
                });
                written += 1;
                if hold == Some(written) {
                    hold_until_cancelled(&cancel);
                }
            },
            &mut |p| {
                (sink.borrow_mut())(&JobEvent::Prefill {
                    job,
                    pass,
                    done: p.done,
                    total: p.total,
                })
            },
        )?;
        if gen.stop == StopReason::Cancelled {
            return Ok(None);
        }
        self.measured.add(&gen);
        Ok(Some(Answer {
            text: gen.text,
            stop: gen.stop,
            stats: ChunkStats {
                tokens_in: gen.prompt_tokens as u32,
                tokens_out: gen.generated_tokens as u32,
                elapsed_ms: started.elapsed().as_millis() as u64,
            },
        }))
    }

    fn checkpoint(
        &mut self,
        i: usize,
        n: usize,
        hash: &str,
        output: &str,
        stats: ChunkStats,
    ) -> Result<(), TaskError> {
        self.store
            .save_chunk(self.id(), i as u32, hash, output, stats)?;
        let tps = if stats.elapsed_ms > 0 {
            self.measured
                .speed()
                .map(|s| s.decode_tokens_per_s)
                .unwrap_or(0.0)
        } else {
            0.0
        };
        let eta = self.eta(i + 1);
        self.emit(JobEvent::PassFinished {
            job: self.id(),
            pass: i,
            passes: n,
            reused: false,
            output: output.to_string(),
            tokens_in: stats.tokens_in as usize,
            tokens_out: stats.tokens_out as usize,
            tokens_per_second: tps,
            eta_seconds: eta,
        });
        Ok(())
    }

    /// Upper-bound time for passes `from..` at the speed measured in this run.
    fn eta(&self, from: usize) -> Option<f64> {
        let plan: Plan = serde_json::from_value(self.job.plan.clone()?).ok()?;
        let rest = Plan {
            passes: plan.passes.get(from..)?.to_vec(),
            ..plan
        };
        rest.with_speed(self.measured.speed()).estimated_seconds
    }

    fn finish(
        &self,
        doc: &Document,
        plan: &Plan,
        outputs: &[String],
    ) -> Result<JobResult, TaskError> {
        let title = doc.name.clone();
        match plan.task {
            TaskSpec::Summarize { mode, .. } => {
                let markdown = outputs.last().cloned().unwrap_or_default();
                let marks = check_against(doc, &markdown);
                let key_figures = match mode {
                    SummaryMode::Financial => crate::check::key_figures::key_figures(doc),
                    SummaryMode::General => Vec::new(),
                };
                Ok(JobResult::Summary {
                    title,
                    markdown,
                    findings: Findings::new(marks).with_key_figures(key_figures),
                })
            }
            TaskSpec::Translate { to } => {
                let mut per_pass = Vec::with_capacity(outputs.len());
                for (i, o) in outputs.iter().enumerate() {
                    per_pass.push(serde_json::from_str::<Vec<String>>(o).map_err(|e| {
                        TaskError::BadJob {
                            job: self.id(),
                            detail: format!("pass {i} stored an unreadable translation: {e}"),
                        }
                    })?);
                }
                let pairs = translate::assemble(doc, &plan.chunks, &per_pass, to);
                let marks = translation_marks(doc, &pairs);
                Ok(JobResult::Translation {
                    title,
                    pairs,
                    findings: Findings::new(marks),
                })
            }
        }
    }
}

/// The test hook `REPORTLENS_TEST_HOLD=DOCUMENT:N`: the first summary of the process on
/// a document of that file name holds after its Nth token until it is cancelled (a
/// minute at most), so a test cancels a job at a known point however fast the model
/// writes. Unset, as in every normal run, it does nothing.
fn test_hold(job: &JobRecord) -> Option<usize> {
    static USED: AtomicBool = AtomicBool::new(false);
    let spec = std::env::var("REPORTLENS_TEST_HOLD").ok()?;
    let (name, n) = spec.rsplit_once(':')?;
    let n: usize = n.parse().ok()?;
    let applies = job.task == TaskKind::Summarize && job.document_name == name;
    (applies && !USED.swap(true, Ordering::SeqCst)).then_some(n)
}

/// How long the test hook holds a job at most before letting it run on.
const TEST_HOLD_LIMIT: Duration = Duration::from_secs(60);

fn hold_until_cancelled(cancel: &AtomicBool) {
    let start = Instant::now();
    while !cancel.load(Ordering::Relaxed) && start.elapsed() < TEST_HOLD_LIMIT {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn add(total: &mut ChunkStats, s: ChunkStats) {
    total.tokens_in += s.tokens_in;
    total.tokens_out += s.tokens_out;
    total.elapsed_ms += s.elapsed_ms;
}

/// What the model was given, exactly (the turn's identity: prompt ids, or
/// the messages a server is sent) and the answer budget.
fn input_hash(identity: &[u8], max_new: usize) -> String {
    let mut bytes = Vec::with_capacity(identity.len() + 8);
    bytes.extend_from_slice(identity);
    bytes.extend_from_slice(&(max_new as u64).to_le_bytes());
    store::sha256_hex(&bytes)
}

/// The speed measured for `model_id` on this machine, if any.
pub fn speed_of(store: &Store, model_id: &str) -> Option<Speed> {
    store.speed(model_id).ok().flatten().map(|s| Speed {
        prefill_tokens_per_s: s.prefill_tokens_per_s,
        decode_tokens_per_s: s.decode_tokens_per_s,
    })
}

/// The speed measured here for the model at `model_path` (the plan shown
/// before a run says how long it should take).
pub fn measured_speed(store: &Store, model_path: &Path) -> Option<Speed> {
    speed_of(store, &model_id(&canonical(model_path)))
}

/// A model's path as jobs store it (absolute, links resolved), so the same
/// model reached two ways is one model.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Each pair's figures checked against its own source block first (the
/// translation of a block should carry that block's figures).
fn translation_marks(doc: &Document, pairs: &[crate::export::Pair]) -> Vec<FigureMark> {
    let mut marks = Vec::new();
    let mut block = 0;
    for (i, p) in pairs.iter().enumerate() {
        // Pairs follow the blocks in order; find this pair's block.
        while block < doc.blocks.len() && doc.blocks[block].text != p.source {
            block += 1;
        }
        let single = Document {
            blocks: doc.blocks.get(block).cloned().into_iter().collect(),
            ..doc.clone()
        };
        for mut m in check_against(&single, &p.target) {
            m.pair = Some(i);
            // Block indices of the one-block document are the whole document's.
            for s in m.source.iter_mut().chain(m.inputs.iter_mut()) {
                s.origin.block = Some(block);
            }
            marks.push(m);
        }
    }
    marks
}
