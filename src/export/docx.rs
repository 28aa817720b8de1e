//! DOCX and bilingual DOCX with docx-rs. Flagged figures become highlighted runs with a
//! Word comment carrying the checker's note.
use std::collections::HashMap;

use docx_rs::{
    AbstractNumbering, BreakType, Comment, Docx, IndentLevel, Level, LevelJc, LevelText,
    NumberFormat, Numbering, NumberingId, Paragraph, Run, SpecialIndentType, Start, Style,
    StyleType, Table, TableCell, TableRow, WidthType,
};

use super::marks::MarkedText;
use super::{marks_of, table, ExportContent, ExportError, ExportFormat, MarkKind, Pair};
use crate::BlockKind;

/// Text width of docx-rs's default A4 page (11906 twips less 2 x 1701 margins).
const TEXT_WIDTH: usize = 8504;
const BULLETS: usize = 1;

/// A stretch of a paragraph: chars of the marked text, or text we add (a bullet, a space).
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Range {
        start: usize,
        end: usize,
        bold: bool,
    },
    Lit {
        text: String,
        bold: bool,
    },
}

/// Carries comment ids across the document.
struct Builder {
    next_comment: usize,
}

impl Builder {
    fn new() -> Self {
        Builder { next_comment: 1 }
    }

    /// Adds the runs for `segs` to `p`: flagged chars highlighted, each flag commented once.
    fn runs(&mut self, mut p: Paragraph, mt: &MarkedText<'_>, segs: &[Seg]) -> Paragraph {
        let mut items: Vec<(Run, Option<usize>)> = Vec::new();
        for seg in segs {
            match seg {
                Seg::Lit { text, bold } => items.push((text_run(text, *bold, None), None)),
                Seg::Range { start, end, bold } => {
                    for piece in mt.pieces(*start, *end) {
                        let kind = piece.mark.map(|m| mt.mark(m).kind);
                        items.push((text_run(&piece.text, *bold, kind), piece.mark));
                    }
                }
            }
        }
        let mut first: HashMap<usize, usize> = HashMap::new();
        let mut last: HashMap<usize, usize> = HashMap::new();
        for (i, (_, m)) in items.iter().enumerate() {
            if let Some(m) = m {
                first.entry(*m).or_insert(i);
                last.insert(*m, i);
            }
        }
        let mut ids: HashMap<usize, usize> = HashMap::new();
        for (i, (run, m)) in items.into_iter().enumerate() {
            if let Some(m) = m.filter(|m| first[m] == i) {
                let id = self.next_comment;
                self.next_comment += 1;
                ids.insert(m, id);
                p = p.add_comment_start(comment(id, mt.mark(m)));
            }
            p = p.add_run(run);
            if let Some(m) = m.filter(|m| last[m] == i) {
                p = p.add_comment_end(ids[&m]);
            }
        }
        p
    }

    /// A whole text as one paragraph.
    fn paragraph(&mut self, p: Paragraph, mt: &MarkedText<'_>, bold: bool) -> Paragraph {
        let segs = [Seg::Range {
            start: 0,
            end: mt.len(),
            bold,
        }];
        self.runs(p, mt, &segs)
    }

    /// A table block as a Word table; the first row is set bold as a header.
    fn table(
        &mut self,
        mt: &MarkedText<'_>,
        text: &str,
        given: Option<&Vec<Vec<String>>>,
        width: usize,
    ) -> Table {
        let rows = table::rows(text, given);
        let cols = table::width(&rows).max(1);
        let col_w = width / cols;
        let mut out = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let mut cells = Vec::new();
            for c in 0..cols {
                let bold = r == 0 && rows.len() > 1;
                let p = match row.get(c) {
                    Some(cell) => match cell.start {
                        Some(s) => {
                            let segs = [Seg::Range {
                                start: s,
                                end: s + cell.text.chars().count(),
                                bold,
                            }];
                            self.runs(Paragraph::new(), mt, &segs)
                        }
                        None => Paragraph::new().add_run(text_run(&cell.text, bold, None)),
                    },
                    None => Paragraph::new(),
                };
                cells.push(
                    TableCell::new()
                        .width(col_w, WidthType::Dxa)
                        .add_paragraph(p),
                );
            }
            out.push(TableRow::new(cells));
        }
        Table::new(out).set_grid(vec![col_w; cols])
    }
}

