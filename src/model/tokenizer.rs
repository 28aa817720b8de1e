//! The model's own tokenizer: `tokenizer.json` beside the model, or one built
//! from GGUF metadata (see `gguf_vocab`), or from a SentencePiece
//! `tokenizer.model` in a model directory.
use std::path::{Path, PathBuf};

use super::info::{read_gguf, stat};
use super::{gguf_vocab, sentencepiece, ModelError};

/// A tokenizer plus what ReportLens needs around it.
pub struct TextTokenizer {
    /// Parses special tokens (`<|im_start|>` is one token): for chat markup
    /// that ReportLens itself writes.
    pub inner: tokenizers::Tokenizer,
    /// The same tokenizer with special-token matching off: for document text.
    plain: tokenizers::Tokenizer,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    eog_ids: Vec<u32>,
    add_bos: bool,
    /// Where the vocabulary came from, for error messages.
    source: PathBuf,
}

impl TextTokenizer {
    /// Wrap a tokenizer. `eos_id` also counts as an end-of-generation id.
    pub fn new(
        inner: tokenizers::Tokenizer,
        bos_id: Option<u32>,
        eos_id: Option<u32>,
        add_bos: bool,
        source: PathBuf,
    ) -> Self {
        let mut plain = inner.clone();
        plain.set_encode_special_tokens(true);
        Self {
            inner,
            plain,
            bos_id,
            eos_id,
            eog_ids: eos_id.into_iter().collect(),
            add_bos: add_bos && bos_id.is_some(),
            source,
        }
    }

    fn err(&self, reason: impl std::fmt::Display) -> ModelError {
        ModelError::Tokenizer {
            path: self.source.clone(),
            reason: reason.to_string(),
        }
    }

    /// Token ids of `text` with no BOS added. With `parse_special` off (the
    /// mode for document text), chat markup such as `<|im_end|>` is encoded as
    /// plain text and can never inject a turn.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, ModelError> {
        let tok = if parse_special {
            &self.inner
        } else {
            &self.plain
        };
        let enc = tok.encode(text, false).map_err(|e| self.err(e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Number of tokens of document text (special-token parsing off).
    pub fn count(&self, text: &str) -> Result<usize, ModelError> {
        Ok(self.encode(text, false)?.len())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.inner.decode(ids, true).map_err(|e| self.err(e))
    }

    /// Text of `ids` with special tokens written out (`<|im_end|>`).
    pub fn decode_with_special(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.inner.decode(ids, false).map_err(|e| self.err(e))
    }

    /// Beginning-of-sequence id, if the vocabulary has one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// End-of-sequence id, if the vocabulary has one.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// Every id that ends generation (EOS, end-of-turn markers such as
    /// `<|im_end|>` / `<|endoftext|>` where the vocabulary has them).
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog_ids
    }

    /// Whether `id` ends generation.
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog_ids.contains(&id)
    }

    /// Whether the model expects BOS before a prompt (GGUF `add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Id of a token given by its exact text (`"<|im_start|>"`).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Text of one token as stored in the vocabulary (not decoded).
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// An incremental decoder for streaming generated ids.
    pub fn stream_decoder(&self) -> StreamDecoder<'_> {
        StreamDecoder {
            tok: self,
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
        }
    }
}

/// Decodes generated ids one at a time and hands back only new, complete
/// text: a UTF-8 character split over several byte tokens is held back until
/// its last byte arrives. Decoding a window that starts before the new ids
/// keeps the spacing right (SentencePiece strips a leading space only at the
/// very start).
pub struct StreamDecoder<'a> {
    tok: &'a TextTokenizer,
    ids: Vec<u32>,
    /// `ids[prefix_offset..read_offset]` is context already emitted.
    prefix_offset: usize,
    /// `ids[read_offset..]` has not been emitted yet.
    read_offset: usize,
}

