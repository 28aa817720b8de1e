//! DOCX -> blocks, reading the WordprocessingML parts ourselves (quick-xml), with every
//! decompression bounded.
//!
//! Body paragraphs and tables in order; headings from paragraph styles (Heading N, Title,
//! 标题 N, or an outline level); numbered/bulleted paragraphs as list items; tables as
//! `Table` blocks with cells; text boxes kept; tracked insertions kept and deletions
//! dropped (the final text); hidden (`w:vanish`) runs dropped; footnotes and endnotes
//! appended at the end. Headers and footers are running content and are left out.

use super::{Block, BlockKind, IngestError};
use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;

type Zip<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

pub fn extract(path: &Path, bytes: &[u8], max_unzipped: u64) -> Result<Vec<Block>, IngestError> {
    let corrupt = |reason: String| IngestError::Corrupt {
        path: path.to_path_buf(),
        format: "DOCX",
        reason,
    };
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| corrupt(format!("it is not a readable ZIP archive ({e})")))?;
    check_declared_sizes(&mut zip, max_unzipped).map_err(corrupt)?;
    let mut budget = max_unzipped;
    let main = main_part(&mut zip, &mut budget)
        .ok_or_else(|| corrupt("it has no word/document.xml".into()))?;
    let styles = match read_part(&mut zip, "word/styles.xml", &mut budget).map_err(corrupt)? {
        Some(xml) => parse_styles(&xml),
        None => Styles::default(),
    };
    let body = read_part(&mut zip, &main, &mut budget)
        .map_err(corrupt)?
        .ok_or_else(|| corrupt(format!("{main} is missing")))?;
    let mut items = walk(&body, &styles).map_err(|e| corrupt(format!("{main}: {e}")))?;
    if items.is_empty() {
        // A body with no text: what the headers and footers say is better than nothing.
        let mut parts: Vec<String> = zip
            .file_names()
            .filter(|n| n.starts_with("word/header") || n.starts_with("word/footer"))
            .map(str::to_string)
            .collect();
        parts.sort();
        for part in parts {
            if let Some(xml) = read_part(&mut zip, &part, &mut budget).map_err(corrupt)? {
                items.extend(walk(&xml, &styles).unwrap_or_default());
            }
        }
    }
    for notes in ["word/footnotes.xml", "word/endnotes.xml"] {
        if let Some(xml) = read_part(&mut zip, notes, &mut budget).map_err(corrupt)? {
            // Damaged notes should not lose the body.
            if let Ok(more) = walk(&xml, &styles) {
                items.extend(more);
            }
        }
    }
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, mut b)| {
            b.index = Some(i as u32);
            b
        })
        .collect())
}

/// Refuse archives whose directory claims absurd sizes (zip bombs) before inflating
/// anything. Declared sizes can lie, so `read_part` also bounds what it inflates.
fn check_declared_sizes(zip: &mut Zip<'_>, limit: u64) -> Result<(), String> {
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| format!("its ZIP directory is damaged ({e})"))?;
        let (size, packed) = (f.size(), f.compressed_size().max(1));
        total = total.saturating_add(size);
        if size > limit || total > limit {
            return Err(format!(
                "it would expand to more than {} MB (a zip bomb?); refusing to decompress it",
                limit / 1_000_000
            ));
        }
        if size > 50_000_000 && size / packed > 200 {
            return Err(format!(
                "'{}' claims a compression ratio of {}:1 (a zip bomb?); refusing to decompress it",
                f.name(),
                size / packed
            ));
        }
    }
    Ok(())
}

