//! A BERT encoder (the family behind sentence-transformers models such as
//! all-MiniLM-L6-v2), written on candle-nn from the layout of Hugging Face's
//! `BertModel` safetensors: embeddings (word + position + token type, then a
//! LayerNorm), N post-norm encoder layers (self-attention, GELU feed-forward).
//! The pooler head is not used: sentence embeddings pool the last hidden state.

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::{LayerNorm, Linear, Module};
use serde::Deserialize;

use super::ops;
use crate::error::EngineError;

/// The parts of `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub(crate) layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub(crate) hidden_act: String,
    #[serde(default)]
    pub(crate) model_type: Option<String>,
}

fn default_eps() -> f64 {
    1e-12
}

fn default_act() -> String {
    "gelu".to_owned()
}

/// Weights by name, with the optional `bert.` prefix some checkpoints carry.
struct Weights {
    map: HashMap<String, Tensor>,
    prefix: &'static str,
}

impl Weights {
    fn get(&self, name: &str) -> Result<Tensor, EngineError> {
        let full = format!("{}{name}", self.prefix);
        self.map
            .get(&full)
            .cloned()
            .ok_or(EngineError::MissingTensor { name: full })
            .and_then(|t| {
                t.to_dtype(DType::F32)
                    .map_err(|source| EngineError::Tensor {
                        name: name.to_owned(),
                        source,
                    })
            })
    }

    /// A weight as a plain vector (biases and norms for the fused ops).
    fn vec(&self, name: &str) -> Result<Vec<f32>, EngineError> {
        self.get(name)?
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(|source| EngineError::Tensor {
                name: name.to_owned(),
                source,
            })
    }

    /// The bias, the residual and the LayerNorm after the projection `dense`.
    fn add_norm(&self, dense: &str, norm: &str, eps: f64) -> Result<ops::AddNorm, EngineError> {
        Ok(ops::AddNorm {
            bias: self.vec(&format!("{dense}.bias"))?,
            gamma: self.vec(&format!("{norm}.weight"))?,
            beta: self.vec(&format!("{norm}.bias"))?,
            eps: eps as f32,
        })
    }

    fn layer_norm(&self, name: &str, eps: f64) -> Result<LayerNorm, EngineError> {
        Ok(LayerNorm::new(
            self.get(&format!("{name}.weight"))?,
            self.get(&format!("{name}.bias"))?,
            eps,
        ))
    }
}

/// One encoder layer. The projections are bias-free matrix products; each
/// bias is added by the fused op that follows (see `ops`).
struct Layer {
    /// Query, key and value in one product: `(3 · hidden, hidden)`.
    qkv: Linear,
    split: ops::SplitHeads,
    attn_out: Linear,
    attn_norm: ops::AddNorm,
    up: Linear,
    act: ops::BiasGelu,
    down: Linear,
    out_norm: ops::AddNorm,
}

/// The encoder: token ids in, last hidden states out.
pub(crate) struct Bert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    pub(crate) max_positions: usize,
}

