//! Importing other apps' exports (fixtures in `tests/fixtures/import`, built
//! from each format's documentation and the apps' sources: see the README
//! there) and exporting everything to a folder or zip.

use std::io::Write;
use std::path::{Path, PathBuf};

use hearth_backend::Role;
use hearth_store::{
    ConversationSummary, DbKey, ImportFormat, ImportLimits, ImportReport, ListQuery, MessageStatus,
    Store, StoreError,
};

use crate::{Db, conversation, say};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(path)
}

fn import(store: &Store, path: &Path) -> ImportReport {
    store
        .import_path(path, &ImportLimits::default(), false)
        .unwrap()
}

fn all(store: &Store) -> Vec<ConversationSummary> {
    store
        .list_conversations(&ListQuery {
            include_archived: true,
            ..ListQuery::default()
        })
        .unwrap()
}

fn by_title(store: &Store, title: &str) -> ConversationSummary {
    all(store)
        .into_iter()
        .find(|c| c.title == title)
        .unwrap_or_else(|| panic!("no conversation {title:?}"))
}

/// The active branch as (role, text).
fn active(store: &Store, title: &str) -> Vec<(Role, String)> {
    let conv = by_title(store, title);
    store
        .active_path(&conv.id)
        .unwrap()
        .into_iter()
        .map(|m| (m.role, m.content))
        .collect()
}

fn zip_of(dir: &Path, entries: &[(&str, Vec<u8>)]) -> PathBuf {
    let path = dir.join("export.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

#[test]
fn chatgpt_branches_custom_instructions_and_what_is_left_out() {
    let db = Db::new();
    let store = db.open();
    let report = import(&store, &fixture("chatgpt/conversations.json"));
    assert_eq!(report.formats, [ImportFormat::ChatGpt]);
    assert_eq!((report.conversations, report.messages), (2, 9), "{report}");
    assert!(report.skipped.is_empty(), "{report:?}");
    let left: Vec<(&str, usize)> = report
        .left_out
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        left,
        [
            ("images", 1),
            ("reasoning summaries", 2),
            ("tool calls", 1),
            ("tool outputs", 1)
        ]
    );

    // The branch ChatGPT showed (current_node), past the tool call and its
    // output, with the image's caption kept.
    let path = active(&store, "Sourdough starter help");
    let texts: Vec<&str> = path.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        texts,
        [
            "How do I start a sourdough starter?",
            "Combine 50 g of flour with 50 g of water, cover loosely, and feed it twice a day.",
            "Is this bubbly enough?",
            "Yes: those bubbles mean it is active. Feed it 100 g in total and bake once it doubles.",
        ]
    );
    let roles: Vec<Role> = path.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::User, Role::Assistant]
    );
    let conv = by_title(&store, "Sourdough starter help");
    let full = store.conversation(&conv.id).unwrap();
    assert_eq!(
        full.system_prompt.as_deref(),
        Some("About me:\nI bake bread on weekends.\n\nHow to respond:\nBe concise.")
    );
    assert_eq!(full.created_at, 1_714_000_000_123);
    // Imported chats are never sent anywhere until the user says so, and
    // name no model Hearth would try to load.
    assert_eq!(full.privacy, hearth_store::PrivacyPolicy::LocalOnly);
    assert_eq!(full.model, None);
    let messages = store.active_path(&conv.id).unwrap();
    // The edited question and the regenerated answer are branches.
    assert_eq!(store.siblings(&messages[0].id).unwrap().len(), 2);
    assert_eq!(store.siblings(&messages[1].id).unwrap().len(), 2);
    assert_eq!(messages[3].model.as_deref(), Some("gpt-4o"));
    assert_eq!(messages[0].model, None);
    assert_eq!(messages[1].created_at, 1_714_000_060_123);
    // The other branch reads right when switched to.
    let other = store
        .siblings(&messages[0].id)
        .unwrap()
        .into_iter()
        .find(|id| *id != messages[0].id)
        .unwrap();
    let switched: Vec<String> = store
        .switch_branch(&other)
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(
        switched,
        [
            "How do I keep a sourdough starter alive?",
            "Feed it daily, or keep it in the fridge and feed it weekly."
        ]
    );

    // Reasoning is left out; the archived conversation stays archived.
    assert_eq!(
        active(&store, "Is 97 prime?"),
        [
            (Role::User, "Is 97 prime?".to_owned()),
            (
                Role::Assistant,
                "Yes. 97 has no divisor between 2 and its square root (9.8), so it is prime."
                    .to_owned()
            )
        ]
    );
    assert!(by_title(&store, "Is 97 prime?").archived);
    // And it is all searchable.
    assert_eq!(store.search("bubbly", 10).unwrap().len(), 1);
}

