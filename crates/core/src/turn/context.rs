//! The turn's context: what the model reads, fitted into its context window.
//!
//! The system prompt always stays, and so does the turn being answered; whole
//! older turns (a user message and the answers after it) are dropped, oldest
//! first, until the prompt plus room for the answer fits. The caller learns how
//! many turns were dropped; a request that cannot fit is refused, never sent.
//!
//! [`fit`] is the rule, on any token count; the turn path applies it with the
//! backend's own count ([`ChatBackend::count_tokens`]) when the backend knows
//! its window: the local engine's exact count, or a cloud provider's generous
//! estimate for a model in its table or with a window the user set. A cloud
//! prompt the provider still refuses as too long loses turns by
//! [`trim_after_refusal`] and is sent once more. What else enters a turn's context (tools, retrieved documents)
//! is added here, before fitting.
//!
//! This is the whole of context shift for a local chat (issue 17): every turn
//! is fitted anew, so a conversation longer than the window keeps answering
//! from its newest turns, the `Started` event (and the CLI's and app's notice)
//! says how many turns were left out, and the engine reuses the cached prefix
//! that is still valid (see hearth-engine's `generate.rs`); an answer that
//! reaches the end of the window stops there (`context_full`).

use hearth_backend::{
    BackendError, ChatBackend, ChatRequest, ErrorKind, Message, PromptMode, Role, reasoning,
};

use crate::CoreError;

/// The messages to send, after fitting.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub messages: Vec<Message>,
    /// Older turns left out to make room (0: the whole conversation fits).
    pub dropped_turns: usize,
    /// Tokens of the prompt that will be sent.
    pub prompt_tokens: usize,
}

/// Why a conversation cannot be sent at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the message is too long for the model's context window: the prompt needs {needed} tokens \
     and at most {available} fit (context {context}, {reserved} kept free for the answer)"
)]
pub struct TooLong {
    pub needed: usize,
    pub available: usize,
    pub context: usize,
    pub reserved: usize,
}

/// Tokens kept free for the answer: what the caller asked for, otherwise a
/// quarter of the window (at most 1024), and never more than half the window.
pub fn reserve_for_answer(context: usize, max_tokens: Option<usize>) -> usize {
    let wanted = max_tokens.unwrap_or_else(|| (context / 4).min(1024));
    wanted.min(context / 2).max(1)
}

