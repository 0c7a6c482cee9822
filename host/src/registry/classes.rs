//! Dispatch classes (dagstack's five): several plugins implement one extension point — a
//! *capability* their manifests declare (`[provides.capabilities] "notify.send" = "send"`)
//! — and a caller names the capability instead of a plugin:
//!
//! - `singleton`: exactly one provider in scope, else an error naming every candidate;
//! - `broadcast-collect`: every provider, each one's output or error, keyed by plugin;
//! - `broadcast-notify`: every provider, only the failures reported;
//! - `chain`: the providers in their manifests' `order`, each one's output the next one's
//!   input, stopping at the first error;
//! - `capability`: the providers a [`Selector`] picks (plugin name, version requirement),
//!   each one's output or error.
//!
//! Scope is the handler rule applied per plugin name: a tenant's own plugins, then the
//! global ones it has no plugin of the same name for; a tenant never reaches another's.
//! Broadcasts and `capability` call their providers at once, on at most `parallelism`
//! threads (never more than the runtime's `max_instances`, which bounds running calls
//! anyway: a thread beyond it would only get `Busy`); `singleton` and `chain` are
//! sequential by nature. Every provider call is a normal call: a fresh instance, the
//! plugin's own limits, grants and config, its own deadline.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{Installed, Key, Registry};
use crate::engine::Runtime;
use crate::error::InvokeError;
use crate::types::{CallContext, Json, Kind, Outcome};

/// How a capability's providers are called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DispatchClass {
    Singleton,
    BroadcastCollect,
    BroadcastNotify,
    Chain,
    Capability,
}

impl DispatchClass {
    pub const ALL: [DispatchClass; 5] = [
        DispatchClass::Singleton,
        DispatchClass::BroadcastCollect,
        DispatchClass::BroadcastNotify,
        DispatchClass::Chain,
        DispatchClass::Capability,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DispatchClass::Singleton => "singleton",
            DispatchClass::BroadcastCollect => "broadcast-collect",
            DispatchClass::BroadcastNotify => "broadcast-notify",
            DispatchClass::Chain => "chain",
            DispatchClass::Capability => "capability",
        }
    }

    /// Whether its providers are independent of each other (called at once).
    fn concurrent(self) -> bool {
        matches!(self, DispatchClass::BroadcastCollect | DispatchClass::BroadcastNotify | DispatchClass::Capability)
    }
}

impl fmt::Display for DispatchClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DispatchClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DispatchClass::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let names = DispatchClass::ALL.map(DispatchClass::as_str).join(", ");
            format!("unknown dispatch class `{s}` (expected {names})")
        })
    }
}

/// Which providers to take: by plugin name, by version requirement, or both. Empty: all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub plugin: Option<String>,
    pub version: Option<semver::VersionReq>,
}

impl Selector {
    fn matches(&self, installed: &Installed) -> bool {
        self.plugin.as_ref().is_none_or(|p| *p == installed.key.name) && self.version.as_ref().is_none_or(|v| v.matches(&installed.version))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            [self.plugin.as_ref().map(|p| format!("plugin {p}")), self.version.as_ref().map(|v| format!("version {v}"))]
                .into_iter()
                .flatten()
                .collect();
        f.write_str(&parts.join(", "))
    }
}

/// One plugin's implementation of a capability.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The generation it was found in: a call that started keeps it through a hot reload.
    pub installed: Arc<Installed>,
    pub kind: Kind,
    pub export: String,
    /// Its place in a chain (lower first; ties by plugin name).
    pub order: i64,
}

impl Provider {
    pub fn key(&self) -> &Key {
        &self.installed.key
    }

    /// `{plugin, tenant, version, kind, export, order}`.
    pub fn to_json(&self) -> Value {
        let k = self.key();
        json!({
            "plugin": k.name, "tenant": k.tenant, "version": self.installed.version.to_string(),
            "kind": self.kind, "export": self.export, "order": self.order,
        })
    }
}

