//! What a job's passes run on: the local engine (candle, in this process) or
//! an OpenAI-compatible server. The runner sees only this trait, so plans,
//! prompts, checkpoints and figure checks are the same for both.
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::model::{self, Engine, GenerateOptions, Progress, Sampling, StopReason};
use crate::plan::TokenCounter;
use crate::prompt::PromptFamily;
use crate::remote::{ChatOptions, Finish, Server};

use super::TaskError;

/// llama.cpp's penalty window (`repeat_last_n`), the local engine's too.
pub const REPEAT_LAST_N: usize = 64;

/// One chat turn, ready for the engine that made it.
#[derive(Debug, Clone)]
pub struct ChatTurn {
    pub system: String,
    pub user: String,
    /// The prompt's ids where the engine is local.
    ids: Option<Vec<u32>>,
    /// Prompt tokens (the server's count, or ours where it cannot count).
    pub tokens: usize,
    /// What the model is given, exactly, for the reuse key of a pass.
    pub identity: Vec<u8>,
}

/// A written answer and what it cost.
#[derive(Debug, Clone)]
pub struct Written {
    pub text: String,
    pub stop: StopReason,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
}

/// An engine a job runs on.
pub trait JobEngine {
    /// Where the passes run, for the history ("cpu", "cuda", "server URL").
    fn device(&self) -> String;
    /// Tokens one pass may hold, prompt and answer together.
    fn context_length(&self) -> usize;
    /// The prompts the model was trained for.
    fn prompt_family(&self) -> Result<PromptFamily, TaskError>;
    /// Counts tokens as the model does (or as near as it can).
    fn counter(&self) -> &dyn TokenCounter;
    /// Whether `counter` is the model's own count, not an approximation.
    fn exact_counts(&self) -> bool;
    fn turn(&self, system: &str, user: &str) -> Result<ChatTurn, TaskError>;
    /// Writes the answer to `turn`, greedy with the job's repetition penalty,
    /// streaming text. Cancelling returns `StopReason::Cancelled`.
    fn write(
        &mut self,
        turn: &ChatTurn,
        max_new: usize,
        repetition_penalty: f32,
        cancel: &Arc<AtomicBool>,
        on_text: &mut dyn FnMut(&str),
        on_prefill: &mut dyn FnMut(Progress),
    ) -> Result<Written, TaskError>;
    /// How many answers it writes at once: 1 here; a server batches several.
    fn answers_at_once(&self) -> usize {
        1
    }
    /// Writes the answers to `turns` (each with its token budget) at once,
    /// `on_text(k, piece)` streaming answer `k`. Only engines whose
    /// `answers_at_once` is above 1 are asked.
    fn write_many(
        &self,
        turns: &[(&ChatTurn, usize)],
        repetition_penalty: f32,
        cancel: &Arc<AtomicBool>,
        on_text: &mut dyn FnMut(usize, &str),
    ) -> Vec<Result<Written, TaskError>> {
        let _ = (repetition_penalty, cancel, on_text);
        turns
            .iter()
            .map(|_| Err(TaskError::OneAnswerAtATime))
            .collect()
    }
}

impl JobEngine for Engine {
    fn device(&self) -> String {
        self.device.to_string()
    }

    fn context_length(&self) -> usize {
        self.model.max_positions()
    }

    fn prompt_family(&self) -> Result<PromptFamily, TaskError> {
        Ok(PromptFamily::of_model(&model::inspect(&self.path)?))
    }

    fn counter(&self) -> &dyn TokenCounter {
        &self.tokenizer
    }

    fn exact_counts(&self) -> bool {
        true
    }

    fn turn(&self, system: &str, user: &str) -> Result<ChatTurn, TaskError> {
        let ids = self.chat_prompt(Some(system), user)?;
        let mut identity = Vec::with_capacity(ids.len() * 4);
        for id in &ids {
            identity.extend_from_slice(&id.to_le_bytes());
        }
        Ok(ChatTurn {
            system: system.to_string(),
            user: user.to_string(),
            tokens: ids.len(),
            ids: Some(ids),
            identity,
        })
    }

