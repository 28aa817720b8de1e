//! Markdown and bilingual Markdown. Plain text (translations, source blocks) is escaped so
//! a renderer shows exactly the characters, HTML included; a summary is Markdown already
//! and keeps its syntax, with only `<` neutralised so it cannot carry HTML.
use std::collections::HashSet;

use super::marks::MarkedText;
use super::{marks_of, table, ExportContent, ExportError, ExportFormat, MarkKind, Pair};
use crate::BlockKind;

/// How text is escaped for where it lands.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Mode {
    /// Markdown written by the model: keep its syntax, neutralise HTML.
    Summary,
    /// Plain text in a Markdown paragraph.
    Text,
    /// Plain text on one line (a heading).
    Line,
    /// Plain text in a pipe-table cell: `|` escaped, newlines as `<br>`, tabs as ` | `.
    Cell,
}

/// Footnotes that explain the highlighted figures, numbered in order of appearance.
#[derive(Default)]
struct Notes {
    lines: Vec<String>,
}

impl Notes {
    fn add(&mut self, kind: MarkKind, note: Option<&str>) -> String {
        let n = self.lines.len() + 1;
        let what = match kind {
            MarkKind::Mismatch => "⚠ figure does not match the source",
            MarkKind::Unsupported => "figure not found in the source",
        };
        let mut line = format!("[^fig{n}]: {what}");
        if let Some(note) = note.filter(|s| !s.trim().is_empty()) {
            line.push_str(": ");
            line.push_str(&escape(note, Mode::Line));
        }
        self.lines.push(line);
        format!("[^fig{n}]")
    }

    fn finish(self, out: &mut String) {
        if self.lines.is_empty() {
            return;
        }
        out.push('\n');
        for l in self.lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
}

/// Appends text escaped for `mode`, tracking line starts for block-syntax escapes.
struct Escaper<'o> {
    out: &'o mut String,
    mode: Mode,
    line_start: bool,
    leading_digits: bool,
}

impl<'o> Escaper<'o> {
    fn new(out: &'o mut String, mode: Mode) -> Self {
        Escaper {
            out,
            mode,
            line_start: true,
            leading_digits: false,
        }
    }

    fn push(&mut self, s: &str) {
        for c in s.chars() {
            self.push_char(c);
        }
    }

    fn push_char(&mut self, c: char) {
        let out = &mut *self.out;
        if self.mode == Mode::Summary {
            match c {
                '<' => out.push_str("&lt;"),
                _ => out.push(c),
            }
            return;
        }
        // Block syntax only exists at a line start; a table cell never starts a block.
        let was_line_start = self.line_start && self.mode != Mode::Cell;
        let was_digits = self.leading_digits;
        self.line_start = false;
        self.leading_digits = false;
        match c {
            '\n' => match self.mode {
                Mode::Cell => out.push_str("<br>"),
                Mode::Line => out.push(' '),
                _ => {
                    out.push('\n');
                    self.line_start = true;
                }
            },
            '\t' if self.mode == Mode::Cell => out.push_str(" \\| "),
            '\r' => {}
            '|' if self.mode == Mode::Cell => out.push_str("\\|"),
            '\\' | '`' | '*' | '_' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '#' | '-' | '+' | '=' | '~' if was_line_start => {
                out.push('\\');
                out.push(c);
            }
            '.' | ')' if was_digits => {
                out.push('\\');
                out.push(c);
            }
            ' ' if was_line_start && self.mode == Mode::Text => {
                // Leading spaces would make an indented code block.
                out.push_str("&#32;");
                self.line_start = true;
            }
            d if d.is_ascii_digit() && (was_line_start || was_digits) => {
                out.push(d);
                self.leading_digits = true;
            }
            _ => out.push(c),
        }
    }
}

pub(super) fn escape(s: &str, mode: Mode) -> String {
    let mut out = String::new();
    Escaper::new(&mut out, mode).push(s);
    out
}

/// Chars `start..end` of `mt`, escaped, flagged spans in `<mark>` with a footnote reference.
fn marked(
    mt: &MarkedText<'_>,
    start: usize,
    end: usize,
    mode: Mode,
    notes: &mut Notes,
    refs: &mut HashSet<usize>,
    out: &mut String,
) {
    let mut esc = Escaper::new(out, mode);
    for piece in mt.pieces(start, end) {
        let Some(m) = piece.mark else {
            esc.push(&piece.text);
            continue;
        };
        // One <mark> per line, so a highlight never spans a block boundary.
        for (i, line) in piece.text.split('\n').enumerate() {
            if i > 0 {
                esc.push_char('\n');
            }
            if line.is_empty() {
                continue;
            }
            esc.out.push_str("<mark>");
            esc.push(line);
            esc.out.push_str("</mark>");
        }
        // The footnote reference follows the first piece of each mark only.
        if refs.insert(m) {
            let mark = mt.mark(m);
            let r = notes.add(mark.kind, mark.note.as_deref());
            esc.out.push_str(&r);
        }
    }
}

