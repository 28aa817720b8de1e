//! A job's progress as every front end shows it, kept from its events: where
//! it is (which pass, reading or writing), how far as a fraction of the whole
//! job, its live speed and its time left. One place, so the window, the
//! queue's total and the terminal agree, and no front end recomputes it.
use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::plan::PassKind;
use crate::store::JobId;

use super::events::JobEvent;

/// Share of a pass given to reading its input; the rest is writing. Reading
/// (prefill) is several times faster per token than writing, so a pass of a
/// long input and a short answer spends about this much of its time on it.
pub const READING_SHARE: f64 = 0.3;

/// The live speed is shown once the pass has written for this long: the
/// first tokens' rate says little.
const LIVE_SPEED_AFTER_SECS: f64 = 0.5;

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Queued,
    /// The model is being loaded (or the server connected).
    Loading,
    Running,
    Done,
    Cancelled,
    Failed,
}

/// Prompt tokens of the current pass read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reading {
    pub done: usize,
    pub total: usize,
}

/// A pass running now.
#[derive(Debug, Clone, Copy, Default)]
struct PassNow {
    reading: Option<Reading>,
    tokens: usize,
}

/// A job's progress, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct JobProgress {
    pub job: JobId,
    pub stage: Stage,
    /// Where the passes run ("cpu", "cuda:0", "server URL"), once known.
    pub device: Option<String>,
    /// The pass running now (0-based; the first of several running at
    /// once), or the passes finished when between.
    pub pass: usize,
    pub passes: usize,
    /// Passes running at once (a server writes several answers together).
    pub passes_in_flight: usize,
    /// Passes finished (or reused).
    pub passes_done: usize,
    pub pass_kind: Option<PassKind>,
    /// The current pass's input read so far; `None` once it writes.
    pub reading: Option<Reading>,
    /// Tokens the passes running now have written.
    pub tokens: usize,
    /// How much of the whole job is done, 0 to 1.
    pub fraction: f64,
    /// Writing speed: live within a pass, else the last pass's.
    pub tokens_per_second: Option<f64>,
    /// Time left at the speed measured (or, before any, the plan's).
    pub eta_seconds: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
    #[serde(skip)]
    max_out: Vec<usize>,
    #[serde(skip)]
    running: BTreeMap<usize, PassNow>,
    #[serde(skip)]
    writing_since: Option<Instant>,
    #[serde(skip)]
    eta_from: Option<(f64, Instant)>,
}

impl JobProgress {
    pub fn new(job: JobId) -> JobProgress {
        JobProgress {
            job,
            stage: Stage::Queued,
            device: None,
            pass: 0,
            passes: 0,
            passes_in_flight: 0,
            passes_done: 0,
            pass_kind: None,
            reading: None,
            tokens: 0,
            fraction: 0.0,
            tokens_per_second: None,
            eta_seconds: None,
            error: None,
            max_out: Vec::new(),
            running: BTreeMap::new(),
            writing_since: None,
            eta_from: None,
        }
    }

    /// Takes one event of this job into account.
    pub fn update(&mut self, e: &JobEvent) {
        let starts = matches!(
            e,
            JobEvent::Queued { .. }
                | JobEvent::ModelLoading { .. }
                | JobEvent::ModelLoaded { .. }
                | JobEvent::Planned { .. }
        );
        if starts && !self.is_active() {
            // A job run again (resumed): its last run's end says nothing now.
            *self = JobProgress::new(self.job);
        }
        match e {
            JobEvent::Queued { .. } => self.stage = Stage::Queued,
            JobEvent::ModelLoading { .. } => self.stage = Stage::Loading,
            JobEvent::ModelLoaded { device, .. } => {
                self.device = Some(device.clone());
                if self.stage == Stage::Queued {
                    self.stage = Stage::Loading;
                }
            }
            JobEvent::Planned { plan, .. } => {
                self.stage = Stage::Running;
                self.passes = plan.passes.len();
                self.max_out = plan.passes.iter().map(|p| p.max_output_tokens).collect();
                if let Some(s) = plan.estimated_seconds {
                    self.eta_from = Some((s, Instant::now()));
                }
            }
            JobEvent::PassStarted {
                pass,
                passes,
                kind,
                input_tokens,
                ..
            } => {
                self.stage = Stage::Running;
                self.passes = *passes;
                self.pass_kind = Some(*kind);
                if self.running.is_empty() {
                    self.writing_since = None;
                }
                self.running.insert(
                    *pass,
                    PassNow {
                        reading: Some(Reading {
                            done: 0,
                            total: *input_tokens,
                        }),
                        tokens: 0,
                    },
                );
            }
            JobEvent::Prefill {
                pass, done, total, ..
            } => {
                self.running.entry(*pass).or_default().reading = Some(Reading {
                    done: *done,
                    total: *total,
                })
            }
            JobEvent::Token { pass, tokens, .. } => {
                let since = *self.writing_since.get_or_insert_with(Instant::now);
                let now = self.running.entry(*pass).or_default();
                now.reading = None;
                now.tokens += tokens;
                let written: usize = self.running.values().map(|p| p.tokens).sum();
                let secs = since.elapsed().as_secs_f64();
                if secs > LIVE_SPEED_AFTER_SECS {
                    self.tokens_per_second = Some(written as f64 / secs);
                }
            }
            JobEvent::PassFinished {
                pass,
                passes,
                tokens_per_second,
                eta_seconds,
                ..
            } => {
                if *tokens_per_second > 0.0 {
                    self.tokens_per_second = Some(*tokens_per_second);
                }
                self.eta_from = eta_seconds.map(|s| (s, Instant::now()));
                self.running.remove(pass);
                self.passes_done = (self.passes_done + 1).min(*passes);
                self.passes = *passes;
                if self.running.is_empty() {
                    self.writing_since = None;
                }
            }
            JobEvent::Finished { .. } => {
                self.stage = Stage::Done;
                self.running.clear();
                self.passes_done = self.passes;
                self.eta_from = Some((0.0, Instant::now()));
            }
            JobEvent::Cancelled { .. } => self.stage = Stage::Cancelled,
            JobEvent::Failed { error, .. } => {
                self.stage = Stage::Failed;
                self.error = Some(error.clone());
            }
        }
        // What is shown: the first pass running (or the next to run).
        let first = self.running.iter().next();
        self.pass = first.map_or(self.passes_done, |(&i, _)| i);
        self.reading = first.and_then(|(_, p)| p.reading);
        self.tokens = self.running.values().map(|p| p.tokens).sum();
        self.passes_in_flight = self.running.len();
        self.fraction = self.fraction_now();
        self.eta_seconds = self.eta_now();
    }

