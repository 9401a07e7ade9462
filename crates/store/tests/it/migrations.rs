use hearth_store::{MIGRATIONS, Store, StoreError, latest_schema};

use crate::{Db, conversation, fingerprint, key};

/// Builds the schema just before each migration, puts data in, and migrates
/// forward: data survives and the result is consistent. A new migration is
/// covered by adding its entry to `MIGRATIONS`.
#[test]
fn every_migration_runs_from_the_schema_before_it() {
    for target in 1..=latest_schema() {
        let db = Db::new();
        let before = target - 1;
        {
            let store = Store::open_at_version(&db.path, &key(), before).unwrap();
            assert_eq!(store.schema_version().unwrap(), before);
        }
        if before >= 1 {
            // Data written by the schema before, read back after the migration.
            let store = Store::open_at_version(&db.path, &key(), before).unwrap();
            let conv = conversation(&store, "written before the migration");
            // The columns the first schema had: today's inserts name newer ones.
            store
                .execute_for_tests(&format!(
                    "INSERT INTO messages (id, conversation_id, role, content, status, \
                     created_at, updated_at) VALUES ('{}', '{conv}', 'user', \
                     'hello from an older schema', 'complete', 1, 1)",
                    hearth_store::MessageId::random()
                ))
                .unwrap();
        }
        let store = Store::open(&db.path, &key()).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest_schema());
        store.integrity_check().unwrap();
        if before >= 1 {
            assert_eq!(store.search("older schema", 10).unwrap().len(), 1);
        }
    }
    assert_eq!(latest_schema() as usize, MIGRATIONS.len());
}

#[test]
fn a_database_from_a_newer_hearth_is_refused_and_not_touched() {
    let db = Db::new();
    {
        let store = db.open();
        conversation(&store, "kept");
        store
            .set_schema_version_for_tests(latest_schema() + 1)
            .unwrap();
        store.checkpoint().unwrap();
    }
    let before = fingerprint(&db.path);
    let err = Store::open(&db.path, &key()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, supported } if found == latest_schema() + 1 && supported == latest_schema()),
        "{err}"
    );
    assert!(err.to_string().contains("newer Hearth"), "{err}");
    assert_eq!(fingerprint(&db.path), before);
}
