//! `hearth serve`: the OpenAI-compatible API (hearth-server) until Ctrl-C.
//!
//! Listening on anything but the loopback needs an API key: from
//! `--api-key-file`, else the one in `HEARTH_HOME/api-key`, created (random,
//! readable by the owner only) the first time. The key is never printed
//! unless `--print-key` asks for it.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use hearth_core::LoadSettings;
use hearth_engine::{EngineOptions, KvType, MAX_PARALLEL};
use hearth_secrets::{ExposeSecret, SecretString};
use hearth_server::{DEFAULT_PORT, KEY_FILE, ServerConfig};

use crate::open;
use crate::out::{noteln, outln};

/// How long running requests may take to finish after Ctrl-C.
const GRACE: Duration = Duration::from_secs(5);

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Address to listen on; anything but loopback requires an API key.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,

    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,

    /// A file holding the API key clients must send (`Authorization: Bearer KEY`).
    #[arg(long)]
    api_key_file: Option<PathBuf>,

    /// A web page origin allowed to call the API (repeatable), e.g.
    /// http://localhost:5173; requests from any other page are refused.
    #[arg(long = "cors-origin", value_name = "URL")]
    cors_origins: Vec<String>,

    /// A folder whose model files clients may name by path (repeatable);
    /// otherwise they name library ids only.
    #[arg(long = "allow-model-dir", value_name = "DIR")]
    allow_model_dirs: Vec<PathBuf>,

    /// Open connections at once (more than `--queue`: each waiting request
    /// holds one); more clients wait.
    #[arg(long, default_value_t = 320)]
    max_connections: usize,

    /// Seconds a generation may run before it is stopped (0: no limit).
    #[arg(long, default_value_t = 600)]
    max_generation_secs: u64,

    /// Generations waiting or running at once; more are refused with 503
    /// and `Retry-After`.
    #[arg(long, default_value_t = 256)]
    queue: usize,

    /// Seconds a model stays loaded after its last request (0: until the
    /// server stops).
    #[arg(long, default_value_t = 300)]
    keep_warm: u64,

    /// Context window of local models in tokens (default: each model's load
    /// setting, else its own, capped at 4096).
    #[arg(long)]
    ctx: Option<usize>,

    /// KV cache type of local models: f16, q8_0 (about half the memory) or
    /// f32 (default: each model's load setting, else f16).
    #[arg(long)]
    kv_type: Option<KvType>,

    /// Generations answered at once (llama-server's `-np`, Ollama's
    /// OLLAMA_NUM_PARALLEL): their tokens are computed in one batch, so
    /// several clients together get more tokens per second than one after
    /// another; more requests wait in the queue. Not with a draft model.
    #[arg(long, default_value_t = 1)]
    parallel: usize,

    /// Print the API key (it is otherwise only written to its file).
    #[arg(long)]
    print_key: bool,

    /// Let clients use (and list) your cloud providers' models as
    /// `provider:model`; kept for later runs and the app's Server page.
    #[arg(long, value_name = "on|off")]
    cloud_models: Option<Switch>,

    /// Keep API requests and answers in the chat history; kept for later runs.
    #[arg(long, value_name = "on|off")]
    store_conversations: Option<Switch>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

pub(crate) fn serve(args: &Args) -> Result<()> {
    if !(1..=MAX_PARALLEL).contains(&args.parallel) {
        anyhow::bail!("--parallel must be 1 to {MAX_PARALLEL}");
    }
    let app = open::app_with(
        EngineOptions {
            parallel: args.parallel,
            ..EngineOptions::default()
        },
        LoadSettings {
            context_length: args.ctx,
            kv_type: args.kv_type,
            device: None,
            threads: None,
        },
    )?;
    let mut settings = app.api_settings()?;
    if let Some(switch) = args.cloud_models {
        settings.cloud_models = switch == Switch::On;
    }
    if let Some(switch) = args.store_conversations {
        settings.store_conversations = switch == Switch::On;
    }
    app.set_api_settings(settings)?;
    noteln!(
        "Cloud models through the API: {}; API conversations: {}",
        if settings.cloud_models {
            "allowed (provider:model)"
        } else {
            "off (--cloud-models on allows them)"
        },
        if settings.store_conversations {
            "kept in the history"
        } else {
            "not stored (--store-conversations on keeps them)"
        },
    );
    let key = match &args.api_key_file {
        Some(file) => Some(read_key(file)?),
        None if !args.host.is_loopback() => {
            let file = app.config().home().join(KEY_FILE);
            let (key, created) = key_in(&file)?;
            noteln!(
                "API key {} {} (clients send `Authorization: Bearer KEY`)",
                if created { "written to" } else { "read from" },
                file.display()
            );
            Some(key)
        }
        None => None,
    };
    if args.print_key
        && let Some(key) = &key
    {
        outln!("{}", key.expose_secret())?;
    }
    let config = ServerConfig {
        host: args.host,
        port: args.port,
        api_key: key,
        cors_origins: args.cors_origins.clone(),
        queue: args.queue,
        parallel: args.parallel,
        keep_warm: (args.keep_warm > 0).then(|| Duration::from_secs(args.keep_warm)),
        max_connections: args.max_connections,
        max_generation: (args.max_generation_secs > 0)
            .then(|| Duration::from_secs(args.max_generation_secs)),
        allow_model_dirs: args.allow_model_dirs.clone(),
        embed_model: hearth_core::Config::from_env()?.default_embed_model(),
        ..ServerConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let bound = hearth_server::bind(app, config).await?;
        let addr = bound.local_addr();
        noteln!(
            "Listening on http://{}; OpenAI API base URL: http://{addr}/v1; Ctrl-C stops",
            shown(addr)
        );
        let _ = std::io::stderr().flush();
        let (stopping, mut stopped) = tokio::sync::watch::channel(false);
        let server = bound.serve(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stopping.send(true);
        });
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => result?,
            () = async {
                let _ = stopped.wait_for(|s| *s).await;
                tokio::time::sleep(GRACE).await;
            } => noteln!("Stopped; requests still running were cut off"),
        }
        anyhow::Ok(())
    })?;
    noteln!("Stopped");
    Ok(())
}

/// The address as printed, saying so when it is every interface.
fn shown(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("{addr} (all interfaces)")
    } else {
        addr.to_string()
    }
}

fn read_key(file: &Path) -> Result<SecretString> {
    hearth_server::read_key(file)
        .with_context(|| format!("cannot read the API key file {}", file.display()))
}

/// The key in `file`, created when missing; `true` when it was just created.
fn key_in(file: &Path) -> Result<(SecretString, bool)> {
    hearth_server::key_in(file)
        .with_context(|| format!("cannot read or create the API key file {}", file.display()))
}
