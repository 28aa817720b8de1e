//! The generation loop: chunked prefill with progress, then token by token
//! with sampling, streaming text, stop conditions and cancel.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::device::{free_memory, human_bytes};
use super::llama::Llama;
use super::load::Engine;
use super::template::ChatMessage;
use super::{ModelError, TextTokenizer};

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Always the most likely token (ties: the lowest id).
    Greedy,
    /// Temperature, then top-k, then top-p (nucleus), then a seeded draw.
    Sample {
        temperature: f64,
        top_k: Option<usize>,
        top_p: Option<f64>,
        seed: u64,
    },
}

/// Everything that shapes one generation.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    /// Above 1 makes tokens already in the window less likely (1.0: off). The
    /// HF/llama.cpp rule: positive logits divided, negative multiplied.
    pub repetition_penalty: f32,
    /// The window for the penalty: the last N tokens of prompt + answer
    /// (llama.cpp's default 64); 0 means all of them.
    pub repeat_last_n: usize,
    /// Generation stops before any of these strings; it is not emitted.
    pub stop: Vec<String>,
    /// Prompt tokens per prefill step.
    pub chunk_size: usize,
    /// Set from another thread to stop within one chunk or token.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_new_tokens: 256,
            sampling: Sampling::Greedy,
            repetition_penalty: 1.0,
            repeat_last_n: 64,
            stop: Vec::new(),
            chunk_size: 512,
            cancel: None,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    Eos,
    /// A stop string appeared.
    Stop,
    MaxTokens,
    Cancelled,
    /// The model's context is full.
    ContextFull,
}

/// Prefill progress: prompt tokens processed so far out of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerateStats {
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
    /// Prompt tokens per second of prefill.
    pub prefill_tokens_per_second: f64,
    /// Decode steps (one token each) per second.
    pub decode_tokens_per_second: f64,
    pub stop_reason: StopReason,
}

