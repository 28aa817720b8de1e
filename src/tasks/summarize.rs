//! The summary passes: what each pass of a whole, head-tail or map-reduce plan
//! reads, the key figures carried from part to part, and a clean ending for an
//! answer that ran out of tokens.
use crate::check::find_figures;
use crate::plan::{main_prompt, Chunk, Pass};
use crate::prompt::{self, Lang, PromptFamily, TaskSpec};

/// A chat turn to send: the system prompt and the user message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassInput {
    pub system: String,
    pub user: String,
}

/// Whole or head-tail: the task's prompt around the chunk's text.
pub fn whole_input(family: PromptFamily, task: TaskSpec, chunk: &Chunk) -> PassInput {
    let p = main_prompt(family, task);
    PassInput {
        user: p.user_with(&chunk.text),
        system: p.system,
    }
}

/// Map pass `part` (1-based) of `parts`: this part's text, after the key
/// figures carried from the parts before it.
pub fn map_input(
    family: PromptFamily,
    lang: Lang,
    part: usize,
    parts: usize,
    carried: &str,
    chunk: &Chunk,
) -> PassInput {
    let p = prompt::map_part(family, lang, part, parts);
    let body = if carried.trim().is_empty() {
        chunk.text.clone()
    } else {
        let head = match lang {
            Lang::Zh => "（前文的关键数据，仅供参考：）",
            Lang::En => "(Key figures from earlier parts, for reference:)",
        };
        format!("{head}\n{}\n\n{}", carried.trim_end(), chunk.text)
    };
    PassInput {
        user: p.user_with(&body),
        system: p.system,
    }
}

/// Label of one partial summary inside a reduce pass.
pub fn part_label(lang: Lang, part: usize, parts: usize, pages: Option<(u32, u32)>) -> String {
    let pages = match (lang, pages) {
        (_, None) => String::new(),
        (Lang::En, Some((a, b))) if a == b => format!(" (page {a})"),
        (Lang::En, Some((a, b))) => format!(" (pages {a}–{b})"),
        (Lang::Zh, Some((a, b))) if a == b => format!("（第{a}页）"),
        (Lang::Zh, Some((a, b))) => format!("（第{a}–{b}页）"),
    };
    match lang {
        Lang::En => format!("Part {part} of {parts}{pages}:"),
        Lang::Zh => format!("第{part}部分（共{parts}部分）{pages}："),
    }
}

/// Reduce: the task's prompt around the labelled partial summaries.
pub fn reduce_input(
    family: PromptFamily,
    task: TaskSpec,
    partials: &[(String, String)],
) -> PassInput {
    let p = main_prompt(family, task);
    let body = partials
        .iter()
        .map(|(label, text)| format!("{label}\n{}", text.trim()))
        .collect::<Vec<_>>()
        .join("\n\n");
    PassInput {
        user: p.user_with(&body),
        system: p.system,
    }
}

/// The key figures to carry into the next part: lines of earlier partial
/// summaries that state a figure, newest part first, without repeats, within
/// `budget` tokens as counted by `count`.
pub fn carry_figures(outputs: &[&str], budget: usize, count: &dyn Fn(&str) -> usize) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut used = 0;
    for out in outputs.iter().rev() {
        for line in out.lines() {
            let line = line.trim().trim_start_matches(['-', '*', '•']).trim();
            if line.is_empty() || find_figures(line).is_empty() || kept.iter().any(|k| k == line) {
                continue;
            }
            let t = count(line) + 2;
            if used + t > budget {
                return join_bullets(&kept);
            }
            used += t;
            kept.push(line.to_string());
        }
    }
    join_bullets(&kept)
}

fn join_bullets(lines: &[String]) -> String {
    lines.iter().map(|l| format!("- {l}\n")).collect()
}

/// An answer that stopped at the token limit mid-sentence ends at its last
/// complete sentence or line instead; one with no complete sentence at all
/// is ended with an ellipsis so it does not read as finished.
pub fn clean_end(text: &str) -> String {
    let t = text.trim_end();
    if t.is_empty() {
        return String::new();
    }
    let ends_cleanly = |s: &str| {
        s.ends_with([
            '.', '!', '?', '。', '！', '？', ')', '）', '"', '”', ':', '：', '|',
        ])
    };
    if ends_cleanly(t) {
        return t.to_string();
    }
    // The last sentence end, or the last line break (a Markdown bullet list
    // ends an item at each line).
    let cut = t
        .char_indices()
        .filter(|(i, c)| {
            matches!(c, '。' | '！' | '？' | '\n')
                || (matches!(c, '.' | '!' | '?')
                    && t[i + c.len_utf8()..].starts_with(char::is_whitespace))
        })
        .map(|(i, c)| i + c.len_utf8())
        .next_back();
    match cut {
        Some(end) if end > t.len() / 3 => t[..end].trim_end().to_string(),
        _ => format!("{t}…"),
    }
}

/// Passes a reduce pass reads, with their labels.
pub fn reduce_labels(lang: Lang, pass: &Pass, passes: &[Pass], chunks: &[Chunk]) -> Vec<String> {
    let n = pass.inputs.len();
    pass.inputs
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let pages = pages_of(i, passes, chunks);
            part_label(lang, k + 1, n, pages)
        })
        .collect()
}

/// The pages a pass covers: its chunk's, or for a reduce pass the span of its inputs.
fn pages_of(i: usize, passes: &[Pass], chunks: &[Chunk]) -> Option<(u32, u32)> {
    let p = passes.get(i)?;
    if let Some(c) = p.chunk {
        return chunks.get(c)?.pages;
    }
    let spans: Vec<(u32, u32)> = p
        .inputs
        .iter()
        .filter_map(|&j| pages_of(j, passes, chunks))
        .collect();
    Some((
        spans.iter().map(|s| s.0).min()?,
        spans.iter().map(|s| s.1).max()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_end_trims_to_the_last_sentence() {
        assert_eq!(clean_end("Revenue rose. Profit fell by"), "Revenue rose.");
        assert_eq!(
            clean_end("- Revenue: RMB6.13 billion\n- Net loss of"),
            "- Revenue: RMB6.13 billion"
        );
        assert_eq!(clean_end("营收增长。利润下"), "营收增长。");
        assert_eq!(clean_end("Done."), "Done.");
        assert_eq!(
            clean_end("No sentence end at all here"),
            "No sentence end at all here…"
        );
        // A decimal point is not a sentence end.
        assert_eq!(
            clean_end("Margin was 29.9% and cost 1.5"),
            "Margin was 29.9% and cost 1.5…"
        );
    }

    #[test]
    fn carried_figures_are_the_lines_with_figures_within_budget() {
        let words = |s: &str| s.split_whitespace().count();
        let a = "Intro words only.\n- Revenue was RMB6.13 billion, up 12%.";
        let b = "- Net loss of RMB608.1 million.\n- Nothing here.";
        let c = carry_figures(&[a, b], 100, &words);
        assert_eq!(
            c,
            "- Net loss of RMB608.1 million.\n- Revenue was RMB6.13 billion, up 12%.\n"
        );
        let c = carry_figures(&[a, b], 7, &words);
        assert_eq!(
            c, "- Net loss of RMB608.1 million.\n",
            "newest first, within budget"
        );
    }

    #[test]
    fn labels_name_parts_and_pages() {
        assert_eq!(
            part_label(Lang::En, 2, 3, Some((4, 6))),
            "Part 2 of 3 (pages 4–6):"
        );
        assert_eq!(
            part_label(Lang::Zh, 1, 2, Some((3, 3))),
            "第1部分（共2部分）（第3页）："
        );
    }
}
