//! Font dictionaries -> how a string's bytes become characters: codes, their Unicode
//! text and their advance widths (PDF 32000-1 §9.6-9.10).
//!
//! Widths are what pdf-extract got wrong on real filings: its reading of a CID font's
//! `/W` array dropped every `first last width` range, so the EDGAR converters' digits
//! (CIDs 19-28 in one range) got width 0 and `(660)` came out as `(6 6 0 )`. Here every
//! width source the spec defines is read: `/Widths` + `/FirstChar` (simple fonts),
//! `/W` + `/DW` (CID fonts, both forms), the standard 14 fonts' metrics when a file
//! leaves widths out, `/MissingWidth`, and Type 3 widths through the `/FontMatrix`.
//!
//! Text comes from, in order: the `/ToUnicode` CMap; for simple fonts the encoding's
//! glyph names (base encoding, `/Differences`, or the embedded font program's built-in
//! encoding) through the Adobe Glyph List; for CID fonts the predefined CMap's own
//! encoding (Unicode, GBK, Big5, Shift-JIS, EUC-KR) or the Adobe collection's CID ->
//! Unicode table (Adobe-GB1, -CNS1, -Japan1, -Korea1).

use super::cid_unicode::{self, Collection};
use super::cmap::{CMap, Code, CodeSpace};
use super::encoding::{self, BaseEncoding};
use super::metrics::{self, StandardFont};
use super::objects::{self as obj, get, get_array, get_dict, get_name, get_number, get_stream};
use lopdf::{Dictionary, Document, Object};
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

/// One character of a shown string.
pub struct Char<'a> {
    /// Unicode text (empty when the font gives no way to know it).
    pub text: &'a str,
    /// Horizontal advance in text space per unit of font size (w0 / 1000 for most fonts).
    pub width: f64,
    /// Vertical advance for vertical writing, same units (negative is down).
    pub vertical_advance: f64,
    /// The single-byte code 32, which `Tw` word spacing applies to.
    pub word_space: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    text: Rc<str>,
    /// In glyph space units (1/1000 em for all fonts but Type 3).
    width: f64,
}

/// The default width of a CID font without `/DW` (§9.7.4.3).
const CID_DEFAULT_WIDTH: f64 = 1000.0;
/// Vertical writing defaults (`/DW2`): position vector y 880, advance -1000.
const CID_DEFAULT_VERTICAL: f64 = -1000.0;
/// Glyph space of every font but Type 3 is 1/1000 of text space.
const GLYPH_SCALE: f64 = 0.001;
/// Simple fonts have one-byte codes.
const SIMPLE_CODES: usize = 256;
/// Entries read from a `/W` array at most (hostile files list millions).
const MAX_WIDTH_ENTRIES: usize = 100_000;

pub struct Font {
    space: CodeSpace,
    /// Text space per glyph space unit (1/1000, or a Type 3 font's `/FontMatrix`).
    width_scale: f64,
    /// A Type 3 font's glyph size relative to a 1/1000 font (its matrix's y scale).
    pub size_scale: f64,
    pub vertical: bool,
    map: CharMap,
}

enum CharMap {
    Simple(Vec<Entry>),
    Composite(Box<Composite>),
}

struct Composite {
    encoding: CidEncoding,
    to_unicode: Option<CMap>,
    collection: Option<&'static Collection>,
    /// An embedded TrueType program's own map, for CIDs nothing else explains.
    glyphs: Option<GlyphMap>,
    widths: CidWidths,
    cache: RefCell<HashMap<u32, Entry>>,
}

/// CID -> glyph id (`/CIDToGIDMap`) -> the character the font's `cmap` gives it.
struct GlyphMap {
    /// `None`: the identity map.
    cid_to_gid: Option<Vec<u16>>,
    chars: HashMap<u16, char>,
}

impl GlyphMap {
    fn load(doc: &Document, descendant: &Dictionary) -> Option<GlyphMap> {
        let descriptor = get_dict(doc, descendant, b"FontDescriptor")?;
        let program = get_stream(doc, descriptor, b"FontFile2")?;
        let chars = super::truetype::glyph_chars(&obj::stream_bytes(program))?;
        let cid_to_gid = match get(doc, descendant, b"CIDToGIDMap") {
            Some(Object::Stream(s)) => Some(
                obj::stream_bytes(s)
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect(),
            ),
            _ => None,
        };
        Some(GlyphMap { cid_to_gid, chars })
    }

