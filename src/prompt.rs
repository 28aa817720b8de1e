//! The instructions ReportLens gives the model, per task and model family.
//!
//! A leaf module: the planner counts these prompts against the context and the
//! tasks send them, so both sides agree on the overhead.
use serde::{Deserialize, Serialize};

/// Output (or target) language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub fn name_en(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "Chinese (Simplified)",
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "en" | "english" => Ok(Lang::En),
            "zh" | "cn" | "chinese" => Ok(Lang::Zh),
            other => Err(format!("unknown language '{other}' (use en or zh)")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SummaryMode {
    #[default]
    General,
    /// Key figures, drivers, outlook, risks; one figure per bullet.
    Financial,
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "lowercase")]
pub enum TaskSpec {
    Summarize { lang: Lang, mode: SummaryMode },
    Translate { to: Lang },
}

impl Default for TaskSpec {
    fn default() -> Self {
        TaskSpec::Summarize {
            lang: Lang::En,
            mode: SummaryMode::General,
        }
    }
}

/// Which prompt conventions a model was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptFamily {
    /// bilibili Index: the published demo's Chinese system prompt and framing.
    Index,
    /// Any other instruct model (ChatML, Llama, Gemma templates).
    Generic,
}

impl PromptFamily {
    /// Index prompts for Index checkpoints, and for GGUFs converted from
    /// them (Llama architecture, Index chat format).
    pub fn of_model(info: &crate::model::ModelInfo) -> Self {
        if info.chat_template == crate::model::ChatTemplate::IndexRaw {
            PromptFamily::Index
        } else {
            PromptFamily::for_architecture(&info.architecture)
        }
    }

    /// Index checkpoints are recognised by their architecture name.
    pub fn for_architecture(arch: &str) -> Self {
        if arch.eq_ignore_ascii_case("index") {
            PromptFamily::Index
        } else {
            PromptFamily::Generic
        }
    }
}

/// A chat prompt with the document placed between `user_before` and `user_after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prompt {
    pub system: String,
    pub user_before: String,
    pub user_after: String,
}

impl Prompt {
    /// The user turn with `document` in place.
    pub fn user_with(&self, document: &str) -> String {
        format!("{}{}{}", self.user_before, document, self.user_after)
    }

    /// Every instruction string, for counting the overhead.
    pub fn parts(&self) -> [&str; 3] {
        [&self.system, &self.user_before, &self.user_after]
    }
}

/// The Index demo's system prompt, as published.
pub const INDEX_SYSTEM: &str = "你是由哔哩哔哩人工智能平台部自主研发的大语言模型，名为“Index”。你能够根据用户传入的信息，帮助用户完成指定的任务，并生成恰当的、符合要求的回复。";

const GENERIC_SYSTEM: &str = "You are a careful analyst. You summarize and translate documents faithfully. You never invent figures: every number you write appears in the document, with the same unit and currency.";

const SIX_NEWLINES: &str = "\n\n\n\n\n\n";

const FINANCIAL_EN: &str = "Write the summary as Markdown with these sections: Key figures (revenue, profit or loss, margins, cash flow, users or volumes, each with its year-on-year change; one figure per bullet, copied exactly with its unit and currency), Drivers, Outlook, Risks.";
const FINANCIAL_ZH: &str = "请用Markdown输出，包含以下部分：关键数据（营收、利润或亏损、利润率、现金流、用户或业务量，以及各自的同比变化；每条要点只写一个数据，数字、单位和币种照原文）、驱动因素、展望、风险。";

/// The prompt for summarising a whole document (or the reduce step's input).
pub fn summary(family: PromptFamily, lang: Lang, mode: SummaryMode) -> Prompt {
    let financial = mode == SummaryMode::Financial;
    match (family, lang) {
        (PromptFamily::Index, Lang::Zh) => Prompt {
            system: INDEX_SYSTEM.into(),
            user_before: format!(
                "{}请用中文总结以下内容：{SIX_NEWLINES}",
                if financial { FINANCIAL_ZH } else { "" }
            ),
            user_after: format!("{SIX_NEWLINES}请用中文总结以上内容："),
        },
        (PromptFamily::Index, Lang::En) => Prompt {
            system: INDEX_SYSTEM.into(),
            user_before: format!(
                "{}Summarize the following content in English:{SIX_NEWLINES}",
                if financial { FINANCIAL_EN } else { "" }
            ),
            user_after: format!("{SIX_NEWLINES}Summarize the above content in English:"),
        },
        (PromptFamily::Generic, lang) => Prompt {
            system: GENERIC_SYSTEM.into(),
            user_before: format!(
                "Summarize the following document in {}.{}\n\n<document>\n",
                lang.name_en(),
                if financial {
                    format!(" {FINANCIAL_EN}")
                } else {
                    " Keep every figure exactly as written.".into()
                }
            ),
            user_after: format!("\n</document>\n\nWrite the summary in {}.", lang.name_en()),
        },
    }
}