fn comment(id: usize, mark: &super::Mark) -> Comment {
    let what = match mark.kind {
        MarkKind::Mismatch => "Figure does not match the source",
        MarkKind::Unsupported => "Figure not found in the source",
    };
    let text = match mark.note.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(note) => format!("{what}: {note}"),
        None => what.to_string(),
    };
    Comment::new(id)
        .author("ReportLens")
        .date(iso_now())
        .add_paragraph(Paragraph::new().add_run(text_run(&text, false, None)))
}

/// Now as `YYYY-MM-DDThh:mm:ssZ`, the comment date Word shows.
fn iso_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A run of text: newlines become line breaks, tabs tabs; characters XML cannot hold
/// (control codes) are dropped so Word opens the file.
fn text_run(text: &str, bold: bool, mark: Option<MarkKind>) -> Run {
    let mut run = Run::new();
    if bold {
        run = run.bold();
    }
    match mark {
        Some(MarkKind::Mismatch) => run = run.highlight("yellow"),
        Some(MarkKind::Unsupported) => run = run.highlight("lightGray"),
        None => {}
    }
    let mut buf = String::new();
    for c in text.chars() {
        match c {
            '\n' | '\t' => {
                if !buf.is_empty() {
                    run = run.add_text(std::mem::take(&mut buf));
                }
                run = if c == '\n' {
                    run.add_break(BreakType::TextWrapping)
                } else {
                    run.add_tab()
                };
            }
            '\r' => {}
            c if xml_char(c) => buf.push(c),
            _ => {}
        }
    }
    if !buf.is_empty() {
        run = run.add_text(buf);
    }
    run
}

/// Characters allowed in XML 1.0.
fn xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A document with heading styles and a bullet list definition.
fn base_docx() -> Docx {
    let bullet = |level: usize, sym: &str| {
        Level::new(
            level,
            Start::new(1),
            NumberFormat::new("bullet"),
            LevelText::new(sym),
            LevelJc::new("left"),
        )
        .indent(
            Some(720 * (level as i32 + 1)),
            Some(SpecialIndentType::Hanging(360)),
            None,
            None,
        )
    };
    let heading = |id: &str, name: &str, size: usize, level: usize| {
        Style::new(id, StyleType::Paragraph)
            .name(name)
            .size(size)
            .bold()
            .outline_lvl(level)
    };
    Docx::new()
        .add_style(heading("Title", "Title", 40, 0))
        .add_style(heading("Heading1", "Heading 1", 32, 0))
        .add_style(heading("Heading2", "Heading 2", 28, 1))
        .add_style(heading("Heading3", "Heading 3", 24, 2))
        .add_abstract_numbering(
            AbstractNumbering::new(BULLETS)
                .add_level(bullet(0, "•"))
                .add_level(bullet(1, "◦"))
                .add_level(bullet(2, "▪")),
        )
        .add_numbering(Numbering::new(BULLETS, BULLETS))
}

fn pack(docx: Docx) -> Result<Vec<u8>, ExportError> {
    let mut buf = std::io::Cursor::new(Vec::new());
    docx.pack(&mut buf)
        .map_err(|e| ExportError::Docx(e.to_string()))?;
    Ok(buf.into_inner())
}

fn title(docx: Docx, title: &str) -> Docx {
    if title.trim().is_empty() {
        return docx;
    }
    docx.add_paragraph(
        Paragraph::new()
            .style("Title")
            .add_run(text_run(title, false, None)),
    )
}