    /// Passes count equally; within one, reading then writing toward its
    /// answer budget (the answer may end sooner: the next pass catches up).
    fn fraction_now(&self) -> f64 {
        if self.stage == Stage::Done {
            return 1.0;
        }
        if self.passes == 0 {
            return 0.0;
        }
        let within: f64 = self
            .running
            .iter()
            .map(|(&i, p)| match p.reading {
                Some(r) if r.total > 0 => READING_SHARE * (r.done as f64 / r.total as f64),
                Some(_) => 0.0,
                None => match self.max_out.get(i) {
                    Some(&max) if max > 0 && p.tokens > 0 => {
                        READING_SHARE
                            + (1.0 - READING_SHARE) * (p.tokens as f64 / max as f64).min(1.0)
                    }
                    _ => 0.0,
                },
            })
            .sum();
        ((self.passes_done as f64 + within) / self.passes as f64).clamp(0.0, 1.0)
    }

    /// The last estimate, less the time since it was made.
    fn eta_now(&self) -> Option<f64> {
        self.eta_from
            .map(|(secs, at)| (secs - at.elapsed().as_secs_f64()).max(0.0))
    }

    /// Whether the job is still to run or running (not ended).
    pub fn is_active(&self) -> bool {
        matches!(self.stage, Stage::Queued | Stage::Loading | Stage::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(pass: usize, passes: usize, input: usize) -> JobEvent {
        JobEvent::PassStarted {
            job: JobId(1),
            pass,
            passes,
            kind: PassKind::Map,
            input_tokens: input,
        }
    }

    #[test]
    fn the_fraction_follows_reading_then_writing_pass_by_pass() {
        let mut p = JobProgress::new(JobId(1));
        p.update(&started(0, 2, 100));
        assert_eq!(p.fraction, 0.0);
        p.update(&JobEvent::Prefill {
            job: JobId(1),
            pass: 0,
            done: 50,
            total: 100,
        });
        assert!((p.fraction - READING_SHARE * 0.5 / 2.0).abs() < 1e-9);
        // Without a plan there is no answer budget: writing counts as read.
        p.update(&JobEvent::Token {
            job: JobId(1),
            pass: 0,
            text: "a".into(),
            tokens: 3,
        });
        assert_eq!((p.tokens, p.reading), (3, None));
        p.update(&JobEvent::PassFinished {
            job: JobId(1),
            pass: 0,
            passes: 2,
            reused: false,
            output: "a".into(),
            tokens_in: 100,
            tokens_out: 3,
            tokens_per_second: 12.5,
            eta_seconds: Some(40.0),
        });
        assert_eq!((p.pass, p.passes_done, p.fraction), (1, 1, 0.5));
        assert_eq!(p.tokens_per_second, Some(12.5));
        let eta = p.eta_seconds.unwrap();
        assert!(eta <= 40.0 && eta > 39.0, "{eta}");
        p.update(&JobEvent::Cancelled {
            job: JobId(1),
            passes_done: 1,
        });
        assert_eq!((p.stage, p.fraction), (Stage::Cancelled, 0.5));
        assert!(!p.is_active());
        // Resumed: it runs again from its first message on.
        p.update(&JobEvent::ModelLoaded {
            job: JobId(1),
            device: "cpu".into(),
        });
        assert_eq!(
            (p.stage, p.fraction, p.passes_done),
            (Stage::Loading, 0.0, 0)
        );
        assert!(p.is_active());
    }

    #[test]
    fn passes_running_at_once_each_count_toward_the_fraction() {
        let mut p = JobProgress::new(JobId(1));
        for i in 0..3 {
            p.update(&started(i, 4, 100));
        }
        assert_eq!((p.pass, p.passes_in_flight), (0, 3));
        p.update(&JobEvent::Prefill {
            job: JobId(1),
            pass: 2,
            done: 100,
            total: 100,
        });
        assert!((p.fraction - READING_SHARE / 4.0).abs() < 1e-9);
        p.update(&JobEvent::Token {
            job: JobId(1),
            pass: 1,
            text: "x".into(),
            tokens: 2,
        });
        p.update(&JobEvent::PassFinished {
            job: JobId(1),
            pass: 0,
            passes: 4,
            reused: false,
            output: String::new(),
            tokens_in: 100,
            tokens_out: 5,
            tokens_per_second: 10.0,
            eta_seconds: None,
        });
        assert_eq!(
            (p.pass, p.passes_done, p.passes_in_flight, p.tokens),
            (1, 1, 2, 2)
        );
        assert!(
            p.fraction >= 0.25 + READING_SHARE / 4.0 - 1e-9,
            "{}",
            p.fraction
        );
    }
}
