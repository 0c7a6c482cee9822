//! The routes, who may call them, and the registry API (Orch8's `/plugins`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Role;
use super::error::ApiError;
use super::source::Source;
use super::store::{Edit, PluginRecord};
use super::{App, Auth, invoke};
use crate::registry::state::PluginType;
use crate::registry::{Key, Meta, check_name};

/// Orch8's limits on registry fields.
const MAX_NAME: usize = 255;

pub(crate) fn router(app: Arc<App>) -> Router {
    #[cfg(feature = "mcp")]
    let base = super::mcp::router(&app);
    #[cfg(not(feature = "mcp"))]
    let base = Router::new();
    base.route("/health", get(|| async { axum::Json(json!({"status": "ok"})) }))
        .route("/ready", get(ready))
        .route("/metrics", get(super::observe::render))
        .route("/plugins", get(list).post(create))
        .route("/plugins/{name}", get(show).patch(patch).delete(remove))
        .route("/plugins/{name}/package", axum::routing::put(super::upload::handler))
        .route("/invoke/{plugin}/{export}", post(invoke::by_path))
        .route("/dispatch/{class}/{capability}", post(super::classes::dispatch))
        .route("/capabilities", get(super::classes::list))
        // Listener webhooks, any method; the tenant in the route or a tenant token.
        .route("/hooks/t/{tenant}/{plugin}/{listener}", any(super::hooks::global))
        .route("/hooks/t/{tenant}/{plugin}/{listener}/{*rest}", any(super::hooks::global))
        .route("/hooks/{plugin}/{listener}", any(super::hooks::global))
        .route("/hooks/{plugin}/{listener}/{*rest}", any(super::hooks::global))
        // Orch8's remote-plugin form: `grpc://host:port/plugin.export` posts here.
        .route("/{target}", post(invoke::by_target))
        .fallback(|| async { ApiError::not_found("no such endpoint (see the README's \"Running the server\")") })
        .layer(axum::middleware::from_fn(super::observe::request_id))
        .with_state(app)
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.ready.load(std::sync::atomic::Ordering::Acquire) {
        axum::Json(json!({"status": "ready"})).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "starting"}))).into_response()
    }
}

/// Who is calling, and in which tenant's scope.
pub(crate) struct Caller {
    pub role: Role,
    /// The tenant the request acts for: the token's, or for an admin the `X-Tenant-Id`
    /// header (none: global).
    pub tenant: Option<String>,
}

impl Caller {
    pub(crate) fn of(app: &App, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let header_tenant = match headers.get("x-tenant-id") {
            None => None,
            Some(v) => {
                let t = v.to_str().map_err(|_| ApiError::bad_request("X-Tenant-Id is not text"))?;
                if t.is_empty() {
                    None
                } else {
                    check_name("tenant", t).map_err(ApiError::bad_request)?;
                    Some(t.to_string())
                }
            }
        };
        let role = match &app.config.auth {
            Auth::Off => {
                same_machine(headers)?;
                Role::Admin
            }
            Auth::Tokens(tokens) => {
                let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
                let value = headers.get(header::AUTHORIZATION).ok_or_else(|| unauthorized("missing `Authorization: Bearer TOKEN`"))?;
                let token = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .ok_or_else(|| unauthorized("the Authorization header must be `Bearer TOKEN`"))?;
                tokens.check(token.trim()).ok_or_else(|| unauthorized("unknown token"))?
            }
        };
        let tenant = match (&role, header_tenant) {
            (Role::Admin, t) => t,
            (Role::Tenant(own), Some(h)) if h != *own => {
                return Err(ApiError::forbidden(format!("this token is for tenant `{own}`, not `{h}`")));
            }
            (Role::Tenant(own), _) => Some(own.clone()),
        };
        Ok(Caller { role, tenant })
    }

    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Tenant(_) => Err(ApiError::forbidden("changing the registry needs an admin token")),
        }
    }

    /// Whether this caller may see a plugin of `tenant` (`None`: global).
    fn sees(&self, tenant: Option<&str>) -> bool {
        match (&self.role, tenant) {
            (_, None) => true,
            (Role::Admin, Some(_)) if self.tenant.is_none() => true,
            (_, Some(t)) => self.tenant.as_deref() == Some(t),
        }
    }
}

