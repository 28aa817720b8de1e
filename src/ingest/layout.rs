//! Positioned glyphs -> lines -> paragraphs, headings, list items and tables.
//!
//! Works in content-stream order (the order the producer wrote the text, which for
//! well-made files is reading order, columns included), using positions to find line
//! breaks, word gaps, column gaps inside a line (table cells), paragraph gaps,
//! superscript footnote markers, and running headers/footers.

use super::clean::{self, is_cjk, EdgeLine};
use super::{Block, BlockKind};

/// One drawn glyph (possibly several characters, e.g. a ligature), in page units with
/// y measured down from the top of the page; `y` is the baseline.
#[derive(Debug, Clone)]
pub struct Glyph {
    pub x: f32,
    pub y: f32,
    /// Advance width.
    pub w: f32,
    pub size: f32,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct PageGlyphs {
    pub width: f32,
    pub height: f32,
    pub glyphs: Vec<Glyph>,
}

/// A run of text inside a line with no wide gap in it.
#[derive(Debug, Clone)]
pub struct Seg {
    pub x0: f32,
    pub x1: f32,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub y: f32,
    pub size: f32,
    pub segs: Vec<Seg>,
}

impl Line {
    pub fn x1(&self) -> f32 {
        self.segs.iter().map(|s| s.x1).fold(f32::MIN, f32::max)
    }
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .segs
            .iter()
            .map(|s| s.text.trim())
            .filter(|t| !t.is_empty())
            .collect();
        parts.join(" ")
    }
}

/// Gap (in font sizes) above which a line is split into separate cells.
const CELL_GAP: f32 = 1.5;
/// Gap (in font sizes) above which two Latin glyphs get a space between them.
const WORD_GAP: f32 = 0.15;
/// The same, between two CJK glyphs (justified CJK text is spread out).
const CJK_WORD_GAP: f32 = 0.6;

/// Group one page's glyphs into lines of segments.
pub fn build_lines(page: &PageGlyphs) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    let mut cur: Option<Line> = None;
    let mut last_end = 0.0f32;
    let mut last_y = 0.0f32;
    let mut last_x = f32::MIN;
    let mut last_size = 0.0f32;
    let mut last_text = String::new();
    let mut pending_space = false;
    for g in &page.glyphs {
        let size = if g.size > 0.5 {
            g.size
        } else if last_size > 0.0 {
            last_size
        } else {
            10.0
        };
        let is_space = g.text.trim().is_empty();
        if let Some(line) = cur.as_mut() {
            let dy = g.y - last_y;
            let r = size.max(last_size);
            // Fake bold: the same glyph drawn again almost on top of itself.
            if g.text == last_text && (g.x - last_x).abs() < 0.15 * r && dy.abs() < 0.1 * r {
                continue;
            }
            let new_line = dy.abs() > 1.2 * r
                || (dy.abs() > 0.5 * r && g.x < last_end)
                || (g.x < last_end - 1.0 * r && dy.abs() <= 0.5 * r && !is_space);
            if new_line {
                lines.push(cur.take().expect("line present"));
            } else if is_space {
                // Spaces do not move `last_end`: a column padded with spaces still
                // shows its gap to the next cell.
                pending_space = true;
                last_x = g.x;
                continue;
            } else {
                let gap = g.x - last_end;
                let seg = line.segs.last_mut().expect("a line has a segment");
                let prev_c = seg.text.chars().last().unwrap_or(' ');
                let next_c = g.text.chars().next().unwrap_or(' ');
                let superscript = g.size > 0.0
                    && g.size <= 0.8 * line.size
                    && (line.y - g.y) > 0.2 * line.size
                    && g.text.chars().all(|c| c.is_ascii_digit());
                if gap > CELL_GAP * r {
                    let text = g.text.clone();
                    line.segs.push(Seg {
                        x0: g.x,
                        x1: g.x + g.w,
                        text: superscript_digits(&text, superscript),
                    });
                } else {
                    let thresh = if is_cjk(prev_c) && is_cjk(next_c) {
                        CJK_WORD_GAP
                    } else {
                        WORD_GAP
                    };
                    let want_space =
                        (pending_space || gap > thresh * r) && !seg.text.ends_with(' ');
                    // A footnote marker glued to a figure would change the figure:
                    // write it as superscript digits so `1,234` + `1` never reads 1,2341.
                    if want_space && !superscript {
                        seg.text.push(' ');
                    }
                    seg.text.push_str(&superscript_digits(&g.text, superscript));
                    seg.x1 = seg.x1.max(g.x + g.w);
                }
                line.size = line.size.max(if superscript { 0.0 } else { size });
                pending_space = false;
                last_end = g.x + g.w;
                last_y = if superscript { last_y } else { g.y };
                last_x = g.x;
                last_size = if superscript { last_size } else { size };
                last_text.clone_from(&g.text);
                continue;
            }
        }
        pending_space = false;
        last_end = g.x + g.w;
        last_y = g.y;
        last_x = g.x;
        last_size = size;
        last_text.clone_from(&g.text);
        if is_space {
            continue;
        }
        cur = Some(Line {
            y: g.y,
            size,
            segs: vec![Seg {
                x0: g.x,
                x1: g.x + g.w,
                text: g.text.clone(),
            }],
        });
    }
    lines.extend(cur);
    for l in &mut lines {
        for s in &mut l.segs {
            let t = s.text.trim();
            if t.len() != s.text.len() {
                s.text = t.to_string();
            }
        }
        l.segs.retain(|s| !s.text.is_empty());
    }
    lines.retain(|l| !l.segs.is_empty());
    lines
}