impl Bert {
    pub(crate) fn load(
        config: &BertConfig,
        map: HashMap<String, Tensor>,
        _device: &Device,
    ) -> Result<Self, EngineError> {
        if config.hidden_act != "gelu" {
            return Err(EngineError::InvalidRequest(format!(
                "this BERT model uses the activation \"{}\"; Hearth's encoder runs \"gelu\"",
                config.hidden_act
            )));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(EngineError::InvalidRequest(format!(
                "hidden size {} does not split into {} attention heads",
                config.hidden_size, config.num_attention_heads
            )));
        }
        let prefix = if map.contains_key("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let w = Weights { map, prefix };
        let eps = config.layer_norm_eps;
        // Attention scores are scaled by 1/√(head size): folded into the
        // query projection.
        let head_dim = config.hidden_size / config.num_attention_heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        let weight = |name: &str| w.get(&format!("{name}.weight"));
        let tensor_err = |name: &str| {
            let name = name.to_owned();
            move |source| EngineError::Tensor { name, source }
        };
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let (q, k, v) = (
                format!("{p}.attention.self.query"),
                format!("{p}.attention.self.key"),
                format!("{p}.attention.self.value"),
            );
            let qkv = Tensor::cat(
                &[
                    (weight(&q)? * scale).map_err(tensor_err(&q))?,
                    weight(&k)?,
                    weight(&v)?,
                ],
                0,
            )
            .map_err(tensor_err(&q))?;
            let mut qkv_bias: Vec<f32> = w
                .vec(&format!("{q}.bias"))?
                .into_iter()
                .map(|b| b * scale as f32)
                .collect();
            qkv_bias.extend(w.vec(&format!("{k}.bias"))?);
            qkv_bias.extend(w.vec(&format!("{v}.bias"))?);
            let (attn, attn_norm) = (
                format!("{p}.attention.output.dense"),
                format!("{p}.attention.output.LayerNorm"),
            );
            let (up, down, out_norm) = (
                format!("{p}.intermediate.dense"),
                format!("{p}.output.dense"),
                format!("{p}.output.LayerNorm"),
            );
            layers.push(Layer {
                qkv: Linear::new(qkv, None),
                split: ops::SplitHeads {
                    bias: qkv_bias,
                    heads: config.num_attention_heads,
                    head_dim,
                },
                attn_out: Linear::new(weight(&attn)?, None),
                attn_norm: w.add_norm(&attn, &attn_norm, eps)?,
                up: Linear::new(weight(&up)?, None),
                act: ops::BiasGelu {
                    bias: w.vec(&format!("{up}.bias"))?,
                },
                down: Linear::new(weight(&down)?, None),
                out_norm: w.add_norm(&down, &out_norm, eps)?,
            });
        }
        let word = w.get("embeddings.word_embeddings.weight")?;
        let hidden = word.dim(1).map_err(EngineError::Compute)?;
        if hidden != config.hidden_size {
            return Err(EngineError::InvalidRequest(format!(
                "the word embeddings are {hidden} wide but config.json says hidden_size {}",
                config.hidden_size
            )));
        }
        let position = w.get("embeddings.position_embeddings.weight")?;
        let max_positions = position
            .dim(0)
            .map_err(EngineError::Compute)?
            .min(config.max_position_embeddings);
        Ok(Self {
            word,
            position,
            token_type: w.get("embeddings.token_type_embeddings.weight")?,
            embed_norm: w.layer_norm("embeddings.LayerNorm", eps)?,
            layers,
            max_positions,
        })
    }

    /// `ids` and `mask` are `(batch, len)` (u32, and f32 with 1 for real tokens);
    /// returns the last hidden states `(batch, len, hidden)`.
    pub(crate) fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len) = ids.dims2()?;
        let hidden = self.word.dim(1)?;
        let words = self
            .word
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((batch, len, hidden))?;
        let positions = self.position.narrow(0, 0, len)?.unsqueeze(0)?;
        // Single sequences: every token has type 0.
        let types = self.token_type.narrow(0, 0, 1)?.unsqueeze(0)?;
        let x = words.broadcast_add(&positions)?.broadcast_add(&types)?;
        let x = self.embed_norm.forward(&x)?;

        // Padding keys get a large negative score, so softmax gives them ~0.
        let bias = ((mask.ones_like()? - mask)? * -1e4)?;
        // Linear layers run on (batch * len, hidden): one large matrix product
        // each instead of a batch of small ones.
        let rows = batch * len;
        let mut x = x.reshape((rows, hidden))?;
        for layer in &self.layers {
            let qkv = layer.split.forward(&layer.qkv.forward(&x)?, len)?;
            let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
            // The queries came scaled (see `load`).
            let probs = ops::masked_softmax(&q.matmul(&k.t()?)?, &bias)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((rows, hidden))?;
            x = layer
                .attn_norm
                .forward(&layer.attn_out.forward(&ctx)?, &x)?;
            let ff = layer
                .down
                .forward(&layer.act.forward(&layer.up.forward(&x)?)?)?;
            x = layer.out_norm.forward(&ff, &x)?;
        }
        let x = x.reshape((batch, len, hidden))?;
        Ok(x)
    }
}

/// Mean of the hidden states over the real (unmasked) tokens: `(batch, hidden)`.
pub(crate) fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let m = mask.unsqueeze(D::Minus1)?;
    let sum = hidden.broadcast_mul(&m)?.sum(1)?;
    let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
    sum.broadcast_div(&count)
}

/// Each row scaled to unit length (rows of zeros stay zero).
pub(crate) fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)
}