impl StreamDecoder<'_> {
    /// Feed one id; returns the text it completes (often empty for a partial
    /// character, or for a skipped special token).
    pub fn step(&mut self, id: u32) -> Result<String, ModelError> {
        self.ids.push(id);
        self.emit(false)
    }

    /// Text still held back at the end of the stream. An incomplete
    /// character (the token limit cut it) is dropped rather than shown as
    /// U+FFFD.
    pub fn finish(&mut self) -> Result<String, ModelError> {
        Ok(self.emit(true)?.trim_end_matches('\u{FFFD}').to_string())
    }

    fn emit(&mut self, flush: bool) -> Result<String, ModelError> {
        let window = &self.ids[self.prefix_offset..];
        let seen = self.read_offset - self.prefix_offset;
        let prefix = self.tok.decode(&window[..seen])?;
        let text = self.tok.decode(window)?;
        if text.len() <= prefix.len() || (!flush && text.ends_with('\u{FFFD}')) {
            return Ok(String::new());
        }
        let new = match text.strip_prefix(prefix.as_str()) {
            Some(rest) => rest.to_string(),
            // A decoder that rewrote the context: emit from the first change.
            None => {
                let common = prefix
                    .char_indices()
                    .zip(text.chars())
                    .find(|((_, a), b)| a != b)
                    .map_or(prefix.len().min(text.len()), |((i, _), _)| i);
                text[common..].to_string()
            }
        };
        // Slide the window: the ids just emitted become the next context.
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        if self.prefix_offset > 0 {
            self.ids.drain(..self.prefix_offset);
            self.read_offset -= self.prefix_offset;
            self.prefix_offset = 0;
        }
        Ok(new)
    }
}

/// Load the tokenizer of the model at `path` (a GGUF file or a model directory).
///
/// Order: a `tokenizer.json` in the directory / beside the GGUF file, then
/// the GGUF's own vocabulary, then a SentencePiece `tokenizer.model`.
pub fn load_tokenizer(path: &Path) -> Result<TextTokenizer, ModelError> {
    if stat(path)?.is_dir() {
        load_from_dir(path)
    } else {
        load_from_gguf(path)
    }
}