    fn write(
        &mut self,
        turn: &ChatTurn,
        max_new: usize,
        repetition_penalty: f32,
        cancel: &Arc<AtomicBool>,
        on_text: &mut dyn FnMut(&str),
        on_prefill: &mut dyn FnMut(Progress),
    ) -> Result<Written, TaskError> {
        let rendered;
        let ids: &[u32] = match &turn.ids {
            Some(ids) => ids,
            None => {
                rendered = self.chat_prompt(Some(&turn.system), &turn.user)?;
                &rendered
            }
        };
        let room = self.model.max_positions().saturating_sub(ids.len() + 1);
        let opts = GenerateOptions {
            max_new_tokens: max_new.min(room).max(1),
            sampling: Sampling::Greedy,
            repetition_penalty,
            repeat_last_n: REPEAT_LAST_N,
            cancel: Some(cancel.clone()),
            ..Default::default()
        };
        let gen = self.generate(ids, &opts, on_text, on_prefill)?;
        Ok(Written {
            text: gen.text,
            stop: gen.stats.stop_reason,
            prompt_tokens: gen.stats.prompt_tokens,
            generated_tokens: gen.stats.generated_tokens,
            prefill_seconds: gen.stats.prefill_seconds,
            decode_seconds: gen.stats.decode_seconds,
        })
    }
}

/// An OpenAI-compatible server, with the local tokenizer of the same model
/// to count where the server cannot (then plans are approximate).
pub struct ServerEngine {
    server: Server,
    family: PromptFamily,
    fallback: Option<model::TextTokenizer>,
    /// The server's context, else the one the user gave, else 4096.
    context_length: usize,
    /// Answers sent at once (the server's slots).
    at_once: usize,
}

/// Context assumed when neither the server nor the user says: the smallest
/// any current instruct model has.
const ASSUMED_SERVER_CONTEXT: usize = 4096;

impl ServerEngine {
    /// `local_model`: the same model's file or folder here, for its prompt
    /// family and, where the server has no `/tokenize`, its tokenizer.
    pub fn new(
        server: Server,
        local_model: Option<&std::path::Path>,
        context: Option<usize>,
    ) -> Result<Self, TaskError> {
        let info = local_model.map(model::inspect).transpose()?;
        let family = match &info {
            Some(i) => PromptFamily::of_model(i),
            // Without a local copy, the served name says whether it is Index.
            None if server.config().model.to_lowercase().contains("index") => PromptFamily::Index,
            None => PromptFamily::Generic,
        };
        let fallback = match (server.can_tokenize(), local_model) {
            (true, _) => None,
            (false, Some(m)) => Some(model::load_tokenizer(m)?),
            (false, None) => return Err(TaskError::NoTokenCount),
        };
        let context_length = server
            .context_length()
            .or(context)
            .unwrap_or(ASSUMED_SERVER_CONTEXT);
        Ok(ServerEngine {
            server,
            family,
            fallback,
            context_length,
            at_once: 1,
        })
    }

    /// Sends up to `n` answers of a job at once (give the server as many slots).
    pub fn with_answers_at_once(mut self, n: usize) -> Self {
        self.at_once = n.max(1);
        self
    }

    fn write_one(
        &self,
        turn: &ChatTurn,
        max_new: usize,
        repetition_penalty: f32,
        cancel: &Arc<AtomicBool>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Written, TaskError> {
        let room = self.context_length.saturating_sub(turn.tokens + 1);
        let opts = ChatOptions {
            max_tokens: max_new.min(room).max(1),
            repetition_penalty,
            repeat_last_n: REPEAT_LAST_N,
        };
        let answer = self
            .server
            .chat(&turn.system, &turn.user, &opts, cancel, on_text)?;
        let stop = match answer.finish {
            Finish::Stop => StopReason::Eos,
            Finish::Length => StopReason::MaxTokens,
            Finish::Cancelled => StopReason::Cancelled,
        };
        // The server's own clock where it says (no network, no queueing);
        // else ours: prefill until the first text, decode after it.
        Ok(match answer.server_times {
            Some(t) => Written {
                prompt_tokens: t.prompt_tokens,
                generated_tokens: t.generated_tokens,
                prefill_seconds: t.prefill.as_secs_f64(),
                decode_seconds: t.decode.as_secs_f64(),
                text: answer.text,
                stop,
            },
            None => {
                let total = answer.elapsed.as_secs_f64();
                let prefill = answer.first_text_after.map_or(total, |d| d.as_secs_f64());
                Written {
                    prompt_tokens: answer.prompt_tokens.unwrap_or(turn.tokens),
                    generated_tokens: answer
                        .completion_tokens
                        .unwrap_or_else(|| self.count(&answer.text)),
                    prefill_seconds: prefill,
                    decode_seconds: (total - prefill).max(0.0),
                    text: answer.text,
                    stop,
                }
            }
        })
    }

    pub fn server(&self) -> &Server {
        &self.server
    }
}

/// Counts with the server; a count that fails (the server went away) is
/// reported as the length in bytes, which never undercounts.
impl TokenCounter for ServerEngine {
    fn count(&self, text: &str) -> usize {
        match &self.fallback {
            Some(t) => t.count(text).unwrap_or(text.len()),
            None => self.server.count(text).unwrap_or(text.len()),
        }
    }

