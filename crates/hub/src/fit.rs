//! Will this model run on this machine, and how fast?
//!
//! Memory needed = weights (what the engine holds, from the header's tensor
//! table: the file size for the types its kernels run from the mapped file,
//! F16 and BF16 included, more for an F32 embedding table; see
//! [`crate::gguf::weights_in_memory`]; the file size without a header) + KV cache
//! for the chosen context + overhead. The KV cache is
//! `layers × ctx × kv_heads × head_dim × 2 (K and V) × bytes per value`: 2 for
//! the f16 cache the engine keeps by default on the CPU (hearth-engine's
//! `KvCache`), 34/32 for q8_0, 4 for f32 ([`ModelFacts::kv_bytes_per_value`]). Without a header (a file not downloaded yet) the K+V
//! elements per token are approximated from the parameter count, itself
//! approximated from the file size and the quantisation's bits per weight:
//! `kv_elements ≈ 16384 × max(params / 1e9, 0.25)^0.67`, which matches
//! Llama 3.2 1B (16384) and Llama 3 8B / Mistral 7B (65536) and overestimates
//! models with aggressive grouped-query attention.
//! Overhead = what a chat needs beside weights and cache: 32 MiB of runtime,
//! the tokenizer (128 bytes a vocabulary entry), and the activations of one
//! prompt chunk (the engine feeds a prompt 512 tokens at a time), counted as
//! five f32 buffers of the feed-forward width per token (gate, up, their
//! product and the copies around them). Fitted to the peak resident memory of
//! `hearth run` filling a 512-token window on SmolLM2 135M, Gemma 3 270M and
//! the full shapes of Qwen2.5 0.5B, Qwen3 0.6B, Gemma 3 1B and Llama 3.2 1B
//! at F16, Q8_0 and Q4_K_M (`cargo xtask verify-models --full`): measured
//! overheads of 49–148 MiB, the formula within 33 MiB of each. A file whose
//! header says neither width nor vocabulary counts 5% of its weights for the
//! activations and a vocabulary of 152k.
//!
//! Compared with *available* RAM: fits below 75 %, tight up to 100 %, else
//! won't fit.
//!
//! The decode speed shown is ONE number: the speed measured on this machine
//! (the median of the model's last few answers, by the same kind of build,
//! see [`crate::Measurement::expected_tok_s`]) when there is one, else an
//! upper bound: decode reads every weight once per token, so it cannot beat
//! `memory bandwidth / weights bytes` (front ends label it "up to"). The
//! bandwidth is measured once by copying a buffer bigger than any cache and
//! cached in `machine.json`; the buffer is freed before it returns.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::HubError;
use crate::gguf::ModelShape;

/// f16, as the CPU engine stores its keys and values unless told otherwise.
const KV_BYTES_PER_VALUE: f64 = 2.0;
/// The overhead's parts (see the module's comment).
const RUNTIME: u64 = 32 * 1024 * 1024;
const TOKENIZER_BYTES_PER_TOKEN: u64 = 128;
const VOCAB_UNKNOWN: u64 = 152_000;
/// hearth-engine's `PREFILL_CHUNK`: a prompt's tokens per forward.
const PROMPT_CHUNK: u64 = 512;
const FEED_FORWARD_BUFFERS: u64 = 5;
const BANDWIDTH_FILE: &str = "machine.json";

/// The machine's memory as the estimate sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub total_ram: u64,
    pub available_ram: u64,
    /// Measured memory read bandwidth in bytes per second.
    pub bandwidth: Option<f64>,
}

impl Machine {
    /// Reads RAM from the OS and the bandwidth measured once (cached in
    /// `models_dir/machine.json`; measured now if missing).
    pub fn probe(models_dir: &Path) -> Self {
        let (total_ram, available_ram) = match sysinfo::System::new() {
            Ok(mut sys) => {
                sys.refresh_memory();
                (sys.total_memory(), sys.available_memory())
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read memory size");
                (0, 0)
            }
        };
        Self {
            total_ram,
            available_ram,
            bandwidth: Some(cached_bandwidth(models_dir)),
        }
    }
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    Fits,
    Tight,
    WontFit,
}

impl Fit {
    pub fn label(self) -> &'static str {
        match self {
            Self::Fits => "fits",
            Self::Tight => "tight",
            Self::WontFit => "won't fit",
        }
    }
}

/// What a model needs and what to expect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitEstimate {
    pub fit: Fit,
    pub weights: u64,
    pub kv_cache: u64,
    pub overhead: u64,
    pub total: u64,
    /// Expected decode speed (measured when known).
    pub decode_tok_s: Option<f64>,
    /// The KV cache came from the approximation, not the header.
    pub approximate: bool,
    pub measured: bool,
}

/// What is known about a model for the estimate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFacts {
    /// Bytes of all parts.
    pub size: u64,
    /// Shape from the header, once downloaded.
    pub shape: Option<ModelShape>,
    /// Quantisation name (for the bits-per-weight approximation).
    pub quant: Option<String>,
    /// Decode speed measured on this machine.
    pub measured_decode_tok_s: Option<f64>,
    /// Bytes a cached key or value takes, as the model is set to run (`None`:
    /// f16, the engine's default).
    pub kv_bytes_per_value: Option<f64>,
}

