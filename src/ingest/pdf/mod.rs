//! PDF -> positioned glyphs per page (our own content-stream interpreter over lopdf),
//! then `layout` turns them into lines, paragraphs and tables.
//!
//! pdf-extract, used before, lost the widths of CID fonts' `/W` ranges, which split
//! every figure of the EDGAR-converted filings into single digits; the interpreter
//! (`interp`) and font reader (`font`) here read each width source the spec defines.
//!
//! Pages are interpreted in parallel, one worker per core, each page guarded on its own:
//! a page that panics or yields garbage is retried with lopdf's simpler extractor, and
//! one bad page does not lose the others. Runs inside `isolate::run`, which bounds the
//! whole file's time; the workers also stop at that deadline.

mod cid_unicode;
mod cmap;
mod encoding;
mod font;
mod interp;
mod lexer;
mod metrics;
mod objects;
mod truetype;

use super::layout::{self, Glyph, PageGlyphs};
use super::{Block, IngestError};
use interp::{Budget, FontCache, Interpreter, PageContent};
use lopdf::{Document, ObjectId};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Stop collecting beyond this many glyphs in one document (memory bound: a hostile
/// file can draw the same text endlessly through nested forms).
const MAX_GLYPHS: usize = 20_000_000;

/// Page workers at most, whatever the core count (the pages of one file share its
/// fonts' parsing per worker, so more workers repeat more of it).
const MAX_WORKERS: usize = 8;

/// Stack of a page worker: font-program parsers recurse on their input.
const WORKER_STACK: usize = 64 << 20;

/// What a PDF yields: page count, blocks, the pages the fallback extractor read and
/// the pages that have no text layer (scans).
pub struct PdfText {
    pub pages: u32,
    pub blocks: Vec<Block>,
    pub fallback_pages: Vec<u32>,
    pub no_text_pages: Vec<u32>,
}

pub fn extract(path: &Path, bytes: &[u8], deadline: Instant) -> Result<PdfText, IngestError> {
    let corrupt = |reason: String| IngestError::Corrupt {
        path: path.to_path_buf(),
        format: "PDF",
        reason,
    };
    let doc = load(path, bytes)?;
    let page_ids: Vec<ObjectId> = doc.get_pages().into_values().collect();
    if page_ids.is_empty() {
        return Err(corrupt("no pages could be found".into()));
    }
    let read = read_pages(path, &doc, &page_ids, deadline)?;
    let blocks = layout::blocks_from_pages(&read.pages);
    if blocks.iter().all(|b| b.text.trim().is_empty()) {
        return Err(IngestError::NoText {
            path: path.to_path_buf(),
        });
    }
    Ok(PdfText {
        pages: read.pages.len() as u32,
        blocks,
        fallback_pages: read.fallback,
        no_text_pages: read.no_text,
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

/// Every page's glyphs, and which pages needed the fallback or have no text layer.
struct ReadPages {
    pages: Vec<PageGlyphs>,
    fallback: Vec<u32>,
    no_text: Vec<u32>,
}

/// One page's outcome from a worker.
struct PageRead {
    content: PageContent,
    failure: Option<String>,
}

/// Interpret every page, on as many workers as there are cores. A page that panics or
/// yields garbage (no letters, or mostly unmapped glyphs) is retried with lopdf's own
/// simpler text extractor and the better of the two is kept. Only when no page yields
/// anything and some failed is the file corrupt.
fn read_pages(
    path: &Path,
    doc: &Document,
    page_ids: &[ObjectId],
    deadline: Instant,
) -> Result<ReadPages, IngestError> {
    let glyphs = AtomicUsize::new(0);
    let budget = Budget {
        deadline,
        glyphs: &glyphs,
        max_glyphs: MAX_GLYPHS,
    };
    let slots: Vec<Mutex<Option<PageRead>>> = page_ids.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_WORKERS)
        .min(page_ids.len());
    let work = || {
        let mut fonts = FontCache::default();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&id) = page_ids.get(i) else { break };
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                Interpreter::run_page(doc, id, &mut fonts, &budget)
            }));
            let read = match outcome {
                Ok(content) => PageRead {
                    content,
                    failure: None,
                },
                Err(payload) => {
                    // The cache may hold a half-read font: start afresh.
                    fonts = FontCache::default();
                    PageRead {
                        content: PageContent {
                            page: PageGlyphs::default(),
                            images: 0,
                            unmapped: 0,
                            stopped: None,
                        },
                        failure: Some(format!("page {}: {}", i + 1, panic_text(&payload))),
                    }
                }
            };
            let stop = read.content.stopped.is_some();
            *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(read);
            if stop {
                break;
            }
        }
    };
    // This thread works too, so every page is read even where no helper could start.
    std::thread::scope(|s| {
        for k in 1..workers {
            let spawned = std::thread::Builder::new()
                .name(format!("{}-pdf-page-{k}", super::isolate::THREAD_PREFIX))
                .stack_size(WORKER_STACK)
                .spawn_scoped(s, work);
            if spawned.is_err() {
                break;
            }
        }
        work();
    });
    if glyph_limit_hit(&glyphs) {
        return Err(IngestError::Corrupt {
            path: PathBuf::from(path),
            format: "PDF",
            reason: format!("more than {MAX_GLYPHS} characters of text; refusing to read further"),
        });
    }
    let mut out = ReadPages {
        pages: Vec::with_capacity(page_ids.len()),
        fallback: Vec::new(),
        no_text: Vec::new(),
    };
    let mut first_failure: Option<String> = None;
    for (i, slot) in slots.into_iter().enumerate() {
        let page_num = i as u32 + 1;
        let read = slot.into_inner().unwrap_or_else(|e| e.into_inner());
        let Some(read) = read else {
            out.pages.push(PageGlyphs::default());
            continue;
        };
        if let Some(e) = read.failure {
            first_failure.get_or_insert(e);
        }
        let mut page = read.content.page;
        let (good, bad) = quality(page.glyphs.iter().map(|g| g.text.as_str()));
        let bad = bad + read.content.unmapped;
        if good == 0 || bad * 3 > good {
            if let Some(text) = lopdf_page_text(doc, page_num) {
                let (good2, bad2) = quality(std::iter::once(text.as_str()));
                if good2 > good && bad2 * 3 <= good2 {
                    page = synthetic_page(&text, &page);
                    out.fallback.push(page_num);
                }
            }
        }
        // Nothing drawn as text, but images: a scanned page (an exhibit, an appendix).
        if good == 0 && bad == 0 && read.content.images > 0 && page.glyphs.is_empty() {
            out.no_text.push(page_num);
        }
        out.pages.push(page);
    }
    if let Some(reason) = first_failure {
        if out
            .pages
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
    Ok(out)
}

fn glyph_limit_hit(glyphs: &AtomicUsize) -> bool {
    glyphs.load(Ordering::Relaxed) >= MAX_GLYPHS
}

fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    let msg = crate::panic_message(&**payload)
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

/// lopdf's text extractor: no positions, but a second opinion on a page our
/// interpreter could not read.
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
