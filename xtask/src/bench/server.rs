//! `cargo xtask bench server`: a streamed answer of the SmolLM2 test model
//! through `hearth serve`'s HTTP API (hearth-server on 127.0.0.1, SSE parsed by
//! reqwest) next to the same request to the engine directly, in one process.
//! The ratios are what the API layer costs: time to first token and decode speed.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hearth_backend::Message;
use hearth_core::{App, Config, OpenOptions, Secrets};
use hearth_engine::{Engine, EngineOptions, GenerateRequest, GenerationEvent, SamplingParams};
use hearth_secrets::MemoryStore;
use hearth_server::ServerConfig;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const RUNS: usize = 3;
const PROMPT: &str = "Write a short story about a lighthouse keeper.";
const MAX_TOKENS: usize = 96;

/// One streamed answer: time to the first text, and text pieces per second after it.
struct Run {
    ttft: Duration,
    tok_s: f64,
}

#[allow(clippy::print_stdout)]
pub(crate) fn bench() -> Result<()> {
    let model = hearth_testkit::models::smollm2();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;

    let engine = Engine::load(model.clone(), EngineOptions::default())?;
    direct(&engine)?;
    let direct = median((0..RUNS).map(|_| direct(&engine)).collect::<Result<_>>()?);
    drop(engine);

    let served = runtime.block_on(async {
        let home = tempfile::tempdir()?;
        let app = App::open_with(
            Config::with_home(home.path()),
            OpenOptions {
                secrets: Secrets::Store(std::sync::Arc::new(MemoryStore::default())),
                ..OpenOptions::default()
            },
        )?;
        let id = app.models().import(&model, false)?.id;
        let bound = hearth_server::bind(
            app,
            ServerConfig {
                port: 0,
                ..ServerConfig::default()
            },
        )
        .await?;
        let url = format!("http://{}/v1/chat/completions", bound.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(bound.serve(async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::new();
        through_server(&http, &url, &id).await?;
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            runs.push(through_server(&http, &url, &id).await?);
        }
        let _ = stop.send(());
        server.await??;
        anyhow::Ok(median(runs))
    })?;

    println!(
        "server: a streamed answer of {MAX_TOKENS} tokens (SmolLM2, greedy, median of {RUNS})"
    );
    println!(
        "  engine directly     TTFT {:>7.1} ms   {:>6.1} tok/s",
        direct.ttft.as_secs_f64() * 1000.0,
        direct.tok_s
    );
    println!(
        "  through the server  TTFT {:>7.1} ms   {:>6.1} tok/s   ratio: TTFT {:.2}x, speed {:.2} of the engine's",
        served.ttft.as_secs_f64() * 1000.0,
        served.tok_s,
        served.ttft.as_secs_f64() / direct.ttft.as_secs_f64(),
        served.tok_s / direct.tok_s
    );
    Ok(())
}

fn request() -> GenerateRequest {
    GenerateRequest {
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        max_tokens: Some(MAX_TOKENS),
        ..GenerateRequest::chat(vec![Message::user(PROMPT)])
    }
}

fn direct(engine: &Engine) -> Result<Run> {
    let started = Instant::now();
    let mut first = None;
    let mut pieces = 0usize;
    for event in engine.generate(request(), CancellationToken::new()) {
        match event {
            GenerationEvent::Token(_) => {
                first.get_or_insert_with(Instant::now);
                pieces += 1;
            }
            GenerationEvent::Done(result) => {
                result?;
            }
        }
    }
    run(started, first, pieces)
}

async fn through_server(http: &reqwest::Client, url: &str, model: &str) -> Result<Run> {
    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
        "stream": true,
    });
    let started = Instant::now();
    let mut response = http
        .post(url)
        .json(&body)
        .send()
        .await?
        .error_for_status()?;
    let mut first = None;
    let mut pieces = 0usize;
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        buffer.push_str(std::str::from_utf8(&chunk).context("SSE is not UTF-8")?);
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let Some(data) = event.trim().strip_prefix("data: ") else {
                continue;
            };
            if data == "[DONE]" {
                continue;
            }
            let value: Value = serde_json::from_str(data)?;
            if value["choices"][0]["delta"]["content"].is_string() {
                first.get_or_insert_with(Instant::now);
                pieces += 1;
            }
        }
    }
    run(started, first, pieces)
}

fn run(started: Instant, first: Option<Instant>, pieces: usize) -> Result<Run> {
    let first = first.context("no text came")?;
    let decode = first.elapsed().as_secs_f64();
    Ok(Run {
        ttft: first - started,
        tok_s: pieces.saturating_sub(1) as f64 / decode.max(1e-9),
    })
}

fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.tok_s.total_cmp(&b.tok_s));
    let tok_s = runs[runs.len() / 2].tok_s;
    runs.sort_by_key(|r| r.ttft);
    Run {
        ttft: runs[runs.len() / 2].ttft,
        tok_s,
    }
}