#[test]
fn a_chatgpt_zip_reads_like_its_conversations_json() {
    let dir = tempfile::tempdir().unwrap();
    let read = |p: &str| std::fs::read(fixture(p)).unwrap();
    let zip = zip_of(
        dir.path(),
        &[
            ("conversations.json", read("chatgpt/conversations.json")),
            ("user.json", read("chatgpt/user.json")),
            (
                "message_feedback.json",
                read("chatgpt/message_feedback.json"),
            ),
            ("file-3kq9Zx-jar.jpg", vec![0xff, 0xd8, 0xff, 0xe0]),
            ("chat.html", b"<html></html>".to_vec()),
        ],
    );
    let db = Db::new();
    let store = db.open();
    let report = import(&store, &zip);
    assert_eq!((report.conversations, report.messages), (2, 9), "{report}");
    // user.json and message_feedback.json are not conversations; the image
    // and the HTML are not even read.
    assert_eq!(report.other_files, 2, "{report}");
    assert!(report.to_string().contains("2 other file(s)"), "{report}");
}

/// Adds a question and an answer after `current_node` of the first
/// conversation, as ChatGPT's next export would have them.
fn grown(text: &str, question: &str, answer: &str, after: &str, ids: (&str, &str)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    let conv = &mut v[0];
    let (q, a) = ids;
    let message = |id: &str, role: &str, text: &str| {
        serde_json::json!({
            "id": id, "author": {"role": role, "name": null, "metadata": {}},
            "create_time": 1714001000.0, "content": {"content_type": "text", "parts": [text]},
            "status": "finished_successfully", "metadata": {}, "recipient": "all"
        })
    };
    conv["mapping"][after]["children"] = serde_json::json!([q]);
    conv["mapping"][q] = serde_json::json!({"id": q, "message": message(q, "user", question), "parent": after, "children": [a]});
    conv["mapping"][a] = serde_json::json!({"id": a, "message": message(a, "assistant", answer), "parent": q, "children": []});
    conv["current_node"] = a.into();
    v.to_string()
}

#[test]
fn importing_again_adds_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::new();
    let store = db.open();
    let original = std::fs::read_to_string(fixture("chatgpt/conversations.json")).unwrap();
    let file = dir.path().join("conversations.json");
    std::fs::write(&file, &original).unwrap();
    import(&store, &file);

    // The same export again: nothing written, each said why.
    let again = import(&store, &file);
    assert_eq!(
        (again.conversations, again.messages, again.updated),
        (0, 0, 0)
    );
    assert_eq!(again.skipped.len(), 2);
    assert!(
        again
            .skipped
            .iter()
            .all(|s| s.reason == "already imported, unchanged"),
        "{again:?}"
    );
    assert_eq!(all(&store).len(), 2);

    // The conversation went on in ChatGPT: its two new messages come in,
    // and the branch shown follows them.
    let more = grown(
        &original,
        "How warm should it be?",
        "Around 24 °C.",
        "a-3",
        ("u-3", "a-4"),
    );
    std::fs::write(&file, &more).unwrap();
    let report = import(&store, &file);
    assert_eq!(
        (report.conversations, report.messages, report.updated),
        (0, 2, 1),
        "{report}"
    );
    let path = active(&store, "Sourdough starter help");
    assert_eq!(path.len(), 6);
    assert_eq!(path[5].1, "Around 24 °C.");

    // The user carries on in Hearth; a later export that grew elsewhere
    // adds its messages but leaves the user on their own branch.
    let conv = by_title(&store, "Sourdough starter help");
    let leaf = store.active_path(&conv.id).unwrap().pop().unwrap();
    say(
        &store,
        &conv.id,
        Some(&leaf.id),
        Role::User,
        "Asked in Hearth",
    );
    let even_more = grown(
        &more,
        "Rye flour?",
        "Yes, rye works well.",
        "a-4",
        ("u-5", "a-6"),
    );
    std::fs::write(&file, even_more).unwrap();
    let report = import(&store, &file);
    assert_eq!((report.messages, report.updated), (2, 1), "{report}");
    let path = active(&store, "Sourdough starter help");
    assert_eq!(path.last().unwrap().1, "Asked in Hearth");
    assert_eq!(
        store.search("rye", 10).unwrap().len(),
        2,
        "the question and its answer"
    );
}