/// The answer: its text (stop string excluded), its ids and the figures.
#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<u32>,
    pub stats: GenerateStats,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt has {prompt} tokens but the model's context holds {context}; shorten it")]
    PromptTooLong { prompt: usize, context: usize },
    #[error("the model failed while generating: {0}")]
    Compute(#[from] candle_core::Error),
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl Engine {
    /// Prompt ids for a chat turn in this model's template.
    pub fn chat_prompt(&self, system: Option<&str>, user: &str) -> Result<Vec<u32>, ModelError> {
        let mut msgs = Vec::new();
        if let Some(s) = system {
            msgs.push(ChatMessage::system(s));
        }
        msgs.push(ChatMessage::user(user));
        self.template.render(&self.tokenizer, &msgs)
    }

    /// Generate from prompt ids; see [`generate`].
    pub fn generate(
        &mut self,
        prompt: &[u32],
        opts: &GenerateOptions,
        on_text: impl FnMut(&str),
        on_progress: impl FnMut(Progress),
    ) -> Result<Generation, GenerateError> {
        let total = (prompt.len() + opts.max_new_tokens).min(self.model.max_positions());
        self.ensure_room(total)?;
        generate(
            &mut self.model,
            &self.tokenizer,
            prompt,
            opts,
            on_text,
            on_progress,
        )
    }
}

impl Engine {
    /// The KV cache is sized to the runs made, not the trained context: a run
    /// longer than any before grows it, so its memory is checked first (the
    /// load-time check covered `memory.tokens` positions).
    fn ensure_room(&mut self, total: usize) -> Result<(), ModelError> {
        let have = self.model.cache_capacity().max(self.memory.tokens);
        if total <= have {
            return Ok(());
        }
        let cfg = self.model.config();
        let per_token = cfg.kv_bytes_per_token(self.model.options().kv_type);
        let extra = per_token * (total - self.model.cache_capacity()) as u64;
        if let Some(available) = free_memory(self.model.device()) {
            if extra > available {
                return Err(ModelError::OutOfMemory {
                    path: self.path.clone(),
                    detail: format!(
                        "a run of {total} tokens needs {} more for its KV cache but only {} is \
                         available; use a shorter context (fewer tokens per pass) or a \
                         smaller KV cache",
                        human_bytes(extra),
                        human_bytes(available)
                    ),
                });
            }
        }
        self.memory.kv_cache = per_token * total as u64;
        self.memory.total = self.memory.weights + self.memory.kv_cache + self.memory.working;
        self.memory.tokens = total;
        Ok(())
    }
}

/// Runs the prompt through `model` in chunks (reporting progress), then
/// generates up to `opts.max_new_tokens`, streaming text pieces to
/// `on_text` as soon as they are whole characters and cannot be the start of
/// a stop string. Cancelling returns normally with `StopReason::Cancelled`
/// and whatever text was produced.
pub fn generate(
    model: &mut Llama,
    tok: &TextTokenizer,
    prompt: &[u32],
    opts: &GenerateOptions,
    mut on_text: impl FnMut(&str),
    mut on_progress: impl FnMut(Progress),
) -> Result<Generation, GenerateError> {
    if prompt.is_empty() {
        return Err(GenerateError::EmptyPrompt);
    }
    let max_pos = model.max_positions();
    if prompt.len() >= max_pos {
        return Err(GenerateError::PromptTooLong {
            prompt: prompt.len(),
            context: max_pos,
        });
    }
    let cancelled = || {
        opts.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    };
    let total = (prompt.len() + opts.max_new_tokens).min(max_pos);
    model.begin(total)?;

    let mut stats = GenerateStats {
        prompt_tokens: prompt.len(),
        generated_tokens: 0,
        prefill_seconds: 0.0,
        decode_seconds: 0.0,
        prefill_tokens_per_second: 0.0,
        decode_tokens_per_second: 0.0,
        stop_reason: StopReason::MaxTokens,
    };
    let mut out = TextOut::new(&opts.stop);
    let mut generated: Vec<u32> = Vec::new();

    // Prefill.
    let t0 = Instant::now();
    let chunk = opts.chunk_size.max(1);
    let mut logits = None;
    let mut pos = 0;
    on_progress(Progress {
        done: 0,
        total: prompt.len(),
    });
    for piece in prompt.chunks(chunk) {
        if cancelled() {
            stats.stop_reason = StopReason::Cancelled;
            return Ok(finish(out, generated, stats));
        }
        logits = Some(model.forward(piece, pos)?);
        pos += piece.len();
        on_progress(Progress {
            done: pos,
            total: prompt.len(),
        });
    }
    stats.prefill_seconds = t0.elapsed().as_secs_f64();
    stats.prefill_tokens_per_second = rate(prompt.len(), stats.prefill_seconds);
    let mut logits = logits.expect("the prompt is not empty").to_vec1::<f32>()?;

    // Decode.
    let t1 = Instant::now();
    let mut steps = 0usize;
    let mut sampler = Sampler::new(opts.sampling);
    let mut decoder = tok.stream_decoder();
    let mut history: Vec<u32> = prompt.to_vec();
    stats.stop_reason = loop {
        if opts.max_new_tokens == 0 {
            break StopReason::MaxTokens;
        }
        apply_repetition_penalty(
            &mut logits,
            &history,
            opts.repetition_penalty,
            opts.repeat_last_n,
        );
        let next = sampler.next(&mut logits);
        if tok.is_eog(next) {
            break StopReason::Eos;
        }
        generated.push(next);
        history.push(next);
        let piece = decoder.step(next)?;
        if out.push(&piece, &mut on_text) {
            break StopReason::Stop;
        }
        if generated.len() >= opts.max_new_tokens {
            break StopReason::MaxTokens;
        }
        if pos >= max_pos {
            break StopReason::ContextFull;
        }
        if cancelled() {
            break StopReason::Cancelled;
        }
        logits = model.forward(&[next], pos)?.to_vec1::<f32>()?;
        pos += 1;
        steps += 1;
    };
    if stats.stop_reason != StopReason::Stop {
        let tail = decoder.finish()?;
        if out.push(&tail, &mut on_text) {
            stats.stop_reason = StopReason::Stop;
        } else {
            out.flush(&mut on_text);
        }
    }
    stats.decode_seconds = t1.elapsed().as_secs_f64();
    stats.decode_tokens_per_second = rate(steps, stats.decode_seconds);
    Ok(finish(out, generated, stats))
}

fn finish(out: TextOut, tokens: Vec<u32>, mut stats: GenerateStats) -> Generation {
    stats.generated_tokens = tokens.len();
    Generation {
        text: out.text,
        tokens,
        stats,
    }
}

fn rate(n: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// Generated text with stop strings: streams what is safe, holds back a
/// tail that could still grow into a stop string.
struct TextOut<'a> {
    stop: &'a [String],
    text: String,
    emitted: usize,
}

impl<'a> TextOut<'a> {
    fn new(stop: &'a [String]) -> Self {
        Self {
            stop,
            text: String::new(),
            emitted: 0,
        }
    }

    /// Adds a piece; returns true when a stop string completed (the text is
    /// cut before it and everything before it has been emitted).
    fn push(&mut self, piece: &str, on_text: &mut impl FnMut(&str)) -> bool {
        if piece.is_empty() {
            return false;
        }
        let search_from = self.emitted;
        self.text.push_str(piece);
        let hit = self
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| {
                self.text[search_from..]
                    .find(s.as_str())
                    .map(|i| search_from + i)
            })
            .min();
        if let Some(cut) = hit {
            self.text.truncate(cut);
            self.flush(on_text);
            return true;
        }
        let safe = self.text.len() - self.held_back();
        if safe > self.emitted {
            on_text(&self.text[self.emitted..safe]);
            self.emitted = safe;
        }
        false
    }

    /// Bytes at the end of the text that are a proper prefix of a stop string.
    fn held_back(&self) -> usize {
        let mut hold = 0;
        for s in self.stop {
            for (i, _) in s.char_indices().skip(1) {
                if i > hold && self.text[self.emitted..].ends_with(&s[..i]) {
                    hold = i;
                }
            }
        }
        hold
    }

    fn flush(&mut self, on_text: &mut impl FnMut(&str)) {
        if self.text.len() > self.emitted {
            on_text(&self.text[self.emitted..]);
            self.emitted = self.text.len();
        }
    }
}

