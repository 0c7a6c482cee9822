//! `plinth listen NAME --fixture FILE` and `plinth trigger run NAME --fixture FILE`: a
//! listener's or trigger's fixture cases through the same path `plinth serve` takes —
//! `handle`/`poll`, the cursor carried from poll to poll, events with their ids — with no
//! live connection; the events are printed one JSON line each, as a dispatcher gets them.
//! For plugin authors and their CI (Orcheo's fixture mode).

use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use clap::{Args, Subcommand};
use plinth::dispatch::{Event, Source};
use plinth::{CallContext, InboundMessage, Json, Kind, Plugin};
use serde_json::Value;

use super::invoke::installed;
use super::load;
use crate::exit::{Failure, invoke_exit_code};
use crate::flags::{CacheArgs, CapArgs, parse_tenant};

/// Which plugin, and the fixture to run through it.
#[derive(Args)]
pub struct FixtureArgs {
    /// An installed plugin's name, or a component file (.wasm).
    plugin: PathBuf,
    /// The fixture: a JSON array. For a listener, inbound messages
    /// `{"method","path","headers","body"}`; for a trigger, one entry per poll, each
    /// `{"data": …}` (the call context's data for that poll) or `null`.
    #[arg(long)]
    fixture: PathBuf,
    /// Which listener or trigger; may be omitted when the plugin has one.
    #[arg(long)]
    name: Option<String>,
    /// Tenant: the scope an installed plugin is resolved in, and the events' source.
    #[arg(long, value_parser = parse_tenant)]
    tenant: Option<String>,
    /// Plugin config JSON (default: the installed plugin's, else `{}`).
    #[arg(long)]
    config: Option<String>,
    #[command(flatten)]
    caps: CapArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Subcommand)]
pub enum TriggerCmd {
    /// Run a trigger's polls from a fixture and print the events.
    Run {
        #[command(flatten)]
        args: FixtureArgs,
        /// The cursor of the first poll (default: none, as on a trigger's first poll).
        #[arg(long)]
        cursor: Option<String>,
    },
}

/// The plugin, the export, its config and the fixture's entries.
fn prepare(args: &FixtureArgs, kind: Kind) -> Result<(Plugin, String, CallContext, Vec<Value>), Failure> {
    let by_name = !args.plugin.is_file() && args.plugin.extension().is_none_or(|e| e != "wasm");
    let (plugin, config) = if by_name {
        installed(&args.plugin.to_string_lossy(), args.tenant.as_deref(), &[])?
    } else {
        (load(&args.plugin, &args.caps, &args.cache)?, Json::from(serde_json::json!({})))
    };
    let (_, name) = plugin.pick_export(Some(kind), args.name.as_deref())?;
    let config = match &args.config {
        Some(c) => Json::parse(c.as_str()).map_err(|e| Failure { code: 1, error: anyhow!("--config is not valid JSON: {e}") })?,
        None => config,
    };
    let text = std::fs::read_to_string(&args.fixture).with_context(|| format!("--fixture {}: cannot read it", args.fixture.display()))?;
    let entries: Vec<Value> = serde_json::from_str(&text)
        .map_err(|e| Failure { code: 1, error: anyhow!("--fixture {}: not a JSON array: {e}", args.fixture.display()) })?;
    let ctx = CallContext { tenant: args.tenant.clone(), config, ..CallContext::default() };
    Ok((plugin, name, ctx, entries))
}

fn source(plugin: &Plugin, args: &FixtureArgs, kind: Kind, name: &str) -> Source {
    Source { tenant: args.tenant.clone(), plugin: plugin.name().to_string(), kind, name: name.to_string() }
}

fn print(event: &Event) {
    outln!("{}", serde_json::to_string(event).unwrap_or_default());
}

/// `plinth listen`: each message through `handle`; its reply on stderr, its dispatches on
/// stdout. Every message is handled; the exit code is the first failure's.
pub fn listen(args: FixtureArgs) -> Result<(), Failure> {
    let (plugin, name, ctx, entries) = prepare(&args, Kind::Listener)?;
    let source = source(&plugin, &args, Kind::Listener, &name);
    let mut first_failure: Option<Failure> = None;
    for (i, entry) in entries.iter().enumerate() {
        let n = i + 1;
        let message = InboundMessage::from_json(&entry.to_string()).map_err(|e| anyhow!("--fixture message {n}: {e}"))?;
        match plugin.handle_message(&name, &ctx, &message) {
            Ok(out) => {
                let reply = match &out.output.reply {
                    Some(r) => format!("reply {} ({} bytes)", r.status, r.body.len()),
                    None => "no reply (202)".into(),
                };
                eprintln!("message {n}: {reply}, {} dispatch(es)", out.output.dispatches.len());
                for (j, d) in out.output.dispatches.iter().enumerate() {
                    print(&Event::new(format!("fixture-{n}-{j}"), source.clone(), d.event.clone(), &d.payload));
                }
            }
            Err(e) => {
                eprintln!("message {n}: error: {}", plinth::error::chain(&e));
                first_failure.get_or_insert(Failure { code: invoke_exit_code(&e), error: anyhow!("message {n}: {e}") });
            }
        }
    }
    first_failure.map_or(Ok(()), Err)
}

/// `plinth trigger run`: each entry one poll, the cursor carried from each to the next.
pub fn trigger(cmd: TriggerCmd) -> Result<(), Failure> {
    let TriggerCmd::Run { args, cursor } = cmd;
    let (plugin, name, ctx, entries) = prepare(&args, Kind::Trigger)?;
    let source = source(&plugin, &args, Kind::Trigger, &name);
    let mut cursor = cursor;
    for (i, entry) in entries.iter().enumerate() {
        let n = i + 1;
        let data = entry.get("data").cloned().unwrap_or(Value::Null);
        let ctx = CallContext { data: Json::from(data), ..ctx.clone() };
        let out = plugin.poll_trigger(&name, &ctx, cursor.as_deref()).map_err(|e| {
            let code = invoke_exit_code(&e);
            Failure { code, error: anyhow!("poll {n}: {e}") }
        })?;
        let polled = out.output;
        for (j, e) in polled.events.iter().enumerate() {
            print(&Event::new(Event::poll_id(&source, cursor.as_deref(), j), source.clone(), name.clone(), e));
        }
        if let Some(c) = polled.cursor {
            cursor = Some(c);
        }
        let next = polled.next_poll.map(|d| format!(", next poll in {} ms", d.as_millis())).unwrap_or_default();
        eprintln!("poll {n}: {} event(s), cursor {}{next}", polled.events.len(), cursor.as_deref().unwrap_or("(none)"));
    }
    Ok(())
}