#[test]
fn jan_threads_from_the_threads_folder() {
    let db = Db::new();
    let store = db.open();
    let report = import(&store, &fixture("jan/threads"));
    assert_eq!(report.formats, [ImportFormat::Jan]);
    assert_eq!((report.conversations, report.messages), (2, 8), "{report}");
    assert_eq!(report.left_out.get("reasoning summaries"), Some(&1));
    // Jan stopped mid-line while writing the last one.
    assert_eq!(report.left_out.get("damaged lines"), Some(&1));

    let trip = by_title(&store, "Packing list for Iceland");
    let full = store.conversation(&trip.id).unwrap();
    assert_eq!(
        full.system_prompt.as_deref(),
        Some("You are a helpful travel assistant.")
    );
    // Older Jan counted seconds.
    assert_eq!(full.created_at, 1_714_100_000_000);
    let path = store.active_path(&trip.id).unwrap();
    assert_eq!(path.len(), 4);
    assert_eq!(path[3].model.as_deref(), Some("llama3.2-3b-instruct"));
    assert_eq!(path[3].created_at, 1_714_100_420_000);

    let regex = by_title(&store, "Regex for dates");
    let path = store.active_path(&regex.id).unwrap();
    assert_eq!(
        path[1].content,
        "`^\\d{4}-\\d{2}-\\d{2}$` matches the shape; check the ranges in code."
    );
    assert_eq!(path[2].content, "Can it reject month 13?");
    assert_eq!(path[3].status, MessageStatus::Cancelled);
    assert_eq!(store.conversation(&regex.id).unwrap().system_prompt, None);

    // One thread's folder on its own is the same thread.
    let again = import(&store, &fixture("jan/threads/01HZX8K2M4N6P8Q0R2S4T6V8W0"));
    assert_eq!((again.conversations, again.skipped.len()), (0, 1));
}

#[test]
fn open_webui_branches_and_the_older_flat_form() {
    let db = Db::new();
    let store = db.open();
    let report = import(&store, &fixture("openwebui/chat-export-1718000200000.json"));
    assert_eq!(report.formats, [ImportFormat::OpenWebUi]);
    assert_eq!((report.conversations, report.messages), (2, 7), "{report}");
    assert_eq!(report.left_out.get("reasoning summaries"), Some(&1));
    assert_eq!(report.left_out.get("attachments"), Some(&1));

    let path = active(&store, "Explain the borrow checker");
    assert_eq!(path.len(), 4);
    assert!(
        path[1].1.starts_with("It enforces Rust's borrowing rules"),
        "the reasoning block is gone: {}",
        path[1].1
    );
    assert!(path[3].1.contains("does not live long enough"));
    let conv = by_title(&store, "Explain the borrow checker");
    let messages = store.active_path(&conv.id).unwrap();
    assert_eq!(store.siblings(&messages[1].id).unwrap().len(), 2);
    assert_eq!(messages[1].model.as_deref(), Some("qwen3:8b"));
    assert_eq!(
        store
            .conversation(&conv.id)
            .unwrap()
            .system_prompt
            .as_deref(),
        Some("Answer like a patient Rust mentor.")
    );

    let haiku = active(&store, "Haiku about rain");
    assert_eq!(haiku.len(), 2);
    assert!(haiku[1].1.starts_with("Soft rain on tin roofs"));
    assert!(by_title(&store, "Haiku about rain").archived);
}

