//! GGUF tokenizer metadata -> `tokenizers::Tokenizer` that tokenizes exactly as
//! llama.cpp does (llama-vocab.cpp). candle's `TokenizerFromGguf` picks the
//! wrong pre-tokenizer for SmolLM2 and has no SentencePiece support, so the
//! vocabulary is rebuilt here from `tokenizer.ggml.*`.
//!
//! * `gpt2`: byte-level BPE; the words come from the regexes llama.cpp uses
//!   for `tokenizer.ggml.pre`, applied one after the other.
//! * `llama`: SentencePiece BPE as llama.cpp runs it: spaces become `▁`, a
//!   dummy `▁` prefix starts every text fragment, the adjacent pair whose
//!   merged piece has the highest score merges first, and leftovers fall back
//!   to `<0xNN>` byte tokens.
use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior,
    Tokenizer,
};

use super::ModelError;

/// llama.cpp token types (`tokenizer.ggml.token_type`).
const TOKEN_NORMAL: i64 = 1;
const TOKEN_UNKNOWN: i64 = 2;
const TOKEN_CONTROL: i64 = 3;
const TOKEN_USER_DEFINED: i64 = 4;
const TOKEN_BYTE: i64 = 6;

/// The GPT-2 word regex (llama.cpp `LLAMA_VOCAB_PRE_TYPE_GPT2`).
const RE_GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3 (numbers in groups of up to three digits).
const RE_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2 (single digits).
const RE_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How llama.cpp pre-tokenizes a `gpt2` vocabulary named by `tokenizer.ggml.pre`.
struct PreTokenizerSpec {
    regexes: Vec<&'static str>,
    /// A word that is itself in the vocabulary is one token (Llama 3).
    ignore_merges: bool,
}

/// The regexes llama.cpp applies for `pre`, or `None` for a name it does not
/// know here (refused rather than guessed: a wrong pre-tokenizer silently
/// changes every count).
fn pre_tokenizer_spec(pre: &str) -> Option<PreTokenizerSpec> {
    let (regexes, ignore_merges) =
        match pre {
            "default" => (
                vec![
                    r"[\p{P}\$\+<=>\^~\|]+",
                    RE_GPT2,
                    r"\p{N}+",
                    "[0-9][0-9][0-9]",
                ],
                false,
            ),
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" => (vec![RE_LLAMA3], true),
            "dbrx" | "smaug-bpe" => (vec![RE_LLAMA3], false),
            "qwen2" | "stablelm2" | "megrez" => (vec![RE_QWEN2], false),
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => (vec![r"\p{N}", RE_GPT2], false),
            "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" | "roberta-bpe" | "gigachat"
            | "jina-es" | "jina-de" | "jina-v1-en" | "jina-v2-es" | "jina-v2-de"
            | "jina-v2-code" => (vec![RE_GPT2], false),
            "falcon" => (
                vec![r"[\p{P}\$\+<=>\^~\|`]+", RE_GPT2, "[0-9][0-9][0-9]"],
                false,
            ),
            _ => return None,
        };
    Some(PreTokenizerSpec {
        regexes,
        ignore_merges,
    })
}

/// A tokenizer built from GGUF metadata plus the special ids llama.cpp uses.
pub(crate) struct GgufVocab {
    pub tokenizer: Tokenizer,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub add_bos: bool,
    /// Ids that end generation: EOS, EOT/EOM and the usual end-of-turn markers.
    pub eog_ids: Vec<u32>,
}

/// Typed access to the metadata, with errors that name the file and the key.
struct Meta<'a> {
    path: &'a Path,
    md: &'a HashMap<String, Value>,
}

impl<'a> Meta<'a> {
    fn err(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Tokenizer {
            path: self.path.to_path_buf(),
            reason: reason.into(),
        }
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, ModelError> {
        match self.md.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(self.err(format!(
                "`{key}` should be a string, found {:?}",
                v.value_type()
            ))),
        }
    }