/// The main document part: the target of the package's officeDocument relationship,
/// else word/document.xml.
fn main_part(zip: &mut Zip<'_>, budget: &mut u64) -> Option<String> {
    if let Ok(Some(rels)) = read_part(zip, "_rels/.rels", budget) {
        let mut reader = quick_xml::Reader::from_str(&rels);
        while let Ok(ev) = reader.read_event() {
            match ev {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Relationship" => {
                    let is_main = attr(&e, b"Type").is_some_and(|t| t.ends_with("/officeDocument"));
                    if let (true, Some(target)) = (is_main, attr(&e, b"Target")) {
                        let target = target.trim_start_matches('/').to_string();
                        if zip.index_for_name(&target).is_some() {
                            return Some(target);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    zip.file_names()
        .find(|n| n.eq_ignore_ascii_case("word/document.xml"))
        .map(|s| s.to_string())
}

/// Inflate one part, at most `budget` bytes (shared by all parts read), as text.
fn read_part(zip: &mut Zip<'_>, name: &str, budget: &mut u64) -> Result<Option<String>, String> {
    let idx = match zip.index_for_name(name) {
        Some(i) => i,
        None => match zip.file_names().position(|n| n.eq_ignore_ascii_case(name)) {
            Some(i) => i,
            None => return Ok(None),
        },
    };
    let file = zip
        .by_index(idx)
        .map_err(|e| format!("cannot open '{name}' in the archive ({e})"))?;
    let mut buf = Vec::new();
    file.take(budget.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| format!("'{name}' is damaged ({e})"))?;
    if buf.len() as u64 > *budget {
        return Err(format!(
            "'{name}' expands past the size limit (a zip bomb?); refusing to read it"
        ));
    }
    *budget -= buf.len() as u64;
    Ok(Some(xml_text(buf)))
}

/// XML parts are UTF-8 (sometimes with a BOM) or, rarely, UTF-16 with a BOM.
fn xml_text(buf: Vec<u8>) -> String {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(&buf) {
        return enc.decode_without_bom_handling(&buf[bom..]).0.into_owned();
    }
    match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[derive(Default, Debug)]
struct Style {
    name: String,
    based_on: Option<String>,
    outline: Option<u8>,
    numbered: bool,
}

#[derive(Default, Debug)]
struct Styles(HashMap<String, Style>);

impl Styles {
    /// Follow `basedOn` a few steps: is this a heading style?
    fn is_heading(&self, id: &str) -> bool {
        let mut cur = Some(id.to_string());
        for _ in 0..8 {
            let Some(id) = cur else { return false };
            if heading_name(&id) {
                return true;
            }
            let Some(s) = self.0.get(&id) else {
                return false;
            };
            if heading_name(&s.name) || s.outline.is_some_and(|l| l < 9) {
                return true;
            }
            cur = s.based_on.clone();
        }
        false
    }
    fn is_list(&self, id: &str) -> bool {
        let mut cur = Some(id.to_string());
        for _ in 0..8 {
            let Some(id) = cur else { return false };
            let Some(s) = self.0.get(&id) else {
                return false;
            };
            let name = s.name.to_lowercase();
            if s.numbered || name.starts_with("list bullet") || name.starts_with("list number") {
                return true;
            }
            cur = s.based_on.clone();
        }
        false
    }
}

/// Heading1, heading 2, Title, 标题 1, 标题1...
fn heading_name(name: &str) -> bool {
    let n = name.trim().to_lowercase();
    let rest = n.strip_prefix("heading").or_else(|| n.strip_prefix("标题"));
    match rest {
        Some(r) => r.trim().chars().all(|c| c.is_ascii_digit()),
        None => n == "title",
    }
}

fn parse_styles(xml: &str) -> Styles {
    let mut styles = Styles::default();
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cur: Option<(String, Style)> = None;
    loop {
        let ev = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(ev) => ev,
        };
        match ev {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name();
                match name.as_ref() {
                    b"style" => {
                        let id = attr(&e, b"styleId").unwrap_or_default();
                        cur = Some((id, Style::default()));
                    }
                    b"name" => {
                        if let (Some((_, s)), Some(v)) = (cur.as_mut(), attr(&e, b"val")) {
                            s.name = v;
                        }
                    }
                    b"basedOn" => {
                        if let Some((_, s)) = cur.as_mut() {
                            s.based_on = attr(&e, b"val");
                        }
                    }
                    b"outlineLvl" => {
                        if let Some((_, s)) = cur.as_mut() {
                            s.outline = attr(&e, b"val").and_then(|v| v.parse().ok());
                        }
                    }
                    b"numId" => {
                        if let Some((_, s)) = cur.as_mut() {
                            s.numbered = attr(&e, b"val").is_some_and(|v| v != "0");
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"style" => {
                if let Some((id, s)) = cur.take() {
                    styles.0.insert(id, s);
                }
            }
            _ => {}
        }
    }
    styles
}

/// The value of the attribute whose local name is `key` (`w:val` -> `val`).
fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key)
        .map(|a| {
            let raw = String::from_utf8_lossy(&a.value);
            quick_xml::escape::unescape(&raw).map_or_else(|_| raw.to_string(), |v| v.into_owned())
        })
}

#[derive(Default)]
struct Para {
    text: String,
    style: Option<String>,
    numbered: bool,
    outline: Option<u8>,
}

#[derive(Default)]
struct TableBuild {
    rows: Vec<Vec<String>>,
    cell: Option<String>,
}

/// Subtrees whose text is not part of the final document: tracked deletions and moves
/// away, old formatting kept for change tracking, field instructions, the VML copy of
/// DrawingML content (`mc:Fallback`, which would duplicate text boxes), separators.
const SKIPPED: &[&[u8]] = &[
    b"del",
    b"moveFrom",
    b"pPrChange",
    b"rPrChange",
    b"sectPrChange",
    b"tblPrChange",
    b"trPrChange",
    b"tcPrChange",
    b"numberingChange",
    b"instrText",
    b"delText",
    b"delInstrText",
    b"Fallback",
];

/// Walk one WordprocessingML part into blocks in document order.
fn walk(xml: &str, styles: &Styles) -> Result<Vec<Block>, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out: Vec<Block> = Vec::new();
    let mut paras: Vec<Para> = Vec::new();
    let mut tables: Vec<TableBuild> = Vec::new();
    let mut skip = 0usize;
    let (mut in_ppr, mut in_rpr, mut in_run, mut in_t, mut hidden) =
        (0usize, false, false, false, false);
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {} ({e})", reader.buffer_position()))?;
        if skip > 0 {
            match ev {
                Event::Start(_) => skip += 1,
                Event::End(_) => skip -= 1,
                Event::Eof => break,
                _ => {}
            }
            continue;
        }
        match ev {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_start = matches!(ev, Event::Start(_));
                let ln = e.local_name();
                let name = ln.as_ref();
                if SKIPPED.contains(&name)
                    || (name == b"footnote" || name == b"endnote")
                        && attr(e, b"type").is_some_and(|t| t != "normal")
                {
                    if is_start {
                        skip = 1;
                    }
                    continue;
                }
                match name {
                    b"p" if is_start => paras.push(Para::default()),
                    b"pPr" if is_start => in_ppr += 1,
                    b"pStyle" if in_ppr > 0 => {
                        if let Some(p) = paras.last_mut() {
                            p.style = attr(e, b"val");
                        }
                    }
                    b"numId" if in_ppr > 0 => {
                        if let Some(p) = paras.last_mut() {
                            p.numbered = attr(e, b"val").is_some_and(|v| v != "0");
                        }
                    }
                    b"outlineLvl" if in_ppr > 0 => {
                        if let Some(p) = paras.last_mut() {
                            p.outline = attr(e, b"val").and_then(|v| v.parse().ok());
                        }
                    }
                    b"r" if is_start => {
                        in_run = true;
                        hidden = false;
                    }
                    b"rPr" if is_start && in_run && in_ppr == 0 => in_rpr = true,
                    b"vanish" if in_rpr => {
                        hidden = attr(e, b"val")
                            .is_none_or(|v| !matches!(v.as_str(), "0" | "false" | "off"));
                    }
                    b"t" if is_start && in_run => in_t = true,
                    b"tab" | b"ptab" if in_run && !hidden => push_text(&mut paras, " "),
                    b"br" | b"cr" if in_run && !hidden => push_text(&mut paras, "\n"),
                    b"noBreakHyphen" if in_run && !hidden => push_text(&mut paras, "-"),
                    b"tbl" if is_start => tables.push(TableBuild::default()),
                    b"tr" if is_start => {
                        if let Some(t) = tables.last_mut() {
                            t.rows.push(Vec::new());
                        }
                    }
                    b"tc" if is_start => {
                        if let Some(t) = tables.last_mut() {
                            t.cell = Some(String::new());
                        }
                    }
                    _ => {}
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                b"p" => {
                    if let Some(p) = paras.pop() {
                        emit_para(p, styles, &mut tables, &mut out);
                    }
                }
                b"pPr" => in_ppr = in_ppr.saturating_sub(1),
                b"rPr" => in_rpr = false,
                b"r" => {
                    in_run = false;
                    hidden = false;
                }
                b"t" => in_t = false,
                b"tc" => {
                    if let Some(t) = tables.last_mut() {
                        let cell = t.cell.take().unwrap_or_default();
                        if t.rows.is_empty() {
                            t.rows.push(Vec::new());
                        }
                        if let Some(row) = t.rows.last_mut() {
                            row.push(cell.trim().to_string());
                        }
                    }
                }
                b"tbl" => {
                    if let Some(t) = tables.pop() {
                        let rows: Vec<Vec<String>> =
                            t.rows.into_iter().filter(|r| !r.is_empty()).collect();
                        if rows.iter().flatten().all(|c| c.is_empty()) {
                            continue;
                        }
                        match tables.last_mut().and_then(|outer| outer.cell.as_mut()) {
                            // A nested table becomes text inside its cell.
                            Some(cell) => {
                                let text = rows
                                    .iter()
                                    .map(|r| r.join(" | "))
                                    .collect::<Vec<_>>()
                                    .join("\n");
                                append_line(cell, &text);
                            }
                            None => out.push(table_block(rows)),
                        }
                    }
                }
                _ => {}
            },
            Event::Text(t) if in_t && !hidden => {
                let s = t.xml10_content().map_err(|e| e.to_string())?;
                push_text(&mut paras, &s);
            }
            Event::CData(t) if in_t && !hidden => {
                push_text(&mut paras, &String::from_utf8_lossy(&t));
            }
            Event::GeneralRef(r) if in_t && !hidden => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match r.decode().ok().as_deref() {
                        Some("amp") => Some('&'),
                        Some("lt") => Some('<'),
                        Some("gt") => Some('>'),
                        Some("quot") => Some('"'),
                        Some("apos") => Some('\''),
                        _ => None,
                    },
                };
                if let Some(c) = c {
                    push_text(&mut paras, c.encode_utf8(&mut [0; 4]));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn push_text(paras: &mut [Para], s: &str) {
    if let Some(p) = paras.last_mut() {
        p.text.push_str(s);
    }
}

fn append_line(cell: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    if !cell.is_empty() {
        cell.push('\n');
    }
    cell.push_str(text);
}

fn emit_para(p: Para, styles: &Styles, tables: &mut [TableBuild], out: &mut Vec<Block>) {
    let text = tidy(&p.text);
    if let Some(cell) = tables.last_mut().and_then(|t| t.cell.as_mut()) {
        append_line(cell, &text);
        return;
    }
    if text.is_empty() {
        return;
    }
    let style = p.style.as_deref().unwrap_or("");
    let kind =
        if p.outline.is_some_and(|l| l < 9) || (!style.is_empty() && styles.is_heading(style)) {
            BlockKind::Heading
        } else if p.numbered || (!style.is_empty() && styles.is_list(style)) {
            BlockKind::ListItem
        } else {
            BlockKind::Paragraph
        };
    out.push(Block::new(kind, text));
}

/// Collapse runs of spaces (tabs became spaces), keep explicit line breaks.
fn tidy(s: &str) -> String {
    s.split('\n')
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn table_block(rows: Vec<Vec<String>>) -> Block {
    let text = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| c.replace('\n', " "))
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut b = Block::new(BlockKind::Table, text);
    b.cells = Some(rows);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;

    fn body(inner: &str) -> String {
        format!(r#"<?xml version="1.0"?><w:document {W}><w:body>{inner}</w:body></w:document>"#)
    }

    #[test]
    fn tracked_changes_hidden_text_and_entities() {
        let xml = body(
            r#"<w:p><w:r><w:t xml:space="preserve">Profit </w:t></w:r><w:del><w:r><w:delText>fell</w:delText></w:r></w:del><w:ins><w:r><w:t>rose</w:t></w:r></w:ins><w:r><w:rPr><w:vanish/></w:rPr><w:t>SECRET</w:t></w:r><w:r><w:t> &amp; more</w:t></w:r></w:p>"#,
        );
        let blocks = walk(&xml, &Styles::default()).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].text, "Profit rose & more");
    }

    #[test]
    fn headings_lists_and_text_boxes() {
        let styles = parse_styles(&format!(
            r#"<w:styles {W}><w:style w:styleId="1"><w:name w:val="heading 1"/></w:style><w:style w:styleId="a"><w:name w:val="Normal"/></w:style></w:styles>"#
        ));
        let xml = body(
            r#"<w:p><w:pPr><w:pStyle w:val="1"/></w:pPr><w:r><w:t>概述</w:t></w:r></w:p>
               <w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Scope</w:t></w:r></w:p>
               <w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="3"/></w:numPr></w:pPr><w:r><w:t>item</w:t></w:r></w:p>
               <w:p><w:r><w:drawing><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></w:drawing></w:r><w:r><w:t>anchor</w:t></w:r></w:p>"#,
        );
        let b = walk(&xml, &styles).unwrap();
        let got: Vec<(BlockKind, &str)> = b.iter().map(|b| (b.kind, b.text.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (BlockKind::Heading, "概述"),
                (BlockKind::Heading, "Scope"),
                (BlockKind::ListItem, "item"),
                (BlockKind::Paragraph, "boxed"),
                (BlockKind::Paragraph, "anchor"),
            ]
        );
    }

    #[test]
    fn table_becomes_table_block_with_cells() {
        let xml = body(
            r#"<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Item</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>2023</w:t></w:r></w:p></w:tc></w:tr>
               <w:tr><w:tc><w:p><w:r><w:t>Revenue</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>1,234.5</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"#,
        );
        let b = walk(&xml, &Styles::default()).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].kind, BlockKind::Table);
        assert_eq!(
            b[0].cells.as_ref().unwrap(),
            &vec![vec!["Item", "2023"], vec!["Revenue", "1,234.5"]]
        );
        assert_eq!(b[0].text, "Item\t2023\nRevenue\t1,234.5");
    }
}