/// The estimate for `facts` at `context` tokens on `machine`.
pub fn estimate(facts: &ModelFacts, context: u64, machine: &Machine) -> FitEstimate {
    let exact = facts.shape.and_then(|s| s.kv_elements_per_token());
    let kv_per_token =
        exact.unwrap_or_else(|| approx_kv_elements(facts.size, facts.quant.as_deref()));
    let bytes_per_value = facts
        .kv_bytes_per_value
        .filter(|b| b.is_finite() && *b > 0.0)
        .unwrap_or(KV_BYTES_PER_VALUE);
    // Float to integer saturates, so a huge context cannot wrap.
    let kv_cache = (kv_per_token.saturating_mul(context) as f64 * bytes_per_value) as u64;
    let weights = facts
        .shape
        .and_then(|s| s.weights_in_memory)
        .unwrap_or(facts.size);
    let overhead = overhead(facts.shape.as_ref(), context, weights);
    let total = weights.saturating_add(kv_cache).saturating_add(overhead);
    let available = machine.available_ram;
    let fit = if (total as f64) <= available as f64 * 0.75 {
        Fit::Fits
    } else if total <= available {
        Fit::Tight
    } else {
        Fit::WontFit
    };
    let decode_tok_s = facts.measured_decode_tok_s.or_else(|| {
        machine
            .bandwidth
            .filter(|_| weights > 0)
            .map(|bw| bw / weights as f64)
    });
    FitEstimate {
        fit,
        weights,
        kv_cache,
        overhead,
        total,
        decode_tok_s,
        approximate: exact.is_none(),
        measured: facts.measured_decode_tok_s.is_some(),
    }
}

/// Runtime, tokenizer and one prompt chunk's activations (module comment).
fn overhead(shape: Option<&ModelShape>, context: u64, weights: u64) -> u64 {
    let vocab = shape.and_then(|s| s.vocab).unwrap_or(VOCAB_UNKNOWN);
    let width = shape.and_then(|s| s.feed_forward.or(s.embedding.map(|e| e.saturating_mul(4))));
    let activations = match width {
        Some(width) => [FEED_FORWARD_BUFFERS, context.min(PROMPT_CHUNK), width, 4]
            .into_iter()
            .fold(1u64, u64::saturating_mul),
        None => weights / 20,
    };
    RUNTIME
        .saturating_add(vocab.saturating_mul(TOKENIZER_BYTES_PER_TOKEN))
        .saturating_add(activations)
}

/// Bits per weight of a quantisation (block bytes × 8 / block elements).
pub fn bits_per_weight(quant: &str) -> f64 {
    match quant.to_ascii_uppercase().as_str() {
        "F32" => 32.0,
        "F16" | "BF16" => 16.0,
        "Q8_0" => 8.5,
        "Q6_K" | "Q6_K_L" => 6.56,
        "Q5_0" | "Q5_K_S" => 5.5,
        "Q5_1" | "Q5_K_M" | "Q5_K_L" => 5.7,
        "Q4_1" => 5.0,
        "Q4_0" | "Q4_K_S" | "IQ4_NL" => 4.5,
        "Q4_K_M" | "Q4_K_L" => 4.85,
        "IQ4_XS" => 4.25,
        "Q3_K_L" => 4.27,
        "Q3_K_M" | "IQ3_M" | "IQ3_S" => 3.9,
        "Q3_K_S" | "IQ3_XS" | "IQ3_XXS" => 3.5,
        "Q2_K" | "Q2_K_S" | "IQ2_M" | "IQ2_S" => 2.9,
        "IQ2_XS" | "IQ2_XXS" => 2.3,
        "IQ1_S" | "IQ1_M" => 1.8,
        _ => 4.85,
    }
}

fn approx_kv_elements(size: u64, quant: Option<&str>) -> u64 {
    let bpw = bits_per_weight(quant.unwrap_or("Q4_K_M"));
    let params_b = (size as f64 * 8.0 / bpw / 1e9).max(0.25);
    (16384.0 * params_b.powf(0.67)) as u64
}

#[derive(Serialize, Deserialize)]
struct MachineFile {
    bandwidth_bytes_per_sec: f64,
}

/// The bandwidth cached in `dir`, measured (and cached) if missing.
pub fn cached_bandwidth(dir: &Path) -> f64 {
    let path = dir.join(BANDWIDTH_FILE);
    if let Some(bw) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<MachineFile>(&b).ok())
        .map(|m| m.bandwidth_bytes_per_sec)
        .filter(|bw| bw.is_finite() && *bw > 0.0)
    {
        return bw;
    }
    let bw = measure_bandwidth();
    let file = MachineFile {
        bandwidth_bytes_per_sec: bw,
    };
    let saved = std::fs::create_dir_all(dir)
        .map_err(|e| HubError::io(dir, e))
        .and_then(|()| crate::library::write_atomic(&path, &file));
    if let Err(e) = saved {
        tracing::debug!(error = %e, "cannot cache the bandwidth measurement");
    }
    bw
}

/// Memory bandwidth in bytes per second: copies a 64 MiB buffer into another
/// a few times on one thread and keeps the best run, counting each byte read
/// and written. The 128 MiB the two take is more than any CPU's cache (the
/// biggest L3 caches hold 96 MiB per core complex), and is given back to the
/// OS as soon as this returns (allocations this big are their own mappings),
/// so the probe leaves nothing behind in an idle app. One thread understates
/// what all cores can pull, so the speed it predicts is conservative for big
/// models.
pub fn measure_bandwidth() -> f64 {
    // memcpy is optimised in every build (also debug), and a copy of a buffer
    // far bigger than any cache moves each byte through memory twice.
    const BYTES: usize = 64 * 1024 * 1024;
    let src = vec![1u8; BYTES];
    let mut dst = vec![0u8; BYTES];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
        best = best.min(start.elapsed().as_secs_f64());
    }
    drop((src, dst));
    (2 * BYTES) as f64 / best.max(1e-9)
}
