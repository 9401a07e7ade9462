//! A turn answered by a cloud provider: budget checked and text redacted
//! before anything is sent, the answer streamed and checkpointed like a local
//! one, and the backend, the fallback reason, the usage and the cost recorded.

use std::time::Instant;

use hearth_backend::{ChatRequest, Completion, FinishReason, Message as Turn, Role, TokenSink};
use hearth_store::{
    Conversation, Message, MessageFinish, MessageId, MessageMetrics, MessageStatus, UsageRecord,
};
use tokio_util::sync::CancellationToken;

use crate::chat::{CHECKPOINT_EVERY, ChatEvent, Target, TurnOptions, TurnResult, now_millis};
use crate::redact::{RedactionSettings, Redactor};
use crate::turn_route::Plan;
use crate::{App, CoreError};

/// The setting holding [`RedactionSettings`].
pub(crate) const REDACTION_SETTING: &str = "redaction";

/// Everything a cloud turn needs besides the cancel token and the events.
pub(crate) struct CloudTurn<'a> {
    pub(crate) conv: &'a Conversation,
    pub(crate) history: Vec<Message>,
    pub(crate) target: Target,
    pub(crate) options: &'a TurnOptions,
    pub(crate) user_message: Option<MessageId>,
    pub(crate) plan: Plan,
}

