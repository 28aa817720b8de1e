//! The words around a figure: which metric it is about (revenue, net loss,
//! gross margin, users ...) and whether it is a loss or a decrease.
//!
//! Metric words are bilingual so an English source figure and a Chinese output
//! figure about the same metric land in the same family.

use std::cmp::Reverse;

use super::extract::Located;
use super::figure::{FigureKind, Metric};

struct Concept {
    name: &'static str,
    family: &'static str,
    /// A figure about this metric is a loss: "net loss of RMB608.1 million" is -608.1m.
    negative: bool,
    words: &'static [&'static str],
}

const fn c(
    name: &'static str,
    family: &'static str,
    negative: bool,
    words: &'static [&'static str],
) -> Concept {
    Concept {
        name,
        family,
        negative,
        words,
    }
}

/// Longer words win over the shorter words they contain ("net loss" over "loss",
/// 毛利率 over 毛利), so order here does not matter.
static CONCEPTS: &[Concept] = &[
    c(
        "revenue",
        "revenue",
        false,
        &[
            "total net revenues",
            "total net revenue",
            "net revenues",
            "net revenue",
            "total revenues",
            "total revenue",
            "revenues",
            "revenue",
            "net sales",
            "sales",
            "turnover",
            "营业收入",
            "营业总收入",
            "总收入",
            "净收入",
            "营收",
            "收入",
            "营业额",
            "销售额",
        ],
    ),
    c(
        "net_loss",
        "net_result",
        true,
        &[
            "net loss",
            "net losses",
            "loss for the year",
            "loss for the period",
            "净亏损",
            "亏损净额",
            "年内亏损",
            "期内亏损",
            "亏损",
        ],
    ),
    c(
        "net_profit",
        "net_result",
        false,
        &[
            "net income",
            "net earnings",
            "net profit",
            "net profits",
            "profit for the year",
            "profit for the period",
            "净利润",
            "纯利",
            "净利",
            "盈利",
        ],
    ),
    c(
        "adjusted_net_loss",
        "adjusted_net_result",
        true,
        &[
            "adjusted net loss",
            "non-gaap net loss",
            "经调整净亏损",
            "经调整后净亏损",
            "调整后净亏损",
            "non-gaap net losses",
        ],
    ),
    c(
        "adjusted_net_profit",
        "adjusted_net_result",
        false,
        &[
            "adjusted net income",
            "adjusted net profit",
            "non-gaap net income",
            "经调整净利润",
            "经调整后净利润",
            "调整后净利润",
        ],
    ),
    c(
        "operating_loss",
        "operating_result",
        true,
        &[
            "operating loss",
            "loss from operations",
            "经营亏损",
            "营业亏损",
            "运营亏损",
        ],
    ),
    c(
        "operating_profit",
        "operating_result",
        false,
        &[
            "operating income",
            "operating profit",
            "income from operations",
            "经营利润",
            "营业利润",
            "运营利润",
        ],
    ),
    c(
        "gross_profit",
        "gross_profit",
        false,
        &["gross profit", "毛利润", "毛利"],
    ),
    c(
        "gross_margin",
        "gross_margin",
        false,
        &["gross margin", "gross profit margin", "毛利率"],
    ),
    c(
        "operating_margin",
        "operating_margin",
        false,
        &["operating margin", "经营利润率", "营业利润率", "经营利润率"],
    ),
    c(
        "net_margin",
        "net_margin",
        false,
        &["net margin", "net profit margin", "净利率", "净利润率"],
    ),
    c("ebitda", "ebitda", false, &["adjusted ebitda", "ebitda"]),
    c(
        "cash",
        "cash",
        false,
        &[
            "cash and cash equivalents",
            "cash, cash equivalents",
            "现金及现金等价物",
            "现金",
        ],
    ),
    c(
        "operating_cash_flow",
        "operating_cash_flow",
        false,
        &[
            "operating cash flow",
            "cash flow from operating activities",
            "net cash provided by operating activities",
            "经营活动现金流",
            "经营活动产生的现金流",
            "经营现金流",
        ],
    ),
    c(
        "operating_expenses",
        "operating_expenses",
        false,
        &[
            "total operating expenses",
            "operating expenses",
            "经营开支",
            "经营费用",
            "营业费用",
        ],
    ),
    c(
        "rnd_expenses",
        "rnd_expenses",
        false,
        &[
            "research and development",
            "r&d",
            "研发费用",
            "研发开支",
            "研发",
        ],
    ),
    c(
        "sales_marketing",
        "sales_marketing",
        false,
        &[
            "sales and marketing",
            "selling and marketing",
            "销售及营销",
            "销售费用",
            "营销费用",
        ],
    ),
    c(
        "general_admin",
        "general_admin",
        false,
        &["general and administrative", "一般及行政", "管理费用"],
    ),
    c(
        "cost_of_revenue",
        "cost_of_revenue",
        false,
        &[
            "cost of revenues",
            "cost of revenue",
            "cost of sales",
            "营业成本",
            "销售成本",
        ],
    ),
    c(
        "users",
        "users",
        false,
        &[
            "monthly active users",
            "maus",
            "mau",
            "users",
            "月活跃用户",
            "月均活跃用户",
            "月活",
            "用户",
        ],
    ),
    c(
        "daily_users",
        "daily_users",
        false,
        &["daily active users", "daus", "dau", "日活跃用户", "日活"],
    ),
    c(
        "paying_users",
        "paying_users",
        false,
        &["paying users", "付费用户"],
    ),
    c(
        "time_spent",
        "time_spent",
        false,
        &["time spent", "使用时长", "时长"],
    ),
    c(
        "eps",
        "eps",
        false,
        &[
            "earnings per share",
            "eps",
            "每股收益",
            "每股盈利",
            "每股基本",
            "每股摊薄",
        ],
    ),
    c(
        "loss_per_share",
        "eps",
        true,
        &["loss per share", "每股亏损"],
    ),
    c(
        "dividend",
        "dividend",
        false,
        &["dividends", "dividend", "股息", "分红", "派息", "红利"],
    ),
    c(
        "total_assets",
        "total_assets",
        false,
        &["total assets", "总资产", "资产总额"],
    ),
    c(
        "total_liabilities",
        "total_liabilities",
        false,
        &["total liabilities", "总负债", "负债总额"],
    ),
    c(
        "employees",
        "employees",
        false,
        &["employees", "staff", "员工", "雇员"],
    ),
    c(
        "capex",
        "capex",
        false,
        &[
            "capital expenditures",
            "capital expenditure",
            "capex",
            "purchases of property and equipment",
            "purchases of property, plant and equipment",
            "payments for acquisition of property, plant and equipment",
            "资本开支",
            "资本支出",
            "购建固定资产",
        ],
    ),
    c(
        "free_cash_flow",
        "free_cash_flow",
        false,
        &["free cash flow", "自由现金流"],
    ),
    c(
        "depreciation",
        "depreciation",
        false,
        &["depreciation", "折旧"],
    ),
    c(
        "stock_compensation",
        "stock_compensation",
        false,
        &[
            "stock-based compensation",
            "share-based compensation",
            "股权激励",
            "股份支付",
        ],
    ),
];

