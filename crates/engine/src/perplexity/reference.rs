//! llama.cpp's reference log-probabilities: the file `llama-perplexity
//! --kl-divergence-base FILE` writes while it scores a text, read back so
//! Hearth can be scored against llama.cpp position by position, on llama.cpp's
//! own tokens (teacher-forced: both engines see the same text, whatever either
//! would have generated).
//!
//! The layout (little-endian, as llama.cpp writes it on the machines it runs
//! on):
//!
//! - the 8 bytes `_logits_`;
//! - `u32` window length, `i32` vocabulary size, `i32` number of windows;
//! - the tokens of every window, `i32` each (BOS first when the model adds
//!   one, as tokenized, before the per-window BOS replacement);
//! - for each window, one row per scored position (`context / 2` up to
//!   `context - 2`): `f32` scale, `f32` minimum log-probability, then one
//!   `u16` per vocabulary entry, the row padded to `2*((vocab+1)/2) + 4`
//!   `u16`s in all. Entry `i`'s log-probability is `scale * q[i] + minimum`;
//!   log-probabilities more than 16 nats under the top one are stored as the
//!   minimum (so a perplexity computed from the file alone is wrong for
//!   models as unsure as random ones; take llama.cpp's printed one).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::EngineError;

const MAGIC: &[u8; 8] = b"_logits_";

/// The reference's top-1/top-2 margin (nats) above which its top token is
/// taken as the answer: closer calls are near-ties that rounding decides.
pub const CONFIDENT_MARGIN: f64 = 0.1;

/// Log-probabilities under this are not stored exactly, so they take no part
/// in the divergence (llama.cpp's own cut).
const FLOOR: f32 = -16.0;

/// llama.cpp's log-probabilities for a scored text: an open logits file read
/// one row at a time, or only its top token and lead at each position (a
/// summary small enough to keep in a repository).
pub struct LlamaLogits {
    path: PathBuf,
    rows: Rows,
    context: usize,
    vocab: usize,
    chunks: usize,
    tokens: Vec<u32>,
}

enum Rows {
    File {
        reader: BufReader<File>,
        row: Vec<u8>,
    },
    Top {
        top: std::vec::IntoIter<(u32, f32)>,
    },
}

/// One position of the reference.
pub(crate) enum Row<'a> {
    /// Every entry's log-probability.
    Full(&'a [f32]),
    /// Only the most likely token and its lead over the second, in nats.
    Top { token: u32, margin: f32 },
}

