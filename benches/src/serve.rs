//! Rows 9a/9b: the classifier called through `plinth serve` (in this process, on its own
//! tokio runtime, on 127.0.0.1) by a keep-alive client, over HTTP/1.1 and over h2c as
//! Orch8's remote-plugin client speaks it. The client runs on a current-thread runtime in
//! the measuring thread, so no thread handoff on the client side is counted as the
//! server's.

use std::sync::Arc;

use plinth::registry::state::Home;
use plinth::serve::{Auth, FileStore, ServeConfig, Server};

/// A running server with the classifier installed.
pub struct ServeFixture {
    pub url: String,
    _home: tempfile::TempDir,
    _server: std::thread::JoinHandle<()>,
}

impl ServeFixture {
    pub fn start() -> ServeFixture {
        let home_dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(home_dir.path());
        let runtime = crate::home_runtime(&home);
        plinth::registry::install(&runtime, &home, &crate::guest("text_classifier"), None, Default::default()).expect("install");
        let (tx, rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
            rt.block_on(async move {
                let config = ServeConfig { listen: ([127, 0, 0, 1], 0).into(), auth: Auth::Off, ..ServeConfig::default() };
                let server = Server::bind(config, runtime, Arc::new(FileStore::new(home))).await.expect("bind");
                tx.send(server.local_addr()).expect("send addr");
                server.run(std::future::pending()).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("server address");
        ServeFixture { url: format!("http://{addr}"), _home: home_dir, _server: server }
    }

    /// A client for one measuring thread.
    pub fn client(&self, h2c: bool) -> ServeClient {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
        // reqwest has rustls without a provider in this workspace (see host/Cargo.toml).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = reqwest::Client::builder();
        let http = if h2c { builder.http2_prior_knowledge() } else { builder.http1_only() }.build().expect("client");
        ServeClient { rt, http, url: format!("{}/text_classifier.classify", self.url) }
    }
}

/// A keep-alive client (one connection, reused).
pub struct ServeClient {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    url: String,
}

impl ServeClient {
    /// One invoke with Orch8's envelope; returns the output JSON.
    pub fn call(&self, args: &str) -> String {
        let body = crate::orch8_envelope(args);
        self.rt.block_on(async {
            let r = self.http.post(&self.url).header("content-type", "application/json").body(body).send().await.expect("send");
            assert!(r.status().is_success(), "{}", r.status());
            r.text().await.expect("body")
        })
    }
}

/// Row 9c: the same HTTP/1.1 invoke from a minimal blocking client (one keep-alive socket,
/// the request written by hand, as row 8b's client): what the server costs without an
/// HTTP client library's own.
pub struct RawClient {
    reader: std::io::BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
}

impl RawClient {
    pub fn connect(fixture: &ServeFixture) -> RawClient {
        let stream = std::net::TcpStream::connect(fixture.url.trim_start_matches("http://")).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        RawClient { reader: std::io::BufReader::new(stream.try_clone().expect("clone")), writer: stream }
    }

    pub fn call(&mut self, args: &str) -> String {
        use std::io::Write;
        let body = crate::orch8_envelope(args);
        let req = format!(
            "POST /text_classifier.classify HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(req.as_bytes()).expect("send");
        crate::read_message(&mut self.reader).expect("response")
    }
}