fn tokenizer_error(path: &Path, reason: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn read_tokenizer_json(path: &Path) -> Result<tokenizers::Tokenizer, ModelError> {
    tokenizers::Tokenizer::from_file(path)
        .map_err(|e| tokenizer_error(path, format!("cannot load tokenizer.json: {e}")))
}

fn load_from_gguf(path: &Path) -> Result<TextTokenizer, ModelError> {
    let content = read_gguf(path)?;
    let vocab = gguf_vocab::from_metadata(path, &content.metadata)?;
    let beside = path.with_file_name("tokenizer.json");
    let (inner, source) = match beside.is_file() {
        true => {
            let tok = read_tokenizer_json(&beside)?;
            // A stray tokenizer.json of another model must not win: it has to
            // cover the same ids as the GGUF vocabulary.
            let (json_n, gguf_n) = (
                tok.get_vocab_size(true),
                vocab.tokenizer.get_vocab_size(true),
            );
            if json_n != gguf_n {
                return Err(tokenizer_error(
                    &beside,
                    format!(
                        "has {json_n} tokens but {} has {gguf_n}; it belongs to another model \
                         (move it away to use the GGUF vocabulary)",
                        path.display()
                    ),
                ));
            }
            (tok, beside)
        }
        false => (vocab.tokenizer, path.to_path_buf()),
    };
    let mut tok = TextTokenizer::new(inner, vocab.bos_id, vocab.eos_id, vocab.add_bos, source);
    tok.eog_ids = vocab.eog_ids;
    Ok(tok)
}

/// Special ids of a Hugging Face style model directory, from
/// `tokenizer_config.json` / `config.json` where present.
struct DirSpecials {
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: Option<bool>,
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>, ModelError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ModelError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("not valid JSON: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ModelError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn dir_specials(
    dir: &Path,
    lookup: &dyn Fn(&str) -> Option<u32>,
) -> Result<DirSpecials, ModelError> {
    let tc = read_json(&dir.join("tokenizer_config.json"))?;
    let cfg = read_json(&dir.join("config.json"))?;
    let by_name = |key: &str| -> Option<u32> {
        let v = tc.as_ref()?.get(key)?;
        let text = v.as_str().or_else(|| v.get("content")?.as_str())?;
        lookup(text)
    };
    let by_id = |key: &str| -> Option<u32> {
        let v = cfg.as_ref()?.get(key)?;
        let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
        v.as_u64().and_then(|i| u32::try_from(i).ok())
    };
    Ok(DirSpecials {
        bos: by_id("bos_token_id").or_else(|| by_name("bos_token")),
        eos: by_id("eos_token_id").or_else(|| by_name("eos_token")),
        add_bos: tc
            .as_ref()
            .and_then(|t| t.get("add_bos_token"))
            .and_then(|v| v.as_bool()),
    })
}

fn load_from_dir(dir: &Path) -> Result<TextTokenizer, ModelError> {
    let json = dir.join("tokenizer.json");
    let spm = dir.join("tokenizer.model");
    if json.is_file() {
        let inner = read_tokenizer_json(&json)?;
        let sp = dir_specials(dir, &|t| inner.token_to_id(t))?;
        return Ok(TextTokenizer::new(
            inner,
            sp.bos,
            sp.eos,
            sp.add_bos.unwrap_or(false),
            json,
        ));
    }
    if spm.is_file() {
        let model = sentencepiece::load(&spm)?;
        let sp = dir_specials(dir, &|t| model.tokenizer.token_to_id(t))?;
        return Ok(TextTokenizer::new(
            model.tokenizer,
            sp.bos.or(model.bos_id),
            sp.eos.or(model.eos_id),
            sp.add_bos.unwrap_or(false),
            spm,
        ));
    }
    Err(tokenizer_error(
        dir,
        "no tokenizer.json or tokenizer.model in the model directory",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smollm() -> Option<TextTokenizer> {
        let p = crate::paths::test_model_path();
        if !p.is_file() {
            eprintln!("skipping: test model not fetched at {}", p.display());
            return None;
        }
        Some(load_tokenizer(&p).unwrap())
    }

    #[test]
    fn special_ids_from_gguf() {
        let Some(t) = smollm() else { return };
        assert_eq!(t.bos_id(), Some(1));
        assert_eq!(t.eos_id(), Some(2));
        assert!(!t.add_bos());
        assert_eq!(t.token_id("<|im_start|>"), Some(1));
        assert_eq!(t.token_id("<|im_end|>"), Some(2));
        assert!(t.is_eog(2) && t.is_eog(0) && !t.is_eog(1));
        assert_eq!(t.vocab_size(), 49152);
    }

    #[test]
    fn stream_decoder_never_splits_a_character() {
        let Some(t) = smollm() else { return };
        let text = "Revenue 净亏损 🙂 grew, café — “ok”";
        let ids = t.encode(text, false).unwrap();
        let mut dec = t.stream_decoder();
        let mut out = String::new();
        for &id in &ids {
            let piece = dec.step(id).unwrap();
            assert!(!piece.contains('\u{FFFD}'), "split character in {piece:?}");
            out.push_str(&piece);
        }
        out.push_str(&dec.finish().unwrap());
        assert_eq!(out, text);
        // The emoji spans several byte tokens: some steps must have held text back.
        assert!(ids.len() > text.chars().filter(|c| !c.is_ascii()).count());
    }

    #[test]
    fn stream_decoder_drops_an_incomplete_tail() {
        let Some(t) = smollm() else { return };
        let ids = t.encode("🙂", false).unwrap();
        assert!(
            ids.len() > 1,
            "emoji should be several byte tokens: {ids:?}"
        );
        let mut dec = t.stream_decoder();
        assert_eq!(dec.step(ids[0]).unwrap(), "");
        assert_eq!(dec.finish().unwrap(), "");
    }

    #[test]
    fn missing_paths_and_directories_without_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_tokenizer(&dir.path().join("nope.gguf")),
            Err(ModelError::NotFound { .. })
        ));
        let err = load_tokenizer(dir.path()).err().unwrap().to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
    }
}
