//! The local model: one loaded at a time, swapped when a conversation needs
//! another (loading runs off the async threads), and [`LocalBackend`], the
//! engine behind the same [`ChatBackend`] seam as the cloud providers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_backend::{
    BackendError, BackendId, CancellationToken, ChatBackend, ChatRequest, Completion, EngineStats,
    ErrorKind, FinishReason, PromptMode, Role, TokenSink, Usage,
};
use hearth_engine::{
    Engine, EngineError, EngineOptions, GenerateRequest, GenerationEvent, OutputFormat, Prompt,
    SamplingParams, StopReason,
};
use tokio::sync::Mutex;

use crate::{CoreError, LoadSettings};

/// The backend id's provider part for answers from the local engine, as
/// recorded on messages and usage records.
pub const LOCAL_BACKEND: &str = "local";

struct Loaded {
    path: PathBuf,
    /// What it was loaded with: other options load it again.
    options: EngineOptions,
    engine: Arc<Engine>,
    last_used: Instant,
}

/// The loaded local model, if any.
pub(crate) struct LocalModels {
    options: EngineOptions,
    forced: LoadSettings,
    current: Mutex<Option<Loaded>>,
}

impl LocalModels {
    pub(crate) fn new(options: EngineOptions, forced: LoadSettings) -> Self {
        Self {
            options,
            forced,
            current: Mutex::new(None),
        }
    }

    /// The options `model`'s own load settings give: the app's, overlaid
    /// with them, then with what the app forces.
    pub(crate) fn options_for(&self, model: &LoadSettings) -> EngineOptions {
        self.forced.apply(&model.apply(&self.options))
    }

    /// The engine for the model at `path` loaded with `options`, loading it
    /// (and dropping the one loaded before) when needed.
    pub(crate) async fn get(
        &self,
        path: &Path,
        options: EngineOptions,
    ) -> Result<Arc<Engine>, CoreError> {
        let mut current = self.current.lock().await;
        if let Some(loaded) = current
            .as_mut()
            .filter(|l| l.path == path && l.options == options)
        {
            loaded.last_used = Instant::now();
            return Ok(loaded.engine.clone());
        }
        // Free the old model's memory before loading the next one.
        *current = None;
        let (owned, load_with) = (path.to_path_buf(), options.clone());
        let engine = tokio::task::spawn_blocking(move || Engine::load(owned, load_with))
            .await
            .map_err(|_| CoreError::WorkerGone)??;
        let engine = Arc::new(engine);
        tracing::info!(
            model = %path.display(),
            secs = engine.load_time().as_secs_f64(),
            "model loaded"
        );
        *current = Some(Loaded {
            path: path.to_path_buf(),
            options,
            engine: engine.clone(),
            last_used: Instant::now(),
        });
        Ok(engine)
    }

    /// Frees the loaded model when nothing has asked for it for `idle` and no
    /// generation holds it; returns whether one was unloaded.
    pub(crate) async fn unload_if_idle(&self, idle: Duration) -> bool {
        let mut current = self.current.lock().await;
        let unload = current.as_ref().is_some_and(|loaded| {
            loaded.last_used.elapsed() >= idle && Arc::strong_count(&loaded.engine) == 1
        });
        if unload && let Some(loaded) = current.take() {
            tracing::info!(model = %loaded.path.display(), "model unloaded after being idle");
        }
        unload
    }
}

/// A loaded local model as a [`ChatBackend`]. Cheap to clone; the engine's
/// worker thread does the work, and a blocking task relays its text.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    engine: Arc<Engine>,
    /// The model's name in answers and usage records.
    name: String,
}

