//! Key figures -> CSV, XLSX, Markdown: the table of headline figures
//! ([`crate::check::key_figures`]) for a spreadsheet or a note.
//!
//! Figures are written as printed ("$ 8,187,301", "(174,812)"), so each can be found on
//! its page; the workbook adds `value_number` and `prior_value_number` columns (parentheses
//! read as negatives, percentages as fractions) so a spreadsheet can compute with them.
//! Text from the document is only ever text: Markdown escapes it, the workbook stores it as
//! strings, and a CSV field a spreadsheet would run as a formula (`=...`, `@...`) gets a
//! leading apostrophe.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::markdown::{escape, Mode};
use crate::check::key_figures::{amount, Amount, KeyFigure};

/// The CSV header row.
pub const CSV_HEADER: [&str; 9] = [
    "metric",
    "label",
    "period",
    "value",
    "prior_period",
    "prior_value",
    "change",
    "unit",
    "page",
];

/// The workbook's columns: the CSV's, with the numbers beside the printed figures.
const XLSX_HEADER: [&str; 11] = [
    "metric",
    "label",
    "period",
    "value",
    "value_number",
    "prior_period",
    "prior_value",
    "prior_value_number",
    "change",
    "unit",
    "page",
];

#[derive(Debug, thiserror::Error)]
pub enum KeyFiguresError {
    #[error("cannot build the XLSX file: {0}")]
    Xlsx(#[from] XlsxError),
}

/// RFC 4180 CSV: a header row, one row per figure, CRLF line ends, fields with a comma,
/// quote or line break quoted (quotes doubled), absent values empty.
pub fn to_csv(rows: &[KeyFigure]) -> String {
    let mut out = String::new();
    let mut line = |fields: &[&str]| {
        let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&quoted.join(","));
        out.push_str("\r\n");
    };
    line(&CSV_HEADER);
    for r in rows {
        let page = r.page.map(|p| p.to_string()).unwrap_or_default();
        line(&[
            r.metric.as_str(),
            &r.label,
            &r.period,
            &r.value,
            r.prior_period.as_deref().unwrap_or(""),
            r.prior_value.as_deref().unwrap_or(""),
            r.change.as_deref().unwrap_or(""),
            r.unit.as_deref().unwrap_or(""),
            &page,
        ]);
    }
    out
}

fn csv_field(f: &str) -> String {
    let f = defuse(f);
    if f.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}

/// A field a spreadsheet would take for a formula gets a leading apostrophe; figures
/// ("-1,234", "+3.5%") are left as they are.
fn defuse(f: &str) -> String {
    let mut chars = f.chars();
    let risky = match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !chars
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.' || c == ' '),
        _ => false,
    };
    if risky {
        format!("'{f}")
    } else {
        f.to_string()
    }
}

/// An XLSX workbook with one sheet, "Key figures": a bold, frozen header row with a
/// filter, the figures as printed (text) and as numbers, widths fitted to the contents.
pub fn to_xlsx(rows: &[KeyFigure]) -> Result<Vec<u8>, KeyFiguresError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Key figures")?;
    let bold = Format::new().set_bold();
    let mut widths: Vec<usize> = XLSX_HEADER.iter().map(|h| h.len()).collect();
    for (c, h) in XLSX_HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        let texts: [(usize, Option<&str>); 8] = [
            (0, Some(r.metric.as_str())),
            (1, Some(r.label.as_str())),
            (2, Some(r.period.as_str())),
            (3, Some(r.value.as_str())),
            (5, r.prior_period.as_deref()),
            (6, r.prior_value.as_deref()),
            (8, r.change.as_deref()),
            (9, r.unit.as_deref()),
        ];
        for (c, text) in texts {
            if let Some(t) = text {
                sheet.write_string(row, c as u16, t)?;
                widths[c] = widths[c].max(t.chars().count());
            }
        }
        for (c, cell) in [(4, Some(&r.value)), (7, r.prior_value.as_ref())] {
            if let Some(a) = cell.and_then(|v| amount(v)) {
                let (number, format) = number_cell(a);
                sheet.write_number_with_format(
                    row,
                    c,
                    number,
                    &Format::new().set_num_format(format),
                )?;
            }
        }
        if let Some(p) = r.page {
            sheet.write_number(row, 10, p)?;
        }
    }
    for (c, w) in widths.iter().enumerate() {
        sheet.set_column_width(c as u16, (*w).clamp(8, 60) as f64 + 2.0)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, rows.len() as u32, XLSX_HEADER.len() as u16 - 1)?;
    Ok(workbook.save_to_buffer()?)
}