    fn int(&self, key: &str) -> Result<Option<i64>, ModelError> {
        match self.md.get(key) {
            None => Ok(None),
            Some(v) => value_as_int(v).map(Some).ok_or_else(|| {
                self.err(format!(
                    "`{key}` should be an integer, found {:?}",
                    v.value_type()
                ))
            }),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ModelError> {
        match self.md.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => value_as_int(v).map(|i| Some(i != 0)).ok_or_else(|| {
                self.err(format!(
                    "`{key}` should be a boolean, found {:?}",
                    v.value_type()
                ))
            }),
        }
    }

    fn array(&self, key: &str) -> Result<Option<&'a [Value]>, ModelError> {
        match self.md.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a.as_slice())),
            Some(v) => Err(self.err(format!(
                "`{key}` should be an array, found {:?}",
                v.value_type()
            ))),
        }
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<&'a str>>, ModelError> {
        let Some(arr) = self.array(key)? else {
            return Ok(None);
        };
        arr.iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                v => Err(self.err(format!(
                    "`{key}` should hold strings, found {:?}",
                    v.value_type()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A token id key, ignored (as llama.cpp does) when out of range.
    fn token_id(&self, key: &str, n_tokens: usize) -> Result<Option<u32>, ModelError> {
        Ok(self
            .int(key)?
            .filter(|&id| id >= 0 && (id as usize) < n_tokens)
            .map(|id| id as u32))
    }
}

fn value_as_int(v: &Value) -> Option<i64> {
    Some(match v {
        Value::U8(x) => *x as i64,
        Value::I8(x) => *x as i64,
        Value::U16(x) => *x as i64,
        Value::I16(x) => *x as i64,
        Value::U32(x) => *x as i64,
        Value::I32(x) => *x as i64,
        Value::U64(x) => i64::try_from(*x).ok()?,
        Value::I64(x) => *x,
        _ => return None,
    })
}

fn value_as_f32(v: &Value) -> Option<f32> {
    match v {
        Value::F32(x) => Some(*x),
        Value::F64(x) => Some(*x as f32),
        v => value_as_int(v).map(|i| i as f32),
    }
}

/// Build the tokenizer described by a GGUF file's metadata.
pub(crate) fn from_metadata(
    path: &Path,
    md: &HashMap<String, Value>,
) -> Result<GgufVocab, ModelError> {
    let meta = Meta { path, md };
    let model = meta
        .string("tokenizer.ggml.model")?
        .ok_or_else(|| meta.err("the GGUF file has no `tokenizer.ggml.model`, so no vocabulary"))?;
    let tokens = meta
        .strings("tokenizer.ggml.tokens")?
        .ok_or_else(|| meta.err("the GGUF file has no `tokenizer.ggml.tokens`"))?;
    if tokens.is_empty() {
        return Err(meta.err("`tokenizer.ggml.tokens` is empty"));
    }
    let types: Vec<i64> = match meta.array("tokenizer.ggml.token_type")? {
        Some(arr) if arr.len() == tokens.len() => arr
            .iter()
            .map(|v| value_as_int(v).unwrap_or(TOKEN_NORMAL))
            .collect(),
        Some(arr) => {
            return Err(meta.err(format!(
                "`tokenizer.ggml.token_type` has {} entries for {} tokens",
                arr.len(),
                tokens.len()
            )))
        }
        None => vec![TOKEN_NORMAL; tokens.len()],
    };
    // llama.cpp renames empty pieces so every id keeps a distinct text.
    let tokens: Vec<String> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if t.is_empty() {
                format!("[EMPTY_{i}]")
            } else {
                (*t).to_string()
            }
        })
        .collect();
    let n = tokens.len();

    let (mut tokenizer, default_bos, default_eos, default_add_bos) = match model {
        "gpt2" => {
            let pre = meta.string("tokenizer.ggml.pre")?.unwrap_or("default");
            let spec = pre_tokenizer_spec(pre).ok_or_else(|| {
                meta.err(format!(
                    "unsupported pre-tokenizer `tokenizer.ggml.pre` = \"{pre}\" \
                     (supported: smollm, llama3/llama-bpe, qwen2, gpt-2, default and their aliases)"
                ))
            })?;
            let merges = meta
                .strings("tokenizer.ggml.merges")?
                .ok_or_else(|| meta.err("a `gpt2` vocabulary needs `tokenizer.ggml.merges`"))?;
            let tok = byte_level_bpe(&meta, &tokens, &merges, &spec)?;
            // llama.cpp: Llama 3 style vocabularies add BOS by default, others not.
            (tok, None, None, spec.ignore_merges)
        }
        "llama" => {
            let scores: Vec<f32> = match meta.array("tokenizer.ggml.scores")? {
                Some(arr) if arr.len() == n => {
                    arr.iter().map(|v| value_as_f32(v).unwrap_or(0.0)).collect()
                }
                Some(arr) => {
                    return Err(meta.err(format!(
                        "`tokenizer.ggml.scores` has {} entries for {n} tokens",
                        arr.len()
                    )))
                }
                None => vec![0.0; n],
            };
            let add_space_prefix = meta.bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(true);
            let unk = meta.token_id("tokenizer.ggml.unknown_token_id", n)?.or((n > 0).then_some(0));
            let tok = sentencepiece_bpe(&meta, &tokens, &scores, &types, unk, add_space_prefix)?;
            (tok, Some(1u32).filter(|&i| (i as usize) < n), Some(2u32).filter(|&i| (i as usize) < n), true)
        }
        other => {
            return Err(meta.err(format!(
                "unsupported vocabulary type `tokenizer.ggml.model` = \"{other}\" (supported: gpt2, llama)"
            )))
        }
    };

    add_special_tokens(&mut tokenizer, &tokens, &types)
        .map_err(|e| meta.err(format!("cannot add the special tokens: {e}")))?;

    let bos_id = meta
        .token_id("tokenizer.ggml.bos_token_id", n)?
        .or(default_bos);
    let eos_id = meta
        .token_id("tokenizer.ggml.eos_token_id", n)?
        .or(default_eos);
    let add_bos = meta
        .bool("tokenizer.ggml.add_bos_token")?
        .unwrap_or(default_add_bos)
        && bos_id.is_some();

    let mut eog_ids: Vec<u32> = Vec::new();
    for key in [
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id",
    ] {
        if let Some(id) = meta.token_id(key, n)? {
            eog_ids.push(id);
        }
    }
    if let Some(id) = eos_id {
        eog_ids.push(id);
    }
    // llama.cpp also ends generation on these end-of-turn texts when present.
    const EOG_TEXTS: [&str; 8] = [
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<EOT>",
        "<|eom_id|>",
        "<｜end▁of▁sentence｜>",
    ];
    for (id, (text, ty)) in tokens.iter().zip(&types).enumerate() {
        if EOG_TEXTS.contains(&text.as_str()) && *ty != TOKEN_NORMAL {
            eog_ids.push(id as u32);
        }
    }
    eog_ids.sort_unstable();
    eog_ids.dedup();

    Ok(GgufVocab {
        tokenizer,
        bos_id,
        eos_id,
        add_bos,
        eog_ids,
    })
}

