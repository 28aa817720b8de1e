//! Document + model + task -> Plan: how the document meets the context.
//!
//! Strategies: `whole` (prompt + document + reserved output fit), `map-reduce`
//! (chunks cut on block boundaries — tables only between rows — each
//! summarised, then the partial summaries reduced), `head-tail` (keep the first
//! and last halves of the allowed prompt, drop the middle: the rule OpenCompass
//! adopted for long-context evaluation). Nothing is truncated silently: a plan
//! that drops text says which pages.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ingest::{self, Block, BlockKind, Document, IngestError};
use crate::model::{self, ModelError, ModelInfo, TextTokenizer};
use crate::prompt::{self, Lang, Prompt, PromptFamily, TaskSpec};

/// Tokens reserved for a whole-document summary.
pub const DEFAULT_OUTPUT_RESERVE: usize = 1024;
/// Tokens reserved for each map step's partial summary.
pub const MAP_OUTPUT_RESERVE: usize = 512;
/// Tokens for the label a reduce pass puts before each partial summary
/// ("Part 3 of 9 (pages 12–17):").
pub const REDUCE_LABEL_TOKENS: usize = 16;
/// Source tokens per translation batch: small enough that a 135M model keeps
/// the block markers straight, large enough to keep context.
pub const TRANSLATE_BATCH_TOKENS: usize = 384;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("the model's context ({context} tokens) is too small for the instructions and the answer ({needed} tokens)")]
    ContextTooSmall { context: usize, needed: usize },
    #[error("the document has no text to work on")]
    EmptyDocument,
}

/// Token budget of one document against one model's context.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Budget {
    /// Tokens of the document text, counted with the model's tokenizer.
    pub document_tokens: usize,
    /// Tokens of the instruction and chat markup around the document.
    pub prompt_overhead: usize,
    /// Tokens kept free for the answer.
    pub output_reserve: usize,
    /// The context the plan is made for (the model's, unless overridden).
    pub context_length: usize,
    /// document_tokens + prompt_overhead + output_reserve.
    pub total_tokens: usize,
    /// Whether total_tokens fits in context_length.
    pub fits: bool,
}

impl Budget {
    pub fn new(
        document_tokens: usize,
        prompt_overhead: usize,
        output_reserve: usize,
        context_length: usize,
    ) -> Self {
        let total_tokens = document_tokens + prompt_overhead + output_reserve;
        Self {
            document_tokens,
            prompt_overhead,
            output_reserve,
            context_length,
            total_tokens,
            fits: total_tokens <= context_length,
        }
    }
}

/// Counting (and cutting) text in tokens. The real implementation is the
/// model's tokenizer; tests may use a simpler one.
pub trait TokenCounter {
    fn count(&self, text: &str) -> usize;
    /// The first `head` and last `tail` tokens of `text`, as text.
    fn head_tail(&self, text: &str, head: usize, tail: usize) -> (String, String);
}

impl TokenCounter for TextTokenizer {
    fn count(&self, text: &str) -> usize {
        // Counting cannot fail for valid UTF-8 with a loaded vocabulary; a
        // failure would surface at run time with the real error.
        TextTokenizer::count(self, text).unwrap_or(0)
    }

    fn head_tail(&self, text: &str, head: usize, tail: usize) -> (String, String) {
        let ids = self.encode(text, false).unwrap_or_default();
        let head = head.min(ids.len());
        let tail = tail.min(ids.len() - head);
        let h = self.decode(&ids[..head]).unwrap_or_default();
        let t = self.decode(&ids[ids.len() - tail..]).unwrap_or_default();
        (h, t)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Whole,
    MapReduce,
    HeadTail,
    /// Translation: blocks in batches, each a pass.
    Batched,
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "whole" => Ok(Strategy::Whole),
            "map-reduce" | "mapreduce" => Ok(Strategy::MapReduce),
            "head-tail" | "headtail" => Ok(Strategy::HeadTail),
            other => Err(format!(
                "unknown strategy '{other}' (use whole, map-reduce or head-tail)"
            )),
        }
    }
}

