//! The model's worker thread and the handle the rest of Hearth talks to.
//!
//! The model lives on one dedicated thread for its whole life. [`Engine::load`]
//! starts that thread, which loads the file and reports success or failure on a
//! ready channel; after that it serves jobs from a queue, one at a time. Each job
//! brings its own reply channel and cancellation token, so nothing is shared
//! between requests but the model and its KV slots (`slots.rs`: each
//! conversation's cache kept, so switching chats does not recompute them).
//! With [`EngineOptions::parallel`] above 1, generations run at once, each on
//! a thread of its own, their decode steps batched by this thread
//! (`batch.rs`); one generation's path is `turn.rs` either way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

mod batch;
mod slots;
mod turn;

pub use batch::MAX_PARALLEL;
pub use slots::{DEFAULT_KV_BUDGET_CACHES, DEFAULT_KV_SLOTS};

use crate::device::{self, DevicePreference};
use crate::error::EngineError;
use crate::generate::draft::{DEFAULT_DRAFT_TOKENS, MAX_DRAFT_TOKENS};
use crate::generate::{self, Completion, Draft, GenerateRequest, Prompt};
use crate::gguf::GgufFile;
use crate::models::{self, KvType, LoadOptions, Model, ModelInfo};
use crate::perplexity::{self, ChunkScored, LlamaLogits, Perplexity, PerplexityOptions};
use crate::template::ChatTemplate;
use crate::tokenizer::Tokenizer;
use slots::Slots;
use turn::Turn;

/// How to load a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Context window; `None` is the model's own, capped at 4096.
    pub context_length: Option<usize>,
    pub device: DevicePreference,
    /// CPU threads; see [`crate::set_threads`] for when this can take effect.
    pub threads: Option<usize>,
    /// candle's quantised matmul instead of Hearth's kernels (the reference
    /// for benchmarks; see [`LoadOptions::candle_matmul`]).
    pub candle_matmul: bool,
    /// How the KV cache stores keys and values (`--kv-type`).
    pub kv_type: KvType,
    /// A draft model for speculative decoding (`--draft`): a small model
    /// with the same vocabulary, loaded beside this one (same device,
    /// context and KV cache type), that proposes tokens for it to check in
    /// one pass. Greedy answers stay the same, sampled ones are drawn from
    /// the same distribution (see `generate/draft.rs`).
    pub draft: Option<PathBuf>,
    /// Tokens the draft proposes per step (`--draft-tokens`, 1 to
    /// [`MAX_DRAFT_TOKENS`]).
    pub draft_tokens: usize,
    /// Conversations whose KV caches are kept side by side (at least 1;
    /// [`DEFAULT_KV_SLOTS`]): a request continues the one holding most of its
    /// prompt, so switching chats does not recompute their histories.
    pub kv_slots: usize,
    /// The most bytes the kept caches may allocate, beyond which the least
    /// recently used are dropped; `None`: [`DEFAULT_KV_BUDGET_CACHES`]
    /// full-context caches of the loaded model.
    pub kv_budget: Option<usize>,
    /// Generations run at once (`hearth serve --parallel`, 1 to
    /// [`MAX_PARALLEL`]): their decode steps go through the model as one
    /// batch (see `engine/batch.rs`). 1, the default, runs one generation
    /// at a time on the worker thread, as Hearth always did. Not with a
    /// draft model.
    pub parallel: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            context_length: None,
            device: DevicePreference::default(),
            threads: None,
            candle_matmul: false,
            kv_type: KvType::default(),
            draft: None,
            draft_tokens: DEFAULT_DRAFT_TOKENS,
            kv_slots: DEFAULT_KV_SLOTS,
            kv_budget: None,
            parallel: 1,
        }
    }
}

/// What streams out of a generation.
#[derive(Debug)]
// One `Done` per generation, after many small `Token`s: boxing it would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum GenerationEvent {
    /// The next piece of text (always complete UTF-8).
    Token(String),
    /// The end: the completion, or why there is none.
    Done(Result<Completion, EngineError>),
}

