//! `plinth serve`: the plugin server (feature `serve`). Orch8's registry API over the same
//! `$PLINTH_HOME` the CLI uses, invoke over HTTP/1.1 and HTTP/2 (h2c prior knowledge, as
//! Orch8's remote-plugin client speaks it), bearer-token auth, request limits, health.
//!
//! The library stays synchronous: installs run on tokio's blocking pool, and a wasm call
//! runs on a worker thread turned blocking for its length (`block_in_place`), bounded by a
//! semaphore of the runtime's `max_instances`; neither ever holds up the reactor.

mod api;
pub mod auth;
mod classes;
mod error;
mod hooks;
mod invoke;
#[cfg(feature = "mcp")]
mod mcp;
mod observe;
mod source;
mod status;
pub mod store;
mod upload;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use auth::{Role, TokenError, Tokens};
pub use error::ApiError;
pub use store::{FileStore, PluginRecord, StateStore};

use crate::dispatch::{Dispatcher, Outbox, OutboxConfig, OutboxError};
use crate::engine::Runtime;
use crate::registry::{Discovery, Key, Registry, RegistryError};
use crate::schedule::{Cursors, Scheduler, SchedulerConfig};

/// Open connections at most (see the accept loop).
const MAX_CONNECTIONS: usize = 1024;

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Everyone is admin. Only allowed on a loopback address.
    Off,
    /// Bearer tokens.
    Tokens(Tokens),
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub auth: Auth,
    /// Largest request body other than an upload, bytes (413 above).
    pub max_body: usize,
    /// Largest `PUT /plugins/{name}/package` body, bytes.
    pub max_upload: usize,
    /// Largest size an uploaded archive may expand to, bytes.
    pub max_expanded: u64,
    /// Where uploads are unpacked; `None` turns `PUT /plugins/{name}/package` off.
    pub upload_dir: Option<std::path::PathBuf>,
    /// How long a client may take to send its request headers.
    pub header_timeout: Duration,
    /// How often the stored state is reconciled with what is loaded (CLI edits of the same
    /// home are picked up this often).
    pub reconcile_every: Duration,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub grace: Duration,
    /// How long `POST /plugins`, a `PATCH` with a new source and an upload wait for the
    /// install (which compiles the component) before answering `202 Accepted` and finishing
    /// in the background; `GET /plugins/{name}` then shows `installing` or `restarting`.
    pub install_wait: Duration,
    /// Where each status transition is POSTed as JSON (`None`: nowhere).
    pub status_webhook: Option<String>,
    /// Where trigger and listener events go; `None`: triggers are not polled and webhooks
    /// are refused (`503`).
    pub events: Option<EventsConfig>,
}

/// How the server runs triggers and listeners: the dispatcher events go to, the directory
/// that holds the outbox (`outbox/`) and the cursors (`cursors/`), and their settings.
#[derive(Clone)]
pub struct EventsConfig {
    pub dispatcher: Arc<dyn Dispatcher>,
    pub dir: std::path::PathBuf,
    pub outbox: OutboxConfig,
    pub scheduler: SchedulerConfig,
}