    fn text(&self, cid: u32) -> Option<String> {
        let gid = match &self.cid_to_gid {
            Some(map) => *map.get(cid as usize)?,
            None => u16::try_from(cid).ok()?,
        };
        self.chars.get(&gid).map(|c| c.to_string())
    }
}

/// How a composite font's codes become CIDs (and, for predefined CMaps, text).
enum CidEncoding {
    /// `Identity-H`/`-V`: two-byte codes that are CIDs.
    Identity,
    /// An embedded CMap stream.
    Embedded(CMap),
    /// A predefined CMap: codes are text in a known character encoding; CIDs (for
    /// widths) come from the collection's table in reverse.
    Predefined(encoding::CjkEncoding),
}

/// `/W` as sorted, non-overlapping CID ranges with their widths.
struct CidWidths {
    ranges: Vec<(u32, u32, f64)>,
    default: f64,
}

impl CidWidths {
    fn parse(doc: &Document, w: Option<&[Object]>, default: f64) -> Self {
        let mut ranges = Vec::new();
        if let Some(w) = w {
            let mut i = 0;
            while i < w.len() && ranges.len() < MAX_WIDTH_ENTRIES {
                let Some(first) = obj::number(doc, &w[i]) else {
                    i += 1;
                    continue;
                };
                let first = first.max(0.0) as u32;
                match w.get(i + 1).and_then(|o| obj::deref(doc, o)) {
                    // c [w1 w2 ...]
                    Some(Object::Array(list)) => {
                        for (k, v) in list.iter().enumerate().take(MAX_WIDTH_ENTRIES) {
                            if let Some(v) = obj::number(doc, v) {
                                let cid = first.saturating_add(k as u32);
                                ranges.push((cid, cid, v));
                            }
                        }
                        i += 2;
                    }
                    // c_first c_last w
                    Some(_) => {
                        let last = w.get(i + 1).and_then(|o| obj::number(doc, o));
                        let width = w.get(i + 2).and_then(|o| obj::number(doc, o));
                        if let (Some(last), Some(width)) = (last, width) {
                            let last = last.max(0.0) as u32;
                            if last >= first {
                                ranges.push((first, last, width));
                            }
                        }
                        i += 3;
                    }
                    None => break,
                }
            }
        }
        // Later entries win where a file repeats a CID; sort stably, then keep the last.
        ranges.sort_by_key(|r| r.0);
        Self { ranges, default }
    }

    fn width(&self, cid: u32) -> f64 {
        let i = self.ranges.partition_point(|r| r.0 <= cid);
        // The candidates end at i; overlapping ranges are rare, look back a little.
        for r in self.ranges[..i].iter().rev().take(4) {
            if r.0 <= cid && cid <= r.1 {
                return r.2;
            }
        }
        self.default
    }
}

impl Font {
    /// Read a font dictionary. Never fails: what cannot be read falls back to defaults
    /// (Standard encoding, standard widths), so text keeps flowing.
    pub fn load(doc: &Document, dict: &Dictionary) -> Font {
        let subtype = get_name(doc, dict, b"Subtype").unwrap_or(b"Type1");
        match subtype {
            b"Type0" => composite(doc, dict),
            _ => simple(doc, dict, subtype),
        }
    }

    /// Call `f` for each character `bytes` shows, in order.
    pub fn each_char(&self, bytes: &[u8], mut f: impl FnMut(Char<'_>)) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let code = self.space.next(rest);
            rest = &rest[(code.len as usize).min(rest.len())..];
            match &self.map {
                CharMap::Simple(entries) => {
                    let e = &entries[(code.value as usize) & (SIMPLE_CODES - 1)];
                    f(Char {
                        text: &e.text,
                        width: e.width * self.width_scale,
                        vertical_advance: CID_DEFAULT_VERTICAL * GLYPH_SCALE,
                        word_space: code.value == 32,
                    });
                }
                CharMap::Composite(c) => {
                    let e = c.entry(code);
                    f(Char {
                        text: &e.text,
                        width: e.width * self.width_scale,
                        vertical_advance: CID_DEFAULT_VERTICAL * GLYPH_SCALE,
                        word_space: code.len == 1 && code.value == 32,
                    });
                }
            }
        }
    }
}