/// Options the user (or a test) may set; defaults follow the design.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanOptions {
    pub task: TaskSpec,
    /// `None`: whole when it fits, else map-reduce.
    pub strategy: Option<Strategy>,
    /// Use a smaller context than the model's (e.g. to save memory).
    pub context_override: Option<usize>,
    pub output_reserve: usize,
    pub map_output_reserve: usize,
    pub translate_batch_tokens: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            task: TaskSpec::default(),
            strategy: None,
            context_override: None,
            output_reserve: DEFAULT_OUTPUT_RESERVE,
            map_output_reserve: MAP_OUTPUT_RESERVE,
            translate_batch_tokens: TRANSLATE_BATCH_TOKENS,
        }
    }
}

/// A run of consecutive blocks (or pieces of one long block) read in one pass.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chunk {
    pub index: usize,
    /// First and last block indices (inclusive) that this chunk covers.
    pub first_block: usize,
    pub last_block: usize,
    /// Page range, for paged documents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<(u32, u32)>,
    pub tokens: usize,
    /// The text the model reads for this chunk.
    pub text: String,
    /// Where each block (or piece of a long block) lies in `text`, so a
    /// translation can be realigned to its source blocks one to one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<ChunkPart>,
}

/// One block, or one piece of a block too long for a chunk, inside a chunk's text.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkPart {
    pub block: usize,
    /// Byte range in `Chunk::text`.
    pub start: usize,
    pub end: usize,
}

impl Chunk {
    /// The text of one part.
    pub fn part_text(&self, part: &ChunkPart) -> &str {
        &self.text[part.start..part.end]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PassKind {
    Whole,
    Map,
    Reduce,
    HeadTail,
    Translate,
}

/// One model call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pass {
    pub index: usize,
    pub kind: PassKind,
    /// The chunk this pass reads (map, whole, head-tail, translate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<usize>,
    /// Prompt tokens (upper bound for reduce passes, whose input is produced at run time).
    pub input_tokens: usize,
    pub max_output_tokens: usize,
    /// Reduce passes: the passes whose outputs this one combines, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<usize>,
    /// Map passes: tokens reserved for the key figures carried from earlier parts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub carry_tokens: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What a head-tail plan leaves out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dropped {
    pub tokens: usize,
    pub first_block: usize,
    pub last_block: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<(u32, u32)>,
}

/// Measured speed of the model on this machine.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Speed {
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub task: TaskSpec,
    pub strategy: Strategy,
    pub budget: Budget,
    pub chunks: Vec<Chunk>,
    pub passes: Vec<Pass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<Dropped>,
    /// Upper-bound time on this machine (every pass writing its full output),
    /// when the model's speed has been measured here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_seconds: Option<f64>,
    /// Counted with a stand-in for the model's tokenizer (a server without a
    /// tokenize endpoint): the token counts are estimates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approximate: bool,
}

impl Plan {
    /// The most positions one pass holds (its prompt and its whole answer):
    /// what the KV cache must have room for.
    pub fn max_pass_tokens(&self) -> usize {
        self.passes
            .iter()
            .map(|p| p.input_tokens + p.max_output_tokens)
            .max()
            .unwrap_or(0)
    }

    /// Fill in `estimated_seconds` from a measured speed.
    pub fn with_speed(mut self, speed: Option<Speed>) -> Self {
        self.estimated_seconds = speed.map(|s| {
            self.passes
                .iter()
                .map(|p| {
                    p.input_tokens as f64 / s.prefill_tokens_per_s.max(1e-3)
                        + p.max_output_tokens as f64 / s.decode_tokens_per_s.max(1e-3)
                })
                .sum()
        });
        self
    }
}

/// The prompt the whole-document pass of `task` uses.
pub fn main_prompt(family: PromptFamily, task: TaskSpec) -> Prompt {
    match task {
        TaskSpec::Summarize { lang, mode } => prompt::summary(family, lang, mode),
        TaskSpec::Translate { to } => prompt::translate(family, to),
    }
}

