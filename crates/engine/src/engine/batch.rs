//! Continuous batching (`hearth serve --parallel N`): several generations at
//! once, their decode steps run as one batched forward.
//!
//! Each generation runs the same loop as a lone one (`generate.rs`, through
//! [`super::turn::Turn`]) on a thread of its own, against a [`Proxy`] of the
//! model whose forwards go to the worker thread. The worker owns the model
//! and the KV slots. A forward of several tokens (a prompt's chunk, a draft
//! check) runs at once, on its own. A single-token decode step waits until
//! every running generation has one pending, and then they all run as one
//! [`Model::forward_batch`]: the weights are read once for all the rows,
//! which is what decoding spends its time on. A generation that ends (done,
//! cancelled, failed, or its thread gone) leaves the batch at once, so the
//! others never wait for it. Requests past `N` wait in the worker's queue.
//!
//! Each generation's KV cache moves with its step to the worker and back,
//! so no cache is shared and nothing is locked.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use candle_core::Tensor;
use tokio_util::sync::CancellationToken;

use super::turn::Turn;
use super::{GenerationEvent, Job, Worker};
use crate::error::EngineError;
use crate::generate::{Cached, GenerateRequest};
use crate::models::{Model, SeqCache};
use crate::template::ChatTemplate;
use crate::tokenizer::Tokenizer;

/// The most generations `--parallel` runs at once.
pub const MAX_PARALLEL: usize = 64;

/// What the worker hears in parallel mode: the engine's jobs (relayed) and
/// the running generations' requests.
pub(super) enum Msg {
    Job(Job),
    /// The engine was dropped: no more jobs.
    Closed,
    /// A generation asks for the KV slot of its prompt.
    TakeSlot {
        prompt: Vec<u32>,
        reply: Sender<Cached>,
    },
    /// A generation's forward.
    Forward(Step),
    /// A generation ended; its slot, if it took one, comes back.
    Left {
        slot: Option<Cached>,
    },
}

/// One forward asked by a generation, with its cache (moved, not shared).
pub(super) struct Step {
    cache: SeqCache,
    tokens: Vec<u32>,
    pos: usize,
    rows: usize,
    reply: Sender<Reply>,
}

/// The worker's answer to a [`Step`]: the cache back, the logits, and how
/// many generations the forward ran for (1 unless it was a batched step).
struct Reply {
    cache: SeqCache,
    logits: Result<Tensor, EngineError>,
    batch: usize,
}

impl Step {
    /// A single-token decode step at the cache's end: one row of a batch.
    fn is_decode(&self) -> bool {
        self.tokens.len() == 1 && self.rows == 1 && self.pos == self.cache.len()
    }

    /// Sends the cache back with the logits of a forward run for `batch`
    /// generations (a generation that is gone no longer waits for it).
    fn answer(self, logits: Result<Tensor, EngineError>, batch: usize) {
        let _ = self.reply.send(Reply {
            cache: self.cache,
            logits,
            batch,
        });
    }
}

/// The model as a generation on its own thread sees it: every forward is
/// sent to the worker with the cache, and waits for the cache and the logits.
struct Proxy {
    model: Arc<dyn Model>,
    worker: Sender<Msg>,
    /// The largest batch any of this generation's forwards ran in.
    max_batch: AtomicUsize,
}

impl Model for Proxy {
    fn new_cache(&self) -> SeqCache {
        self.model.new_cache()
    }

    fn full_cache_bytes(&self) -> usize {
        self.model.full_cache_bytes()
    }

    fn forward_tail(
        &self,
        cache: &mut SeqCache,
        tokens: &[u32],
        pos: usize,
        rows: usize,
    ) -> Result<Tensor, EngineError> {
        let (reply, answer) = mpsc::channel();
        let step = Step {
            cache: std::mem::take(cache),
            tokens: tokens.to_vec(),
            pos,
            rows,
            reply,
        };
        self.worker
            .send(Msg::Forward(step))
            .map_err(|_| EngineError::WorkerGone)?;
        let reply = answer.recv().map_err(|_| EngineError::WorkerGone)?;
        *cache = reply.cache;
        self.max_batch.fetch_max(reply.batch, Ordering::Relaxed);
        reply.logits
    }
}

/// Tells the worker a generation ended, with its slot, even when its thread
/// unwinds: the batch must not wait for a generation that is gone.
struct Leave {
    worker: Sender<Msg>,
    slot: Option<Cached>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let _ = self.worker.send(Msg::Left {
            slot: self.slot.take(),
        });
    }
}

/// What a generation's thread takes along.
struct Loaded {
    model: Arc<dyn Model>,
    tokenizer: Arc<Tokenizer>,
    template: Arc<ChatTemplate>,
    context_length: usize,
    path: PathBuf,
    device_name: String,
    load_time: Duration,
}

/// A generation request waiting for a free place.
struct Waiting {
    request: GenerateRequest,
    cancel: CancellationToken,
    events: Sender<GenerationEvent>,
}