impl App {
    /// The redaction settings.
    pub fn redaction(&self) -> Result<RedactionSettings, CoreError> {
        match self.store().setting(REDACTION_SETTING)? {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                CoreError::Invalid(format!("the saved redaction settings are damaged: {e}"))
            }),
            None => Ok(RedactionSettings::default()),
        }
    }

    /// Saves the redaction settings.
    pub fn set_redaction(&self, settings: &RedactionSettings) -> Result<(), CoreError> {
        let json = serde_json::to_string(settings)
            .map_err(|e| CoreError::Invalid(format!("cannot save redaction settings: {e}")))?;
        self.store().set_setting(REDACTION_SETTING, &json)?;
        Ok(())
    }

    pub(crate) async fn answer_cloud(
        &self,
        turn: CloudTurn<'_>,
        cancel: CancellationToken,
        mut on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        let CloudTurn {
            conv,
            history,
            target,
            options,
            user_message,
            plan,
        } = turn;
        let backend = plan.backend.clone();
        let provider = self.provider(&backend.provider)?;

        // What would be sent, redacted if the user asked for it.
        let settings = self.redaction()?;
        let mut redactor = Redactor::new(&settings);
        let mut send = |text: &str| {
            if settings.enabled {
                redactor.redact(text)
            } else {
                text.to_owned()
            }
        };
        let mut messages: Vec<Turn> = conv
            .system_prompt
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| Turn::system(send(s)))
            .collect();
        messages.extend(
            history
                .iter()
                .filter(|m| !(m.role == Role::Assistant && m.content.is_empty()))
                .map(|m| Turn::new(m.role, send(&m.content))),
        );
        if let Target::Continue { message } = &target {
            messages.push(Turn::assistant(send(&message.content)));
        }
        let max_tokens = options.max_tokens.or(conv.sampling.max_tokens);
        let request = ChatRequest {
            model: backend.model.clone(),
            messages,
            max_tokens: max_tokens.and_then(|t| u32::try_from(t).ok()),
            temperature: conv.sampling.temperature,
            top_p: conv.sampling.top_p,
            stop: options.stop.clone(),
            json: false,
        };

        // Over budget: refused before anything is stored or sent.
        let price = self.price(&backend.provider, &backend.model)?;
        let prompt_chars: usize = request.messages.iter().map(|m| m.content.len()).sum();
        let estimate = price.map_or(0.0, |p| {
            p.cost(&hearth_backend::Usage {
                input_tokens: (prompt_chars / 4) as u64,
                output_tokens: 0,
            })
        });
        self.check_budget(estimate, now_millis())?;

        let fallback_reason = plan.fallback.as_ref().map(ToString::to_string);
        let (message, prefix) = self.open_answer(
            conv,
            target,
            &backend.provider,
            &backend.model,
            fallback_reason.clone(),
        )?;
        if !redactor.redactions().is_empty() {
            self.store()
                .record_redactions(&message.id, redactor.redactions())?;
        }
        tracing::info!(
            backend = %backend,
            fallback = fallback_reason.as_deref().unwrap_or("none"),
            redacted = redactor.redactions().len(),
            "sending to a cloud provider"
        );
        on_event(ChatEvent::Started {
            user_message,
            assistant_message: message.id.clone(),
            dropped_turns: 0,
            prompt_tokens: prompt_chars / 4,
        });

        let started = Instant::now();
        let (sink, mut pieces) = TokenSink::channel();
        let chat = provider.chat(request, sink, cancel);
        tokio::pin!(chat);
        let mut restorer = redactor.restorer();
        let mut text = prefix;
        let mut last_checkpoint = Instant::now();
        let mut show = |piece: &str, text: &mut String| -> Result<(), CoreError> {
            if piece.is_empty() {
                return Ok(());
            }
            text.push_str(piece);
            on_event(ChatEvent::Token {
                text: piece.to_owned(),
            });
            if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                self.store().checkpoint_message(&message.id, text)?;
                last_checkpoint = Instant::now();
            }
            Ok(())
        };
        let outcome = loop {
            tokio::select! {
                Some(piece) = pieces.recv() => show(&restorer.push(&piece), &mut text)?,
                outcome = &mut chat => {
                    while let Ok(piece) = pieces.try_recv() {
                        show(&restorer.push(&piece), &mut text)?;
                    }
                    break outcome;
                }
            }
        };
        show(&restorer.finish(), &mut text)?;
        let latency = started.elapsed();

        let (status, metrics, error, retries) = match &outcome {
            Ok(completion) => (
                if completion.finish == FinishReason::Cancelled {
                    MessageStatus::Cancelled
                } else {
                    MessageStatus::Complete
                },
                metrics(completion, latency, price),
                None,
                completion.retries,
            ),
            Err(err) => (
                MessageStatus::Error,
                MessageMetrics {
                    latency_ms: Some(latency.as_secs_f64() * 1000.0),
                    ..MessageMetrics::default()
                },
                Some(err.user_message().to_owned()),
                0,
            ),
        };
        let finished = {
            let store = self.store();
            let finished = store.finish_message(
                &message.id,
                &MessageFinish {
                    content: text,
                    status,
                    metrics: metrics.clone(),
                    error,
                    fallback_reason: fallback_reason.clone(),
                    backend: Some(backend.provider.clone()),
                    model: Some(backend.model.clone()),
                },
            )?;
            store.record_usage(&UsageRecord {
                at: now_millis(),
                conversation_id: Some(conv.id.clone()),
                message_id: Some(message.id.clone()),
                backend: backend.provider.clone(),
                model: backend.model.clone(),
                tokens_in: metrics.tokens_in.unwrap_or(0),
                tokens_out: metrics.tokens_out.unwrap_or(0),
                ttft_ms: metrics.ttft_ms,
                latency_ms: metrics.latency_ms,
                cost_usd: metrics.cost_usd,
                fallback_reason,
                error_kind: outcome.as_ref().err().map(|e| e.kind.as_str().to_owned()),
                retries,
            })?;
            finished
        };
        self.after_turn(&conv.id, &plan)?;
        on_event(ChatEvent::Finished {
            message: Box::new(finished.clone()),
        });
        if let Err(err) = outcome {
            return Err(CoreError::Backend(err));
        }
        Ok(TurnResult {
            user_message: None,
            answer: finished,
            dropped_turns: 0,
        })
    }
}

fn metrics(
    completion: &Completion,
    latency: std::time::Duration,
    price: Option<crate::cost::Price>,
) -> MessageMetrics {
    let ttft = completion.time_to_first_token;
    let usage = completion.usage;
    let decode_tok_s = match (usage, ttft) {
        (Some(u), Some(ttft)) if u.output_tokens > 1 && latency > ttft => {
            Some((u.output_tokens - 1) as f64 / (latency - ttft).as_secs_f64())
        }
        _ => None,
    };
    MessageMetrics {
        tokens_in: usage.map(|u| u.input_tokens),
        tokens_out: usage.map(|u| u.output_tokens),
        prompt_tokens_reused: None,
        ttft_ms: ttft.map(|t| t.as_secs_f64() * 1000.0),
        decode_tok_s,
        latency_ms: Some(latency.as_secs_f64() * 1000.0),
        cost_usd: match (price, usage) {
            (Some(price), Some(usage)) => Some(price.cost(&usage)),
            _ => None,
        },
    }
}
