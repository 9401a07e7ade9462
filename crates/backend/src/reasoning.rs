//! Reasoning models: an answer that opens with `<think>…</think>` (Qwen3,
//! DeepSeek-R1 distills, Phi-4-reasoning) is reasoning, then the answer.
//!
//! One splitter for every front end: the server sends the reasoning as
//! `reasoning_content` (as DeepSeek's API and llama.cpp's server do), the app
//! folds it above the answer, the CLI prints it dimmed, and the turn path
//! leaves it out of earlier answers when they go back to a model
//! ([`without_reasoning`]): the templates that strip it themselves (Qwen3)
//! expect that, and the others (DeepSeek-R1 distills, cloud providers) would
//! otherwise be sent the old thoughts again. Stored messages keep it.
//!
//! ```
//! use hearth_backend::reasoning::{split, without_reasoning};
//! assert_eq!(split("<think>Hm.</think>\n\nParis."), (Some("Hm."), "Paris."));
//! assert_eq!(without_reasoning("<think>Hm.</think> Paris."), "Paris.");
//! ```

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// An answer's reasoning (if it has any) and its content.
pub fn split(text: &str) -> (Option<&str>, &str) {
    let Some(inside) = text.trim_start().strip_prefix(OPEN) else {
        return (None, text);
    };
    match inside.find(CLOSE) {
        Some(end) => (
            Some(inside[..end].trim()),
            inside[end + CLOSE.len()..].trim_start(),
        ),
        // Cut off while thinking: all of it is reasoning.
        None => (Some(inside.trim()), ""),
    }
}

/// `text` without its reasoning: what an earlier answer is when it goes back
/// to a model. Text without a `<think>` opening is returned as it is.
pub fn without_reasoning(text: &str) -> &str {
    match split(text) {
        (Some(_), content) => content,
        (None, _) => text,
    }
}

/// Which field a streamed piece goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Reasoning,
    Content,
}

#[derive(Debug, Default)]
enum State {
    /// Not yet known whether the answer opens with `<think>`.
    #[default]
    Start,
    Thinking,
    /// Just after `</think>`: whitespace before the content is dropped.
    AfterThinking,
    Content,
}

/// Splits a streamed answer as [`split`] splits a whole one.
#[derive(Debug, Default)]
pub struct Splitter {
    state: State,
    held: String,
}

impl Splitter {
    /// A splitter for an answer that already has `text` (one being
    /// continued): what comes next is split as the rest of that answer.
    pub fn after(text: &str) -> Self {
        let mut splitter = Self::default();
        splitter.push(text);
        splitter
    }

    /// The pieces of `piece` that can be sent now.
    pub fn push(&mut self, piece: &str) -> Vec<(Part, String)> {
        self.held.push_str(piece);
        let mut out = Vec::new();
        loop {
            match self.state {
                State::Start => {
                    let t = self.held.trim_start();
                    if let Some(rest) = t.strip_prefix(OPEN) {
                        self.held = rest.trim_start().to_owned();
                        self.state = State::Thinking;
                    } else if OPEN.starts_with(t) {
                        return out; // empty or a part of `<think>`: wait
                    } else {
                        self.state = State::Content;
                    }
                }
                State::Thinking => {
                    if let Some(end) = self.held.find(CLOSE) {
                        let thought = self.held[..end].trim_end().to_owned();
                        self.held = self.held[end + CLOSE.len()..].to_owned();
                        if !thought.is_empty() {
                            out.push((Part::Reasoning, thought));
                        }
                        self.state = State::AfterThinking;
                    } else {
                        // Keep back what could be the start of `</think>`.
                        let keep = (1..CLOSE.len())
                            .rev()
                            .find(|&n| self.held.ends_with(&CLOSE[..n]))
                            .unwrap_or(0);
                        let send = self.held.len() - keep;
                        if send > 0 {
                            let thought: String = self.held.drain(..send).collect();
                            out.push((Part::Reasoning, thought));
                        }
                        return out;
                    }
                }
                State::AfterThinking => {
                    let t = self.held.trim_start();
                    if t.is_empty() {
                        self.held.clear();
                        return out;
                    }
                    self.held = t.to_owned();
                    self.state = State::Content;
                }
                State::Content => {
                    if !self.held.is_empty() {
                        out.push((Part::Content, std::mem::take(&mut self.held)));
                    }
                    return out;
                }
            }
        }
    }

    /// What is still held at the end.
    pub fn finish(&mut self) -> Vec<(Part, String)> {
        let held = std::mem::take(&mut self.held);
        match self.state {
            _ if held.is_empty() => Vec::new(),
            State::Thinking => vec![(Part::Reasoning, held)],
            _ => vec![(Part::Content, held)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_answers_split() {
        assert_eq!(
            split("<think>\nLet me see.\n</think>\n\nParis."),
            (Some("Let me see."), "Paris.")
        );
        assert_eq!(split("Paris."), (None, "Paris."));
        assert_eq!(split("<think>still going"), (Some("still going"), ""));
        // Only an opening tag counts: a mention later is content.
        assert_eq!(split("I <think> so"), (None, "I <think> so"));
    }

    #[test]
    fn earlier_answers_lose_their_reasoning_only() {
        assert_eq!(
            without_reasoning("<think>\nhm\n</think>\n\nParis."),
            "Paris."
        );
        assert_eq!(without_reasoning("  Paris. "), "  Paris. ");
        assert_eq!(without_reasoning("I <think> so"), "I <think> so");
        assert_eq!(without_reasoning("<think>cut off"), "");
    }

    fn streamed(pieces: &[&str]) -> (String, String) {
        let mut s = Splitter::default();
        let (mut reasoning, mut content) = (String::new(), String::new());
        let mut all: Vec<(Part, String)> = pieces.iter().flat_map(|p| s.push(p)).collect();
        all.extend(s.finish());
        for (part, text) in all {
            match part {
                Part::Reasoning => reasoning.push_str(&text),
                Part::Content => content.push_str(&text),
            }
        }
        (reasoning, content)
    }

    #[test]
    fn streamed_answers_split_across_any_cut() {
        let text = "<think>\nLet me see.\n</think>\n\nParis.";
        for cut in 1..text.len() {
            let (a, b) = text.split_at(cut);
            let (reasoning, content) = streamed(&[a, b]);
            assert_eq!(reasoning.trim(), "Let me see.", "cut at {cut}");
            assert_eq!(content, "Paris.", "cut at {cut}");
        }
        assert_eq!(
            streamed(&["<th", "ank you"]),
            (String::new(), "<thank you".into())
        );
        assert_eq!(
            streamed(&["Hello", " there"]),
            (String::new(), "Hello there".into())
        );
        assert_eq!(streamed(&["<think>cut"]), ("cut".into(), String::new()));
    }

    #[test]
    fn a_continued_answer_carries_on_where_it_was() {
        let mut thinking = Splitter::after("<think>Let me");
        assert_eq!(
            thinking.push(" see</think>Hi"),
            vec![
                (Part::Reasoning, " see".to_owned()),
                (Part::Content, "Hi".to_owned())
            ]
        );
        let mut answering = Splitter::after("<think>x</think>Pa");
        assert_eq!(
            answering.push("ris"),
            vec![(Part::Content, "ris".to_owned())]
        );
    }
}