impl Composite {
    fn entry(&self, code: Code) -> Entry {
        if let Some(e) = self.cache.borrow().get(&code.value) {
            return e.clone();
        }
        let e = self.resolve(code);
        self.cache.borrow_mut().insert(code.value, e.clone());
        e
    }

    fn resolve(&self, code: Code) -> Entry {
        let mut predefined_text = None;
        let cid = match &self.encoding {
            CidEncoding::Identity => Some(code.value),
            CidEncoding::Embedded(cmap) => cmap.cid(code.value).or(if cmap.has_cids() {
                None
            } else {
                Some(code.value)
            }),
            CidEncoding::Predefined(enc) => {
                let t = enc.decode(code);
                let cid = t
                    .as_deref()
                    .and_then(|t| t.chars().next())
                    .and_then(|c| self.collection.and_then(|col| col.cid_of(c)));
                predefined_text = t;
                cid
            }
        };
        let from_to_unicode = self
            .to_unicode
            .as_ref()
            .and_then(|m| m.text(code.value))
            .filter(|t| usable(t));
        let text = from_to_unicode
            .or(predefined_text)
            .or_else(|| self.collection?.text(cid?))
            .or_else(|| self.glyphs.as_ref()?.text(cid?))
            .unwrap_or_default();
        let width = cid.map_or(self.widths.default, |c| self.widths.width(c));
        Entry {
            text: Rc::from(canonical_text(text)),
            width,
        }
    }
}

/// Characters fonts map glyphs to that stand for others: Kangxi radicals (macOS
/// PingFang maps 子 to U+2F26 ⼦), CJK compatibility ideographs, and Latin ligatures
/// (ﬁ). They are replaced by what they stand for (their NFKC form), as poppler does;
/// everything else (superscript digits, full-width forms) is kept as printed.
fn canonical_text(text: String) -> String {
    use unicode_normalization::UnicodeNormalization;
    let stands_for_another =
        |c: char| matches!(c as u32, 0x2E80..=0x2FDF | 0xF900..=0xFAFF | 0xFB00..=0xFB06);
    if !text.chars().any(stands_for_another) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if stands_for_another(c) {
            out.extend(std::iter::once(c).nfkc());
        } else {
            out.push(c);
        }
    }
    out
}

/// ToUnicode values that carry no text (`<0000>`, controls) do not override the
/// other sources.
fn usable(t: &str) -> bool {
    !t.is_empty() && !t.chars().all(|c| c.is_control() && c != '\t')
}

fn composite(doc: &Document, dict: &Dictionary) -> Font {
    let descendant = get_array(doc, dict, b"DescendantFonts")
        .and_then(|a| a.first())
        .and_then(|o| obj::dict(doc, o));
    let ordering = descendant
        .and_then(|d| get_dict(doc, d, b"CIDSystemInfo"))
        .and_then(|info| match get(doc, info, b"Ordering")? {
            Object::String(s, _) => Some(s.as_slice()),
            Object::Name(n) => Some(n.as_slice()),
            _ => None,
        });
    let mut vertical = false;
    let (encoding, space) = match get(doc, dict, b"Encoding") {
        Some(Object::Name(name)) => {
            vertical = name.ends_with(b"-V") || name == b"V";
            match name.as_slice() {
                b"Identity-H" | b"Identity-V" => (CidEncoding::Identity, CodeSpace::fixed(2)),
                other => match encoding::CjkEncoding::from_cmap_name(other) {
                    Some(enc) => {
                        let space = enc.code_space();
                        (CidEncoding::Predefined(enc), space)
                    }
                    None => (CidEncoding::Identity, CodeSpace::fixed(2)),
                },
            }
        }
        Some(Object::Stream(s)) => {
            let cmap = CMap::parse(&obj::stream_bytes(s));
            vertical = cmap.vertical;
            match cmap
                .use_cmap
                .as_deref()
                .and_then(|n| encoding::CjkEncoding::from_cmap_name(n.as_bytes()))
            {
                // An embedded CMap that only names a predefined one.
                Some(enc) if !cmap.has_cids() => {
                    let space = enc.code_space();
                    (CidEncoding::Predefined(enc), space)
                }
                _ => {
                    let space = CodeSpace::from_ranges(cmap.codespace.clone());
                    (CidEncoding::Embedded(cmap), space)
                }
            }
        }
        _ => (CidEncoding::Identity, CodeSpace::fixed(2)),
    };
    let collection = ordering
        .and_then(cid_unicode::collection)
        .or_else(|| match &encoding {
            CidEncoding::Predefined(enc) => cid_unicode::collection(enc.ordering()),
            _ => None,
        });
    let widths = match descendant {
        Some(d) => {
            let default = get_number(doc, d, b"DW").unwrap_or(CID_DEFAULT_WIDTH);
            CidWidths::parse(doc, get_array(doc, d, b"W"), default)
        }
        None => CidWidths {
            ranges: Vec::new(),
            default: CID_DEFAULT_WIDTH,
        },
    };
    let to_unicode = to_unicode(doc, dict);
    // The font program is read only when no ToUnicode map exists (it can be large,
    // and files with a map rarely leave codes out of it).
    let glyphs = if to_unicode.is_none() && collection.is_none() {
        descendant.and_then(|d| GlyphMap::load(doc, d))
    } else {
        None
    };
    Font {
        space,
        width_scale: GLYPH_SCALE,
        size_scale: 1.0,
        vertical,
        map: CharMap::Composite(Box::new(Composite {
            encoding,
            to_unicode,
            collection,
            glyphs,
            widths,
            cache: RefCell::new(HashMap::new()),
        })),
    }
}