#[test]
fn lm_studio_versions_become_branches() {
    let db = Db::new();
    let store = db.open();
    let report = import(&store, &fixture("lmstudio"));
    assert_eq!(report.formats, [ImportFormat::LmStudio]);
    assert_eq!((report.conversations, report.messages), (1, 5), "{report}");
    assert_eq!(report.left_out.get("tool calls"), Some(&1));

    let conv = by_title(&store, "Kotlin vs Java for Android");
    let path = store.active_path(&conv.id).unwrap();
    let texts: Vec<&str> = path.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Should I learn Kotlin or Java for Android apps?",
            "Kotlin: Google recommends it for new Android code, and it works with every Java library.",
            "What about coroutines?",
            "Coroutines make asynchronous code read like sequential code; Android's lifecycle scopes cancel them for you.",
        ]
    );
    // The version not selected is a sibling of the selected one.
    assert_eq!(store.siblings(&path[1].id).unwrap().len(), 2);
    assert_eq!(path[3].model.as_deref(), Some("qwen/qwen3-4b"));
    let full = store.conversation(&conv.id).unwrap();
    assert_eq!(
        full.system_prompt.as_deref(),
        Some("You are an Android mentor.")
    );
    assert_eq!(full.created_at, 1_712_345_678_901);
}

#[test]
fn damaged_unknown_huge_and_newer_inputs_say_so_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::new();
    let store = db.open();
    let good = std::fs::read_to_string(fixture("chatgpt/conversations.json")).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "conversations.json",
            good[..good.len() / 2].to_owned(),
            "cannot be read",
        ),
        (
            "notes.json",
            r#"{"todo": ["milk"]}"#.to_owned(),
            "not a conversation export",
        ),
        (
            "hearth.json",
            r#"{"format":"hearth-export","version":99,"conversations":[]}"#.to_owned(),
            "version 99",
        ),
        ("empty.json", String::new(), "cannot be read"),
        ("binary.json", "\u{0}\u{1}PK".to_owned(), "cannot be read"),
    ];
    for (name, text, says) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let err = store
            .import_path(&path, &ImportLimits::default(), false)
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidImport(_)), "{name}: {err}");
        assert!(err.to_string().contains(says), "{name}: {err}");
        assert!(all(&store).is_empty(), "{name}");
    }
    let err = store
        .import_path(
            &dir.path().join("missing.zip"),
            &ImportLimits::default(),
            false,
        )
        .unwrap_err();
    assert!(err.to_string().contains("missing.zip"), "{err}");

    // Too big for the limits: refused before anything is parsed.
    let small = ImportLimits {
        max_file_bytes: 4096,
        ..ImportLimits::default()
    };
    let err = store
        .import_path(&fixture("chatgpt/conversations.json"), &small, false)
        .unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    let few = ImportLimits {
        max_conversations: 1,
        ..ImportLimits::default()
    };
    let err = store
        .import_path(&fixture("chatgpt/conversations.json"), &few, false)
        .unwrap_err();
    assert!(err.to_string().contains("more than the 1"), "{err}");
    assert!(all(&store).is_empty());

    // In a folder of many, one damaged file is skipped and named; the rest
    // come in.
    let folder = dir.path().join("lmstudio");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(
        fixture("lmstudio/1712345678901.conversation.json"),
        folder.join("1712345678901.conversation.json"),
    )
    .unwrap();
    std::fs::write(
        folder.join("1712999999999.conversation.json"),
        "{\"name\": \"cut",
    )
    .unwrap();
    let report = import(&store, &folder);
    assert_eq!(report.conversations, 1, "{report}");
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].reason.contains("damaged"), "{report:?}");
    assert!(
        report.skipped[0].title.contains("1712999999999"),
        "{report:?}"
    );
}