fn superscript_digits(text: &str, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    text.chars()
        .map(|c| match c {
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            '9' => '⁹',
            c => c,
        })
        .collect()
}

/// All pages -> blocks: lines per page, running headers/footers removed across pages,
/// then paragraphs and tables per page.
pub fn blocks_from_pages(pages: &[PageGlyphs]) -> Vec<Block> {
    let mut page_lines: Vec<Vec<Line>> = pages.iter().map(build_lines).collect();
    let texts: Vec<Vec<String>> = page_lines
        .iter()
        .map(|ls| ls.iter().map(Line::text).collect())
        .collect();
    let edge: Vec<Vec<EdgeLine<'_>>> = texts
        .iter()
        .zip(&page_lines)
        .zip(pages)
        .map(|((ts, ls), pg)| {
            ts.iter()
                .zip(ls)
                .map(|(t, l)| EdgeLine {
                    text: t,
                    top: (pg.height > 0.0).then(|| l.y / pg.height),
                })
                .collect()
        })
        .collect();
    let running = clean::running_lines(&edge);
    for &(p, i) in running.iter().rev() {
        page_lines[p].remove(i);
    }
    let mut blocks = Vec::new();
    for (p, lines) in page_lines.iter().enumerate() {
        for mut b in page_blocks(lines) {
            b.page = Some(p as u32 + 1);
            blocks.push(b);
        }
    }
    blocks
}

/// Is this line a table row candidate: several cells, short ones or figures among them.
fn is_row(l: &Line) -> bool {
    l.segs.len() >= 2
        && l.segs.iter().all(|s| s.text.chars().count() <= 80)
        && (l.segs.len() >= 3 || l.segs.iter().any(|s| is_figure(&s.text)))
}

/// A cell that is a figure: digits with separators, signs, brackets, % or currency.
fn is_figure(s: &str) -> bool {
    let t = s.trim();
    t.chars().any(|c| c.is_ascii_digit())
        && t.chars().count() <= 24
        && t.chars().all(|c| {
            c.is_ascii_digit()
                || " ,.%()-–—+$€£¥*/:".contains(c)
                || c.is_alphabetic() && t.len() <= 8
        })
}

fn starts_list(text: &str) -> bool {
    let t = text.trim_start();
    let mut cs = t.chars();
    let Some(first) = cs.next() else { return false };
    if "•●○◦▪■□◆◇►▶✓‣⁃·–-*".contains(first) {
        return cs
            .next()
            .is_some_and(|c| c.is_whitespace() || first != '-' && first != '*');
    }
    // 1. / 1) / (a) / a)
    let head: String = t.chars().take(5).collect();
    let digits = head.chars().take_while(|c| c.is_ascii_digit()).count();
    if (1..=2).contains(&digits) {
        let rest: Vec<char> = head.chars().skip(digits).take(2).collect();
        return rest.len() == 2 && matches!(rest[0], '.' | ')' | '）') && rest[1].is_whitespace();
    }
    let b: Vec<char> = head.chars().collect();
    b.len() >= 4
        && b[0] == '('
        && b[1].is_ascii_alphanumeric()
        && b[2] == ')'
        && b[3].is_whitespace()
}

