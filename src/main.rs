//! `orchids-server`: parse the command line, load and validate the config, run the workers.
//! Nothing else lives here.

use argh::FromArgs;
use orchids2api::config::{self, DriverChoice};
use orchids2api::runtime::{self, RunOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    orchids2api::logging::init(cfg.log_level);
    match runtime::run(cfg, RunOptions { driver, workers: cli.workers }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