/// DOCX: a summary's Markdown as headings, paragraphs, lists and tables; a translation's
/// target blocks in order.
pub(crate) fn plain(content: &ExportContent) -> Result<Vec<u8>, ExportError> {
    let mut b = Builder::new();
    let mut docx = title(base_docx(), content.title());
    match content {
        ExportContent::Summary {
            markdown,
            marks,
            key_figures,
            ..
        } => {
            let mt = MarkedText::new(markdown, marks);
            for block in parse_markdown(&mt.chars) {
                docx = summary_block(&mut b, &mt, block, docx);
            }
            if !key_figures.is_empty() {
                docx = docx
                    .add_paragraph(Paragraph::new().style("Heading2").add_run(text_run(
                        "Key figures (read from the source's statements)",
                        false,
                        None,
                    )))
                    .add_table(key_figures_table(key_figures));
            }
        }
        ExportContent::Translation { pairs, marks, .. } => {
            for (i, pair) in pairs.iter().enumerate() {
                let mt = MarkedText::new(&pair.target, marks_of(marks, i));
                docx = match pair.kind {
                    BlockKind::Heading => docx.add_paragraph(b.paragraph(
                        Paragraph::new().style("Heading2"),
                        &mt,
                        false,
                    )),
                    BlockKind::Paragraph => {
                        docx.add_paragraph(b.paragraph(Paragraph::new(), &mt, false))
                    }
                    BlockKind::ListItem => docx.add_paragraph(b.paragraph(
                        Paragraph::new().numbering(NumberingId::new(BULLETS), IndentLevel::new(0)),
                        &mt,
                        false,
                    )),
                    BlockKind::Table => docx
                        .add_table(b.table(
                            &mt,
                            &pair.target,
                            pair.target_cells.as_ref(),
                            TEXT_WIDTH,
                        ))
                        .add_paragraph(Paragraph::new()),
                };
            }
        }
    }
    pack(docx)
}

/// Bilingual DOCX: one two-column table, source | translation, one row per pair.
pub(crate) fn bilingual(content: &ExportContent) -> Result<Vec<u8>, ExportError> {
    let ExportContent::Translation {
        title: t,
        pairs,
        marks,
    } = content
    else {
        return Err(ExportError::NotBilingual(ExportFormat::BilingualDocx));
    };
    let mut b = Builder::new();
    let col = TEXT_WIDTH / 2;
    let header = |s: &str| {
        TableCell::new()
            .width(col, WidthType::Dxa)
            .add_paragraph(Paragraph::new().add_run(text_run(s, true, None)))
    };
    let mut rows = vec![TableRow::new(vec![header("Source"), header("Translation")])];
    for (i, pair) in pairs.iter().enumerate() {
        let src = MarkedText::new(&pair.source, []);
        let tgt = MarkedText::new(&pair.target, marks_of(marks, i));
        let left = pair_cell(
            &mut b,
            pair,
            &src,
            &pair.source,
            pair.source_cells.as_ref(),
            col,
        );
        let right = pair_cell(
            &mut b,
            pair,
            &tgt,
            &pair.target,
            pair.target_cells.as_ref(),
            col,
        );
        rows.push(TableRow::new(vec![left, right]));
    }
    let docx = title(base_docx(), t).add_table(Table::new(rows).set_grid(vec![col, col]));
    pack(docx)
}

/// One side of a bilingual row: the block as its kind reads (heading bold, list item
/// with a bullet, a table nested).
fn pair_cell(
    b: &mut Builder,
    pair: &Pair,
    mt: &MarkedText<'_>,
    text: &str,
    cells: Option<&Vec<Vec<String>>>,
    width: usize,
) -> TableCell {
    let cell = TableCell::new().width(width, WidthType::Dxa);
    let whole = |bold| Seg::Range {
        start: 0,
        end: mt.len(),
        bold,
    };
    match pair.kind {
        BlockKind::Heading => cell.add_paragraph(b.runs(Paragraph::new(), mt, &[whole(true)])),
        BlockKind::Paragraph => cell.add_paragraph(b.runs(Paragraph::new(), mt, &[whole(false)])),
        BlockKind::ListItem => {
            let bullet = Seg::Lit {
                text: "• ".into(),
                bold: false,
            };
            cell.add_paragraph(b.runs(Paragraph::new(), mt, &[bullet, whole(false)]))
        }
        // Word requires a paragraph after a table at the end of a cell.
        BlockKind::Table => cell
            .add_table(b.table(mt, text, cells, width.saturating_sub(200)))
            .add_paragraph(Paragraph::new()),
    }
}

