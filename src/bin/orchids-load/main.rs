//! `orchids-load`: the load client of `scripts/bench`. One monoio thread (pin it with
//! `taskset`), plain HTTP/1.1 keep-alive connections, one JSON report on stdout.
//!
//! Modes:
//! - `load`: C connections in a closed loop for `--duration` seconds or `--requests` requests;
//!   RPS, latency p50/p90/p99/max, errors (status, body check, io).
//! - `latency`: `load` at concurrency 1 (added latency per request).
//! - `rate`: open loop at `--rate` requests/s (latency from each request's intended start);
//!   with `--pid`, the CPU the measured processes spent per request.
//! - `stream`: C concurrent streams (`--streams` in all, default C; `--ramp` starts per second)
//!   of `--tokens` chunks paced `--pace N/M` by the simulator; time to first token, gaps
//!   between chunks, every stream's text checked complete and in order; with `--stamped`, both
//!   also without the simulator's own waiting (`sim:stamp`); with `--pid`, RSS when all C are
//!   open at once and CPU per chunk.
//!
//! - `cold-probe`: no requests; what a cache line costs this core right after a sleep of
//!   `--sleep-ms`, next to its warm cost (`--lines` lines walked at random, `--rounds` rounds;
//!   see `cold_probe`). `scripts/bench` runs it on the proxy's core for the machine line.
//!
//! Requests carry the simulator's behaviour keywords in the prompt (`sim:tokens=N
//! sim:pace=N/M`), so they pass through any proxy unchanged. A request is a one-message chat,
//! or with `--agent` a 65 KiB agent turn (`sim::agent_turn`) whose last user text is the prompt.

mod client;
mod cold_probe;
mod frame_clock;
mod job;
mod load;
mod sse;
mod stats;
mod stream;

use argh::FromArgs;
use job::{Job, RequestSpec};
use orchids2api::config::DriverChoice;
use orchids2api::runtime::driver::{self, Driver};
use serde_json::{Value, json};
use sse::Format;
use stats::Procs;
use std::io::Write;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

#[global_allocator]
static GLOBAL: orchids2api::util::mimalloc_alloc::Mimalloc = orchids2api::util::mimalloc_alloc::Mimalloc;

/// Load client for scripts/bench: closed-loop, open-loop and streaming load with latency
/// histograms; prints one JSON object.
#[derive(FromArgs, Debug)]
struct Cli {
    /// load | latency | rate | stream | cold-probe
    #[argh(option, default = "String::from(\"load\")")]
    mode: String,
    /// endpoint, http://IP:PORT/path (every mode but cold-probe)
    #[argh(option, default = "String::new()")]
    url: String,
    /// client format of the endpoint: openai | claude
    #[argh(option, default = "String::from(\"openai\")")]
    format: String,
    /// model id sent in the body
    #[argh(option, default = "String::from(\"grok-4-fast\")")]
    model: String,
    /// API key (sent as Authorization: Bearer, and x-api-key for claude)
    #[argh(option, default = "String::new()")]
    key: String,
    /// concurrent connections / streams
    #[argh(option, default = "1")]
    concurrency: usize,
    /// measured requests (load/latency) or streams in all (stream)
    #[argh(option)]
    requests: Option<u64>,
    /// seconds to run (load, rate, stream)
    #[argh(option)]
    duration: Option<f64>,
    /// requests sent first and not recorded (load/latency); seconds at the rate (rate)
    #[argh(option, default = "0.0")]
    warmup: f64,
    /// requests per second (rate)
    #[argh(option, default = "100.0")]
    rate: f64,
    /// connections for the open loop (default: enough for 20 ms of requests, at least 4)
    #[argh(option)]
    connections: Option<usize>,
    /// chunks per stream (stream)
    #[argh(option, default = "64")]
    tokens: usize,
    /// simulator pacing N/M: N chunks every M ms; "none" for no delay (stream)
    #[argh(option, default = "String::from(\"1/20\")")]
    pace: String,
    /// ask the simulator to stamp its tokens (sim:stamp) and report TTFT and gaps without its
    /// own waiting (stream)
    #[argh(switch)]
    stamped: bool,
    /// streams started per second, 0 = all at once (stream)
    #[argh(option, default = "0.0")]
    ramp: f64,
    /// a process to measure (CPU, RSS); repeatable (a proxy's master and workers)
    #[argh(option)]
    pid: Vec<u32>,
    /// clock ticks per second of /proc/PID/stat (getconf CLK_TCK)
    #[argh(option, default = "100")]
    clk_tck: u64,
    /// read/connect timeout in seconds
    #[argh(option, default = "30.0")]
    timeout: f64,
    /// io driver: auto | uring | epoll
    #[argh(option, default = "String::from(\"auto\")")]
    driver: String,
    /// text every non-streaming answer must contain (default: the grok simulator's answer)
    #[argh(option)]
    expect: Option<String>,
    /// extra text appended to the prompt
    #[argh(option, default = "String::new()")]
    prompt: String,
    /// send a 65 KiB agent turn (system prompt, 18 tools, 12 turns of history;
    /// `sim::agent_turn`) with the prompt as its last user text, instead of a one-message chat
    #[argh(switch)]
    agent: bool,
    /// cache lines walked a round (cold-probe)
    #[argh(option, default = "4096")]
    lines: usize,
    /// milliseconds slept before each cold walk (cold-probe)
    #[argh(option, default = "20")]
    sleep_ms: u64,
    /// rounds (cold-probe)
    #[argh(option, default = "50")]
    rounds: usize,
}

