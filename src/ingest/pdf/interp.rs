//! One page's content streams -> positioned glyphs (PDF 32000-1 §8.4, §9.3-9.4).
//!
//! Runs the text operators with the full text state: the font's real widths, character
//! and word spacing (`Tc`, `Tw`), horizontal scaling (`Tz`), leading, rise (`Ts`) and
//! `TJ` adjustments, through the text and current transformation matrices, into page
//! coordinates measured from the top left of the page as displayed (`/Rotate` applied).
//! Each glyph's extent is its font width (less any negative spacing), so two glyphs of
//! one word touch, and a gap between them is one the page shows: a `TJ` kern, a `Td`
//! move, a space, or positive character spacing (poppler reads letter-spaced dot
//! leaders as ". . ." the same way).
//!
//! Form XObjects are followed with their matrices and resources (cycles and depth
//! bounded); images are counted, so a page that only shows a scan is known as one.

use super::font::Font;
use super::lexer::{Lexer, Operand, Token};
use super::objects::{self as obj, get, get_dict, get_name};
use crate::ingest::layout::{Glyph, PageGlyphs};
use lopdf::{Dictionary, Document, Object, ObjectId};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// An affine matrix `[a b c d e f]`, points as row vectors: `[x y 1] × M`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matrix([f64; 6]);

impl Matrix {
    pub const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn from_operands(v: &[f64]) -> Option<Matrix> {
        let m: [f64; 6] = v.try_into().ok()?;
        m.iter().all(|x| x.is_finite()).then_some(Matrix(m))
    }

    /// `self` then `other`.
    pub fn then(&self, other: &Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [a2, b2, c2, d2, e2, f2] = other.0;
        Matrix([
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        ])
    }

    fn translate(tx: f64, ty: f64) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, tx, ty])
    }

    fn vector_len(&self, x: f64, y: f64) -> f64 {
        let [a, b, c, d, _, _] = self.0;
        let (vx, vy) = (x * a + y * c, x * b + y * d);
        (vx * vx + vy * vy).sqrt()
    }
}

/// Limits shared by every page of one document, across threads.
pub struct Budget<'a> {
    pub deadline: Instant,
    pub glyphs: &'a AtomicUsize,
    pub max_glyphs: usize,
}

/// Operators run between deadline checks.
const OPS_PER_CHECK: u32 = 4096;
/// Form XObjects nested deeper than this are not followed.
const MAX_FORM_DEPTH: usize = 12;
/// `q` nested deeper than this is ignored (the matching `Q` then restores less).
const MAX_SAVE_DEPTH: usize = 256;
/// Operands kept for one operator at most (a hostile stream can push millions).
const MAX_OPERANDS: usize = 64;

/// Why a page stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Deadline,
    TooManyGlyphs,
}

/// Fonts already read, per thread (a font object shared by many pages is read once).
#[derive(Default)]
pub struct FontCache {
    by_id: HashMap<ObjectId, Rc<Font>>,
    inline: HashMap<usize, Rc<Font>>,
}

#[derive(Clone)]
struct GState {
    ctm: Matrix,
    font: Option<Rc<Font>>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    /// `Tz` / 100.
    hscale: f64,
    leading: f64,
    rise: f64,
}

impl GState {
    fn new(ctm: Matrix) -> Self {
        Self {
            ctm,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            hscale: 1.0,
            leading: 0.0,
            rise: 0.0,
        }
    }
}

/// What one page yielded.
pub struct PageContent {
    pub page: PageGlyphs,
    /// Images drawn (XObjects and inline).
    pub images: u32,
    /// Characters drawn whose text the font does not tell (no usable encoding).
    pub unmapped: usize,
    pub stopped: Option<Stop>,
}

pub struct Interpreter<'a> {
    doc: &'a Document,
    fonts: &'a mut FontCache,
    budget: &'a Budget<'a>,
    out: PageGlyphs,
    images: u32,
    unmapped: usize,
    ops: u32,
    stopped: Option<Stop>,
    forms: Vec<ObjectId>,
    gs: GState,
    saved: Vec<GState>,
    tm: Matrix,
    tlm: Matrix,
}