impl std::fmt::Debug for LlamaLogits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaLogits")
            .field("path", &self.path)
            .field("context", &self.context)
            .field("vocab", &self.vocab)
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl LlamaLogits {
    /// Opens `path` and reads its header and tokens; the size of the file is
    /// checked against them, so a truncated file is refused here.
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let bad = |reason: String| EngineError::InvalidReference {
            path: path.to_owned(),
            reason,
        };
        let io = |source| EngineError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut reader = BufReader::new(file);
        let mut head = [0u8; 20];
        reader
            .read_exact(&mut head)
            .map_err(|_| bad("it is shorter than its header".into()))?;
        if &head[..8] != MAGIC {
            return Err(bad(
                "it does not start with `_logits_` (write one with llama-perplexity --kl-divergence-base FILE)".into(),
            ));
        }
        let word =
            |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let (context, vocab, chunks) = (word(8), word(12) as i32, word(16) as i32);
        if !(4..=1 << 20).contains(&context) {
            return Err(bad(format!("a window of {context} tokens")));
        }
        if !(1..=1 << 24).contains(&vocab) {
            return Err(bad(format!("a vocabulary of {vocab} entries")));
        }
        if !(1..=1 << 20).contains(&chunks) {
            return Err(bad(format!("{chunks} windows")));
        }
        let (context, vocab, chunks) = (context as usize, vocab as usize, chunks as usize);
        let row_bytes = row_len(vocab) * 2;
        let rows = chunks as u64 * rows_per_window(context) as u64;
        let expected = 20 + 4 * (chunks * context) as u64 + rows * row_bytes as u64;
        if len != expected {
            return Err(bad(format!(
                "it is {len} bytes, but {chunks} windows of {context} tokens over a vocabulary of {vocab} take {expected}"
            )));
        }
        let mut raw = vec![0u8; 4 * chunks * context];
        reader.read_exact(&mut raw).map_err(io)?;
        let mut tokens = Vec::with_capacity(chunks * context);
        for bytes in raw.chunks_exact(4) {
            let token = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            match u32::try_from(token) {
                Ok(t) if (t as usize) < vocab => tokens.push(t),
                _ => {
                    return Err(bad(format!(
                        "token id {token} is outside the vocabulary of {vocab}"
                    )));
                }
            }
        }
        Ok(Self {
            path: path.to_owned(),
            rows: Rows::File {
                reader,
                row: vec![0; row_bytes],
            },
            context,
            vocab,
            chunks,
            tokens,
        })
    }

    /// A reference that holds only llama.cpp's top token and its lead over the
    /// second at each scored position (`top`, window after window), for the
    /// windows of `context` in `tokens`. `name` names it in errors.
    pub fn from_top(
        name: &Path,
        context: usize,
        vocab: usize,
        tokens: Vec<u32>,
        top: Vec<(u32, f32)>,
    ) -> Result<Self, EngineError> {
        let bad = |reason: String| EngineError::InvalidReference {
            path: name.to_owned(),
            reason,
        };
        if context < 4 || tokens.is_empty() || !tokens.len().is_multiple_of(context) {
            return Err(bad(format!(
                "{} tokens are not whole windows of {context}",
                tokens.len()
            )));
        }
        let chunks = tokens.len() / context;
        if top.len() != chunks * rows_per_window(context) {
            return Err(bad(format!(
                "{} positions for {chunks} windows of {context}",
                top.len()
            )));
        }
        if let Some(&t) = tokens
            .iter()
            .chain(top.iter().map(|(t, _)| t))
            .find(|&&t| t as usize >= vocab)
        {
            return Err(bad(format!(
                "token id {t} is outside the vocabulary of {vocab}"
            )));
        }
        Ok(Self {
            path: name.to_owned(),
            rows: Rows::Top {
                top: top.into_iter(),
            },
            context,
            vocab,
            chunks,
            tokens,
        })
    }

    /// The window length the reference was scored with.
    pub fn context(&self) -> usize {
        self.context
    }

    /// The number of windows it holds.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// Its vocabulary size.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// The tokens of every window, as llama.cpp tokenized the text.
    pub(crate) fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The next position: read into `buf` when the file has whole rows.
    pub(crate) fn next_row<'a>(&mut self, buf: &'a mut Vec<f32>) -> Result<Row<'a>, EngineError> {
        let path = &self.path;
        match &mut self.rows {
            Rows::Top { top } => match top.next() {
                Some((token, margin)) => Ok(Row::Top { token, margin }),
                None => Err(EngineError::InvalidReference {
                    path: path.clone(),
                    reason: "it has fewer positions than were scored".into(),
                }),
            },
            Rows::File { reader, row } => {
                reader.read_exact(row).map_err(|source| EngineError::Io {
                    path: path.clone(),
                    source,
                })?;
                let float = |at: usize| {
                    f32::from_le_bytes([row[at], row[at + 1], row[at + 2], row[at + 3]])
                };
                let (scale, min) = (float(0), float(4));
                if !scale.is_finite() || !min.is_finite() {
                    return Err(EngineError::InvalidReference {
                        path: path.clone(),
                        reason: "a row's scale is not a finite number".into(),
                    });
                }
                buf.clear();
                buf.extend(
                    row[8..8 + 2 * self.vocab]
                        .chunks_exact(2)
                        .map(|q| scale * f32::from(u16::from_le_bytes([q[0], q[1]])) + min),
                );
                Ok(Row::Full(buf))
            }
        }
    }
}

/// `u16`s per stored row (llama.cpp's `nv`).
fn row_len(vocab: usize) -> usize {
    2 * vocab.div_ceil(2) + 4
}

/// Rows stored per window: positions `context/2 ..= context-2`.
pub(crate) fn rows_per_window(context: usize) -> usize {
    context - 1 - context / 2
}

/// How Hearth's predictions compare with llama.cpp's at the scored positions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Agreement {
    /// Positions compared.
    pub positions: usize,
    /// Of which both engines' most likely token is the same.
    pub same_top1: usize,
    /// Positions where llama.cpp's top-1/top-2 margin exceeds
    /// [`CONFIDENT_MARGIN`].
    pub confident: usize,
    /// Of which the top token is the same.
    pub confident_same_top1: usize,
    /// Mean KL divergence of Hearth from llama.cpp, in nats (when the
    /// reference has whole rows).
    pub kld_mean: Option<f64>,
    /// The largest at any position.
    pub kld_max: Option<f64>,
    #[serde(skip)]
    kld_sum: f64,
}

