//! TXT / Markdown: encoding detection, then paragraphs, Markdown headings, lists and
//! pipe tables.

use super::clean;
use super::{Block, BlockKind, IngestError};
use std::path::Path;

pub fn extract(path: &Path, bytes: &[u8], markdown: bool) -> Result<Vec<Block>, IngestError> {
    let text = decode(bytes).ok_or_else(|| IngestError::WrongType {
        path: path.to_path_buf(),
        expected: if markdown { "md".into() } else { "txt".into() },
        found: "binary data in no known text encoding".into(),
    })?;
    let mut blocks = parse(&text, markdown);
    for (i, b) in blocks.iter_mut().enumerate() {
        b.index = Some(i as u32);
    }
    Ok(blocks)
}

/// UTF-8 (with or without BOM), UTF-16 with BOM (or BOM-less mostly-ASCII UTF-16), else
/// GB18030 (a superset of GBK/GB2312, what Chinese Windows writes). None if nothing fits.
pub fn decode(bytes: &[u8]) -> Option<String> {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        return (!had_errors).then(|| text.into_owned());
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Some(s.to_string());
    }
    let nul_even = bytes.iter().step_by(2).filter(|&&b| b == 0).count();
    let nul_odd = bytes.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    let half = bytes.len() / 2;
    if half > 0 && nul_odd * 10 >= half * 9 {
        let (t, _, bad) = encoding_rs::UTF_16LE.decode(bytes);
        return (!bad).then(|| t.into_owned());
    }
    if half > 0 && nul_even * 10 >= half * 9 {
        let (t, _, bad) = encoding_rs::UTF_16BE.decode(bytes);
        return (!bad).then(|| t.into_owned());
    }
    let (t, _, bad) = encoding_rs::GB18030.decode(bytes);
    (!bad).then(|| t.into_owned())
}

/// Split text into blocks. Plain text: blank-line separated paragraphs and list items
/// (a line starting with a bullet or an ordinal: `•`, `-`, `*`, `·`, `1.`, `(a)`).
/// Markdown also: ATX and setext headings, pipe tables, fenced code.
pub fn parse(text: &str, markdown: bool) -> Vec<Block> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if !para.is_empty() {
            let t = clean::join_lines(para);
            if !t.is_empty() {
                blocks.push(Block::new(BlockKind::Paragraph, t));
            }
            para.clear();
        }
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if t.is_empty() {
            flush(&mut para, &mut blocks);
            i += 1;
            continue;
        }
        if markdown {
            if t.starts_with("```") || t.starts_with("~~~") {
                flush(&mut para, &mut blocks);
                let fence = &t[..3];
                let mut j = i + 1;
                while j < lines.len() && !lines[j].trim_start().starts_with(fence) {
                    j += 1;
                }
                let code = lines[i + 1..j.min(lines.len())].join("\n");
                if !code.trim().is_empty() {
                    blocks.push(Block::new(BlockKind::Paragraph, code));
                }
                i = j + 1;
                continue;
            }
            if let Some(h) = atx_heading(t) {
                flush(&mut para, &mut blocks);
                blocks.push(Block::new(BlockKind::Heading, h));
                i += 1;
                continue;
            }
            // Setext: a single paragraph line underlined with === or ---.
            if para.len() == 1
                && t.len() >= 2
                && (t.chars().all(|c| c == '=') || t.chars().all(|c| c == '-'))
            {
                let h = para[0].trim().to_string();
                para.clear();
                blocks.push(Block::new(BlockKind::Heading, h));
                i += 1;
                continue;
            }
            if t.starts_with('|') && i + 1 < lines.len() && is_table_rule(lines[i + 1]) {
                flush(&mut para, &mut blocks);
                let mut rows = vec![table_cells(t)];
                let mut j = i + 2;
                while j < lines.len() && lines[j].trim().starts_with('|') {
                    rows.push(table_cells(lines[j].trim()));
                    j += 1;
                }
                let text = rows
                    .iter()
                    .map(|r| r.join("\t"))
                    .collect::<Vec<_>>()
                    .join("\n");
                let mut b = Block::new(BlockKind::Table, text);
                b.cells = Some(rows);
                blocks.push(b);
                i = j;
                continue;
            }
        }
        if let Some(item) = list_item(t) {
            flush(&mut para, &mut blocks);
            // Continuation lines: non-blank, not a new item; in Markdown indented (an
            // unindented line there is lazy continuation only of paragraphs), in plain
            // text any (pasted releases wrap their bullets at the margin).
            let mut parts = vec![item];
            let mut j = i + 1;
            while j < lines.len()
                && (!markdown || lines[j].starts_with([' ', '\t']))
                && !lines[j].trim().is_empty()
                && list_item(lines[j].trim()).is_none()
                && !(markdown && atx_heading(lines[j].trim()).is_some())
            {
                parts.push(lines[j].trim());
                j += 1;
            }
            blocks.push(Block::new(BlockKind::ListItem, clean::join_lines(&parts)));
            i = j;
            continue;
        }
        para.push(line);
        i += 1;
    }
    flush(&mut para, &mut blocks);
    blocks
}

