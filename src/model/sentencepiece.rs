//! SentencePiece `tokenizer.model` -> `tokenizers::Tokenizer`.
//!
//! The file is a protobuf `ModelProto` (sentencepiece_model.proto): pieces
//! with scores and types, a trainer spec (model type, byte fallback, special
//! ids) and a normalizer spec (precompiled character map, dummy prefix,
//! whitespace handling). No Rust crate converts it, so the few fields that
//! matter are read here with a minimal protobuf wire-format reader.
use std::path::Path;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::precompiled::Precompiled;
use tokenizers::normalizers::replace::ReplacePattern;
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::{DecoderWrapper, NormalizerWrapper, Tokenizer};

use super::gguf_vocab::{add_special_tokens, spm_bpe_model};
use super::ModelError;

/// SentencePiece piece types (shared with GGUF `token_type`).
const PIECE_NORMAL: i64 = 1;
const PIECE_UNKNOWN: i64 = 2;
const PIECE_CONTROL: i64 = 3;
const PIECE_BYTE: i64 = 6;

const MODEL_UNIGRAM: u64 = 1;
const MODEL_BPE: u64 = 2;

/// A converted SentencePiece model.
pub struct SpmTokenizer {
    pub tokenizer: Tokenizer,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub unk_id: Option<u32>,
}

/// The parts of a `ModelProto` that tokenization depends on (also what a
/// GGUF writer needs: `tokenizer.ggml.tokens` / `scores` / `token_type`).
#[derive(Debug, Clone)]
pub struct ModelProto {
    pub pieces: Vec<String>,
    pub scores: Vec<f32>,
    /// Piece types, same codes as GGUF `token_type` (1 normal, 2 unknown,
    /// 3 control, 4 user-defined, 5 unused, 6 byte).
    pub types: Vec<i64>,
    /// 1 Unigram, 2 BPE, 3 word, 4 char.
    pub model_type: u64,
    pub byte_fallback: bool,
    /// Special ids; negative when the model has none.
    pub unk_id: i64,
    pub bos_id: i64,
    pub eos_id: i64,
    pub treat_whitespace_as_suffix: bool,
    pub charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

/// Read and convert a `tokenizer.model` file.
pub fn load(path: &Path) -> Result<SpmTokenizer, ModelError> {
    let proto = read_model(path)?;
    convert(&proto).map_err(|reason| ModelError::Tokenizer {
        path: path.to_path_buf(),
        reason,
    })
}

/// Read the pieces and specs of a `tokenizer.model` file.
pub fn read_model(path: &Path) -> Result<ModelProto, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ModelError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            ModelError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    parse_model(&bytes).map_err(|e| ModelError::Tokenizer {
        path: path.to_path_buf(),
        reason: format!("not a SentencePiece model: {e}"),
    })
}

/// Convert the bytes of a `tokenizer.model`.
pub fn from_bytes(bytes: &[u8]) -> Result<SpmTokenizer, String> {
    let proto = parse_model(bytes).map_err(|e| format!("not a SentencePiece model: {e}"))?;
    convert(&proto)
}

/// Build the `tokenizers::Tokenizer` that encodes as sentencepiece does.
pub fn convert(proto: &ModelProto) -> Result<SpmTokenizer, String> {
    if proto.pieces.is_empty() {
        return Err("the SentencePiece model has no pieces".into());
    }
    if proto.treat_whitespace_as_suffix {
        return Err(
            "SentencePiece models with treat_whitespace_as_suffix are not supported".into(),
        );
    }
    let n = proto.pieces.len();
    let id = |i: i64| (i >= 0 && (i as usize) < n).then_some(i as u32);
    let unk_id = id(proto.unk_id);

    let mut tokenizer = match proto.model_type {
        MODEL_BPE => Tokenizer::new(
            spm_bpe_model(
                &proto.pieces,
                &proto.scores,
                &proto.types,
                unk_id,
                proto.byte_fallback,
            )
            .map_err(|e| format!("cannot build the BPE model: {e}"))?,
        ),
        MODEL_UNIGRAM => Tokenizer::new(unigram(proto, unk_id, |_| false)?),
        other => {
            return Err(format!(
                "SentencePiece model type {other} is not supported (only BPE and Unigram)"
            ))
        }
    };
    let normalizer = normalizer(proto)?;
    tokenizer
        .with_normalizer(Some(normalizer))
        .map_err(|e| format!("cannot set the normalizer: {e}"))?;
    tokenizer.with_decoder(Some(decoder(proto).map_err(|e| e.to_string())?));
    add_special_tokens(&mut tokenizer, &proto.pieces, &proto.types)
        .map_err(|e| format!("cannot add the special pieces: {e}"))?;
    if proto.model_type == MODEL_UNIGRAM {
        // sentencepiece never matches control or unknown pieces in text, but
        // the Unigram lattice would (`</s>` typed in a document). Their ids
        // are now held by the added-token vocabulary, so the model can carry
        // them under names no text contains.
        tokenizer.with_model(unigram(proto, unk_id, |ty| {
            matches!(ty, PIECE_CONTROL | PIECE_UNKNOWN)
        })?);
    }
    Ok(SpmTokenizer {
        tokenizer,
        bos_id: id(proto.bos_id),
        eos_id: id(proto.eos_id),
        unk_id,
    })
}

