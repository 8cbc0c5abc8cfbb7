//! Name resolution that never blocks a worker: a few dedicated resolver threads run the
//! system resolver (`getaddrinfo`, so `/etc/hosts`, IPv4 and IPv6 all apply) and answer over
//! channels; each core keeps a small TTL cache in front of them.
//!
//! Key components:
//! - [`Resolver`]: the process-wide handle (`Clone + Send`); threads exit when the last handle
//!   is dropped.
//! - [`DnsCache`]: per-core (`!Send`, `RefCell`), positive answers for `ttl`, failures for a
//!   short negative TTL so a dead name cannot flood the resolver threads.
//!
//! `getaddrinfo` reports no TTL, so the cache uses a fixed one (`dns_ttl`). IP literals never
//! reach the resolver. Errors are `ErrorKind::Dns` and name the host.

use super::error::{ErrorKind, UpstreamError};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Failed lookups are remembered this long at most.
const NEGATIVE_TTL: Duration = Duration::from_secs(2);
/// Cache entries per core before expired ones are swept (and, if still full, all).
const MAX_ENTRIES: usize = 1024;

type Answer = Result<Vec<IpAddr>, String>;

struct Job {
    host: String,
    reply: async_channel::Sender<Answer>,
}

/// Handle on the resolver threads.
#[derive(Clone)]
pub struct Resolver {
    jobs: async_channel::Sender<Job>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("queued", &self.jobs.len()).finish()
    }
}

impl Resolver {
    /// Starts `threads` resolver threads.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let (tx, rx) = async_channel::bounded::<Job>(1024);
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new().name(format!("dns-{i}")).spawn(move || {
                while let Ok(job) = rx.recv_blocking() {
                    let answer = lookup_blocking(&job.host);
                    // The asker may have given up (cancelled request): nothing to do then.
                    let _ = job.reply.send_blocking(answer);
                }
            })?;
        }
        Ok(Self { jobs: tx })
    }

    /// Resolves `host` on a resolver thread (no cache).
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, UpstreamError> {
        let (reply, answer) = async_channel::bounded(1);
        self.jobs
            .send(Job { host: host.to_owned(), reply })
            .await
            .map_err(|_| UpstreamError::new(ErrorKind::Dns, format!("cannot resolve {host}: resolver stopped")))?;
        let answer = answer
            .recv()
            .await
            .map_err(|_| UpstreamError::new(ErrorKind::Dns, format!("cannot resolve {host}: resolver stopped")))?;
        answer.map_err(|e| UpstreamError::new(ErrorKind::Dns, format!("cannot resolve {host}: {e}")))
    }
}

fn lookup_blocking(host: &str) -> Answer {
    match (host, 0u16).to_socket_addrs() {
        Ok(addrs) => {
            let mut ips: Vec<IpAddr> = Vec::new();
            for a in addrs {
                if !ips.contains(&a.ip()) {
                    ips.push(a.ip());
                }
            }
            if ips.is_empty() { Err("the name has no addresses".to_owned()) } else { Ok(ips) }
        }
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Clone)]
struct Entry {
    answer: Answer,
    expires: Instant,
}

/// One core's cache in front of the [`Resolver`].
#[derive(Debug)]
pub struct DnsCache {
    resolver: Resolver,
    ttl: Duration,
    entries: RefCell<HashMap<String, Entry>>,
}

impl DnsCache {
    pub fn new(resolver: Resolver, ttl: Duration) -> Self {
        Self { resolver, ttl, entries: RefCell::new(HashMap::new()) }
    }

    /// Socket addresses for `host:port`, IPv6 and IPv4 in the system's preference order.
    pub async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, UpstreamError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let now = Instant::now();
        let cached = self.entries.borrow().get(host).filter(|e| e.expires > now).map(|e| e.answer.clone());
        let Some(answer) = cached else {
            let fresh = self.resolver.resolve(host).await;
            let answer: Answer = fresh.clone().map_err(|e| e.context.to_string());
            let ttl = if answer.is_ok() { self.ttl } else { self.ttl.min(NEGATIVE_TTL) };
            self.remember(host, answer, now + ttl);
            return fresh.map(|ips| ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect());
        };
        answer
            .map(|ips| ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
            .map_err(|e| UpstreamError::new(ErrorKind::Dns, e))
    }

    fn remember(&self, host: &str, answer: Answer, expires: Instant) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, e| e.expires > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(host.to_owned(), Entry { answer, expires });
    }

    /// Entries currently held (tests, diagnostics).
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap().block_on(f)
    }

    #[test]
    fn literals_skip_the_resolver_and_names_are_cached() {
        let cache = DnsCache::new(Resolver::start(1).unwrap(), Duration::from_secs(60));
        run(async {
            let a = cache.lookup("::1", 8).await.unwrap();
            assert_eq!(a, vec!["[::1]:8".parse().unwrap()]);
            assert!(cache.is_empty());
            let a = cache.lookup("localhost", 80).await.unwrap();
            assert!(a.iter().all(|s| s.ip().is_loopback() && s.port() == 80), "{a:?}");
            assert_eq!(cache.len(), 1);
            let e = cache.lookup("no-such-host.invalid", 80).await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Dns);
            assert!(e.context.contains("no-such-host.invalid"), "{e}");
            // The negative answer is served from the cache, still naming the host.
            let e = cache.lookup("no-such-host.invalid", 80).await.unwrap_err();
            assert!(e.context.contains("no-such-host.invalid"), "{e}");
        });
    }
}