#[test]
fn a_failure_while_writing_rolls_back_the_whole_import() {
    // A Hearth export whose message id is already taken by another
    // conversation: its insert fails after the ChatGPT conversations in the
    // same folder were written, and none of them may stay.
    let source = Db::new();
    let src = source.open();
    let conv = conversation(&src, "exported");
    let hello = say(&src, &conv, None, Role::User, "hello");
    let export = src.export_json(None).unwrap();

    let db = Db::new();
    let store = db.open();
    // The same message id, in another conversation of this database.
    let mut taken: serde_json::Value = serde_json::from_str(&export).unwrap();
    taken["conversations"][0]["id"] = "0123456789abcdef0123456789abcdef".into();
    taken["conversations"][0]["active_leaf"] = hello.id.as_str().into();
    taken["conversations"][0]["messages"][0]["conversation_id"] =
        "0123456789abcdef0123456789abcdef".into();
    store.import_json(&taken.to_string()).unwrap();
    let before = all(&store).len();

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("chatgpt/conversations.json"),
        dir.path().join("conversations.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("z-hearth.json"), &export).unwrap();
    let err = store
        .import_path(dir.path(), &ImportLimits::default(), false)
        .unwrap_err();
    assert!(err.to_string().contains("cannot be stored"), "{err}");
    assert_eq!(all(&store).len(), before, "nothing of the import stayed");
    assert!(store.search("bubbly", 10).unwrap().is_empty());
}

#[test]
fn a_dry_run_reports_and_writes_nothing() {
    let db = Db::new();
    let store = db.open();
    let report = store
        .import_path(&fixture("jan/threads"), &ImportLimits::default(), true)
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.conversations, 2);
    assert!(report.to_string().starts_with("would import 2"), "{report}");
    assert!(all(&store).is_empty());
}

#[test]
fn export_everything_to_a_zip_and_a_folder_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::new();
    let store = db.open();
    import(&store, &fixture("chatgpt/conversations.json"));
    import(&store, &fixture("lmstudio"));

    let zip_path = dir.path().join("all.zip");
    let report = store.export_archive(&zip_path).unwrap();
    assert_eq!(
        (report.conversations, report.files, report.zip),
        (3, 4, true)
    );
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(names[0], "hearth-export.json");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("markdown/2024-04-24 Sourdough starter help (")),
        "{names:?}"
    );
    let mut md = String::new();
    let md_name = names.iter().find(|n| n.contains("Kotlin")).unwrap().clone();
    std::io::Read::read_to_string(&mut zip.by_name(&md_name).unwrap(), &mut md).unwrap();
    assert!(md.contains("## You\n\nWhat about coroutines?"), "{md}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&zip_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Nothing is overwritten.
    let err = store.export_archive(&zip_path).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");

    // The zip imports back into an empty history exactly.
    let other = Db::new();
    let fresh = Store::open(&other.path, &DbKey::Passphrase("p".into())).unwrap();
    let back = fresh
        .import_path(&zip_path, &ImportLimits::default(), false)
        .unwrap();
    assert_eq!(back.formats, [ImportFormat::Hearth]);
    assert_eq!(back.conversations, 3);
    assert_eq!(
        fresh.export_json(None).unwrap(),
        store.export_json(None).unwrap()
    );

    // A folder: new or empty only, files for the owner only.
    let folder = dir.path().join("out");
    let report = store.export_archive(&folder).unwrap();
    assert_eq!((report.files, report.zip), (4, false));
    assert!(folder.join("hearth-export.json").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(&folder.join("hearth-export.json")), 0o600);
    }
    let err = store.export_archive(&folder).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    let back = fresh
        .import_path(&folder, &ImportLimits::default(), false)
        .unwrap();
    assert_eq!(back.skipped.len(), 3, "already there: {back:?}");
}
