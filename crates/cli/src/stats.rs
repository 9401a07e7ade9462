//! The one-line summary printed to stderr after a local answer.

use crate::out::noteln;
use hearth_backend::FinishReason;
use hearth_core::Answer;
use hearth_engine::ModelInfo;

/// Prints the stats of an answer to stderr.
pub(crate) fn print(answer: &Answer, info: &ModelInfo) {
    noteln!("{}", line(answer, info));
}

/// ` · draft 41/52 accepted (79%)` when a draft model proposed tokens.
fn draft(engine: &hearth_backend::EngineStats) -> String {
    if engine.draft_tokens == 0 {
        return String::new();
    }
    format!(
        " · draft {}/{} accepted ({:.0}%)",
        engine.draft_accepted,
        engine.draft_tokens,
        engine.draft_accepted as f64 * 100.0 / engine.draft_tokens as f64
    )
}

/// `[prompt 31 tok (0 reused) · prefill 412 tok/s · 24 tok at 61.2 tok/s · TTFT 0.08 s · stop eos · load 0.21 s · cpu · ctx 4096 · seed 7]`
pub(crate) fn line(answer: &Answer, info: &ModelInfo) -> String {
    let c = &answer.completion;
    let usage = c.usage.unwrap_or_default();
    let engine = c.engine.clone().unwrap_or_default();
    format!(
        "[prompt {} tok ({} reused) · prefill {:.0} tok/s · {} tok at {:.1} tok/s{} · TTFT {:.2} s · stop {} · load {:.2} s · {} · ctx {} · seed {}]",
        usage.input_tokens,
        engine.prompt_tokens_reused,
        engine.prefill_tok_s,
        usage.output_tokens,
        engine.decode_tok_s,
        draft(&engine),
        c.time_to_first_token.unwrap_or_default().as_secs_f64(),
        stop_name(&c.finish),
        engine.load_time.as_secs_f64(),
        engine.device,
        info.context_length,
        engine.seed,
    )
}

/// The engine's name for why an answer ended.
fn stop_name(finish: &FinishReason) -> &str {
    match finish {
        FinishReason::Stop => "eos",
        FinishReason::StopSequence => "stop-string",
        FinishReason::Length => "max-tokens",
        FinishReason::ContextFull => "context-full",
        FinishReason::Cancelled => "cancelled",
        FinishReason::ContentFilter => "content-filter",
        FinishReason::ToolCalls => "tool-calls",
        FinishReason::Other(reason) => reason,
    }
}
