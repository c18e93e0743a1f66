//! The `metricstor` binary: argument parsing, logging, configuration, then the runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use metricstor::config::Config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs after mimalloc's own constructor (which has a higher priority) and before `main`
/// (see `commit_arenas_on_demand`).
#[used]
#[link_section = ".init_array"]
static COMMIT_ALLOCATOR_ARENAS_ON_DEMAND: extern "C" fn() = metricstor::allocator::commit_arenas_on_demand;

const HELP: &str = "\
metricstor — a Prometheus-compatible time-series database (remote_write in, PromQL out)

USAGE:
    metricstor [--config PATH]
    metricstor certs --out DIR [--client NAME]... [--revoked NAME]...

OPTIONS:
    --config PATH   YAML configuration (sections: server, storage, tls). Every key has a
                    default, so the server runs without a file: HTTP on 127.0.0.1:9101,
                    gRPC on 127.0.0.1:9100, data in ./data. Unknown keys are errors.
    -h, --help      Print this help.
    -V, --version   Print the version.

SUBCOMMANDS:
    certs           Write a development PKI for trying mTLS into DIR: ca.crt/ca.key,
                    server.crt/server.key (localhost, 127.0.0.1, ::1) and NAME.crt/NAME.key
                    per --client (default: one client named client). Keys are unencrypted.
                    Also ca.crl, the CA's revocation list for tls.crl_file, naming the
                    certificates made with --revoked NAME (made as --client makes them).

ENVIRONMENT:
    RUST_LOG        Log filter (default: info), e.g. RUST_LOG=metricstor=debug.
    RUST_MIN_STACK  Stack size of the server's threads in bytes (default: 16 MiB).

SIGNALS:
    SIGINT, SIGTERM stop accepting, finish requests in flight, flush the WAL, exit.
    SIGHUP          reload the TLS certificate, key, CA and revocation list files, the
                    scrape configuration (scrape.config_file), and --config's
                    relabel_configs and stream_aggregation (its other sections need a
                    restart); a file with a mistake keeps what is in force (logged).
";

enum Command {
    Run { config: Option<PathBuf> },
    Certs { out: PathBuf, clients: Vec<String>, revoked: Vec<String> },
    Help,
    Version,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut config = None;
    let mut args = args.peekable();
    if args.peek().map(String::as_str) == Some("certs") {
        args.next();
        let mut out = None;
        let mut clients = Vec::new();
        let mut revoked = Vec::new();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--out" => out = Some(PathBuf::from(args.next().ok_or("--out needs a directory")?)),
                "--client" => clients.push(args.next().ok_or("--client needs a name")?),
                "--revoked" => revoked.push(args.next().ok_or("--revoked needs a name")?),
                "-h" | "--help" => return Ok(Command::Help),
                other => return Err(format!("unknown argument {other:?} for certs; see --help")),
            }
        }
        if clients.is_empty() && revoked.is_empty() {
            clients.push("client".into());
        }
        return Ok(Command::Certs { out: out.ok_or("certs needs --out DIR")?, clients, revoked });
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--config" => {
                let path = args.next().ok_or("--config needs a path")?;
                config = Some(PathBuf::from(path));
            }
            other if other.starts_with("--config=") => config = Some(PathBuf::from(&other["--config=".len()..])),
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(Command::Run { config })
}

/// Stack of every thread the standard library starts without a size of its own: glommio's
/// executors (which parse queries) and their blocking pools (which evaluate them) among
/// them, which glommio gives no other way to size. Parsing and evaluation recurse once per
/// level of an expression, up to about 1,300 levels (`promql::parser`'s bounds); a debug
/// build takes up to about 6 KiB a level, past the 2 MiB default. Only the pages a thread
/// touches are backed by memory.
const THREAD_STACK_BYTES: usize = 16 << 20;

fn main() -> ExitCode {
    // Before any thread starts: the standard library reads this once, at the first spawn.
    // A value the user set is kept.
    if std::env::var_os("RUST_MIN_STACK").is_none() {
        std::env::set_var("RUST_MIN_STACK", THREAD_STACK_BYTES.to_string());
    }
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("metricstor: {e}");
            return ExitCode::from(2);
        }
    };
    let config_path = match command {
        Command::Help => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("metricstor {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Certs { out, clients, revoked } => {
            return match metricstor::certs::generate(&out, &clients, &revoked) {
                Ok(()) => {
                    println!(
                        "wrote ca.crt, ca.key, ca.crl, server.crt, server.key and {} client certificate(s) ({} revoked in ca.crl) to {}",
                        clients.len() + revoked.len(),
                        revoked.len(),
                        out.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("metricstor: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Run { config } => config,
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let (config, resolved) = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("metricstor: {e}");
            return ExitCode::from(2);
        }
    };
    match metricstor::runtime::run(config, resolved) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metricstor: {e}");
            ExitCode::FAILURE
        }
    }
}