/// Count `doc` against the model's context for the default summary prompt
/// (what the token meter shows).
pub fn budget(
    doc: &Document,
    info: &ModelInfo,
    tokenizer: &TextTokenizer,
) -> Result<Budget, ModelError> {
    let family = PromptFamily::of_model(info);
    let p = main_prompt(family, TaskSpec::default());
    let count = |s: &str| tokenizer.count(s);
    let mut overhead = prompt::CHAT_MARKUP_MARGIN;
    for part in p.parts() {
        overhead += count(part)?;
    }
    Ok(Budget::new(
        count(&doc.plain_text())?,
        overhead,
        DEFAULT_OUTPUT_RESERVE,
        info.context_length,
    ))
}

/// Make the plan for `doc` with `opts`, counting with `tok`.
pub fn make_plan(
    doc: &Document,
    family: PromptFamily,
    model_context: usize,
    tok: &dyn TokenCounter,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let context = opts.context_override.unwrap_or(model_context);
    // A small context cannot hold a long answer: cap the reserves so that at
    // least three quarters of it stays for the document.
    let opts = &PlanOptions {
        output_reserve: opts.output_reserve.min(context / 4),
        map_output_reserve: opts.map_output_reserve.min(context / 8),
        ..opts.clone()
    };
    let count = |s: &str| tok.count(s);
    let text = doc.plain_text();
    if text.trim().is_empty() {
        return Err(PlanError::EmptyDocument);
    }
    match opts.task {
        TaskSpec::Translate { to } => plan_translation(doc, family, context, tok, opts, to),
        TaskSpec::Summarize { lang, .. } => {
            let p = main_prompt(family, opts.task);
            let overhead = prompt::overhead(&p, &count);
            let budget = Budget::new(count(&text), overhead, opts.output_reserve, context);
            let allowed = context
                .checked_sub(overhead + opts.output_reserve)
                .filter(|a| *a >= 64)
                .ok_or(PlanError::ContextTooSmall {
                    context,
                    needed: overhead + opts.output_reserve + 64,
                })?;
            let strategy = opts.strategy.unwrap_or(if budget.fits {
                Strategy::Whole
            } else {
                Strategy::MapReduce
            });
            match strategy {
                Strategy::Whole | Strategy::Batched => {
                    let chunk = whole_chunk(doc, text, budget.document_tokens);
                    let pass = Pass {
                        index: 0,
                        kind: PassKind::Whole,
                        chunk: Some(0),
                        input_tokens: overhead + budget.document_tokens,
                        max_output_tokens: opts.output_reserve,
                        inputs: Vec::new(),
                        carry_tokens: 0,
                    };
                    Ok(plan(opts, Strategy::Whole, budget, vec![chunk], vec![pass]))
                }
                Strategy::HeadTail => Ok(plan_head_tail(doc, tok, opts, budget, allowed)),
                Strategy::MapReduce => {
                    plan_map_reduce(doc, family, context, tok, opts, budget, lang)
                }
            }
        }
    }
}

fn plan(
    opts: &PlanOptions,
    strategy: Strategy,
    budget: Budget,
    chunks: Vec<Chunk>,
    passes: Vec<Pass>,
) -> Plan {
    Plan {
        task: opts.task,
        strategy,
        budget,
        chunks,
        passes,
        dropped: None,
        estimated_seconds: None,
        approximate: false,
    }
}

fn whole_chunk(doc: &Document, text: String, tokens: usize) -> Chunk {
    let last = doc.blocks.len().saturating_sub(1);
    Chunk {
        index: 0,
        first_block: 0,
        last_block: last,
        pages: page_range(&doc.blocks, 0, last),
        tokens,
        parts: Vec::new(),
        text,
    }
}