const UP: &[&str] = &[
    "increase",
    "increased",
    "increases",
    "increasing",
    "up",
    "grew",
    "grow",
    "growth",
    "rose",
    "rise",
    "rising",
    "higher",
    "improved",
    "improvement",
    "expanded",
    "widened",
    "widening",
    "扩大",
    "增长",
    "增加",
    "上升",
    "提高",
    "提升",
    "上涨",
    "增幅",
];
const DOWN: &[&str] = &[
    "decrease",
    "decreased",
    "decreases",
    "decreasing",
    "down",
    "declined",
    "decline",
    "declines",
    "fell",
    "fall",
    "drop",
    "dropped",
    "lower",
    "reduction",
    "reduced",
    "narrowed",
    "narrowing",
    "narrows",
    "narrow",
    "shrank",
    "contracted",
    "contraction",
    "下降",
    "减少",
    "下滑",
    "降低",
    "下跌",
    "收窄",
    "缩小",
    "减亏",
    "回落",
    "降幅",
    "减幅",
];
/// "fell to 23.1%" states a level, not a change.
const LEVEL: &[&str] = &["to", "from", "至", "到"];

#[derive(Clone, Copy)]
struct Hit {
    start: usize,
    end: usize,
    id: usize,
}

/// Fill in each figure's metric and contextual sign. `found` is sorted by start.
pub(crate) fn annotate(t: &str, found: &mut [Located]) {
    let lower = t.to_ascii_lowercase();
    let concept_words: Vec<(&str, usize)> = CONCEPTS
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.words.iter().map(move |w| (*w, i)))
        .collect();
    let metrics = hits(&lower, &concept_words);
    let dir_words: Vec<(&str, usize)> = UP
        .iter()
        .map(|w| (*w, 0))
        .chain(DOWN.iter().map(|w| (*w, 1)))
        .chain(LEVEL.iter().map(|w| (*w, 2)))
        .collect();
    let dirs = hits(&lower, &dir_words);
    let sentence_ends = boundaries(t, is_sentence_end);
    let clause_ends = boundaries(t, |t, i, ch| {
        ch == ','
            || ch == '，'
            || ch == '、'
            || ch == '('
            || ch == ')'
            || ch == ':'
            || is_sentence_end(t, i, ch)
    });

    let mut prev_end = 0;
    for l in found.iter_mut() {
        let sent_start = sentence_ends
            .iter()
            .rev()
            .find(|&&b| b < l.start)
            .map_or(0, |b| b + 1);
        let clause_end = clause_ends
            .iter()
            .find(|&&b| b >= l.end)
            .copied()
            .unwrap_or(t.len());

        let inside = metrics.iter().find(|h| h.start < l.end && l.start < h.end);
        let before = metrics
            .iter()
            .rev()
            .find(|h| h.end <= l.start && h.start >= sent_start);
        let after = metrics
            .iter()
            .find(|h| h.start >= l.end && h.end <= clause_end);
        // A date says when, not what; its sentence's metric would only be noise.
        let about = if l.figure.kind == FigureKind::Date {
            None
        } else {
            inside.or(before).or(after)
        };
        if let Some(h) = about {
            let concept = &CONCEPTS[h.id];
            l.figure.metric = Some(Metric {
                name: concept.name.to_string(),
                family: concept.family.to_string(),
            });
            if l.figure.kind.is_magnitude() {
                l.figure.context_negative = concept.negative;
            }
        }

        if matches!(l.figure.kind, FigureKind::Percent | FigureKind::Points) {
            let window_start = sent_start.max(prev_end);
            let last_dir = dirs
                .iter()
                .rev()
                .find(|h| h.end <= l.start && h.start >= window_start);
            let sign = match last_dir {
                Some(h) if h.id < 2 => Some(h.id == 1),
                Some(_) => None, // a level word came last: "fell to 23.1%"
                None => {
                    // "a 5% decline": an English direction word right after.
                    let p = l.end + usize::from(t[l.end..].starts_with(' '));
                    dirs.iter()
                        .find(|h| h.start == p && h.id < 2 && t[h.start..h.end].is_ascii())
                        .map(|h| h.id == 1)
                }
            };
            if l.figure.value < 0.0 {
                // Written negative: the sign is the statement, whatever words follow.
                l.figure.stated_direction = true;
            } else {
                l.figure.context_negative = sign.unwrap_or(false);
                l.figure.stated_direction = sign.is_some();
            }
        }
        prev_end = l.end;
    }
}

