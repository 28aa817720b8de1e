//! CMap streams -> code space, code -> CID and code -> Unicode maps (PDF 32000-1 §9.7.5,
//! §9.10.3; Adobe TN 5014 and 5411).
//!
//! One parser reads both kinds a PDF embeds: a font's `/Encoding` CMap (`cidrange`,
//! `cidchar`) and its `/ToUnicode` CMap (`bfrange`, `bfchar`). Ranges stay ranges, so
//! an identity-style `<0000> <FFFF>` costs one entry, not 65,536.

use super::lexer::{Lexer, Operand, Token};
use std::collections::HashMap;

/// A character code as read from a string: its value and how many bytes it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub value: u32,
    pub len: u8,
}

/// A range of codes of one byte length (`begincodespacerange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRange {
    pub lo: u32,
    pub hi: u32,
    pub len: u8,
}

/// How the bytes of a string split into codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSpace {
    ranges: Vec<CodeRange>,
}

impl CodeSpace {
    pub fn fixed(len: u8) -> Self {
        let hi = if len >= 4 {
            u32::MAX
        } else {
            (1u32 << (8 * len as u32)) - 1
        };
        Self {
            ranges: vec![CodeRange { lo: 0, hi, len }],
        }
    }

    pub fn from_ranges(ranges: Vec<CodeRange>) -> Self {
        if ranges.is_empty() {
            return Self::fixed(2);
        }
        Self { ranges }
    }

    fn shortest(&self) -> u8 {
        self.ranges.iter().map(|r| r.len).min().unwrap_or(1)
    }

    /// The code at the start of `bytes` (which must not be empty): the shortest byte
    /// sequence that falls in a code-space range. Bytes that match no range are read as
    /// a code of the shortest length, as Acrobat does, so text never stops early.
    pub fn next(&self, bytes: &[u8]) -> Code {
        let mut value = 0u32;
        for n in 1..=4u8.min(bytes.len() as u8) {
            value = value << 8 | bytes[n as usize - 1] as u32;
            if self
                .ranges
                .iter()
                .any(|r| r.len == n && r.lo <= value && value <= r.hi)
            {
                return Code { value, len: n };
            }
        }
        let n = self.shortest().clamp(1, bytes.len().min(4) as u8);
        let value = bytes[..n as usize]
            .iter()
            .fold(0u32, |v, &b| v << 8 | b as u32);
        Code { value, len: n }
    }
}

/// What a range of codes maps to in a ToUnicode CMap.
#[derive(Debug, Clone)]
enum BfTarget {
    /// The first code's text as UTF-16 units; later codes add to the last unit.
    Start(Vec<u16>),
    /// One text per code.
    List(Vec<String>),
}

#[derive(Debug, Clone)]
struct BfRange {
    lo: u32,
    hi: u32,
    target: BfTarget,
}

#[derive(Debug, Clone, Copy)]
struct CidRange {
    lo: u32,
    hi: u32,
    cid: u32,
}

/// A parsed CMap: its code space and whatever mappings it had.
#[derive(Debug, Clone, Default)]
pub struct CMap {
    pub codespace: Vec<CodeRange>,
    bf_chars: HashMap<u32, String>,
    bf_ranges: Vec<BfRange>,
    cid_ranges: Vec<CidRange>,
    /// `/Name usecmap`: a predefined CMap this one extends.
    pub use_cmap: Option<String>,
    /// `/WMode 1`: vertical writing.
    pub vertical: bool,
}

/// At most this many entries are read from one CMap (a hostile stream could list
/// millions); real ones stay far below.
const MAX_ENTRIES: usize = 200_000;

