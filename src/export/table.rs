//! Table blocks as rows of cells, each cell knowing where it sits in the block's text so
//! marks (char spans of the text) land in the right cell.

/// One cell; `start` is its char offset in the block text, when the cells are that text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cell {
    pub text: String,
    pub start: Option<usize>,
}

/// The rows of a table block. Ingestion stores tables as text (rows by newline, cells
/// by tab) plus `cells`; when both agree, offsets are known. When only text exists it is
/// split; when they disagree the cells win and carry no offsets (no highlight there).
pub(crate) fn rows(text: &str, given: Option<&Vec<Vec<String>>>) -> Vec<Vec<Cell>> {
    if let Some(given) = given {
        let joined = given
            .iter()
            .map(|r| r.join("\t"))
            .collect::<Vec<_>>()
            .join("\n");
        if joined != text {
            return given
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|c| Cell {
                            text: c.clone(),
                            start: None,
                        })
                        .collect()
                })
                .collect();
        }
    }
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split('\n') {
        let mut row = Vec::new();
        for cell in line.split('\t') {
            row.push(Cell {
                text: cell.to_string(),
                start: Some(offset),
            });
            offset += cell.chars().count() + 1; // the tab or newline after it
        }
        out.push(row);
    }
    out
}

/// The widest row's cell count.
pub(crate) fn width(rows: &[Vec<Cell>]) -> usize {
    rows.iter().map(Vec::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_the_text() {
        let r = rows("收入\t6,130\n利润\t(120)", None);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1][1].text, "(120)");
        assert_eq!(r[1][1].start, Some(12));
        assert_eq!("收入\t6,130\n利润\t(120)".chars().nth(12), Some('('));
    }

    #[test]
    fn disagreeing_cells_win_without_offsets() {
        let given = vec![vec!["a".to_string(), "b".to_string()]];
        let r = rows("something else", Some(&given));
        assert_eq!(r[0][1].text, "b");
        assert_eq!(r[0][1].start, None);
        let agree = rows("a\tb", Some(&given));
        assert_eq!(agree[0][1].start, Some(2));
    }
}