fn to_unicode(doc: &Document, dict: &Dictionary) -> Option<CMap> {
    let s = get_stream(doc, dict, b"ToUnicode")?;
    let cmap = CMap::parse(&obj::stream_bytes(s));
    (!cmap.is_empty()).then_some(cmap)
}

/// `ABCDEF+Name` -> `Name` (subset fonts carry a six-letter tag).
fn strip_subset(name: &[u8]) -> &[u8] {
    if name.len() > 7 && name[6] == b'+' && name[..6].iter().all(u8::is_ascii_uppercase) {
        &name[7..]
    } else {
        name
    }
}

/// Font descriptor flag: the font uses symbols outside the standard Latin set.
const FLAG_SYMBOLIC: i64 = 1 << 2;

fn simple(doc: &Document, dict: &Dictionary, subtype: &[u8]) -> Font {
    let base_font = get_name(doc, dict, b"BaseFont").map(strip_subset);
    let descriptor = get_dict(doc, dict, b"FontDescriptor");
    let flags = descriptor
        .and_then(|d| get_number(doc, d, b"Flags"))
        .unwrap_or(0.0) as i64;
    let standard = base_font.and_then(metrics::standard_font);
    let is_type3 = subtype == b"Type3";
    let builtin = descriptor.and_then(|d| builtin_encoding(doc, d));

    // The base encoding: named, or the font's own, or Standard.
    let mut names: Vec<Option<Rc<str>>> = vec![None; SIMPLE_CODES];
    let enc_obj = get(doc, dict, b"Encoding");
    let named_base = match enc_obj {
        Some(Object::Name(n)) => BaseEncoding::from_name(n),
        Some(Object::Dictionary(d)) => {
            get_name(doc, d, b"BaseEncoding").and_then(BaseEncoding::from_name)
        }
        _ => None,
    };
    let symbolic_truetype = subtype == b"TrueType" && flags & FLAG_SYMBOLIC != 0;
    match named_base {
        Some(base) => fill(&mut names, encoding::base_names(base)),
        None => {
            if let Some(b) = &builtin {
                for (code, name) in b {
                    if let Some(slot) = names.get_mut(*code as usize) {
                        *slot = Some(Rc::from(name.as_str()));
                    }
                }
            } else if let Some(std) = standard.filter(|s| s.builtin_encoding().is_some()) {
                fill(&mut names, std.builtin_encoding().unwrap_or_default());
            } else if !symbolic_truetype && !is_type3 {
                fill(&mut names, encoding::base_names(BaseEncoding::Standard));
            }
        }
    }
    if let Some(Object::Dictionary(d)) = enc_obj {
        if let Some(diffs) = get_array(doc, d, b"Differences") {
            let mut code = 0usize;
            for item in diffs {
                match obj::deref(doc, item) {
                    Some(Object::Integer(i)) => code = (*i).clamp(0, 255) as usize,
                    Some(Object::Name(n)) => {
                        if code < SIMPLE_CODES {
                            names[code] = Some(Rc::from(String::from_utf8_lossy(n).as_ref()));
                        }
                        code += 1;
                    }
                    _ => {}
                }
            }
        }
    }

    let to_unicode = to_unicode(doc, dict);
    let first = get_number(doc, dict, b"FirstChar").unwrap_or(0.0).max(0.0) as usize;
    let widths: Vec<f64> = get_array(doc, dict, b"Widths")
        .map(|a| {
            a.iter()
                .take(SIMPLE_CODES)
                .map(|o| obj::number(doc, o).unwrap_or(f64::NAN))
                .collect()
        })
        .unwrap_or_default();
    let missing = descriptor
        .and_then(|d| get_number(doc, d, b"MissingWidth"))
        .filter(|w| *w > 0.0);
    // Without any widths, the closest standard font's metrics stand in (as poppler
    // does for non-embedded fonts); a Type 3 or embedded font always has /Widths.
    let substitute = if widths.is_empty() && standard.is_none() {
        base_font.map(metrics::substitute_font)
    } else {
        None
    };
    let name_text = |name: &str| encoding::glyph_text(name.as_bytes());
    let type3_numeric = is_type3 && numeric_glyph_names(&names);

    let mut entries = Vec::with_capacity(SIMPLE_CODES);
    for (code, name) in names.iter().enumerate() {
        let name = name.as_deref();
        let text = to_unicode
            .as_ref()
            .and_then(|m| m.text(code as u32))
            .filter(|t| usable(t))
            .or_else(|| name.and_then(name_text))
            .or_else(|| {
                if type3_numeric {
                    return char::from_u32(code as u32)
                        .filter(|c| !c.is_control())
                        .map(String::from);
                }
                // A symbolic TrueType font without encoding: its codes are usually the
                // characters themselves, sometimes moved to U+F000 (Microsoft symbol).
                (symbolic_truetype || name.is_none())
                    .then(|| char::from_u32(code as u32))
                    .flatten()
                    .filter(|c| !c.is_control() && (*c as u32) < 0x7F || (*c as u32) >= 0xA0)
                    .map(String::from)
            })
            .unwrap_or_default();
        let from_widths = code
            .checked_sub(first)
            .and_then(|i| widths.get(i))
            .copied()
            .filter(|w| w.is_finite());
        let width = from_widths
            .or_else(|| {
                let std = standard.or(substitute)?;
                std.width(name?)
                    .or_else(|| std.width_of_char(text.chars().next()?))
            })
            .or(missing)
            .unwrap_or(0.0);
        entries.push(Entry {
            text: Rc::from(canonical_text(text)),
            width,
        });
    }

    let (width_scale, size_scale) = if is_type3 {
        let m = get_array(doc, dict, b"FontMatrix")
            .map(|a| obj::numbers(doc, a))
            .filter(|m| m.len() == 6 && m[0] != 0.0)
            .unwrap_or_else(|| vec![GLYPH_SCALE, 0.0, 0.0, GLYPH_SCALE, 0.0, 0.0]);
        (m[0], type3_size_scale(&entries, m[0], m[3]))
    } else {
        (GLYPH_SCALE, 1.0)
    };
    Font {
        space: CodeSpace::fixed(1),
        width_scale,
        size_scale,
        vertical: false,
        map: CharMap::Simple(entries),
    }
}