/// The metric families a text names (a sentence of an output: what a computed figure
/// may be computed from).
pub(crate) fn families_in(text: &str) -> Vec<&'static str> {
    let lower = text.to_ascii_lowercase();
    let words: Vec<(&str, usize)> = CONCEPTS
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.words.iter().map(move |w| (*w, i)))
        .collect();
    let mut out: Vec<&'static str> = hits(&lower, &words)
        .into_iter()
        .map(|h| CONCEPTS[h.id].family)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Non-overlapping occurrences of the words, longest first; ASCII words must
/// stand alone (not inside another word).
fn hits(lower: &str, words: &[(&str, usize)]) -> Vec<Hit> {
    let mut all = Vec::new();
    for (w, id) in words {
        for (i, _) in lower.match_indices(w) {
            let end = i + w.len();
            if w.is_ascii() {
                let before = lower[..i].chars().next_back();
                let after = lower[end..].chars().next();
                if before.is_some_and(|c| c.is_ascii_alphanumeric())
                    || after.is_some_and(|c| c.is_ascii_alphabetic())
                {
                    continue;
                }
            }
            all.push(Hit {
                start: i,
                end,
                id: *id,
            });
        }
    }
    all.sort_by_key(|h| (Reverse(h.end - h.start), h.start));
    let mut taken = vec![false; lower.len()];
    let mut kept = Vec::new();
    for h in all {
        if taken[h.start..h.end].iter().any(|x| *x) {
            continue;
        }
        taken[h.start..h.end].iter_mut().for_each(|x| *x = true);
        kept.push(h);
    }
    kept.sort_by_key(|h| h.start);
    kept
}