/// One benchmark run: synthetic prompt tokens, then single-token decode steps.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BenchRun {
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    /// Tokens decoded (fewer than asked when a generation ends its turn).
    pub gen_tokens: usize,
    /// Tokens the draft model proposed and the ones kept
    /// ([`Engine::bench_generate`] with a draft; 0 otherwise).
    pub draft_tokens: usize,
    pub draft_accepted: usize,
}

enum Job {
    Generate {
        request: GenerateRequest,
        cancel: CancellationToken,
        events: Sender<GenerationEvent>,
    },
    Bench {
        prompt_tokens: usize,
        gen_tokens: usize,
        generate: bool,
        reply: Sender<Result<BenchRun, EngineError>>,
    },
    Perplexity {
        input: ScoreInput,
        options: PerplexityOptions,
        cancel: CancellationToken,
        events: Sender<ScoreEvent>,
    },
}

/// What a perplexity run scores.
enum ScoreInput {
    /// A text, tokenized by the model's tokenizer.
    Text(String),
    /// llama.cpp's tokens and log-probabilities for them.
    Reference(Box<LlamaLogits>),
}

/// What streams out of [`Engine::perplexity`].
enum ScoreEvent {
    Chunk(ChunkScored),
    Done(Result<Perplexity, EngineError>),
}

/// A loaded model, ready to generate. Dropping it stops the worker thread.
pub struct Engine {
    jobs: Option<Sender<Job>>,
    worker: Option<JoinHandle<()>>,
    info: ModelInfo,
    tokenizer: Arc<Tokenizer>,
    template: Arc<ChatTemplate>,
    load_time: Duration,
    device_name: String,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("info", &self.info)
            .field("device", &self.device_name)
            .finish_non_exhaustive()
    }
}

/// What the worker sends back once the model is loaded.
struct Ready {
    info: ModelInfo,
    tokenizer: Arc<Tokenizer>,
    template: Arc<ChatTemplate>,
    device_name: String,
}

