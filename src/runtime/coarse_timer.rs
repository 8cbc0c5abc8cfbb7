//! Per-thread timers for the deadlines every open stream carries and almost never reaches (the
//! upstream read idle deadline, the SSE heartbeat).
//!
//! A monoio `Sleep` is 640 bytes and sits inside the future that waits on it; a stream holds
//! two (one in the producer's upstream read, one in the connection's heartbeat), so at 10k
//! streams they are 12 MiB. A [`Deadline`] is 24 bytes: its deadline lives in one table per
//! thread, and one driver task per thread sleeps until the earliest entry, wakes whatever is due
//! and sleeps again. Re-arming a deadline (every read, every frame) is a table write, not a
//! timer-wheel removal and insertion.
//!
//! Precision: a deadline never fires early; it fires when the driver next wakes at or after it
//! (monoio's timer granularity, about a millisecond). The driver scans the table on each wake
//! (O(entries)); it wakes when the earliest entry is due, and entries are re-armed forward long
//! before that, so with idle deadlines of seconds it wakes seldom.
//!
//! The table is a thread-local and the driver a task that [`install`] spawns on the runtime of
//! a gateway worker, which lives as long as its thread. [`timer_at`] gives a coarse deadline
//! where a driver is installed and a boxed monoio `Sleep` elsewhere (the simulator, the load
//! client, tests that build one runtime after another on a thread: a driver parked by a finished
//! runtime would never wake again, since monoio does not drop parked tasks).

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The shortest sleep of the driver, so a burst of due entries never spins it.
const MIN_SLEEP: Duration = Duration::from_millis(1);

struct Entry {
    at: Instant,
    waker: Option<Waker>,
    fired: bool,
}

#[derive(Default)]
struct Table {
    entries: RefCell<super::slots::Slots<Entry>>,
    /// The driver's waker while it sleeps, to wake it for an earlier entry.
    driver: Cell<Option<Waker>>,
    /// When the driver plans to wake (`None`: it waits for the first entry).
    next_wake: Cell<Option<Instant>>,
    /// Which [`install`] the running driver belongs to (0: none installed).
    generation: Cell<u64>,
    poked: Cell<bool>,
}

thread_local! {
    static TABLE: Rc<Table> = Rc::default();
}

/// A future that completes at `at` (or up to the driver's granularity later). Dropping it frees
/// its entry. Re-arm it with [`Deadline::reset`].
#[derive(Debug)]
pub struct Deadline {
    at: Instant,
    slot: Option<usize>,
}

/// A deadline at `at`; nothing is registered until it is first polled.
pub fn at(at: Instant) -> Deadline {
    Deadline { at, slot: None }
}

impl Deadline {
    /// Moves the deadline (also after it fired: it waits again).
    pub fn reset(&mut self, at: Instant) {
        self.at = at;
        if let Some(i) = self.slot {
            TABLE.with(|t| {
                if let Some(e) = t.entries.borrow_mut().get_mut(i) {
                    e.at = at;
                    e.fired = false;
                }
                t.earlier(at);
            });
        }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // No clock read here: a deadline is told by the driver (`fired`), also one that had
        // already passed when first polled (registering it pokes the driver, which fires it on
        // its next pass, in the same turn of the runtime). Every request arms several deadlines
        // and almost none is reached; on a VM the clock reads of a proxied request took about
        // 1.6% of the proxy core (perf), four of them here (`docs/benchmarks.md`).
        let at = self.at;
        let slot = self.slot;
        let slot = TABLE.with(|t| {
            let slot = match slot {
                Some(i) => {
                    if let Some(e) = t.entries.borrow_mut().get_mut(i) {
                        if e.fired {
                            return None;
                        }
                        if !e.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                            e.waker = Some(cx.waker().clone());
                        }
                    }
                    i
                }
                None => t.insert(at, cx.waker().clone()),
            };
            Some(slot)
        });
        match slot {
            Some(i) => {
                self.slot = Some(i);
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            // `try_with`: a deadline dropped during thread teardown finds no table; nothing to do.
            // The entry (and its waker) is dropped after the table's borrow ends.
            let _ = TABLE.try_with(|t| {
                let old = t.entries.borrow_mut().remove(i);
                drop(old);
            });
        }
    }
}

impl Table {
    fn insert(&self, at: Instant, waker: Waker) -> usize {
        let i = self.entries.borrow_mut().insert(Entry { at, waker: Some(waker), fired: false });
        self.earlier(at);
        i
    }

    /// A new or moved entry at `at`: wake the driver if it plans to wake later than that.
    fn earlier(&self, at: Instant) {
        if self.next_wake.get().is_none_or(|w| at < w) {
            self.next_wake.set(Some(at));
            self.poked.set(true);
            if let Some(w) = self.driver.take() {
                w.wake();
            }
        }
    }

