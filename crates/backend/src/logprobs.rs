//! Log-probabilities of generated tokens, as OpenAI's API reports them: each
//! token with its own log-probability and the most likely tokens at its
//! position. Backends that compute them (the local engine) fill them in when a
//! request asks ([`crate::ChatRequest::logprobs`]).

use serde::{Deserialize, Serialize};

/// The most tokens a request may ask for at each position (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: u8 = 20;

/// One generated token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The token's text (its bytes read as UTF-8, a lone piece of a character
    /// replaced by U+FFFD; [`Self::bytes`] has them exactly).
    pub token: String,
    pub bytes: Vec<u8>,
    /// Natural log of its probability under the model, before any sampling
    /// filter (temperature, top-k, top-p, min-p, penalties).
    pub logprob: f32,
    /// The most likely tokens at this position, most likely first.
    pub top: Vec<TopLogprob>,
}

/// An alternative at a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    pub token: String,
    pub bytes: Vec<u8>,
    pub logprob: f32,
}
