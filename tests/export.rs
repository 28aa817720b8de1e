//! Exports: bilingual DOCX read back with docx-rs, Markdown escaping, HTML kept as text,
//! summaries as structured DOCX, atomic writes.
use std::path::Path;

use docx_rs::{
    DocumentChild, Highlight, Paragraph, ParagraphChild, RunChild, Table, TableCellContent,
    TableChild, TableRowChild,
};
use reportlens::export::{
    self, ExportContent, ExportError, ExportFormat, Mark, MarkKind, Pair, PairMark,
};
use reportlens::BlockKind;

const SCRIPT: &str = "<script>alert('x')</script> & R&D | pipe";

fn pair(kind: BlockKind, source: &str, target: &str) -> Pair {
    Pair {
        kind,
        source: source.into(),
        target: target.into(),
        page: Some(1),
        source_cells: None,
        target_cells: None,
    }
}

/// Char span of `needle` in `hay`.
fn span(hay: &str, needle: &str) -> (usize, usize) {
    let byte = hay.find(needle).expect("needle in text");
    let start = hay[..byte].chars().count();
    (start, start + needle.chars().count())
}

fn translation() -> ExportContent {
    let figure = "收入为84.3亿美元，同比增长12%。";
    let (s, e) = span(figure, "84.3亿美元");
    let mut table = pair(
        BlockKind::Table,
        "Item\tFY2024\nRevenue\t843.1",
        "项目\t2024财年\n收入\t843.1",
    );
    table.target_cells = Some(vec![
        vec!["项目".into(), "2024财年".into()],
        vec!["收入".into(), "843.1".into()],
    ]);
    let (ts, te) = span(&table.target, "843.1");
    ExportContent::Translation {
        title: "Annual report 年报".into(),
        pairs: vec![
            pair(BlockKind::Heading, "Annual results", "年度业绩"),
            pair(
                BlockKind::Paragraph,
                "Revenue was US$843.1 million, up 12%.",
                figure,
            ),
            pair(BlockKind::ListItem, "Net loss narrowed", "净亏损收窄"),
            table,
            pair(BlockKind::Paragraph, SCRIPT, SCRIPT),
        ],
        marks: vec![
            PairMark {
                pair: 1,
                mark: Mark {
                    start: s,
                    end: e,
                    kind: MarkKind::Mismatch,
                    note: Some("source: US$843.1 million".into()),
                },
            },
            PairMark {
                pair: 3,
                mark: Mark {
                    start: ts,
                    end: te,
                    kind: MarkKind::Unsupported,
                    note: None,
                },
            },
        ],
    }
}

fn para_text(p: &Paragraph) -> String {
    let mut s = String::new();
    for child in &p.children {
        if let ParagraphChild::Run(run) = child {
            for rc in &run.children {
                match rc {
                    RunChild::Text(t) => s.push_str(&t.text),
                    RunChild::Tab(_) => s.push('\t'),
                    RunChild::Break(_) => s.push('\n'),
                    _ => {}
                }
            }
        }
    }
    s
}

fn cell_text(content: &[TableCellContent]) -> String {
    let mut parts = Vec::new();
    for c in content {
        match c {
            TableCellContent::Paragraph(p) => parts.push(para_text(p)),
            TableCellContent::Table(t) => parts.push(table_text(t)),
            _ => {}
        }
    }
    parts.join("\n")
}

fn table_text(t: &Table) -> String {
    rows(t)
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| cell_text(c))
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn rows(t: &Table) -> Vec<Vec<&Vec<TableCellContent>>> {
    t.rows
        .iter()
        .map(|TableChild::TableRow(r)| {
            r.cells
                .iter()
                .map(|TableRowChild::TableCell(c)| &c.children)
                .collect()
        })
        .collect()
}

