//! `plinth serve` (the plugin server) and `plinth token` (its bearer tokens).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;
use plinth::dispatch::{Dispatcher, FileDispatcher, HttpDispatcher, OutboxConfig};
use plinth::registry::state::Home;
use plinth::schedule::SchedulerConfig;
use plinth::serve::{Auth, EventsConfig, FileStore, Role, ServeConfig, Server, Tokens};
use plinth::{Runtime, RuntimeConfig};

use crate::exit::Failure;
use crate::flags::parse_tenant;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; one that is not loopback needs tokens.
    #[arg(long, default_value = "127.0.0.1:8790")]
    listen: SocketAddr,
    /// Plugin state directory (default: $PLINTH_HOME, else ~/.plinth), shared with the CLI.
    #[arg(long)]
    home: Option<PathBuf>,
    /// Bearer tokens file (default: HOME/tokens.toml; create tokens with `plinth token`).
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// No authentication: every request is admin. Refused unless --listen is loopback.
    #[arg(long)]
    no_auth: bool,
    /// Largest request body, bytes; K, M and G suffixes are binary (default 1M).
    #[arg(long, value_parser = plinth::parse_size, default_value = "1M")]
    max_body: u64,
    /// Largest `PUT /plugins/{name}/package` upload (default 64M).
    #[arg(long, value_parser = plinth::parse_size, default_value = "64M")]
    max_upload: u64,
    /// Largest size an uploaded .tar.gz may expand to (default 256M).
    #[arg(long, value_parser = plinth::parse_size, default_value = "256M")]
    max_expanded: u64,
    /// How long a client may take to send its request headers, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// How often to pick up changes made to the home by the CLI, milliseconds.
    #[arg(long, default_value_t = 2_000)]
    reconcile_ms: u64,
    /// How long POST /plugins, a PATCH with a new source or an upload waits for the install
    /// to compile before answering 202 and finishing in the background, milliseconds.
    #[arg(long, default_value_t = 2_000)]
    install_wait_ms: u64,
    /// POST each plugin status transition to this URL as JSON (retried with backoff; never
    /// holds up a call).
    #[arg(long, value_name = "URL", value_parser = parse_webhook)]
    status_webhook: Option<String>,
    /// POST each trigger and listener event to this URL as JSON (retried until a 2xx).
    /// Events wait in the outbox under the home until taken.
    #[arg(long, value_name = "URL", value_parser = parse_webhook, conflicts_with = "dispatch_file")]
    dispatch_url: Option<String>,
    /// Append each event to this file as a JSON line (fsynced).
    #[arg(long, value_name = "PATH")]
    dispatch_file: Option<PathBuf>,
    /// Events that may wait in the outbox for the dispatcher; beyond it triggers pause and
    /// webhooks are answered 503.
    #[arg(long, default_value_t = 10_000)]
    max_pending_events: usize,
    /// Delay between polls of a trigger that does not ask for one, milliseconds.
    #[arg(long, default_value_t = 60_000)]
    poll_interval_ms: u64,
    /// Let remote plugins (plugin_type grpc) reach this internal address (loopback,
    /// private, link-local, metadata), as a host pattern: 127.0.0.1:*. Repeatable; public
    /// addresses need no allowance.
    #[arg(long, value_name = "PATTERN")]
    allow_remote: Vec<String>,
    /// Calls that may run at once; beyond it invokes are answered 503 with Retry-After.
    #[arg(long, default_value_t = plinth::RuntimeConfig::default().max_instances)]
    max_instances: u32,
    /// Pre-warmed instances kept ready per plugin (0 turns pre-warming off).
    #[arg(long, default_value_t = plinth::RuntimeConfig::default().warm_instances)]
    warm_instances: usize,
    /// Pre-warmed instances across all plugins; when they run out, they move to the plugins
    /// called most. Each holds the memory its instantiation touched.
    #[arg(long, default_value_t = plinth::RuntimeConfig::default().max_warm_instances)]
    max_warm_instances: usize,
    /// Log format on stderr: `text`, or `json` (one object per line, with the request id).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

impl ServeArgs {
    pub fn json_logs(&self) -> bool {
        self.log_format == "json"
    }
}