/// Average widths (in ems) that poppler assumes to guess a Type 3 font's em.
const TYPE3_M_WIDTH: f64 = 0.6;
const TYPE3_LETTER_WIDTH: f64 = 0.5;

/// A Type 3 font's glyph space has no fixed em: its size in text space is guessed from
/// its widths, as poppler does (an `m` is about 0.6 em wide, other letters about 0.5).
fn type3_size_scale(entries: &[Entry], a: f64, d: f64) -> f64 {
    let width_of = |pred: &dyn Fn(&str) -> bool| {
        entries
            .iter()
            .find(|e| pred(&e.text) && e.width > 0.0)
            .map(|e| e.width * a.abs())
    };
    let em = width_of(&|t| t == "m")
        .map(|w| w / TYPE3_M_WIDTH)
        .or_else(|| {
            width_of(&|t| t.len() == 1 && t.chars().all(|c| c.is_ascii_alphabetic()))
                .map(|w| w / TYPE3_LETTER_WIDTH)
        })
        .or_else(|| width_of(&|_| true).map(|w| w / TYPE3_LETTER_WIDTH))
        .unwrap_or(1.0);
    (em * (d / a).abs()).clamp(1e-3, 1e3)
}

fn fill(names: &mut [Option<Rc<str>>], table: &[Option<&'static str>]) {
    for (slot, name) in names.iter_mut().zip(table) {
        *slot = name.map(Rc::from);
    }
}

/// Type 3 fonts from some producers name their glyphs by code (`g65`, `a65`, `65`):
/// when every name is such a number, the codes are taken as the characters.
fn numeric_glyph_names(names: &[Option<Rc<str>>]) -> bool {
    let mut any = false;
    for n in names.iter().flatten() {
        if encoding::glyph_text(n.as_bytes()).is_some() {
            return false;
        }
        let digits = n.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
        any = true;
    }
    any
}

/// The encoding built into an embedded Type 1 or CFF font program (code -> glyph
/// name). Font programs are untrusted and their parsers may panic: a panic means no
/// built-in encoding, never a lost page.
fn builtin_encoding(doc: &Document, descriptor: &Dictionary) -> Option<Vec<(u32, String)>> {
    if let Some(s) = get_stream(doc, descriptor, b"FontFile") {
        let data = obj::stream_bytes(s);
        let parsed = panic::catch_unwind(AssertUnwindSafe(|| {
            type1_encoding_parser::get_encoding_map(&data).ok()
        }))
        .ok()
        .flatten()?;
        let mut out: Vec<(u32, String)> = parsed
            .into_iter()
            .map(|(code, name)| (code, String::from_utf8_lossy(&name).into_owned()))
            .collect();
        out.sort();
        return (!out.is_empty()).then_some(out);
    }
    let s = get_stream(doc, descriptor, b"FontFile3")?;
    if get_name(doc, &s.dict, b"Subtype") != Some(b"Type1C") {
        return None;
    }
    let data = obj::stream_bytes(s);
    panic::catch_unwind(AssertUnwindSafe(|| {
        let table = cff_parser::Table::parse(&data)?;
        let codes = table.encoding.get_code_to_sid_table(&table.charset);
        let mut out: Vec<(u32, String)> = codes
            .into_iter()
            .filter_map(|(code, sid)| {
                let name = cff_parser::string_by_id(&table, sid)?;
                (name != ".notdef").then(|| (code as u32, name.to_string()))
            })
            .collect();
        out.sort();
        (!out.is_empty()).then_some(out)
    }))
    .ok()
    .flatten()
}

impl StandardFont {
    fn width_of_char(&self, c: char) -> Option<f64> {
        self.width(encoding::name_of_char(c)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::dictionary;

    fn widths_of(font: &Font, bytes: &[u8]) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        font.each_char(bytes, |c| out.push((c.text.to_string(), c.width * 1000.0)));
        out
    }

    /// The EDGAR converters' CID fonts: digits in a `first last width` range of `/W`,
    /// `/DW 0`. pdf-extract read such ranges as empty, giving the digits width 0.
    #[test]
    fn cid_width_ranges_and_lists() {
        let mut doc = Document::with_version("1.5");
        let to_unicode = doc.add_object(lopdf::Stream::new(
            dictionary! {},
            b"1 begincodespacerange <0000> <FFFF> endcodespacerange
2 beginbfrange <0013> <001C> <0030> <000B> <000C> <0028> endbfrange
1 beginbfchar <0003> <0020> endbfchar"
                .to_vec(),
        ));
        let descendant = dictionary! {
            "Type" => "Font", "Subtype" => "CIDFontType2", "BaseFont" => "TimesNewRomanPSMT",
            "DW" => 0,
            "W" => vec![
                Object::Integer(3), Object::Array(vec![Object::Integer(250)]),
                Object::Integer(11), Object::Integer(12), Object::Real(333.0078),
                Object::Integer(19), Object::Integer(28), Object::Integer(500),
            ],
        };
        let font = dictionary! {
            "Type" => "Font", "Subtype" => "Type0", "BaseFont" => "TimesNewRomanPSMT",
            "Encoding" => "Identity-H",
            "DescendantFonts" => vec![Object::Dictionary(descendant)],
            "ToUnicode" => to_unicode,
        };
        let f = Font::load(&doc, &font);
        let got = widths_of(&f, &[0, 0x0B, 0, 0x19, 0, 0x19, 0, 0x13, 0, 0x0C, 0, 3]);
        let texts: String = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(texts, "(660) ");
        let w: Vec<f64> = got.iter().map(|g| (g.1 * 10.0).round() / 10.0).collect();
        assert_eq!(w, vec![333.0, 500.0, 500.0, 500.0, 333.0, 250.0]);
        assert!(!f.vertical);
    }

    #[test]
    fn simple_font_widths_differences_and_standard_metrics() {
        let doc = Document::with_version("1.5");
        let font = dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => dictionary! {
                "Type" => "Encoding", "BaseEncoding" => "WinAnsiEncoding",
                "Differences" => vec![Object::Integer(65), Object::Name(b"Euro".to_vec())],
            },
        };
        let f = Font::load(&doc, &font);
        let got = widths_of(&f, b"A1 \x93");
        assert_eq!(got[0], ("\u{20AC}".to_string(), 556.0));
        assert_eq!(got[1], ("1".to_string(), 556.0));
        assert_eq!(got[2], (" ".to_string(), 278.0));
        assert_eq!(got[3].0, "\u{201C}");

        let with_widths = dictionary! {
            "Type" => "Font", "Subtype" => "TrueType", "BaseFont" => "ABCDEF+ArialMT",
            "Encoding" => "WinAnsiEncoding", "FirstChar" => 48,
            "Widths" => vec![Object::Integer(600), Object::Integer(601)],
        };
        let f = Font::load(&doc, &with_widths);
        let got = widths_of(&f, b"01a");
        assert_eq!(got[0], ("0".to_string(), 600.0));
        assert_eq!(got[1], ("1".to_string(), 601.0));
        // Outside /Widths and no MissingWidth: Arial is Helvetica-shaped.
        assert_eq!(got[2].0, "a");
    }

    #[test]
    fn radicals_and_ligatures_read_as_what_they_stand_for() {
        assert_eq!(canonical_text("⼦⽅".into()), "子方");
        assert_eq!(canonical_text("ﬁnancial".into()), "financial");
        assert_eq!(canonical_text("2023¹ Ａ".into()), "2023¹ Ａ");
    }

    #[test]
    fn type3_widths_go_through_the_font_matrix() {
        let doc = Document::with_version("1.5");
        let font = dictionary! {
            "Type" => "Font", "Subtype" => "Type3",
            "FontMatrix" => vec![0.01.into(), 0.into(), 0.into(), 0.01.into(), 0.into(), 0.into()],
            "FirstChar" => 1, "Widths" => vec![Object::Integer(50)],
            "Encoding" => dictionary! { "Differences" => vec![Object::Integer(1), Object::Name(b"five".to_vec())] },
        };
        let f = Font::load(&doc, &font);
        let mut got = Vec::new();
        f.each_char(b"\x01", |c| got.push((c.text.to_string(), c.width)));
        assert_eq!(got[0].0, "5");
        assert!((got[0].1 - 0.5).abs() < 1e-6);
        // No letters: the em is guessed from the one width, 0.5 text units = half an em.
        assert!((f.size_scale - 1.0).abs() < 1e-6, "{}", f.size_scale);
    }

    #[test]
    fn predefined_unicode_cmap_decodes_and_finds_widths() {
        let doc = Document::with_version("1.5");
        let descendant = dictionary! {
            "Subtype" => "CIDFontType0", "BaseFont" => "STSong-Light",
            "CIDSystemInfo" => dictionary! {
                "Registry" => Object::string_literal("Adobe"),
                "Ordering" => Object::string_literal("GB1"), "Supplement" => 4,
            },
            "DW" => 1000,
            "W" => vec![Object::Integer(1), Object::Integer(95), Object::Integer(500)],
        };
        let font = dictionary! {
            "Subtype" => "Type0", "BaseFont" => "STSong-Light-UniGB-UCS2-H",
            "Encoding" => "UniGB-UCS2-H",
            "DescendantFonts" => vec![Object::Dictionary(descendant)],
        };
        let f = Font::load(&doc, &font);
        // 营业 A
        let got = widths_of(&f, &[0x84, 0x25, 0x4E, 0x1A, 0x00, 0x41]);
        let text: String = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(text, "营业A");
        assert_eq!(got[0].1, 1000.0);
        assert_eq!(got[2].1, 500.0);
    }
}