/// With authentication off, every request is admin: only requests addressed to a loopback
/// name and not sent by a web page of another origin are taken. Without this check, any
/// page the operator opens could POST to `127.0.0.1:8790` (a "simple" cross-site request),
/// and a DNS-rebinding page could read the answers.
fn same_machine(headers: &HeaderMap) -> Result<(), ApiError> {
    let loopback = |authority: &str| {
        let host = match authority.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => authority
                .rsplit_once(':')
                .map_or(authority, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { authority }),
        };
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    };
    let refuse =
        |what: &str| Err(ApiError::forbidden(format!("{what}: with authentication off, only this machine's own clients are served")));
    // HTTP/2 carries the authority in the URI, not a Host header; hyper fills neither in
    // for us, so a missing Host is taken as a direct client.
    if let Some(host) = headers.get(header::HOST)
        && !host.to_str().is_ok_and(loopback)
    {
        return refuse("the request is addressed to another host name");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
        if !loopback(authority) {
            return refuse("the request comes from a web page of another origin");
        }
    }
    Ok(())
}

/// The JSON of one plugin: Orch8's fields, then Plinth's.
pub(crate) fn record_json(app: &App, r: &PluginRecord) -> Value {
    let status = match app.statuses.transient(&r.key) {
        Some(s) => s,
        None if !r.enabled => super::Status::of("disabled"),
        None => app.status(&r.key),
    };
    let locked = r.locked.as_ref();
    json!({
        "name": r.key.name,
        "plugin_type": r.plugin_type.as_str(),
        "source": r.source,
        "tenant_id": r.key.tenant.clone().unwrap_or_default(),
        "enabled": r.enabled,
        "config": r.config,
        "description": r.description,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "version": locked.map(|l| l.version.clone()),
        "sha256": locked.map(|l| l.sha256.clone()),
        "kinds": locked.map(|l| l.kinds.clone()).unwrap_or_default(),
        "exports": locked.map(|l| l.exports.clone()).unwrap_or_default(),
        "status": status.state,
        "last_error": status.last_error,
        "triggers": app.trigger_statuses(&r.key),
    })
}

/// Runs a blocking store operation on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::registry::RegistryError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("task failed: {e}")))?.map_err(ApiError::from)
}

pub(crate) async fn records(app: &Arc<App>) -> Result<Vec<PluginRecord>, ApiError> {
    let store = app.store.clone();
    blocking(move || store.list()).await
}

/// The plugin `name` as `caller` resolves it: its tenant's own, else the global one.
async fn find(app: &Arc<App>, caller: &Caller, name: &str) -> Result<PluginRecord, ApiError> {
    let all = records(app).await?;
    let pick = |tenant: Option<&str>| all.iter().find(|r| r.key.name == name && r.key.tenant.as_deref() == tenant).cloned();
    caller.tenant.as_deref().and_then(|t| pick(Some(t))).or_else(|| pick(None)).ok_or_else(|| {
        ApiError::not_found(format!(
            "no plugin `{name}`{}",
            caller.tenant.as_ref().map(|t| format!(" for tenant {t} or globally")).unwrap_or_default()
        ))
    })
}

#[derive(Deserialize)]
struct ListQuery {
    tenant_id: Option<String>,
}

async fn list(State(app): State<Arc<App>>, headers: HeaderMap, q: QueryResult<ListQuery>) -> Result<Response, ApiError> {
    let q = query(q)?;
    let caller = Caller::of(&app, &headers)?;
    let filter = q.tenant_id.map(|t| if t.is_empty() { None } else { Some(t) });
    if let Some(Some(t)) = &filter
        && !caller.sees(Some(t))
    {
        return Err(ApiError::forbidden(format!("this caller cannot list tenant `{t}`'s plugins")));
    }
    let stored = records(&app).await?;
    let wanted = |key: &Key| caller.sees(key.tenant.as_deref()) && filter.as_ref().is_none_or(|f| key.tenant == *f);
    let mut list: Vec<Value> = stored.iter().filter(|r| wanted(&r.key)).map(|r| record_json(&app, r)).collect();
    for (key, record, _) in app.statuses.pending() {
        if wanted(&key) && !stored.iter().any(|r| r.key == key) {
            list.push(record);
        }
    }
    Ok(axum::Json(Value::Array(list)).into_response())
}