impl Agreement {
    /// Adds one position: Hearth's `logits` and llama.cpp's `reference`
    /// for the same context.
    pub(crate) fn add(&mut self, logits: &[f32], reference: &Row<'_>) {
        let (ours, _) = top2(logits);
        let (theirs, margin) = match *reference {
            Row::Full(row) => {
                let kld = divergence(logits, row);
                self.kld_sum += kld;
                self.kld_max = Some(self.kld_max.map_or(kld, |m| m.max(kld)));
                self.kld_mean = Some(self.kld_sum / (self.positions + 1) as f64);
                top2(row)
            }
            Row::Top { token, margin } => (token as usize, f64::from(margin)),
        };
        self.positions += 1;
        let same = ours == theirs;
        self.same_top1 += usize::from(same);
        if margin > CONFIDENT_MARGIN {
            self.confident += 1;
            self.confident_same_top1 += usize::from(same);
        }
    }
}

/// KL divergence of the distribution of `logits` from the `reference`
/// log-probabilities, over the entries llama.cpp stores exactly.
fn divergence(logits: &[f32], reference: &[f32]) -> f64 {
    let norm = crate::logprobs::log_sum_exp(logits);
    logits
        .iter()
        .zip(reference)
        .filter(|(_, r)| **r > FLOOR)
        .map(|(&x, &r)| {
            let r = f64::from(r);
            r.exp() * (r - (f64::from(x) - norm))
        })
        .sum()
}

/// The index of the largest entry (the first of equals) and its lead over the
/// second largest, in the row's units.
fn top2(row: &[f32]) -> (usize, f64) {
    let mut best = (0, f32::NEG_INFINITY);
    let mut second = f32::NEG_INFINITY;
    for (i, &x) in row.iter().enumerate() {
        if x > best.1 {
            second = best.1;
            best = (i, x);
        } else if x > second {
            second = x;
        }
    }
    (best.0, f64::from(best.1) - f64::from(second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_token_is_the_first_of_equals_and_its_lead_is_over_the_runner_up() {
        assert_eq!(top2(&[0.0, 3.0, 1.0, 3.0]), (1, 0.0));
        assert_eq!(top2(&[5.0, 1.0, 4.5]), (0, 0.5));
        assert_eq!(top2(&[-1.0, -3.0, 2.0]), (2, 3.0));
    }

    #[test]
    fn identical_rows_agree_with_no_divergence() {
        let logits = [2.0f32, 0.0, -1.0, -20.0];
        let norm = crate::logprobs::log_sum_exp(&logits) as f32;
        let row = logits.map(|x| x - norm);
        let mut same = Agreement::default();
        same.add(&logits, &Row::Full(&row));
        assert_eq!((same.positions, same.same_top1), (1, 1));
        assert_eq!((same.confident, same.confident_same_top1), (1, 1));
        assert!(same.kld_mean.is_some_and(|k| k.abs() < 1e-6), "{same:?}");

        let mut apart = Agreement::default();
        apart.add(&[0.0, 2.0, -1.0, -20.0], &Row::Full(&row));
        assert_eq!((apart.same_top1, apart.confident_same_top1), (0, 0));
        assert!(apart.kld_mean.is_some_and(|k| k > 1.0), "{apart:?}");

        // Only the top token known: agreement counted, no divergence.
        let mut top = Agreement::default();
        top.add(
            &logits,
            &Row::Top {
                token: 0,
                margin: 0.05,
            },
        );
        top.add(
            &logits,
            &Row::Top {
                token: 1,
                margin: 0.5,
            },
        );
        assert_eq!((top.positions, top.same_top1), (2, 1));
        assert_eq!((top.confident, top.confident_same_top1), (1, 0));
        assert_eq!(top.kld_mean, None);
    }

    #[test]
    fn rows_are_padded_as_llama_cpp_pads_them() {
        assert_eq!(row_len(49152), 49156);
        assert_eq!(row_len(32001), 32006);
        assert_eq!(rows_per_window(128), 63);
    }
}
