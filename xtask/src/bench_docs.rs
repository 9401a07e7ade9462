//! `cargo xtask bench-docs`: how well and how fast hearth-docs retrieves, on
//! this machine, next to references measured in the same run.
//!
//! - **Quality**: a question set built offline from the manual pages Debian
//!   ships (`manpages`, `man-db`; read where they are installed, nothing is
//!   committed). Each page of section 1 becomes one document with its NAME
//!   section removed; its one-line NAME description is the question, and the
//!   page is the answer. Removing the line keeps the match from being a copy:
//!   the question's words must be found in the rest of the page. Recall@5 for
//!   vector-only, BM25-only and hybrid (RRF) search.
//! - **Indexing speed**: the corpus's chunks (about 256 tokens each) embedded by
//!   Hearth's engine next to sentence-transformers on the same texts, same
//!   thread count (`bench_docs_ref.py`); plus whole-pipeline chunks/s
//!   (extract, chunk, embed, store).
//! - **Query latency**: `hearth_docs::search_cached` (the vectors held in a
//!   `VectorCache`, as the app holds them) on a synthetic collection of
//!   100,000 chunks (random unit vectors, random-word text for FTS5) in an
//!   encrypted database, the query embedded by the real model each time; the
//!   one-off load of the vectors into memory is timed apart.
//!
//! `cargo xtask bench-docs` builds and runs it in release mode (optimised as
//! users get it); the build profile and the load average are printed with the
//! figures, as a busy machine inflates them.

// The report is what this command prints.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hearth_docs::{AddOptions, Embed, FileOutcome, SearchMode, VectorCache, search_cached};
use hearth_engine::Embedder;
use hearth_store::{DbKey, NewChunk, NewDocument, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Manual pages (section 1) in the question set.
    #[arg(long, default_value_t = 200)]
    pages: usize,
    /// Chunks embedded by both Hearth and the reference for the speed ratio.
    #[arg(long, default_value_t = 256)]
    speed_chunks: usize,
    /// Chunks in the synthetic collection for query latency.
    #[arg(long, default_value_t = 100_000)]
    latency_chunks: usize,
    /// Queries timed on it.
    #[arg(long, default_value_t = 40)]
    latency_queries: usize,
    /// A Python with sentence-transformers (the reference); default: the venv
    /// under ~/.cache/hearth/docs-bench-venv.
    #[arg(long)]
    python: Option<PathBuf>,
    /// The embedding model folder (default: the all-MiniLM-L6-v2 test model).
    #[arg(long)]
    model: Option<PathBuf>,
}

/// The goals, printed beside each figure.
const GOAL_RECALL: f64 = 0.9;
const GOAL_CHUNKS_PER_S: f64 = 200.0;
const GOAL_P95: Duration = Duration::from_millis(50);
const K: usize = 5;

struct Engine(Embedder);

impl Embed for Engine {
    fn model_id(&self) -> &str {
        self.0.name()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.0
            .embed(texts)
            .map(|e| e.vectors)
            .map_err(|e| e.to_string())
    }
}

/// One question: a page's NAME description, answered by that page.
struct Question {
    query: String,
    source: String,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let model = match &args.model {
        Some(m) => m.clone(),
        None => hearth_testkit::models::dir().join(hearth_testkit::models::MINILM_DIR_NAME),
    };
    if !model.join("model.safetensors").is_file() {
        bail!(
            "no embedding model at {} (cargo xtask fetch-test-models)",
            model.display()
        );
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "bench-docs on {} ({threads} threads), {} build; load average {}",
        cpu_model(),
        if cfg!(debug_assertions) {
            "dev (unoptimised: figures not representative)"
        } else {
            "release"
        },
        load_average()
    );
    let engine = Engine(Embedder::load(&model).context("loading the embedding model")?);
    println!("model: {} ({} dimensions)", engine.model_id(), engine.dim());

    let dir = tempfile::tempdir()?;
    let corpus = dir.path().join("man1");
    std::fs::create_dir_all(&corpus)?;
    let t = Instant::now();
    let questions = man_corpus(Path::new("/usr/share/man/man1"), args.pages, &corpus)?;
    println!(
        "\nquestion set: {} manual pages (section 1) rendered in {:.1} s; question = the NAME line, removed from the page",
        questions.len(),
        t.elapsed().as_secs_f64()
    );
    if questions.is_empty() {
        bail!("no manual pages found: apt-get install -y man-db manpages");
    }