async fn show(State(app): State<Arc<App>>, headers: HeaderMap, Path(name): Path<String>) -> Result<Response, ApiError> {
    let caller = Caller::of(&app, &headers)?;
    match find(&app, &caller, &name).await {
        Ok(r) => Ok(axum::Json(record_json(&app, &r)).into_response()),
        Err(e) => pending_record(&app, &caller, &name).map(|r| axum::Json(r).into_response()).ok_or(e),
    }
}

/// An install of `name` in `caller`'s scope that is not in the state yet (or failed in the
/// background), as `GET` shows it.
fn pending_record(app: &App, caller: &Caller, name: &str) -> Option<Value> {
    let pending = app.statuses.pending();
    let pick = |tenant: Option<&str>| pending.iter().find(|(k, _, _)| k.name == name && k.tenant.as_deref() == tenant);
    let (_, record, _) = caller.tenant.as_deref().and_then(|t| pick(Some(t))).or_else(|| pick(None))?;
    Some(record.clone())
}

/// What `GET` shows of a plugin being installed, before the install has compiled it.
pub(crate) fn installing_json(
    key: &Key,
    plugin_type: PluginType,
    source: &str,
    config: Option<&toml::Table>,
    description: Option<&str>,
) -> Value {
    let now = crate::registry::state::now_rfc3339();
    json!({
        "name": key.name,
        "plugin_type": plugin_type.as_str(),
        "source": source,
        "tenant_id": key.tenant.clone().unwrap_or_default(),
        "enabled": true,
        "config": config.map_or_else(|| json!({}), |c| serde_json::to_value(c).unwrap_or_default()),
        "description": description.unwrap_or_default(),
        "created_at": now,
        "updated_at": now,
        "version": null,
        "sha256": null,
        "kinds": [],
        "exports": [],
        "status": "installing",
        "last_error": null,
        "triggers": [],
    })
}

/// Runs a registry write that installs code (compiling it can take seconds) in the
/// background under `state` (`installing` or `restarting`, with `record` to show meanwhile):
/// its own answer if it ends within the install wait, else `202 Accepted` with `record` and
/// a `Location` to poll. A write that fails after the 202 leaves status `error` with the
/// reason.
pub(crate) async fn installing(
    app: &Arc<App>,
    key: Key,
    state: &'static str,
    record: Value,
    write: impl std::future::Future<Output = Result<StatusCode, ApiError>> + Send + 'static,
) -> Result<Response, ApiError> {
    let pending = if state == "installing" { Some(record.clone()) } else { None };
    if !app.statuses.begin(&key, state, pending) {
        return Err(in_progress(&key));
    }
    // Who reports a failure: the handler while its client waits, the task once the client
    // was answered 202. Whichever of the two gets here second sees the other's mark.
    let marks = Arc::new(std::sync::Mutex::new(Marks::default()));
    let (task_app, task_key, task_marks) = (app.clone(), key.clone(), marks.clone());
    let mut task = tokio::spawn(async move {
        let result = write.await;
        let mut m = task_marks.lock().unwrap_or_else(|e| e.into_inner());
        m.done = true;
        match &result {
            Ok(_) => task_app.statuses.end(&task_key),
            Err(e) if m.detached => task_app.statuses.failed(&task_key, e.message.clone()),
            Err(_) => {}
        }
        result
    });
    let waited = tokio::time::timeout(app.config.install_wait, &mut task).await;
    let done = {
        let mut m = marks.lock().unwrap_or_else(|e| e.into_inner());
        m.detached = !m.done;
        m.done
    };
    if !done {
        let mut record = record;
        record["status"] = json!(state);
        let location = format!("/plugins/{}", key.name);
        return Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], axum::Json(record)).into_response());
    }
    // Finished, possibly just as the wait ran out: the client hears the outcome itself.
    let result = match waited {
        Ok(r) => r,
        Err(_) => task.await,
    }
    .map_err(|e| ApiError::internal(format!("task failed: {e}")))?;
    if let Err(e) = &result {
        app.statuses.abandon(&key, e.message.clone());
    }
    answer(app, &key, result?).await
}

/// Reads a JSON body of type `T` under the body cap; unknown fields are refused by `T`.
/// A query string as a handler takes it: the rejection answered in the API's error shape.
pub(crate) type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