#[derive(Args)]
pub struct TokenArgs {
    /// A token that may change the registry (install, update, enable, delete) for any tenant.
    #[arg(long, conflicts_with = "tenant", required_unless_present = "tenant")]
    admin: bool,
    /// A token that may invoke and read this tenant's plugins and the global ones.
    #[arg(long, value_parser = parse_tenant)]
    tenant: Option<String>,
    /// Tokens file to add it to (default: $PLINTH_HOME/tokens.toml).
    #[arg(long)]
    tokens: Option<PathBuf>,
}

fn parse_webhook(text: &str) -> Result<String, String> {
    if text.starts_with("http://") || text.starts_with("https://") {
        Ok(text.to_string())
    } else {
        Err(format!("`{text}` is not an http:// or https:// URL"))
    }
}

/// The dispatcher the flags name, with the outbox and cursors under the home.
fn events(args: &ServeArgs, home: &Home) -> Result<Option<EventsConfig>, Failure> {
    let dispatcher: Arc<dyn Dispatcher> = match (&args.dispatch_url, &args.dispatch_file) {
        (Some(url), _) => Arc::new(HttpDispatcher::new(url).map_err(anyhow::Error::from)?),
        (None, Some(path)) => {
            Arc::new(FileDispatcher::open(path).with_context(|| format!("--dispatch-file {}: cannot open it", path.display()))?)
        }
        (None, None) => return Ok(None),
    };
    let scheduler = SchedulerConfig { default_interval: Duration::from_millis(args.poll_interval_ms), ..SchedulerConfig::default() };
    let outbox = OutboxConfig { max_pending: args.max_pending_events.max(1), ..OutboxConfig::default() };
    Ok(Some(EventsConfig { dispatcher, dir: home.root().to_path_buf(), outbox, scheduler }))
}

fn home_of(dir: &Option<PathBuf>) -> Result<Home, Failure> {
    match dir {
        Some(d) => Ok(Home::new(d)),
        None => super::home(),
    }
}

pub fn token(args: TokenArgs) -> Result<(), Failure> {
    let path = match &args.tokens {
        Some(p) => p.clone(),
        None => super::home()?.root().join("tokens.toml"),
    };
    let role = match args.tenant {
        Some(t) => Role::Tenant(t),
        None => Role::Admin,
    };
    let token = Tokens::generate(&path, &role).map_err(anyhow::Error::from)?;
    // The token itself goes to stdout, once; only its hash is stored.
    println!("{token}");
    eprintln!("added a {} token to {} (only its sha256 is stored)", if role == Role::Admin { "admin" } else { "tenant" }, path.display());
    Ok(())
}

pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let home = home_of(&args.home)?;
    let auth = if args.no_auth {
        Auth::Off
    } else {
        let path = args.tokens.clone().unwrap_or_else(|| home.root().join("tokens.toml"));
        let tokens = Tokens::load(&path).map_err(anyhow::Error::from)?;
        if tokens.is_empty() {
            return Err(anyhow!(
                "no tokens in {}: create one with `plinth token --admin`, or pass --no-auth to serve on loopback without authentication",
                path.display()
            )
            .into());
        }
        Auth::Tokens(tokens)
    };
    let config = ServeConfig {
        listen: args.listen,
        auth,
        max_body: usize::try_from(args.max_body).unwrap_or(usize::MAX),
        max_upload: usize::try_from(args.max_upload).unwrap_or(usize::MAX),
        max_expanded: args.max_expanded,
        upload_dir: Some(home.root().join("uploads")),
        header_timeout: Duration::from_millis(args.header_timeout_ms),
        reconcile_every: Duration::from_millis(args.reconcile_ms.max(100)),
        install_wait: Duration::from_millis(args.install_wait_ms),
        events: events(&args, &home)?,
        status_webhook: args.status_webhook,
        ..ServeConfig::default()
    };
    let runtime = Runtime::with_config(RuntimeConfig {
        cache_dir: Some(home.cache_dir()),
        allow_remote: args.allow_remote.clone(),
        max_instances: args.max_instances.max(1),
        warm_instances: args.warm_instances,
        max_warm_instances: args.max_warm_instances,
        ..RuntimeConfig::default()
    })?;
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    tokio.block_on(async move {
        let store = Arc::new(FileStore::new(home));
        let server = Server::bind(config, runtime, store).await.map_err(anyhow::Error::from)?;
        // The first stdout line says where it listens (tests and scripts read it).
        println!("listening on http://{}", server.local_addr());
        server.run(shutdown_signal()).await.map_err(anyhow::Error::from)?;
        eprintln!("stopped");
        Ok::<_, Failure>(())
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