/// Markdown: a summary as is, a translation as its target text.
pub(crate) fn plain(content: &ExportContent) -> String {
    let mut out = String::new();
    let mut notes = Notes::default();
    if !content.title().trim().is_empty() {
        out.push_str("# ");
        out.push_str(&escape(content.title(), Mode::Line));
        out.push_str("\n\n");
    }
    match content {
        ExportContent::Summary {
            markdown,
            marks,
            key_figures,
            ..
        } => {
            let mt = MarkedText::new(markdown, marks);
            marked(
                &mt,
                0,
                mt.len(),
                Mode::Summary,
                &mut notes,
                &mut HashSet::new(),
                &mut out,
            );
            if !out.ends_with('\n') {
                out.push('\n');
            }
            if !key_figures.is_empty() {
                out.push_str("\n## Key figures (read from the source's statements)\n\n");
                out.push_str(&super::key_figures::to_markdown(key_figures));
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        ExportContent::Translation { pairs, marks, .. } => {
            for (i, pair) in pairs.iter().enumerate() {
                let mt = MarkedText::new(&pair.target, marks_of(marks, i));
                target_block(pair, &mt, &mut notes, &mut out);
                out.push_str("\n\n");
            }
        }
    }
    notes.finish(&mut out);
    out
}

fn target_block(pair: &Pair, mt: &MarkedText<'_>, notes: &mut Notes, out: &mut String) {
    let refs = &mut HashSet::new();
    match pair.kind {
        BlockKind::Heading => {
            out.push_str("## ");
            marked(mt, 0, mt.len(), Mode::Line, notes, refs, out);
        }
        BlockKind::Paragraph => marked(mt, 0, mt.len(), Mode::Text, notes, refs, out),
        BlockKind::ListItem => {
            out.push_str("- ");
            marked(mt, 0, mt.len(), Mode::Line, notes, refs, out);
        }
        BlockKind::Table => {
            let rows = table::rows(&pair.target, pair.target_cells.as_ref());
            let width = table::width(&rows).max(1);
            for (r, row) in rows.iter().enumerate() {
                out.push('|');
                for c in 0..width {
                    out.push(' ');
                    if let Some(cell) = row.get(c) {
                        match cell.start {
                            Some(s) => {
                                let e = s + cell.text.chars().count();
                                marked(mt, s, e, Mode::Cell, notes, refs, out)
                            }
                            None => out.push_str(&escape(&cell.text, Mode::Cell)),
                        }
                    }
                    out.push_str(" |");
                }
                out.push('\n');
                if r == 0 {
                    out.push('|');
                    out.push_str(&" --- |".repeat(width));
                    out.push('\n');
                }
            }
            // Drop the last newline: the caller separates blocks.
            out.pop();
        }
    }
}

/// A two-column table, source | translation, one row per pair.
pub(crate) fn bilingual(content: &ExportContent) -> Result<String, ExportError> {
    let ExportContent::Translation {
        title,
        pairs,
        marks,
    } = content
    else {
        return Err(ExportError::NotBilingual(ExportFormat::BilingualMarkdown));
    };
    let mut out = String::new();
    let mut notes = Notes::default();
    if !title.trim().is_empty() {
        out.push_str("# ");
        out.push_str(&escape(title, Mode::Line));
        out.push_str("\n\n");
    }
    out.push_str("| Source | Translation |\n| --- | --- |\n");
    for (i, pair) in pairs.iter().enumerate() {
        let (before, after) = match pair.kind {
            BlockKind::Heading => ("**", "**"),
            BlockKind::ListItem => ("• ", ""),
            BlockKind::Paragraph | BlockKind::Table => ("", ""),
        };
        let wrap = |body: String| {
            if body.is_empty() {
                body
            } else {
                format!("{before}{body}{after}")
            }
        };
        let source = wrap(escape(&pair.source, Mode::Cell));
        let mt = MarkedText::new(&pair.target, marks_of(marks, i));
        let mut target = String::new();
        marked(
            &mt,
            0,
            mt.len(),
            Mode::Cell,
            &mut notes,
            &mut HashSet::new(),
            &mut target,
        );
        let target = wrap(target);
        out.push_str(&format!("| {source} | {target} |\n"));
    }
    notes.finish(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_inert_markdown() {
        assert_eq!(
            escape("1. a*b_c <b>&</b> `x` [l](u)", Mode::Text),
            "1\\. a\\*b\\_c &lt;b&gt;&amp;&lt;/b&gt; \\`x\\` \\[l\\](u)"
        );
        assert_eq!(
            escape("# not a heading\n- nor a list", Mode::Text),
            "\\# not a heading\n\\- nor a list"
        );
        assert_eq!(escape("a|b\nc\td", Mode::Cell), "a\\|b<br>c \\| d");
        assert_eq!(escape("a\\|b", Mode::Cell), "a\\\\\\|b");
        assert_eq!(escape("843.1 - x", Mode::Cell), "843.1 - x");
        assert_eq!(escape("1. a", Mode::Line), "1\\. a");
        assert_eq!(escape("**bold** <i>", Mode::Summary), "**bold** &lt;i>");
    }
}
