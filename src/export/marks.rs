//! Char spans flagged by the figure checker, resolved against one text.
use super::{Mark, MarkKind};

/// A text with its marks laid out per char, so any char range can be cut into
/// marked and unmarked pieces. Offsets are in chars (Unicode scalar values), the unit
/// the checker reports and JavaScript's UI can convert.
pub(crate) struct MarkedText<'a> {
    pub chars: Vec<char>,
    /// For each char, the index in `marks` of the mark covering it.
    map: Vec<Option<usize>>,
    pub marks: Vec<&'a Mark>,
}

/// A run of chars that share one mark (or none).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    pub text: String,
    pub mark: Option<usize>,
}

impl<'a> MarkedText<'a> {
    /// Marks out of range are clipped to the text; empty ones are ignored. Where marks
    /// overlap, a mismatch wins over a weaker flag, then the earlier mark.
    pub fn new(text: &str, marks: impl IntoIterator<Item = &'a Mark>) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let marks: Vec<&'a Mark> = marks.into_iter().collect();
        let mut map: Vec<Option<usize>> = vec![None; chars.len()];
        for (i, m) in marks.iter().enumerate() {
            let end = m.end.min(chars.len());
            for slot in map.iter_mut().take(end).skip(m.start) {
                let stronger = match *slot {
                    None => true,
                    Some(j) => rank(m.kind) > rank(marks[j].kind),
                };
                if stronger {
                    *slot = Some(i);
                }
            }
        }
        MarkedText { chars, map, marks }
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// The chars `start..end` cut where the covering mark changes.
    pub fn pieces(&self, start: usize, end: usize) -> Vec<Piece> {
        let end = end.min(self.len());
        let mut out: Vec<Piece> = Vec::new();
        for i in start.min(end)..end {
            let mark = self.map[i];
            match out.last_mut() {
                Some(p) if p.mark == mark => p.text.push(self.chars[i]),
                _ => out.push(Piece {
                    text: self.chars[i].to_string(),
                    mark,
                }),
            }
        }
        out
    }

    pub fn mark(&self, i: usize) -> &Mark {
        self.marks[i]
    }
}

fn rank(kind: MarkKind) -> u8 {
    match kind {
        MarkKind::Mismatch => 2,
        MarkKind::Unsupported => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(start: usize, end: usize, kind: MarkKind) -> Mark {
        Mark {
            start,
            end,
            kind,
            note: None,
        }
    }

    #[test]
    fn pieces_split_at_mark_edges_in_chars_not_bytes() {
        let marks = [mark(2, 7, MarkKind::Mismatch)];
        let t = MarkedText::new("收入84.3亿美元增长", &marks);
        let p = t.pieces(0, t.len());
        assert_eq!(
            p.iter()
                .map(|p| (p.text.as_str(), p.mark))
                .collect::<Vec<_>>(),
            vec![("收入", None), ("84.3亿", Some(0)), ("美元增长", None)]
        );
    }

    #[test]
    fn out_of_range_marks_are_clipped_and_mismatch_wins_overlaps() {
        let marks = [
            mark(0, 4, MarkKind::Unsupported),
            mark(2, 99, MarkKind::Mismatch),
            mark(50, 60, MarkKind::Mismatch),
        ];
        let t = MarkedText::new("abcdef", &marks);
        let p = t.pieces(0, 6);
        assert_eq!(
            p.iter()
                .map(|p| (p.text.as_str(), p.mark))
                .collect::<Vec<_>>(),
            vec![("ab", Some(0)), ("cdef", Some(1))]
        );
        assert_eq!(t.pieces(4, 100).len(), 1);
        assert!(t.pieces(9, 3).is_empty());
    }
}
