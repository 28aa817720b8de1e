//! Character encodings of fonts: the base encodings of simple fonts (PDF 32000-1
//! Annex D), glyph names -> Unicode (Adobe Glyph List and its `uniXXXX` conventions),
//! and the predefined CJK CMaps' character encodings.
//!
//! Tables live in `tables/` (see its LICENSES.md), parsed once on first use.

use super::cmap::{Code, CodeRange, CodeSpace};
use std::collections::HashMap;
use std::sync::OnceLock;

const GLYPHLIST: &str = include_str!("tables/glyphlist.txt");
const ENCODINGS: &str = include_str!("tables/encodings.txt");

/// `name<TAB>hex[ hex...]` lines -> name -> text.
fn glyph_list() -> &'static HashMap<&'static str, String> {
    static LIST: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    LIST.get_or_init(|| {
        GLYPHLIST
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, hex) = l.split_once('\t')?;
                let text: Option<String> = hex
                    .split(' ')
                    .map(|h| u32::from_str_radix(h, 16).ok().and_then(char::from_u32))
                    .collect();
                Some((name, text?))
            })
            .collect()
    })
}

/// A character's glyph name (the first the list gives), for standard font metrics.
pub fn name_of_char(c: char) -> Option<&'static str> {
    static REVERSE: OnceLock<HashMap<char, &'static str>> = OnceLock::new();
    let rev = REVERSE.get_or_init(|| {
        let mut m = HashMap::new();
        for l in GLYPHLIST.lines().filter(|l| !l.starts_with('#')) {
            if let Some((name, hex)) = l.split_once('\t') {
                if let Some(c) = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                    m.entry(c).or_insert(name);
                }
            }
        }
        m
    });
    rev.get(&c).copied()
}

/// The text of a glyph name: the Adobe Glyph List, then its naming conventions
/// (`uni0041`, `u1F600`, `f_f_i` ligatures, `one.oldstyle` variants).
pub fn glyph_text(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    if let Some(t) = glyph_list().get(name) {
        return Some(t.clone());
    }
    // `one.oldstyle`, `a.sc`: the part before the dot.
    let base = name.split('.').next().unwrap_or("");
    if base.is_empty() {
        return None;
    }
    if base.contains('_') {
        let parts: Option<Vec<String>> = base.split('_').map(component_text).collect();
        return parts.map(|p| p.concat()).filter(|t| !t.is_empty());
    }
    component_text(base)
}

fn component_text(name: &str) -> Option<String> {
    if let Some(t) = glyph_list().get(name) {
        return Some(t.clone());
    }
    if let Some(hex) = name.strip_prefix("uni") {
        if !hex.is_empty() && hex.len() % 4 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let units: Vec<u16> = hex
                .as_bytes()
                .chunks(4)
                .filter_map(|c| u16::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
                .collect();
            return Some(String::from_utf16_lossy(&units));
        }
    }
    if let Some(hex) = name.strip_prefix('u') {
        if (4..=6).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let c = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)?;
            return Some(c.to_string());
        }
    }
    None
}

/// The base encodings a font dictionary can name, and the built-in ones of the
/// symbol fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseEncoding {
    Standard,
    MacRoman,
    WinAnsi,
    PdfDoc,
    Symbol,
}

impl BaseEncoding {
    pub fn from_name(name: &[u8]) -> Option<BaseEncoding> {
        Some(match name {
            b"StandardEncoding" => BaseEncoding::Standard,
            b"MacRomanEncoding" => BaseEncoding::MacRoman,
            b"WinAnsiEncoding" => BaseEncoding::WinAnsi,
            b"PDFDocEncoding" => BaseEncoding::PdfDoc,
            // MacExpert holds small caps and old-style figures; their names start with
            // the letters they stand for, which Standard's slots do not, so it reads
            // as Standard plus Differences (which real files always carry with it).
            b"MacExpertEncoding" => BaseEncoding::Standard,
            _ => return None,
        })
    }

    fn section(self) -> &'static str {
        match self {
            BaseEncoding::Standard => "StandardEncoding",
            BaseEncoding::MacRoman => "MacRomanEncoding",
            BaseEncoding::WinAnsi => "WinAnsiEncoding",
            BaseEncoding::PdfDoc => "PDFDocEncoding",
            BaseEncoding::Symbol => "Symbol",
        }
    }
}

