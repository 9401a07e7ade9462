//! The schema, as forward-only migrations embedded in the binary.
//!
//! `PRAGMA user_version` is the number of migrations applied. A migration is
//! never edited once released: a change is a new entry at the end, and the test
//! in `tests/it/migrations.rs` builds each earlier schema with data and migrates
//! it forward.

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: conversations, messages as a tree, FTS5 index, usage, settings, presets.
    r#"
    CREATE TABLE conversations (
        id              TEXT PRIMARY KEY NOT NULL,
        title           TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        model           TEXT,
        backend         TEXT,
        system_prompt   TEXT,
        sampling        TEXT NOT NULL DEFAULT '{}',
        privacy         TEXT NOT NULL DEFAULT '{"policy":"local_only"}',
        archived        INTEGER NOT NULL DEFAULT 0,
        active_leaf     TEXT,
        preset_id       TEXT,
        preset_version  INTEGER
    ) STRICT;
    CREATE INDEX conversations_recent ON conversations (archived, updated_at DESC, id DESC);

    CREATE TABLE messages (
        seq                  INTEGER PRIMARY KEY,
        id                   TEXT NOT NULL UNIQUE,
        conversation_id      TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        parent_id            TEXT REFERENCES messages (id) ON DELETE CASCADE,
        role                 TEXT NOT NULL,
        content              TEXT NOT NULL,
        status               TEXT NOT NULL,
        backend              TEXT,
        model                TEXT,
        tokens_in            INTEGER,
        tokens_out           INTEGER,
        prompt_tokens_reused INTEGER,
        ttft_ms              REAL,
        decode_tok_s         REAL,
        latency_ms           REAL,
        cost_usd             REAL,
        fallback_reason      TEXT,
        error                TEXT,
        created_at           INTEGER NOT NULL,
        updated_at           INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX messages_conversation ON messages (conversation_id, seq);
    CREATE INDEX messages_parent ON messages (parent_id, seq);
    CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';

    -- Full-text index over message text, kept in step by triggers.
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        content,
        content = 'messages',
        content_rowid = 'seq',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
    END;

    CREATE TABLE usage (
        seq              INTEGER PRIMARY KEY,
        at               INTEGER NOT NULL,
        conversation_id  TEXT,
        message_id       TEXT,
        backend          TEXT NOT NULL,
        model            TEXT NOT NULL,
        tokens_in        INTEGER NOT NULL,
        tokens_out       INTEGER NOT NULL,
        ttft_ms          REAL,
        latency_ms       REAL,
        cost_usd         REAL,
        fallback_reason  TEXT
    ) STRICT;
    CREATE INDEX usage_at ON usage (at);

    CREATE TABLE settings (
        key    TEXT PRIMARY KEY NOT NULL,
        value  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE presets (
        id             TEXT NOT NULL,
        version        INTEGER NOT NULL,
        name           TEXT NOT NULL,
        system_prompt  TEXT,
        sampling       TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        deleted        INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (id, version)
    ) STRICT;
    "#,
    // 2: the outcome of each backend request (for `hearth stats`), and the
    // network ledger: every outbound connection Hearth makes.
    r#"
    ALTER TABLE usage ADD COLUMN error_kind TEXT;
    ALTER TABLE usage ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE network_log (
        seq             INTEGER PRIMARY KEY,
        at              INTEGER NOT NULL,
        host            TEXT NOT NULL,
        purpose         TEXT NOT NULL,
        detail          TEXT,
        bytes_sent      INTEGER NOT NULL,
        bytes_received  INTEGER NOT NULL,
        status          INTEGER,
        ok              INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX network_log_at ON network_log (at);

    CREATE TABLE redactions (
        message_id   TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        kind         TEXT NOT NULL,
        placeholder  TEXT NOT NULL,
        original     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX redactions_message ON redactions (message_id);
    "#,
    // 3: secrets (API keys, tokens) the user chose to keep in this encrypted
    // database instead of the OS keychain (a headless machine has none).
    r#"
    CREATE TABLE secrets (
        name        TEXT PRIMARY KEY NOT NULL,
        value       TEXT NOT NULL,
        updated_at  INTEGER NOT NULL
    ) STRICT;
    "#,
    // 4: conversations imported from other apps: where each came from and
    // what the last import read, so importing again adds only what is new.
    r#"
    CREATE TABLE imports (
        conversation_id  TEXT PRIMARY KEY NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        source           TEXT NOT NULL,
        source_id        TEXT NOT NULL,
        content_hash     TEXT NOT NULL,
        leaf_id          TEXT,
        imported_at      INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX imports_source ON imports (source, source_id);
    "#,
    // 5: the network ledger names the proxy a connection went through.
    r#"
    ALTER TABLE network_log ADD COLUMN via TEXT;
    "#,
    // 6: document collections (hearth-docs): documents, their chunks with an
    // embedding vector each (little-endian f32 BLOB) and a full-text index.
    // Deleting a collection cascades to its documents and chunks; the FTS
    // triggers follow the cascade.
    r#"
    CREATE TABLE doc_collections (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        embed_model  TEXT NOT NULL,
        dim          INTEGER NOT NULL,
        created_at   INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE doc_documents (
        id             INTEGER PRIMARY KEY,
        collection_id  INTEGER NOT NULL REFERENCES doc_collections (id) ON DELETE CASCADE,
        source         TEXT NOT NULL,
        kind           TEXT NOT NULL,
        content_hash   TEXT NOT NULL,
        bytes          INTEGER NOT NULL,
        added_at       INTEGER NOT NULL,
        UNIQUE (collection_id, source)
    ) STRICT;

    CREATE TABLE doc_chunks (
        id           INTEGER PRIMARY KEY,
        document_id  INTEGER NOT NULL REFERENCES doc_documents (id) ON DELETE CASCADE,
        ord          INTEGER NOT NULL,
        heading      TEXT,
        text         TEXT NOT NULL,
        vector       BLOB NOT NULL
    ) STRICT;
    CREATE INDEX doc_chunks_document ON doc_chunks (document_id, ord);

    CREATE VIRTUAL TABLE doc_chunks_fts USING fts5 (
        text,
        content = 'doc_chunks',
        content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER doc_chunks_fts_insert AFTER INSERT ON doc_chunks BEGIN
        INSERT INTO doc_chunks_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER doc_chunks_fts_delete AFTER DELETE ON doc_chunks BEGIN
        INSERT INTO doc_chunks_fts (doc_chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    "#,
    // 7: chatting with documents: the collection attached to a conversation
    // (by name: a deleted collection makes the next turn say so), and the
    // sources an answer was given, numbered as the model saw them. `chunk_id`
    // is not a foreign key: re-indexing a file replaces its chunks, and the
    // citation keeps what was shown.
    r#"
    CREATE TABLE conversation_docs (
        conversation_id  TEXT PRIMARY KEY NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        collection       TEXT NOT NULL
    ) STRICT;

    CREATE TABLE citations (
        message_id  TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        n           INTEGER NOT NULL,
        collection  TEXT NOT NULL,
        source      TEXT NOT NULL,
        heading     TEXT,
        chunk_id    INTEGER,
        snippet     TEXT NOT NULL,
        mode        TEXT NOT NULL,
        PRIMARY KEY (message_id, n)
    ) STRICT;
    "#,
    // 8: tool use. An assistant message keeps the calls it made (a JSON array
    // of `{id, name, arguments}`, NULL when none); a `tool` message is one
    // call's result and names the call it answers. Calls are searchable by
    // tool name and arguments in an index of their own (results are message
    // text, in `messages_fts` already).
    r#"
    ALTER TABLE messages ADD COLUMN tool_calls TEXT;
    ALTER TABLE messages ADD COLUMN tool_call_id TEXT;

    CREATE VIRTUAL TABLE tool_calls_fts USING fts5 (
        tool_calls,
        content = 'messages',
        content_rowid = 'seq',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER tool_calls_fts_insert AFTER INSERT ON messages
    WHEN new.tool_calls IS NOT NULL BEGIN
        INSERT INTO tool_calls_fts (rowid, tool_calls) VALUES (new.seq, new.tool_calls);
    END;
    CREATE TRIGGER tool_calls_fts_delete AFTER DELETE ON messages
    WHEN old.tool_calls IS NOT NULL BEGIN
        INSERT INTO tool_calls_fts (tool_calls_fts, rowid, tool_calls) VALUES ('delete', old.seq, old.tool_calls);
    END;
    CREATE TRIGGER tool_calls_fts_update AFTER UPDATE OF tool_calls ON messages BEGIN
        INSERT INTO tool_calls_fts (tool_calls_fts, rowid, tool_calls)
            SELECT 'delete', old.seq, old.tool_calls WHERE old.tool_calls IS NOT NULL;
        INSERT INTO tool_calls_fts (rowid, tool_calls)
            SELECT new.seq, new.tool_calls WHERE new.tool_calls IS NOT NULL;
    END;
    "#,
    // 9: page numbers. A chunk of a PDF remembers its page (from 1; NULL for
    // documents without pages), and so does a citation of it.
    r#"
    ALTER TABLE doc_chunks ADD COLUMN page INTEGER;
    ALTER TABLE citations ADD COLUMN page INTEGER;
    "#,
];

/// The schema version this build writes.
pub fn latest() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}
