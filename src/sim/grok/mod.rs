//! A faithful simulator of both grok upstreams, for tests, load benchmarks and try-it mode:
//! `orchids-server simulate grok --port N`.
//!
//! One standalone HTTP/1.1 server (keep-alive, chunked or sized bodies) on its own
//! single-thread monoio runtime, serving:
//! - **xAI API** (`api_base_url` = `http://HOST:PORT/v1`): `POST /v1/chat/completions`
//!   (OpenAI-compatible, SSE or JSON, `reasoning_content`, `tool_calls` with arguments split
//!   across many frames, usage), `GET /v1/models`. Auth `Authorization: Bearer <key>` against
//!   the `--api-key`s: missing -> 401, unknown -> 400 "Incorrect API key provided" (as xAI
//!   does). Errors use xAI's flat `{"code":…,"error":…}` shape.
//! - **grok.com web** (`web_base_url` = `http://HOST:PORT`):
//!   `POST /rest/app-chat/conversations/new` (NDJSON: conversation line, user echo, thinking
//!   tokens, answer tokens, `modelResponse` whose `message` equals the streamed answer,
//!   `finalMetadata`), `POST /rest/rate-limits` (a per-account query counter over a 72000 s
//!   window). Auth `Cookie: sso=<t>; sso-rw=<t>` against the `--sso` tokens (missing/unknown ->
//!   401; `sso-rw`, when sent, must equal `sso`). The body must have the B.3 shape (`message`
//!   string, `modeId` one of fast/auto/expert/heavy, flags of the right types), else 400.
//!   Past `--web-quota` chats in a window an account gets a plain per-account 429 (no
//!   `Retry-After`); every web chat answer carries `x-ratelimit-limit` / `-remaining` / `-reset`
//!   for that window (B.7).
//! - **Rate-limit headers** (API): every chat answer carries `x-ratelimit-{limit,remaining,reset}-
//!   {requests,tokens}` for a per-key one-minute window of [`API_RPM`] requests and [`API_TPM`]
//!   tokens (OpenAI-style names, as xAI's OpenAI-compatible API; values not enforced).
//! - **Teams**: each credential belongs to a team (`--team CRED=TEAM`, default [`DEFAULT_TEAM`]);
//!   team 429s name it, and the try-it accounts carry it as their `team` credential.
//! - **Introspection**: `GET /sim/last-request?surface=api|web` (the last request's method,
//!   path, headers and body, so tests can check what the gateway sent), `GET /sim/stats`
//!   (requests per credential), `GET /health`.
//!
//! # Behaviour keywords
//! Found in the last user message (API) or the part of the flattened prompt after the last
//! `assistant:` turn (web), in an `x-sim` header, in a `sim=` query parameter, and in the
//! credential's `--behave CRED=KEYWORDS` override (so one account can always fail):
//!
//! | keyword | effect |
//! |---|---|
//! | `sim:long` / `sim:tokens=N` | a 400-token / N-token answer |
//! | `sim:reasoning` | thinking first (`reasoning_content` / `isThinking`); implied by reasoning models and the `expert`/`heavy` modes |
//! | `sim:tool` | a tool call to the first declared tool, arguments fitted to its schema (API: `tool_calls` split in 4-byte frames; web: `<tool_call>` markup split in 3-byte token lines, with text around it) |
//! | `sim:tool-fenced` / `-comma` / `-nobrace` / `-undeclared` | web markup variants: Markdown fence, trailing comma, missing `}`, an undeclared tool name |
//! | `sim:expired` | 401 |
//! | `sim:429` / `sim:429=S` | per-account 429, `Retry-After: S` (default 7) and "retry after S seconds" in the body |
//! | `sim:team429` | 429 `resource-exhausted` "Too many requests for team …" (same team for every credential) |
//! | `sim:429-reset=S` | per-account 429 without `Retry-After`: `x-ratelimit-remaining-requests: 0` (web: `x-ratelimit-remaining: 0`) and a reset in S s (default 7) |
//! | `sim:credits` | API 429 "You ran out of credits." |
//! | `sim:deny=MODEL` | 403 for that upstream model id (API) / mode (web) only: "not permitted for your team" / "your plan does not include" |
//! | `sim:blocked` | 403 (API: team blocked; web: `blocked-user`) |
//! | `sim:challenge` | web 403 with `cf-mitigated: challenge` and an HTML page |
//! | `sim:badkey` | API 400 "Incorrect API key provided" |
//! | `sim:500` / `sim:502` / `sim:503` | that status |
//! | `sim:stall` / `sim:stall=MS` | head sent, then MS ms (default 30000) before the first token |
//! | `sim:stall-head=MS` | MS ms before the response head |
//! | `sim:disconnect` | the connection closes after 3 answer tokens, mid-stream |
//! | `sim:malformed` | a non-JSON line (web) / a broken `data:` frame (API) after 2 tokens |
//! | `sim:markup` | web answer with `<grok:render>` and `<xai:tool_usage_card>` blocks |
//! | `sim:imagelimit` | web: an in-stream `renderToolRateLimited` line |
//! | `sim:pace=N/M` | N chunks every M ms (also `--pace N/M` for every request) |
//! | `sim:fast` | zero delay: the whole answer in one write (the default) |
//! | `sim:stamp` | API streams: every answer token starts with `[[t:ARRIVED:SENT]]`, the simulator's clock readings ([`stamp`]), for load clients |
//!
//! A request whose last message is a tool result (API: role `tool`; web: a `tool (name, id):`
//! line after the last assistant turn) gets a plain answer quoting the result, so tool round
//! trips end.
//!
//! Performance: no logging per request, no per-request allocation beyond the parsed body and
//! the output buffer; unpaced answers go out in one write.

