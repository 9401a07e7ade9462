//! The one-line summary printed to stderr after an answer.

use hearth_engine::{Completion, ModelInfo};

/// Prints the stats of a completion to stderr.
#[allow(clippy::print_stderr)]
pub(crate) fn print(completion: &Completion, info: &ModelInfo) {
    eprintln!("{}", line(completion, info));
}

/// `[prompt 31 tok (0 reused) · prefill 412 tok/s · 24 tok at 61.2 tok/s · TTFT 0.08 s · stop eos · load 0.21 s · cpu · ctx 4096 · seed 7]`
pub(crate) fn line(completion: &Completion, info: &ModelInfo) -> String {
    let s = &completion.stats;
    format!(
        "[prompt {} tok ({} reused) · prefill {:.0} tok/s · {} tok at {:.1} tok/s · TTFT {:.2} s · stop {} · load {:.2} s · {} · ctx {} · seed {}]",
        s.prompt_tokens,
        s.prompt_tokens_reused,
        s.prefill_tok_s,
        s.completion_tokens,
        s.decode_tok_s,
        s.time_to_first_token.as_secs_f64(),
        completion.stop_reason,
        s.load_time.as_secs_f64(),
        s.device,
        info.context_length,
        s.seed,
    )
}
