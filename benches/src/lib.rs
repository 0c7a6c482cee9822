//! What the benchmarks compare, set up once and shared by the criterion bench (`call`) and
//! the report writer (`report`). Every row runs the same logic: parse JSON arguments,
//! classify the text, serialize the result.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub mod fleet;
pub mod idle;
pub mod langs;
pub mod measure;
pub mod peers;
pub mod remote;
pub mod round2;
pub mod serve;

use plinth::bench_support::ReusedInstance;
use plinth::{CallContext, LoadOptions, Plugin, Runtime};
use serde_json::{Value, json};

/// Row 1: the tool's work done natively — the floor every plugin call is compared with.
pub fn classify_native(args: &str) -> String {
    let v: Value = serde_json::from_str(args).expect("bench input is JSON");
    let text = v["text"].as_str().or_else(|| v["params"]["text"].as_str()).expect("bench input has text");
    let c = classify::classify(text);
    json!({"category": c.category, "confidence": c.confidence, "matched": c.matched}).to_string()
}

/// Row 1b: the same work with the serde types the sample guest uses since issue 17 (part 5):
/// the arguments parsed straight into a struct, the result serialized from one.
pub fn classify_native_typed(args: &str) -> String {
    let a: classify::Args = serde_json::from_str(args).expect("bench input has text");
    serde_json::to_string(&classify::classify(&a.text)).expect("serializable")
}

/// A `{"text": …}` arguments object of about `size` bytes.
pub fn args_of_size(size: usize) -> String {
    let words = "Your order has shipped. Buy now, limited offer! See you at lunch. ";
    let mut text = String::with_capacity(size);
    while text.len() + 12 < size {
        text.push_str(words);
    }
    text.truncate(size.saturating_sub(12));
    json!({ "text": text }).to_string()
}

/// `target/guests`, where `cargo xtask build-guests` writes every guest.
pub fn guest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guests")
}

/// `target/guests/<name>.wasm`.
pub fn guest(name: &str) -> PathBuf {
    let p = guest_dir().join(format!("{name}.wasm"));
    assert!(p.exists(), "{} is missing: run `cargo xtask build-guests` first", p.display());
    p
}

/// The runtime the CLI and `plinth serve` build for a home: the defaults and its code cache.
pub fn home_runtime(home: &plinth::registry::state::Home) -> Runtime {
    Runtime::with_config(plinth::RuntimeConfig { cache_dir: Some(home.cache_dir()), ..plinth::RuntimeConfig::default() }).expect("runtime")
}

/// Loads `name` with `warm` pre-warmed instances.
pub fn load(runtime: &Runtime, name: &str, warm: usize) -> Plugin {
    runtime.load_file_with(guest(name), &LoadOptions { warm_instances: Some(warm), ..LoadOptions::default() }).expect("load guest")
}

/// Waits (untimed) until a pre-warmed instance is ready, so the timed call is the warm path.
pub fn wait_warm(p: &Plugin) {
    while p.warm_ready() == 0 {
        std::thread::yield_now();
    }
}

/// Waits (untimed) until `p` has `n` pre-warmed instances ready: no refill is then still
/// running to share the cores with the next timed call.
pub fn wait_full(p: &Plugin, n: usize) {
    while p.warm_ready() < n {
        std::thread::yield_now();
    }
}

/// Row 2/3: a Plinth tool call through the public API.
pub fn plinth_call(p: &Plugin, args: &str) -> String {
    p.call_tool("classify", &CallContext::default(), args).expect("plinth call").output.as_str().to_string()
}

/// Row 5: the legacy adapter.
pub fn legacy_call(p: &Plugin, args: &str) -> String {
    p.run_node(p.name(), &CallContext::default(), args).expect("legacy call").output.as_str().to_string()
}

/// Row 4: one instance reused across calls (wasmtime directly, no isolation between calls).
pub fn reused(p: &Plugin) -> ReusedInstance {
    ReusedInstance::new(p).expect("instantiate")
}

/// Row 6: how engines run core-module plugins today: a cached `Module`, a new `Store` and
/// `Linker::instantiate` per call, fuel on, no pooling, exports looked up by name per call.
pub struct EngineStyle {
    engine: wasmtime::Engine,
    module: wasmtime::Module,
    linker: wasmtime::Linker<()>,
}

impl EngineStyle {
    pub fn new(wasm: &Path) -> EngineStyle {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        let engine = wasmtime::Engine::new(&config).expect("engine");
        let module = wasmtime::Module::from_file(&engine, wasm).expect("module");
        let linker = wasmtime::Linker::new(&engine);
        EngineStyle { engine, module, linker }
    }

    /// One call with the `{"instance_id","block_id","params","context","attempt"}` envelope.
    pub fn call(&self, envelope: &[u8]) -> String {
        let mut store = wasmtime::Store::new(&self.engine, ());
        store.set_fuel(10_000_000).expect("fuel");
        let inst = self.linker.instantiate(&mut store, &self.module).expect("instantiate");
        let memory = inst.get_memory(&mut store, "memory").expect("memory");
        let alloc = inst.get_typed_func::<i32, i32>(&mut store, "alloc").expect("alloc");
        let handle = inst.get_typed_func::<(i32, i32), i64>(&mut store, "handle").expect("handle");
        let dealloc = inst.get_typed_func::<(i32, i32), ()>(&mut store, "dealloc").expect("dealloc");
        let ptr = alloc.call(&mut store, envelope.len() as i32).expect("alloc call");
        memory.write(&mut store, ptr as usize, envelope).expect("write");
        let packed = handle.call(&mut store, (ptr, envelope.len() as i32)).expect("handle call") as u64;
        let (out_ptr, out_len) = ((packed >> 32) as usize, (packed as u32) as usize);
        let mut out = vec![0u8; out_len];
        memory.read(&store, out_ptr, &mut out).expect("read");
        let _ = dealloc.call(&mut store, (ptr, envelope.len() as i32));
        let _ = dealloc.call(&mut store, (out_ptr as i32, out_len as i32));
        let text = String::from_utf8(out).expect("utf-8");
        serde_json::from_str::<Value>(&text).expect("json");
        text
    }
}