type NameTable = Vec<Option<&'static str>>;

/// `# NAME` sections of `code<TAB>glyphname` lines -> one 256-slot table each.
fn encodings() -> &'static HashMap<&'static str, NameTable> {
    static TABLES: OnceLock<HashMap<&'static str, NameTable>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut out: HashMap<&'static str, NameTable> = HashMap::new();
        let mut current: Option<&'static str> = None;
        for line in ENCODINGS.lines() {
            if let Some(name) = line.strip_prefix("# ") {
                current = Some(name.trim());
                out.entry(name.trim()).or_insert_with(|| vec![None; 256]);
                continue;
            }
            let (Some(section), Some((code, name))) = (current, line.split_once('\t')) else {
                continue;
            };
            if let (Ok(code), Some(table)) = (code.parse::<usize>(), out.get_mut(section)) {
                if code < 256 {
                    table[code] = Some(name);
                }
            }
        }
        out
    })
}

/// Glyph names by code (256 slots) of a base encoding.
pub fn base_names(base: BaseEncoding) -> &'static [Option<&'static str>] {
    encodings()
        .get(base.section())
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The character encoding behind a predefined CJK CMap (PDF 32000-1 Table 118): the
/// codes are text in that encoding, so they decode without the CMap itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CjkEncoding {
    form: CjkForm,
    ordering: &'static [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CjkForm {
    Ucs2,
    Utf16,
    Utf8,
    Utf32,
    /// A legacy double-byte encoding (GBK, Big5, Shift-JIS, EUC-KR, EUC-JP).
    Legacy(&'static encoding_rs::Encoding),
    /// ISO-2022 JIS X 0208 without escapes (the `H`/`V` CMaps): two 7-bit bytes.
    Jis,
}

impl CjkEncoding {
    pub fn from_cmap_name(name: &[u8]) -> Option<CjkEncoding> {
        let name = std::str::from_utf8(name).ok()?;
        let stem = name
            .strip_suffix("-H")
            .or_else(|| name.strip_suffix("-V"))
            .unwrap_or(name);
        let ordering: &'static [u8] = if stem.starts_with("UniGB") || stem.starts_with("GB") {
            b"GB1"
        } else if stem.starts_with("UniCNS")
            || stem.starts_with("B5")
            || stem.starts_with("ETen")
            || stem.starts_with("HKscs")
            || stem.starts_with("CNS")
            || stem.starts_with("ETHK")
            || stem.starts_with("HK")
        {
            b"CNS1"
        } else if stem.starts_with("UniKS") || stem.starts_with("KSC") {
            b"Korea1"
        } else {
            b"Japan1"
        };
        use encoding_rs::{BIG5, EUC_JP, EUC_KR, GB18030, SHIFT_JIS};
        let form = if stem.starts_with("Uni") {
            if stem.ends_with("UCS2") {
                CjkForm::Ucs2
            } else if stem.ends_with("UTF16") {
                CjkForm::Utf16
            } else if stem.ends_with("UTF8") {
                CjkForm::Utf8
            } else if stem.ends_with("UTF32") {
                CjkForm::Utf32
            } else {
                return None;
            }
        } else if stem.starts_with("GB") {
            CjkForm::Legacy(GB18030)
        } else if ordering == b"CNS1" {
            CjkForm::Legacy(BIG5)
        } else if ordering == b"Korea1" {
            CjkForm::Legacy(EUC_KR)
        } else if stem.contains("RKSJ") {
            CjkForm::Legacy(SHIFT_JIS)
        } else if stem == "EUC" {
            CjkForm::Legacy(EUC_JP)
        } else if name == "H" || name == "V" {
            CjkForm::Jis
        } else {
            return None;
        };
        Some(CjkEncoding { form, ordering })
    }

    pub fn ordering(&self) -> &'static [u8] {
        self.ordering
    }

    pub fn code_space(&self) -> CodeSpace {
        let r = |lo, hi, len| CodeRange { lo, hi, len };
        CodeSpace::from_ranges(match self.form {
            CjkForm::Ucs2 | CjkForm::Jis => vec![r(0, 0xFFFF, 2)],
            CjkForm::Utf16 => vec![
                r(0, 0xD7FF, 2),
                r(0xE000, 0xFFFF, 2),
                r(0xD800_DC00, 0xDBFF_DFFF, 4),
            ],
            CjkForm::Utf32 => vec![r(0, 0x10FFFF, 4)],
            CjkForm::Utf8 => vec![
                r(0, 0x7F, 1),
                r(0xC280, 0xDFBF, 2),
                r(0xE0_8080, 0xEF_BFBF, 3),
                r(0xF080_8080, 0xF4BF_BFBF, 4),
            ],
            CjkForm::Legacy(enc) if enc == encoding_rs::SHIFT_JIS => vec![
                r(0, 0x80, 1),
                r(0xA0, 0xDF, 1),
                r(0x8140, 0x9FFC, 2),
                r(0xE040, 0xFCFC, 2),
            ],
            CjkForm::Legacy(_) => vec![r(0, 0x80, 1), r(0x8140, 0xFEFE, 2)],
        })
    }

    pub fn decode(&self, code: Code) -> Option<String> {
        let bytes = code.value.to_be_bytes();
        let bytes = &bytes[4 - code.len as usize..];
        let text = match self.form {
            CjkForm::Ucs2 | CjkForm::Utf16 => {
                let units: Vec<u16> = bytes
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                    .collect();
                String::from_utf16(&units).ok()?
            }
            CjkForm::Utf8 => std::str::from_utf8(bytes).ok()?.to_string(),
            CjkForm::Utf32 => char::from_u32(code.value)?.to_string(),
            CjkForm::Legacy(enc) => {
                let (t, bad) = enc.decode_without_bom_handling(bytes);
                if bad {
                    return None;
                }
                t.into_owned()
            }
            CjkForm::Jis => {
                let euc: Vec<u8> = bytes.iter().map(|b| b | 0x80).collect();
                let (t, bad) = encoding_rs::EUC_JP.decode_without_bom_handling(&euc);
                if bad {
                    return None;
                }
                t.into_owned()
            }
        };
        (!text.is_empty() && !text.contains('\u{FFFD}')).then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_names_resolve() {
        assert_eq!(glyph_text(b"A").as_deref(), Some("A"));
        assert_eq!(glyph_text(b"quotedblleft").as_deref(), Some("\u{201C}"));
        assert_eq!(glyph_text(b"uni20AC").as_deref(), Some("\u{20AC}"));
        assert_eq!(glyph_text(b"u1F600").as_deref(), Some("\u{1F600}"));
        assert_eq!(glyph_text(b"f_f_i").as_deref(), Some("ffi"));
        assert_eq!(glyph_text(b"one.oldstyle").as_deref(), Some("1"));
        assert_eq!(glyph_text(b"g123"), None);
        assert_eq!(name_of_char('1'), Some("one"));
    }

    #[test]
    fn base_encodings() {
        let win = base_names(BaseEncoding::WinAnsi);
        assert_eq!(win[0x80], Some("Euro"));
        assert_eq!(win[0x93], Some("quotedblleft"));
        let std = base_names(BaseEncoding::Standard);
        assert_eq!(std[0x27], Some("quoteright"));
        assert_eq!(std[0x41], Some("A"));
        let mac = base_names(BaseEncoding::MacRoman);
        assert_eq!(mac[0xD2], Some("quotedblleft"));
    }

    #[test]
    fn predefined_cjk_cmaps_decode() {
        let gbk = CjkEncoding::from_cmap_name(b"GBK-EUC-H").unwrap();
        let space = gbk.code_space();
        let code = space.next(&[0xD3, 0xAA]);
        assert_eq!(code.len, 2);
        assert_eq!(gbk.decode(code).as_deref(), Some("营"));
        assert_eq!(space.next(b"A").len, 1);
        let ucs2 = CjkEncoding::from_cmap_name(b"UniGB-UCS2-H").unwrap();
        assert_eq!(
            ucs2.decode(Code {
                value: 0x4E1A,
                len: 2
            })
            .as_deref(),
            Some("业")
        );
        assert_eq!(ucs2.ordering(), b"GB1");
        let sjis = CjkEncoding::from_cmap_name(b"90ms-RKSJ-H").unwrap();
        assert_eq!(sjis.ordering(), b"Japan1");
        let c = sjis.code_space().next(&[0x93, 0xFA]);
        assert_eq!(sjis.decode(c).as_deref(), Some("日"));
        assert!(CjkEncoding::from_cmap_name(b"Identity-H").is_none());
    }
}