fn boundaries(t: &str, is_end: impl Fn(&str, usize, char) -> bool) -> Vec<usize> {
    t.char_indices()
        .filter(|(i, ch)| is_end(t, *i, *ch))
        .map(|(i, _)| i)
        .collect()
}

/// 。；;!?! and newlines end a sentence; so does a full stop before a space.
fn is_sentence_end(t: &str, i: usize, ch: char) -> bool {
    match ch {
        '。' | ';' | '\n' | '!' | '?' => true,
        '.' => t[i + 1..].chars().next().is_none_or(char::is_whitespace),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::check::extract::find_figures;

    fn metrics(text: &str) -> Vec<(String, Option<String>, bool)> {
        find_figures(text)
            .into_iter()
            .map(|f| (f.text, f.metric.map(|m| m.name), f.context_negative))
            .collect()
    }

    fn m(text: &str, metric: Option<&str>, neg: bool) -> (String, Option<String>, bool) {
        (text.to_string(), metric.map(str::to_string), neg)
    }

    #[test]
    fn english_metrics_and_signs() {
        let got = metrics(
            "Total net revenues were RMB6.13 billion (US$843.1 million), an increase of 16% year \
             over year. Net loss was RMB608.1 million. Gross margin fell to 23.1%, a 2.1 \
             percentage point decline.",
        );
        assert_eq!(
            got,
            vec![
                m("RMB6.13 billion", Some("revenue"), false),
                m("US$843.1 million", Some("revenue"), false),
                m("16%", Some("revenue"), false),
                m("RMB608.1 million", Some("net_loss"), true),
                m("23.1%", Some("gross_margin"), false),
                m("2.1 percentage point", Some("gross_margin"), true),
            ]
        );
    }

    #[test]
    fn chinese_metrics_and_signs() {
        let got = metrics(
            "营收61.3亿元，同比增长16%；净亏损6.08亿元；毛利率下降至23.1%，同比下降2.1个百分点。",
        );
        assert_eq!(
            got,
            vec![
                m("61.3亿元", Some("revenue"), false),
                m("16%", Some("revenue"), false),
                m("6.08亿元", Some("net_loss"), true),
                m("23.1%", Some("gross_margin"), false),
                m("2.1个百分点", Some("gross_margin"), true),
            ]
        );
    }
}