impl CMap {
    pub fn parse(data: &[u8]) -> CMap {
        let mut cmap = CMap::default();
        let mut lex = Lexer::new(data);
        let mut stack: Vec<Operand<'_>> = Vec::new();
        let mut entries = 0usize;
        while let Some(tok) = lex.next_token() {
            let op = match tok {
                Token::Operand(o) => {
                    if stack.len() < 4096 {
                        stack.push(o);
                    }
                    continue;
                }
                Token::Operator(op) => op,
            };
            match op {
                b"endcodespacerange" => {
                    for pair in stack.chunks_exact(2) {
                        if let (Operand::Str(lo), Operand::Str(hi)) = (&pair[0], &pair[1]) {
                            let len = lo.len().clamp(1, 4) as u8;
                            cmap.codespace.push(CodeRange {
                                lo: be(lo),
                                hi: be(hi),
                                len,
                            });
                        }
                    }
                }
                b"endbfchar" => {
                    for pair in stack.chunks_exact(2) {
                        if entries >= MAX_ENTRIES {
                            break;
                        }
                        let Operand::Str(src) = &pair[0] else {
                            continue;
                        };
                        let text = match &pair[1] {
                            Operand::Str(dst) => utf16_text(dst),
                            Operand::Name(n) => super::encoding::glyph_text(n).unwrap_or_default(),
                            _ => continue,
                        };
                        cmap.bf_chars.insert(be(src), text);
                        entries += 1;
                    }
                }
                b"endbfrange" => {
                    for triple in stack.chunks_exact(3) {
                        if entries >= MAX_ENTRIES {
                            break;
                        }
                        let (Operand::Str(lo), Operand::Str(hi)) = (&triple[0], &triple[1]) else {
                            continue;
                        };
                        let (lo, hi) = (be(lo), be(hi));
                        if hi < lo {
                            continue;
                        }
                        let target = match &triple[2] {
                            Operand::Str(dst) => BfTarget::Start(utf16_units(dst)),
                            Operand::Array(items) => BfTarget::List(
                                items
                                    .iter()
                                    .map(|i| match i {
                                        Operand::Str(s) => utf16_text(s),
                                        _ => String::new(),
                                    })
                                    .collect(),
                            ),
                            _ => continue,
                        };
                        cmap.bf_ranges.push(BfRange { lo, hi, target });
                        entries += 1;
                    }
                }
                b"endcidrange" | b"endnotdefrange" => {
                    for triple in stack.chunks_exact(3) {
                        if entries >= MAX_ENTRIES {
                            break;
                        }
                        if let (Operand::Str(lo), Operand::Str(hi), Some(cid)) =
                            (&triple[0], &triple[1], triple[2].number())
                        {
                            let (lo, hi) = (be(lo), be(hi));
                            if hi >= lo && cid >= 0.0 {
                                cmap.cid_ranges.push(CidRange {
                                    lo,
                                    hi,
                                    cid: cid as u32,
                                });
                                entries += 1;
                            }
                        }
                    }
                }
                b"endcidchar" => {
                    for pair in stack.chunks_exact(2) {
                        if let (Operand::Str(src), Some(cid)) = (&pair[0], pair[1].number()) {
                            if cid >= 0.0 && entries < MAX_ENTRIES {
                                let v = be(src);
                                cmap.cid_ranges.push(CidRange {
                                    lo: v,
                                    hi: v,
                                    cid: cid as u32,
                                });
                                entries += 1;
                            }
                        }
                    }
                }
                b"usecmap" => {
                    if let Some(Operand::Name(n)) = stack.last() {
                        cmap.use_cmap = Some(String::from_utf8_lossy(n).into_owned());
                    }
                }
                b"def" => {
                    if let [.., Operand::Name(key), Operand::Number(v)] = stack.as_slice() {
                        if *key == b"WMode" {
                            cmap.vertical = *v == 1.0;
                        }
                    }
                }
                _ => {}
            }
            stack.clear();
        }
        // Later ranges win over earlier ones in lookups (`find` from the back), as a
        // CMap that redefines a code means the new value.
        cmap
    }

    pub fn is_empty(&self) -> bool {
        self.bf_chars.is_empty() && self.bf_ranges.is_empty() && self.cid_ranges.is_empty()
    }

    pub fn has_cids(&self) -> bool {
        !self.cid_ranges.is_empty()
    }

    /// The text a ToUnicode CMap gives `code`, if it maps it.
    pub fn text(&self, code: u32) -> Option<String> {
        if let Some(t) = self.bf_chars.get(&code) {
            return Some(t.clone());
        }
        let r = self
            .bf_ranges
            .iter()
            .rev()
            .find(|r| r.lo <= code && code <= r.hi)?;
        let k = code - r.lo;
        match &r.target {
            BfTarget::List(items) => items.get(k as usize).cloned(),
            BfTarget::Start(units) => {
                let mut units = units.clone();
                let last = units.last_mut()?;
                *last = last.wrapping_add(k as u16);
                Some(String::from_utf16_lossy(&units))
            }
        }
    }