/// Control, unknown and user-defined tokens are matched in the raw text
/// before the model runs (llama.cpp `tokenizer_st_partition`). They are added
/// as *special* so that encoding with special-token parsing off (document
/// text) leaves `<|im_end|>` and friends as plain text. (llama.cpp itself
/// matches user-defined tokens even then; ReportLens prefers that no
/// document text can ever turn into a marker token.) Token type codes are
/// the same in GGUF and in SentencePiece's `tokenizer.model`.
pub(crate) fn add_special_tokens(
    tokenizer: &mut Tokenizer,
    tokens: &[String],
    types: &[i64],
) -> tokenizers::Result<()> {
    let special: Vec<AddedToken> = tokens
        .iter()
        .zip(types)
        .filter(|(_, ty)| matches!(**ty, TOKEN_CONTROL | TOKEN_UNKNOWN | TOKEN_USER_DEFINED))
        .map(|(t, _)| AddedToken::from(t.clone(), true).normalized(false))
        .collect();
    if !special.is_empty() {
        tokenizer.add_special_tokens(special)?;
    }
    Ok(())
}

fn vocab_map(tokens: &[String]) -> Vocab {
    // Later duplicates win, as in llama.cpp's token_to_id map.
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect()
}

fn byte_level_bpe(
    meta: &Meta,
    tokens: &[String],
    merges: &[&str],
    spec: &PreTokenizerSpec,
) -> Result<Tokenizer, ModelError> {
    let vocab = vocab_map(tokens);
    // "a b" -> ("a", "b"), splitting at the first space after the first byte
    // as llama.cpp does. Merges whose pieces are not tokens could never fire
    // in llama.cpp either; the BPE builder would refuse them, so drop them.
    let merges: Vec<(String, String)> = merges
        .iter()
        .filter_map(|m| {
            let first = m.chars().next()?.len_utf8();
            let pos = m[first..].find(' ')? + first;
            let (a, b) = (&m[..pos], &m[pos + 1..]);
            let joined = format!("{a}{b}");
            (vocab.contains_key(a) && vocab.contains_key(b) && vocab.contains_key(&joined))
                .then(|| (a.to_string(), b.to_string()))
        })
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(spec.ignore_merges)
        .build()
        .map_err(|e| meta.err(format!("cannot build the BPE model: {e}")))?;
    let mut splits: Vec<PreTokenizerWrapper> = Vec::new();
    for re in &spec.regexes {
        let split = Split::new(
            SplitPattern::Regex((*re).to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| meta.err(format!("pre-tokenizer regex {re:?}: {e}")))?;
        splits.push(split.into());
    }
    splits.push(tokenizers::pre_tokenizers::byte_level::ByteLevel::new(false, false, false).into());
    let mut tok = Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(PreSequence::new(splits)));
    tok.with_decoder(Some(ByteLevel::new(false, false, false)));
    Ok(tok)
}