fn page_range(blocks: &[Block], first: usize, last: usize) -> Option<(u32, u32)> {
    let pages: Vec<u32> = blocks
        .get(first..=last.min(blocks.len().saturating_sub(1)))?
        .iter()
        .filter_map(|b| b.page)
        .collect();
    Some((*pages.iter().min()?, *pages.iter().max()?))
}

fn plan_head_tail(
    doc: &Document,
    tok: &dyn TokenCounter,
    opts: &PlanOptions,
    budget: Budget,
    allowed: usize,
) -> Plan {
    let text = doc.plain_text();
    if budget.document_tokens <= allowed {
        let chunk = whole_chunk(doc, text, budget.document_tokens);
        let pass = Pass {
            index: 0,
            kind: PassKind::HeadTail,
            chunk: Some(0),
            input_tokens: budget.prompt_overhead + budget.document_tokens,
            max_output_tokens: opts.output_reserve,
            inputs: Vec::new(),
            carry_tokens: 0,
        };
        return plan(opts, Strategy::HeadTail, budget, vec![chunk], vec![pass]);
    }
    let head = allowed / 2;
    let tail = allowed - head;
    let (h, t) = tok.head_tail(&text, head, tail);
    let dropped_tokens = budget.document_tokens - head - tail;
    // Which blocks the cut falls in: walk cumulative character offsets.
    let (first_dropped, last_dropped) = dropped_blocks(&doc.blocks, h.len(), text.len() - t.len());
    let kept = format!("{h}\n\n[…]\n\n{t}");
    let chunk = Chunk {
        index: 0,
        first_block: 0,
        last_block: doc.blocks.len().saturating_sub(1),
        pages: page_range(&doc.blocks, 0, doc.blocks.len().saturating_sub(1)),
        tokens: head + tail,
        text: kept,
        parts: Vec::new(),
    };
    let pass = Pass {
        index: 0,
        kind: PassKind::HeadTail,
        chunk: Some(0),
        input_tokens: budget.prompt_overhead + head + tail,
        max_output_tokens: opts.output_reserve,
        inputs: Vec::new(),
        carry_tokens: 0,
    };
    let mut p = plan(opts, Strategy::HeadTail, budget, vec![chunk], vec![pass]);
    p.dropped = Some(Dropped {
        tokens: dropped_tokens,
        first_block: first_dropped,
        last_block: last_dropped,
        pages: page_range(&doc.blocks, first_dropped, last_dropped),
    });
    p
}

/// Blocks touched by the byte range `[from, to)` of the plain text.
fn dropped_blocks(blocks: &[Block], from: usize, to: usize) -> (usize, usize) {
    let mut start = 0usize;
    let (mut first, mut last) = (0, blocks.len().saturating_sub(1));
    let mut found_first = false;
    for (i, b) in blocks.iter().enumerate() {
        let end = start + b.text.len();
        if !found_first && end > from {
            first = i;
            found_first = true;
        }
        if start < to {
            last = i;
        }
        start = end + 2; // the blank line between blocks
    }
    (first, last.max(first))
}

/// A unit the chunker may not split: a whole block, or one piece of a block
/// too long for a chunk (paragraphs cut at sentence ends, tables at rows).
struct Piece {
    block: usize,
    text: String,
    tokens: usize,
}