/// Every run in a list of cell contents, with its text and highlight.
fn runs_in(content: &[TableCellContent], out: &mut Vec<(String, Option<Highlight>)>) {
    for c in content {
        match c {
            TableCellContent::Paragraph(p) => runs_of(p, out),
            TableCellContent::Table(t) => {
                for row in rows(t) {
                    for cell in row {
                        runs_in(cell, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn runs_of(p: &Paragraph, out: &mut Vec<(String, Option<Highlight>)>) {
    for child in &p.children {
        if let ParagraphChild::Run(run) = child {
            let text: String = run
                .children
                .iter()
                .filter_map(|rc| match rc {
                    RunChild::Text(t) => Some(t.text.as_str()),
                    _ => None,
                })
                .collect();
            out.push((text, run.run_property.highlight.clone()));
        }
    }
}

fn document_xml(bytes: &[u8]) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut f = zip.by_name("word/document.xml").unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut f, &mut s).unwrap();
    s
}

#[test]
fn bilingual_docx_reads_back_with_both_languages_two_columns_and_highlight() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.docx");
    export::write(&translation(), ExportFormat::BilingualDocx, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let docx = docx_rs::read_docx(&bytes).unwrap();

    let tables: Vec<&Table> = docx
        .document
        .children
        .iter()
        .filter_map(|c| match c {
            DocumentChild::Table(t) => Some(&**t),
            _ => None,
        })
        .collect();
    assert_eq!(tables.len(), 1, "one bilingual table");
    let rows = rows(tables[0]);
    assert_eq!(rows.len(), 6, "header + 5 pairs");
    assert!(
        rows.iter().all(|r| r.len() == 2),
        "every row has two columns"
    );
    let left: Vec<String> = rows.iter().map(|r| cell_text(r[0])).collect();
    let right: Vec<String> = rows.iter().map(|r| cell_text(r[1])).collect();
    assert_eq!(left[0], "Source");
    assert_eq!(right[0], "Translation");
    assert_eq!(left[1], "Annual results");
    assert_eq!(right[1], "年度业绩");
    assert!(left[2].contains("US$843.1 million"));
    assert_eq!(right[2], "收入为84.3亿美元，同比增长12%。");
    assert_eq!(left[3], "• Net loss narrowed");
    assert_eq!(right[3], "• 净亏损收窄");

    // The table pair is a nested two-by-two table on each side.
    let nested = rows[4][1]
        .iter()
        .find_map(|c| match c {
            TableCellContent::Table(t) => Some(&**t),
            _ => None,
        })
        .expect("nested table in the translation cell");
    assert_eq!(table_text(nested), "项目\t2024财年\n收入\t843.1");

    // `<script>` and friends are text on both sides.
    assert_eq!(left[5], SCRIPT);
    assert_eq!(right[5], SCRIPT);
    let xml = document_xml(&bytes);
    assert!(
        !xml.contains("<script>"),
        "raw markup leaked into document.xml"
    );
    assert!(xml.contains("&lt;script&gt;"));

    // Exactly the flagged figure is highlighted, yellow for a mismatch.
    let mut runs = Vec::new();
    runs_in(rows[2][1], &mut runs);
    let marked: Vec<&(String, Option<Highlight>)> =
        runs.iter().filter(|(_, h)| h.is_some()).collect();
    assert_eq!(marked.len(), 1, "{runs:?}");
    assert_eq!(marked[0].0, "84.3亿美元");
    assert_eq!(marked[0].1, Some(Highlight::new("yellow")));
    let mut source_runs = Vec::new();
    runs_in(rows[2][0], &mut source_runs);
    assert!(
        source_runs.iter().all(|(_, h)| h.is_none()),
        "source is not marked"
    );

    // The unsupported figure in the nested table is highlighted more quietly.
    let mut table_runs = Vec::new();
    runs_in(rows[4][1], &mut table_runs);
    assert!(table_runs
        .iter()
        .any(|(t, h)| t == "843.1" && *h == Some(Highlight::new("lightGray"))));

    // The mismatch carries a comment with the source figure.
    assert!(
        xml.contains("commentRangeStart"),
        "comment anchored in the text"
    );
    let comments = docx.comments.inner();
    assert!(
        comments
            .iter()
            .any(|c| format!("{c:?}").contains("US$843.1 million")),
        "{comments:?}"
    );
}

#[test]
fn plain_docx_translation_keeps_structure() {
    let bytes = export::render(&translation(), ExportFormat::Docx).unwrap();
    let docx = docx_rs::read_docx(&bytes).unwrap();
    let mut paras = Vec::new();
    let mut tables = 0;
    for c in &docx.document.children {
        match c {
            DocumentChild::Paragraph(p) => paras.push((
                p.property.style.as_ref().map(|s| s.val.clone()),
                para_text(p),
                p.property.numbering_property.is_some(),
            )),
            DocumentChild::Table(t) => {
                tables += 1;
                assert_eq!(table_text(t), "项目\t2024财年\n收入\t843.1");
            }
            _ => {}
        }
    }
    assert_eq!(tables, 1);
    assert!(paras.contains(&(Some("Heading2".into()), "年度业绩".into(), false)));
    assert!(
        paras.contains(&(None, "净亏损收窄".into(), true)),
        "list item numbered: {paras:?}"
    );
    assert!(paras.iter().any(|(_, t, _)| t == SCRIPT));
    assert!(
        !paras.iter().any(|(_, t, _)| t.contains("Annual results")),
        "target only"
    );
}

#[test]
fn bilingual_markdown_escapes_pipes_newlines_and_html() {
    let content = ExportContent::Translation {
        title: String::new(),
        pairs: vec![
            pair(
                BlockKind::Paragraph,
                "a | b\nsecond line",
                "甲 | 乙\n第二行",
            ),
            pair(BlockKind::Paragraph, SCRIPT, SCRIPT),
            pair(BlockKind::Table, "k\tv\nx\t1", "键\t值\n甲\t1"),
        ],
        marks: vec![],
    };
    let md = String::from_utf8(export::render(&content, ExportFormat::BilingualMarkdown).unwrap())
        .unwrap();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "| Source | Translation |");
    assert_eq!(lines.len(), 2 + 3, "one line per pair: {md}");
    assert_eq!(lines[2], "| a \\| b<br>second line | 甲 \\| 乙<br>第二行 |");
    for l in &lines {
        assert_eq!(unescaped_pipes(l), 3, "exactly two columns in {l}");
    }
    assert!(!md.contains("<script>"), "{md}");
    assert!(md.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; R&amp;D \\| pipe"));
    assert!(lines[4].contains("键 \\| 值<br>甲 \\| 1"));
}

fn unescaped_pipes(line: &str) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => n += 1,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
    }
    n
}

#[test]
fn markdown_translation_marks_mismatch_with_footnote() {
    let md =
        String::from_utf8(export::render(&translation(), ExportFormat::Markdown).unwrap()).unwrap();
    assert!(
        md.starts_with("# Annual report 年报\n\n## 年度业绩\n\n"),
        "{md}"
    );
    assert!(
        md.contains("收入为<mark>84.3亿美元</mark>[^fig1]，同比增长12%。"),
        "{md}"
    );
    assert!(md.contains("[^fig1]: ⚠ figure does not match the source: source: US$843.1 million"));
    assert!(md.contains("- 净亏损收窄"));
    assert!(
        md.contains("| 项目 | 2024财年 |\n| --- | --- |\n| 收入 | <mark>843.1</mark>[^fig2] |"),
        "{md}"
    );
    assert!(!md.contains("<script>"));
    assert!(!md.contains("Annual results"), "target only");
}

fn summary() -> ExportContent {
    let markdown = "# 财务摘要\n\n- **收入**：84.3亿美元，同比增长12%\n- 净亏损 <b>收窄</b>\n\n| 指标 | 2024 |\n|---|---|\n| 收入 | 843.1 |\n";
    let (s, e) = span(markdown, "84.3亿美元");
    ExportContent::Summary {
        title: "Summary".into(),
        markdown: markdown.into(),
        marks: vec![Mark {
            start: s,
            end: e,
            kind: MarkKind::Mismatch,
            note: Some("source: US$843.1 million".into()),
        }],
        key_figures: Vec::new(),
    }
}

/// A financial summary of a real 10-Q with the key figures read from its statements:
/// Markdown and DOCX carry the table, CSV and XLSX export it alone; a result without
/// key figures says why it has none to export.
#[test]
fn financial_summary_exports_carry_the_key_figures() {
    let pdf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/filings/NETFLIX_2023Q2_10Q.pdf");
    if !pdf.exists() {
        eprintln!("skipping: {} not found", pdf.display());
        return;
    }
    let doc = reportlens::extract(&pdf).unwrap();
    let key_figures = reportlens::check::key_figures::key_figures(&doc);
    assert!(key_figures.len() >= 5, "{key_figures:?}");
    let content = ExportContent::Summary {
        title: "Netflix Q2 2023".into(),
        markdown: "Revenue was $8.19 billion.\n".into(),
        marks: Vec::new(),
        key_figures,
    };
    let render = reportlens::export::render;
    let md = String::from_utf8(render(&content, ExportFormat::Markdown).unwrap()).unwrap();
    assert!(md.contains("## Key figures"), "{md}");
    assert!(
        md.contains("| Revenue | Revenues | Three Months Ended June 30, 2023 | $ 8,187,301 |"),
        "{md}"
    );
    let docx = render(&content, ExportFormat::Docx).unwrap();
    let xml = document_xml(&docx);
    assert!(
        xml.contains("Key figures") && xml.contains("8,187,301"),
        "docx has the table"
    );
    let csv = String::from_utf8(render(&content, ExportFormat::KeyFiguresCsv).unwrap()).unwrap();
    assert!(
        csv.starts_with("metric,label,period,value,prior_period,prior_value,change,unit,page\r\n")
    );
    assert!(
        csv.contains("revenue,Revenues,\"Three Months Ended June 30, 2023\",\"$ 8,187,301\""),
        "{csv}"
    );
    let xlsx = render(&content, ExportFormat::KeyFiguresXlsx).unwrap();
    assert_eq!(&xlsx[..2], b"PK");
    assert_eq!(
        ExportFormat::from_path(Path::new("k.xlsx"), false),
        Some(ExportFormat::KeyFiguresXlsx)
    );
    let err = render(&summary(), ExportFormat::KeyFiguresCsv).unwrap_err();
    assert!(err.to_string().contains("no key-figures table"), "{err}");
}

#[test]
fn summary_markdown_is_kept_with_marks_and_html_neutralised() {
    let md =
        String::from_utf8(export::render(&summary(), ExportFormat::Markdown).unwrap()).unwrap();
    assert!(
        md.starts_with("# Summary\n\n# 财务摘要\n\n- **收入**：<mark>84.3亿美元</mark>[^fig1]，"),
        "{md}"
    );
    assert!(md.contains("净亏损 &lt;b>收窄&lt;/b>"), "{md}");
    assert!(md.contains("| 收入 | 843.1 |"));
    assert!(md.contains("[^fig1]: ⚠ figure does not match the source: source: US$843.1 million"));
}

#[test]
fn summary_docx_has_headings_bullets_tables_and_highlight() {
    let bytes = export::render(&summary(), ExportFormat::Docx).unwrap();
    let docx = docx_rs::read_docx(&bytes).unwrap();
    let mut styles = Vec::new();
    let mut bullets = Vec::new();
    let mut highlighted = Vec::new();
    let mut table = None;
    for c in &docx.document.children {
        match c {
            DocumentChild::Paragraph(p) => {
                styles.push((
                    p.property.style.as_ref().map(|s| s.val.clone()),
                    para_text(p),
                ));
                if p.property.numbering_property.is_some() {
                    bullets.push(para_text(p));
                }
                let mut runs = Vec::new();
                runs_of(p, &mut runs);
                highlighted.extend(runs.into_iter().filter(|(_, h)| h.is_some()));
            }
            DocumentChild::Table(t) => table = Some(table_text(t)),
            _ => {}
        }
    }
    assert!(styles.contains(&(Some("Title".into()), "Summary".into())));
    assert!(styles.contains(&(Some("Heading1".into()), "财务摘要".into())));
    assert_eq!(
        bullets,
        vec!["收入：84.3亿美元，同比增长12%", "净亏损 <b>收窄</b>"]
    );
    assert_eq!(table.as_deref(), Some("指标\t2024\n收入\t843.1"));
    assert_eq!(
        highlighted,
        vec![("84.3亿美元".to_string(), Some(Highlight::new("yellow")))]
    );
}

#[test]
fn a_summary_has_no_bilingual_export() {
    for f in [ExportFormat::BilingualMarkdown, ExportFormat::BilingualDocx] {
        let err = export::render(&summary(), f).unwrap_err();
        assert!(matches!(err, ExportError::NotBilingual(_)), "{err}");
    }
}

#[test]
fn writes_replace_atomically_and_failures_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.md");
    std::fs::write(&path, "old").unwrap();
    export::write(&translation(), ExportFormat::Markdown, &path).unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains("年度业绩"));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("t.md")],
        "no temp files left"
    );

    let missing = dir.path().join("no-such-dir").join("t.docx");
    let err = export::write(&translation(), ExportFormat::Docx, &missing).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    assert!(!missing.exists());
}

#[test]
fn content_and_format_come_from_json_and_paths() {
    let json = serde_json::json!({
        "kind": "translation",
        "title": "t",
        "pairs": [{"kind": "paragraph", "source": "a", "target": "甲"}],
        "marks": [{"pair": 0, "start": 0, "end": 1, "kind": "mismatch", "note": "n"}]
    });
    let content: ExportContent = serde_json::from_value(json.clone()).unwrap();
    let ExportContent::Translation { marks, .. } = &content else {
        panic!("translation expected")
    };
    assert_eq!(marks[0].mark.note.as_deref(), Some("n"));
    assert_eq!(serde_json::to_value(&content).unwrap(), json);
    assert_eq!(
        ExportFormat::from_path(Path::new("x/out.DOCX"), true),
        Some(ExportFormat::BilingualDocx)
    );
    assert_eq!(ExportFormat::from_path(Path::new("out.pdf"), false), None);
    assert_eq!(
        "bilingual-markdown".parse::<ExportFormat>(),
        Ok(ExportFormat::BilingualMarkdown)
    );
}