/// The page's visible box and the matrix from user space to top-left page coordinates.
fn page_frame(doc: &Document, page: ObjectId) -> (f32, f32, Matrix) {
    let media = obj::inherited(doc, page, b"MediaBox").and_then(|o| obj::rect(doc, o));
    let crop = obj::inherited(doc, page, b"CropBox").and_then(|o| obj::rect(doc, o));
    let [llx, lly, urx, ury] = crop.or(media).unwrap_or([0.0, 0.0, 612.0, 792.0]);
    let (w, h) = (urx - llx, ury - lly);
    let rotate = obj::inherited(doc, page, b"Rotate")
        .and_then(|o| obj::number(doc, o))
        .map_or(0, |r| (r as i64).rem_euclid(360));
    // u = x - llx grows right, v = ury - y grows down; rotations turn the page clockwise.
    let (m, pw, ph) = match rotate {
        90 => (Matrix([0.0, 1.0, 1.0, 0.0, -lly, -llx]), h, w),
        180 => (Matrix([-1.0, 0.0, 0.0, 1.0, urx, -lly]), w, h),
        270 => (Matrix([0.0, -1.0, -1.0, 0.0, ury, urx]), h, w),
        _ => (Matrix([1.0, 0.0, 0.0, -1.0, -llx, ury]), w, h),
    };
    (pw as f32, ph as f32, m)
}

impl<'a> Interpreter<'a> {
    pub fn run_page(
        doc: &'a Document,
        page: ObjectId,
        fonts: &'a mut FontCache,
        budget: &'a Budget<'a>,
    ) -> PageContent {
        let (width, height, base) = page_frame(doc, page);
        let mut it = Interpreter {
            doc,
            fonts,
            budget,
            out: PageGlyphs {
                width,
                height,
                glyphs: Vec::new(),
            },
            images: 0,
            unmapped: 0,
            ops: 0,
            stopped: None,
            forms: Vec::new(),
            gs: GState::new(base),
            saved: Vec::new(),
            tm: Matrix::IDENTITY,
            tlm: Matrix::IDENTITY,
        };
        let resources = obj::inherited(doc, page, b"Resources").and_then(|o| obj::dict(doc, o));
        let content = page_content(doc, page);
        it.run(&content, resources);
        PageContent {
            page: it.out,
            images: it.images,
            unmapped: it.unmapped,
            stopped: it.stopped,
        }
    }

    fn run(&mut self, content: &[u8], resources: Option<&'a Dictionary>) {
        let mut lex = Lexer::new(content);
        let mut args: Vec<Operand<'_>> = Vec::new();
        while let Some(tok) = lex.next_token() {
            let op = match tok {
                Token::Operand(o) => {
                    if args.len() < MAX_OPERANDS {
                        args.push(o);
                    }
                    continue;
                }
                Token::Operator(op) => op,
            };
            self.ops += 1;
            if self.ops.is_multiple_of(OPS_PER_CHECK) && Instant::now() > self.budget.deadline {
                self.stopped = Some(Stop::Deadline);
            }
            if self.stopped.is_some() {
                return;
            }
            if op == b"ID" {
                lex.skip_inline_image();
                self.images += 1;
            } else {
                self.operator(op, &args, resources);
            }
            args.clear();
        }
    }