fn pieces(doc: &Document, capacity: usize, tok: &dyn TokenCounter) -> Vec<Piece> {
    let mut out = Vec::new();
    for (i, b) in doc.blocks.iter().enumerate() {
        let tokens = tok.count(&b.text);
        if tokens <= capacity {
            out.push(Piece {
                block: i,
                text: b.text.clone(),
                tokens,
            });
            continue;
        }
        let units: Vec<String> = if b.kind == BlockKind::Table {
            b.text.lines().map(|l| format!("{l}\n")).collect()
        } else {
            split_sentences(&b.text)
        };
        let mut cur = String::new();
        let mut cur_tokens = 0;
        for u in units {
            let t = tok.count(&u);
            if cur_tokens + t > capacity && !cur.is_empty() {
                out.push(Piece {
                    block: i,
                    text: std::mem::take(&mut cur).trim_end().to_string(),
                    tokens: cur_tokens,
                });
                cur_tokens = 0;
            }
            // A single sentence longer than a chunk is cut by tokens as a last resort.
            if t > capacity {
                let mut rest = u;
                while tok.count(&rest) > capacity {
                    let (h, _) = tok.head_tail(&rest, capacity, 0);
                    if h.is_empty() {
                        break;
                    }
                    let cut = h.len().min(rest.len());
                    let cut = (0..=cut)
                        .rev()
                        .find(|c| rest.is_char_boundary(*c))
                        .unwrap_or(0);
                    if cut == 0 {
                        break;
                    }
                    out.push(Piece {
                        block: i,
                        text: rest[..cut].to_string(),
                        tokens: tok.count(&rest[..cut]),
                    });
                    rest = rest[cut..].to_string();
                }
                cur_tokens = tok.count(&rest);
                cur = rest;
                continue;
            }
            cur.push_str(&u);
            cur_tokens += t;
        }
        if !cur.trim().is_empty() {
            out.push(Piece {
                block: i,
                text: cur.trim_end().to_string(),
                tokens: cur_tokens,
            });
        }
    }
    out
}

/// Sentences with their trailing space kept, so joining them gives the text back.
fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        cur.push(c);
        let end = matches!(c, '。' | '！' | '？' | '；' | '\n')
            || (matches!(c, '.' | '!' | '?' | ';')
                && chars.peek().is_none_or(|n| n.is_whitespace()));
        if end {
            while let Some(n) = chars.peek().copied().filter(|n| *n == ' ') {
                cur.push(n);
                chars.next();
            }
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Pack pieces greedily into chunks of at most `capacity` tokens.
fn pack(doc: &Document, pieces: Vec<Piece>, capacity: usize) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut cur: Option<Chunk> = None;
    for p in pieces {
        let sep = 1; // the blank line between pieces is about one token
        let fits = cur
            .as_ref()
            .is_some_and(|c| c.tokens + sep + p.tokens <= capacity);
        if fits {
            let c = cur.as_mut().expect("checked above");
            c.text.push_str("\n\n");
            let start = c.text.len();
            c.text.push_str(&p.text);
            c.parts.push(ChunkPart {
                block: p.block,
                start,
                end: c.text.len(),
            });
            c.tokens += sep + p.tokens;
            c.last_block = p.block;
        } else {
            if let Some(c) = cur.take() {
                chunks.push(c);
            }
            cur = Some(Chunk {
                index: chunks.len(),
                first_block: p.block,
                last_block: p.block,
                pages: None,
                tokens: p.tokens,
                parts: vec![ChunkPart {
                    block: p.block,
                    start: 0,
                    end: p.text.len(),
                }],
                text: p.text,
            });
        }
    }
    chunks.extend(cur);
    for c in &mut chunks {
        c.pages = page_range(&doc.blocks, c.first_block, c.last_block);
    }
    chunks
}