fn summary_block(b: &mut Builder, mt: &MarkedText<'_>, block: MdBlock, docx: Docx) -> Docx {
    let p = match block {
        MdBlock::Table(rows) => return docx.add_table(summary_table(b, mt, rows)),
        MdBlock::Heading(level, segs) => {
            let style = match level {
                1 => "Heading1",
                2 => "Heading2",
                _ => "Heading3",
            };
            b.runs(Paragraph::new().style(style), mt, &segs)
        }
        MdBlock::Bullet(level, segs) => b.runs(
            Paragraph::new().numbering(NumberingId::new(BULLETS), IndentLevel::new(level.min(2))),
            mt,
            &segs,
        ),
        MdBlock::Numbered(segs) => b.runs(
            Paragraph::new().indent(Some(360), Some(SpecialIndentType::Hanging(360)), None, None),
            mt,
            &segs,
        ),
        MdBlock::Code(segs) => {
            let p = Paragraph::new().fonts(docx_rs::RunFonts::new().ascii("Courier New"));
            b.runs(p, mt, &segs)
        }
        MdBlock::Para(segs) => b.runs(Paragraph::new(), mt, &segs),
    };
    docx.add_paragraph(p)
}

/// The key-figures table: one row per metric, figures as printed, with their page.
fn key_figures_table(rows: &[crate::check::key_figures::KeyFigure]) -> Table {
    let head = [
        "Metric",
        "Period",
        "Value",
        "Prior period",
        "Prior value",
        "Change",
        "Unit",
        "Page",
    ];
    let cols = head.len();
    let col_w = TEXT_WIDTH / cols;
    let cell = |text: &str, bold: bool| {
        TableCell::new()
            .width(col_w, WidthType::Dxa)
            .add_paragraph(Paragraph::new().add_run(text_run(text, bold, None)))
    };
    let mut out = vec![TableRow::new(head.iter().map(|h| cell(h, true)).collect())];
    for r in rows {
        let page = r.page.map(|p| format!("p. {p}")).unwrap_or_default();
        let fields = [
            format!("{} ({})", r.metric.name(), r.label),
            r.period.clone(),
            r.value.clone(),
            r.prior_period.clone().unwrap_or_default(),
            r.prior_value.clone().unwrap_or_default(),
            r.change.clone().unwrap_or_default(),
            r.unit.clone().unwrap_or_default(),
            page,
        ];
        out.push(TableRow::new(
            fields.iter().map(|f| cell(f, false)).collect(),
        ));
    }
    Table::new(out).set_grid(vec![col_w; cols])
}

fn summary_table(b: &mut Builder, mt: &MarkedText<'_>, rows: Vec<Vec<Vec<Seg>>>) -> Table {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let col_w = TEXT_WIDTH / cols;
    let mut out = Vec::new();
    for (r, row) in rows.into_iter().enumerate() {
        let mut cells = Vec::new();
        for c in 0..cols {
            let mut segs = row.get(c).cloned().unwrap_or_default();
            if r == 0 {
                for s in &mut segs {
                    match s {
                        Seg::Range { bold, .. } | Seg::Lit { bold, .. } => *bold = true,
                    }
                }
            }
            let p = b.runs(Paragraph::new(), mt, &segs);
            cells.push(
                TableCell::new()
                    .width(col_w, WidthType::Dxa)
                    .add_paragraph(p),
            );
        }
        out.push(TableRow::new(cells));
    }
    Table::new(out).set_grid(vec![col_w; cols])
}

