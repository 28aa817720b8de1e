//! Finance terms en<->zh: the shipped glossary plus the user's own, injected
//! into a translation prompt only for the terms that occur in the batch (a
//! whole glossary would crowd out the document).
use std::path::{Path, PathBuf};

use crate::prompt::Lang;

/// The glossary shipped in `assets/glossary/`.
const BUILTIN: &str = include_str!("../../assets/glossary/finance-en-zh.tsv");

#[derive(Debug, thiserror::Error)]
pub enum GlossaryError {
    #[error("cannot read the glossary file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}, line {line}: expected `English<TAB>Chinese` (or `English,Chinese`), found {text:?}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        text: String,
    },
}

/// One term pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub en: String,
    pub zh: String,
}

#[derive(Debug, Clone, Default)]
pub struct Glossary {
    terms: Vec<Term>,
}

impl Glossary {
    /// The shipped finance glossary.
    pub fn builtin() -> Self {
        let mut g = Glossary::default();
        g.add_text(BUILTIN, Path::new("assets/glossary/finance-en-zh.tsv"))
            .expect("the shipped glossary parses (tested)");
        g
    }

    /// The shipped glossary plus a user file; the user's entries win.
    pub fn with_user_file(path: Option<&Path>) -> Result<Self, GlossaryError> {
        let mut g = Self::builtin();
        if let Some(p) = path {
            let text = std::fs::read_to_string(p).map_err(|source| GlossaryError::Read {
                path: p.to_path_buf(),
                source,
            })?;
            let mut user = Glossary::default();
            user.add_text(&text, p)?;
            // User terms replace shipped ones with the same English or Chinese side.
            g.terms.retain(|t| {
                !user
                    .terms
                    .iter()
                    .any(|u| u.en.eq_ignore_ascii_case(&t.en) || u.zh == t.zh)
            });
            g.terms.extend(user.terms);
        }
        Ok(g)
    }

    fn add_text(&mut self, text: &str, path: &Path) -> Result<(), GlossaryError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start_matches('\u{feff}').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (en, zh) = line
                .split_once('\t')
                .or_else(|| line.split_once(','))
                .map(|(a, b)| (a.trim(), b.trim()))
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .ok_or_else(|| GlossaryError::Line {
                    path: path.to_path_buf(),
                    line: i + 1,
                    text: raw.to_string(),
                })?;
            self.terms.push(Term {
                en: en.to_string(),
                zh: zh.to_string(),
            });
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms whose source side occurs in `text` when translating into
    /// `to`, longest first; a term inside a longer matched term is left out.
    pub fn terms_in(&self, text: &str, to: Lang) -> Vec<&Term> {
        let lower = text.to_lowercase();
        let mut found: Vec<(&Term, usize, usize)> = Vec::new();
        let mut sorted: Vec<&Term> = self.terms.iter().collect();
        sorted.sort_by_key(|t| std::cmp::Reverse(source_side(t, to).chars().count()));
        for t in sorted {
            let needle = source_side(t, to);
            let hay: &str = if to == Lang::Zh { &lower } else { text };
            let needle_cmp = if to == Lang::Zh {
                needle.to_lowercase()
            } else {
                needle.to_string()
            };
            if let Some((s, e)) = find_term(hay, &needle_cmp, to == Lang::Zh) {
                let inside = found.iter().any(|(_, fs, fe)| s >= *fs && e <= *fe);
                let dup = found.iter().any(|(f, _, _)| source_side(f, to) == needle);
                if !inside && !dup {
                    found.push((t, s, e));
                }
            }
        }
        found.sort_by_key(|(_, s, _)| *s);
        found.into_iter().map(|(t, _, _)| t).collect()
    }

    /// The prompt lines for the terms of `text`, or `None` when none occur.
    pub fn prompt_for(&self, text: &str, to: Lang) -> Option<String> {
        let terms = self.terms_in(text, to);
        if terms.is_empty() {
            return None;
        }
        let mut out = match to {
            Lang::Zh => String::from("术语表（请使用这些译法）：\n"),
            Lang::En => String::from("Glossary (use these translations):\n"),
        };
        for t in terms {
            match to {
                Lang::Zh => out.push_str(&format!("{} = {}\n", t.en, t.zh)),
                Lang::En => out.push_str(&format!("{} = {}\n", t.zh, t.en)),
            }
        }
        Some(out)
    }
}

fn source_side(t: &Term, to: Lang) -> &str {
    match to {
        Lang::Zh => &t.en,
        Lang::En => &t.zh,
    }
}

/// First occurrence of `needle`; English terms must sit on word boundaries
/// ("ARPU" not inside "ARPUs" is fine either way, but "debt" not in "indebted").
fn find_term(hay: &str, needle: &str, word_bounded: bool) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(pos) = hay[from..].find(needle) {
        let s = from + pos;
        let e = s + needle.len();
        let ok = !word_bounded || {
            let before = hay[..s].chars().next_back();
            let after = hay[e..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric())
                && !after.is_some_and(|c| c.is_alphanumeric() && c != 's')
        };
        if ok {
            return Some((s, e));
        }
        from = s + needle.chars().next().map_or(1, char::len_utf8);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_glossary_parses_and_is_substantial() {
        let g = Glossary::builtin();
        assert!(g.len() > 100, "{} terms", g.len());
    }

    #[test]
    fn only_terms_in_the_batch_are_injected_longest_first() {
        let g = Glossary::builtin();
        let text =
            "Net profit margin rose; gross profit grew and the indebted firm paid dividends.";
        let terms: Vec<&str> = g
            .terms_in(text, Lang::Zh)
            .iter()
            .map(|t| t.en.as_str())
            .collect();
        assert!(terms.contains(&"net profit margin"), "{terms:?}");
        assert!(
            !terms.contains(&"net profit"),
            "inside a longer term: {terms:?}"
        );
        assert!(terms.contains(&"gross profit"));
        assert!(terms.contains(&"dividends"));
        assert!(!terms.contains(&"debt"), "not a word of its own here");
        assert!(!terms.contains(&"goodwill"));
        assert!(g.prompt_for("The weather was fine.", Lang::Zh).is_none());
    }

    #[test]
    fn chinese_source_finds_chinese_terms() {
        let g = Glossary::builtin();
        let p = g
            .prompt_for("本季度营业收入同比增长12%，毛利率为30%。", Lang::En)
            .unwrap();
        assert!(p.contains("营业收入 = "), "{p}");
        assert!(p.contains("毛利率 = gross margin"), "{p}");
    }

    #[test]
    fn user_file_overrides_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("mine.tsv");
        std::fs::write(&f, "# mine\nrevenue\t收入\nARPPU,每付费用户平均收入\n").unwrap();
        let g = Glossary::with_user_file(Some(&f)).unwrap();
        let p = g.prompt_for("Revenue and ARPPU", Lang::Zh).unwrap();
        assert!(p.contains("revenue = 收入"), "{p}");
        assert!(!p.contains("营业收入"), "{p}");
        assert!(p.contains("ARPPU = 每付费用户平均收入"));
        std::fs::write(&f, "revenue\n").unwrap();
        let e = Glossary::with_user_file(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("mine.tsv"), "{e}");
    }
}
