//! Opening Hearth's data (history database, keychain) from the command line.

use std::io::IsTerminal;

use crate::out::noteln;
use anyhow::{Context, Result, bail};
use hearth_core::{App, Config, CoreError, LoadSettings, OpenOptions, env};
use hearth_engine::EngineOptions;
use hearth_secrets::SecretString;

/// Opens the app. When the database key cannot come from the OS keychain, asks
/// for the passphrase on the terminal (or reads `HEARTH_DB_PASSPHRASE`).
pub(crate) fn app(engine: EngineOptions) -> Result<App> {
    app_with(engine, LoadSettings::default())
}

/// [`app`] whose local models load with `forced` over their own load settings.
pub(crate) fn app_with(engine: EngineOptions, forced: LoadSettings) -> Result<App> {
    let config = Config::from_env()?;
    let first = App::open_with(
        config.clone(),
        OpenOptions {
            engine: engine.clone(),
            forced_load: forced,
            ..OpenOptions::default()
        },
    );
    let new_database = !config.db_path().exists();
    match first {
        Err(err @ (CoreError::NeedPassphrase | CoreError::KeyNotInKeychain)) => {
            if !std::io::stdin().is_terminal() {
                return Err(err.into());
            }
            let passphrase = ask_passphrase(new_database)?;
            let app = App::open_with(
                config,
                OpenOptions {
                    engine,
                    forced_load: forced,
                    passphrase: Some(passphrase),
                    ..OpenOptions::default()
                },
            )?;
            Ok(app)
        }
        other => Ok(other?),
    }
}

fn ask_passphrase(new_database: bool) -> Result<SecretString> {
    if new_database {
        noteln!(
            "No OS keychain is available to keep the key of your chat history.\n\
             Choose a passphrase; you will need it (or {}) every time.",
            env::DB_PASSPHRASE
        );
    }
    let first = rpassword::prompt_password("Passphrase for the chat history: ")
        .context("cannot read the passphrase")?;
    if first.is_empty() {
        bail!("the passphrase is empty");
    }
    if new_database {
        let again = rpassword::prompt_password("Repeat the passphrase: ")
            .context("cannot read the passphrase")?;
        if again != first {
            bail!("the passphrases differ; nothing was created");
        }
    }
    Ok(SecretString::from(first))
}