    /// The CID an encoding CMap gives `code`.
    pub fn cid(&self, code: u32) -> Option<u32> {
        self.cid_ranges
            .iter()
            .rev()
            .find(|r| r.lo <= code && code <= r.hi)
            .map(|r| r.cid + (code - r.lo))
    }
}

/// Big-endian bytes (at most the last four) as a number.
fn be(bytes: &[u8]) -> u32 {
    let tail = &bytes[bytes.len().saturating_sub(4)..];
    tail.iter().fold(0u32, |v, &b| v << 8 | b as u32)
}

fn utf16_units(bytes: &[u8]) -> Vec<u16> {
    if bytes.len() == 1 {
        return vec![bytes[0] as u16];
    }
    bytes
        .chunks(2)
        .map(|c| {
            if c.len() == 2 {
                (c[0] as u16) << 8 | c[1] as u16
            } else {
                c[0] as u16
            }
        })
        .collect()
}

/// A ToUnicode destination (UTF-16BE) as text; lone surrogates become U+FFFD.
pub fn utf16_text(bytes: &[u8]) -> String {
    String::from_utf16_lossy(&utf16_units(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO_UNICODE: &[u8] = b"/CIDInit /ProcSet findresource begin
12 dict begin begincmap
/CMapName /Adobe-Identity-UCS def
1 begincodespacerange <0000> <FFFF> endcodespacerange
3 beginbfchar
<0003> <0020>
<0011> <002E>
<00B5> <D835DC00>
endbfchar
2 beginbfrange
<0013> <001C> <0030>
<0050> <0052> [<0066> <FB01> <00660066>]
endbfrange
endcmap CMapName currentdict /CMap defineresource pop end end";

    #[test]
    fn to_unicode_chars_ranges_and_arrays() {
        let c = CMap::parse(TO_UNICODE);
        assert_eq!(c.text(0x03).as_deref(), Some(" "));
        assert_eq!(c.text(0x13).as_deref(), Some("0"));
        assert_eq!(c.text(0x1C).as_deref(), Some("9"));
        assert_eq!(c.text(0x1D), None);
        assert_eq!(c.text(0x51).as_deref(), Some("\u{FB01}"));
        assert_eq!(c.text(0x52).as_deref(), Some("ff"));
        assert_eq!(c.text(0xB5).as_deref(), Some("\u{1D400}"));
        assert_eq!(
            c.codespace,
            vec![CodeRange {
                lo: 0,
                hi: 0xFFFF,
                len: 2
            }]
        );
    }

    #[test]
    fn encoding_cmap_with_mixed_code_lengths() {
        let c = CMap::parse(
            b"/CMapName /Test-H def /WMode 0 def
2 begincodespacerange <00> <80> <8140> <FEFE> endcodespacerange
1 begincidrange <20> <7e> 1 endcidrange
1 begincidrange <8140> <817e> 633 endcidrange
1 begincidchar <8180> 900 endcidchar",
        );
        let space = CodeSpace::from_ranges(c.codespace.clone());
        assert_eq!(
            space.next(b"A\x81\x41"),
            Code {
                value: 0x41,
                len: 1
            }
        );
        assert_eq!(
            space.next(b"\x81\x41A"),
            Code {
                value: 0x8141,
                len: 2
            }
        );
        assert_eq!(c.cid(0x41), Some(0x41 - 0x20 + 1));
        assert_eq!(c.cid(0x8141), Some(634));
        assert_eq!(c.cid(0x8180), Some(900));
        assert!(!c.vertical);
    }

    #[test]
    fn codes_outside_the_code_space_still_advance() {
        let space = CodeSpace::from_ranges(vec![CodeRange {
            lo: 0x8140,
            hi: 0xFEFE,
            len: 2,
        }]);
        assert_eq!(
            space.next(b"\x20\x20"),
            Code {
                value: 0x2020,
                len: 2
            }
        );
        assert_eq!(
            space.next(b"\x20"),
            Code {
                value: 0x20,
                len: 1
            }
        );
    }
}