    /// Wakes every due entry; returns the earliest entry still waiting.
    fn fire_due(&self, now: Instant) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        let mut due = Vec::new();
        for e in self.entries.borrow_mut().iter_mut() {
            if e.fired {
                continue;
            }
            if e.at <= now {
                e.fired = true;
                if let Some(w) = e.waker.take() {
                    due.push(w);
                }
            } else if earliest.is_none_or(|x| e.at < x) {
                earliest = Some(e.at);
            }
        }
        // Woken outside the borrow: a woken task never runs inside `wake` on monoio, but a
        // waker of another runtime might.
        for w in due {
            w.wake();
        }
        earliest
    }
}

/// Starts this thread's driver on the current runtime (a gateway worker calls it once at
/// start). From then on [`timer_at`] gives coarse deadlines on this thread. Calling it again
/// replaces the driver.
pub fn install() {
    TABLE.with(|t| {
        let generation = t.generation.get() + 1;
        t.generation.set(generation);
        t.next_wake.set(None);
        t.poked.set(true);
        if let Some(w) = t.driver.take() {
            w.wake();
        }
        monoio::spawn(drive(generation));
    });
}

/// Whether this thread has a driver ([`install`]).
pub fn installed() -> bool {
    TABLE.with(|t| t.generation.get() > 0)
}

/// Forgets this thread's driver when the driver task is dropped (its runtime ended).
struct DriverGuard(Rc<Table>, u64);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if self.0.generation.get() == self.1 {
            self.0.generation.set(0);
            self.0.next_wake.set(None);
            self.0.driver.set(None);
        }
    }
}

async fn drive(generation: u64) {
    let table = TABLE.with(Rc::clone);
    let _guard = DriverGuard(Rc::clone(&table), generation);
    loop {
        if table.generation.get() != generation {
            return;
        }
        table.poked.set(false);
        let now = Instant::now();
        let next = table.fire_due(now);
        table.next_wake.set(next);
        let poked = poll_fn(|cx| {
            if table.poked.get() {
                Poll::Ready(())
            } else {
                table.driver.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        });
        match next {
            Some(at) => {
                let sleep = monoio::time::sleep_until(at.max(now + MIN_SLEEP).into());
                monoio::select! {
                    () = sleep => {}
                    () = poked => {}
                }
            }
            None => poked.await,
        }
        table.driver.set(None);
    }
}

/// A deadline for what every open stream waits on: coarse ([`Deadline`]) on a thread with an
/// installed driver, a boxed monoio `Sleep` elsewhere. Either way a few dozen bytes inline.
#[derive(Debug)]
pub enum Timer {
    Coarse(Deadline),
    Fine(Pin<Box<monoio::time::Sleep>>),
}

/// A [`Timer`] at `at`.
pub fn timer_at(at: Instant) -> Timer {
    if installed() { Timer::Coarse(self::at(at)) } else { Timer::Fine(Box::pin(monoio::time::sleep_until(at.into()))) }
}

/// A [`Timer`] `d` from now: a sleep that keeps the awaiting future small and 8-byte aligned
/// (a monoio `Sleep` inline makes it 128-byte aligned, and so every future that holds it).
pub fn sleep(d: Duration) -> Timer {
    timer_at(Instant::now() + d)
}

impl Timer {
    /// Moves the deadline (also after it fired).
    pub fn reset(&mut self, at: Instant) {
        match self {
            Self::Coarse(d) => d.reset(at),
            Self::Fine(s) => s.as_mut().reset(at.into()),
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut() {
            Self::Coarse(d) => Pin::new(d).poll(cx),
            Self::Fine(s) => s.as_mut().poll(cx),
        }
    }
}

/// The error of [`timeout_at`] / [`timeout`]: the deadline came first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline elapsed")
    }
}

/// Runs `fut` until `at`: its output, or [`Elapsed`] when the deadline came first (then `fut`
/// is dropped). The request path's timeouts (keep-alive idle, head read, time to first token,
/// upstream head) use this rather than `monoio::time::timeout`, whose timer-wheel entry costs
/// an allocation and about 640 bytes of future per wait. A future that is ready when polled
/// wins over a deadline that passed at the same time.
///
/// `fut` comes pinned by the caller (`timeout(d, pin!(async { … }))`): taken by value, it would
/// sit in this future twice (the argument and the pinned local), which doubles the size of every
/// request future above it.
pub async fn timeout_at<F: Future>(at: Instant, mut fut: Pin<&mut F>) -> Result<F::Output, Elapsed> {
    let mut timer = timer_at(at);
    monoio::select! {
        biased;
        out = &mut fut => Ok(out),
        () = &mut timer => Err(Elapsed),
    }
}