impl LocalBackend {
    /// The engine, answering as `name` (its id is `local:NAME`).
    pub fn new(engine: Arc<Engine>, name: impl Into<String>) -> Self {
        Self {
            engine,
            name: name.into(),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

#[async_trait::async_trait]
impl ChatBackend for LocalBackend {
    fn id(&self) -> BackendId {
        BackendId::new(LOCAL_BACKEND, &self.name)
    }

    async fn stream(
        &self,
        req: ChatRequest,
        out: TokenSink,
        cancel: CancellationToken,
    ) -> Result<Completion, BackendError> {
        let request = generate_request(req)?;
        let events = self.engine.generate(request, cancel);
        // The engine streams over a std channel from its worker thread; a
        // blocking task relays it until the end, so the worker is never left
        // writing into a channel nobody reads.
        let finished = tokio::task::spawn_blocking(move || {
            for event in events {
                match event {
                    GenerationEvent::Token(piece) => {
                        out.send(piece);
                    }
                    GenerationEvent::Done(result) => return result,
                }
            }
            Err(EngineError::WorkerGone)
        })
        .await
        .map_err(|_| engine_error(&EngineError::WorkerGone))?;
        let completion = finished.map_err(|e| engine_error(&e))?;
        Ok(self.completion(completion))
    }

    fn context_window(&self) -> Option<usize> {
        Some(self.engine.info().context_length)
    }

    fn count_tokens(&self, req: &ChatRequest) -> Result<Option<usize>, BackendError> {
        let prompt = prompt(req)?;
        // Counting renders the model's chat template: a stranger's code that
        // may run up to its budget (seconds), so never on an async worker.
        let tokens =
            off_the_async_workers(|| self.engine.prompt_tokens_thinking(&prompt, req.thinking))
                .map_err(|e| engine_error(&e))?;
        Ok(Some(tokens.len()))
    }
}

impl LocalBackend {
    fn completion(&self, done: hearth_engine::Completion) -> Completion {
        let stats = done.stats;
        Completion {
            text: done.text,
            finish: match done.stop_reason {
                _ if !done.tool_calls.is_empty() => FinishReason::ToolCalls,
                StopReason::Eos => FinishReason::Stop,
                StopReason::StopString => FinishReason::StopSequence,
                StopReason::MaxTokens => FinishReason::Length,
                StopReason::ContextFull => FinishReason::ContextFull,
                StopReason::Cancelled => FinishReason::Cancelled,
            },
            usage: Some(Usage {
                input_tokens: stats.prompt_tokens as u64,
                output_tokens: stats.completion_tokens as u64,
            }),
            model: self.name.clone(),
            time_to_first_token: Some(stats.time_to_first_token),
            retries: 0,
            engine: Some(EngineStats {
                prompt_tokens_reused: stats.prompt_tokens_reused as u64,
                prefill_tok_s: stats.prefill_tok_s,
                decode_tok_s: stats.decode_tok_s,
                load_time: stats.load_time,
                device: stats.device,
                seed: stats.seed,
                draft_tokens: stats.draft_tokens as u64,
                draft_accepted: stats.draft_accepted as u64,
            }),
            logprobs: done.logprobs,
            tool_calls: done.tool_calls,
        }
    }
}

/// The engine's request for a backend request: the prompt its mode names, and
/// the engine's defaults where the request leaves a setting open (and for
/// whatever the seam does not carry).
fn generate_request(req: ChatRequest) -> Result<GenerateRequest, BackendError> {
    let defaults = SamplingParams::default();
    let count = |n: Option<u32>, default: usize| n.map_or(default, |n| n as usize);
    Ok(GenerateRequest {
        prompt: prompt(&req)?,
        sampling: SamplingParams {
            temperature: req.temperature.unwrap_or(defaults.temperature),
            top_k: count(req.top_k, defaults.top_k),
            top_p: req.top_p.unwrap_or(defaults.top_p),
            min_p: req.min_p.unwrap_or(defaults.min_p),
            repeat_penalty: req.repeat_penalty.unwrap_or(defaults.repeat_penalty),
            repeat_last_n: count(req.repeat_last_n, defaults.repeat_last_n),
            seed: req.seed,
        },
        max_tokens: req.max_tokens.map(|n| n as usize),
        stop: req.stop,
        format: if req.json {
            OutputFormat::JsonObject
        } else {
            OutputFormat::Text
        },
        logprobs: req.logprobs.map(usize::from),
        thinking: req.thinking,
    })
}

/// What the engine continues for a request's messages read in its mode (a
/// chat with tools, or with earlier calls and results, renders them).
fn prompt(req: &ChatRequest) -> Result<Prompt, BackendError> {
    let messages = &req.messages;
    let uses_tools = !req.tools.is_empty()
        || messages
            .iter()
            .any(|m| m.role == Role::Tool || !m.tool_calls.is_empty());
    Ok(match req.mode {
        PromptMode::Chat if uses_tools => Prompt::Tools {
            messages: messages.clone(),
            tools: req.tools.clone(),
            choice: req.tool_choice.clone(),
        },
        PromptMode::Chat => Prompt::Chat(messages.to_vec()),
        PromptMode::Continue => match messages.split_last() {
            Some((last, before)) if last.role == Role::Assistant => Prompt::Continue {
                messages: before.to_vec(),
                partial: last.content.clone(),
            },
            _ => {
                return Err(BackendError::new(
                    ErrorKind::Rejected,
                    "there is no answer to continue: the last message is not the assistant's",
                ));
            }
        },
        PromptMode::Text => Prompt::Text(messages.iter().map(|m| m.content.as_str()).collect()),
    })
}

/// Runs `work` (synchronous, possibly slow) so that it does not hold up the
/// async tasks: on a multi-threaded runtime's worker, the worker's other
/// tasks move to another thread while it runs (`block_in_place`). Elsewhere
/// (a blocking thread, no runtime) it just runs; a current-thread runtime has
/// no other thread to hand its tasks to, so there too it just runs.
fn off_the_async_workers<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// An engine failure as the seam reports it; its text is the engine's.
fn engine_error(err: &EngineError) -> BackendError {
    BackendError::new(ErrorKind::Local, err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_backend::{Message, ToolCall, ToolChoice, ToolSpec};

    fn prompt(messages: &[Message], mode: PromptMode) -> Result<Prompt, BackendError> {
        super::prompt(&request(messages.to_vec(), mode))
    }

    #[test]
    fn tools_and_tool_history_make_a_tools_prompt() {
        let tool = ToolSpec::new(
            "get_time",
            "the time",
            serde_json::json!({"type": "object"}),
        );
        let req = ChatRequest {
            tools: vec![tool.clone()],
            tool_choice: ToolChoice::Required,
            ..request(vec![Message::user("time?")], PromptMode::Chat)
        };
        assert_eq!(
            super::prompt(&req).ok(),
            Some(Prompt::Tools {
                messages: vec![Message::user("time?")],
                tools: vec![tool],
                choice: ToolChoice::Required,
            })
        );
        let history = vec![
            Message::user("time?"),
            Message::assistant_calls("", vec![ToolCall::new("c1", "get_time", "{}")]),
            Message::tool("c1", "noon"),
        ];
        assert!(matches!(
            prompt(&history, PromptMode::Chat),
            Ok(Prompt::Tools { .. })
        ));
    }

    /// Issue 19: a model's chat template is code from a stranger; however
    /// long it runs (up to its budget), it runs off the async workers. On a
    /// runtime with one worker, a task spawned while the template renders
    /// runs before the render ends.
    #[test]
    fn a_template_bomb_renders_off_the_async_workers() {
        let bomb =
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.gguf");
        let mut writer = hearth_testkit::gguf::TinyLlama::default().writer();
        writer.set(
            "tokenizer.chat_template",
            hearth_testkit::gguf::Kv::str(bomb),
        );
        std::fs::write(&path, writer.to_bytes()).unwrap();
        let engine = Engine::load(&path, EngineOptions::default()).unwrap();
        let backend = LocalBackend::new(Arc::new(engine), "bomb");
        let req = request(vec![Message::user("hi")], PromptMode::Chat);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (counted, rendered_at, probe_ran_at) = runtime
            .block_on(runtime.spawn(async move {
                // Spawned from the one worker: it can only run on that worker.
                let probe = tokio::spawn(async { Instant::now() });
                let counted = backend.count_tokens(&req);
                let rendered_at = Instant::now();
                (counted, rendered_at, probe.await.unwrap())
            }))
            .unwrap();
        let err = counted.unwrap_err();
        assert!(err.to_string().contains("too expensive"), "{err}");
        assert!(
            probe_ran_at < rendered_at,
            "the task spawned during the render ran only after it ended"
        );
    }

    fn request(messages: Vec<Message>, mode: PromptMode) -> ChatRequest {
        ChatRequest {
            messages,
            mode,
            ..ChatRequest::default()
        }
    }

    #[test]
    fn each_mode_is_the_engine_prompt_it_names() {
        let chat = vec![Message::system("be brief"), Message::user("hi")];
        assert_eq!(
            prompt(&chat, PromptMode::Chat).ok(),
            Some(Prompt::Chat(chat.clone()))
        );
        let mut cut = chat.clone();
        cut.push(Message::assistant("Hel"));
        assert_eq!(
            prompt(&cut, PromptMode::Continue).ok(),
            Some(Prompt::Continue {
                messages: chat.clone(),
                partial: "Hel".into()
            })
        );
        assert_eq!(
            prompt(&[Message::user("Once upon")], PromptMode::Text).ok(),
            Some(Prompt::Text("Once upon".into()))
        );
    }

    #[test]
    fn continuing_needs_an_answer_to_continue() {
        let err = prompt(&[Message::user("hi")], PromptMode::Continue).err();
        assert_eq!(err.map(|e| e.kind), Some(ErrorKind::Rejected));
        assert!(prompt(&[], PromptMode::Continue).is_err());
    }

    #[test]
    fn open_settings_are_the_engine_defaults_and_set_ones_pass_through() {
        let defaults = SamplingParams::default();
        let plain = generate_request(request(vec![Message::user("hi")], PromptMode::Chat))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain.sampling, defaults);
        assert_eq!((plain.max_tokens, plain.format), (None, OutputFormat::Text));

        let set = generate_request(ChatRequest {
            temperature: Some(0.0),
            top_k: Some(5),
            top_p: Some(0.5),
            min_p: Some(0.1),
            repeat_penalty: Some(1.1),
            repeat_last_n: Some(8),
            seed: Some(7),
            max_tokens: Some(12),
            stop: vec!["\n".into()],
            json: true,
            ..request(vec![Message::user("hi")], PromptMode::Chat)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            set.sampling,
            SamplingParams {
                temperature: 0.0,
                top_k: 5,
                top_p: 0.5,
                min_p: 0.1,
                repeat_penalty: 1.1,
                repeat_last_n: 8,
                seed: Some(7),
            }
        );
        assert_eq!(set.max_tokens, Some(12));
        assert_eq!(set.stop, ["\n"]);
        assert_eq!(set.format, OutputFormat::JsonObject);
    }
}
