//! WebSocket connections the host holds for listeners (as Orcheo's WeCom listener needs:
//! the platform pushes events over a socket the backend opens). The operator names the URL
//! in plugins.toml, `[plugin.listeners.NAME] connect = "ws(s)://…"`; the server connects,
//! hands each text or binary frame to the listener's `handle` as an `InboundMessage`
//! (method `WS`, path = the URL's path, no headers, the frame as the body), puts its
//! dispatches in the outbox, and sends its reply's body back on the socket. A dropped or
//! refused connection is retried with backoff (0.5 s doubling to 30 s); a connection whose
//! plugin is disabled, uninstalled or reconfigured is closed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::App;
use crate::dispatch::OutboxError;
use crate::registry::Key;
use crate::types::{InboundMessage, Kind};

type Wanted = (Key, String, String);

/// The connection tasks; dropped (the supervisor aborted at shutdown), they end too.
struct Tasks(HashMap<Wanted, tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in self.0.values() {
            task.abort();
        }
    }
}

/// Keeps one connection task per (plugin, listener, URL) the registry asks for, and feeds
/// each listener plugin whose config holds `test_events` its fixture once per generation.
pub(crate) async fn supervise(app: Arc<App>) {
    let mut tasks = Tasks(HashMap::new());
    let running = &mut tasks.0;
    let mut fed: HashSet<(Key, u64)> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut want: HashSet<Wanted> = HashSet::new();
        for i in app.registry.list() {
            if let Some(entries) = crate::schedule::test_events(&i.config)
                && !i.plugin.specs().of(Kind::Listener).is_empty()
                && fed.insert((i.key.clone(), i.generation))
            {
                tokio::spawn(feed(app.clone(), i.clone(), entries));
            }
            for (listener, url) in &i.settings.connects {
                if i.plugin.specs().of(Kind::Listener).iter().any(|s| &s.name == listener) {
                    want.insert((i.key.clone(), listener.clone(), url.clone()));
                } else {
                    tracing::warn!(plugin = %i.key, listener, "plugins.toml names a connection for a listener the plugin does not have");
                }
            }
        }
        running.retain(|k, task| {
            let keep = want.contains(k) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for k in want {
            running.entry(k.clone()).or_insert_with(|| tokio::spawn(connection(app.clone(), k.0, k.1, k.2)));
        }
    }
}

/// Fixture mode for a listener: each entry of `test_events` (an inbound message
/// `{"method","path","headers","body"}`, optionally naming its `"listener"`) through the
/// listener and its dispatches into the outbox, in order, with no live connection.
async fn feed(app: Arc<App>, installed: Arc<crate::registry::Installed>, entries: Vec<serde_json::Value>) {
    let Some(outbox) = app.outbox.clone() else { return };
    let first = installed.plugin.specs().of(Kind::Listener).first().map(|s| s.name.clone()).unwrap_or_default();
    for (n, entry) in entries.iter().enumerate() {
        let listener = entry.get("listener").and_then(|l| l.as_str()).unwrap_or(&first).to_string();
        let message = match InboundMessage::from_json(&entry.to_string()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(plugin = %installed.key, entry = n + 1, error = %e, "a test_events entry is not a message");
                continue;
            }
        };
        let Ok(permit) = app.calls.clone().acquire_owned().await else { return };
        match super::hooks::handle(installed.clone(), &listener, message, permit).await {
            Ok((_, events)) => {
                while let Err(e) = outbox.accept(&events) {
                    if !matches!(e, OutboxError::Full { .. }) {
                        tracing::warn!(plugin = %installed.key, entry = n + 1, error = %crate::error::chain(&e), "fixture events not accepted");
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Err(e) => tracing::warn!(plugin = %installed.key, entry = n + 1, error = %e.message, "a test_events message was refused"),
        }
    }
    tracing::info!(plugin = %installed.key, messages = entries.len(), "fed the listener its test_events");
}

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

async fn connection(app: Arc<App>, key: Key, listener: String, url: String) {
    let path = url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string())).unwrap_or_else(|| "/".into());
    let mut backoff = FIRST_BACKOFF;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(url.as_str())).await {
            Ok(Ok((mut socket, _))) => {
                tracing::info!(plugin = %key, listener, %url, "connected");
                backoff = FIRST_BACKOFF;
                while let Some(frame) = socket.next().await {
                    let body = match frame {
                        Ok(Message::Text(t)) => t.as_bytes().to_vec(),
                        Ok(Message::Binary(b)) => b.to_vec(),
                        Ok(Message::Close(_)) => break,
                        // Pings are answered by the library.
                        Ok(_) => continue,
                        Err(e) => {
                            tracing::warn!(plugin = %key, listener, %url, error = %e, "connection failed");
                            break;
                        }
                    };
                    let reply = match handle(&app, &key, &listener, &path, body).await {
                        Ok(reply) => reply,
                        Err(why) => {
                            tracing::warn!(plugin = %key, listener, error = %why, "a frame was not handled");
                            continue;
                        }
                    };
                    if let Some(reply) = reply.filter(|r| !r.is_empty()) {
                        let frame = match String::from_utf8(reply) {
                            Ok(text) => Message::text(text),
                            Err(e) => Message::binary(e.into_bytes()),
                        };
                        if let Err(e) = socket.send(frame).await {
                            tracing::warn!(plugin = %key, listener, error = %e, "cannot send the reply");
                            break;
                        }
                    }
                }
                tracing::info!(plugin = %key, listener, %url, retry_in = ?backoff, "disconnected");
            }
            Ok(Err(e)) => tracing::warn!(plugin = %key, listener, %url, error = %e, retry_in = ?backoff, "cannot connect"),
            Err(_) => tracing::warn!(plugin = %key, listener, %url, retry_in = ?backoff, "connecting timed out"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One frame through the listener's current generation; its events into the outbox (a full
/// outbox holds the frame, and so the socket, until there is room). The reply's body.
async fn handle(app: &Arc<App>, key: &Key, listener: &str, path: &str, body: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    let Some(outbox) = app.outbox.clone() else { return Err("no dispatcher".into()) };
    let installed = app.registry.get(key).ok_or("the plugin is gone")?;
    let message = InboundMessage { method: "WS".into(), path: path.to_string(), headers: Vec::new(), body };
    let permit = app.calls.clone().acquire_owned().await.map_err(|e| e.to_string())?;
    let (reply, events) = super::hooks::handle(installed, listener, message, permit).await.map_err(|e| e.message)?;
    loop {
        match outbox.accept(&events) {
            Ok(()) => return Ok(reply.map(|r| r.body)),
            Err(OutboxError::Full { .. }) => tokio::time::sleep(Duration::from_secs(1)).await,
            Err(e) => return Err(crate::error::chain(&e)),
        }
    }
}