/// A Unigram model over the pieces; pieces whose type `hide` selects get a
/// name that cannot occur in normalized text.
fn unigram(
    proto: &ModelProto,
    unk_id: Option<u32>,
    hide: impl Fn(i64) -> bool,
) -> Result<Unigram, String> {
    let vocab = proto
        .pieces
        .iter()
        .zip(&proto.scores)
        .zip(&proto.types)
        .enumerate()
        .map(|(id, ((p, s), ty))| {
            let name = if hide(*ty) {
                format!("\u{FFFF}hidden-piece-{id}\u{FFFF}")
            } else {
                p.clone()
            };
            (name, *s as f64)
        })
        .collect();
    Unigram::from(vocab, unk_id.map(|u| u as usize), proto.byte_fallback)
        .map_err(|e| format!("cannot build the Unigram model: {e}"))
}

/// sentencepiece's normalizer: the precompiled character map (NFKC-like
/// rules), then whitespace clean-up, the dummy `▁` prefix and `▁` escaping.
fn normalizer(p: &ModelProto) -> Result<NormalizerWrapper, String> {
    let re = |pattern: &str, with: &str| -> Result<NormalizerWrapper, String> {
        Replace::new(ReplacePattern::Regex(pattern.to_string()), with)
            .map(Into::into)
            .map_err(|e| e.to_string())
    };
    let mut steps: Vec<NormalizerWrapper> = Vec::new();
    if !p.charsmap.is_empty() {
        let map =
            Precompiled::from(&p.charsmap).map_err(|e| format!("bad precompiled_charsmap: {e}"))?;
        steps.push(map.into());
    }
    if p.remove_extra_whitespaces {
        // Leading/trailing spaces go, inner runs shrink to one.
        steps.push(re("^ +| +$", "")?);
        steps.push(re(" {2,}", " ")?);
    }
    if p.add_dummy_prefix {
        steps.push(Prepend::new(" ".to_string()).into());
    }
    if p.escape_whitespaces {
        steps.push(re(" ", "▁")?);
    }
    Ok(NormalizerSequence::new(steps).into())
}

fn decoder(p: &ModelProto) -> tokenizers::Result<DecoderWrapper> {
    let mut steps: Vec<DecoderWrapper> = vec![
        Replace::new("▁", " ")?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if p.add_dummy_prefix {
        steps.push(Strip::new(' ', 1, 0).into());
    }
    Ok(DecoderSequence::new(steps).into())
}

// ---- protobuf wire format -------------------------------------------------

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Field<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or("truncated field")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next (field number, value), or `None` at the end.
    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Field::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                Field::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Field::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        Ok(Some((key >> 3, field)))
    }
}

fn parse_model(bytes: &[u8]) -> Result<ModelProto, String> {
    let mut m = ModelProto {
        pieces: Vec::new(),
        scores: Vec::new(),
        types: Vec::new(),
        // proto2 defaults from sentencepiece_model.proto
        model_type: MODEL_UNIGRAM,
        byte_fallback: false,
        unk_id: 0,
        bos_id: 1,
        eos_id: 2,
        treat_whitespace_as_suffix: false,
        charsmap: Vec::new(),
        add_dummy_prefix: true,
        remove_extra_whitespaces: true,
        escape_whitespaces: true,
    };
    let mut r = Reader::new(bytes);
    while let Some((num, field)) = r.next()? {
        match (num, field) {
            (1, Field::Bytes(b)) => parse_piece(b, &mut m)?,
            (2, Field::Bytes(b)) => parse_trainer(b, &mut m)?,
            (3, Field::Bytes(b)) => parse_normalizer(b, &mut m)?,
            (1..=3, _) => return Err(format!("field {num} has the wrong wire type")),
            _ => {}
        }
    }
    Ok(m)
}