fn atx_heading(t: &str) -> Option<String> {
    let hashes = t.chars().take_while(|&c| c == '#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &t[hashes..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let h = rest.trim().trim_end_matches('#').trim();
    (!h.is_empty()).then(|| h.to_string())
}

/// Bullets that start a list item (followed by a space).
const BULLETS: [&str; 10] = ["- ", "* ", "+ ", "• ", "· ", "● ", "▪ ", "◦ ", "– ", "‣ "];

/// A list item's text: bullets (`- x`, `• x`) are dropped; ordinals (`1. x`, `1) x`,
/// `(a) x`, `a) x`) are kept, as they are part of what the item says (notes refer to
/// "(b)").
fn list_item(t: &str) -> Option<&str> {
    for m in BULLETS {
        if let Some(rest) = t.strip_prefix(m) {
            return Some(rest.trim());
        }
    }
    // Bullets glued to the text, as word processors paste them ("•Revenue").
    for b in ['•', '●', '▪'] {
        if let Some(rest) = t.strip_prefix(b) {
            return (!rest.trim().is_empty()).then(|| rest.trim());
        }
    }
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    if (1..=3).contains(&digits) {
        let rest = &t[digits..];
        if [". ", ") ", "、"].iter().any(|m| rest.starts_with(m)) {
            return Some(t);
        }
    }
    // (a) (iv) (1) a) b.
    let b: Vec<char> = t.chars().take(7).collect();
    if b.first() == Some(&'(') {
        let close = b.iter().position(|&c| c == ')')?;
        let inner: String = b[1..close].iter().collect();
        let ordinal = !inner.is_empty()
            && (inner.chars().all(|c| c.is_ascii_digit())
                || inner.len() == 1 && inner.chars().all(|c| c.is_ascii_lowercase())
                || inner.chars().all(|c| "ivx".contains(c)));
        return (ordinal && b.get(close + 1) == Some(&' ')).then_some(t);
    }
    if b.len() >= 3 && b[0].is_ascii_lowercase() && b[1] == ')' && b[2] == ' ' {
        return Some(t);
    }
    None
}

fn is_table_rule(line: &str) -> bool {
    let t = line.trim();
    t.contains('-')
        && t.contains('|')
        && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
}

fn table_cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_boms_utf16_and_gb18030() {
        assert_eq!(decode(b"\xEF\xBB\xBFhello").unwrap(), "hello");
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("年报".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode(&utf16le).unwrap(), "年报");
        let utf16be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("Q1".encode_utf16().flat_map(|u| u.to_be_bytes()))
            .collect();
        assert_eq!(decode(&utf16be).unwrap(), "Q1");
        let (gb, _, _) = encoding_rs::GB18030.encode("营业收入同比增长12%");
        assert!(std::str::from_utf8(&gb).is_err());
        assert_eq!(decode(&gb).unwrap(), "营业收入同比增长12%");
    }

    #[test]
    fn markdown_headings_lists_and_tables() {
        let md = "# Results\n\nRevenue grew\nstrongly.\n\n- first item\n- second\n  continued\n1. numbered\n\n| Item | 2023 |\n|---|---:|\n| Revenue | 1,234.5 |\n\nSub\n---\n";
        let b = parse(md, true);
        let kinds: Vec<BlockKind> = b.iter().map(|b| b.kind).collect();
        use BlockKind::*;
        assert_eq!(
            kinds,
            vec![Heading, Paragraph, ListItem, ListItem, ListItem, Table, Heading]
        );
        assert_eq!(b[0].text, "Results");
        assert_eq!(b[1].text, "Revenue grew strongly.");
        assert_eq!(b[3].text, "second continued");
        assert_eq!(
            b[5].cells.as_ref().unwrap(),
            &vec![vec!["Item", "2023"], vec!["Revenue", "1,234.5"]]
        );
        assert_eq!(b[5].text, "Item\t2023\nRevenue\t1,234.5");
        assert_eq!(b[6].text, "Sub");
    }

    #[test]
    fn plain_text_has_no_headings_or_tables_but_keeps_lists() {
        let b = parse("# not a heading\n\n| not | a table |\n|---|---|", false);
        assert!(b.iter().all(|b| b.kind == BlockKind::Paragraph));
        assert_eq!(b.len(), 2);
    }

    /// A pasted earnings release: eight highlight bullets (one wrapped at the margin)
    /// are eight list items, not one paragraph; ordinals stay in the text.
    #[test]
    fn pasted_release_bullets_are_list_items() {
        let text = "Second quarter highlights:\n\
• Revenue of $8.19 billion, up 3% year over year\n\
• Operating margin of 22.3%, up 0.5 percentage\npoints\n\
• Net income of $1.49 billion\n\
- Diluted EPS of $3.29\n\
* Free cash flow of $1.34 billion\n\
· Paid memberships of 238.4 million\n\
1. Share repurchases of $645 million\n\
(a) Excludes a $45 million charge\n\
\n\
Revenue -5% was not a bullet.";
        let b = parse(text, false);
        let kinds: Vec<BlockKind> = b.iter().map(|b| b.kind).collect();
        use BlockKind::*;
        assert_eq!(
            kinds,
            vec![
                Paragraph, ListItem, ListItem, ListItem, ListItem, ListItem, ListItem, ListItem,
                ListItem, Paragraph
            ]
        );
        assert_eq!(
            b[2].text,
            "Operating margin of 22.3%, up 0.5 percentage points"
        );
        assert_eq!(b[1].text, "Revenue of $8.19 billion, up 3% year over year");
        assert_eq!(b[7].text, "1. Share repurchases of $645 million");
        assert_eq!(b[8].text, "(a) Excludes a $45 million charge");
        assert_eq!(b[9].text, "Revenue -5% was not a bullet.");
    }
}