/// [`timeout_at`] `after` from now.
pub async fn timeout<F: Future>(after: Duration, fut: Pin<&mut F>) -> Result<F::Output, Elapsed> {
    timeout_at(Instant::now() + after, fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap()
    }

    /// Runs `f` on a fresh runtime with this thread's driver installed on it.
    fn with_driver<F: Future<Output = ()>>(f: F) {
        runtime().block_on(async {
            install();
            f.await;
        });
    }

    #[test]
    fn fires_not_before_its_deadline() {
        with_driver(async {
            let start = Instant::now();
            at(start + Duration::from_millis(30)).await;
            assert!(start.elapsed() >= Duration::from_millis(30));
        });
    }

    #[test]
    fn a_deadline_already_passed_when_first_polled_fires_on_the_drivers_next_pass() {
        with_driver(async {
            // The driver sleeps until a far entry, so only the poke of the new one can wake it.
            let far = monoio::spawn(at(Instant::now() + Duration::from_secs(30)));
            monoio::time::sleep(Duration::from_millis(5)).await;
            let start = Instant::now();
            let mut d = at(start.checked_sub(Duration::from_millis(1)).unwrap());
            let first = poll_fn(|cx| Poll::Ready(Pin::new(&mut d).poll(cx))).await;
            assert!(first.is_pending(), "registered without reading the clock");
            d.await;
            assert!(start.elapsed() < Duration::from_secs(1), "fired by the driver's next pass, not the far wake");
            drop(far);
        });
    }

    #[test]
    fn an_earlier_deadline_registered_later_still_fires_first() {
        with_driver(async {
            let start = Instant::now();
            let far = monoio::spawn(at(start + Duration::from_secs(30)));
            // Let the far one register and the driver go to sleep until it.
            monoio::time::sleep(Duration::from_millis(5)).await;
            at(start + Duration::from_millis(20)).await;
            assert!(start.elapsed() < Duration::from_secs(30), "the near deadline waited for the far one");
            drop(far);
        });
    }

    #[test]
    fn reset_moves_a_waiting_deadline() {
        with_driver(async {
            let start = Instant::now();
            let mut d = at(start + Duration::from_secs(60));
            let polled = poll_fn(|cx| Poll::Ready(Pin::new(&mut d).poll(cx))).await;
            assert!(polled.is_pending());
            d.reset(start + Duration::from_millis(10));
            d.await;
            assert!(start.elapsed() >= Duration::from_millis(10));
        });
    }

    #[test]
    fn timeout_gives_the_output_or_elapsed_and_frees_its_entry() {
        with_driver(async {
            assert_eq!(timeout(Duration::from_secs(60), std::pin::pin!(async { 7 })).await, Ok(7));
            let start = Instant::now();
            let slow = std::pin::pin!(monoio::time::sleep(Duration::from_secs(60)));
            assert_eq!(timeout(Duration::from_millis(20), slow).await, Err(Elapsed));
            assert!(start.elapsed() >= Duration::from_millis(20));
            assert!(start.elapsed() < Duration::from_secs(60));
            let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
            assert_eq!(timeout_at(past, std::pin::pin!(async { "ready" })).await, Ok("ready"), "a ready future wins");
            let live = TABLE.with(|t| t.entries.borrow().len());
            assert_eq!(live, 0, "every timeout freed its deadline");
        });
    }

    /// What `tests/upstream_ws.rs` does: one runtime after another on a thread. A thread
    /// without an installed driver gets monoio sleeps, which work on any runtime.
    #[test]
    fn without_a_driver_timers_are_plain_sleeps() {
        std::thread::spawn(|| {
            runtime().block_on(async {
                assert!(!installed());
                let mut t = timer_at(Instant::now() + Duration::from_secs(60));
                assert!(matches!(t, Timer::Fine(_)));
                let start = Instant::now();
                t.reset(start + Duration::from_millis(10));
                t.await;
                assert!(start.elapsed() >= Duration::from_millis(10));
            });
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_dropped_deadline_frees_its_entry_and_a_reinstalled_driver_serves_a_new_runtime() {
        with_driver(async {
            let mut d = at(Instant::now() + Duration::from_secs(60));
            let _ = poll_fn(|cx| Poll::Ready(Pin::new(&mut d).poll(cx))).await;
            drop(d);
            let live = TABLE.with(|t| t.entries.borrow().len());
            assert_eq!(live, 0);
        });
        // The first runtime is gone with its driver; a new install serves the next one.
        with_driver(async {
            assert!(matches!(timer_at(Instant::now()), Timer::Coarse(_)));
            let start = Instant::now();
            at(start + Duration::from_millis(5)).await;
            assert!(start.elapsed() >= Duration::from_millis(5));
        });
    }
}
