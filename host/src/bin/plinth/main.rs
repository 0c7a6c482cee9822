//! `plinth`: inspect, invoke and manage plugin components from the command line. One module
//! per command under `commands/`; shared flags in `flags`; exit codes in `exit`.

#![deny(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` that ends the program quietly when stdout is closed (`plinth … | head`)
/// instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod commands;
mod exit;
mod flags;

use exit::Failure;

#[derive(Parser)]
#[command(name = "plinth", version, about = "Run WebAssembly plugin components: a fresh, capped instance per call.")]
struct Cli {
    /// Run `plugin …` and `invoke NAME` against this `plinth serve` (its HTTP API) instead
    /// of the local $PLINTH_HOME.
    #[arg(long, global = true, env = "PLINTH_SERVER", value_name = "URL")]
    server: Option<String>,
    /// The bearer token to present to --server (see `plinth token`).
    #[arg(long, global = true, env = "PLINTH_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

// One value, parsed once per process: boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Show what a component provides: kinds, API version and the specs it lists.
    Inspect(commands::inspect::InspectArgs),
    /// Call a plugin once and print its output JSON on stdout (logs, fuel and time on stderr).
    Invoke(commands::invoke::InvokeArgs),
    /// Call every installed provider of a capability as a dispatch class says (singleton,
    /// broadcast-collect, broadcast-notify, chain, capability); the report JSON on stdout.
    Dispatch(commands::dispatch::DispatchArgs),
    /// Serve plugins' tools to an MCP client on stdin/stdout (see the README's "Tools over MCP").
    #[cfg(feature = "mcp")]
    Mcp(commands::mcp::McpArgs),
    /// Write a new plugin project (source, plinth.toml, fixture cases, WIT) that builds as is.
    New(commands::new::NewArgs),
    /// Run a plugin project's fixture cases (tests/*.json) through the host.
    Test(commands::test::TestArgs),
    /// Manage installed plugins under $PLINTH_HOME (default ~/.plinth).
    #[command(subcommand)]
    Plugin(commands::plugin::PluginCmd),
    /// Feed a listener the messages of a fixture file and print its dispatches as events.
    Listen(commands::fixture::FixtureArgs),
    /// Run a trigger's polls from a fixture file and print its events.
    #[command(subcommand)]
    Trigger(commands::fixture::TriggerCmd),
    /// Serve the installed plugins over HTTP: Orch8's registry API and remote-plugin form.
    #[cfg(feature = "serve")]
    Serve(commands::serve::ServeArgs),
    /// Create a bearer token for `plinth serve` (printed once; only its hash is stored).
    #[cfg(feature = "serve")]
    Token(commands::serve::TokenArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap's own code is 2 for every parse error; the README's table gives a bad
            // value of a known flag 1 (like a bad value read from a file), usage 2.
            let code = match e.kind() {
                clap::error::ErrorKind::ValueValidation | clap::error::ErrorKind::InvalidValue => 1,
                _ => e.exit_code(),
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter(&cli)));
    // Colour only on a terminal: logs piped into a file or a CI log stay plain text.
    let ansi = std::io::stderr().is_terminal();
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    #[cfg(feature = "serve")]
    let json = matches!(&cli.command, Command::Serve(a) if a.json_logs());
    #[cfg(not(feature = "serve"))]
    let json = false;
    if json {
        // One JSON object per line, for log shippers; spans (the request id) included.
        fmt.json().with_current_span(true).init();
    } else {
        fmt.with_ansi(ansi).init();
    }
    // `init` lets every `log` record up to the filter's most verbose level into tracing,
    // which is `trace` by default (for guest logs, which are tracing events, not `log`
    // records). Cranelift emits `log::trace!` records by the million while it compiles, and
    // each one was built and then dropped by the filter: 8 % of the time a release `plinth`
    // took to compile the 18 MB Python component (15.6 s → 14.4 s), 40 % in a debug build.
    // Only what the filter asks of other crates gets through.
    if std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(default_log_level(&cli));
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

/// What is logged without `RUST_LOG`. A one-off command shows every guest line; a server
/// shows guest lines from `info` up: one synchronous stderr write per debug line per call
/// was measured as part of every request.
fn default_filter(cli: &Cli) -> &'static str {
    match &cli.command {
        #[cfg(feature = "serve")]
        Command::Serve(_) => "info,plinth::guest=info",
        // stdout is the protocol's; stderr carries warnings only unless RUST_LOG says.
        #[cfg(feature = "mcp")]
        Command::Mcp(_) => "warn,plinth::guest=warn",
        _ => "warn,plinth::guest=trace",
    }
}

/// The most verbose `log` record (from wasmtime, cranelift, hyper…) the default filter
/// shows: its first directive, the level of every target but `plinth::guest`.
fn default_log_level(cli: &Cli) -> log::LevelFilter {
    default_filter(cli).split(',').next().and_then(|level| level.parse().ok()).unwrap_or(log::LevelFilter::Warn)
}

fn run(cli: Cli) -> Result<(), Failure> {
    // `plugin …` and `invoke NAME` go to the server; the other commands, and `invoke
    // FILE.wasm`, work on local files and run locally even with PLINTH_SERVER set (an
    // operator's shell may always have it).
    let remote = match (&cli.server, &cli.command) {
        (Some(url), Command::Plugin(_) | Command::Dispatch(_)) => Some(commands::remote::Remote::new(url, cli.token.clone())?),
        // A .wasm file on this machine is called here; an installed plugin's name, there.
        (Some(url), Command::Invoke(a)) if !a.is_local_file() => Some(commands::remote::Remote::new(url, cli.token.clone())?),
        _ => None,
    };
    match (cli.command, remote) {
        (Command::Invoke(args), Some(remote)) => commands::invoke::run_remote(args, &remote),
        (Command::Plugin(cmd), Some(remote)) => commands::plugin::run_remote(cmd, &remote),
        (Command::Dispatch(args), Some(remote)) => commands::dispatch::run_remote(args, &remote),
        (command, _) => run_local(command),
    }
}

fn run_local(command: Command) -> Result<(), Failure> {
    match command {
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Invoke(args) => commands::invoke::run(args),
        Command::Dispatch(args) => commands::dispatch::run(args),
        Command::New(args) => commands::new::run(args),
        Command::Test(args) => commands::test::run(args),
        #[cfg(feature = "mcp")]
        Command::Mcp(args) => commands::mcp::run(args),
        Command::Plugin(cmd) => commands::plugin::run(cmd),
        Command::Listen(args) => commands::fixture::listen(args),
        Command::Trigger(cmd) => commands::fixture::trigger(cmd),
        #[cfg(feature = "serve")]
        Command::Serve(args) => commands::serve::run(args),
        #[cfg(feature = "serve")]
        Command::Token(args) => commands::serve::token(args),
    }
}