fn plan_map_reduce(
    doc: &Document,
    family: PromptFamily,
    context: usize,
    tok: &dyn TokenCounter,
    opts: &PlanOptions,
    budget: Budget,
    lang: Lang,
) -> Result<Plan, PlanError> {
    let count = |s: &str| tok.count(s);
    // Overheads of the map prompt (with a worst-case part label) and the reduce prompt.
    let map_overhead = prompt::overhead(&prompt::map_part(family, lang, 999, 999), &count);
    let reduce_prompt = main_prompt(family, opts.task);
    let reduce_overhead = prompt::overhead(&reduce_prompt, &count);
    // Each partial summary must leave room for at least two of them in a
    // reduce pass, or the reduction would never converge.
    let reduce_room = context.saturating_sub(reduce_overhead + opts.output_reserve);
    let map_out = opts
        .map_output_reserve
        .min(reduce_room / 2 - REDUCE_LABEL_TOKENS.min(reduce_room / 2));
    if map_out < 32 {
        return Err(PlanError::ContextTooSmall {
            context,
            needed: reduce_overhead + opts.output_reserve + 64,
        });
    }
    // Room for the key figures carried forward from the previous part.
    let carry = map_out / 2;
    let capacity = context
        .checked_sub(map_overhead + map_out + carry)
        .filter(|c| *c >= 64)
        .ok_or(PlanError::ContextTooSmall {
            context,
            needed: map_overhead + map_out + carry + 64,
        })?;
    let chunks = pack(doc, pieces(doc, capacity, tok), capacity);
    let mut passes: Vec<Pass> = chunks
        .iter()
        .map(|c| Pass {
            index: c.index,
            kind: PassKind::Map,
            chunk: Some(c.index),
            input_tokens: map_overhead + carry + c.tokens,
            max_output_tokens: map_out,
            inputs: Vec::new(),
            carry_tokens: if c.index == 0 { 0 } else { carry },
        })
        .collect();
    // Reduce: partial summaries in groups that fit, level by level, until one
    // remains. Each reduce pass names the passes it reads, so the runner does
    // exactly what the plan shows.
    let per_group = (reduce_room / (map_out + REDUCE_LABEL_TOKENS)).max(2);
    let mut level: Vec<usize> = (0..chunks.len()).collect();
    loop {
        let groups: Vec<Vec<usize>> = level.chunks(per_group).map(|g| g.to_vec()).collect();
        let last_level = groups.len() <= 1;
        let mut next = Vec::new();
        for members in groups {
            next.push(passes.len());
            passes.push(Pass {
                index: passes.len(),
                kind: PassKind::Reduce,
                chunk: None,
                input_tokens: reduce_overhead + members.len() * (map_out + REDUCE_LABEL_TOKENS),
                max_output_tokens: if last_level {
                    opts.output_reserve
                } else {
                    map_out
                },
                inputs: members,
                carry_tokens: 0,
            });
        }
        if last_level {
            break;
        }
        level = next;
    }
    Ok(plan(opts, Strategy::MapReduce, budget, chunks, passes))
}

fn plan_translation(
    doc: &Document,
    family: PromptFamily,
    context: usize,
    tok: &dyn TokenCounter,
    opts: &PlanOptions,
    to: Lang,
) -> Result<Plan, PlanError> {
    let count = |s: &str| tok.count(s);
    let p = prompt::translate(family, to);
    let overhead = prompt::overhead(&p, &count);
    let text = doc.plain_text();
    // A translation writes about as many tokens as it reads (more for
    // English -> Chinese with byte-level vocabularies): reserve twice the input.
    let capacity = opts
        .translate_batch_tokens
        .min(context.saturating_sub(overhead) / 3);
    if capacity < 32 {
        return Err(PlanError::ContextTooSmall {
            context,
            needed: overhead + 96,
        });
    }
    let chunks = pack(doc, pieces(doc, capacity, tok), capacity);
    let passes = chunks
        .iter()
        .map(|c| Pass {
            index: c.index,
            kind: PassKind::Translate,
            chunk: Some(c.index),
            input_tokens: overhead + c.tokens,
            max_output_tokens: (c.tokens * 2 + 32).min(context - overhead - c.tokens),
            inputs: Vec::new(),
            carry_tokens: 0,
        })
        .collect();
    let doc_tokens = count(&text);
    let budget = Budget::new(doc_tokens, overhead, doc_tokens * 2, context);
    Ok(plan(opts, Strategy::Batched, budget, chunks, passes))
}

/// Everything the token meter shows, for one file and one model.
#[derive(Debug, Clone, Serialize)]
pub struct FilePlan {
    pub file: PathBuf,
    pub name: String,
    pub pages: Option<u32>,
    pub blocks: usize,
    pub characters: usize,
    pub model: ModelInfo,
    pub budget: Budget,
    /// Pages with no text layer (scans), which the budget does not cover.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub no_text_pages: Vec<u32>,
}