impl std::fmt::Debug for EventsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsConfig").field("dir", &self.dir).field("outbox", &self.outbox).field("scheduler", &self.scheduler).finish()
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8790)),
            auth: Auth::Off,
            max_body: 1 << 20,
            max_upload: 64 << 20,
            max_expanded: 256 << 20,
            upload_dir: None,
            header_timeout: Duration::from_secs(10),
            reconcile_every: Duration::from_secs(2),
            grace: Duration::from_secs(10),
            install_wait: Duration::from_secs(2),
            status_webhook: None,
            events: None,
        }
    }
}

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{addr} is not a loopback address and authentication is off: anyone who can reach it could install and run plugins; \
         use tokens, or listen on 127.0.0.1"
    )]
    OpenToTheNetwork { addr: SocketAddr },
    #[error("authentication is on but there are no tokens: create one (`plinth token --admin`) or turn authentication off on loopback")]
    NoTokens,
    #[error("cannot read the plugin state")]
    State(#[from] RegistryError),
    #[error("cannot accept connections")]
    Accept(#[source] std::io::Error),
    #[error("cannot open the event outbox")]
    Outbox(#[from] OutboxError),
    #[error("cannot start the trigger scheduler")]
    Scheduler(#[source] std::io::Error),
}

pub(crate) use status::Status;

/// Everything a handler needs.
pub(crate) struct App {
    pub runtime: Runtime,
    pub store: Arc<dyn StateStore>,
    pub registry: Arc<Registry>,
    /// Where events go (`None`: no dispatcher configured).
    pub outbox: Option<Arc<Outbox>>,
    /// Polls the triggers while the server runs.
    pub scheduler: std::sync::Mutex<Option<Scheduler>>,
    pub config: ServeConfig,
    pub statuses: status::Statuses,
    /// Bounds the calls on the blocking pool (the runtime's `max_instances`).
    pub calls: Arc<Semaphore>,
    /// Serializes registry writes, so each one is followed by its own reconcile.
    pub writes: tokio::sync::Mutex<()>,
    pub ready: AtomicBool,
    /// Renders `/metrics`; `None` when the embedder installed its own recorder first.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The tools of `/mcp`, over the same registry and call slots.
    #[cfg(feature = "mcp")]
    pub tools: crate::mcp::ToolServer,
}

impl App {
    /// Reconciles the loaded plugins with the store and records each plugin's status.
    pub(crate) async fn reconcile(self: &Arc<Self>) -> Result<(), ApiError> {
        let app = self.clone();
        #[cfg(feature = "mcp")]
        let generations = |r: &Registry| r.list().iter().map(|i| (i.key.clone(), i.generation)).collect::<Vec<_>>();
        #[cfg(feature = "mcp")]
        let before = generations(&self.registry);
        let report = tokio::task::spawn_blocking(move || app.store.reconcile(&app.runtime, &app.registry))
            .await
            .map_err(|e| ApiError::internal(format!("reconcile task failed: {e}")))?;
        match report {
            Ok(report) => {
                self.record(&report);
                // MCP clients subscribed to tool changes hear of any plugin change.
                #[cfg(feature = "mcp")]
                if generations(&self.registry) != before {
                    self.tools.announce();
                }
                self.ready.store(true, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %error::chain(&e), "reconcile failed");
                Err(e.into())
            }
        }
    }

    fn record(&self, report: &Discovery) {
        self.statuses.settle(self.registry.list().iter().map(|i| i.key.clone()), report);
    }

    /// Puts plugins whose triggers fail in `error`, and says in `last_error` of a running
    /// plugin that a trigger is paused by a full outbox.
    pub(crate) fn record_triggers(&self) {
        let scheduler = self.scheduler.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = scheduler.as_ref() else { return };
        let mut troubled: std::collections::HashMap<Key, status::TriggerTrouble> = std::collections::HashMap::new();
        let mut statuses = s.statuses();
        drop(scheduler);
        for state in ["polling", "paused", "error"] {
            let n = statuses.iter().filter(|t| t.state == state).count();
            metrics::gauge!(crate::telemetry::TRIGGERS, "state" => state).set(n as f64);
        }
        // Errors first, so a plugin with both shows the error.
        statuses.sort_by_key(|t| t.state != "error");
        for t in statuses.into_iter().filter(|t| t.state != "polling") {
            let why = format!(
                "trigger `{}` {}: {}",
                t.trigger,
                if t.state == "error" { "fails" } else { "is paused" },
                t.last_error.unwrap_or_default()
            );
            troubled.entry(t.key.clone()).or_insert(status::TriggerTrouble { error: t.state == "error", why });
        }
        self.statuses.triggers(troubled);
    }

    /// The scheduler's view of `key`'s triggers, for `GET /plugins[/{name}]` (per record,
    /// so a range of the scheduler's map, not a scan): the backoff of a failing one shows in
    /// `failures` and `next_poll_in_ms`.
    pub(crate) fn trigger_statuses(&self, key: &Key) -> serde_json::Value {
        let scheduler = self.scheduler.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = scheduler.as_ref() else { return serde_json::json!([]) };
        let list: Vec<serde_json::Value> = s
            .statuses_of(key)
            .into_iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.trigger,
                    "state": t.state,
                    "failures": t.failures,
                    "next_poll_in_ms": t.next_in.as_millis() as u64,
                    "last_error": t.last_error,
                    "polls": t.polls,
                    "events": t.events,
                })
            })
            .collect();
        serde_json::Value::Array(list)
    }

    /// A stored plugin's status; one the server has not reconciled yet (just installed by
    /// the CLI) is `installing`.
    pub(crate) fn status(&self, key: &Key) -> Status {
        self.statuses.get(key).unwrap_or(Status::of("installing"))
    }
}

/// A bound server, not yet serving.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
}

