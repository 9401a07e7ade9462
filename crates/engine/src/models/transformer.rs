//! The decoder-only transformer every supported family is an instance of:
//! embedding, a stack of pre-norm blocks (with Gemma's optional post-norms),
//! final norm and output head. The family files only read their tensors and
//! hyperparameters into these pieces.

use candle_core::{Device, Tensor};

use super::attention::{Attention, KvCache, Masks};
use super::layers::{Embeddings, Mlp, RmsNorm};
use super::load::Loader;
use super::{KvType, Model, SeqCache};
use crate::error::EngineError;

/// One layer: `h = x + post_attn(attn(attn_norm(x)))`, `out = h + post_ffn(mlp(ffn_norm(h)))`.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) attn_norm: RmsNorm,
    pub(crate) attn: Attention,
    pub(crate) post_attn_norm: Option<RmsNorm>,
    pub(crate) ffn_norm: RmsNorm,
    pub(crate) mlp: Mlp,
    pub(crate) post_ffn_norm: Option<RmsNorm>,
}

impl Block {
    /// A plain pre-norm block (`{p}.attn_norm`, `{p}.ffn_norm`), no post-norms.
    pub(crate) fn pre_norm(
        ld: &Loader<'_>,
        p: &str,
        attn: Attention,
        mlp: Mlp,
    ) -> Result<Self, EngineError> {
        Ok(Self {
            attn_norm: ld.norm(&format!("{p}.attn_norm"))?,
            attn,
            post_attn_norm: None,
            ffn_norm: ld.norm(&format!("{p}.ffn_norm"))?,
            mlp,
            post_ffn_norm: None,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        pos: usize,
        masks: &Masks,
        cache: &mut KvCache,
    ) -> candle_core::Result<Tensor> {
        self.around(x, |h| self.attn.forward(h, pos, masks, cache))
    }

    /// One new token of each of several sequences ([`Attention::forward_batch`]).
    fn forward_batch(
        &self,
        x: &Tensor,
        positions: &[usize],
        caches: &mut [&mut KvCache],
    ) -> candle_core::Result<Tensor> {
        self.around(x, |h| self.attn.forward_batch(h, positions, caches))
    }

    /// The block around its attention `attend`: norms, residuals and the MLP.
    fn around(
        &self,
        x: &Tensor,
        attend: impl FnOnce(&Tensor) -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        let mut a = attend(&self.attn_norm.forward(x)?)?;
        if let Some(n) = &self.post_attn_norm {
            a = n.forward(&a)?;
        }
        let h = (x + a)?;
        let mut f = self.mlp.forward(&self.ffn_norm.forward(&h)?)?;
        if let Some(n) = &self.post_ffn_norm {
            f = n.forward(&f)?;
        }
        h + f
    }
}

/// A loaded model: its weights (the KV caches are [`SeqCache`]s, one per sequence).
#[derive(Debug)]
pub(crate) struct Transformer {
    pub(crate) embed: Embeddings,
    /// Gemma multiplies the embeddings by `sqrt(d_model)`.
    pub(crate) embed_scale: Option<f64>,
    pub(crate) blocks: Vec<Block>,
    pub(crate) norm: RmsNorm,
    /// The sliding window of the windowed layers, if any.
    pub(crate) window: Option<usize>,
    pub(crate) context: usize,
    /// How new caches store keys and values (f32 off the CPU).
    pub(crate) kv_type: KvType,
    pub(crate) device: Device,
}

impl Transformer {
    /// Embedding, `blocks`, `output_norm` and head, unscaled and without window.
    pub(crate) fn new(ld: &Loader<'_>, blocks: Vec<Block>) -> Result<Self, EngineError> {
        Ok(Self {
            embed: ld.embeddings()?,
            embed_scale: None,
            blocks,
            norm: ld.norm("output_norm")?,
            window: None,
            context: ld.context,
            kv_type: if ld.device.is_cpu() {
                ld.kv_type
            } else {
                KvType::F32
            },
            device: ld.device.clone(),
        })
    }

    /// The logits of the last `rows` of `tokens`, shape `[rows, vocab]`.
    fn run(
        &self,
        cache: &mut SeqCache,
        tokens: &[u32],
        pos: usize,
        rows: usize,
    ) -> candle_core::Result<Tensor> {
        let t = tokens.len();
        let mut x = self.embed.lookup(tokens, &self.device)?;
        if let Some(s) = self.embed_scale {
            x = (x * s)?;
        }
        let masks = Masks::new(t, pos, self.window, &self.device)?;
        for (block, layer) in self.blocks.iter().zip(&mut cache.layers) {
            x = block.forward(&x, pos, &masks, layer)?;
        }
        cache.len = pos + t;
        // Only the wanted positions are normed and projected (for a chat turn,
        // one row).
        let tail = x.narrow(1, t - rows, rows)?;
        let logits = self.embed.logits(&self.norm.forward(&tail)?)?;
        logits.squeeze(0)
    }
}

impl Transformer {
    /// [`Model::forward_batch`] once checked: the logits `[n, vocab]`.
    fn run_batch(
        &self,
        caches: &mut [&mut SeqCache],
        tokens: &[u32],
        positions: &[usize],
    ) -> candle_core::Result<Tensor> {
        let mut x = self.embed.lookup(tokens, &self.device)?;
        if let Some(s) = self.embed_scale {
            x = (x * s)?;
        }
        for (l, block) in self.blocks.iter().enumerate() {
            let mut layer: Vec<&mut KvCache> =
                caches.iter_mut().map(|c| &mut c.layers[l]).collect();
            x = block.forward_batch(&x, positions, &mut layer)?;
        }
        for (cache, &pos) in caches.iter_mut().zip(positions) {
            cache.len = pos + 1;
        }
        let logits = self.embed.logits(&self.norm.forward(&x)?)?;
        logits.squeeze(0)
    }

    /// Refuses a forward of `tokens` at `pos` in `cache` that could not run.
    fn check(&self, cache: &SeqCache, tokens: &[u32], pos: usize) -> Result<(), EngineError> {
        let vocab = self.embed.rows();
        if let Some(bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(EngineError::InvalidRequest(format!(
                "token id {bad} is outside the model's vocabulary of {vocab}"
            )));
        }
        if cache.layers.len() != self.blocks.len() {
            return Err(EngineError::InvalidRequest(format!(
                "a cache of {} layers for a model of {}",
                cache.layers.len(),
                self.blocks.len()
            )));
        }
        let cached = cache.len();
        if pos != cached {
            return Err(EngineError::InvalidRequest(format!(
                "forward at position {pos} but the cache holds {cached}"
            )));
        }
        if pos + tokens.len() > self.context {
            return Err(EngineError::PromptTooLong {
                prompt_tokens: pos + tokens.len(),
                context_length: self.context,
            });
        }
        Ok(())
    }
}

impl Model for Transformer {
    fn forward_batch(
        &self,
        caches: &mut [&mut SeqCache],
        tokens: &[u32],
    ) -> Result<Tensor, EngineError> {
        if tokens.is_empty() || tokens.len() != caches.len() {
            return Err(EngineError::InvalidRequest(format!(
                "a batch of {} tokens for {} sequences",
                tokens.len(),
                caches.len()
            )));
        }
        let positions: Vec<usize> = caches.iter().map(|c| c.len()).collect();
        for ((cache, &token), &pos) in caches.iter().zip(tokens).zip(&positions) {
            self.check(cache, &[token], pos)?;
        }
        let out = self
            .run_batch(caches, tokens, &positions)
            .map_err(EngineError::from)
            .and_then(|logits| {
                for (i, &pos) in positions.iter().enumerate() {
                    super::check::finite_logits(logits.get(i)?, pos)?;
                }
                Ok(logits)
            });
        if out.is_err() {
            // As in `forward_tail`: no sequence keeps a half-written step.
            for (cache, &pos) in caches.iter_mut().zip(&positions) {
                cache.truncate(pos);
            }
        }
        out
    }

    fn new_cache(&self) -> SeqCache {
        SeqCache::new(
            self.blocks
                .iter()
                .map(|_| KvCache::new(self.context, self.kv_type, &self.device))
                .collect(),
        )
    }

    fn full_cache_bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| b.attn.cache_bytes(self.context, self.kv_type))
            .sum()
    }

    fn forward_tail(
        &self,
        cache: &mut SeqCache,
        tokens: &[u32],
        pos: usize,
        rows: usize,
    ) -> Result<Tensor, EngineError> {
        if tokens.is_empty() {
            return Err(EngineError::InvalidRequest("forward of no tokens".into()));
        }
        if rows == 0 || rows > tokens.len() {
            return Err(EngineError::InvalidRequest(format!(
                "logits of {rows} rows asked from a forward of {} tokens",
                tokens.len()
            )));
        }
        self.check(cache, tokens, pos)?;
        let out = self
            .run(cache, tokens, pos, rows)
            .map_err(EngineError::from)
            .and_then(|logits| super::check::finite_logits(logits, pos + tokens.len() - 1));
        if out.is_err() {
            // A failed step may have written some layers' caches: drop it all.
            cache.truncate(pos);
        }
        out
    }
}