/// A call of a capability: [`CapabilityCall::new`], then what differs from the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CapabilityCall<'a> {
    pub class: DispatchClass,
    pub capability: &'a str,
    /// Whose scope: the tenant's own plugins, then the global ones.
    pub tenant: Option<&'a str>,
    pub selector: Selector,
    /// The input JSON (node params or tool arguments) of every provider; in a chain, of the
    /// first one.
    pub input: &'a str,
    /// Sent with every provider call; its `tenant` is set to [`CapabilityCall::tenant`] and
    /// its `config` (when a non-empty object) is laid key by key over each provider's own.
    pub context: CallContext,
    /// At most this many provider calls at once; `None` and anything above it is the
    /// runtime's `max_instances`.
    pub parallelism: Option<usize>,
}

impl<'a> CapabilityCall<'a> {
    /// A call of `capability` as `class` says with `input`, in the global scope, every
    /// provider, a default context, as many at once as the runtime allows.
    pub fn new(class: DispatchClass, capability: &'a str, input: &'a str) -> CapabilityCall<'a> {
        CapabilityCall {
            class,
            capability,
            tenant: None,
            selector: Selector::default(),
            input,
            context: CallContext::default(),
            parallelism: None,
        }
    }

    /// In `tenant`'s scope.
    pub fn tenant(mut self, tenant: Option<&'a str>) -> Self {
        self.tenant = tenant;
        self
    }

    /// Only the providers `selector` picks.
    pub fn selector(mut self, selector: Selector) -> Self {
        self.selector = selector;
        self
    }

    /// Sent with every provider call (see [`CapabilityCall::context`]).
    pub fn context(mut self, context: CallContext) -> Self {
        self.context = context;
        self
    }

    /// At most `n` provider calls at once (capped at the runtime's `max_instances`).
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = Some(n);
        self
    }
}

/// One provider's call and its result.
#[derive(Debug)]
pub struct ProviderCall {
    pub provider: Provider,
    pub result: Result<Outcome<Json>, InvokeError>,
}

/// What a dispatch did: its calls in provider order (a chain's in the order they ran).
#[derive(Debug)]
pub struct Dispatched {
    pub class: DispatchClass,
    pub capability: String,
    pub calls: Vec<ProviderCall>,
}

impl Dispatched {
    /// The calls that failed.
    pub fn failures(&self) -> impl Iterator<Item = (&Provider, &InvokeError)> {
        self.calls.iter().filter_map(|c| c.result.as_ref().err().map(|e| (&c.provider, e)))
    }

    /// A singleton's or a chain's output: the last call's.
    pub fn output(&self) -> Option<&Json> {
        match self.class {
            DispatchClass::Singleton | DispatchClass::Chain => self.calls.last().and_then(|c| c.result.as_ref().ok()).map(|o| &o.output),
            _ => None,
        }
    }

    /// The report as JSON, errors rendered by `error`:
    /// `singleton` `{provider, output}`, `chain` `{steps, output}`, `broadcast-collect` and
    /// `capability` `{results: {PLUGIN: {ok, output | error}}}`, `broadcast-notify`
    /// `{failures: {PLUGIN: error}}`; all with `class`, `capability` and `called`.
    pub fn to_json(&self, error: impl Fn(&InvokeError) -> Value) -> Value {
        let output = |o: &Outcome<Json>| serde_json::from_str::<Value>(o.output.as_str()).unwrap_or(Value::Null);
        let mut report = json!({"class": self.class, "capability": self.capability, "called": self.calls.len()});
        let by_plugin = |f: &dyn Fn(&ProviderCall) -> Option<Value>| -> Value {
            Value::Object(self.calls.iter().filter_map(|c| f(c).map(|v| (c.provider.key().name.clone(), v))).collect())
        };
        match self.class {
            DispatchClass::Singleton => {
                report["provider"] = self.calls.first().map(|c| c.provider.to_json()).unwrap_or(Value::Null);
                report["output"] = self.output().and_then(|o| serde_json::from_str(o.as_str()).ok()).unwrap_or(Value::Null);
            }
            DispatchClass::Chain => {
                let steps = self.calls.iter().map(|c| {
                    let mut step = c.provider.to_json();
                    if let Ok(o) = &c.result {
                        step["wall_us"] = json!(o.wall.as_micros() as u64);
                    }
                    step
                });
                report["steps"] = Value::Array(steps.collect());
                report["output"] = self.output().and_then(|o| serde_json::from_str(o.as_str()).ok()).unwrap_or(Value::Null);
            }
            DispatchClass::BroadcastCollect | DispatchClass::Capability => {
                report["results"] = by_plugin(&|c| {
                    Some(match &c.result {
                        Ok(o) => json!({"ok": true, "output": output(o)}),
                        Err(e) => json!({"ok": false, "error": error(e)}),
                    })
                });
            }
            DispatchClass::BroadcastNotify => report["failures"] = by_plugin(&|c| c.result.as_ref().err().map(&error)),
        }
        report
    }
}