fn sentencepiece_bpe(
    meta: &Meta,
    tokens: &[String],
    scores: &[f32],
    types: &[i64],
    unk: Option<u32>,
    add_space_prefix: bool,
) -> Result<Tokenizer, ModelError> {
    let bpe = spm_bpe_model(tokens, scores, types, unk, true)
        .map_err(|e| meta.err(format!("cannot build the SentencePiece BPE model: {e}")))?;
    let mut tok = Tokenizer::new(bpe);
    let (normalizer, decoder) = sentencepiece_pipeline(add_space_prefix)
        .map_err(|e| meta.err(format!("cannot build the SentencePiece normalizer: {e}")))?;
    tok.with_normalizer(Some(normalizer))
        .map_err(|e| meta.err(format!("cannot set the SentencePiece normalizer: {e}")))?;
    tok.with_decoder(Some(decoder));
    Ok(tok)
}

/// SentencePiece BPE as a `tokenizers` BPE: the merges are every split of a
/// piece into two pieces, ranked by the merged piece's score (higher first),
/// which is the order in which sentencepiece and llama.cpp merge pairs.
pub(crate) fn spm_bpe_model(
    tokens: &[String],
    scores: &[f32],
    types: &[i64],
    unk: Option<u32>,
    byte_fallback: bool,
) -> tokenizers::Result<BPE> {
    let vocab = vocab_map(tokens);
    // Control, unknown and byte pieces never come out of merging plain text.
    let mergeable = |id: usize| !matches!(types[id], TOKEN_CONTROL | TOKEN_UNKNOWN | TOKEN_BYTE);
    let mut ranked: Vec<(f32, u32, String, String)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        if !mergeable(id) || vocab.get(piece) != Some(&(id as u32)) {
            continue;
        }
        for (split, _) in piece.char_indices().skip(1) {
            let (a, b) = piece.split_at(split);
            let known = |s: &str| vocab.get(s).is_some_and(|&i| mergeable(i as usize));
            if known(a) && known(b) {
                ranked.push((scores[id], id as u32, a.to_string(), b.to_string()));
            }
        }
    }
    ranked.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    let merges: Vec<(String, String)> = ranked.into_iter().map(|(_, _, a, b)| (a, b)).collect();

    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(byte_fallback)
        .fuse_unk(true);
    if let Some(unk) = unk.filter(|&u| (u as usize) < tokens.len()) {
        builder = builder.unk_token(tokens[unk as usize].clone());
    }
    builder.build()
}