impl Engine {
    /// Loads the model at `path` on a new worker thread. Errors (missing file, not
    /// GGUF, unsupported architecture, a tensor type Hearth cannot run, metadata
    /// that does not match the weights, ...) come back here naming the file;
    /// nothing panics.
    pub fn load(path: impl AsRef<Path>, options: EngineOptions) -> Result<Self, EngineError> {
        let path = path.as_ref().to_path_buf();
        if let Some(n) = options.threads.filter(|&n| n != device::threads()) {
            tracing::warn!(
                requested = n,
                using = device::threads(),
                "thread count can only be set before the first model loads (hearth_engine::set_threads)"
            );
        }
        crate::alloc::keep_freed_memory();
        let started = Instant::now();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("hearth-engine".into())
            .spawn(
                move || match Worker::load(&path, &options).map_err(|e| e.in_file(&path)) {
                    Ok((worker, ready)) => {
                        if ready_tx.send(Ok(ready)).is_ok() {
                            worker.serve(jobs_rx);
                        }
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                },
            )
            .map_err(EngineError::Thread)?;
        let ready = ready_rx.recv().map_err(|_| EngineError::WorkerGone)??;
        let load_time = started.elapsed();
        tracing::info!(arch = %ready.info.architecture, secs = load_time.as_secs_f64(), "model loaded");
        // The CLI prints warnings to stderr (its default log level), so
        // `hearth run`, `chat` and `serve` say this once when they load a
        // model; other front ends can show `info().context_warning()`.
        if let Some(warning) = ready.info.context_warning() {
            tracing::warn!("{warning}");
        }
        Ok(Self {
            jobs: Some(jobs_tx),
            worker: Some(worker),
            info: ready.info,
            tokenizer: ready.tokenizer,
            template: ready.template,
            load_time,
            device_name: ready.device_name,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Wall time of [`Engine::load`].
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// `cpu`, `cuda:0`, `metal:0`.
    pub fn device_name(&self) -> String {
        self.device_name.clone()
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Token ids of `text` (see [`Tokenizer::encode`]).
    pub fn tokenize(
        &self,
        text: &str,
        add_bos: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, EngineError> {
        self.tokenizer.encode(text, add_bos, parse_special)
    }

    /// The token ids a prompt becomes.
    pub fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>, EngineError> {
        self.prompt_tokens_thinking(prompt, None)
    }

    /// The token ids a prompt becomes with `enable_thinking` set to `thinking`
    /// ([`GenerateRequest::thinking`]).
    pub fn prompt_tokens_thinking(
        &self,
        prompt: &Prompt,
        thinking: Option<bool>,
    ) -> Result<Vec<u32>, EngineError> {
        let template = self.template.with_thinking(thinking);
        generate::prompt_tokens(prompt, &self.tokenizer, &template)
    }

    /// Starts a generation; events stream from the returned receiver, ending with
    /// exactly one [`GenerationEvent::Done`]. Cancelling `cancel` stops it within
    /// one token (stop reason `cancelled`, text so far kept). Returns at once:
    /// the chat template is rendered on the model's thread, not the caller's.
    pub fn generate(
        &self,
        request: GenerateRequest,
        cancel: CancellationToken,
    ) -> Receiver<GenerationEvent> {
        let (events, rx) = mpsc::channel();
        let job = Job::Generate {
            request,
            cancel,
            events: events.clone(),
        };
        if let Err(e) = self.send(job) {
            let _ = events.send(GenerationEvent::Done(Err(e)));
        }
        rx
    }

    /// [`Engine::generate`], calling `on_text` with each piece as it arrives.
    pub fn generate_blocking(
        &self,
        request: GenerateRequest,
        cancel: CancellationToken,
        mut on_text: impl FnMut(&str),
    ) -> Result<Completion, EngineError> {
        for event in self.generate(request, cancel) {
            match event {
                GenerationEvent::Token(text) => on_text(&text),
                GenerationEvent::Done(result) => return result,
            }
        }
        Err(EngineError::WorkerGone)
    }

    /// Times a prefill of `prompt_tokens` synthetic tokens and `gen_tokens` decode
    /// steps, from an empty cache. For `hearth bench`.
    pub fn bench(&self, prompt_tokens: usize, gen_tokens: usize) -> Result<BenchRun, EngineError> {
        self.bench_job(prompt_tokens, gen_tokens, false)
    }

    /// [`Engine::bench`], decoding by greedy generation from the synthetic
    /// prompt instead of a fixed token walk: the path a chat answer takes,
    /// with the draft model when one is loaded (its acceptance in the
    /// result). Fewer tokens when the model ends its turn early.
    pub fn bench_generate(
        &self,
        prompt_tokens: usize,
        gen_tokens: usize,
    ) -> Result<BenchRun, EngineError> {
        self.bench_job(prompt_tokens, gen_tokens, true)
    }

    fn bench_job(
        &self,
        prompt_tokens: usize,
        gen_tokens: usize,
        generate: bool,
    ) -> Result<BenchRun, EngineError> {
        let (reply, rx) = mpsc::channel();
        self.send(Job::Bench {
            prompt_tokens,
            gen_tokens,
            generate,
            reply,
        })?;
        rx.recv().map_err(|_| EngineError::WorkerGone)?
    }

    /// The perplexity of `text`, scored as llama.cpp's `llama-perplexity` does
    /// (see [`Perplexity`]); `on_chunk` hears the running estimate after each
    /// window. Cancelling stops between windows with [`EngineError::Cancelled`].
    /// Runs in a cache of its own: the conversations' KV slots stay as they are.
    pub fn perplexity(
        &self,
        text: &str,
        options: PerplexityOptions,
        cancel: CancellationToken,
        on_chunk: impl FnMut(ChunkScored),
    ) -> Result<Perplexity, EngineError> {
        self.score(ScoreInput::Text(text.to_owned()), options, cancel, on_chunk)
    }

    /// The same, on the tokens llama.cpp scored into `reference` (written by
    /// `llama-perplexity --kl-divergence-base`), each position compared with
    /// llama.cpp's log-probabilities (`versus_llama` in the result). The
    /// window is the reference's; `max_chunks` still applies.
    pub fn perplexity_against(
        &self,
        reference: LlamaLogits,
        max_chunks: Option<usize>,
        cancel: CancellationToken,
        on_chunk: impl FnMut(ChunkScored),
    ) -> Result<Perplexity, EngineError> {
        let options = PerplexityOptions {
            context: reference.context(),
            max_chunks,
        };
        self.score(
            ScoreInput::Reference(Box::new(reference)),
            options,
            cancel,
            on_chunk,
        )
    }

    fn score(
        &self,
        input: ScoreInput,
        options: PerplexityOptions,
        cancel: CancellationToken,
        mut on_chunk: impl FnMut(ChunkScored),
    ) -> Result<Perplexity, EngineError> {
        if options.context > self.info.context_length {
            return Err(EngineError::InvalidRequest(format!(
                "a window of {} tokens does not fit the context of {} this model was loaded with",
                options.context, self.info.context_length
            )));
        }
        let (events, rx) = mpsc::channel();
        self.send(Job::Perplexity {
            input,
            options,
            cancel,
            events,
        })?;
        for event in rx {
            match event {
                ScoreEvent::Chunk(progress) => on_chunk(progress),
                ScoreEvent::Done(result) => return result,
            }
        }
        Err(EngineError::WorkerGone)
    }

    fn send(&self, job: Job) -> Result<(), EngineError> {
        self.jobs
            .as_ref()
            .ok_or(EngineError::WorkerGone)?
            .send(job)
            .map_err(|_| EngineError::WorkerGone)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Closing the queue ends the worker's loop after the job in hand.
        self.jobs.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Tokens a model may take to name the tool it calls (`tool_choice: required`).
const NAME_PROBE_TOKENS: usize = 24;

/// The worker thread's state: the model and its conversations' caches.
struct Worker {
    model: Arc<dyn Model>,
    tokenizer: Arc<Tokenizer>,
    template: Arc<ChatTemplate>,
    info: ModelInfo,
    device_name: String,
    load_time: Duration,
    /// The conversations' caches.
    slots: Slots,
    /// The model file, named in errors the file causes.
    path: PathBuf,
    /// The draft model, when one is loaded.
    draft: Option<Draft>,
    /// Generations run at once ([`EngineOptions::parallel`]).
    parallel: usize,
}

impl Worker {
    fn load(path: &PathBuf, options: &EngineOptions) -> Result<(Self, Ready), EngineError> {
        let started = Instant::now();
        let gguf = GgufFile::open(path)?;
        models::ensure_supported(&gguf)?;
        let tokenizer = Arc::new(Tokenizer::for_model(&gguf)?);
        let template = Arc::new(ChatTemplate::for_model(&gguf, &tokenizer)?);
        if !(1..=MAX_PARALLEL).contains(&options.parallel) {
            return Err(EngineError::InvalidRequest(format!(
                "parallel generations must be 1 to {MAX_PARALLEL}, not {}",
                options.parallel
            )));
        }
        if options.parallel > 1 && options.draft.is_some() {
            return Err(EngineError::InvalidRequest(
                "a draft model speeds up one generation at a time: it cannot be used with \
                 parallel generations"
                    .into(),
            ));
        }
        let device = device::pick(options.device)?;
        let load = LoadOptions {
            context_length: options.context_length,
            candle_matmul: options.candle_matmul,
            kv_type: options.kv_type,
        };
        let (model, info) = models::load(&gguf, &device, &load)?;
        let draft = match &options.draft {
            Some(draft) => Some(
                Self::load_draft(draft, options, &device, (&tokenizer, &info))
                    .map_err(|e| e.in_file(draft))?,
            ),
            None => None,
        };
        let device_name = device::name(&device);
        let budget = options
            .kv_budget
            .unwrap_or_else(|| DEFAULT_KV_BUDGET_CACHES.saturating_mul(model.full_cache_bytes()));
        let ready = Ready {
            info: info.clone(),
            tokenizer: Arc::clone(&tokenizer),
            template: Arc::clone(&template),
            device_name: device_name.clone(),
        };
        let worker = Self {
            model: Arc::from(model),
            tokenizer,
            template,
            info,
            device_name,
            load_time: started.elapsed(),
            slots: Slots::new(options.kv_slots.max(options.parallel), budget),
            path: path.clone(),
            draft,
            parallel: options.parallel,
        };
        Ok((worker, ready))
    }

    /// Loads the draft model at `path` as the target was loaded (device,
    /// context, KV cache type), refusing one whose vocabulary differs.
    fn load_draft(
        path: &Path,
        options: &EngineOptions,
        device: &candle_core::Device,
        target: (&Tokenizer, &ModelInfo),
    ) -> Result<Draft, EngineError> {
        if !(1..=MAX_DRAFT_TOKENS).contains(&options.draft_tokens) {
            return Err(EngineError::InvalidRequest(format!(
                "draft tokens must be 1 to {MAX_DRAFT_TOKENS}, not {}",
                options.draft_tokens
            )));
        }
        let gguf = GgufFile::open(path)?;
        models::ensure_supported(&gguf)?;
        let tokenizer = Tokenizer::for_model(&gguf)?;
        // Before the weights: a wrong draft is refused without loading them.
        generate::check_vocabularies(target.0, &tokenizer)?;
        let load = LoadOptions {
            context_length: Some(target.1.context_length),
            candle_matmul: options.candle_matmul,
            kv_type: options.kv_type,
        };
        let (model, info) = models::load(&gguf, device, &load)?;
        if info.vocab_size != target.1.vocab_size {
            return Err(EngineError::DraftVocabulary(format!(
                "it computes {} logits per token, the model {}",
                info.vocab_size, target.1.vocab_size
            )));
        }
        tracing::info!(arch = %info.architecture, layers = info.n_layers, "draft model loaded");
        Ok(Draft {
            cache: model.new_cache(),
            model,
            cached: Vec::new(),
            tokens: options.draft_tokens,
        })
    }

    fn serve(mut self, jobs: Receiver<Job>) {
        if self.parallel > 1 {
            return self.serve_parallel(jobs);
        }
        for job in jobs {
            self.run(job);
        }
    }

    /// One job, on the worker thread.
    fn run(&mut self, job: Job) {
        match job {
            Job::Generate {
                request,
                cancel,
                events,
            } => {
                let result = self.generate(&request, &cancel, &events);
                let _ = events.send(GenerationEvent::Done(result));
            }
            Job::Bench {
                prompt_tokens,
                gen_tokens,
                generate,
                reply,
            } => {
                let _ = reply.send(self.bench(prompt_tokens, gen_tokens, generate));
            }
            Job::Perplexity {
                input,
                options,
                cancel,
                events,
            } => {
                let result = self.perplexity(input, options, &cancel, &events);
                let _ = events.send(ScoreEvent::Done(result));
            }
        }
    }

    fn perplexity(
        &mut self,
        input: ScoreInput,
        options: PerplexityOptions,
        cancel: &CancellationToken,
        events: &Sender<ScoreEvent>,
    ) -> Result<Perplexity, EngineError> {
        let (tokens, mut reference) = match input {
            ScoreInput::Text(text) => (self.tokenizer.encode(&text, true, false)?, None),
            ScoreInput::Reference(file) => (file.tokens().to_vec(), Some(file)),
        };
        let bos = self.tokenizer.leading_bos();
        perplexity::score(
            self.model.as_ref(),
            &tokens,
            bos,
            options,
            reference.as_deref_mut(),
            cancel,
            &mut |progress| {
                let _ = events.send(ScoreEvent::Chunk(progress));
            },
        )
        .map_err(|e| match e {
            EngineError::NonFiniteLogits { .. } => e.in_file(&self.path),
            other => other,
        })
    }

    /// One generation in the KV slot its prompt picks (given back after).
    fn generate(
        &mut self,
        request: &GenerateRequest,
        cancel: &CancellationToken,
        events: &Sender<GenerationEvent>,
    ) -> Result<Completion, EngineError> {
        let Worker {
            model,
            tokenizer,
            template,
            info,
            device_name,
            load_time,
            slots,
            path,
            draft,
            parallel: _,
        } = self;
        let mut turn = Turn {
            model: model.as_ref(),
            tokenizer,
            template,
            context_length: info.context_length,
            path,
            device_name,
            load_time: *load_time,
            draft: draft.as_mut(),
        };
        let mut slot = None;
        let result = turn.generate(
            &mut slot,
            &mut |prompt| Ok(slots.take(model.as_ref(), prompt)),
            request,
            cancel,
            events,
        );
        if let Some(slot) = slot {
            slots.give_back(slot);
        }
        result
    }

    fn bench(
        &mut self,
        prompt_tokens: usize,
        gen_tokens: usize,
        generate: bool,
    ) -> Result<BenchRun, EngineError> {
        if prompt_tokens + gen_tokens > self.info.context_length {
            return Err(EngineError::InvalidRequest(format!(
                "{prompt_tokens} + {gen_tokens} tokens do not fit the context of {}",
                self.info.context_length
            )));
        }
        let vocab = u32::try_from(self.info.vocab_size.max(2)).unwrap_or(u32::MAX);
        // A fixed walk over the vocabulary; xtask/bench_ref.py uses the same ids.
        let ids = |n: usize| -> Vec<u32> {
            (0..n as u64)
                .map(|i| 1 + u32::try_from(i * 7919 % u64::from(vocab - 1)).unwrap_or(0))
                .collect()
        };
        let prompt = ids(prompt_tokens);
        let mut decode = ids(gen_tokens);
        decode.reverse();

        // A cache of the bench's own: the conversations' slots stay as they are.
        if let Some(draft) = self.draft.as_mut() {
            draft.drafter().truncate(0);
        }
        if generate {
            return self.bench_generate(&prompt, gen_tokens);
        }
        let mut cache = self.model.new_cache();
        let started = Instant::now();
        let mut pos = 0;
        for chunk in prompt.chunks(generate::PREFILL_CHUNK) {
            self.model.forward(&mut cache, chunk, pos)?;
            pos += chunk.len();
        }
        let prefilled = Instant::now();
        for &token in &decode {
            self.model.forward(&mut cache, &[token], pos)?;
            pos += 1;
        }
        let done = Instant::now();
        Ok(BenchRun {
            prefill_tok_s: prompt_tokens as f64 / (prefilled - started).as_secs_f64(),
            decode_tok_s: gen_tokens as f64 / (done - prefilled).as_secs_f64(),
            gen_tokens,
            draft_tokens: 0,
            draft_accepted: 0,
        })
    }

    /// The bench's decode as a greedy generation after `prompt` (in an
    /// empty cache of its own).
    fn bench_generate(
        &mut self,
        prompt: &[u32],
        gen_tokens: usize,
    ) -> Result<BenchRun, EngineError> {
        let request = GenerateRequest {
            prompt: Prompt::Text(String::new()),
            sampling: crate::SamplingParams::greedy(),
            max_tokens: Some(gen_tokens),
            ..GenerateRequest::chat(Vec::new())
        };
        let mut cached = generate::Cached::new(self.model.new_cache());
        let mut run = generate::Run {
            model: self.model.as_ref(),
            cached: &mut cached,
            tokenizer: self.tokenizer.as_ref(),
            context_length: self.info.context_length,
            draft: self.draft.as_mut().map(Draft::drafter),
        };
        let result = run.generate(prompt, &request, &CancellationToken::new(), &mut |_| {});
        if let Some(draft) = self.draft.as_mut() {
            draft.drafter().truncate(0);
        }
        let stats = result?.stats;
        Ok(BenchRun {
            prefill_tok_s: stats.prefill_tok_s,
            decode_tok_s: stats.decode_tok_s,
            gen_tokens: stats.completion_tokens,
            draft_tokens: stats.draft_tokens,
            draft_accepted: stats.draft_accepted,
        })
    }
}