enum Unit<'a> {
    Para(Vec<&'a Line>),
    Table(Vec<&'a Line>),
}

/// One page's lines -> blocks (without page numbers).
pub fn page_blocks(lines: &[Line]) -> Vec<Block> {
    if lines.is_empty() {
        return Vec::new();
    }
    let body = body_size(lines);
    let spacing = typical_spacing(lines);
    let mut units: Vec<Unit<'_>> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        // A table: two or more consecutive row-like lines, close together, going down.
        if is_row(&lines[i]) {
            let mut j = i + 1;
            while j < lines.len() {
                let prev = &lines[j - 1];
                let l = &lines[j];
                let dy = l.y - prev.y;
                let close = dy > 0.0 && dy < 3.0 * prev.size.max(l.size);
                let label_row = l.segs.len() == 1
                    && l.text().chars().count() <= 60
                    && lines.get(j + 1).is_some_and(is_row);
                if close && (is_row(l) || label_row) {
                    j += 1;
                } else {
                    break;
                }
            }
            if j - i >= 2 {
                units.push(Unit::Table(lines[i..j].iter().collect()));
                i = j;
                continue;
            }
        }
        let l = &lines[i];
        let start_new = match units.last() {
            Some(Unit::Para(p)) => {
                let prev = *p.last().expect("non-empty paragraph");
                para_break(prev, l, p, spacing)
            }
            _ => true,
        };
        if start_new {
            units.push(Unit::Para(vec![l]));
        } else if let Some(Unit::Para(p)) = units.last_mut() {
            p.push(l);
        }
        i += 1;
    }
    units
        .into_iter()
        .filter_map(|u| match u {
            Unit::Para(ls) => {
                let texts: Vec<String> = ls.iter().map(|l| l.text()).collect();
                let text = clean::join_lines(&texts);
                if text.is_empty() {
                    return None;
                }
                let size = ls.iter().map(|l| l.size).fold(0.0, f32::max);
                let kind = if starts_list(&text) {
                    BlockKind::ListItem
                } else if ls.len() <= 2 && text.chars().count() <= 150 && size >= 1.2 * body {
                    BlockKind::Heading
                } else {
                    BlockKind::Paragraph
                };
                Some(Block::new(kind, text))
            }
            Unit::Table(rows) => Some(table_block(&rows)),
        })
        .collect()
}

/// Should `l` start a new paragraph after `prev` (the last line of paragraph `para`)?
fn para_break(prev: &Line, l: &Line, para: &[&Line], spacing: f32) -> bool {
    let size = prev.size.max(l.size);
    let dy = l.y - prev.y;
    if dy < -0.5 * size || dy > spacing.max(1.05) * 1.3 * size {
        return true; // moved up (next column) or a paragraph gap
    }
    if (prev.size - l.size).abs() > 0.15 * size {
        return true; // a heading above or below
    }
    if starts_list(&l.text()) {
        return true;
    }
    // A short line ending a sentence closes its paragraph.
    let right = para.iter().map(|x| x.x1()).fold(l.x1(), f32::max);
    let prev_text = prev.text();
    let ends_sentence =
        prev_text.ends_with(['.', '。', '!', '?', '！', '？', ':', '：', ';', '；']);
    ends_sentence && prev.x1() < right - 3.0 * size
}

/// The font size most characters on the page have.
fn body_size(lines: &[Line]) -> f32 {
    let mut sizes: Vec<(f32, usize)> = lines
        .iter()
        .map(|l| (l.size, l.text().chars().count()))
        .collect();
    sizes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: usize = sizes.iter().map(|s| s.1).sum();
    let mut acc = 0;
    for (s, n) in &sizes {
        acc += n;
        if acc * 2 >= total {
            return *s;
        }
    }
    sizes.last().map_or(10.0, |s| s.0)
}

/// The page's usual baseline distance between consecutive lines, in font sizes (median).
fn typical_spacing(lines: &[Line]) -> f32 {
    let mut ratios: Vec<f32> = lines
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (&w[0], &w[1]);
            let dy = b.y - a.y;
            let same = (a.size - b.size).abs() <= 0.1 * a.size;
            (same && dy > 0.5 * a.size && dy < 3.0 * a.size).then(|| dy / a.size)
        })
        .collect();
    if ratios.is_empty() {
        return 1.2;
    }
    ratios.sort_by(f32::total_cmp);
    ratios[(ratios.len() - 1) / 2]
}

