//! `orchids-server`: parse the command line, load and validate the config, run the workers.
//! Nothing else lives here.

use argh::FromArgs;
use orchids2api::config::{self, DriverChoice};
use orchids2api::runtime::{self, RunOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: orchids2api::util::mimalloc_alloc::Mimalloc = orchids2api::util::mimalloc_alloc::Mimalloc;

/// Streaming LLM gateway: Claude Messages and OpenAI Chat Completions in front of orchids, warp
/// and grok account pools.
#[derive(FromArgs, Debug)]
struct Cli {
    /// path to the config file (default ./config.json)
    #[argh(option, short = 'c', default = "PathBuf::from(\"config.json\")")]
    config: PathBuf,
    /// validate the config file without connecting to anything, then exit
    #[argh(switch)]
    check: bool,
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    /// worker threads (default: the config's `workers`, else one per core)
    #[argh(option)]
    workers: Option<usize>,
    /// io driver: auto (io_uring when available, else epoll), uring, or epoll
    #[argh(option, default = "String::from(\"auto\")")]
    driver: String,
    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Command {
    Simulate(Simulate),
}

/// Run an upstream simulator (tests, benchmarks, try-it mode). Its first stdout line is a JSON
/// object to merge into config.json; see docs/channels/grok.md.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "simulate")]
struct Simulate {
    /// which upstream: grok
    #[argh(positional)]
    channel: String,
    /// port to listen on (0 picks a free one)
    #[argh(option, default = "0")]
    port: u16,
    /// address to listen on (default 127.0.0.1)
    #[argh(option, default = "std::net::IpAddr::from([127, 0, 0, 1])")]
    host: std::net::IpAddr,
    /// an accepted xAI API key (repeatable; default one built-in key)
    #[argh(option)]
    api_key: Vec<String>,
    /// an accepted grok.com sso token (repeatable; default one built-in token)
    #[argh(option)]
    sso: Vec<String>,
    /// CREDENTIAL=KEYWORDS: behaviour forced for one credential, e.g. xai-b=sim:429 (repeatable)
    #[argh(option)]
    behave: Vec<String>,
    /// CREDENTIAL=TEAM: the team one credential belongs to (repeatable; default one shared team)
    #[argh(option)]
    team: Vec<String>,
    /// pace every stream: N/M writes N chunks every M ms (default: no delay)
    #[argh(option)]
    pace: Option<String>,
    /// web chats allowed per account per 72000 s window before a per-account 429
    #[argh(option)]
    web_quota: Option<u64>,
}

fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn complain(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    if cli.version {
        say(&format!("orchids-server {}", env!("CARGO_PKG_VERSION")));
        return ExitCode::SUCCESS;
    }
    let Some(driver) = DriverChoice::parse(&cli.driver) else {
        complain(&format!("--driver: expected auto, uring or epoll, found {:?}", cli.driver));
        return ExitCode::from(2);
    };
    if let Some(Command::Simulate(sim)) = cli.command {
        return simulate(sim, driver);
    }
    let cfg = match config::load(&cli.config) {
        Ok(cfg) => cfg,
        Err(e) => {
            complain(&e.to_string());
            return ExitCode::from(2);
        }
    };
    if cli.check {
        say(&config::summary(&cfg));
        return ExitCode::SUCCESS;
    }
    // Before any thread starts (logging included): see runtime::huge_code.
    let code_pages = cfg.huge_code_pages.then(runtime::huge_code::remap);
    orchids2api::logging::init(cfg.log_level);
    if let Some(outcome) = code_pages {
        log::info!("{outcome}");
    }
    match runtime::run(cfg, RunOptions { driver, workers: cli.workers }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn simulate(args: Simulate, driver: DriverChoice) -> ExitCode {
    use orchids2api::sim::grok as sim;
    if args.channel != "grok" {
        complain(&format!("simulate: unknown channel {:?} (available: grok)", args.channel));
        return ExitCode::from(2);
    }
    let mut opts = sim::SimOptions { host: args.host, port: args.port, driver, ..sim::SimOptions::default() };
    if !args.api_key.is_empty() {
        opts.api_keys = args.api_key;
    }
    if !args.sso.is_empty() {
        opts.sso_tokens = args.sso;
    }
    if let Some(q) = args.web_quota {
        opts.web_quota = q;
    }
    let parsed = args
        .behave
        .iter()
        .map(|b| sim::parse_behave(b))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|behave| Ok((behave, args.pace.as_deref().map(sim::parse_pace).transpose()?)))
        .and_then(|(behave, pace)| {
            Ok((behave, pace, args.team.iter().map(|t| sim::parse_team(t)).collect::<Result<Vec<_>, _>>()?))
        });
    match parsed {
        Ok((behave, pace, teams)) => {
            opts.behave = behave;
            opts.pace = pace;
            opts.teams = teams;
        }
        Err(e) => {
            complain(&e);
            return ExitCode::from(2);
        }
    }
    orchids2api::logging::init(log::LevelFilter::Info);
    let bound = match sim::bind(opts) {
        Ok(b) => b,
        Err(e) => {
            complain(&e);
            return ExitCode::FAILURE;
        }
    };
    // Try-it mode: the first stdout line is the config fragment.
    say(&bound.try_it_json());
    log::info!("grok simulator listening on {}", bound.addr());
    match bound.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