impl Worker {
    /// Serves `jobs` running up to `self.parallel` generations at once.
    pub(super) fn serve_parallel(mut self, jobs: Receiver<Job>) {
        let (worker, inbox) = mpsc::channel();
        let relay = worker.clone();
        let relayed = std::thread::Builder::new()
            .name("hearth-jobs".into())
            .spawn(move || {
                for job in jobs {
                    if relay.send(Msg::Job(job)).is_err() {
                        return;
                    }
                }
                let _ = relay.send(Msg::Closed);
            });
        if let Err(e) = relayed {
            tracing::error!(error = %e, "no thread to relay the engine's jobs");
            return;
        }
        let mut closed = false;
        let mut active = 0usize;
        let mut waiting = VecDeque::new();
        let mut decodes: Vec<Step> = Vec::new();
        while !(closed && active == 0 && waiting.is_empty()) {
            let Ok(msg) = inbox.recv() else { break };
            match msg {
                Msg::Closed => closed = true,
                Msg::Job(Job::Generate {
                    request,
                    cancel,
                    events,
                }) => {
                    let job = Waiting {
                        request,
                        cancel,
                        events,
                    };
                    if active < self.parallel {
                        active += usize::from(self.start(&worker, job));
                    } else {
                        waiting.push_back(job);
                    }
                }
                // A bench or a perplexity run: the generations pause meanwhile.
                Msg::Job(job) => self.run(job),
                Msg::TakeSlot { prompt, reply } => {
                    let slot = self.slots.take(self.model.as_ref(), &prompt);
                    if let Err(mpsc::SendError(slot)) = reply.send(slot) {
                        self.slots.give_back(slot);
                    }
                }
                Msg::Forward(step) if step.is_decode() => decodes.push(step),
                Msg::Forward(mut step) => {
                    let logits =
                        self.model
                            .forward_tail(&mut step.cache, &step.tokens, step.pos, step.rows);
                    step.answer(logits, 1);
                }
                Msg::Left { slot } => {
                    if let Some(slot) = slot {
                        self.slots.give_back(slot);
                    }
                    active = active.saturating_sub(1);
                    while active < self.parallel {
                        let Some(job) = waiting.pop_front() else {
                            break;
                        };
                        active += usize::from(self.start(&worker, job));
                    }
                }
            }
            // Every running generation has its next token waiting: one step.
            if !decodes.is_empty() && decodes.len() >= active {
                self.step(std::mem::take(&mut decodes));
            }
        }
    }

    /// Starts a generation on a thread of its own; `false` when no thread
    /// could be started (the request is answered with the error).
    fn start(&self, worker: &Sender<Msg>, job: Waiting) -> bool {
        let loaded = Loaded {
            model: Arc::clone(&self.model),
            tokenizer: Arc::clone(&self.tokenizer),
            template: Arc::clone(&self.template),
            context_length: self.info.context_length,
            path: self.path.clone(),
            device_name: self.device_name.clone(),
            load_time: self.load_time,
        };
        let worker = worker.clone();
        let events = job.events.clone();
        let spawned = std::thread::Builder::new()
            .name("hearth-generation".into())
            .spawn(move || generate(&loaded, worker, &job));
        match spawned {
            Ok(_) => true,
            Err(e) => {
                let _ = events.send(GenerationEvent::Done(Err(EngineError::Thread(e))));
                false
            }
        }
    }

    /// One decode step of every generation in `batch`, as one forward.
    fn step(&self, mut batch: Vec<Step>) {
        let tokens: Vec<u32> = batch.iter().map(|s| s.tokens[0]).collect();
        let logits = {
            let mut caches: Vec<&mut SeqCache> = batch.iter_mut().map(|s| &mut s.cache).collect();
            self.model.forward_batch(&mut caches, &tokens)
        };
        match logits {
            Ok(logits) => {
                let rows = batch.len();
                for (i, step) in batch.into_iter().enumerate() {
                    let row = logits.get(i).map_err(EngineError::from);
                    step.answer(row, rows);
                }
            }
            Err(e) => {
                // The caches are as they were: each on its own, so one
                // sequence's failure (its window full, bad logits) is its own.
                tracing::debug!(error = %e, rows = batch.len(), "batched step failed, run one by one");
                for mut step in batch {
                    let logits =
                        self.model
                            .forward_tail(&mut step.cache, &step.tokens, step.pos, 1);
                    step.answer(logits, 1);
                }
            }
        }
    }
}

/// One generation on its own thread, its forwards batched by the worker.
fn generate(loaded: &Loaded, worker: Sender<Msg>, job: &Waiting) {
    let proxy = Proxy {
        model: Arc::clone(&loaded.model),
        worker: worker.clone(),
        max_batch: AtomicUsize::new(1),
    };
    let mut turn = Turn {
        model: &proxy,
        tokenizer: &loaded.tokenizer,
        template: &loaded.template,
        context_length: loaded.context_length,
        path: &loaded.path,
        device_name: &loaded.device_name,
        load_time: loaded.load_time,
        draft: None,
    };
    let mut leave = Leave {
        worker: worker.clone(),
        slot: None,
    };
    let mut take = |prompt: &[u32]| {
        let (reply, slot) = mpsc::channel();
        worker
            .send(Msg::TakeSlot {
                prompt: prompt.to_vec(),
                reply,
            })
            .map_err(|_| EngineError::WorkerGone)?;
        slot.recv().map_err(|_| EngineError::WorkerGone)
    };
    let result = turn
        .generate(
            &mut leave.slot,
            &mut take,
            &job.request,
            &job.cancel,
            &job.events,
        )
        .map(|mut completion| {
            completion.stats.max_batch = proxy.max_batch.load(Ordering::Relaxed);
            completion
        });
    // The slot goes back before the answer ends, so the client's next turn
    // finds it.
    drop(leave);
    let _ = job.events.send(GenerationEvent::Done(result));
}