/// Drops the oldest turns of `messages` until `count(kept) + reserve <= context`.
///
/// `count` returns the prompt tokens of a message list (the real tokenizer and
/// chat template in production). Drop counts are searched in O(log n) calls.
pub fn fit<E>(
    messages: &[Message],
    context: usize,
    reserve: usize,
    mut count: impl FnMut(&[Message]) -> Result<usize, E>,
) -> Result<Result<Fitted, TooLong>, E> {
    let budget = context.saturating_sub(reserve);
    let (system, rest, starts) = turns(messages);
    let droppable = starts.len().saturating_sub(1);
    let keep = |dropped: usize| keep_turns(system, rest, &starts, dropped);

    let all = keep(0);
    let tokens = count(&all)?;
    if tokens <= budget {
        return Ok(Ok(Fitted {
            messages: all,
            dropped_turns: 0,
            prompt_tokens: tokens,
        }));
    }
    // Smallest number of dropped turns that fits: fitting is monotonic in it.
    let (mut lo, mut hi) = (1, droppable);
    let minimal = keep(droppable);
    let minimal_tokens = count(&minimal)?;
    if minimal_tokens > budget {
        return Ok(Err(TooLong {
            needed: minimal_tokens,
            available: budget,
            context,
            reserved: reserve,
        }));
    }
    let mut best = (droppable, minimal, minimal_tokens);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let kept = keep(mid);
        let tokens = count(&kept)?;
        if tokens <= budget {
            best = (mid, kept, tokens);
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let (dropped_turns, messages, prompt_tokens) = best;
    Ok(Ok(Fitted {
        messages,
        dropped_turns,
        prompt_tokens,
    }))
}

/// The system prompt, the rest, and where each turn of the rest starts (the
/// last turn, the one being answered, always stays).
fn turns(messages: &[Message]) -> (Option<&Message>, &[Message], Vec<usize>) {
    let (system, rest) = match messages.first() {
        Some(first) if first.role == Role::System => (Some(first), &messages[1..]),
        _ => (None, messages),
    };
    let starts = rest
        .iter()
        .enumerate()
        .filter(|(i, m)| *i == 0 || m.role == Role::User)
        .map(|(i, _)| i)
        .collect();
    (system, rest, starts)
}

/// The system prompt and the turns after the `dropped` oldest.
fn keep_turns(
    system: Option<&Message>,
    rest: &[Message],
    starts: &[usize],
    dropped: usize,
) -> Vec<Message> {
    let from = if dropped == 0 { 0 } else { starts[dropped] };
    system.into_iter().chain(&rest[from..]).cloned().collect()
}

/// After a provider refused `messages` as too long for its window: the
/// fewest oldest turns to leave out so that at least a quarter of the
/// prompt's tokens (by `count`) is gone; all that can go if even that is not
/// enough. `None`: only the turn being answered is left, nothing can go.
pub fn trim_after_refusal(
    messages: &[Message],
    mut count: impl FnMut(&[Message]) -> usize,
) -> Option<Fitted> {
    let (system, rest, starts) = turns(messages);
    let droppable = starts.len().saturating_sub(1);
    if droppable == 0 {
        return None;
    }
    let before = count(messages);
    let target = before - before / 4;
    let mut last = None;
    for dropped in 1..=droppable {
        let kept = keep_turns(system, rest, &starts, dropped);
        let tokens = count(&kept);
        let fitted = Fitted {
            messages: kept,
            dropped_turns: dropped,
            prompt_tokens: tokens,
        };
        if tokens <= target {
            return Some(fitted);
        }
        last = Some(fitted);
    }
    last
}

/// A turn's request after fitting.
#[derive(Debug)]
pub(crate) struct FittedRequest {
    pub(crate) request: ChatRequest,
    pub(crate) dropped_turns: usize,
    /// The prompt's tokens, when the backend counted them.
    pub(crate) prompt_tokens: Option<usize>,
}

impl FittedRequest {
    /// `request` as it is, uncounted.
    pub(crate) fn whole(request: ChatRequest) -> Self {
        Self {
            request,
            dropped_turns: 0,
            prompt_tokens: None,
        }
    }
}

/// Fits `request` into `backend`'s context window, keeping room for the
/// answer; as it is when the backend knows no window (a cloud model not in
/// the table, with no window set by the user).
pub(crate) fn fit_request(
    backend: &dyn ChatBackend,
    mut request: ChatRequest,
) -> Result<FittedRequest, CoreError> {
    let Some(window) = backend.context_window() else {
        return Ok(FittedRequest::whole(request));
    };
    // The answer's room: what the request asks for, else the model's own
    // default output size (a cloud model), else the house rule.
    let wanted = request
        .max_tokens
        .map(|t| t as usize)
        .or_else(|| backend.default_max_output());
    let reserve = reserve_for_answer(window, wanted);
    let messages = std::mem::take(&mut request.messages);
    // Counted as the backend would send it: the same mode and settings.
    let mut probe = request;
    let fitted = fit(&messages, window, reserve, |kept| {
        probe.messages = kept.to_vec();
        backend.count_tokens(&probe)?.ok_or_else(|| {
            BackendError::new(
                ErrorKind::Local,
                "the backend has a context window but cannot count tokens",
            )
        })
    })
    .map_err(|err| CoreError::from_backend(&backend.id(), err))??;
    if fitted.dropped_turns > 0 {
        tracing::info!(
            dropped_turns = fitted.dropped_turns,
            prompt_tokens = fitted.prompt_tokens,
            "older turns left out to fit the context"
        );
    }
    probe.messages = fitted.messages;
    Ok(FittedRequest {
        request: probe,
        dropped_turns: fitted.dropped_turns,
        prompt_tokens: Some(fitted.prompt_tokens),
    })
}

/// About four characters a token: what a cloud prompt is reported as (and
/// priced at before it is sent), where nothing counts it.
/// Earlier answers without their `<think>` reasoning, as reasoning models'
/// templates expect (Qwen3's strips it itself; DeepSeek-R1 distills' and
/// cloud providers' do not, and would be sent the old thoughts again). The
/// answer being continued keeps its own, and text completion is sent as it is.
/// The stored messages are not touched.
pub(crate) fn without_earlier_reasoning(mut request: ChatRequest) -> ChatRequest {
    let continued = match request.mode {
        PromptMode::Text => return request,
        PromptMode::Continue => request.messages.len().checked_sub(1),
        PromptMode::Chat => None,
    };
    for (i, message) in request.messages.iter_mut().enumerate() {
        if message.role == Role::Assistant && Some(i) != continued {
            let kept = reasoning::without_reasoning(&message.content);
            if kept.len() != message.content.len() {
                message.content = kept.to_owned();
            }
        }
    }
    request
}

pub(crate) fn estimate_tokens(request: &ChatRequest) -> usize {
    request
        .messages
        .iter()
        .map(|m| m.content.len())
        .sum::<usize>()
        / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One "token" per word, plus one per message (like a template's markers).
    fn words(messages: &[Message]) -> Result<usize, ()> {
        Ok(messages
            .iter()
            .map(|m| 1 + m.content.split_whitespace().count())
            .sum())
    }

    fn conversation() -> Vec<Message> {
        vec![
            Message::system("be brief"),               // 3
            Message::user("one two three"),            // 4
            Message::assistant("four five six seven"), // 5
            Message::user("eight nine"),               // 3
            Message::assistant("ten eleven twelve"),   // 4
            Message::user("thirteen"),                 // 2
        ]
    }

    #[test]
    fn everything_fits_nothing_dropped() {
        let fitted = fit(&conversation(), 100, 10, words).unwrap().unwrap();
        assert_eq!(fitted.dropped_turns, 0);
        assert_eq!(fitted.messages, conversation());
        assert_eq!(fitted.prompt_tokens, 21);
    }

    #[test]
    fn oldest_turns_go_first_and_the_system_prompt_stays() {
        // Budget 15: dropping the first turn leaves 3 + 3 + 4 + 2 = 12.
        let fitted = fit(&conversation(), 20, 5, words).unwrap().unwrap();
        assert_eq!(fitted.dropped_turns, 1);
        assert_eq!(fitted.prompt_tokens, 12);
        assert_eq!(fitted.messages[0], Message::system("be brief"));
        assert_eq!(fitted.messages[1], Message::user("eight nine"));
        // Budget 6: only the system prompt and the last turn fit.
        let fitted = fit(&conversation(), 10, 4, words).unwrap().unwrap();
        assert_eq!(fitted.dropped_turns, 2);
        assert_eq!(
            fitted.messages,
            [Message::system("be brief"), Message::user("thirteen")]
        );
    }

    #[test]
    fn a_message_that_cannot_fit_is_refused() {
        let err = fit(&conversation(), 8, 4, words).unwrap().unwrap_err();
        assert_eq!(
            err,
            TooLong {
                needed: 5,
                available: 4,
                context: 8,
                reserved: 4
            }
        );
        assert!(err.to_string().contains("too long"));
    }

    #[test]
    fn fits_without_a_system_prompt() {
        let turns = &conversation()[1..];
        let fitted = fit(turns, 11, 2, words).unwrap().unwrap();
        assert_eq!(fitted.dropped_turns, 1);
        assert_eq!(fitted.messages[0], Message::user("eight nine"));
    }

    #[test]
    fn a_refused_prompt_loses_at_least_a_quarter() {
        let count = |m: &[Message]| words(m).unwrap_or(0);
        // 21 tokens; at most 15 may stay: dropping one turn leaves 12.
        let trimmed = trim_after_refusal(&conversation(), count).unwrap();
        assert_eq!(trimmed.dropped_turns, 1);
        assert_eq!(trimmed.prompt_tokens, 12);
        assert_eq!(trimmed.messages[0], Message::system("be brief"));
        assert_eq!(trimmed.messages[1], Message::user("eight nine"));
        // Only the turn being answered: nothing to leave out.
        let last = [Message::system("be brief"), Message::user("thirteen")];
        assert_eq!(trim_after_refusal(&last, count), None);
    }

    #[test]
    fn the_reserve_is_bounded_by_the_window() {
        assert_eq!(reserve_for_answer(4096, None), 1024);
        assert_eq!(reserve_for_answer(1000, None), 250);
        assert_eq!(reserve_for_answer(1000, Some(900)), 500);
        assert_eq!(reserve_for_answer(1000, Some(64)), 64);
    }
}