fn parse_piece(b: &[u8], m: &mut ModelProto) -> Result<(), String> {
    let (mut piece, mut score, mut ty) = (None, 0.0f32, PIECE_NORMAL);
    let mut r = Reader::new(b);
    while let Some((num, field)) = r.next()? {
        match (num, field) {
            (1, Field::Bytes(s)) => {
                piece = Some(String::from_utf8(s.to_vec()).map_err(|_| "a piece is not UTF-8")?)
            }
            (2, Field::Fixed32(f)) => score = f32::from_bits(f),
            (3, Field::Varint(t)) => ty = t as i64,
            _ => {}
        }
    }
    let piece = piece.ok_or("a piece has no text")?;
    // Byte pieces must look like <0xNN> for byte fallback to find them.
    if ty == PIECE_BYTE && !(piece.len() == 6 && piece.starts_with("<0x") && piece.ends_with('>')) {
        return Err(format!("byte piece {piece:?} is malformed"));
    }
    m.pieces.push(piece);
    m.scores.push(score);
    m.types.push(ty);
    Ok(())
}

fn parse_trainer(b: &[u8], m: &mut ModelProto) -> Result<(), String> {
    let mut r = Reader::new(b);
    while let Some((num, field)) = r.next()? {
        if let Field::Varint(v) = field {
            match num {
                3 => m.model_type = v,
                24 => m.treat_whitespace_as_suffix = v != 0,
                35 => m.byte_fallback = v != 0,
                // int32 fields: negatives are sign-extended 64-bit varints.
                40 => m.unk_id = v as i64 as i32 as i64,
                41 => m.bos_id = v as i64 as i32 as i64,
                42 => m.eos_id = v as i64 as i32 as i64,
                _ => {}
            }
        }
    }
    Ok(())
}

fn parse_normalizer(b: &[u8], m: &mut ModelProto) -> Result<(), String> {
    let mut r = Reader::new(b);
    while let Some((num, field)) = r.next()? {
        match (num, field) {
            (2, Field::Bytes(map)) => m.charsmap = map.to_vec(),
            (3, Field::Varint(v)) => m.add_dummy_prefix = v != 0,
            (4, Field::Varint(v)) => m.remove_extra_whitespaces = v != 0,
            (5, Field::Varint(v)) => m.escape_whitespaces = v != 0,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encode a protobuf message by hand: (field, wire type, payload).
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn bytes_field(num: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(num << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }
    fn varint_field(num: u64, v: u64, out: &mut Vec<u8>) {
        varint(num << 3, out);
        varint(v, out);
    }
    fn piece(text: &str, score: f32, ty: u64) -> Vec<u8> {
        let mut p = Vec::new();
        bytes_field(1, text.as_bytes(), &mut p);
        varint(2 << 3 | 5, &mut p);
        p.extend_from_slice(&score.to_le_bytes());
        varint_field(3, ty, &mut p);
        p
    }

    fn tiny_bpe(remove_extra_ws: bool) -> Vec<u8> {
        let mut m = Vec::new();
        bytes_field(1, &piece("<unk>", 0.0, 2), &mut m);
        bytes_field(1, &piece("<s>", 0.0, 3), &mut m);
        bytes_field(1, &piece("</s>", 0.0, 3), &mut m);
        for b in 0..=255u8 {
            bytes_field(1, &piece(&format!("<0x{b:02X}>"), 0.0, 6), &mut m);
        }
        for (i, p) in ["▁", "h", "i", "hi", "▁hi"].iter().enumerate() {
            bytes_field(1, &piece(p, -(i as f32), 1), &mut m);
        }
        let mut trainer = Vec::new();
        varint_field(3, MODEL_BPE, &mut trainer);
        varint_field(35, 1, &mut trainer);
        varint_field(43, (-1i64) as u64, &mut trainer); // pad_id = -1
        bytes_field(2, &trainer, &mut m);
        let mut norm = Vec::new();
        bytes_field(1, b"identity", &mut norm);
        varint_field(4, remove_extra_ws as u64, &mut norm);
        bytes_field(3, &norm, &mut m);
        m
    }

    #[test]
    fn converts_a_hand_made_bpe_model() {
        let t = from_bytes(&tiny_bpe(false)).unwrap();
        assert_eq!((t.bos_id, t.eos_id, t.unk_id), (Some(1), Some(2), Some(0)));
        let enc = t.tokenizer.encode("hi  hé", false).unwrap();
        assert_eq!(
            enc.get_tokens(),
            ["▁hi", "▁", "▁", "h", "<0xC3>", "<0xA9>"],
            "dummy prefix, escaped spaces, byte fallback"
        );
        assert_eq!(t.tokenizer.decode(enc.get_ids(), true).unwrap(), "hi  hé");
    }

    #[test]
    fn extra_whitespace_is_removed_when_the_model_says_so() {
        let t = from_bytes(&tiny_bpe(true)).unwrap();
        let enc = t.tokenizer.encode("  hi   hi ", false).unwrap();
        assert_eq!(enc.get_tokens(), ["▁hi", "▁hi"]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"\xff\xff\xff"[..],
            b"hello, this is text",
            b"\x0a\x05ab",
            b"",
        ] {
            assert!(from_bytes(bad).is_err(), "{bad:?}");
        }
    }
}
