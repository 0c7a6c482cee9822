//! `get {"scheme","authority","path"}`: one HTTP GET through `wasi:http/outgoing-handler`.
//! Reports `{"status","body"}` or `{"error"}` (the WASI HTTP error code) instead of failing.

use plinth_guest::{Context, Error, Tool, ToolSpec, Value, json};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

struct HttpProbe;

/// Hostile: writes a request body that nobody will read (the request is never sent), so
/// the write blocks in the host once the body buffer is full.
fn stall_body(authority: &str) -> Result<Value, String> {
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Post).map_err(|()| "bad method")?;
    request.set_scheme(Some(&Scheme::Http)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    let body = request.body().map_err(|()| "no body")?;
    let out = body.write().map_err(|()| "no stream")?;
    let chunk = vec![b'x'; 4096];
    let mut written = 0u64;
    loop {
        out.blocking_write_and_flush(&chunk).map_err(|e| format!("write failed after {written} bytes: {e:?}"))?;
        written += chunk.len() as u64;
        if written > 1 << 30 {
            return Ok(json!({ "written": written }));
        }
    }
}

fn get(scheme: &str, authority: &str, path: &str) -> Result<Value, String> {
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "bad method")?;
    let scheme = if scheme == "https" { Scheme::Https } else { Scheme::Http };
    request.set_scheme(Some(&scheme)).map_err(|()| "bad scheme")?;
    request.set_authority(Some(authority)).map_err(|()| "bad authority")?;
    request.set_path_with_query(Some(path)).map_err(|()| "bad path")?;
    let body = request.body().map_err(|()| "no body")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending.get().ok_or("response not ready")?.map_err(|()| "response already taken")?.map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let incoming = response.consume().map_err(|()| "no body")?;
    let stream = incoming.stream().map_err(|()| "no stream")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(format!("body: {}", e.to_debug_string())),
        }
    }
    Ok(json!({ "status": status, "body": String::from_utf8_lossy(&bytes) }))
}

impl Tool for HttpProbe {
    fn tools() -> Vec<ToolSpec> {
        vec![
            ToolSpec::new("get", "HTTP GET scheme://authority/path.", json!({"type": "object"})),
            ToolSpec::new("stall-body", "Blocks writing a request body nobody reads.", json!({"type": "object"})),
        ]
    }

    fn call(name: &str, _ctx: &Context, args: Value) -> Result<Value, Error> {
        let s = |k: &str, d: &'static str| args[k].as_str().unwrap_or(d).to_string();
        let result = match name {
            "stall-body" => stall_body(&s("authority", "")),
            _ => get(&s("scheme", "http"), &s("authority", ""), &s("path", "/")),
        };
        Ok(match result {
            Ok(v) => v,
            Err(e) => json!({ "error": e }),
        })
    }
}

plinth_guest::export_tool!(HttpProbe);