    // Indexing, the whole pipeline.
    let store = Store::open_in_memory()?;
    let t = Instant::now();
    let reports = hearth_docs::add_files(
        &store,
        &engine,
        "man",
        std::slice::from_ref(&corpus),
        AddOptions::default(),
        |_| {},
    )?;
    let index_secs = t.elapsed().as_secs_f64();
    let chunks: usize = reports
        .iter()
        .map(|r| match r.outcome {
            FileOutcome::Indexed { chunks, .. } => chunks,
            _ => 0,
        })
        .sum();
    let failed = reports
        .iter()
        .filter(|r| matches!(r.outcome, FileOutcome::Failed(_)))
        .count();
    println!(
        "indexed {chunks} chunks from {} files ({failed} failed) in {index_secs:.1} s",
        reports.len()
    );

    // Quality.
    println!("\nretrieval quality: recall@{K} (the answer page among the first {K} chunks)");
    let mut hybrid_recall = 0.0;
    let cache = VectorCache::new();
    for (mode, label) in [
        (SearchMode::Vector, "vector only"),
        (SearchMode::Text, "BM25 only"),
        (SearchMode::Hybrid, "hybrid (RRF)"),
    ] {
        let (mut at1, mut at5) = (0usize, 0usize);
        for q in &questions {
            let hits = search_cached(&store, &cache, &engine, "man", &q.query, K, mode)?;
            if hits.first().is_some_and(|h| h.source == q.source) {
                at1 += 1;
            }
            if hits.iter().any(|h| h.source == q.source) {
                at5 += 1;
            }
        }
        let n = questions.len() as f64;
        let r5 = at5 as f64 / n;
        if mode == SearchMode::Hybrid {
            hybrid_recall = r5;
        }
        println!(
            "  {label:<13} recall@{K} {r5:.3}  recall@1 {:.3}  ({at5}/{} questions)",
            at1 as f64 / n,
            questions.len()
        );
    }
    println!(
        "  hybrid recall@{K} / goal {GOAL_RECALL}: {:.2}",
        hybrid_recall / GOAL_RECALL
    );

    // Indexing speed against the reference.
    let collection = store
        .doc_collection("man")?
        .context("the collection vanished")?;
    let texts: Vec<String> = store
        .doc_collection_chunks(collection.id)?
        .into_iter()
        .map(|c| match c.heading {
            Some(h) => format!("{h}\n{}", c.text),
            None => c.text,
        })
        .filter(|t| t.len() >= 600)
        .take(args.speed_chunks)
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut tokens = 0usize;
    for t in &refs {
        tokens += engine.0.count_tokens(t)?.min(engine.0.max_tokens());
    }
    engine
        .embed(&refs[..refs.len().min(8)])
        .map_err(anyhow::Error::msg)?;
    let t = Instant::now();
    engine.embed(&refs).map_err(anyhow::Error::msg)?;
    let hearth_rate = refs.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "\nindexing speed: {} chunks of {:.0} tokens on average (the model reads at most {})",
        refs.len(),
        tokens as f64 / refs.len().max(1) as f64,
        engine.0.max_tokens()
    );
    println!(
        "  hearth engine embedding: {hearth_rate:.1} chunks/s; / goal {GOAL_CHUNKS_PER_S}: {:.2}",
        hearth_rate / GOAL_CHUNKS_PER_S
    );
    println!(
        "  whole pipeline (extract, chunk, embed, store; all {chunks} chunks): {:.1} chunks/s; / embedding alone: {:.2}",
        chunks as f64 / index_secs,
        (chunks as f64 / index_secs) / hearth_rate
    );
    match reference(args, &model, &texts, threads, dir.path()) {
        Ok((rate, what)) => println!(
            "  reference ({what}, {threads} threads): {rate:.1} chunks/s; hearth / reference: {:.2}",
            hearth_rate / rate
        ),
        Err(e) => println!("  no reference run: {e:#}"),
    }

    // Latency at scale.
    latency(args, &engine, &questions)?;
    Ok(())
}

