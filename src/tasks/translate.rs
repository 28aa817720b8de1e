//! Block-by-block translation: numbered units per batch so the answer can be
//! realigned to the source one to one, table label cells translated and
//! numeric cells passed through, and the aligned pairs for the side-by-side view.
use std::collections::BTreeMap;

use crate::export::Pair;
use crate::ingest::{BlockKind, Document};
use crate::plan::Chunk;
use crate::prompt::{self, Lang, PromptFamily};

use super::glossary::Glossary;
use super::summarize::PassInput;

/// Where a unit of a batch comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitPlace {
    /// A whole block, or one piece of a block too long for one batch.
    Text,
    /// One cell of a table piece: row and column within the piece.
    Cell { row: usize, col: usize },
}

/// One numbered thing to translate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Index of the part in `Chunk::parts`.
    pub part: usize,
    pub block: usize,
    pub place: UnitPlace,
    pub text: String,
}

/// A cell with nothing to translate: figures, dates, dashes, currency codes.
/// It is copied unchanged, so numbers cannot be mistranslated.
pub fn is_numeric_cell(cell: &str) -> bool {
    let t = cell.trim();
    if t.is_empty() {
        return true;
    }
    let mut rest = t.to_string();
    for code in [
        "RMB", "US$", "HK$", "USD", "HKD", "CNY", "EUR", "bn", "mn", "pts", "ppt", "pp", "x",
    ] {
        rest = rest.replace(code, "");
    }
    rest.chars()
        .all(|c| c.is_ascii_digit() || c.is_whitespace() || ".,()%+-−–—/$¥€£*".contains(c))
}

/// The units of one translate pass, in order.
pub fn units_of(doc: &Document, chunk: &Chunk) -> Vec<Unit> {
    let mut out = Vec::new();
    for (pi, part) in chunk.parts.iter().enumerate() {
        let text = chunk.part_text(part);
        let is_table = doc
            .blocks
            .get(part.block)
            .is_some_and(|b| b.kind == BlockKind::Table);
        if is_table {
            for (r, line) in text.lines().enumerate() {
                for (c, cell) in line.split('\t').enumerate() {
                    if !is_numeric_cell(cell) {
                        out.push(Unit {
                            part: pi,
                            block: part.block,
                            place: UnitPlace::Cell { row: r, col: c },
                            text: cell.trim().to_string(),
                        });
                    }
                }
            }
        } else if !text.trim().is_empty() {
            out.push(Unit {
                part: pi,
                block: part.block,
                place: UnitPlace::Text,
                text: text.trim().to_string(),
            });
        }
    }
    out
}

/// The prompt for a batch: instruction, glossary terms of this batch, then
/// `[1] text` lines. Newlines inside a unit are flattened so each marker
/// starts a line of its own.
pub fn batch_input(
    family: PromptFamily,
    to: Lang,
    glossary: &Glossary,
    units: &[&str],
) -> PassInput {
    let p = prompt::translate(family, to);
    let mut body = String::new();
    for (i, u) in units.iter().enumerate() {
        body.push_str(&format!("[{}] {}\n", i + 1, flatten(u)));
    }
    let terms = glossary
        .prompt_for(&body, to)
        .map(|g| format!("{g}\n"))
        .unwrap_or_default();
    PassInput {
        system: p.system.clone(),
        user: format!("{}{terms}{body}{}", p.user_before, p.user_after),
    }
}