impl Server {
    /// Checks the settings, loads every enabled plugin of `store` and binds the address.
    pub async fn bind(config: ServeConfig, runtime: Runtime, store: Arc<dyn StateStore>) -> Result<Server, ServeError> {
        match &config.auth {
            Auth::Off if !config.listen.ip().is_loopback() => return Err(ServeError::OpenToTheNetwork { addr: config.listen }),
            Auth::Tokens(t) if t.is_empty() => return Err(ServeError::NoTokens),
            _ => {}
        }
        if let Some(uploads) = config.upload_dir.clone() {
            let _ = tokio::task::spawn_blocking(move || upload::sweep(&uploads)).await;
        }
        let listener = TcpListener::bind(config.listen).await.map_err(|source| ServeError::Bind { addr: config.listen, source })?;
        let calls = Arc::new(Semaphore::new(runtime.config().max_instances as usize));
        let outbox = match &config.events {
            Some(ev) => {
                let (dir, sink, settings) = (ev.dir.join("outbox"), ev.dispatcher.clone(), ev.outbox.clone());
                let opened = tokio::task::spawn_blocking(move || Outbox::open(&dir, sink, settings))
                    .await
                    .map_err(|e| ServeError::Scheduler(std::io::Error::other(e.to_string())))??;
                Some(Arc::new(opened))
            }
            None => None,
        };
        let hook = config.status_webhook.clone().map(|url| {
            let (tx, rx) = tokio::sync::mpsc::channel(status::QUEUE);
            tokio::spawn(status::deliver(url, rx));
            tx
        });
        let registry = Arc::new(Registry::new());
        #[cfg(feature = "mcp")]
        let tools = crate::mcp::ToolServer::new(crate::mcp::Tools::Registry { registry: registry.clone(), tenant: None, only: None })
            .with_slots(calls.clone());
        let app = Arc::new(App {
            runtime,
            store,
            registry,
            outbox,
            scheduler: std::sync::Mutex::new(None),
            config,
            statuses: status::Statuses::new(hook),
            calls,
            writes: tokio::sync::Mutex::new(()),
            ready: AtomicBool::new(false),
            metrics: observe::install_recorder(),
            #[cfg(feature = "mcp")]
            tools,
        });
        // A plugin that fails to load is reported in its status; the server still starts.
        let _ = app.reconcile().await;
        Ok(Server { listener, app })
    }

    /// The address it listens on (the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests
    /// finish within the grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let app = self.app;
        let router: Router = api::router(app.clone());
        if let (Some(ev), Some(outbox)) = (&app.config.events, &app.outbox) {
            let scheduler =
                Scheduler::start(app.registry.clone(), Cursors::new(ev.dir.join("cursors")), outbox.clone(), ev.scheduler.clone())
                    .map_err(ServeError::Scheduler)?;
            *app.scheduler.lock().unwrap_or_else(|e| e.into_inner()) = Some(scheduler);
        }
        let reconciler = tokio::spawn(reconcile_loop(app.clone()));
        let sockets = app.outbox.is_some().then(|| tokio::spawn(ws::supervise(app.clone())));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A client that trickles its headers is cut off (HTTP/1); HTTP/2 gets keep-alive
        // pings so a dead peer does not hold its streams.
        builder.http1().timer(TokioTimer::new()).header_read_timeout(app.config.header_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));
        builder.http2().max_concurrent_streams(256);
        // Connections beyond this are closed at once: each holds a file descriptor, and a
        // server out of them cannot read its own state.
        let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        // Out of file descriptors and the like: wait a moment, keep serving.
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = connections.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, limit = MAX_CONNECTIONS, "too many connections; closing the new one");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let service = TowerToHyperService::new(router.clone());
                    let (builder, watcher, first_byte) = (builder.clone(), graceful.watcher(), app.config.header_timeout);
                    tokio::spawn(async move {
                        let _permit = permit;
                        // A client must start talking (an HTTP/1 request line or the HTTP/2
                        // preface) within the header timeout: hyper waits for the preface
                        // without one, so a silent connection would be held forever.
                        let mut probe = [0u8; 1];
                        match tokio::time::timeout(first_byte, stream.peek(&mut probe)).await {
                            Ok(Ok(n)) if n > 0 => {}
                            _ => return,
                        }
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                        if let Err(e) = watcher.watch(conn).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        reconciler.abort();
        if let Some(s) = sockets {
            s.abort();
        }
        drop(self.listener);
        if tokio::time::timeout(app.config.grace, graceful.shutdown()).await.is_err() {
            tracing::warn!(grace = ?app.config.grace, "in-flight requests did not finish within the grace period");
        }
        // Polls in flight finish (each by its deadline); undelivered events stay on disk.
        let stopping = app.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(mut s) = stopping.scheduler.lock().unwrap_or_else(|e| e.into_inner()).take() {
                s.stop();
            }
            if let Some(o) = &stopping.outbox {
                o.stop();
            }
        })
        .await;
        Ok(())
    }
}

async fn reconcile_loop(app: Arc<App>) {
    let mut tick = tokio::time::interval(app.config.reconcile_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let _guard = app.writes.lock().await;
        let _ = app.reconcile().await;
        app.record_triggers();
    }
}
