//! Which backend a conversation uses from the command line: `-m` may name a
//! cloud model (`PROVIDER:MODEL`), `--policy` and `--fallback` set where its
//! messages may go, and a consent question when the policy is "ask".

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail};
use hearth_backend::BackendId;
use hearth_core::router::Consent;
use hearth_core::{App, CoreError};
use hearth_store::PrivacyPolicy;

use crate::args::ModelArgs;
use crate::out::note;

/// Where a conversation's messages may go.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RouteArgs {
    /// local-only: nothing ever leaves this machine; ask: ask before a message
    /// goes to a cloud model; fallback: the --fallback models answer when the
    /// local one cannot [default: local-only, or fallback when -m names a
    /// cloud model]
    #[arg(long, value_parser = ["local-only", "ask", "fallback"])]
    pub(crate) policy: Option<String>,

    /// A cloud model to fall back to, as PROVIDER:MODEL (repeatable, tried in order).
    #[arg(long = "fallback", value_name = "PROVIDER:MODEL")]
    pub(crate) fallback: Vec<String>,
}

impl RouteArgs {
    pub(crate) fn policy(&self, cloud_chosen: bool) -> Result<PrivacyPolicy> {
        for backend in &self.fallback {
            if BackendId::parse(backend).is_none() {
                bail!("--fallback {backend:?}: name a cloud model as PROVIDER:MODEL");
            }
        }
        let chain = self.fallback.clone();
        Ok(match self.policy.as_deref() {
            Some("ask") => PrivacyPolicy::AskBeforeCloud { chain },
            Some("fallback") => PrivacyPolicy::CloudFallback { chain },
            Some(_) => PrivacyPolicy::LocalOnly,
            None if cloud_chosen => PrivacyPolicy::CloudFallback { chain },
            None => PrivacyPolicy::LocalOnly,
        })
    }
}

/// What a new conversation records for `-m`: a cloud backend (when `-m` names
/// a configured provider's model) and the local model (the chosen one, or the
/// library's default as the way back when the cloud cannot be reached).
pub(crate) fn backend_and_model(
    app: &App,
    model: &ModelArgs,
) -> Result<(Option<String>, Option<String>)> {
    if let Some(cloud) = cloud_model(app, model.model.as_deref())? {
        let local = app
            .models()
            .default_model()
            .ok()
            .flatten()
            .map(|entry| entry.id);
        return Ok((Some(cloud.to_string()), local));
    }
    Ok((None, Some(model.reference()?)))
}

/// `-m` as a cloud model, when it names a configured provider.
pub(crate) fn cloud_model(app: &App, model: Option<&str>) -> Result<Option<BackendId>> {
    let Some(id) = model.and_then(BackendId::parse) else {
        return Ok(None);
    };
    if std::path::Path::new(model.unwrap_or_default()).exists() {
        return Ok(None);
    }
    let known = app.providers()?.iter().any(|p| p.name == id.provider);
    Ok(known.then_some(id))
}

/// Runs `turn` and, when the policy asks for consent, asks on the terminal
/// and runs it again with the answer. Without a terminal the turn is refused.
pub(crate) fn with_consent<T>(mut turn: impl FnMut(Consent) -> Result<T>) -> Result<T> {
    let err = match turn(Consent::NotAsked) {
        Err(err) => err,
        ok => return ok,
    };
    let Some(CoreError::ConsentNeeded {
        backend,
        reason,
        documents,
    }) = err.downcast_ref::<CoreError>()
    else {
        return Err(err);
    };
    let reason = reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let reason = match documents {
        Some(d) => format!("{reason} with {d}"),
        None => reason,
    };
    if !std::io::stdin().is_terminal() {
        bail!(
            "this message would go to {backend}{reason}; nothing was sent. \
             Answer on a terminal, or use --policy fallback"
        );
    }
    note!("Send this message to {backend}{reason}? It leaves this machine. [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    turn(if yes {
        Consent::Granted
    } else {
        Consent::Denied
    })
}