/// Extract `file`, load the tokenizer of `model` and count the budget.
pub fn plan_file(file: &Path, model_path: &Path) -> Result<(Document, FilePlan), PlanError> {
    let (doc, fp, _) = plan_file_with(file, model_path, None)?;
    Ok((doc, fp))
}

/// Like [`plan_file`], and with `opts` also the full plan of passes (what a
/// job with these options will run).
pub fn plan_file_with(
    file: &Path,
    model_path: &Path,
    opts: Option<&PlanOptions>,
) -> Result<(Document, FilePlan, Option<Plan>), PlanError> {
    let info = model::inspect(model_path)?;
    let tokenizer = model::load_tokenizer(model_path)?;
    let doc = ingest::extract(file)?;
    let budget = budget(&doc, &info, &tokenizer)?;
    let full = opts
        .map(|o| {
            make_plan(
                &doc,
                PromptFamily::of_model(&info),
                info.context_length,
                &tokenizer,
                o,
            )
        })
        .transpose()?;
    let plan = FilePlan {
        file: file.to_path_buf(),
        name: doc.name.clone(),
        pages: doc.pages,
        blocks: doc.blocks.len(),
        characters: doc.char_count(),
        model: info,
        budget,
        no_text_pages: doc.no_text_pages.clone(),
    };
    Ok((doc, plan, full))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Format;
    use crate::prompt::SummaryMode;

    /// One token per whitespace-separated word: enough to test the arithmetic.
    struct Words;
    impl TokenCounter for Words {
        fn count(&self, text: &str) -> usize {
            text.split_whitespace().count()
        }
        fn head_tail(&self, text: &str, head: usize, tail: usize) -> (String, String) {
            let w: Vec<&str> = text.split_whitespace().collect();
            let head = head.min(w.len());
            let tail = tail.min(w.len() - head);
            (w[..head].join(" "), w[w.len() - tail..].join(" "))
        }
    }

    fn doc(blocks: Vec<(BlockKind, String, u32)>) -> Document {
        Document {
            source: "t".into(),
            name: "t".into(),
            format: Format::Pdf,
            pages: blocks.iter().map(|b| b.2).max(),
            fallback_pages: Vec::new(),
            no_text_pages: Vec::new(),
            blocks: blocks
                .into_iter()
                .map(|(k, t, p)| {
                    let mut b = Block::new(k, t);
                    b.page = Some(p);
                    b
                })
                .collect(),
        }
    }

    fn words(n: usize, tag: &str) -> String {
        (0..n)
            .map(|i| format!("{tag}{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn summarize() -> PlanOptions {
        PlanOptions {
            task: TaskSpec::Summarize {
                lang: Lang::En,
                mode: SummaryMode::General,
            },
            ..Default::default()
        }
    }

    #[test]
    fn budget_fits_exactly_at_the_context() {
        let b = Budget::new(7000, 168, 1024, 8192);
        assert_eq!(b.total_tokens, 8192);
        assert!(b.fits);
        assert!(!Budget::new(7001, 168, 1024, 8192).fits);
    }

    #[test]
    fn short_document_is_one_whole_pass() {
        let d = doc(vec![(BlockKind::Paragraph, words(100, "w"), 1)]);
        let p = make_plan(&d, PromptFamily::Generic, 4096, &Words, &summarize()).unwrap();
        assert_eq!(p.strategy, Strategy::Whole);
        assert_eq!(p.passes.len(), 1);
        assert_eq!(p.budget.document_tokens, 100);
        assert!(p.dropped.is_none());
    }

    #[test]
    fn long_document_goes_map_reduce_on_block_boundaries() {
        let blocks = (0..40)
            .map(|i| {
                (
                    BlockKind::Paragraph,
                    words(100, &format!("b{i}_")),
                    i / 4 + 1,
                )
            })
            .collect();
        let d = doc(blocks);
        let p = make_plan(&d, PromptFamily::Generic, 2048, &Words, &summarize()).unwrap();
        assert_eq!(p.strategy, Strategy::MapReduce);
        assert!(!p.budget.fits);
        let maps = p.passes.iter().filter(|x| x.kind == PassKind::Map).count();
        assert_eq!(maps, p.chunks.len());
        assert!(maps >= 3, "{maps}");
        assert_eq!(p.passes.last().unwrap().kind, PassKind::Reduce);
        // Chunks cover every block once, in order, each within the context.
        let mut next = 0;
        for c in &p.chunks {
            assert_eq!(c.first_block, next);
            next = c.last_block + 1;
            assert!(c.text.starts_with(&format!("b{}_0", c.first_block)));
        }
        assert_eq!(next, 40);
        for pass in &p.passes {
            assert!(
                pass.input_tokens + pass.max_output_tokens <= 2048,
                "{pass:?}"
            );
        }
        assert_eq!(p.chunks[0].pages.unwrap().0, 1);
    }

    #[test]
    fn a_table_too_long_for_a_chunk_is_cut_between_rows() {
        let rows: Vec<String> = (0..300)
            .map(|r| format!("Revenue\t{r}\t{}", r * 2))
            .collect();
        let d = doc(vec![(BlockKind::Table, rows.join("\n"), 1)]);
        let opts = PlanOptions {
            context_override: Some(1024),
            ..summarize()
        };
        let p = make_plan(&d, PromptFamily::Generic, 8192, &Words, &opts).unwrap();
        assert_eq!(p.strategy, Strategy::MapReduce);
        assert!(p.chunks.len() > 1);
        for c in &p.chunks {
            for line in c.text.lines() {
                assert!(line.starts_with("Revenue\t"), "row cut: {line:?}");
                assert_eq!(line.split('\t').count(), 3, "row cut: {line:?}");
            }
        }
    }

    #[test]
    fn head_tail_keeps_both_ends_and_says_what_it_dropped() {
        let blocks = (0..10)
            .map(|i| (BlockKind::Paragraph, words(200, &format!("p{i}_")), i + 1))
            .collect();
        let d = doc(blocks);
        let opts = PlanOptions {
            strategy: Some(Strategy::HeadTail),
            ..summarize()
        };
        let p = make_plan(&d, PromptFamily::Generic, 2048, &Words, &opts).unwrap();
        let dropped = p.dropped.as_ref().expect("middle dropped");
        let kept = p.chunks[0].tokens;
        assert_eq!(kept + dropped.tokens, 2000);
        assert!(p.chunks[0].text.starts_with("p0_0"));
        assert!(p.chunks[0].text.ends_with("p9_199"));
        assert!(dropped.first_block > 0 && dropped.last_block < 9);
        let (a, b) = dropped.pages.unwrap();
        assert!(a >= 1 && b <= 10 && a <= b);
        assert!(p.passes[0].input_tokens + p.passes[0].max_output_tokens <= 2048);
    }

    #[test]
    fn translation_batches_blocks_and_estimates_time() {
        let blocks = (0..12)
            .map(|i| (BlockKind::Paragraph, words(100, &format!("t{i}_")), 1))
            .collect();
        let d = doc(blocks);
        let opts = PlanOptions {
            task: TaskSpec::Translate { to: Lang::Zh },
            ..Default::default()
        };
        let p = make_plan(&d, PromptFamily::Generic, 8192, &Words, &opts).unwrap();
        assert_eq!(p.strategy, Strategy::Batched);
        assert_eq!(p.chunks.len(), 4); // 3 blocks of 100 words per 384-token batch
        let p = p.with_speed(Some(Speed {
            prefill_tokens_per_s: 100.0,
            decode_tokens_per_s: 10.0,
        }));
        assert!(p.estimated_seconds.unwrap() > 0.0);
    }

    #[test]
    fn sentences_split_and_rejoin() {
        let s = "Revenue rose 16%. Net loss was RMB608.1 million! 毛利率为29.9%。下降了";
        assert_eq!(split_sentences(s).concat(), s);
        assert_eq!(split_sentences(s).len(), 4);
    }
}