/// Penalise every distinct token of the last `last_n` of `history` (all of
/// it when `last_n` is 0).
fn apply_repetition_penalty(logits: &mut [f32], history: &[u32], penalty: f32, last_n: usize) {
    if penalty == 1.0 || history.is_empty() {
        return;
    }
    let window = if last_n == 0 {
        history
    } else {
        &history[history.len().saturating_sub(last_n)..]
    };
    let mut seen = std::collections::HashSet::new();
    for &id in window {
        if !seen.insert(id) {
            continue;
        }
        if let Some(l) = logits.get_mut(id as usize) {
            *l = if *l >= 0.0 {
                *l / penalty
            } else {
                *l * penalty
            };
        }
    }
}

/// Token choice with its own small seeded generator (SplitMix64), so a
/// seed gives the same answer on every platform.
struct Sampler {
    sampling: Sampling,
    state: u64,
}

impl Sampler {
    fn new(sampling: Sampling) -> Self {
        let seed = match sampling {
            Sampling::Sample { seed, .. } => seed,
            Sampling::Greedy => 0,
        };
        Self {
            sampling,
            state: seed,
        }
    }

    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self, logits: &mut [f32]) -> u32 {
        let (temperature, top_k, top_p) = match self.sampling {
            Sampling::Greedy => return argmax(logits),
            Sampling::Sample {
                temperature,
                top_k,
                top_p,
                ..
            } => (temperature, top_k, top_p),
        };
        if temperature <= 0.0 || top_k == Some(1) {
            return argmax(logits);
        }
        let mut cand: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, &l)| (i as u32, l as f64 / temperature))
            .collect();
        if cand.is_empty() {
            return argmax(logits);
        }
        cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if let Some(k) = top_k.filter(|&k| k > 0) {
            cand.truncate(k);
        }
        let max = cand[0].1;
        let mut sum = 0.0;
        for c in cand.iter_mut() {
            c.1 = (c.1 - max).exp();
            sum += c.1;
        }
        for c in cand.iter_mut() {
            c.1 /= sum;
        }
        if let Some(p) = top_p.filter(|&p| p > 0.0 && p < 1.0) {
            let mut acc = 0.0;
            let mut keep = cand.len();
            for (i, c) in cand.iter().enumerate() {
                acc += c.1;
                if acc >= p {
                    keep = i + 1;
                    break;
                }
            }
            cand.truncate(keep);
            let s: f64 = cand.iter().map(|c| c.1).sum();
            for c in cand.iter_mut() {
                c.1 /= s;
            }
        }
        let mut r = self.uniform();
        for c in &cand {
            if r < c.1 {
                return c.0;
            }
            r -= c.1;
        }
        cand[cand.len() - 1].0
    }
}

