//! One generation, wherever it runs: on the worker thread (one at a time)
//! or on a thread of its own against the batcher (`hearth serve
//! --parallel`, `batch.rs`). The prompt is rendered here, the KV slot taken
//! once the first tokens to run are known, and tool calls read out of the
//! answer.

use std::path::Path;
use std::sync::mpsc::Sender;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{GenerationEvent, NAME_PROBE_TOKENS};
use crate::error::EngineError;
use crate::generate::{
    self, Cached, Completion, Draft, GenerateRequest, OutputFormat, Prompt, StopReason,
};
use crate::models::Model;
use crate::template::ChatTemplate;
use crate::tokenizer::Tokenizer;
use crate::tools::ToolPlan;
use crate::vocab::Vocab;

/// What one generation needs: the model (or the batcher's proxy of it) and
/// what the worker loaded with it.
pub(super) struct Turn<'a> {
    pub(super) model: &'a dyn Model,
    pub(super) tokenizer: &'a Tokenizer,
    pub(super) template: &'a ChatTemplate,
    pub(super) context_length: usize,
    /// The model file, named in errors the file causes.
    pub(super) path: &'a Path,
    pub(super) device_name: &'a str,
    pub(super) load_time: Duration,
    pub(super) draft: Option<&'a mut Draft>,
}

/// The slot in `slot`, taken with `take` for `tokens` when there is none yet.
fn slot_for<'s>(
    slot: &'s mut Option<Cached>,
    take: &mut dyn FnMut(&[u32]) -> Result<Cached, EngineError>,
    tokens: &[u32],
) -> Result<&'s mut Cached, EngineError> {
    if slot.is_none() {
        *slot = Some(take(tokens)?);
    }
    slot.as_mut().ok_or(EngineError::WorkerGone)
}

impl Turn<'_> {
    /// One generation; with tools, the answer's calls are read out of its
    /// text, and the text that makes them is not streamed. `slot` is taken
    /// with `take` once the first tokens to run are known; whoever called
    /// gives it back.
    pub(super) fn generate(
        &mut self,
        slot: &mut Option<Cached>,
        take: &mut dyn FnMut(&[u32]) -> Result<Cached, EngineError>,
        request: &GenerateRequest,
        cancel: &CancellationToken,
        events: &Sender<GenerationEvent>,
    ) -> Result<Completion, EngineError> {
        let template = self.template.with_thinking(request.thinking);
        let template: &ChatTemplate = &template;
        let (prompt, plan) = match &request.prompt {
            Prompt::Tools {
                messages,
                tools,
                choice,
            } => {
                let mut prompt = ToolPlan::prompt(template, messages, tools, choice)?;
                if let Some(probe) = prompt.name_probe() {
                    // `required` with several tools: the model names one
                    // first (a short free generation after `{"name": "`),
                    // then that one is called as if it had been named.
                    let tokens = generate::tool_tokens(&probe, self.tokenizer)?;
                    let cached = slot_for(slot, take, &tokens)?;
                    let ask = GenerateRequest {
                        max_tokens: Some(NAME_PROBE_TOKENS),
                        stop: vec!["\"".into()],
                        format: OutputFormat::Text,
                        ..request.clone()
                    };
                    let mut run = generate::Run {
                        model: self.model,
                        cached,
                        tokenizer: self.tokenizer,
                        context_length: self.context_length,
                        draft: self.draft.as_deref_mut().map(Draft::drafter),
                    };
                    let said = run.generate(&tokens, &ask, cancel, &mut |_| {})?;
                    let name = prompt.plan.closest_tool(&said.text);
                    prompt = ToolPlan::prompt(
                        template,
                        messages,
                        tools,
                        &hearth_backend::ToolChoice::Function(name),
                    )?;
                }
                (
                    generate::tool_tokens(&prompt, self.tokenizer)?,
                    Some(prompt.plan),
                )
            }
            other => (
                generate::prompt_tokens(other, self.tokenizer, template)?,
                None,
            ),
        };
        // A forced call is one JSON object, its arguments under the tool's
        // schema; in auto mode each call is, from its marker on.
        let constraint = match &plan {
            Some(plan) if plan.is_forced() || request.format == OutputFormat::Text => {
                plan.constraint()
            }
            _ => generate::Constraint::of_format(request.format),
        };
        let vocab = plan.as_ref().map(|p| p.vocab(self.tokenizer));
        let tokenizer: &dyn Vocab = match &vocab {
            Some(vocab) => vocab,
            None => self.tokenizer,
        };
        let mut gate = plan.as_ref().map(ToolPlan::gate);
        let cached = slot_for(slot, take, &prompt)?;
        let mut run = generate::Run {
            model: self.model,
            cached,
            tokenizer,
            context_length: self.context_length,
            draft: self.draft.as_deref_mut().map(Draft::drafter),
        };
        let result = run.generate_with(&prompt, request, constraint, cancel, &mut |text: &str| {
            let shown = match &mut gate {
                Some(gate) => gate.push(text),
                None => text.to_owned(),
            };
            if !shown.is_empty() {
                let _ = events.send(GenerationEvent::Token(shown));
            }
        });
        // Logits that are not numbers come from the file: name it.
        let mut done = result.map_err(|e| match e {
            EngineError::NonFiniteLogits { .. } => e.in_file(self.path),
            other => other,
        })?;
        self.device_name.clone_into(&mut done.stats.device);
        done.stats.load_time = self.load_time;
        if let (Some(plan), Some(gate)) = (&plan, &mut gate) {
            if done.stop_reason == StopReason::Cancelled {
                done.text.clear();
                return Ok(done);
            }
            if plan.is_forced() && done.stop_reason != StopReason::Eos {
                // A call cut short (the token limit, a cancel) is no call.
                return Err(EngineError::ToolCall(format!(
                    "the call was cut short ({}) before its JSON was complete",
                    done.stop_reason
                )));
            }
            let parsed = plan.read(&done.text)?;
            for err in &parsed.errors {
                tracing::warn!(error = %err, "a tool call was left in the answer's text");
            }
            // What was held back and turned out not to be a call.
            let rest = gate.finish(&parsed.content);
            if !rest.is_empty() {
                let _ = events.send(GenerationEvent::Token(rest));
            }
            done.text = parsed.content;
            done.tool_calls = parsed.calls;
        }
        Ok(done)
    }
}