/// Why a capability could not be dispatched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    #[error("capability `{name}` {reason}")]
    BadCapability { name: String, reason: String },
    #[error(
        "no plugin provides capability `{capability}`{}{}; install one whose plinth.toml lists it under [provides] capabilities",
        tenant.as_ref().map(|t| format!(" for tenant {t} or globally")).unwrap_or_default(),
        if selector.is_empty() { String::new() } else { format!(" that matches {selector}") },
    )]
    NoProvider { capability: String, tenant: Option<String>, selector: String },
    #[error(
        "capability `{capability}` has {} providers in scope ({}), and singleton needs exactly one: disable or uninstall the others, or pick one with a plugin selector",
        candidates.len(), candidates.iter().map(Key::to_string).collect::<Vec<_>>().join(", ")
    )]
    Ambiguous { capability: String, candidates: Vec<Key> },
    /// A singleton's provider, or a chain's step, failed (`step` counts from 1; the steps
    /// before it ran and are in `completed`). Retryable when the call's error is.
    #[error("{provider} failed as {} of capability `{capability}`", if *step == 0 { "the provider".to_string() } else { format!("step {step} of the chain") })]
    Failed {
        capability: String,
        provider: Box<Key>,
        step: usize,
        completed: Vec<Key>,
        #[source]
        source: Box<InvokeError>,
    },
}

impl DispatchError {
    /// Whether the same dispatch may succeed later.
    pub fn retryable(&self) -> bool {
        matches!(self, DispatchError::Failed { source, .. } if source.retryable())
    }
}

impl Registry {
    /// The providers of `capability` in `tenant`'s scope (its own plugins, then the global
    /// ones it has no plugin of the same name for), in chain order: `order`, then name.
    pub fn providers(&self, capability: &str, tenant: Option<&str>) -> Vec<Provider> {
        let mut out: Vec<Provider> = self
            .in_scope(tenant)
            .into_iter()
            .filter_map(|i| {
                let p = i.settings.capabilities.get(capability)?;
                let (kind, export, order) = (p.kind, p.export.clone(), p.order);
                Some(Provider { installed: i, kind, export, order })
            })
            .collect();
        out.sort_by(|a, b| (a.order, &a.key().name).cmp(&(b.order, &b.key().name)));
        out
    }

    /// The providers of `capability` in `tenant`'s scope that `selector` picks, in chain
    /// order: the ones a dispatch would consider.
    pub fn select(&self, capability: &str, tenant: Option<&str>, selector: &Selector) -> Vec<Provider> {
        let mut providers = self.providers(capability, tenant);
        providers.retain(|p| selector.matches(&p.installed));
        providers
    }

    /// Every capability with providers in `tenant`'s scope, and its providers.
    pub fn capabilities(&self, tenant: Option<&str>) -> BTreeMap<String, Vec<Provider>> {
        let names: std::collections::BTreeSet<String> =
            self.read().values().flat_map(|i| i.settings.capabilities.keys().cloned()).collect();
        names.into_iter().map(|c| (c.clone(), self.providers(&c, tenant))).filter(|(_, p)| !p.is_empty()).collect()
    }

