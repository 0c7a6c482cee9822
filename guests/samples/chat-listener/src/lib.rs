//! Sample listener plugin: `chat` receives a chat platform's webhooks.
//!
//! - Verifies `X-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed with
//!   `config.secret`; a missing or wrong signature is refused (`invalid-input`). Frames of
//!   a WebSocket the host holds (method `WS`) come over an authenticated connection and are
//!   not signed.
//! - Answers a URL-verification challenge (`{"type":"url_verification","challenge":"…"}`)
//!   with the challenge as the reply body, dispatching nothing.
//! - Normalizes a message (`{"type":"message","channel","user","text","ts"}`) into one
//!   `message.created` dispatch.

use hmac::{Hmac, Mac};
use plinth_guest::{Context, Dispatch, Error, Listener, ListenerSpec, Message, Reply, Response, Value, json};
use sha2::Sha256;

struct ChatListener;

fn verify(secret: &str, message: &Message) -> Result<(), Error> {
    let header = message.header("x-signature").ok_or_else(|| Error::invalid_input("missing X-Signature header"))?;
    let hex_sig = header.strip_prefix("sha256=").ok_or_else(|| Error::invalid_input("X-Signature must start with sha256="))?;
    let sig = hex::decode(hex_sig).map_err(|_| Error::invalid_input("X-Signature is not hex"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(&message.body);
    mac.verify_slice(&sig).map_err(|_| Error::invalid_input("signature mismatch"))
}

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a str, Error> {
    body[name].as_str().ok_or_else(|| Error::invalid_input(format!("message has no string `{name}`")))
}

impl Listener for ChatListener {
    fn listeners() -> Vec<ListenerSpec> {
        let mut spec = ListenerSpec::new("chat", "chat", "Verify signed chat webhooks and normalize messages.");
        spec.config_schema = Some(json!({"type": "object", "properties": {"secret": {"type": "string"}}, "required": ["secret"]}));
        vec![spec]
    }

    fn handle(name: &str, ctx: &Context, message: Message) -> Result<Response, Error> {
        if name != "chat" {
            return Err(Error::not_found(name));
        }
        // A frame on a WebSocket the host opened to the platform comes over an
        // authenticated connection and carries no signature; a webhook must be signed.
        if message.method != "WS" {
            let secret = ctx.config("secret").and_then(Value::as_str).ok_or_else(|| Error::failed("config.secret is not set"))?;
            verify(secret, &message)?;
        }
        let body = message.json()?;
        match body["type"].as_str() {
            Some("url_verification") => {
                let challenge = field(&body, "challenge")?;
                Ok(Response {
                    dispatches: vec![],
                    reply: Some(Reply {
                        status: 200,
                        headers: vec![("content-type".into(), "text/plain".into())],
                        body: challenge.as_bytes().to_vec(),
                    }),
                })
            }
            Some("message") => {
                let payload = json!({
                    "channel": field(&body, "channel")?,
                    "user": field(&body, "user")?,
                    "text": field(&body, "text")?,
                    "ts": body["ts"].clone(),
                });
                plinth_guest::info!("message in {}", payload["channel"]);
                Ok(Response { dispatches: vec![Dispatch { event: "message.created".into(), payload }], reply: None })
            }
            other => Err(Error::invalid_input(format!("unsupported event type {other:?}"))),
        }
    }
}

plinth_guest::export_listener!(ChatListener);
