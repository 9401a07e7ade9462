//! `cargo xtask bench providers`: a long streamed answer from the provider
//! stand-ins on 127.0.0.1, through hearth-providers (SSE parsing, the wire
//! translator, the token sink) next to a plain streaming POST of the same
//! request that only counts bytes. The ratios are what Hearth's HTTP layer
//! costs over the wire: total time and time to the first piece of text.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hearth_backend::{ChatRequest, Message, TokenSink};
use hearth_providers::{HttpPolicy, Network, Provider, ProviderConfig, ProviderKind};
use hearth_testkit::providers::{StandIn, Wire};
use tokio_util::sync::CancellationToken;

const RUNS: usize = 5;
/// Words in the streamed answer (one event each).
const WORDS: usize = 20_000;

#[allow(clippy::print_stdout)]
pub(crate) fn bench() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    println!("providers: a {WORDS}-word streamed answer from 127.0.0.1 (median of {RUNS})");
    println!(
        "  {:<10} {:>12} {:>12} {:>10} {:>12} {:>12} {:>10}",
        "wire", "plain ms", "hearth ms", "ratio", "plain ttft", "hearth ttft", "ratio"
    );
    for (wire, kind) in [
        (Wire::OpenAi, ProviderKind::OpenAi),
        (Wire::Anthropic, ProviderKind::Anthropic),
        (Wire::Gemini, ProviderKind::Gemini),
    ] {
        runtime.block_on(one(wire, kind))?;
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
async fn one(wire: Wire, kind: ProviderKind) -> Result<()> {
    let standin = StandIn::start(wire).await;
    let answer: String = (0..WORDS).map(|i| format!("word{i} ")).collect();
    standin.set_answer(answer.trim_end());
    let key = "sk-bench-key-000000000000";
    let config = ProviderConfig::new("bench", kind)
        .with_base_url(standin.base_url())
        .with_api_key(key.into());
    let provider = Arc::new(Provider::new(
        config,
        HttpPolicy::default(),
        Network::default(),
    )?);
    let request = ChatRequest {
        model: "bench-model".into(),
        messages: vec![Message::user("Write a long answer.")],
        max_tokens: Some(100_000),
        ..ChatRequest::default()
    };

    // The exact request Hearth sends, replayed with a plain client.
    provider
        .chat(
            request.clone(),
            TokenSink::channel().0,
            CancellationToken::new(),
        )
        .await
        .context("warm-up")?;
    let sent = standin.requests().pop().context("no request recorded")?;
    let url = format!(
        "{}{}{}",
        standin.base_url().trim_end_matches("/v1"),
        sent.path,
        sent.query.map(|q| format!("?{q}")).unwrap_or_default()
    );
    let http = reqwest::Client::new();

    let (mut plain, mut plain_first) = (Vec::new(), Vec::new());
    let (mut hearth, mut hearth_first) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut post = http.post(&url).json(&sent.body);
        for (name, value) in &sent.headers {
            if matches!(
                name.as_str(),
                "authorization" | "x-api-key" | "x-goog-api-key" | "anthropic-version"
            ) {
                post = post.header(name, value);
            }
        }
        let mut response = post.send().await?.error_for_status()?;
        let mut first = None;
        let mut bytes = 0;
        while let Some(chunk) = response.chunk().await? {
            first.get_or_insert_with(|| started.elapsed());
            bytes += chunk.len();
        }
        anyhow::ensure!(bytes > answer.len(), "short plain read: {bytes} bytes");
        plain.push(started.elapsed());
        plain_first.push(first.unwrap_or_default());

        let (sink, mut pieces) = TokenSink::channel();
        let started = Instant::now();
        let drain = tokio::spawn(async move {
            let mut first = None;
            let mut text = String::new();
            while let Some(piece) = pieces.recv().await {
                first.get_or_insert_with(|| started.elapsed());
                text.push_str(&piece);
            }
            (first, text)
        });
        let completion = provider
            .chat(request.clone(), sink, CancellationToken::new())
            .await?;
        hearth.push(started.elapsed());
        let (first, text) = drain.await?;
        anyhow::ensure!(
            text == completion.text && text.len() >= answer.trim_end().len(),
            "short answer"
        );
        hearth_first.push(first.unwrap_or_default());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p, h) = (median(plain), median(hearth));
    let (pf, hf) = (median(plain_first), median(hearth_first));
    println!(
        "  {:<10} {:>12.1} {:>12.1} {:>10.2} {:>12.2} {:>12.2} {:>10.2}",
        kind.as_str(),
        ms(p),
        ms(h),
        h.as_secs_f64() / p.as_secs_f64(),
        ms(pf),
        ms(hf),
        hf.as_secs_f64() / pf.as_secs_f64().max(1e-9)
    );
    Ok(())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}