pub mod api;
pub mod script;
pub mod stamp;
pub mod text;
pub mod tryit;
pub mod web;
pub mod wire;

use crate::config::DriverChoice;
use crate::runtime::driver::{self, Driver};
use bytes::Bytes;
use script::Script;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use wire::{Conn, ReadEnd, Req};

/// Default credentials, used when none are given on the command line.
pub const DEFAULT_API_KEY: &str = "xai-simulator-key-0001";
pub const DEFAULT_SSO: &str = "sim-sso-token-0001";
pub const DEFAULT_TEAM: &str = "5e1f0c2a-7d4b-4c1e-9a3f-5151a1a1b0b0";
/// The simulated API's per-key requests per minute (reported in `x-ratelimit-*`).
pub const API_RPM: u64 = 480;
/// The simulated API's per-key tokens per minute (reported in `x-ratelimit-*`).
pub const API_TPM: u64 = 2_000_000;
const API_WINDOW_MS: u64 = 60_000;

/// Everything the simulator is started with.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub host: IpAddr,
    pub port: u16,
    pub api_keys: Vec<String>,
    pub sso_tokens: Vec<String>,
    /// `(credential, keywords)`: behaviour forced for every request with that credential.
    pub behave: Vec<(String, String)>,
    /// The team of every credential not in `teams` (team 429 text, try-it `team` credential).
    pub team_id: String,
    /// `(credential, team)`: a credential's own team.
    pub teams: Vec<(String, String)>,
    /// Web chats allowed per account per window before a per-account 429.
    pub web_quota: u64,
    /// Default pacing for every stream.
    pub pace: Option<(usize, u64)>,
    pub driver: DriverChoice,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            api_keys: vec![DEFAULT_API_KEY.to_owned()],
            sso_tokens: vec![DEFAULT_SSO.to_owned()],
            behave: Vec::new(),
            team_id: DEFAULT_TEAM.to_owned(),
            teams: Vec::new(),
            web_quota: 1_000_000,
            pace: None,
            driver: DriverChoice::Auto,
        }
    }
}

/// The `--behave` argument form: `CREDENTIAL=KEYWORDS`.
pub fn parse_behave(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((cred, kw)) if !cred.is_empty() && !kw.is_empty() => Ok((cred.to_owned(), kw.to_owned())),
        _ => Err(format!("--behave: expected CREDENTIAL=KEYWORDS (e.g. xai-key=sim:429), found {arg:?}")),
    }
}

impl SimOptions {
    /// The team `cred` belongs to.
    pub fn team_of(&self, cred: &str) -> &str {
        self.teams.iter().find(|(c, _)| c == cred).map_or(self.team_id.as_str(), |(_, t)| t.as_str())
    }
}

/// The `--team` argument form: `CREDENTIAL=TEAM`.
pub fn parse_team(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((cred, team)) if !cred.is_empty() && !team.trim().is_empty() => {
            Ok((cred.to_owned(), team.trim().to_owned()))
        }
        _ => Err(format!("--team: expected CREDENTIAL=TEAM (e.g. xai-key=team-a), found {arg:?}")),
    }
}