/// Index of the largest logit; the first on ties (as llama.cpp's top-k 1).
fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.0, 3.0, 1.0, 3.0]), 1);
        assert_eq!(argmax(&[5.0]), 0);
    }

    #[test]
    fn repetition_penalty_follows_the_hf_rule() {
        let mut l = vec![2.0, -2.0, 1.0, 4.0];
        apply_repetition_penalty(&mut l, &[0, 1, 1, 3], 2.0, 3);
        // Window is [1, 1, 3]: token 0 untouched, 1 negative x2 once, 3 halved.
        assert_eq!(l, vec![2.0, -4.0, 1.0, 2.0]);
        let mut l = vec![2.0, -2.0];
        apply_repetition_penalty(&mut l, &[0, 1], 2.0, 0);
        assert_eq!(l, vec![1.0, -4.0]);
    }

    #[test]
    fn sampling_respects_top_k_top_p_and_seed() {
        let logits = vec![1.0f32, 5.0, 4.9, -3.0, 0.0];
        let s = |k, p, seed| Sampling::Sample {
            temperature: 1.0,
            top_k: k,
            top_p: p,
            seed,
        };
        // top-k 2: only ids 1 and 2 ever come out, and both do.
        let mut sm = Sampler::new(s(Some(2), None, 7));
        let draws: Vec<u32> = (0..200).map(|_| sm.next(&mut logits.clone())).collect();
        assert!(draws.iter().all(|&d| d == 1 || d == 2));
        assert!(draws.contains(&1) && draws.contains(&2));
        // top-p small: only the best token survives.
        let mut sm = Sampler::new(s(None, Some(0.3), 7));
        assert!((0..50).all(|_| sm.next(&mut logits.clone()) == 1));
        // Same seed, same draws.
        let mut a = Sampler::new(s(None, None, 42));
        let mut b = Sampler::new(s(None, None, 42));
        let da: Vec<u32> = (0..30).map(|_| a.next(&mut logits.clone())).collect();
        let db: Vec<u32> = (0..30).map(|_| b.next(&mut logits.clone())).collect();
        assert_eq!(da, db);
        // Temperature 0 is greedy.
        let mut g = Sampler::new(Sampling::Sample {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 1,
        });
        assert_eq!(g.next(&mut logits.clone()), 1);
    }

    #[test]
    fn stop_strings_are_cut_and_never_streamed() {
        let stop = vec!["</s>".to_string(), "STOP".to_string()];
        let mut out = TextOut::new(&stop);
        let mut seen = String::new();
        let mut cb = |s: &str| seen.push_str(s);
        assert!(!out.push("Hello <", &mut cb));
        assert!(!out.push("/", &mut cb));
        assert!(out.push("s> more", &mut cb));
        assert_eq!(out.text, "Hello ");
        assert_eq!(seen, "Hello ");
    }

    #[test]
    fn held_back_text_is_released_when_it_is_not_a_stop() {
        let stop = vec!["STOP".to_string()];
        let mut out = TextOut::new(&stop);
        let mut seen = Vec::new();
        let mut cb = |s: &str| seen.push(s.to_string());
        assert!(!out.push("ab ST", &mut cb));
        assert!(!out.push("ep é", &mut cb));
        out.flush(&mut cb);
        assert_eq!(seen.concat(), "ab STep é");
        assert_eq!(seen[0], "ab ");
    }
}
