//! A remote plugin (`grpc://`) called through Plinth against the same service called
//! directly: the Node `http2` server of tests/peers, h2c, one connection kept open. The
//! difference is what Plinth's remote path adds (the hand-over to its client thread, the
//! address check, the answer's size cap and JSON check).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use plinth::{CallContext, Endpoint, Plugin, RemoteOptions, Runtime, RuntimeConfig};

/// The Node server, killed when dropped.
pub struct NodePeer {
    child: Child,
    pub port: u16,
}

impl NodePeer {
    pub fn start() -> NodePeer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/peers/node_http2_plugin.mjs");
        let mut child = Command::new("node").arg(script).stdout(Stdio::piped()).spawn().expect("start node (is it installed?)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read the port");
        let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("unexpected {line:?}"));
        NodePeer { child, port }
    }
}

impl Drop for NodePeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The service as a Plinth remote plugin.
pub fn through_plinth(peer: &NodePeer) -> impl FnMut(&str) -> String + use<> {
    let runtime =
        Runtime::with_config(RuntimeConfig { allow_remote: vec!["127.0.0.1:*".into()], ..RuntimeConfig::default() }).expect("runtime");
    let endpoint = Endpoint::parse(&format!("grpc://127.0.0.1:{}/Scoring.Score", peer.port)).expect("endpoint");
    let plugin: Plugin = runtime.remote("scoring", &endpoint, &RemoteOptions::default()).expect("remote plugin");
    move |args: &str| plugin.run_node("scoring", &CallContext::default(), args).expect("remote call").output.as_str().to_string()
}

/// The same request from reqwest (h2c prior knowledge) on a current-thread runtime in the
/// calling thread: the floor for an HTTP/2 client in Rust.
pub fn direct(peer: &NodePeer) -> impl FnMut(&str) -> String + use<> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let http = reqwest::Client::builder().http2_prior_knowledge().build().expect("client");
    let url = format!("http://127.0.0.1:{}/Scoring.Score", peer.port);
    move |args: &str| {
        let body = crate::orch8_envelope(args);
        rt.block_on(async {
            let r = http.post(&url).header("content-type", "application/json").body(body).send().await.expect("send");
            r.text().await.expect("body")
        })
    }
}
