//! PDF -> positioned glyphs per page (pdf-extract's interpreter over lopdf), then
//! `layout` turns them into lines, paragraphs and tables.
//!
//! Runs inside `isolate::run`: pdf-extract unwraps freely on malformed input, so each
//! page is also guarded on its own, and one bad page does not lose the others.

use super::layout::{self, Glyph, PageGlyphs};
use super::{Block, IngestError};
use pdf_extract::{
    Dictionary, Document, MediaBox, Object, ObjectId, OutputDev, OutputError, Transform,
};
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Stop collecting beyond this many glyphs in one document (memory bound: a hostile
/// file can draw the same text endlessly through nested forms).
const MAX_GLYPHS: usize = 20_000_000;

/// What a PDF yields: page count, blocks, and the pages the fallback extractor read.
pub struct PdfText {
    pub pages: u32,
    pub blocks: Vec<Block>,
    pub fallback_pages: Vec<u32>,
}

pub fn extract(path: &Path, bytes: &[u8]) -> Result<PdfText, IngestError> {
    let corrupt = |reason: String| IngestError::Corrupt {
        path: path.to_path_buf(),
        format: "PDF",
        reason,
    };
    let mut doc = load(path, bytes)?;
    let page_ids = doc.get_pages();
    if page_ids.is_empty() {
        return Err(corrupt("no pages could be found".into()));
    }
    break_form_cycles(&mut doc);
    let (pages, fallback_pages) = glyphs_by_page(path, &doc, page_ids.len() as u32)?;
    let n_pages = pages.len() as u32;
    let blocks = layout::blocks_from_pages(&pages);
    if blocks.iter().all(|b| b.text.trim().is_empty()) {
        return Err(IngestError::NoText {
            path: path.to_path_buf(),
        });
    }
    Ok(PdfText {
        pages: n_pages,
        blocks,
        fallback_pages,
    })
}

/// Load with lopdf. lopdf opens files with an empty user password by itself; a file that
/// still has `/Encrypt` but was not decrypted needs a password we do not have.
fn load(path: &Path, bytes: &[u8]) -> Result<Document, IngestError> {
    let to_path = || path.to_path_buf();
    let loaded = panic::catch_unwind(|| Document::load_mem(bytes));
    let doc = match loaded {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) => {
            let reason = e.to_string();
            let lower = reason.to_lowercase();
            if lower.contains("password") || lower.contains("decrypt") || lower.contains("encrypt")
            {
                return Err(IngestError::Encrypted { path: to_path() });
            }
            return Err(IngestError::Corrupt {
                path: to_path(),
                format: "PDF",
                reason: pdf_reason(&reason),
            });
        }
        Err(_) => {
            return Err(IngestError::Corrupt {
                path: to_path(),
                format: "PDF",
                reason: "the PDF structure could not be parsed".into(),
            })
        }
    };
    if doc.trailer.get(b"Encrypt").is_ok() && !doc.was_encrypted() {
        return Err(IngestError::Encrypted { path: to_path() });
    }
    Ok(doc)
}

/// lopdf's messages, made readable for a user.
fn pdf_reason(raw: &str) -> String {
    let lower = raw.to_lowercase();
    if lower.contains("xref") || lower.contains("trailer") || lower.contains("startxref") {
        format!("its cross-reference table is missing or broken ({raw})")
    } else if lower.contains("header") {
        format!("its header is invalid ({raw})")
    } else {
        raw.to_string()
    }
}

/// Interpret every page, each guarded on its own. A page that panics, errors or yields
/// garbage (no letters, or mostly unmapped glyphs) is retried with lopdf's own simpler
/// text extractor; the better of the two is kept. Only when no page yields anything and
/// some failed is the file corrupt.
fn glyphs_by_page(
    path: &Path,
    doc: &Document,
    n: u32,
) -> Result<(Vec<PageGlyphs>, Vec<u32>), IngestError> {
    let mut pages = Vec::with_capacity(n as usize);
    let mut fallback = Vec::new();
    let mut first_failure: Option<String> = None;
    let mut collector = Collector::default();
    for page_num in 1..=n {
        collector.begin(page_num);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            pdf_extract::output_doc_page(doc, &mut collector, page_num)
        }));
        let err = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("page {page_num}: {e}")),
            Err(payload) => Some(format!("page {page_num}: {}", panic_text(&payload))),
        };
        if let Some(e) = err {
            first_failure.get_or_insert(e);
        }
        let mut page = collector.take_page();
        let (good, bad) = quality(page.glyphs.iter().map(|g| g.text.as_str()));
        if good == 0 || bad * 3 > good {
            if let Some(text) = lopdf_page_text(doc, page_num) {
                let (good2, bad2) = quality(std::iter::once(text.as_str()));
                if good2 > good && bad2 * 3 <= good2 {
                    page = synthetic_page(&text, &page);
                    fallback.push(page_num);
                }
            }
        }
        pages.push(page);
        if collector.total >= MAX_GLYPHS {
            return Err(IngestError::Corrupt {
                path: PathBuf::from(path),
                format: "PDF",
                reason: format!(
                    "more than {MAX_GLYPHS} characters of text; refusing to read further"
                ),
            });
        }
    }
    if let Some(reason) = first_failure {
        if pages
            .iter()
            .all(|p| quality(p.glyphs.iter().map(|g| g.text.as_str())).0 == 0)
        {
            return Err(IngestError::Corrupt {
                path: path.to_path_buf(),
                format: "PDF",
                reason,
            });
        }
    }
    Ok((pages, fallback))
}

fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the page could not be interpreted".into());
    let line = msg.lines().next().unwrap_or("").trim();
    line.chars().take(120).collect()
}

/// (letters/digits/CJK, unmapped glyphs: U+FFFD, private use, controls).
fn quality<'a>(texts: impl Iterator<Item = &'a str>) -> (usize, usize) {
    let (mut good, mut bad) = (0, 0);
    for t in texts {
        for c in t.chars() {
            if c.is_alphanumeric() {
                good += 1;
            } else if c == '\u{FFFD}'
                || ('\u{E000}'..='\u{F8FF}').contains(&c)
                || (c.is_control() && !c.is_whitespace())
            {
                bad += 1;
            }
        }
    }
    (good, bad)
}

/// lopdf's text extractor: no positions, but it decodes some fonts pdf-extract cannot.
fn lopdf_page_text(doc: &Document, page_num: u32) -> Option<String> {
    let text = panic::catch_unwind(AssertUnwindSafe(|| doc.extract_text(&[page_num])))
        .ok()?
        .ok()?;
    (!text.trim().is_empty()).then_some(text)
}

/// Lines of plain text as glyphs on an evenly spaced grid (a blank line is a paragraph
/// gap), so the fallback's text goes through the same line/paragraph logic.
fn synthetic_page(text: &str, like: &PageGlyphs) -> PageGlyphs {
    let mut glyphs = Vec::new();
    let mut y = 12.0f32;
    for line in text.lines() {
        let line = line.trim();
        if !line.is_empty() {
            let w = 5.0 * line.chars().count() as f32;
            glyphs.push(Glyph {
                x: 0.0,
                y,
                w,
                size: 10.0,
                text: line.to_string(),
            });
        }
        y += 12.0;
    }
    PageGlyphs {
        width: like.width.max(1.0),
        height: y,
        glyphs,
    }
}

/// Collects positioned glyphs for one page at a time, in content-stream order.
#[derive(Default)]
struct Collector {
    page: PageGlyphs,
    origin: (f32, f32),
    total: usize,
}

impl Collector {
    fn begin(&mut self, _page: u32) {
        self.page = PageGlyphs::default();
    }
    fn take_page(&mut self) -> PageGlyphs {
        std::mem::take(&mut self.page)
    }
}