pub(crate) fn query<T>(q: QueryResult<T>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
}

pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(body: Body, limit: usize) -> Result<T, ApiError> {
    let bytes = read_body(body, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON for this endpoint: {e}")))
}

pub(crate) async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is over the {limit}-byte limit (or was cut off)"),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default = "wasm")]
    plugin_type: String,
    source: String,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    /// Orch8 forces `enabled` to true on create; accepted and ignored likewise.
    #[serde(default)]
    #[allow(dead_code)]
    enabled: Option<bool>,
}

fn wasm() -> String {
    "wasm".into()
}

/// The tenant a write acts on: the body's `tenant_id` ('' = global) unless the caller's
/// scope says otherwise, in which case they must agree.
fn write_tenant(caller: &Caller, body: Option<&str>) -> Result<Option<String>, ApiError> {
    let body = body.filter(|t| !t.is_empty());
    match (&caller.tenant, body) {
        (Some(scope), Some(b)) if scope != b => {
            Err(ApiError::forbidden(format!("the body's tenant_id `{b}` disagrees with X-Tenant-Id `{scope}`")))
        }
        (Some(scope), _) => Ok(Some(scope.clone())),
        (None, Some(b)) => {
            check_name("tenant_id", b).map_err(ApiError::bad_request)?;
            Ok(Some(b.to_string()))
        }
        (None, None) => Ok(None),
    }
}

fn config_table(config: Option<Value>) -> Result<Option<toml::Table>, ApiError> {
    match config {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => toml::Table::try_from(v).map(Some).map_err(|e| {
            ApiError::bad_request(format!("config cannot be stored (TOML has no null, and arrays hold one type of value): {e}"))
        }),
        Some(_) => Err(ApiError::bad_request("config must be a JSON object")),
    }
}

async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let caller = Caller::of(&app, &headers)?;
    caller.require_admin()?;
    let body: CreateBody = json_body(body, app.config.max_body).await?;
    if body.name.len() > MAX_NAME {
        return Err(ApiError::bad_request(format!("name is {} characters, over the {MAX_NAME}-character limit", body.name.len())));
    }
    check_name("name", &body.name).map_err(ApiError::bad_request)?;
    let key = Key { tenant: write_tenant(&caller, body.tenant_id.as_deref())?, name: body.name.clone() };
    // `allow_remote` is the operator's (plugins.toml, `--allow-remote`), never an API client's.
    let meta = Meta { config: config_table(body.config)?, description: body.description, allow_remote: None };
    let plugin_type = match body.plugin_type.as_str() {
        "wasm" => PluginType::Wasm,
        "grpc" => PluginType::Grpc,
        other => {
            return Err(ApiError::bad_request(format!("plugin_type `{other}` is not served by this plinth (it serves `wasm` and `grpc`)")));
        }
    };
    let source = Source::check(plugin_type, &body.source).await?;
    not_stored(&app, &key).await?;
    let record = installing_json(&key, plugin_type, &source.text(), meta.config.as_ref(), meta.description.as_deref());
    let task_app = app.clone();
    let k = key.clone();
    installing(&app, key, "installing", record, async move {
        let app = task_app;
        let _write = app.writes.lock().await;
        // Installed by the CLI meanwhile? (This install's own `installing` is not a conflict.)
        not_stored(&app, &k).await?;
        let (store, runtime, key) = (app.store.clone(), app.runtime.clone(), k.clone());
        blocking(move || source.install(&*store, &runtime, &key, meta)).await?;
        app.reconcile().await?;
        Ok(StatusCode::CREATED)
    })
    .await
}

/// Whether an install task has finished, and whether its client was answered `202`.
#[derive(Default)]
struct Marks {
    done: bool,
    detached: bool,
}

/// The `409` for a write of `key` while another one is in progress.
fn in_progress(key: &Key) -> ApiError {
    let m = format!("plugin {key} is being changed (installed, updated or removed): GET /plugins/{} shows when it is done", key.name);
    ApiError::new(StatusCode::CONFLICT, "conflict", m)
}

/// `409` when `key` is in the stored state.
pub(crate) async fn not_stored(app: &Arc<App>, key: &Key) -> Result<(), ApiError> {
    if records(app).await?.iter().any(|r| r.key == *key) {
        let m = format!("plugin {key} is already installed: PATCH /plugins/{} to change it", key.name);
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", m));
    }
    Ok(())
}