/// The prompt for one map step of a long document: summarise this part,
/// keeping the figures, with the key figures of earlier parts given as context.
pub fn map_part(family: PromptFamily, lang: Lang, part: usize, parts: usize) -> Prompt {
    let system = match family {
        PromptFamily::Index => INDEX_SYSTEM,
        PromptFamily::Generic => GENERIC_SYSTEM,
    };
    match lang {
        Lang::Zh => Prompt {
            system: system.into(),
            user_before: format!(
                "以下是一份长文档的第{part}部分（共{parts}部分）。请用中文列出这一部分的要点和全部关键数据，数字、单位和币种照原文。{SIX_NEWLINES}"
            ),
            user_after: format!("{SIX_NEWLINES}请用中文列出以上部分的要点和关键数据："),
        },
        Lang::En => Prompt {
            system: system.into(),
            user_before: format!(
                "This is part {part} of {parts} of a long document. List its main points and every key figure in English, copying numbers, units and currencies exactly.\n\n<part>\n"
            ),
            user_after: "\n</part>\n\nMain points and key figures of this part:".into(),
        },
    }
}

/// The prompt for translating a batch of numbered blocks.
pub fn translate(family: PromptFamily, to: Lang) -> Prompt {
    let system = match family {
        PromptFamily::Index => INDEX_SYSTEM,
        PromptFamily::Generic => GENERIC_SYSTEM,
    };
    let instruction = match to {
        Lang::Zh => "请把下面每个编号段落翻译成简体中文。保留编号格式 [n]，每段一个编号，数字、单位和币种保持不变，不要增删段落。\n\n",
        Lang::En => "Translate each numbered block below into English. Keep the [n] markers, one per block, keep every number, unit and currency unchanged, and do not add or drop blocks.\n\n",
    };
    Prompt {
        system: system.into(),
        user_before: instruction.into(),
        user_after: String::new(),
    }
}

/// Overhead of one prompt in tokens, given a counter: the instruction strings
/// plus a margin for the chat template's role markers (ChatML needs 13 tokens
/// for system + user + assistant headers; Index 3).
pub fn overhead(prompt: &Prompt, count: &dyn Fn(&str) -> usize) -> usize {
    prompt.parts().iter().map(|p| count(p)).sum::<usize>() + CHAT_MARKUP_MARGIN
}

pub const CHAT_MARKUP_MARGIN: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_prompts_follow_the_chat_format_or_the_architecture() {
        use crate::model::{ChatTemplate, ModelFormat, ModelInfo};
        let info = |architecture: &str, chat_template: ChatTemplate| ModelInfo {
            path: "m".into(),
            name: "m".into(),
            format: ModelFormat::Gguf,
            architecture: architecture.into(),
            context_length: 4096,
            chat_template,
        };
        let index = info("index", ChatTemplate::IndexRaw);
        assert_eq!(PromptFamily::of_model(&index), PromptFamily::Index);
        // A GGUF converted from Index says `llama` but keeps Index's chat format.
        let converted = info("llama", ChatTemplate::IndexRaw);
        assert_eq!(PromptFamily::of_model(&converted), PromptFamily::Index);
        let other = info("llama", ChatTemplate::Llama3);
        assert_eq!(PromptFamily::of_model(&other), PromptFamily::Generic);
    }

    #[test]
    fn index_zh_summary_is_the_published_demo_format() {
        let p = summary(PromptFamily::Index, Lang::Zh, SummaryMode::General);
        assert_eq!(p.system, INDEX_SYSTEM);
        assert_eq!(
            p.user_with("DOC"),
            "请用中文总结以下内容：\n\n\n\n\n\nDOC\n\n\n\n\n\n请用中文总结以上内容："
        );
    }

    #[test]
    fn financial_mode_asks_for_one_figure_per_bullet() {
        let p = summary(PromptFamily::Generic, Lang::En, SummaryMode::Financial);
        assert!(p.user_before.contains("one figure per bullet"));
        let p = summary(PromptFamily::Index, Lang::Zh, SummaryMode::Financial);
        assert!(p.user_before.contains("每条要点只写一个数据"));
    }

    #[test]
    fn family_follows_architecture() {
        assert_eq!(PromptFamily::for_architecture("index"), PromptFamily::Index);
        assert_eq!(
            PromptFamily::for_architecture("llama"),
            PromptFamily::Generic
        );
    }

    #[test]
    fn lang_parses() {
        assert_eq!("zh".parse::<Lang>(), Ok(Lang::Zh));
        assert!("fr".parse::<Lang>().is_err());
    }
}