    /// The longest prefix of at most `head` tokens and the longest suffix of
    /// at most `tail`, found by bisection on character boundaries (a server
    /// counts; it does not cut).
    fn head_tail(&self, text: &str, head: usize, tail: usize) -> (String, String) {
        if let Some(t) = &self.fallback {
            return t.head_tail(text, head, tail);
        }
        let bounds = char_bounds(text);
        let h = largest(bounds.len() - 1, &|k| {
            self.count(&text[..bounds[k]]) <= head
        });
        let rest = &text[bounds[h]..];
        let rb = char_bounds(rest);
        let n = rb.len() - 1;
        let t = largest(n, &|k| self.count(&rest[rb[n - k]..]) <= tail);
        (text[..bounds[h]].to_string(), rest[rb[n - t]..].to_string())
    }
}

/// Byte offsets of every character boundary of `text`, its end included.
fn char_bounds(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect()
}

/// The largest `k` in `0..=n` with `fits(k)`, for `fits` true at 0 and
/// monotone (true up to some `k`, false after): a bisection.
fn largest(n: usize, fits: &dyn Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Tokens a chat template adds around the system and user turns (role
/// markers, separators): a generous bound for ChatML, Llama 3, Gemma, Index.
const CHAT_MARKUP_TOKENS: usize = 16;

impl JobEngine for ServerEngine {
    fn device(&self) -> String {
        format!("server {}", self.server.config().root())
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn prompt_family(&self) -> Result<PromptFamily, TaskError> {
        Ok(self.family)
    }

    fn counter(&self) -> &dyn TokenCounter {
        self
    }

    fn exact_counts(&self) -> bool {
        self.fallback.is_none()
    }

    fn turn(&self, system: &str, user: &str) -> Result<ChatTurn, TaskError> {
        let tokens = self.count(system) + self.count(user) + CHAT_MARKUP_TOKENS;
        let mut identity = Vec::with_capacity(system.len() + user.len() + 1);
        identity.extend_from_slice(system.as_bytes());
        identity.push(0);
        identity.extend_from_slice(user.as_bytes());
        Ok(ChatTurn {
            system: system.to_string(),
            user: user.to_string(),
            ids: None,
            tokens,
            identity,
        })
    }

    fn write(
        &mut self,
        turn: &ChatTurn,
        max_new: usize,
        repetition_penalty: f32,
        cancel: &Arc<AtomicBool>,
        on_text: &mut dyn FnMut(&str),
        _on_prefill: &mut dyn FnMut(Progress),
    ) -> Result<Written, TaskError> {
        self.write_one(turn, max_new, repetition_penalty, cancel, on_text)
    }

    fn answers_at_once(&self) -> usize {
        self.at_once
    }

    /// One stream per answer, each on its own thread; the server batches
    /// them in its slots. Their text comes back to this thread, in the order
    /// it arrives. A cancel closes every stream.
    fn write_many(
        &self,
        turns: &[(&ChatTurn, usize)],
        repetition_penalty: f32,
        cancel: &Arc<AtomicBool>,
        on_text: &mut dyn FnMut(usize, &str),
    ) -> Vec<Result<Written, TaskError>> {
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel::<(usize, String)>();
            let handles: Vec<_> = turns
                .iter()
                .enumerate()
                .map(|(k, &(turn, max_new))| {
                    let tx = tx.clone();
                    s.spawn(move || {
                        self.write_one(turn, max_new, repetition_penalty, cancel, &mut |t| {
                            let _ = tx.send((k, t.to_string()));
                        })
                    })
                })
                .collect();
            drop(tx);
            // Ends when every stream has ended (its sender dropped).
            for (k, text) in rx {
                on_text(k, &text);
            }
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    }
}