/// Rows of segments -> a table whose columns are the x-ranges that segments share.
fn table_block(rows: &[&Line]) -> Block {
    // Column ranges: union of overlapping segment ranges from multi-cell rows.
    let mut spans: Vec<(f32, f32)> = rows
        .iter()
        .filter(|r| r.segs.len() >= 2)
        .flat_map(|r| r.segs.iter().map(|s| (s.x0, s.x1)))
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut cols: Vec<(f32, f32)> = Vec::new();
    for (a, b) in spans {
        match cols.last_mut() {
            Some(c) if a <= c.1 => c.1 = c.1.max(b),
            _ => cols.push((a, b)),
        }
    }
    let max_cells = rows.iter().map(|r| r.segs.len()).max().unwrap_or(1);
    let use_cols = cols.len() >= 2 && cols.len() <= 2 * max_cells;
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            if !use_cols || r.segs.len() == 1 {
                return r.segs.iter().map(|s| s.text.clone()).collect();
            }
            let mut row = vec![String::new(); cols.len()];
            for s in &r.segs {
                let k = cols
                    .iter()
                    .enumerate()
                    .max_by(|a, b| overlap(*a.1, s).total_cmp(&overlap(*b.1, s)))
                    .map_or(0, |(k, _)| k);
                if !row[k].is_empty() {
                    row[k].push(' ');
                }
                row[k].push_str(&s.text);
            }
            row
        })
        .collect();
    let text = cells
        .iter()
        .map(|r| r.join("\t"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut b = Block::new(BlockKind::Table, text);
    b.cells = Some(cells);
    b
}

fn overlap(col: (f32, f32), s: &Seg) -> f32 {
    let o = col.1.min(s.x1) - col.0.max(s.x0);
    if o > 0.0 {
        o
    } else {
        // No overlap: prefer the nearest column.
        -(col.0 - s.x0).abs().min((col.1 - s.x1).abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lay out words as glyphs: each (x, y, text) drawn at size 10, 5 units per char.
    fn glyphs(items: &[(f32, f32, &str)]) -> PageGlyphs {
        let mut gs = Vec::new();
        for &(x, y, t) in items {
            let mut cx = x;
            for c in t.chars() {
                gs.push(Glyph {
                    x: cx,
                    y,
                    w: 5.0,
                    size: 10.0,
                    text: c.to_string(),
                });
                cx += 5.0;
            }
        }
        PageGlyphs {
            width: 600.0,
            height: 800.0,
            glyphs: gs,
        }
    }

    #[test]
    fn words_lines_and_paragraphs() {
        let page = glyphs(&[
            (50.0, 100.0, "Revenue grew"),
            (50.0, 112.0, "strongly."),
            (50.0, 140.0, "Costs fell."),
        ]);
        let lines = build_lines(&page);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].text(), "Revenue grew");
        let blocks = page_blocks(&lines);
        let texts: Vec<&str> = blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, vec!["Revenue grew strongly.", "Costs fell."]);
    }

    #[test]
    fn aligned_figures_become_a_table() {
        let page = glyphs(&[
            (50.0, 100.0, "Revenue"),
            (300.0, 100.0, "1,234.5"),
            (400.0, 100.0, "(608.1)"),
            (50.0, 112.0, "Margin"),
            (300.0, 112.0, "29.9%"),
            (400.0, 112.0, "27.0%"),
        ]);
        let blocks = page_blocks(&build_lines(&page));
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].kind, BlockKind::Table);
        let cells = blocks[0].cells.as_ref().unwrap();
        assert_eq!(cells[0], vec!["Revenue", "1,234.5", "(608.1)"]);
        assert_eq!(cells[1], vec!["Margin", "29.9%", "27.0%"]);
        assert_eq!(
            blocks[0].text,
            "Revenue\t1,234.5\t(608.1)\nMargin\t29.9%\t27.0%"
        );
    }

    #[test]
    fn superscript_marker_does_not_merge_into_figure() {
        let mut page = glyphs(&[(50.0, 100.0, "Profit 1,234")]);
        page.glyphs.push(Glyph {
            x: 110.0,
            y: 96.0,
            w: 3.0,
            size: 6.0,
            text: "1".into(),
        });
        let lines = build_lines(&page);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text(), "Profit 1,234¹");
    }

    #[test]
    fn cjk_glyphs_get_no_spaces_and_larger_type_is_a_heading() {
        let mut page = PageGlyphs {
            width: 600.0,
            height: 800.0,
            glyphs: Vec::new(),
        };
        for (k, c) in "经营情况".chars().enumerate() {
            page.glyphs.push(Glyph {
                x: 50.0 + 20.0 * k as f32,
                y: 60.0,
                w: 18.0,
                size: 18.0,
                text: c.into(),
            });
        }
        // Justified body text: 10-unit glyphs on a 12-unit pitch.
        for (k, c) in "本公司营业收入同比增长。".chars().enumerate() {
            page.glyphs.push(Glyph {
                x: 50.0 + 12.0 * k as f32,
                y: 100.0,
                w: 10.0,
                size: 10.0,
                text: c.into(),
            });
        }
        let blocks = page_blocks(&build_lines(&page));
        assert_eq!(blocks[0].kind, BlockKind::Heading);
        assert_eq!(blocks[0].text, "经营情况");
        assert_eq!(blocks[1].text, "本公司营业收入同比增长。");
    }
}