/// The legacy envelope around `args`, as those engines build it.
pub fn envelope(args: &str) -> Vec<u8> {
    orch8_envelope(args).into_bytes()
}

/// Orch8's step envelope around `args` (`{instance_id, block_id, params, context, attempt}`),
/// as every HTTP row and the legacy rows send it.
pub fn orch8_envelope(args: &str) -> String {
    format!(r#"{{"instance_id":"","block_id":"","params":{args},"context":{{"data":null,"config":{{}}}},"attempt":1}}"#)
}

/// Row 8a: a process per call.
pub fn subprocess_call(exe: &Path, args: &str) -> String {
    let mut child = Command::new(exe).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(args.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("wait");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Row 8b: a plugin server on 127.0.0.1, called over one keep-alive HTTP/1.1 connection.
pub struct HttpPlugin {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl HttpPlugin {
    /// Starts the server thread and connects to it.
    pub fn start() -> HttpPlugin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                std::thread::spawn(move || serve(conn));
            }
        });
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        HttpPlugin { reader: BufReader::new(stream.try_clone().expect("clone")), writer: stream }
    }

    pub fn call(&mut self, args: &str) -> String {
        let req = format!("POST /classify HTTP/1.1\r\nhost: plugin\r\ncontent-length: {}\r\n\r\n{args}", args.len());
        self.writer.write_all(req.as_bytes()).expect("send");
        read_message(&mut self.reader).expect("response")
    }
}

fn serve(conn: TcpStream) {
    conn.set_nodelay(true).ok();
    let mut writer = conn.try_clone().expect("clone");
    let mut reader = BufReader::new(conn);
    while let Some(body) = read_message(&mut reader) {
        let out = classify_native(&body);
        let resp = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{out}", out.len());
        if writer.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// Reads one HTTP/1.1 message (head + content-length body); `None` at end of stream.
pub(crate) fn read_message(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}

/// Row 7: Extism, the most used wasmtime plugin system, running the same logic as an
/// `extism-pdk` plugin (guests/peers/extism-classifier): one `Plugin` reused across calls,
/// and a new `Plugin` per call from a `CompiledPlugin`. WASI off and fuel on, as in Plinth.
#[cfg(feature = "extism")]
pub struct Extism {
    reused: extism::Plugin,
    compiled: extism::CompiledPlugin,
}

#[cfg(feature = "extism")]
impl Extism {
    pub fn new() -> Extism {
        // Bytes, not a path: reading files is Extism's optional `register-filesystem`.
        let wasm = std::fs::read(guest("extism_classifier")).expect("read the Extism guest");
        let builder = || {
            extism::PluginBuilder::new(extism::Manifest::new([extism::Wasm::data(wasm.clone())]))
                .with_wasi(false)
                .with_fuel_limit(1_000_000_000)
        };
        let reused = builder().build().expect("extism plugin");
        let compiled = extism::CompiledPlugin::new(builder()).expect("extism compiled plugin");
        Extism { reused, compiled }
    }

    /// 7a: the same plugin instance for every call (Extism's usual way).
    pub fn call_reused(&mut self, args: &str) -> String {
        self.reused.call::<&str, &str>("classify", args).expect("extism call").to_string()
    }

    /// 7b: a new plugin per call from the compiled plugin.
    pub fn call_fresh(&self, args: &str) -> String {
        let mut p = extism::Plugin::new_from_compiled(&self.compiled).expect("extism instantiate");
        p.call::<&str, &str>("classify", args).expect("extism call").to_string()
    }
}

/// Every row's setup, shared by the criterion bench and the report so both measure the
/// same things. `exe` is the `classify-stdin` binary (row 8a).
pub struct Fixture {
    pub args: String,
    pub runtime: Runtime,
    pub warm: Plugin,
    pub cold: Plugin,
    pub legacy: Plugin,
    pub reused: ReusedInstance,
    pub engine_style: EngineStyle,
    pub envelope: Vec<u8>,
    pub http: HttpPlugin,
    pub exe: PathBuf,
}

impl Fixture {
    pub fn new(exe: PathBuf) -> Fixture {
        let args = args_of_size(100);
        let runtime = Runtime::new().expect("runtime");
        let warm = load(&runtime, "text_classifier", 2);
        let cold = load(&runtime, "text_classifier", 0);
        let legacy = load(&runtime, "legacy_text_classifier", 2);
        let reused = reused(&cold);
        let engine_style = EngineStyle::new(&guest("legacy_text_classifier"));
        let envelope = envelope(&args);
        let http = HttpPlugin::start();
        Fixture { args, runtime, warm, cold, legacy, reused, engine_style, envelope, http, exe }
    }
}