fn out(v: &Value) {
    let _ = writeln!(std::io::stdout().lock(), "{v}");
}

fn fail(msg: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr().lock(), "orchids-load: {msg}");
    ExitCode::from(2)
}

fn secs(name: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| format!("--{name}: expected a non-negative number of seconds, found {v}"))
}

/// Validated mode + job.
enum Plan {
    Closed(load::ClosedPlan),
    Open(load::OpenPlan),
    Stream(stream::StreamPlan),
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "bounded, non-negative counts from the command line"
)]
fn build(cli: &Cli) -> Result<(Job, Plan), String> {
    let target = client::Target::parse(&cli.url)?;
    let format = match cli.format.as_str() {
        "openai" => Format::OpenAi,
        "claude" => Format::Claude,
        other => {
            return Err(format!("--format: expected openai or claude, found {other:?}"));
        }
    };
    let duration = cli.duration.map(|d| secs("duration", d)).transpose()?;
    let stream = cli.mode == "stream";
    let pace_kw = match cli.pace.as_str() {
        "none" | "0" | "" => "sim:fast".to_owned(),
        p => {
            orchids2api::sim::grok::parse_pace(p)?;
            format!("sim:pace={p}")
        }
    };
    let prompt = if stream {
        let stamp_kw = if cli.stamped { " sim:stamp" } else { "" };
        format!("Benchmark stream, please answer. sim:tokens={} {pace_kw}{stamp_kw} {}", cli.tokens, cli.prompt)
    } else {
        format!("Benchmark request, please answer. {}", cli.prompt)
    };
    let spec = RequestSpec {
        format,
        model: cli.model.clone(),
        key: cli.key.clone(),
        prompt: prompt.trim_end().to_owned(),
        stream,
        agent: cli.agent,
    };
    let job = Job {
        requests: spec.requests(&target),
        taken: std::cell::Cell::new(0),
        target,
        format,
        expected: if stream { sse::expected_text(cli.tokens) } else { String::new() },
        mark: cli.expect.clone().map_or_else(|| job::ANSWER_MARK.to_vec(), String::into_bytes),
        timeout: secs("timeout", cli.timeout)?,
        procs: Procs { pids: cli.pid.clone(), clk_tck: cli.clk_tck },
        hist: stats::histogram()?,
    };
    let warmup = cli.warmup.max(0.0);
    let plan = match cli.mode.as_str() {
        "load" | "latency" => {
            let concurrency = if cli.mode == "latency" { 1 } else { cli.concurrency.max(1) };
            if duration.is_none() && cli.requests.is_none() {
                return Err("load/latency: give --duration or --requests".to_owned());
            }
            Plan::Closed(load::ClosedPlan { concurrency, duration, requests: cli.requests, warmup: warmup as u64 })
        }
        "rate" => {
            if !(cli.rate > 0.0 && cli.rate.is_finite()) {
                return Err(format!("--rate: expected a positive number, found {}", cli.rate));
            }
            let connections = cli.connections.unwrap_or(((cli.rate * 0.02).ceil() as usize).max(4));
            Plan::Open(load::OpenPlan {
                rate: cli.rate,
                duration: duration.unwrap_or(Duration::from_secs(5)),
                warmup: secs("warmup", warmup)?,
                connections,
            })
        }
        "stream" => {
            let c = cli.concurrency.max(1);
            Plan::Stream(stream::StreamPlan {
                concurrency: c,
                streams: cli.requests.unwrap_or(if duration.is_some() { u64::MAX } else { c as u64 }),
                duration,
                ramp_per_s: cli.ramp.max(0.0),
            })
        }
        other => {
            return Err(format!("--mode: expected load, latency, rate, stream or cold-probe, found {other:?}"));
        }
    };
    Ok((job, plan))
}

async fn execute(job: Job, plan: Plan) -> Value {
    let job = Rc::new(job);
    match plan {
        Plan::Closed(p) => load::closed(job, p).await,
        Plan::Open(p) => load::open(job, p).await,
        Plan::Stream(p) => stream::run(job, p).await,
    }
}

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    if cli.mode == "cold-probe" {
        out(&cold_probe::run(cli.lines, Duration::from_millis(cli.sleep_ms), cli.rounds));
        return ExitCode::SUCCESS;
    }
    let Some(choice) = DriverChoice::parse(&cli.driver) else {
        return fail(&format!("--driver: expected auto, uring or epoll, found {:?}", cli.driver));
    };
    let (job, plan) = match build(&cli) {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    let drv = match driver::resolve(choice) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let url = cli.url.clone();
    let result = match drv {
        Driver::Uring => monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(4096)
            .enable_timer()
            .build()
            .map(|mut rt| rt.block_on(execute(job, plan))),
        Driver::Epoll => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .map(|mut rt| rt.block_on(execute(job, plan))),
    };
    match result {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.insert("url".to_owned(), json!(url));
                o.insert("driver".to_owned(), json!(drv.name()));
            }
            out(&v);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("cannot start the runtime: {e}")),
    }
}