/// The normalizer and decoder of a SentencePiece BPE vocabulary: `▁` for
/// spaces, a dummy `▁` before each text fragment when `add_space_prefix`, and
/// `<0xNN>` byte pieces fused back into UTF-8 when decoding. Shared with the
/// `tokenizer.model` converter.
pub(crate) fn sentencepiece_pipeline(
    add_space_prefix: bool,
) -> tokenizers::Result<(NormalizerWrapper, DecoderWrapper)> {
    let mut norms: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        norms.push(Prepend::new("▁".to_string()).into());
    }
    norms.push(Replace::new(" ", "▁")?.into());
    let mut decs: Vec<DecoderWrapper> = vec![
        Replace::new("▁", " ")?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        decs.push(Strip::new(' ', 1, 0).into());
    }
    Ok((
        NormalizerSequence::new(norms).into(),
        DecoderSequence::new(decs).into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(entries: Vec<(&str, Value)>) -> HashMap<String, Value> {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    fn strs(v: &[&str]) -> Value {
        Value::Array(v.iter().map(|s| Value::String(s.to_string())).collect())
    }

    /// A tiny SentencePiece vocabulary: ids 0-2 are <unk>/<s>/</s>, then the
    /// 256 byte pieces, then normal pieces with descending scores.
    fn spm_meta(pieces: &[(&str, f32)]) -> HashMap<String, Value> {
        let mut tokens = vec!["<unk>".to_string(), "<s>".to_string(), "</s>".to_string()];
        let mut types = vec![TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL];
        let mut scores = vec![0.0f32; 3];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(TOKEN_BYTE);
            scores.push(0.0);
        }
        for (p, s) in pieces {
            tokens.push(p.to_string());
            types.push(TOKEN_NORMAL);
            scores.push(*s);
        }
        md(vec![
            ("tokenizer.ggml.model", Value::String("llama".into())),
            (
                "tokenizer.ggml.tokens",
                Value::Array(tokens.into_iter().map(Value::String).collect()),
            ),
            (
                "tokenizer.ggml.token_type",
                Value::Array(types.into_iter().map(|t| Value::I32(t as i32)).collect()),
            ),
            (
                "tokenizer.ggml.scores",
                Value::Array(scores.into_iter().map(Value::F32).collect()),
            ),
            ("tokenizer.ggml.bos_token_id", Value::U32(1)),
            ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ])
    }

    fn pieces_of(tok: &Tokenizer, text: &str) -> Vec<String> {
        let enc = tok.encode(text, false).unwrap();
        enc.get_tokens().to_vec()
    }

    #[test]
    fn spm_merges_follow_piece_scores_and_fall_back_to_bytes() {
        // "▁ab" can come from "▁a"+"b" or "▁"+"ab"; "ab" scores higher than
        // "▁a", so llama.cpp merges a+b first, then ▁+ab.
        let m = spm_meta(&[
            ("▁", -1.0),
            ("a", -2.0),
            ("b", -3.0),
            ("ab", -4.0),
            ("▁a", -5.0),
            ("▁ab", -6.0),
        ]);
        let v = from_metadata(Path::new("t.gguf"), &m).unwrap();
        assert_eq!(pieces_of(&v.tokenizer, "ab"), ["▁ab"]);
        // 'é' is not a piece: byte fallback to its two UTF-8 bytes.
        assert_eq!(
            pieces_of(&v.tokenizer, "ab é"),
            ["▁ab", "▁", "<0xC3>", "<0xA9>"]
        );
        let ids = v
            .tokenizer
            .encode("ab é", false)
            .unwrap()
            .get_ids()
            .to_vec();
        assert_eq!(v.tokenizer.decode(&ids, true).unwrap(), "ab é");
        assert_eq!((v.bos_id, v.eos_id, v.add_bos), (Some(1), Some(2), true));
    }

    #[test]
    fn spm_dummy_prefix_follows_each_special_token() {
        let m = spm_meta(&[("▁", -1.0), ("a", -2.0), ("▁a", -3.0)]);
        let v = from_metadata(Path::new("t.gguf"), &m).unwrap();
        // llama.cpp prefixes a space to every fragment after a special token.
        assert_eq!(pieces_of(&v.tokenizer, "a</s>a"), ["▁a", "</s>", "▁a"]);
    }

    #[test]
    fn unknown_pre_tokenizer_is_refused() {
        let m = md(vec![
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            ("tokenizer.ggml.pre", Value::String("made-up".into())),
            ("tokenizer.ggml.tokens", strs(&["a", "b", "ab"])),
            ("tokenizer.ggml.merges", strs(&["a b"])),
        ]);
        let err = from_metadata(Path::new("x.gguf"), &m)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("made-up") && err.contains("x.gguf"), "{err}");
    }

    #[test]
    fn unknown_vocabulary_type_is_refused() {
        let m = md(vec![
            ("tokenizer.ggml.model", Value::String("rwkv".into())),
            ("tokenizer.ggml.tokens", strs(&["a"])),
        ]);
        let err = from_metadata(Path::new("x.gguf"), &m)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("rwkv"), "{err}");
    }

    #[test]
    fn llama3_ignores_merges_for_whole_words() {
        // "abc" is a token but no merge path builds it: llama3 still emits it.
        let byte = |c: char| c.to_string();
        let tokens = vec![byte('a'), byte('b'), byte('c'), "ab".into(), "abc".into()];
        let m = md(vec![
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            ("tokenizer.ggml.pre", Value::String("llama-bpe".into())),
            (
                "tokenizer.ggml.tokens",
                Value::Array(tokens.into_iter().map(Value::String).collect()),
            ),
            ("tokenizer.ggml.merges", strs(&["a b"])),
        ]);
        let v = from_metadata(Path::new("x.gguf"), &m).unwrap();
        assert_eq!(pieces_of(&v.tokenizer, "abc"), ["abc"]);
        // Not a token as a whole: ordinary merges.
        assert_eq!(pieces_of(&v.tokenizer, "abcab"), ["ab", "c", "ab"]);
    }
}
