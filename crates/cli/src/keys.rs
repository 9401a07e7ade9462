//! `hearth keys`: where Hearth keeps API keys and tokens.
//!
//! The OS keychain by default; Hearth's encrypted database when the user
//! chooses it (a machine without a keychain); or the environment, for a
//! session. Values are never printed, only masked.

use anyhow::Result;
use hearth_core::{KeySource, SecretStorage};

use crate::open;
use crate::out::{noteln, outln};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Where new keys go from now on: keychain (the OS keychain) or db (the
    /// encrypted database: as safe as the history; for machines without a
    /// keychain). Keys already stored stay where they are.
    #[arg(long, value_name = "keychain|db")]
    default: Option<SecretStorage>,
}

pub(crate) fn keys(args: &Args) -> Result<()> {
    let app = open::app(hearth_engine::EngineOptions::default())?;
    if let Some(storage) = args.default {
        app.set_secret_storage(storage)?;
        noteln!("new keys go to the {} from now on", storage.label());
        return Ok(());
    }
    let storage = app.secret_storage()?;
    outln!(
        "new keys go to the {} (change with `hearth keys --default {}`)",
        storage.label(),
        match storage {
            SecretStorage::Keychain => "db",
            SecretStorage::Database => "keychain",
        }
    )?;
    for p in app.providers()? {
        if p.key_source == KeySource::None {
            continue;
        }
        outln!(
            "  provider {:<14} {:<12} {}",
            p.name,
            p.key.as_deref().unwrap_or(""),
            p.key_source.describe()
        )?;
    }
    Ok(())
}