impl OutputDev for Collector {
    fn begin_page(
        &mut self,
        _page_num: u32,
        media_box: &MediaBox,
        _art: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        let w = (media_box.urx - media_box.llx).abs() as f32;
        let h = (media_box.ury - media_box.lly).abs() as f32;
        self.page.width = if w.is_finite() && w > 0.0 { w } else { 612.0 };
        self.page.height = if h.is_finite() && h > 0.0 { h } else { 792.0 };
        self.origin = (media_box.llx as f32, media_box.ury as f32);
        Ok(())
    }
    fn end_page(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        text: &str,
    ) -> Result<(), OutputError> {
        if self.total >= MAX_GLYPHS {
            // Any error stops the interpreter for this page.
            return Err(OutputError::FormatError(std::fmt::Error));
        }
        // The text matrix's scale (its determinant) turns the font size into page units,
        // whatever the rotation.
        let scale = (trm.m11 * trm.m22 - trm.m12 * trm.m21).abs().sqrt();
        let size = (font_size.abs() * scale) as f32;
        // y from the top of the page.
        let mut x = trm.m31 as f32 - self.origin.0;
        let mut y = self.origin.1 - trm.m32 as f32;
        // Text set sideways (margin stamps such as arXiv ids or printers' slugs) would
        // otherwise become one-letter lines down the page, inside the body. Lay it out
        // along its own baseline, as a line below the page, where it reads whole and
        // header/footer detection sees it at the edge.
        let (dx, dy) = (trm.m11 as f32, trm.m12 as f32);
        if dy.abs() > dx.abs() * 2.0 {
            let len = (dx * dx + dy * dy).sqrt();
            let (ux, uy) = (dx / len, dy / len);
            let (px, py) = (x, self.page.height - y); // back to y-up page coordinates
            let along = px * ux + py * uy;
            let across = (py * ux - px * uy).abs();
            x = along + self.page.height; // keeps it positive whichever way it runs
            y = self.page.height + 20.0 + across;
        }
        let advance = (width * font_size.abs() * scale) as f32;
        if !(x.is_finite() && y.is_finite() && size.is_finite() && advance.is_finite()) {
            return Ok(());
        }
        let clean: String = text
            .chars()
            .filter(|c| !c.is_control() || *c == ' ')
            .collect();
        if clean.is_empty() {
            return Ok(());
        }
        self.page.glyphs.push(Glyph {
            x,
            y,
            w: advance.max(0.0),
            size,
            text: clean,
        });
        self.total += 1;
        Ok(())
    }
    fn begin_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// pdf-extract follows `Do` into form XObjects recursively with no depth limit, so a
/// form that (directly or through others) draws itself would recurse until the stack
/// overflows, which aborts the process and cannot be caught. Remove the XObject entries
/// that close such cycles before interpreting.
fn break_form_cycles(doc: &mut Document) {
    let mut roots: Vec<ObjectId> = Vec::new();
    for (_, page_id) in doc.get_pages() {
        roots.push(page_id);
    }
    // Forms reached through inherited page resources are found by starting from every
    // form in the file too.
    for (id, obj) in &doc.objects {
        if let Object::Stream(s) = obj {
            if s.dict
                .get(b"Subtype")
                .and_then(|o| o.as_name())
                .is_ok_and(|n| n == b"Form")
            {
                roots.push(*id);
            }
        }
    }
    let mut to_remove: Vec<(ObjectId, Vec<u8>)> = Vec::new();
    let mut done: HashSet<ObjectId> = HashSet::new();
    for root in roots {
        let mut path: Vec<ObjectId> = Vec::new();
        visit(doc, root, &mut path, &mut done, &mut to_remove, 0);
    }
    for (owner, name) in to_remove {
        if let Some(dict) = xobject_dict_mut(doc, owner) {
            dict.remove(&name);
        }
    }
}

fn visit(
    doc: &Document,
    id: ObjectId,
    path: &mut Vec<ObjectId>,
    done: &mut HashSet<ObjectId>,
    cut: &mut Vec<(ObjectId, Vec<u8>)>,
    depth: usize,
) {
    if done.contains(&id) || depth > 64 {
        return;
    }
    path.push(id);
    for (name, child) in xobject_refs(doc, id) {
        if path.contains(&child) || depth >= 64 {
            cut.push((id, name));
        } else {
            visit(doc, child, path, done, cut, depth + 1);
        }
    }
    path.pop();
    done.insert(id);
}

/// The resources dictionary of a page or form (following references, one level).
fn resources_of(doc: &Document, id: ObjectId) -> Option<&Dictionary> {
    let obj = doc.get_object(id).ok()?;
    let dict = match obj {
        Object::Dictionary(d) => d,
        Object::Stream(s) => &s.dict,
        _ => return None,
    };
    match dict.get(b"Resources").ok()? {
        Object::Dictionary(d) => Some(d),
        Object::Reference(r) => doc.get_dictionary(*r).ok(),
        _ => None,
    }
}

fn xobject_refs(doc: &Document, id: ObjectId) -> Vec<(Vec<u8>, ObjectId)> {
    let Some(res) = resources_of(doc, id) else {
        return Vec::new();
    };
    let xobjects = match res.get(b"XObject") {
        Ok(Object::Dictionary(d)) => d,
        Ok(Object::Reference(r)) => match doc.get_dictionary(*r) {
            Ok(d) => d,
            Err(_) => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    xobjects
        .iter()
        .filter_map(|(k, v)| v.as_reference().ok().map(|r| (k.clone(), r)))
        .collect()
}

/// The XObject dictionary of `owner`'s resources, for removing an entry. When the
/// resources or the XObject dictionary are shared (referenced), the shared object is
/// edited, which also cuts the cycle for every other user of it.
fn xobject_dict_mut(doc: &mut Document, owner: ObjectId) -> Option<&mut Dictionary> {
    let res_ref = {
        let obj = doc.get_object(owner).ok()?;
        let dict = match obj {
            Object::Dictionary(d) => d,
            Object::Stream(s) => &s.dict,
            _ => return None,
        };
        dict.get(b"Resources").ok()?.as_reference().ok()
    };
    let xobj_ref = {
        let res = match res_ref {
            Some(r) => doc.get_dictionary(r).ok()?,
            None => resources_of(doc, owner)?,
        };
        res.get(b"XObject").ok()?.as_reference().ok()
    };
    if let Some(r) = xobj_ref {
        return doc.get_dictionary_mut(r).ok();
    }
    let res: &mut Dictionary = match res_ref {
        Some(r) => doc.get_dictionary_mut(r).ok()?,
        None => {
            let obj = doc.get_object_mut(owner).ok()?;
            let dict = match obj {
                Object::Dictionary(d) => d,
                Object::Stream(s) => &mut s.dict,
                _ => return None,
            };
            dict.get_mut(b"Resources").ok()?.as_dict_mut().ok()?
        }
    };
    res.get_mut(b"XObject").ok()?.as_dict_mut().ok()
}