    fn operator(&mut self, op: &[u8], args: &[Operand<'_>], resources: Option<&'a Dictionary>) {
        let num = |i: usize| args.get(i).and_then(Operand::number);
        let nums = || -> Vec<f64> { args.iter().filter_map(Operand::number).collect() };
        match op {
            b"q" if self.saved.len() < MAX_SAVE_DEPTH => self.saved.push(self.gs.clone()),
            b"Q" => {
                if let Some(g) = self.saved.pop() {
                    self.gs = g;
                }
            }
            b"cm" => {
                if let Some(m) = Matrix::from_operands(&nums()) {
                    self.gs.ctm = m.then(&self.gs.ctm);
                }
            }
            b"BT" => {
                self.tm = Matrix::IDENTITY;
                self.tlm = Matrix::IDENTITY;
            }
            b"Tc" => self.gs.char_spacing = num(0).unwrap_or(0.0),
            b"Tw" => self.gs.word_spacing = num(0).unwrap_or(0.0),
            b"Tz" => self.gs.hscale = num(0).unwrap_or(100.0) / 100.0,
            b"TL" => self.gs.leading = num(0).unwrap_or(0.0),
            b"Ts" => self.gs.rise = num(0).unwrap_or(0.0),
            b"Tf" => {
                self.gs.size = num(1).unwrap_or(0.0);
                if let Some(Operand::Name(name)) = args.first() {
                    self.gs.font = self.font(resources, name);
                }
            }
            b"Td" => {
                if let (Some(tx), Some(ty)) = (num(0), num(1)) {
                    self.move_line(tx, ty);
                }
            }
            b"TD" => {
                if let (Some(tx), Some(ty)) = (num(0), num(1)) {
                    self.gs.leading = -ty;
                    self.move_line(tx, ty);
                }
            }
            b"Tm" => {
                if let Some(m) = Matrix::from_operands(&nums()) {
                    self.tm = m;
                    self.tlm = m;
                }
            }
            b"T*" => self.next_line(),
            b"Tj" => {
                if let Some(Operand::Str(s)) = args.first() {
                    self.show(s);
                }
            }
            b"'" => {
                self.next_line();
                if let Some(Operand::Str(s)) = args.first() {
                    self.show(s);
                }
            }
            b"\"" => {
                if let (Some(aw), Some(ac)) = (num(0), num(1)) {
                    self.gs.word_spacing = aw;
                    self.gs.char_spacing = ac;
                }
                self.next_line();
                if let Some(Operand::Str(s)) = args.get(2) {
                    self.show(s);
                }
            }
            b"TJ" => {
                if let Some(Operand::Array(items)) = args.first() {
                    for item in items {
                        match item {
                            Operand::Str(s) => self.show(s),
                            Operand::Number(n) => self.kern(*n),
                            _ => {}
                        }
                    }
                }
            }
            b"Do" => {
                if let Some(Operand::Name(name)) = args.first() {
                    self.x_object(resources, name);
                }
            }
            _ => {}
        }
    }

    fn move_line(&mut self, tx: f64, ty: f64) {
        self.tlm = Matrix::translate(tx, ty).then(&self.tlm);
        self.tm = self.tlm;
    }

    fn next_line(&mut self) {
        self.move_line(0.0, -self.gs.leading);
    }

    /// A `TJ` number: thousandths of a text-space unit, subtracted from the position.
    fn kern(&mut self, n: f64) {
        let vertical = self.gs.font.as_ref().is_some_and(|f| f.vertical);
        let d = -n / 1000.0 * self.gs.size;
        self.tm = if vertical {
            Matrix::translate(0.0, d)
        } else {
            Matrix::translate(d * self.gs.hscale, 0.0)
        }
        .then(&self.tm);
    }

    fn font(&mut self, resources: Option<&'a Dictionary>, name: &[u8]) -> Option<Rc<Font>> {
        let fonts = get_dict(self.doc, resources?, b"Font")?;
        let entry = fonts.get(name).ok()?;
        if let Object::Reference(id) = entry {
            if let Some(f) = self.fonts.by_id.get(id) {
                return Some(f.clone());
            }
            let dict = obj::dict(self.doc, entry)?;
            let f = Rc::new(Font::load(self.doc, dict));
            self.fonts.by_id.insert(*id, f.clone());
            return Some(f);
        }
        let dict = obj::dict(self.doc, entry)?;
        let key = dict as *const Dictionary as usize;
        Some(
            self.fonts
                .inline
                .entry(key)
                .or_insert_with(|| Rc::new(Font::load(self.doc, dict)))
                .clone(),
        )
    }

    fn show(&mut self, bytes: &[u8]) {
        let Some(font) = self.gs.font.clone() else {
            return;
        };
        let gs = &self.gs;
        let (size, th) = (gs.size, gs.hscale);
        let (tc, tw, rise) = (gs.char_spacing, gs.word_spacing, gs.rise);
        let ctm = gs.ctm;
        let mut tm = self.tm;
        let mut out = std::mem::take(&mut self.out.glyphs);
        let mut emitted = 0usize;
        let mut unmapped = 0usize;
        font.each_char(bytes, |ch| {
            let text_to_page = tm.then(&ctm);
            let trm = Matrix([size * th, 0.0, 0.0, size, 0.0, rise]).then(&text_to_page);
            let spacing = tc + if ch.word_space { tw } else { 0.0 };
            let (tx, ty) = if font.vertical {
                (0.0, ch.vertical_advance * size + spacing)
            } else {
                ((ch.width * size + spacing) * th, 0.0)
            };
            if ch.text.is_empty() {
                unmapped += 1;
            } else {
                let [a, b, _, _, e, f] = trm.0;
                // The glyph's extent: its own advance, tightened by negative spacing but
                // not widened by positive spacing, which is a visible gap.
                let extent = if font.vertical {
                    (0.0, ch.vertical_advance * size + spacing.min(0.0))
                } else {
                    ((ch.width * size + spacing.min(0.0)) * th, 0.0)
                };
                let advance = text_to_page.vector_len(extent.0, extent.1) as f32;
                let glyph_size = (text_to_page.vector_len(0.0, size) * font.size_scale) as f32;
                if let Some(g) = place(
                    &self.out,
                    e as f32,
                    f as f32,
                    (a as f32, b as f32),
                    advance,
                    glyph_size,
                    ch.text,
                ) {
                    out.push(g);
                    emitted += 1;
                }
            }
            tm = Matrix::translate(tx, ty).then(&tm);
        });
        self.tm = tm;
        self.out.glyphs = out;
        self.unmapped += unmapped;
        let total = self.budget.glyphs.fetch_add(emitted, Ordering::Relaxed) + emitted;
        if total >= self.budget.max_glyphs {
            self.stopped = Some(Stop::TooManyGlyphs);
        }
    }

    fn x_object(&mut self, resources: Option<&'a Dictionary>, name: &[u8]) {
        let Some(xobjects) = resources.and_then(|r| get_dict(self.doc, r, b"XObject")) else {
            return;
        };
        let Ok(entry) = xobjects.get(name) else {
            return;
        };
        let Some(Object::Stream(stream)) = obj::deref(self.doc, entry) else {
            return;
        };
        match get_name(self.doc, &stream.dict, b"Subtype") {
            Some(b"Image") => self.images += 1,
            Some(b"Form") => {
                let id = entry.as_reference().ok();
                if self.forms.len() >= MAX_FORM_DEPTH
                    || id.is_some_and(|id| self.forms.contains(&id))
                {
                    return; // a form that draws itself, or absurd nesting
                }
                let matrix = get(self.doc, &stream.dict, b"Matrix")
                    .and_then(|m| match m {
                        Object::Array(a) => Matrix::from_operands(&obj::numbers(self.doc, a)),
                        _ => None,
                    })
                    .unwrap_or(Matrix::IDENTITY);
                let form_resources = get_dict(self.doc, &stream.dict, b"Resources").or(resources);
                let content = obj::stream_bytes(stream);
                let (saved_gs, saved_tm, saved_tlm, depth) =
                    (self.gs.clone(), self.tm, self.tlm, self.saved.len());
                self.gs.ctm = matrix.then(&self.gs.ctm);
                self.forms.push(id.unwrap_or((0, 0)));
                self.run(&content, form_resources);
                self.forms.pop();
                self.saved.truncate(depth);
                self.gs = saved_gs;
                self.tm = saved_tm;
                self.tlm = saved_tlm;
            }
            _ => {}
        }
    }
}

/// The page's content streams, concatenated (a content array may split an operator
/// across streams, so they are joined with a separator rather than read one by one).
fn page_content(doc: &Document, page: ObjectId) -> Vec<u8> {
    let Ok(dict) = doc.get_dictionary(page) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match get(doc, dict, b"Contents") {
        Some(Object::Stream(s)) => out = obj::stream_bytes(s),
        Some(Object::Array(items)) => {
            for item in items {
                if let Some(Object::Stream(s)) = obj::deref(doc, item) {
                    out.extend_from_slice(&obj::stream_bytes(s));
                    out.push(b'\n');
                }
            }
        }
        _ => {}
    }
    out
}

/// A glyph in page coordinates. Text set sideways (margin stamps such as arXiv ids or
/// printers' slugs) would otherwise become one-letter lines down the page, inside the
/// body: it is laid out along its own baseline, as a line below the page, where it
/// reads whole and header/footer detection sees it at the edge.
fn place(
    page: &PageGlyphs,
    x: f32,
    y: f32,
    (dx, dy): (f32, f32),
    advance: f32,
    size: f32,
    text: &str,
) -> Option<Glyph> {
    let (mut x, mut y) = (x, y);
    if dy.abs() > dx.abs() * 2.0 {
        let len = (dx * dx + dy * dy).sqrt();
        // In y-up page coordinates, as the direction is measured there.
        let (ux, uy) = (dx / len, -dy / len);
        let (px, py) = (x, page.height - y);
        let along = px * ux + py * uy;
        let across = (py * ux - px * uy).abs();
        x = along + page.height; // keeps it positive whichever way it runs
        y = page.height + 20.0 + across;
    }
    if !(x.is_finite() && y.is_finite() && size.is_finite() && advance.is_finite()) {
        return None;
    }
    let clean: String = text
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect();
    if clean.is_empty() {
        return None;
    }
    Some(Glyph {
        x,
        y,
        w: advance.max(0.0),
        size: size.abs(),
        text: clean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::{dictionary, Stream};
    use std::time::Duration;

    /// A one-page document with `content` and a Helvetica font `/F1` (no /Widths: the
    /// standard metrics apply).
    fn doc_with(content: &[u8], rotate: i64) -> (Document, ObjectId) {
        let mut doc = Document::with_version("1.5");
        let font = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        let contents = doc.add_object(Stream::new(dictionary! {}, content.to_vec()));
        let page = doc.add_object(dictionary! {
            "Type" => "Page",
            "MediaBox" => vec![0.into(), 0.into(), 600.into(), 800.into()],
            "Rotate" => rotate,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
            "Contents" => contents,
        });
        (doc, page)
    }

    fn run(content: &[u8], rotate: i64) -> PageContent {
        let (doc, page) = doc_with(content, rotate);
        run_doc(&doc, page)
    }

    /// Interpret `page` of `doc` with room to spare (ten seconds, a million glyphs).
    fn run_doc(doc: &Document, page: ObjectId) -> PageContent {
        let counter = AtomicUsize::new(0);
        let budget = Budget {
            deadline: Instant::now() + Duration::from_secs(10),
            glyphs: &counter,
            max_glyphs: 1_000_000,
        };
        let mut fonts = FontCache::default();
        Interpreter::run_page(doc, page, &mut fonts, &budget)
    }

    fn approx(a: f32, b: f32) -> bool {
        (a - b).abs() < 0.01
    }

    #[test]
    fn glyph_positions_follow_widths_spacing_scaling_and_kerning() {
        // Helvetica: '1' is 556, 'A' 667. 10 pt, Tc 1, Tz 50, then a TJ kern of -500.
        let p = run(
            b"BT /F1 10 Tf 100 700 Td 1 Tc 50 Tz [(1A) -500 (1)] TJ ET",
            0,
        );
        let g = &p.page.glyphs;
        assert_eq!(g.len(), 3);
        assert!(approx(g[0].x, 100.0) && approx(g[0].y, 100.0), "{g:?}");
        // The glyph is 0.556 * 10 * 0.5 wide; Tc then moves the next one on by 1 * 0.5.
        assert!(approx(g[0].w, 2.78), "{}", g[0].w);
        assert!(approx(g[1].x, 103.28));
        let a_end = 103.28 + (6.67 + 1.0) * 0.5;
        assert!(approx(g[2].x, a_end + 2.5), "{} vs {}", g[2].x, a_end + 2.5);
        assert!(approx(g[0].size, 10.0));
    }

    /// A large `Tc` undone by `TJ` kerns (a table producer's trick): a glyph's extent
    /// is its own width, so it does not run over the next one.
    #[test]
    fn kerned_back_spacing_does_not_swallow_the_next_glyph() {
        let p = run(b"BT 4 Tc /F1 10 Tf 0 0 Td [(1) 400 (2) 400 (3)] TJ ET", 0);
        let g = &p.page.glyphs;
        assert!(approx(g[1].x - g[0].x, 5.56), "{g:?}");
        assert!(g[0].w <= g[1].x - g[0].x + 0.01);
    }

    #[test]
    fn word_spacing_applies_to_code_32_and_rise_lifts_glyphs() {
        let p = run(b"BT /F1 10 Tf 5 Tw 0 0 Td (a b) Tj 3 Ts (1) Tj ET", 0);
        let g = &p.page.glyphs;
        // a (556) + space (278 + Tw 5)
        assert!(approx(g[2].x, 5.56 + 2.78 + 5.0), "{g:?}");
        assert!(approx(g[3].y, 800.0 - 3.0));
    }

    #[test]
    fn forms_carry_their_matrix_and_cycles_stop() {
        let mut doc = Document::with_version("1.5");
        let font = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let form_id = doc.new_object_id();
        let form = Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Form",
                "Matrix" => vec![1.into(), 0.into(), 0.into(), 1.into(), 50.into(), 0.into()],
                "Resources" => dictionary! {
                    "Font" => dictionary! { "F1" => font },
                    "XObject" => dictionary! { "X1" => form_id },
                },
            },
            b"BT /F1 10 Tf 0 0 Td (x) Tj ET /X1 Do".to_vec(),
        );
        doc.objects.insert(form_id, Object::Stream(form));
        let contents = doc.add_object(Stream::new(dictionary! {}, b"q /X1 Do Q".to_vec()));
        let page = doc.add_object(dictionary! {
            "Type" => "Page",
            "MediaBox" => vec![0.into(), 0.into(), 600.into(), 800.into()],
            "Resources" => dictionary! { "XObject" => dictionary! { "X1" => form_id } },
            "Contents" => contents,
        });
        let p = run_doc(&doc, page);
        assert_eq!(p.page.glyphs.len(), 1, "the self-drawing form runs once");
        assert!(approx(p.page.glyphs[0].x, 50.0));
    }

    #[test]
    fn rotated_pages_read_upright() {
        // On a page turned 90 degrees, text drawn up the page reads left to right.
        let p = run(b"BT /F1 10 Tf 0 1 -1 0 300 100 Tm (ab) Tj ET", 90);
        let g = &p.page.glyphs;
        assert_eq!((p.page.width, p.page.height), (800.0, 600.0));
        assert!(approx(g[0].x, 100.0) && approx(g[0].y, 300.0), "{g:?}");
        assert!(g[1].x > g[0].x && approx(g[1].y, g[0].y), "{g:?}");
    }

    #[test]
    fn inline_images_count_and_deadline_stops() {
        let p = run(
            b"BI /W 1 /H 1 /BPC 8 /CS /G ID \x00 EI BT /F1 10 Tf (z) Tj ET",
            0,
        );
        assert_eq!(p.images, 1);
        assert_eq!(p.page.glyphs.len(), 1);
        let (doc, page) = doc_with(&b"q Q ".repeat(10_000), 0);
        let counter = AtomicUsize::new(0);
        let budget = Budget {
            deadline: Instant::now() - Duration::from_secs(1),
            glyphs: &counter,
            max_glyphs: 10,
        };
        let mut fonts = FontCache::default();
        let p = Interpreter::run_page(&doc, page, &mut fonts, &budget);
        assert_eq!(p.stopped, Some(Stop::Deadline));
    }
}