/// The Markdown a summary uses, as blocks of char ranges into the text (so marks apply).
#[derive(Debug, Clone, PartialEq)]
enum MdBlock {
    Heading(usize, Vec<Seg>),
    Para(Vec<Seg>),
    Bullet(usize, Vec<Seg>),
    /// "1. ..." kept with its number as written.
    Numbered(Vec<Seg>),
    Code(Vec<Seg>),
    Table(Vec<Vec<Vec<Seg>>>),
}

fn parse_markdown(chars: &[char]) -> Vec<MdBlock> {
    // Line ranges, without the newline.
    let mut lines = Vec::new();
    let mut s = 0;
    for (i, c) in chars.iter().enumerate() {
        if *c == '\n' {
            lines.push((s, i));
            s = i + 1;
        }
    }
    lines.push((s, chars.len()));

    let mut out = Vec::new();
    let mut para: Vec<Seg> = Vec::new();
    let flush = |para: &mut Vec<Seg>, out: &mut Vec<MdBlock>| {
        if !para.is_empty() {
            out.push(MdBlock::Para(std::mem::take(para)));
        }
    };
    let mut i = 0;
    while i < lines.len() {
        let (ls, le) = trim(chars, lines[i].0, lines[i].1);
        let indent = lines[i].0..ls;
        let line: String = chars[ls..le].iter().collect();
        i += 1;
        if ls == le {
            flush(&mut para, &mut out);
            continue;
        }
        if line.starts_with("```") || line.starts_with("~~~") {
            flush(&mut para, &mut out);
            let fence = &line[..3];
            let mut segs = Vec::new();
            while i < lines.len() {
                let (cs, ce) = lines[i];
                i += 1;
                let (ts, te) = trim(chars, cs, ce);
                if chars[ts..te].iter().collect::<String>().starts_with(fence) {
                    break;
                }
                if !segs.is_empty() {
                    segs.push(Seg::Lit {
                        text: "\n".into(),
                        bold: false,
                    });
                }
                segs.push(Seg::Range {
                    start: cs,
                    end: ce,
                    bold: false,
                });
            }
            out.push(MdBlock::Code(segs));
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && line.chars().nth(hashes).is_none_or(|c| c == ' ') {
            flush(&mut para, &mut out);
            let mut end = le;
            while end > ls + hashes && chars[end - 1] == '#' {
                end -= 1;
            }
            let (hs, he) = trim(chars, ls + hashes, end);
            out.push(MdBlock::Heading(hashes, inline(chars, hs, he)));
            continue;
        }
        if line.starts_with('|') {
            flush(&mut para, &mut out);
            let mut rows = vec![table_row(chars, ls, le)];
            while i < lines.len() {
                let (ts, te) = trim(chars, lines[i].0, lines[i].1);
                if ts == te || chars[ts] != '|' {
                    break;
                }
                i += 1;
                let is_rule = chars[ts..te]
                    .iter()
                    .all(|c| matches!(c, '|' | '-' | ':' | ' '));
                if !is_rule {
                    rows.push(table_row(chars, ts, te));
                }
            }
            out.push(MdBlock::Table(rows));
            continue;
        }
        let mut cs = line.chars();
        if let (Some(m), Some(' ')) = (cs.next(), cs.next()) {
            if matches!(m, '-' | '*' | '+') {
                flush(&mut para, &mut out);
                let level = indent.len() / 2;
                let (bs, be) = trim(chars, ls + 2, le);
                out.push(MdBlock::Bullet(level, inline(chars, bs, be)));
                continue;
            }
        }
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && (line[digits..].starts_with(". ") || line[digits..].starts_with(") ")) {
            flush(&mut para, &mut out);
            out.push(MdBlock::Numbered(inline(chars, ls, le)));
            continue;
        }
        let (qs, qe) = if line.starts_with('>') {
            trim(chars, ls + 1, le)
        } else {
            (ls, le)
        };
        if !para.is_empty() {
            para.push(Seg::Lit {
                text: "\n".into(),
                bold: false,
            });
        }
        para.extend(inline(chars, qs, qe));
    }
    flush(&mut para, &mut out);
    out
}

/// Cells of a `| a | b |` line, split at unescaped pipes.
fn table_row(chars: &[char], start: usize, end: usize) -> Vec<Vec<Seg>> {
    let mut cells = Vec::new();
    let mut s = start;
    if s < end && chars[s] == '|' {
        s += 1;
    }
    let mut i = s;
    while i < end {
        if chars[i] == '\\' {
            i += 2;
            continue;
        }
        if chars[i] == '|' {
            let (a, b) = trim(chars, s, i);
            cells.push(inline(chars, a, b));
            s = i + 1;
        }
        i += 1;
    }
    if s < end {
        let (a, b) = trim(chars, s, end);
        if a < b {
            cells.push(inline(chars, a, b));
        }
    }
    cells
}

/// `**bold**`/`__bold__` become bold ranges; everything else stays literal text.
fn inline(chars: &[char], start: usize, end: usize) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut bold = false;
    let mut s = start;
    let mut i = start;
    while i + 1 < end {
        let pair = (chars[i], chars[i + 1]);
        if pair == ('*', '*') || pair == ('_', '_') {
            if s < i {
                out.push(Seg::Range {
                    start: s,
                    end: i,
                    bold,
                });
            }
            bold = !bold;
            i += 2;
            s = i;
        } else {
            i += 1;
        }
    }
    if s < end {
        out.push(Seg::Range {
            start: s,
            end,
            bold,
        });
    }
    out
}