/// The `--pace` argument form: `N/M`.
pub fn parse_pace(arg: &str) -> Result<(usize, u64), String> {
    let mut s = Script::default();
    s.apply(&format!("pace={arg}"));
    s.pace.ok_or_else(|| format!("--pace: expected N/M (N chunks every M ms, N >= 1), found {arg:?}"))
}

/// One fixed rate window: it starts at its first use and lasts `len_ms`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) start_ms: u64,
    /// Requests in the window.
    pub(crate) used: u64,
    /// Tokens in the window.
    pub(crate) tokens: u64,
}

impl Window {
    /// Counts one request of `tokens` (a new window once the old one is over).
    fn take(&mut self, len_ms: u64, tokens: u64, now_ms: u64) {
        if self.used == 0 || now_ms.saturating_sub(self.start_ms) >= len_ms {
            *self = Self { start_ms: now_ms, used: 0, tokens: 0 };
        }
        self.used += 1;
        self.tokens += tokens;
    }

    /// Whole seconds until the window of `len_ms` ends (at least 1).
    pub(crate) fn reset_s(&self, len_ms: u64, now_ms: u64) -> u64 {
        (self.start_ms + len_ms).saturating_sub(now_ms).div_ceil(1000).max(1)
    }
}

/// Per-credential counters (web quota window, API rate window and request counts).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Usage {
    pub(crate) requests: u64,
    /// The web chat quota window (`--web-quota` chats per [`web::WINDOW_SECONDS`]).
    pub(crate) web: Window,
    /// The API key's one-minute window.
    pub(crate) api: Window,
}

/// The API key's one-minute window after one request, as `x-ratelimit-*` headers.
pub(crate) fn api_limit_headers(u: &Usage, now_ms: u64) -> Vec<(&'static str, String)> {
    let reset_s = u.api.reset_s(API_WINDOW_MS, now_ms);
    vec![
        ("x-ratelimit-limit-requests", API_RPM.to_string()),
        ("x-ratelimit-remaining-requests", API_RPM.saturating_sub(u.api.used).to_string()),
        ("x-ratelimit-reset-requests", format!("{reset_s}s")),
        ("x-ratelimit-limit-tokens", API_TPM.to_string()),
        ("x-ratelimit-remaining-tokens", API_TPM.saturating_sub(u.api.tokens).to_string()),
        ("x-ratelimit-reset-tokens", format!("{reset_s}s")),
    ]
}

/// Borrowed `(name, value)` pairs for [`wire::Conn`]'s header lists.
pub(crate) fn pairs<'a>(owned: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    owned.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

/// The simulator's state on its one thread.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) opts: SimOptions,
    pub(crate) overrides: HashMap<String, Script>,
    pub(crate) seq: Cell<u64>,
    pub(crate) usage: RefCell<HashMap<String, Usage>>,
    pub(crate) last_api: RefCell<Option<(crate::http::head::RequestHead, Bytes)>>,
    pub(crate) last_web: RefCell<Option<(crate::http::head::RequestHead, Bytes)>>,
}

impl State {
    fn new(opts: SimOptions) -> Self {
        let overrides = opts
            .behave
            .iter()
            .map(|(cred, kw)| {
                let mut s = Script::default();
                s.scan(kw.as_bytes());
                // Bare words (`429` rather than `sim:429`) are accepted too.
                for w in kw.split_whitespace().filter(|w| !w.starts_with("sim:")) {
                    s.apply(w);
                }
                (cred.clone(), s)
            })
            .collect();
        Self {
            opts,
            overrides,
            seq: Cell::new(0),
            usage: RefCell::new(HashMap::new()),
            last_api: RefCell::new(None),
            last_web: RefCell::new(None),
        }
    }

    pub(crate) fn next_id(&self) -> u64 {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        n
    }

    /// Counts a request for `cred` (`/sim/stats`).
    pub(crate) fn count(&self, cred: &str) {
        let mut usage = self.usage.borrow_mut();
        if let Some(u) = usage.get_mut(cred) {
            u.requests += 1;
        } else {
            usage.insert(cred.to_owned(), Usage { requests: 1, ..Usage::default() });
        }
    }

    /// Uses one chat of `cred`'s web quota window; returns the counters after the use.
    pub(crate) fn use_quota(&self, cred: &str, window_ms: u64, now_ms: u64) -> Usage {
        self.take(cred, |u| u.web.take(window_ms, 0, now_ms))
    }