/// Renders up to `n` pages of `man_dir` (evenly spread over the sorted list) as
/// Markdown files in `out`, each without its NAME section; returns the
/// questions. Pages whose description is short, generic or shared are left out.
fn man_corpus(man_dir: &Path, n: usize, out: &Path) -> Result<Vec<Question>> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(man_dir)
        .with_context(|| format!("reading {}", man_dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".1.gz") || name.ends_with(".1")
        })
        .collect();
    pages.sort();
    // Twice as many candidates as needed, evenly spread, as some are left out.
    let stride = (pages.len() / (n * 2).max(1)).max(1);
    let mut seen = std::collections::HashSet::new();
    let mut questions = Vec::new();
    for page in pages.iter().step_by(stride) {
        if questions.len() >= n {
            break;
        }
        let Some((description, body)) = render(page) else {
            continue;
        };
        let words = description.split_whitespace().count();
        let lower = description.to_lowercase();
        if words < 4 || lower.contains("manual page for") || !seen.insert(lower) {
            continue;
        }
        if body.len() < 400 || body.len() > 30_000 {
            continue;
        }
        let stem = page
            .file_name()
            .map(|s| s.to_string_lossy().trim_end_matches(".gz").to_owned())
            .unwrap_or_default();
        let file = out.join(format!("{stem}.md"));
        std::fs::write(&file, body)?;
        let source = std::fs::canonicalize(&file)?.display().to_string();
        questions.push(Question {
            query: description,
            source,
        });
    }
    Ok(questions)
}

/// One page as plain text: (its NAME description, the rest as Markdown with
/// the section titles as headings). None when it has no usable NAME line.
fn render(page: &Path) -> Option<(String, String)> {
    let out = Command::new("man")
        .args(["--nh", "--nj", "-l"])
        .arg(page)
        .env("MANWIDTH", "80")
        .env("GROFF_NO_SGR", "1")
        .env("MAN_KEEP_FORMATTING", "")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // Overstrikes (bold `X\bX`, underline `_\bX`) to plain letters.
    let mut text = String::new();
    for c in String::from_utf8_lossy(&out.stdout).chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    // The first and last lines are the running header and footer.
    let lines = lines.get(1..lines.len().saturating_sub(1))?;
    let is_title = |l: &str| !l.is_empty() && !l.starts_with(' ');
    let start = lines.iter().position(|l| l.trim() == "NAME")?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| is_title(l))
        .map_or(lines.len(), |i| start + 1 + i);
    let name = lines[start + 1..end]
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ");
    let description = name.split_once(" - ")?.1.trim().to_owned();
    let mut body = String::new();
    for (i, line) in lines.iter().enumerate() {
        if (start..end).contains(&i) {
            continue;
        }
        if is_title(line) {
            body.push_str("\n## ");
            body.push_str(line.trim());
            body.push('\n');
        } else {
            body.push_str(line.trim());
            body.push('\n');
        }
    }
    Some((description, body))
}