/// Runs a registry write to its end even when the client goes away: a handler's future is
/// dropped on disconnect, a spawned task is not, so the write lock is held until the
/// install and its reconcile are done (and a second write waits for them).
pub(crate) async fn detached<T: Send + 'static>(
    write: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(write).await.map_err(|e| ApiError::internal(format!("task failed: {e}")))?
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    source: Option<String>,
    enabled: Option<bool>,
    config: Option<Value>,
    description: Option<String>,
}

/// The installed plugin an admin's write names: the scope's own (no fallback to the global
/// one, which a tenant-scoped write must not change).
async fn target(app: &Arc<App>, caller: &Caller, name: &str) -> Result<Key, ApiError> {
    let key = Key { tenant: caller.tenant.clone(), name: name.to_string() };
    if records(app).await?.iter().any(|r| r.key == key) {
        Ok(key)
    } else {
        Err(ApiError::not_found(format!("plugin {key} is not installed")))
    }
}

async fn patch(State(app): State<Arc<App>>, headers: HeaderMap, Path(name): Path<String>, body: Body) -> Result<Response, ApiError> {
    let caller = Caller::of(&app, &headers)?;
    caller.require_admin()?;
    let body: PatchBody = json_body(body, app.config.max_body).await?;
    let edit = Edit { enabled: body.enabled, config: config_table(body.config)?, description: body.description };
    let key = target(&app, &caller, &name).await?;
    // A remote plugin's new source is an endpoint; a wasm plugin's a path on the server.
    let source = match body.source.as_deref() {
        Some(s) => {
            let current = records(&app).await?.into_iter().find(|r| r.key == key).map_or(PluginType::Wasm, |r| r.plugin_type);
            Some(Source::check(current, s).await?)
        }
        None => None,
    };
    let task_app = app.clone();
    let write = async move {
        let app = task_app;
        let _write = app.writes.lock().await;
        let key = target(&app, &caller, &name).await?;
        let (store, runtime) = (app.store.clone(), app.runtime.clone());
        blocking(move || {
            if let Some(source) = source {
                source.update(&*store, &runtime, &key)?;
            }
            store.edit(&key, edit)
        })
        .await?;
        app.reconcile().await?;
        Ok(StatusCode::OK)
    };
    if body.source.is_some() {
        // A new source compiles: `restarting` while it does (the old code keeps serving).
        let current = records(&app)
            .await?
            .into_iter()
            .find(|r| r.key == key)
            .ok_or_else(|| ApiError::not_found(format!("plugin {key} is not installed")))?;
        let record = record_json(&app, &current);
        installing(&app, key, "restarting", record, write).await
    } else {
        let status = detached(write).await?;
        answer(&app, &key, status).await
    }
}

/// The record of `key` as it is now, with `status`.
async fn answer(app: &Arc<App>, key: &Key, status: StatusCode) -> Result<Response, ApiError> {
    let r = records(app).await?.into_iter().find(|r| r.key == *key).ok_or_else(|| ApiError::internal("written, but not in the state"))?;
    Ok((status, axum::Json(record_json(app, &r))).into_response())
}

async fn remove(State(app): State<Arc<App>>, headers: HeaderMap, Path(name): Path<String>) -> Result<Response, ApiError> {
    let caller = Caller::of(&app, &headers)?;
    caller.require_admin()?;
    detached(async move {
        let _write = app.writes.lock().await;
        let key = match target(&app, &caller, &name).await {
            Ok(key) => key,
            // A background install that failed is only a status: deleting it clears it.
            Err(e) => {
                let key = Key { tenant: caller.tenant.clone(), name: name.clone() };
                if app.statuses.pending().iter().any(|(k, _, s)| *k == key && s.state == "error") {
                    app.statuses.end(&key);
                    return Ok(StatusCode::NO_CONTENT.into_response());
                }
                return Err(e);
            }
        };
        if !app.statuses.begin(&key, "uninstalling", None) {
            return Err(in_progress(&key));
        }
        let (store, k) = (app.store.clone(), key.clone());
        let removed = blocking(move || store.uninstall(&k)).await;
        let reconciled = app.reconcile().await;
        app.statuses.end(&key);
        removed?;
        reconciled?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}