    /// Counts one API request of `tokens` prompt tokens in `key`'s one-minute window; returns
    /// the counters after it.
    pub(crate) fn use_api_window(&self, key: &str, tokens: u64, now_ms: u64) -> Usage {
        self.take(key, |u| u.api.take(API_WINDOW_MS, tokens, now_ms))
    }

    fn take(&self, cred: &str, f: impl FnOnce(&mut Usage)) -> Usage {
        let mut usage = self.usage.borrow_mut();
        let Some(u) = usage.get_mut(cred) else {
            return Usage::default();
        };
        f(u);
        *u
    }

    pub(crate) fn peek(&self, cred: &str) -> Usage {
        self.usage.borrow().get(cred).copied().unwrap_or_default()
    }

    /// Keywords from the header, query and credential override on top of `script`.
    pub(crate) fn extra_keywords(&self, req: &Req, cred: &str, script: &mut Script) {
        if let Some(h) = req.head.header("x-sim") {
            script.scan(h);
        }
        if let Some(q) = req.head.query.as_deref() {
            for (k, v) in crate::util::percent::query_pairs(q) {
                if k == "sim" {
                    script.scan(v.as_bytes());
                }
            }
        }
        if let Some(o) = self.overrides.get(cred) {
            merge(script, o);
        }
        if script.pace.is_none() {
            script.pace = self.opts.pace;
        }
    }
}

/// Override fields win where they are set.
fn merge(into: &mut Script, o: &Script) {
    into.fail = o.fail.or(into.fail);
    into.tokens = o.tokens.or(into.tokens);
    into.reasoning |= o.reasoning;
    into.tool = o.tool.or(into.tool);
    into.stall_ms = o.stall_ms.or(into.stall_ms);
    into.stall_head_ms = o.stall_head_ms.or(into.stall_head_ms);
    into.disconnect |= o.disconnect;
    into.malformed |= o.malformed;
    into.markup |= o.markup;
    into.image_limit |= o.image_limit;
    into.pace = o.pace.or(into.pace);
    into.stamp |= o.stamp;
    into.deny = o.deny.or(into.deny);
}

/// A bound, not yet running simulator.
#[derive(Debug)]
pub struct BoundSim {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    opts: SimOptions,
    driver: Driver,
}

/// Binds the listening socket (port 0 picks a free port).
pub fn bind(opts: SimOptions) -> Result<BoundSim, String> {
    let driver = driver::resolve(opts.driver)?;
    let want = SocketAddr::new(opts.host, opts.port);
    let listener = crate::runtime::listener::bind_all(want, 1, 1024)
        .map_err(|e| format!("simulate grok: cannot listen on {want}: {e}"))?
        .pop()
        .ok_or_else(|| format!("simulate grok: cannot listen on {want}"))?;
    let addr = listener.local_addr().map_err(|e| format!("simulate grok: {e}"))?;
    Ok(BoundSim { listener, addr, opts, driver })
}

impl BoundSim {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The try-it JSON line (see [`tryit`]).
    pub fn try_it_json(&self) -> String {
        tryit::try_it_json(self.addr, &self.opts)
    }

    /// Serves until the process ends (blocks the calling thread).
    pub fn run(self) -> Result<(), String> {
        let (_tx, rx) = async_channel::bounded::<()>(1);
        self.run_until(rx)
    }

    /// Serves on a new thread until [`SimHandle::stop`].
    pub fn spawn(self) -> Result<SimHandle, String> {
        let addr = self.addr;
        let (tx, rx) = async_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("sim-grok".to_owned())
            .spawn(move || self.run_until(rx))
            .map_err(|e| format!("simulate grok: cannot start thread: {e}"))?;
        Ok(SimHandle { addr, stop: tx, thread: Some(thread) })
    }

    fn run_until(self, stop: async_channel::Receiver<()>) -> Result<(), String> {
        let BoundSim { listener, opts, driver, .. } = self;
        let state = Rc::new(State::new(opts));
        match driver {
            Driver::Uring => monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                .with_entries(1024)
                .enable_timer()
                .build()
                .map_err(|e| format!("simulate grok: cannot start io_uring runtime: {e}"))?
                .block_on(accept_loop(listener, state, stop)),
            Driver::Epoll => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .map_err(|e| format!("simulate grok: cannot start epoll runtime: {e}"))?
                .block_on(accept_loop(listener, state, stop)),
        }
    }
}