    /// Calls the providers of a capability as its class says. A broadcast or `capability`
    /// dispatch returns every call's result (failures included); a singleton or chain whose
    /// call fails is [`DispatchError::Failed`].
    pub fn dispatch(&self, runtime: &Runtime, call: &CapabilityCall<'_>) -> Result<Dispatched, DispatchError> {
        super::check_capability(call.capability).map_err(|reason| DispatchError::BadCapability {
            name: call.capability.to_string(),
            reason: format!("is not a capability name: {reason}"),
        })?;
        let providers = self.select(call.capability, call.tenant, &call.selector);
        let none = || DispatchError::NoProvider {
            capability: call.capability.to_string(),
            tenant: call.tenant.map(str::to_string),
            selector: call.selector.to_string(),
        };
        let is_broadcast = matches!(call.class, DispatchClass::BroadcastCollect | DispatchClass::BroadcastNotify);
        if providers.is_empty() && !is_broadcast {
            return Err(none());
        }
        let done = |calls| Dispatched { class: call.class, capability: call.capability.to_string(), calls };
        match call.class {
            DispatchClass::Singleton => {
                // The tenant's own providers decide when it has any (its choice overrides the
                // global default); else the global ones.
                let own: Vec<&Provider> = providers.iter().filter(|p| p.key().tenant.is_some()).collect();
                let level: Vec<Provider> = if own.is_empty() { providers.clone() } else { own.into_iter().cloned().collect() };
                let [one] = <[Provider; 1]>::try_from(level).map_err(|level| DispatchError::Ambiguous {
                    capability: call.capability.to_string(),
                    candidates: level.iter().map(|p| p.key().clone()).collect(),
                })?;
                let result = call_one(&one, call, call.input);
                match result {
                    Ok(out) => Ok(done(vec![ProviderCall { provider: one, result: Ok(out) }])),
                    Err(source) => Err(DispatchError::Failed {
                        capability: call.capability.to_string(),
                        provider: Box::new(one.key().clone()),
                        step: 0,
                        completed: Vec::new(),
                        source: Box::new(source),
                    }),
                }
            }
            DispatchClass::Chain => {
                let mut calls = Vec::with_capacity(providers.len());
                let mut input = call.input.to_string();
                for (i, p) in providers.into_iter().enumerate() {
                    match call_one(&p, call, &input) {
                        Ok(out) => {
                            input = out.output.as_str().to_string();
                            calls.push(ProviderCall { provider: p, result: Ok(out) });
                        }
                        Err(source) => {
                            return Err(DispatchError::Failed {
                                capability: call.capability.to_string(),
                                provider: Box::new(p.key().clone()),
                                step: i + 1,
                                completed: calls.iter().map(|c: &ProviderCall| c.provider.key().clone()).collect(),
                                source: Box::new(source),
                            });
                        }
                    }
                }
                Ok(done(calls))
            }
            class => {
                debug_assert!(class.concurrent());
                let max = runtime.config().max_instances.max(1) as usize;
                let threads = call.parallelism.unwrap_or(max).clamp(1, max);
                let results = call_all(&providers, threads, |p| call_one(p, call, call.input));
                Ok(done(providers.into_iter().zip(results).map(|(provider, result)| ProviderCall { provider, result }).collect()))
            }
        }
    }
}

/// One provider's call: its export, its own config with the call's keys laid over it.
fn call_one(p: &Provider, call: &CapabilityCall<'_>, input: &str) -> Result<Outcome<Json>, InvokeError> {
    let mut ctx = call.context.clone();
    ctx.tenant = call.tenant.map(str::to_string);
    ctx.config = lay_over(&p.installed.config, &call.context.config);
    p.installed.plugin.invoke(p.kind, &p.export, &ctx, input)
}

/// `base` with the keys of `over` (when it is a non-empty object) laid over it.
fn lay_over(base: &Json, over: &Json) -> Json {
    let Ok(Value::Object(over)) = over.to_value() else { return base.clone() };
    if over.is_empty() {
        return base.clone();
    }
    let mut merged = base.to_value().unwrap_or_else(|_| json!({}));
    match &mut merged {
        Value::Object(m) => m.extend(over),
        other => *other = Value::Object(over),
    }
    Json::from(merged)
}

/// `f` of every item, on at most `threads` threads (this one among them), results in the
/// items' order.
fn call_all<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let r = f(item);
            *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.min(items.len()) {
            // A thread the OS will not give is one fewer at once, not a failure: this
            // thread works through whatever the others do not take.
            if std::thread::Builder::new().name("plinth-dispatch".into()).spawn_scoped(s, work).is_err() {
                break;
            }
        }
        work();
    });
    // Every slot was filled: the items were all taken, and a worker that panicked made the
    // scope panic before this.
    slots.into_iter().filter_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())).collect()
}
