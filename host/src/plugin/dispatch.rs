//! Calling a plugin by kind, JSON text in and JSON text out: the one dispatch path the CLI,
//! the server and embedders that route by name share. The typed methods of [`Plugin`]
//! (`run_node`, `call_tool`, ...) stay the API for callers that know the kind.

use serde_json::Value;

use super::Plugin;
use crate::error::InvokeError;
use crate::types::{CallContext, InboundMessage, Json, Kind, Outcome};

impl Plugin {
    /// Which export a request means: `kind` and `name` as given, or inferred when the
    /// plugin leaves one choice (one kind listing `name`; one export of the kind). Refuses
    /// a name the plugin does not list, before any instance is made.
    pub fn pick_export(&self, kind: Option<Kind>, name: Option<&str>) -> Result<(Kind, String), InvokeError> {
        let provides = || self.kinds().iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        let kind = match (kind, name) {
            (Some(k), _) => k,
            (None, Some(n)) => {
                let listing: Vec<Kind> = self.kinds().iter().copied().filter(|k| self.specs().of(*k).iter().any(|s| s.name == n)).collect();
                match listing.as_slice() {
                    [k] => *k,
                    [] if self.kinds().len() == 1 => self.kinds()[0],
                    [] => {
                        return Err(InvokeError::InvalidRequest(format!(
                            "the plugin lists no export named `{n}` (it provides: {})",
                            provides()
                        )));
                    }
                    several => {
                        let ks = several.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
                        return Err(InvokeError::InvalidRequest(format!("`{n}` is the name of a {ks}: say which kind")));
                    }
                }
            }
            (None, None) => match self.kinds() {
                [k] => *k,
                _ => return Err(InvokeError::InvalidRequest(format!("the plugin provides several kinds ({}): say which", provides()))),
            },
        };
        if !self.kinds().contains(&kind) {
            return Err(InvokeError::KindNotProvided { kind, provides: provides() });
        }
        let name = match name {
            Some(n) => n.to_string(),
            None => match self.specs().of(kind) {
                [one] => one.name.clone(),
                specs => {
                    let names = specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
                    return Err(InvokeError::InvalidRequest(format!("name the {kind} to call (available: {names})")));
                }
            },
        };
        Ok((kind, name))
    }

    /// Calls export `name` of `kind` with `input` (JSON text): node params, tool arguments,
    /// `{"cursor": …}` for a trigger, the inbound message `{"method","path","headers",
    /// "body"}` for a listener. The output is the plugin's JSON as it returned it (node,
    /// tool), `{"events","cursor","next_poll_ms"}` (trigger) or `{"dispatches","reply"}`
    /// (listener), the guest's JSON spliced in without a round trip through a `Value`.
    pub fn invoke(&self, kind: Kind, name: &str, ctx: &CallContext, input: &str) -> Result<Outcome<Json>, InvokeError> {
        let str_json = |s: &str| Value::from(s).to_string();
        match kind {
            Kind::Node => self.run_node(name, ctx, input),
            Kind::Tool => self.call_tool(name, ctx, input),
            Kind::Trigger => {
                let cursor = trigger_cursor(input)?;
                let out = self.poll_trigger(name, ctx, cursor.as_deref())?;
                Ok(out.map(|r| {
                    let events = r.events.iter().map(Json::as_str).collect::<Vec<_>>().join(",");
                    let cursor = r.cursor.as_deref().map_or("null".to_string(), str_json);
                    let next = r.next_poll.map_or("null".to_string(), |d| d.as_millis().to_string());
                    Json::from_checked(format!(r#"{{"events":[{events}],"cursor":{cursor},"next_poll_ms":{next}}}"#))
                }))
            }
            Kind::Listener => {
                let message = InboundMessage::from_json(input).map_err(InvokeError::InvalidRequest)?;
                let out = self.handle_message(name, ctx, &message)?;
                Ok(out.map(|r| {
                    let dispatches = r
                        .dispatches
                        .iter()
                        .map(|d| format!(r#"{{"event":{},"payload":{}}}"#, str_json(&d.event), d.payload.as_str()))
                        .collect::<Vec<_>>()
                        .join(",");
                    let reply = r.reply.as_ref().map_or("null".to_string(), |r| {
                        serde_json::json!({"status": r.status, "headers": r.headers, "body": String::from_utf8_lossy(&r.body)}).to_string()
                    });
                    Json::from_checked(format!(r#"{{"dispatches":[{dispatches}],"reply":{reply}}}"#))
                }))
            }
        }
    }
}

/// The cursor of a trigger input: `{"cursor": "…"}`, `{"cursor": null}` or `{}`.
fn trigger_cursor(input: &str) -> Result<Option<String>, InvokeError> {
    let v: Value = serde_json::from_str(input).map_err(|e| InvokeError::InvalidRequest(format!("trigger input is not JSON: {e}")))?;
    match v.get("cursor") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(InvokeError::InvalidRequest("a trigger's `cursor` must be a string or null".into())),
    }
}

impl InboundMessage {
    /// An inbound message from its JSON form `{"method","path","headers","body"}`: headers
    /// as an object or a list of `[name, value]` pairs, the body as text (any other JSON
    /// value is taken as its JSON text).
    pub fn from_json(text: &str) -> Result<InboundMessage, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("the message is not JSON: {e}"))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let bad_headers = || "headers must be an object or a list of [name, value] pairs".to_string();
        let headers = match v.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| match p.as_array().map(Vec::as_slice) {
                    Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                    _ => Err(bad_headers()),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad_headers()),
        };
        let body = match v.get("body") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.clone().into_bytes(),
            Some(other) => other.to_string().into_bytes(),
        };
        Ok(InboundMessage { method: field("method"), path: field("path"), headers, body })
    }
}
