//! Outbound HTTP for plugins granted it: `wasi:http/outgoing-handler` with every request's
//! authority checked against the plugin's asked-and-granted hosts **before** any
//! connection, the response body capped, and the request's own timeouts clamped to the
//! call's remaining time. (A guest waiting on the network is blocked in the host, where
//! epochs cannot reach it; `caps::blocking` bounds every such wait by the deadline.)

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpHooks};

use super::grants::Capabilities;
use super::logs::LogSink;
use crate::types::Level;

/// Default cap on a response body a plugin may receive.
pub(crate) const MAX_RESPONSE_BODY: u64 = 16 << 20;

/// The per-call `wasi:http` state.
pub(crate) struct HttpState {
    pub(crate) ctx: WasiHttpCtx,
    pub(crate) policy: HttpPolicy,
}

pub(crate) struct HttpPolicy {
    caps: Arc<Capabilities>,
    plugin: Arc<str>,
    deadline: Option<Instant>,
    logs: LogSink,
}

impl HttpState {
    pub(crate) fn new(caps: Arc<Capabilities>, plugin: Arc<str>, deadline: Option<Instant>, logs: LogSink) -> Self {
        HttpState { ctx: WasiHttpCtx::new(), policy: HttpPolicy { caps, plugin, deadline, logs } }
    }
}

type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>), HttpError>> + Send>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16();
        if !self.caps.allows_http(&scheme, &host, port) {
            let target = match port {
                Some(p) => format!("{scheme}://{host}:{p}"),
                None => format!("{scheme}://{host}"),
            };
            // Into the call's logs, which are also emitted through tracing with the plugin name.
            self.logs.host(Level::Warn, format!("outbound HTTP to {target} denied for plugin {}: not in its granted hosts", self.plugin));
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let deadline = self.deadline;
        Box::new(async move {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let options = clamp(options.unwrap_or_default(), left);
            let send = wasmtime_wasi_http::default_send_request(request, Some(options));
            let (response, io) = match left {
                Some(left) => tokio::time::timeout(left, send).await.map_err(|_| HttpError::ConnectionTimeout)??,
                None => send.await?,
            };
            let response = response.map(|body| BoundedBody::new(body.boxed_unsync(), deadline, MAX_RESPONSE_BODY).boxed_unsync());
            Ok((response, Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>))
        })
    }
}

/// Caps each of the request's own timeouts at what is left of the call.
fn clamp(mut o: RequestOptions, left: Option<Duration>) -> RequestOptions {
    if let Some(left) = left {
        for t in [&mut o.connect_timeout, &mut o.first_byte_timeout, &mut o.between_bytes_timeout] {
            *t = Some(t.map_or(left, |t| t.min(left)));
        }
    }
    o
}

/// A response body that fails once the call's deadline passes or more than `max` bytes
/// arrive.
struct BoundedBody<B> {
    inner: B,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    left: u64,
}

impl<B> BoundedBody<B> {
    fn new(inner: B, deadline: Option<Instant>, max: u64) -> Self {
        let deadline = deadline.map(|d| Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(d))));
        BoundedBody { inner, deadline, left: max }
    }
}

impl<B: Body<Data = Bytes, Error = HttpError> + Unpin> Body for BoundedBody<B> {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        if let Some(d) = self.deadline.as_mut()
            && d.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > self.left {
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(MAX_RESPONSE_BODY)))));
                    }
                    self.left -= n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
