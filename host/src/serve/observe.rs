//! What the server reports about itself: Prometheus metrics (the library's call metrics,
//! plus plugins by status), and a request id and a tracing span per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use super::App;
use crate::telemetry;

/// Installs the Prometheus recorder as the process's `metrics` recorder, with buckets that
/// resolve calls from microseconds to seconds. `None` if a recorder is already installed
/// (an embedder's own): `/metrics` then says so, and the embedder's recorder gets the
/// numbers.
pub(crate) fn install_recorder() -> Option<PrometheusHandle> {
    let seconds = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    let fuel = [1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(telemetry::CALL_SECONDS.into()), &seconds)
        .ok()?
        .set_buckets_for_metric(Matcher::Full(telemetry::CALL_FUEL.into()), &fuel)
        .ok()?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).ok()?;
    Some(handle)
}

/// `/metrics`: admin only when authentication is on (the series name every plugin).
pub(crate) async fn render(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(e) = super::api::Caller::of(&app, &headers).and_then(|c| c.require_admin()) {
        return e.into_response();
    }
    match &app.metrics {
        Some(h) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()).into_response(),
        None => {
            (StatusCode::SERVICE_UNAVAILABLE, "another metrics recorder was installed in this process; read its exporter").into_response()
        }
    }
}

/// Sets `plinth_plugins{status}`: how many plugins are in each state.
pub(crate) fn plugins_by_status(counts: &[(&'static str, usize)]) {
    for &(state, n) in counts {
        metrics::gauge!("plinth_plugins", "status" => state).set(n as f64);
    }
}

/// Accepts the client's `x-request-id` (or makes one), runs the request in a span that
/// carries it, and echoes it on the response.
pub(crate) async fn request_id(request: Request, next: Next) -> Response {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| format!("plinth-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