/// A figure as a number and the number format that shows it as printed: its decimals,
/// thousands separators, negatives in parentheses, percentages as percentages.
fn number_cell(a: Amount) -> (f64, String) {
    let decimals = if a.decimals > 0 {
        format!(".{}", "0".repeat(a.decimals))
    } else {
        String::new()
    };
    if a.percent {
        // 39.3% is 393 / 1000 exactly as a double can hold it, not 39.3 / 100.
        let scale = 10f64.powi(a.decimals as i32 + 2);
        (
            (a.value / 100.0 * scale).round() / scale,
            format!("0{decimals}%"),
        )
    } else {
        (a.value, format!("#,##0{decimals};(#,##0{decimals})"))
    }
}

/// A pipe table: metric, line, period, value, prior period, prior value, change, unit,
/// page ("p. 64"); the document's text escaped so it renders as the characters printed.
pub fn to_markdown(rows: &[KeyFigure]) -> String {
    let mut out = String::from(
        "| Metric | Line | Period | Value | Prior period | Prior value | Change | Unit | Page |\n\
         |---|---|---|---:|---|---:|---:|---|---|\n",
    );
    let cell = |s: &str| escape(s, Mode::Cell);
    for r in rows {
        let fields = [
            cell(r.metric.name()),
            cell(&r.label),
            cell(&r.period),
            cell(&r.value),
            cell(r.prior_period.as_deref().unwrap_or("")),
            cell(r.prior_value.as_deref().unwrap_or("")),
            cell(r.change.as_deref().unwrap_or("")),
            cell(r.unit.as_deref().unwrap_or("")),
            r.page.map(|p| format!("p. {p}")).unwrap_or_default(),
        ];
        out.push_str("| ");
        out.push_str(&fields.join(" | "));
        out.push_str(" |\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::check::key_figures::KeyMetric;

    fn rows() -> Vec<KeyFigure> {
        vec![
            KeyFigure {
                metric: KeyMetric::Revenue,
                label: "Revenues".into(),
                period: "Three Months Ended June 30, 2023".into(),
                value: "$ 8,187,301".into(),
                prior_period: Some("Three Months Ended June 30, 2022".into()),
                prior_value: Some("$ 7,970,141".into()),
                change: Some("+2.7%".into()),
                unit: Some("(in thousands, except per share data)".into()),
                page: Some(3),
                block: 25,
            },
            KeyFigure {
                metric: KeyMetric::NetIncome,
                label: "Net income (loss), \"as reported\"".into(),
                period: "Three Months Ended June 30, 2023".into(),
                value: "(174,812)".into(),
                prior_period: None,
                prior_value: None,
                change: None,
                unit: None,
                page: Some(64),
                block: 30,
            },
            KeyFigure {
                metric: KeyMetric::GrossMargin,
                label: "=HYPERLINK(\"http://x\")|gross".into(),
                period: "13 Weeks Ended\nJuly 29, 2023".into(),
                value: "39.3%".into(),
                prior_period: Some("13 Weeks Ended July 30, 2022".into()),
                prior_value: Some("40.4%".into()),
                change: Some("\u{2212}1.1 pp".into()),
                unit: None,
                page: None,
                block: 64,
            },
        ]
    }

    #[test]
    fn csv_quotes_as_rfc_4180_says() {
        let csv = to_csv(&rows());
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "metric,label,period,value,prior_period,prior_value,change,unit,page"
        );
        assert_eq!(
            lines[1],
            "revenue,Revenues,\"Three Months Ended June 30, 2023\",\"$ 8,187,301\",\
             \"Three Months Ended June 30, 2022\",\"$ 7,970,141\",+2.7%,\
             \"(in thousands, except per share data)\",3"
        );
        assert_eq!(
            lines[2],
            "net_income,\"Net income (loss), \"\"as reported\"\"\",\"Three Months Ended June 30, 2023\",\
             \"(174,812)\",,,,,64"
        );
        // A line break stays inside its quoted field; a formula is defused.
        assert!(csv.contains(
            "\"'=HYPERLINK(\"\"http://x\"\")|gross\",\"13 Weeks Ended\nJuly 29, 2023\",39.3%"
        ));
        assert!(csv.ends_with("\u{2212}1.1 pp,,\r\n"));
        assert_eq!(
            lines.len(),
            5,
            "header, three rows, the empty rest after the last CRLF"
        );
        assert_eq!(
            to_csv(&[]),
            "metric,label,period,value,prior_period,prior_value,change,unit,page\r\n"
        );
        assert_eq!(defuse("-1,234"), "-1,234");
        assert_eq!(defuse("+3.5%"), "+3.5%");
        assert_eq!(defuse("-cmd"), "'-cmd");
        assert_eq!(defuse("@SUM(A1)"), "'@SUM(A1)");
    }

    fn zip_entry(bytes: &[u8], name: &str) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("an XLSX is a zip");
        let mut entry = zip.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn xlsx_is_a_workbook_with_the_figures() {
        let bytes = to_xlsx(&rows()).unwrap();
        assert_eq!(&bytes[..2], b"PK");
        let sheet = zip_entry(&bytes, "xl/worksheets/sheet1.xml");
        // The numbers beside the printed figures; the page as a number.
        for v in [
            "<v>8187301</v>",
            "<v>7970141</v>",
            "<v>-174812</v>",
            "<v>0.393</v>",
            "<v>64</v>",
        ] {
            assert!(sheet.contains(v), "{v} not in {sheet}");
        }
        assert!(
            sheet.contains("<pane ") && sheet.contains("<autoFilter "),
            "frozen, filtered header"
        );
        assert!(sheet.contains("<cols>"), "column widths");
        // The figures as printed and the header are strings.
        let strings = zip_entry(&bytes, "xl/sharedStrings.xml");
        for s in [
            "$ 8,187,301",
            "(174,812)",
            "value_number",
            "prior_value_number",
            "Revenues",
            "revenue",
            "+2.7%",
        ] {
            assert!(strings.contains(s), "{s} not in {strings}");
        }
        // A document's formula is a string, never a formula.
        assert!(!sheet.contains("<f>"));
        let styles = zip_entry(&bytes, "xl/styles.xml");
        assert!(styles.contains("<b/>"), "a bold header");
        assert!(styles.contains("#,##0;(#,##0)") && styles.contains("0.0%"));
        let book = zip_entry(&bytes, "xl/workbook.xml");
        assert!(book.contains("name=\"Key figures\""));
        // No rows: still a workbook, the header alone.
        let empty = to_xlsx(&[]).unwrap();
        assert!(zip_entry(&empty, "xl/worksheets/sheet1.xml").contains("<sheetData>"));
    }

    #[test]
    fn markdown_is_a_pipe_table_with_pages() {
        let md = to_markdown(&rows());
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], "| Metric | Line | Period | Value | Prior period | Prior value | Change | Unit | Page |");
        assert_eq!(lines[1], "|---|---|---|---:|---|---:|---:|---|---|");
        assert_eq!(
            lines[2],
            "| Revenue | Revenues | Three Months Ended June 30, 2023 | $ 8,187,301 | \
             Three Months Ended June 30, 2022 | $ 7,970,141 | +2.7% | (in thousands, except per share data) | p. 3 |"
        );
        assert!(
            lines[3].ends_with("| (174,812) |  |  |  |  | p. 64 |"),
            "{}",
            lines[3]
        );
        // The document's pipes and line breaks cannot break the table.
        assert!(lines[4].starts_with("| Gross margin | =HYPERLINK(\"http://x\")\\|gross | 13 Weeks Ended<br>July 29, 2023 |"), "{}", lines[4]);
        assert!(
            lines[4].ends_with("|  |  |"),
            "no unit, no page: {}",
            lines[4]
        );
        for l in &lines {
            let unescaped = l.replace("\\|", "");
            assert_eq!(unescaped.matches('|').count(), 10, "{l}");
        }
    }
}
