//! `cargo xtask bench store`: the history database at scale. 100,000 messages in
//! 5,000 conversations, encrypted as in production; search, the first page of the
//! conversation list and appending a message, each as p50/p95 next to its target
//! and next to the same work on a plaintext database (the cost of encryption).

use std::time::{Duration, Instant};

use anyhow::Result;
use hearth_backend::Role;
use hearth_store::{
    ConversationId, DbKey, ListQuery, MessageStatus, NewConversation, NewMessage, Store,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CONVERSATIONS: usize = 5_000;
const MESSAGES_PER_CONVERSATION: usize = 20;

const WORDS: &[&str] = &[
    "the",
    "a",
    "river",
    "garden",
    "model",
    "token",
    "privacy",
    "kitchen",
    "recipe",
    "bread",
    "flour",
    "yeast",
    "oven",
    "travel",
    "train",
    "ticket",
    "berlin",
    "paris",
    "lisbon",
    "museum",
    "python",
    "rust",
    "compiler",
    "borrow",
    "checker",
    "lifetime",
    "async",
    "thread",
    "database",
    "index",
    "query",
    "search",
    "snippet",
    "highlight",
    "encryption",
    "keychain",
    "passphrase",
    "mountain",
    "hiking",
    "boots",
    "weather",
    "forecast",
    "rain",
    "sunny",
    "winter",
    "summer",
    "guitar",
    "chord",
    "melody",
    "piano",
    "practice",
    "exercise",
    "running",
    "marathon",
    "knee",
    "doctor",
    "appointment",
    "budget",
    "invoice",
    "tax",
    "salary",
    "letter",
    "email",
    "meeting",
    "project",
    "deadline",
    "report",
    "chapter",
    "novel",
    "poem",
    "dragon",
    "castle",
    "knight",
    "quantum",
    "physics",
    "energy",
    "battery",
    "solar",
    "panel",
    "electric",
    "car",
    "bicycle",
    "coffee",
    "tea",
    "espresso",
    "milk",
    "sugar",
    "cake",
    "chocolate",
    "birthday",
    "gift",
    "is",
    "and",
    "to",
    "of",
    "in",
    "for",
    "with",
    "on",
    "how",
    "why",
    "what",
    "when",
    "can",
];

fn sentence(rng: &mut StdRng, words: usize) -> String {
    (0..words)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

struct Seeded {
    _dir: tempfile::TempDir,
    store: Store,
    conversations: Vec<ConversationId>,
    leaves: Vec<Option<hearth_store::MessageId>>,
}

fn seed(key: &DbKey) -> Result<Seeded> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&dir.path().join("bench.db"), key)?;
    let mut rng = StdRng::seed_from_u64(7);
    let mut conversations = Vec::with_capacity(CONVERSATIONS);
    let mut leaves = Vec::with_capacity(CONVERSATIONS);
    for c in 0..CONVERSATIONS {
        let conv = store.create_conversation(&NewConversation {
            title: Some(format!("{} {c}", sentence(&mut rng, 4))),
            ..NewConversation::default()
        })?;
        let mut parent = None;
        for i in 0..MESSAGES_PER_CONVERSATION {
            let len = rng.random_range(8..80);
            let m = store.append_message(&NewMessage {
                conversation_id: conv.id.clone(),
                parent_id: parent,
                role: if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                },
                content: sentence(&mut rng, len),
                status: MessageStatus::Complete,
                backend: None,
                model: None,
            })?;
            parent = Some(m.id);
        }
        conversations.push(conv.id);
        leaves.push(parent);
    }
    store.checkpoint()?;
    Ok(Seeded {
        _dir: dir,
        store,
        conversations,
        leaves,
    })
}

/// (p50, p95) of `runs` timings of `op`.
fn percentiles(
    runs: usize,
    mut op: impl FnMut(usize) -> Result<()>,
) -> Result<(Duration, Duration)> {
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let start = Instant::now();
        op(i)?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok((
        times[runs / 2],
        times[(runs * 95).div_ceil(100).min(runs) - 1],
    ))
}

struct Row {
    p50: Duration,
    p95: Duration,
}

fn measure(seeded: &mut Seeded) -> Result<[Row; 3]> {
    let mut rng = StdRng::seed_from_u64(11);
    let queries: Vec<String> = (0..100)
        .map(|i| match i % 3 {
            0 => WORDS[rng.random_range(0..WORDS.len())].to_owned(),
            1 => sentence(&mut rng, 2),
            _ => {
                let w = WORDS[rng.random_range(0..WORDS.len())];
                w[..w.len().min(3)].to_owned()
            }
        })
        .collect();
    let store = &seeded.store;
    let (s50, s95) = percentiles(queries.len(), |i| {
        store.search(&queries[i], 20)?;
        Ok(())
    })?;
    let (l50, l95) = percentiles(200, |_| {
        store.list_conversations(&ListQuery::default())?;
        Ok(())
    })?;
    let (conversations, leaves) = (&seeded.conversations, &mut seeded.leaves);
    let (a50, a95) = percentiles(500, |i| {
        let c = (i * 7919) % conversations.len();
        let m = store.append_message(&NewMessage {
            conversation_id: conversations[c].clone(),
            parent_id: leaves[c].clone(),
            role: Role::User,
            content: sentence(&mut rng, 30),
            status: MessageStatus::Complete,
            backend: None,
            model: None,
        })?;
        leaves[c] = Some(m.id);
        Ok(())
    })?;
    Ok([
        Row { p50: s50, p95: s95 },
        Row { p50: l50, p95: l95 },
        Row { p50: a50, p95: a95 },
    ])
}

#[allow(clippy::print_stdout)]
pub(crate) fn bench() -> Result<()> {
    let total = CONVERSATIONS * MESSAGES_PER_CONVERSATION;
    println!(
        "store: seeding {total} messages in {CONVERSATIONS} conversations (encrypted and plaintext)..."
    );
    let start = Instant::now();
    let mut encrypted = seed(&DbKey::Raw([0x5a; 32]))?;
    let seed_secs = start.elapsed().as_secs_f64();
    let mut plain = seed(&DbKey::Plaintext)?;
    let ours = measure(&mut encrypted)?;
    let reference = measure(&mut plain)?;
    println!(
        "seeded the encrypted database in {seed_secs:.1} s ({:.0} appends/s)",
        total as f64 / seed_secs
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>10} | {:>9} {:>12}",
        "operation", "p50 ms", "p95 ms", "target", "target/p95", "plain p95", "cipher/plain"
    );
    let names = [
        "search (20 hits)",
        "conversation list, page 1",
        "append a message",
    ];
    let targets = [50.0, 10.0, 2.0];
    for ((name, target), (row, plain)) in names.iter().zip(targets).zip(ours.iter().zip(&reference))
    {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<28} {:>9.3} {:>9.3} {:>9.1} {:>10.1} | {:>9.3} {:>12.2}",
            name,
            ms(row.p50),
            ms(row.p95),
            target,
            target / ms(row.p95),
            ms(plain.p95),
            ms(row.p95) / ms(plain.p95),
        );
    }
    println!("target/p95 > 1 meets the target; cipher/plain is the cost of encryption.");
    Ok(())
}
