//! Hostile tools: each misbehaves in one way the host must contain. Tests call them through
//! the host and check the exact typed error (see tests/tests/hostile.rs).

wit_bindgen::generate!({ path: "../../wit/v0.1.0", world: "plinth:plugin/tool-plugin@0.1.0" });

use exports::plinth::plugin::tool::{Guest, ToolSpec};
use plinth::plugin::types::{CallContext, PluginError};
use std::sync::atomic::{AtomicU64, Ordering};

struct Hostile;

/// Incremented on every call: a fresh instance per call always reports 1.
static CALLS: AtomicU64 = AtomicU64::new(0);

const TOOLS: &[(&str, &str)] = &[
    ("loop", "Spins forever."),
    ("sleep", "Sleeps `secs` seconds (default 3600), blocked in the host, not running wasm."),
    ("membomb", "Allocates until memory runs out."),
    ("recurse", "Recurses without end."),
    ("huge-output", "Returns `mib` MiB of JSON (default 20)."),
    ("panic", "Panics."),
    ("bad-json", "Returns text that is not JSON."),
    ("read-file", "Tries to read a host file."),
    ("read-env", "Tries to read environment variables."),
    ("open-socket", "Tries TCP to 127.0.0.1:`port`, UDP, and resolving localhost."),
    ("deep-json", "Returns valid JSON nested `depth` levels deep (default 1000)."),
    ("counter", "Increments a global counter and returns it."),
    ("log-flood", "Writes `mib` MiB to stdout and host.log (default 4)."),
];

#[inline(never)]
fn recurse(n: u64, acc: &mut [u64; 16]) -> u64 {
    if std::hint::black_box(n) == u64::MAX {
        return 0;
    }
    let mut local = [n; 16];
    local[(n % 16) as usize] ^= acc[(n % 7) as usize];
    let r = recurse(std::hint::black_box(n + 1), &mut local);
    r ^ local[3]
}

fn arg_u64(args: &str, key: &str, default: u64) -> u64 {
    // Minimal parsing: no serde in this guest on purpose.
    let pat = format!("\"{key}\":");
    args.find(&pat)
        .and_then(|i| args[i + pat.len()..].trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or(default)
}

fn quote(s: &str) -> String {
    let escaped: String = s
        .chars()
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        })
        .collect();
    format!("\"{escaped}\"")
}

impl Guest for Hostile {
    fn list_tools() -> Vec<ToolSpec> {
        TOOLS
            .iter()
            .map(|(n, d)| ToolSpec { name: n.to_string(), description: d.to_string(), input_schema: "{}".into(), output_schema: None })
            .collect()
    }

    fn call(name: String, _ctx: CallContext, args: String) -> Result<String, PluginError> {
        match name.as_str() {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(arg_u64(&args, "secs", 3600)));
                Ok("\"woke up\"".to_string())
            }
            "membomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut chunk = vec![0u8; 1 << 20];
                    chunk[0] = hoard.len() as u8;
                    hoard.push(std::hint::black_box(chunk));
                }
            }
            "recurse" => Ok(recurse(0, &mut [0; 16]).to_string()),
            "huge-output" => {
                let mib = arg_u64(&args, "mib", 20) as usize;
                let mut s = String::with_capacity((mib << 20) + 2);
                s.push('"');
                s.extend(std::iter::repeat_n('a', mib << 20));
                s.push('"');
                Ok(s)
            }
            "panic" => panic!("hostile guest panicked on purpose"),
            "bad-json" => Ok("this is {not json".to_string()),
            "read-file" => {
                let attempts = ["/etc/passwd", "/", ".", "../../etc/passwd"];
                let results: Vec<String> = attempts
                    .iter()
                    .map(|p| {
                        let r = match std::fs::read(p) {
                            Ok(b) => format!("read {} bytes", b.len()),
                            Err(e) => format!("error: {e}"),
                        };
                        format!("{}:{}", quote(p), quote(&r))
                    })
                    .collect();
                let dirs = std::fs::read_dir("/").map(|d| d.count()).ok();
                Ok(format!("{{\"files\":{{{}}},\"root_entries\":{}}}", results.join(","), dirs.map_or("null".into(), |n| n.to_string())))
            }
            "read-env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| quote(&k)).collect();
                let home = std::env::var("HOME").ok();
                let args: Vec<String> = std::env::args().map(|a| quote(&a)).collect();
                Ok(format!(
                    "{{\"vars\":[{}],\"home\":{},\"args\":[{}]}}",
                    vars.join(","),
                    home.as_deref().map_or("null".into(), quote),
                    args.join(",")
                ))
            }
            "open-socket" => {
                let port = arg_u64(&args, "port", 9);
                let tcp = match std::net::TcpStream::connect(("127.0.0.1", port as u16)) {
                    Ok(_) => "connected".to_string(),
                    Err(e) => format!("error: {e}"),
                };
                let dns = match std::net::ToSocketAddrs::to_socket_addrs("localhost:80") {
                    Ok(a) => format!("resolved {} addresses", a.count()),
                    Err(e) => format!("error: {e}"),
                };
                let udp = match std::net::UdpSocket::bind("0.0.0.0:0") {
                    Ok(_) => "bound".to_string(),
                    Err(e) => format!("error: {e}"),
                };
                Ok(format!("{{\"tcp\":{},\"dns\":{},\"udp\":{}}}", quote(&tcp), quote(&dns), quote(&udp)))
            }
            "deep-json" => {
                let depth = arg_u64(&args, "depth", 1000) as usize;
                Ok(format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
            }
            "counter" => Ok((CALLS.fetch_add(1, Ordering::SeqCst) + 1).to_string()),
            "log-flood" => {
                let mib = arg_u64(&args, "mib", 4) as usize;
                let line = "x".repeat(1023);
                for i in 0..(mib << 10) {
                    println!("{line}");
                    if i % 64 == 0 {
                        plinth::plugin::host::log(plinth::plugin::types::Level::Info, &line);
                    }
                }
                Ok("\"done\"".to_string())
            }
            other => Err(PluginError::NotFound(other.to_string())),
        }
    }
}

export!(Hostile);