fn flatten(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits an answer at `[n]` markers. Returns the text for ids `1..=n`; an id
/// the model dropped, repeated or left empty is `None` (to be retried alone).
pub fn parse_batch(answer: &str, n: usize) -> Vec<Option<String>> {
    let mut found: BTreeMap<usize, String> = BTreeMap::new();
    let mut seen_twice = Vec::new();
    let mut current: Option<usize> = None;
    for line in answer.lines() {
        let l = line.trim_start();
        if let Some((id, rest)) = marker(l) {
            if (1..=n).contains(&id) {
                if found.contains_key(&id) {
                    seen_twice.push(id);
                }
                found.insert(id, rest.trim().to_string());
                current = Some(id);
                continue;
            }
            // A marker the batch does not have: stray text, not part of a unit.
            current = None;
            continue;
        }
        if let Some(id) = current {
            let t = found.entry(id).or_default();
            if !line.trim().is_empty() {
                if !t.is_empty() {
                    t.push(' ');
                }
                t.push_str(line.trim());
            }
        }
    }
    (1..=n)
        .map(|id| {
            found
                .get(&id)
                .filter(|t| !t.trim().is_empty() && !seen_twice.contains(&id))
                .cloned()
        })
        .collect()
}

/// `[12] rest` -> (12, rest); also accepts `【12】` and `12.` is not a marker.
fn marker(line: &str) -> Option<(usize, &str)> {
    let (open, close) = if line.starts_with('[') {
        ('[', ']')
    } else if line.starts_with('【') {
        ('【', '】')
    } else {
        return None;
    };
    let inner_start = open.len_utf8();
    let end = line.find(close)?;
    let id = line[inner_start..end].trim().parse().ok()?;
    Some((id, &line[end + close.len_utf8()..]))
}

/// The prompt for retrying one unit alone.
pub fn single_input(family: PromptFamily, to: Lang, glossary: &Glossary, unit: &str) -> PassInput {
    batch_input(family, to, glossary, &[unit])
}

/// An answer to a one-unit prompt: the text after `[1]`, or the whole answer
/// when the model left the marker out.
pub fn parse_single(answer: &str) -> Option<String> {
    if let Some(Some(t)) = parse_batch(answer, 1).into_iter().next() {
        return Some(t);
    }
    let t = flatten(answer);
    (!t.is_empty()).then_some(t)
}

/// Joins the translated units of every pass back into one pair per source
/// block: pieces of a long block are concatenated, tables keep their shape
/// with numeric cells copied. `translations[pass][unit]`.
pub fn assemble(
    doc: &Document,
    chunks: &[Chunk],
    translations: &[Vec<String>],
    to: Lang,
) -> Vec<Pair> {
    let joiner = if to == Lang::Zh { "" } else { " " };
    let mut targets: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut target_rows: BTreeMap<usize, Vec<Vec<String>>> = BTreeMap::new();
    for (chunk, tr) in chunks.iter().zip(translations) {
        let units = units_of(doc, chunk);
        for (pi, part) in chunk.parts.iter().enumerate() {
            let text = chunk.part_text(part);
            let mine = units.iter().zip(tr).filter(|(u, _)| u.part == pi);
            let is_table = doc
                .blocks
                .get(part.block)
                .is_some_and(|b| b.kind == BlockKind::Table);
            if is_table {
                let mut rows: Vec<Vec<String>> = text
                    .lines()
                    .map(|l| l.split('\t').map(|c| c.trim().to_string()).collect())
                    .collect();
                for (u, t) in mine {
                    if let UnitPlace::Cell { row, col } = u.place {
                        if let Some(cell) = rows.get_mut(row).and_then(|r| r.get_mut(col)) {
                            *cell = t.clone();
                        }
                    }
                }
                target_rows.entry(part.block).or_default().extend(rows);
            } else {
                for (_, t) in mine {
                    targets.entry(part.block).or_default().push(t.clone());
                }
            }
        }
    }
    let mut pairs = Vec::new();
    for (i, b) in doc.blocks.iter().enumerate() {
        if let Some(rows) = target_rows.remove(&i) {
            let source_cells = b.cells.clone().unwrap_or_else(|| {
                b.text
                    .lines()
                    .map(|l| l.split('\t').map(|c| c.trim().to_string()).collect())
                    .collect()
            });
            pairs.push(Pair {
                kind: b.kind,
                source: b.text.clone(),
                target: rows
                    .iter()
                    .map(|r| r.join("\t"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                page: b.page,
                source_cells: Some(source_cells),
                target_cells: Some(rows),
            });
        } else if let Some(pieces) = targets.remove(&i) {
            pairs.push(Pair {
                kind: b.kind,
                source: b.text.clone(),
                target: pieces.join(joiner),
                page: b.page,
                source_cells: None,
                target_cells: None,
            });
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Block, Format};
    use crate::plan::ChunkPart;

    #[test]
    fn numeric_cells_pass_through() {
        for c in [
            "1,234.5",
            "(608.1)",
            "29.9%",
            "RMB6.13",
            "US$843.1",
            "—",
            "",
            "2023/12/31",
            "+3.2 pp",
        ] {
            assert!(is_numeric_cell(c), "{c}");
        }
        for c in ["Revenue", "营业收入", "Q3 2024 revenue", "Note 5"] {
            assert!(!is_numeric_cell(c), "{c}");
        }
    }

    #[test]
    fn answers_realign_by_marker_and_gaps_are_none() {
        let a = "Sure:\n[1] 营业收入增长。\n[3] 第三段\n续行\n[2]\n[9] stray";
        let p = parse_batch(a, 3);
        assert_eq!(p[0].as_deref(), Some("营业收入增长。"));
        assert_eq!(p[1], None, "empty");
        assert_eq!(p[2].as_deref(), Some("第三段 续行"));
        let p = parse_batch("[1] a\n[1] b\n[2] c", 2);
        assert_eq!(
            p[0], None,
            "a repeated marker means a merge or a loop: retry"
        );
        assert_eq!(p[1].as_deref(), Some("c"));
        assert_eq!(parse_batch("【1】 全角", 1)[0].as_deref(), Some("全角"));
        assert_eq!(
            parse_single("just the text").as_deref(),
            Some("just the text")
        );
    }

    #[test]
    fn tables_translate_labels_and_keep_numbers() {
        let mut t = Block::new(
            BlockKind::Table,
            "Revenue\t1,234.5\t29.9%\nNet loss\t(608.1)\t—",
        );
        t.page = Some(2);
        let mut h = Block::new(BlockKind::Heading, "Results");
        h.page = Some(1);
        let doc = Document {
            source: "x".into(),
            name: "x".into(),
            format: Format::Pdf,
            pages: Some(2),
            blocks: vec![h.clone(), t.clone()],
            fallback_pages: Vec::new(),
            no_text_pages: Vec::new(),
        };
        let text = format!("{}\n\n{}", h.text, t.text);
        let chunk = Chunk {
            index: 0,
            first_block: 0,
            last_block: 1,
            pages: Some((1, 2)),
            tokens: 10,
            parts: vec![
                ChunkPart {
                    block: 0,
                    start: 0,
                    end: h.text.len(),
                },
                ChunkPart {
                    block: 1,
                    start: h.text.len() + 2,
                    end: text.len(),
                },
            ],
            text,
        };
        let units = units_of(&doc, &chunk);
        let texts: Vec<&str> = units.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(texts, ["Results", "Revenue", "Net loss"]);
        let tr = vec![vec!["业绩".to_string(), "营业收入".into(), "净亏损".into()]];
        let pairs = assemble(&doc, &[chunk], &tr, Lang::Zh);
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].target, "业绩");
        assert_eq!(
            pairs[1].target,
            "营业收入\t1,234.5\t29.9%\n净亏损\t(608.1)\t—"
        );
        assert_eq!(pairs[1].page, Some(2));
        assert_eq!(pairs[1].target_cells.as_ref().unwrap()[1][1], "(608.1)");
    }
}
