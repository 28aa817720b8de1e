//! Positioned glyphs -> lines -> paragraphs, headings, list items and tables.
//!
//! Works in content-stream order (the order the producer wrote the text, which for
//! well-made files is reading order, columns included), using positions to find line
//! breaks, word gaps, column gaps inside a line (table cells), paragraph gaps,
//! superscript footnote markers, and running headers/footers.

use super::clean::{self, is_cjk, EdgeLine};
use super::table::{self, CELL_GAP};
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
    /// The segment's words (runs without a space), with their extents: what table
    /// reconstruction splits cells from.
    pub words: Vec<Word>,
}

/// A run of glyphs without a word gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub x0: f32,
    pub x1: f32,
    pub text: String,
}

impl Seg {
    fn new(x0: f32, x1: f32, text: String) -> Self {
        Seg {
            x0,
            x1,
            words: vec![Word {
                x0,
                x1,
                text: text.clone(),
            }],
            text,
        }
    }
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
            // Half a line up or down is another line even when x moves on: producers
            // that write a table header column by column (June 30, / 2023 / June 30,
            // / 2022) jump between baselines; `merge_same_baseline` rejoins them.
            let new_line = dy.abs() > 0.5 * r || (g.x < last_end - 1.0 * r && !is_space);
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
                    line.segs.push(Seg::new(
                        g.x,
                        g.x + g.w,
                        superscript_digits(&g.text, superscript),
                    ));
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
                    let piece = superscript_digits(&g.text, superscript);
                    if want_space && !superscript {
                        seg.text.push(' ');
                        seg.words.push(Word {
                            x0: g.x,
                            x1: g.x + g.w,
                            text: String::new(),
                        });
                    }
                    seg.text.push_str(&piece);
                    seg.x1 = seg.x1.max(g.x + g.w);
                    if let Some(w) = seg.words.last_mut() {
                        w.text.push_str(&piece);
                        w.x1 = w.x1.max(g.x + g.w);
                    }
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
            segs: vec![Seg::new(g.x, g.x + g.w, g.text.clone())],
        });
    }
    lines.extend(cur);
    for l in &mut lines {
        for s in &mut l.segs {
            let t = s.text.trim();
            if t.len() != s.text.len() {
                s.text = t.to_string();
            }
            for w in &mut s.words {
                let t = w.text.trim();
                if t.len() != w.text.len() {
                    w.text = t.to_string();
                }
            }
            s.words.retain(|w| !w.text.is_empty());
        }
        l.segs.retain(|s| !s.text.is_empty());
    }
    lines.retain(|l| !l.segs.is_empty());
    merge_same_baseline(lines)
}

/// Lines looked back over for a line on the same baseline.
const MERGE_LOOKBACK: usize = 12;
/// Baselines this close (in font sizes) are one line.
const SAME_BASELINE: f32 = 0.3;
/// Lines written in between must stay this close (in font sizes) to the baseline: the
/// jump is inside one block (a table header), not from one column of prose to the next.
const MERGE_WINDOW: f32 = 3.0;

/// Rejoin pieces of one visual line that the content stream wrote apart: a piece on
/// the same baseline as an earlier line, not overlapping it, where everything written
/// in between stayed nearby, belongs to that line (its segments interleave by x).
fn merge_same_baseline(lines: Vec<Line>) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    for l in lines {
        let size = l.size.max(1.0);
        let mut target = None;
        for back in 1..=MERGE_LOOKBACK.min(out.len()) {
            let k = out.len() - back;
            let m = &out[k];
            if (m.y - l.y).abs() <= SAME_BASELINE * size && !overlaps(m, &l) {
                target = Some(k);
                break;
            }
            if (m.y - l.y).abs() > MERGE_WINDOW * size {
                break;
            }
        }
        match target {
            Some(k) => {
                let m = &mut out[k];
                m.size = m.size.max(l.size);
                let mut segs: Vec<Seg> = std::mem::take(&mut m.segs);
                segs.extend(l.segs);
                segs.sort_by(|a, b| a.x0.total_cmp(&b.x0));
                let gap_limit = CELL_GAP * m.size;
                for s in segs {
                    match m.segs.last_mut() {
                        Some(last) if s.x0 - last.x1 <= gap_limit => {
                            last.text.push(' ');
                            last.text.push_str(&s.text);
                            last.x1 = last.x1.max(s.x1);
                            last.words.extend(s.words);
                        }
                        _ => m.segs.push(s),
                    }
                }
            }
            None => out.push(l),
        }
    }
    out
}

/// Do two lines' segments overlap horizontally (the same text drawn twice, or text
/// over text: not pieces of one line)?
fn overlaps(a: &Line, b: &Line) -> bool {
    a.segs.iter().any(|s| {
        b.segs
            .iter()
            .any(|t| s.x0 < t.x1 - 0.5 && t.x0 < s.x1 - 0.5)
    })
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
    Table(Block),
}

/// One page's lines -> blocks (without page numbers).
pub fn page_blocks(lines: &[Line]) -> Vec<Block> {
    if lines.is_empty() {
        return Vec::new();
    }
    let body = body_size(lines);
    let spacing = typical_spacing(lines);
    let mut units: Vec<Unit<'_>> = Vec::new();
    // Tables first (their header and unit lines may sit above the rows); each is
    // placed where its first line was, the other lines are prose.
    let mut table_at: Vec<Option<Block>> = vec![None; lines.len()];
    let mut in_table = vec![false; lines.len()];
    for t in table::find(lines) {
        for &k in &t.lines {
            in_table[k] = true;
        }
        table_at[t.at] = Some(t.block);
    }
    for i in 0..lines.len() {
        if let Some(b) = table_at[i].take() {
            units.push(Unit::Table(b));
        }
        if in_table[i] {
            continue;
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
            Unit::Table(b) => Some(b),
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Lay out words as glyphs: each (x, y, text) drawn at size 10, 5 units per char
    /// (spaces inside `text` drawn as space glyphs).
    pub(crate) fn glyphs(items: &[(f32, f32, &str)]) -> PageGlyphs {
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