fn trim(chars: &[char], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && chars[s].is_whitespace() {
        s += 1;
    }
    while e > s && chars[e - 1].is_whitespace() {
        e -= 1;
    }
    (s, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(chars: &[char], segs: &[Seg]) -> String {
        segs.iter()
            .map(|s| match s {
                Seg::Range { start, end, bold } => {
                    let t: String = chars[*start..*end].iter().collect();
                    if *bold {
                        format!("<b>{t}</b>")
                    } else {
                        t
                    }
                }
                Seg::Lit { text, .. } => text.clone(),
            })
            .collect()
    }

    #[test]
    fn comment_dates_are_iso_utc() {
        let d = iso_now();
        assert_eq!(d.len(), 20, "{d}");
        assert!(
            d.ends_with('Z') && &d[4..5] == "-" && &d[10..11] == "T",
            "{d}"
        );
        assert!(d.as_str() > "2024-01-01", "{d}");
    }

    #[test]
    fn summary_markdown_becomes_blocks() {
        let md = "# 财务摘要\n\n- **收入**：61.3亿元\n  - 同比 +12%\n1. first\n\n| 指标 | 2024 |\n|---|---|\n| 收入 | 6,130 |\n\nline one\nline two\n```\ncode | x\n```\n";
        let chars: Vec<char> = md.chars().collect();
        let blocks = parse_markdown(&chars);
        let shown: Vec<String> = blocks
            .iter()
            .map(|b| match b {
                MdBlock::Heading(l, s) => format!("H{l}:{}", texts(&chars, s)),
                MdBlock::Bullet(l, s) => format!("B{l}:{}", texts(&chars, s)),
                MdBlock::Numbered(s) => format!("N:{}", texts(&chars, s)),
                MdBlock::Para(s) => format!("P:{}", texts(&chars, s)),
                MdBlock::Code(s) => format!("C:{}", texts(&chars, s)),
                MdBlock::Table(rows) => format!(
                    "T:{}",
                    rows.iter()
                        .map(|r| r
                            .iter()
                            .map(|c| texts(&chars, c))
                            .collect::<Vec<_>>()
                            .join("/"))
                        .collect::<Vec<_>>()
                        .join(";")
                ),
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                "H1:财务摘要",
                "B0:<b>收入</b>：61.3亿元",
                "B1:同比 +12%",
                "N:1. first",
                "T:指标/2024;收入/6,130",
                "P:line one\nline two",
                "C:code | x",
            ]
        );
    }
}