/// sentence-transformers on the same texts: (chunks/s, what it was).
fn reference(
    args: &Args,
    model: &Path,
    texts: &[String],
    threads: usize,
    tmp: &Path,
) -> Result<(f64, String)> {
    let python = match &args.python {
        Some(p) => p.clone(),
        None => hearth_testkit::models::dir()
            .parent()
            .context("no cache folder")?
            .join("docs-bench-venv/bin/python"),
    };
    if !python.exists() {
        bail!(
            "{} is missing: python3 -m venv ~/.cache/hearth/docs-bench-venv && ~/.cache/hearth/docs-bench-venv/bin/pip install sentence-transformers",
            python.display()
        );
    }
    let file = tmp.join("texts.json");
    std::fs::write(&file, serde_json::to_vec(texts)?)?;
    let script = crate::workspace_root().join("xtask/bench_docs_ref.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(model)
        .arg(&file)
        .arg(threads.to_string())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "the reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let rate = v["chunks_per_s"]
        .as_f64()
        .context("no chunks_per_s from the reference")?;
    Ok((rate, v["what"].as_str().unwrap_or("reference").to_owned()))
}

const WORDS: &[&str] = &[
    "file",
    "directory",
    "list",
    "print",
    "copy",
    "remove",
    "network",
    "socket",
    "process",
    "signal",
    "memory",
    "archive",
    "compress",
    "user",
    "group",
    "password",
    "terminal",
    "display",
    "font",
    "image",
    "audio",
    "package",
    "install",
    "config",
    "kernel",
    "module",
    "device",
    "disk",
    "partition",
    "mount",
    "time",
    "date",
    "locale",
    "encoding",
    "text",
    "search",
    "pattern",
    "replace",
    "sort",
    "merge",
    "split",
    "line",
    "word",
    "count",
    "output",
    "input",
    "error",
    "option",
    "default",
    "value",
    "server",
    "client",
    "request",
    "header",
    "cache",
    "buffer",
    "stream",
    "format",
    "convert",
    "check",
    "verify",
    "key",
    "certificate",
    "mail",
];

/// `search` over a synthetic collection of `latency_chunks` chunks.
fn latency(args: &Args, engine: &Engine, questions: &[Question]) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("latency.db"), &DbKey::Raw([0x5a; 32]))?;
    let collection = store.ensure_doc_collection("synthetic", engine.model_id(), engine.dim())?;
    let mut rng = StdRng::seed_from_u64(23);
    let per_doc = 100;
    let t = Instant::now();
    let mut made = 0;
    let mut d = 0;
    while made < args.latency_chunks {
        let n = per_doc.min(args.latency_chunks - made);
        let chunks = (0..n)
            .map(|_| {
                let len = rng.random_range(120..200);
                let text = (0..len)
                    .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut vector: Vec<f32> = (0..engine.dim())
                    .map(|_| rng.random_range(-1.0f32..1.0))
                    .collect();
                let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                vector.iter_mut().for_each(|x| *x /= norm);
                NewChunk {
                    text,
                    heading: None,
                    page: None,
                    vector,
                }
            })
            .collect();
        store.put_document(
            collection.id,
            &NewDocument {
                source: format!("/synthetic/{d}.txt"),
                kind: "text".to_owned(),
                content_hash: format!("{d}"),
                bytes: 0,
                chunks,
            },
        )?;
        made += n;
        d += 1;
    }
    println!(
        "\nquery latency: {made} synthetic chunks (random unit vectors, {}-dimensional, random-word text) in an encrypted database, built in {:.1} s",
        engine.dim(),
        t.elapsed().as_secs_f64()
    );
    let queries: Vec<&str> = questions
        .iter()
        .cycle()
        .take(args.latency_queries.max(1))
        .map(|q| q.query.as_str())
        .collect();
    // The first search reads the vectors into memory (once per collection,
    // and again after it changes).
    let cache = VectorCache::new();
    let t = Instant::now();
    search_cached(
        &store,
        &cache,
        engine,
        "synthetic",
        queries[0],
        K,
        SearchMode::Hybrid,
    )?;
    let (_, bytes) = cache.usage();
    println!(
        "  first search (reads the vectors into memory): {:.0} ms; vectors held: {:.0} MB ({made} × {} f32 + ids)",
        ms(t.elapsed()),
        bytes as f64 / 1e6,
        engine.dim()
    );
    let mut embed_only = Vec::new();
    for &q in &queries {
        let t = Instant::now();
        engine.embed(&[q]).map_err(anyhow::Error::msg)?;
        embed_only.push(t.elapsed());
    }
    let (e50, _) = percentiles(&mut embed_only);
    // Each mode on its own says where the time goes.
    for (mode, label) in [
        (SearchMode::Hybrid, "hybrid search"),
        (SearchMode::Vector, "vector only"),
        (SearchMode::Text, "BM25 only"),
    ] {
        let mut total = Vec::new();
        for &q in &queries {
            let t = Instant::now();
            search_cached(&store, &cache, engine, "synthetic", q, K, mode)?;
            total.push(t.elapsed());
        }
        let (p50, p95) = percentiles(&mut total);
        println!(
            "  {label:<13} {} queries: p50 {:.1} ms, p95 {:.1} ms; p95 / goal {} ms: {:.2}",
            queries.len(),
            ms(p50),
            ms(p95),
            GOAL_P95.as_millis(),
            p95.as_secs_f64() / GOAL_P95.as_secs_f64(),
        );
    }
    println!("  embedding one query: p50 {:.1} ms", ms(e50));
    println!("  load average after: {}", load_average());
    Ok(())
}

fn percentiles(v: &mut [Duration]) -> (Duration, Duration) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.95))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "an unknown CPU".to_owned())
}