/// A simulator running on a background thread.
#[derive(Debug)]
pub struct SimHandle {
    pub addr: SocketAddr,
    stop: async_channel::Sender<()>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl SimHandle {
    /// Stops accepting and joins the thread (open streams are dropped).
    pub fn stop(mut self) {
        self.stop.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    state: Rc<State>,
    stop: async_channel::Receiver<()>,
) -> Result<(), String> {
    let listener = monoio::net::TcpListener::from_std(listener).map_err(|e| format!("simulate grok: {e}"))?;
    loop {
        monoio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let st = Rc::clone(&state);
                    monoio::spawn(async move { serve(Conn::new(stream), &st).await });
                }
                Err(_) => monoio::time::sleep(std::time::Duration::from_millis(5)).await,
            },
            _ = stop.recv() => return Ok(()),
        }
    }
}

/// Whether the connection may serve another request.
pub(crate) type KeepOpen = bool;

async fn serve(mut conn: Conn, state: &State) {
    loop {
        let req = match conn.read_request().await {
            Ok(r) => r,
            Err(ReadEnd::Closed) => return,
            Err(ReadEnd::Bad(status, msg)) => {
                let body = format!("{{\"code\":\"bad request\",\"error\":{}}}", serde_json::Value::from(msg));
                let _ = conn.respond(status, "application/json", &[], body.as_bytes(), true).await;
                return;
            }
        };
        let close = !req.head.keep_alive;
        let keep = route(state, &mut conn, &req, close).await;
        if close || !keep {
            return;
        }
    }
}

async fn route(state: &State, conn: &mut Conn, req: &Req, close: bool) -> KeepOpen {
    use http::Method;
    let path = req.head.path.as_ref();
    let m = &req.head.method;
    let r = match (path, m) {
        (b"/v1/chat/completions", &Method::POST) => {
            return api::chat(state, conn, req, close).await;
        }
        (b"/v1/models", &Method::GET) => api::models(state, conn, req, close).await,
        (b"/rest/app-chat/conversations/new", &Method::POST) => {
            return web::chat(state, conn, req, close).await;
        }
        (b"/rest/rate-limits", &Method::POST) => web::rate_limits(state, conn, req, close).await,
        (b"/sim/last-request", &Method::GET) => last_request(state, conn, req, close).await,
        (b"/sim/stats", &Method::GET) => stats(state, conn, close).await,
        (b"/health", &Method::GET) => conn.respond(200, "application/json", &[], b"{\"status\":\"ok\"}", close).await,
        (b"/v1/chat/completions" | b"/v1/models" | b"/rest/app-chat/conversations/new" | b"/rest/rate-limits", _) => {
            conn.respond(
                405,
                "application/json",
                &[],
                br#"{"code":"Method not allowed","error":"method not allowed"}"#,
                close,
            )
            .await
        }
        _ => {
            conn.respond(
                404,
                "application/json",
                &[],
                br#"{"code":"Some requested entity was not found","error":"no such endpoint"}"#,
                close,
            )
            .await
        }
    };
    r.is_ok()
}

async fn last_request(state: &State, conn: &mut Conn, req: &Req, close: bool) -> std::io::Result<()> {
    let web = req.head.query.as_deref().is_some_and(|q| memchr::memmem::find(q, b"surface=web").is_some());
    let slot = if web { state.last_web.borrow().clone() } else { state.last_api.borrow().clone() };
    let Some((head, body)) = slot else {
        return conn.respond(404, "application/json", &[], br#"{"error":"no request recorded yet"}"#, close).await;
    };
    let headers: Vec<serde_json::Value> = head
        .headers
        .iter()
        .map(|(name, value)| {
            serde_json::json!([String::from_utf8_lossy(name).to_ascii_lowercase(), String::from_utf8_lossy(value)])
        })
        .collect();
    let body_json = serde_json::from_slice::<serde_json::Value>(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
    let out = serde_json::json!({
        "method": head.method.as_str(),
        "path": head.path_str(),
        "query": head.query.as_deref().map(String::from_utf8_lossy),
        "headers": headers,
        "body": body_json,
    });
    conn.respond(200, "application/json", &[], out.to_string().as_bytes(), close).await
}

async fn stats(state: &State, conn: &mut Conn, close: bool) -> std::io::Result<()> {
    let map: serde_json::Map<String, serde_json::Value> =
        state.usage.borrow().iter().map(|(k, u)| (k.clone(), serde_json::Value::from(u.requests))).collect();
    let out = serde_json::json!({ "requests": map });
    conn.respond(200, "application/json", &[], out.to_string().as_bytes(), close).await
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> u64 {
    crate::domain::now_ms()
}
