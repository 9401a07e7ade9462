//! `hearth network`: every connection Hearth made, the offline switch, and
//! how Hearth reaches the network (the proxy, extra certificate authorities).
//!
//! The proxy password is read from stdin (hidden on a terminal) or from an
//! environment variable, never from the command line, and kept in the OS
//! keychain like an API key.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use hearth_core::{NetworkOverview, ProxyChoice};
use hearth_secrets::SecretString;

use crate::args::models;
use crate::cloud::app;
use crate::out::{noteln, outln};

#[derive(clap::Args, Debug)]
pub(crate) struct NetworkArgs {
    #[command(subcommand)]
    command: NetworkCommand,
}

#[derive(clap::Subcommand, Debug)]
enum NetworkCommand {
    /// Every outbound connection Hearth made, newest first (with the proxy it went through).
    Log {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Turn the offline switch on: Hearth opens no connection at all.
    Offline,
    /// Turn the offline switch off.
    Online,
    /// The offline switch, the proxy and the extra certificate authorities.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show or change the proxy.
    Proxy {
        #[command(subcommand)]
        command: Option<ProxyCommand>,
    },
    /// Trust a certificate authority (a PEM file) besides the system's, e.g. a
    /// company's that inspects HTTPS; without FILE, show the ones trusted.
    Ca {
        file: Option<PathBuf>,
        /// Trust the system's certificate authorities only (and HEARTH_CA_FILE's).
        #[arg(long, conflicts_with = "file")]
        clear: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
enum ProxyCommand {
    /// Use this proxy (http://host:port) for Hugging Face and cloud providers.
    Set {
        /// The proxy's address, e.g. `http://proxy.corp.example:3128`.
        url: String,
        /// Hosts, domains (with their subdomains) and networks reached directly,
        /// comma-separated (this machine always is).
        #[arg(long, default_value = "")]
        no_proxy: String,
        /// The proxy's user name; the password is read from stdin (hidden on a
        /// terminal) or from --password-env, and kept in the OS keychain.
        #[arg(long)]
        user: Option<String>,
        /// Read the proxy password from this environment variable.
        #[arg(long, requires = "user")]
        password_env: Option<String>,
    },
    /// No proxy, whatever HTTPS_PROXY and friends say.
    Off,
    /// Follow the environment: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY (the default).
    System,
}

pub(crate) fn network(args: &NetworkArgs) -> Result<()> {
    match &args.command {
        NetworkCommand::Log { limit, json } => {
            let log = app()?.network_log(*limit)?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&log)?)?;
                return Ok(());
            }
            if log.is_empty() {
                noteln!("no connections recorded");
            }
            for r in log {
                outln!(
                    "{}  {:<28} {:<14} {:<14} sent {:>8} B  received {:>9} B  {:<10} {}",
                    hearth_store::format_time(r.at),
                    r.host,
                    r.purpose,
                    r.detail.unwrap_or_default(),
                    r.bytes_sent,
                    r.bytes_received,
                    match (r.ok, r.status) {
                        (true, Some(s)) => format!("ok {s}"),
                        (false, Some(s)) => format!("failed {s}"),
                        (true, None) => "ok".into(),
                        (false, None) => "failed".into(),
                    },
                    r.via.map(|v| format!("via {v}")).unwrap_or_default(),
                )?;
            }
        }
        NetworkCommand::Offline => {
            app()?.set_offline(true)?;
            noteln!("offline: Hearth will open no connection until `hearth network online`");
        }
        NetworkCommand::Online => {
            app()?.set_offline(false)?;
            noteln!("online: configured providers and Hugging Face can be reached");
        }
        NetworkCommand::Status { json } => {
            let models = models(true)?;
            let offline = hearth_core::Config::from_env()?.is_offline();
            let overview = models.network()?;
            if *json {
                let mut value = serde_json::to_value(&overview)?;
                value["offline"] = serde_json::Value::Bool(offline);
                outln!("{}", serde_json::to_string_pretty(&value)?)?;
            } else {
                outln!("{}", if offline { "offline" } else { "online" })?;
                print_proxy(&overview)?;
                print_cas(&overview)?;
            }
        }
        NetworkCommand::Proxy { command } => {
            let models = models(true)?;
            let overview = match command {
                None => models.network()?,
                Some(ProxyCommand::Off) => models.set_proxy(ProxyChoice::Off)?,
                Some(ProxyCommand::System) => models.set_proxy(ProxyChoice::System)?,
                Some(ProxyCommand::Set {
                    url,
                    no_proxy,
                    user,
                    password_env,
                }) => {
                    let password = match user {
                        Some(user) => read_password(user, password_env.as_deref())?,
                        None => None,
                    };
                    models.set_proxy(ProxyChoice::Manual {
                        url: url.clone(),
                        no_proxy: no_proxy.clone(),
                        username: user.clone(),
                        password,
                    })?
                }
            };
            print_proxy(&overview)?;
        }
        NetworkCommand::Ca { file, clear } => {
            let models = models(true)?;
            let overview = if *clear {
                models.set_ca_file(None)?
            } else if let Some(file) = file {
                models.set_ca_file(Some(file))?
            } else {
                models.network()?
            };
            print_cas(&overview)?;
        }
    }
    Ok(())
}

fn print_proxy(o: &NetworkOverview) -> Result<()> {
    let source = o
        .proxy_source
        .as_deref()
        .map(|s| format!(" (from {s})"))
        .unwrap_or_default();
    match (&o.https_proxy, &o.http_proxy) {
        (None, None) if o.proxy_mode == "off" => {
            outln!("proxy: none (off: the environment's proxy variables are ignored)")?;
        }
        (None, None) => outln!("proxy: none (follows HTTPS_PROXY, HTTP_PROXY and NO_PROXY)")?,
        (https, http) if https == http => {
            outln!("proxy: {}{source}", https.as_deref().unwrap_or_default())?;
        }
        (https, http) => {
            outln!(
                "proxy: https:// via {}, http:// via {}{source}",
                https.as_deref().unwrap_or("none (direct)"),
                http.as_deref().unwrap_or("none (direct)")
            )?;
        }
    }
    if let Some(user) = &o.proxy_user {
        let password = if o.proxy_password_stored || o.proxy_mode == "system" {
            ""
        } else {
            " (no password stored)"
        };
        outln!("proxy user: {user}{password}")?;
    }
    if o.https_proxy.is_some() || o.http_proxy.is_some() {
        let except = if o.no_proxy.is_empty() {
            String::new()
        } else {
            format!(" and {}", o.no_proxy)
        };
        outln!("direct: this machine{except}")?;
    }
    Ok(())
}

fn print_cas(o: &NetworkOverview) -> Result<()> {
    if o.ca_files.is_empty() {
        outln!("trusted: the system's certificate authorities")?;
    } else {
        outln!("trusted: the system's certificate authorities, and")?;
        for ca in &o.ca_files {
            outln!("  {} (from {})", ca.path, ca.source)?;
        }
    }
    Ok(())
}

/// The proxy password: from `password_env`, else stdin (hidden on a terminal).
fn read_password(user: &str, password_env: Option<&str>) -> Result<Option<SecretString>> {
    if let Some(var) = password_env {
        let value = std::env::var(var).with_context(|| format!("{var} is not set"))?;
        return Ok(Some(SecretString::from(value)));
    }
    let text = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Proxy password for {user} (input hidden): "))
            .context("cannot read the password")?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        text
    };
    let text = text.trim_end_matches(['\r', '\n']);
    if text.is_empty() {
        bail!("the proxy password is empty; nothing was changed");
    }
    Ok(Some(SecretString::from(text.to_owned())))
}
