//! Busy polling (`busy_poll_us`, off by default): after a worker's last network activity, its
//! event loop keeps polling the kernel without sleeping for a short window, so a reply that
//! arrives within the window is picked up at once instead of after the idle CPU's wake-up.
//!
//! Why: on a virtual machine an idle vCPU that sleeps in `io_uring_enter` / `epoll_wait` takes
//! tens of microseconds to wake (a halt exit and an inter-processor interrupt); a proxied request
//! pays that twice (the client's request, the upstream's answer). Spinning trades CPU for those
//! microseconds, only while traffic flows: the window restarts at each activity and the loop
//! sleeps in the kernel as before once it passes. docs/benchmarks.md has the measured effect.
//!
//! How: two spinner tasks per worker thread pass a baton. While the window is open, the one
//! that runs wakes the other, so monoio's loop always has a runnable task and polls the driver
//! with a zero timeout (`submit`, which also reaps completions) instead of parking. A task must
//! not simply wake itself: monoio puts a task woken while it runs at the *front* of the run
//! queue (its `yield_now`), so a self-waking spinner would run forever ahead of the tasks the
//! driver just woke, starving them until the window closed (measured: every request took two
//! windows). Waking the *other* spinner, which is not running, queues it at the back. Outside the
//! window the running spinner parks; [`activity`] (a counter bump, no clock read) wakes it. The
//! network read paths call [`activity`] when a read completes (the first bytes of a request
//! head, any upstream read).
//!
//! Timers: monoio advances its timer wheel only when the loop parks, never in `submit`, so a
//! loop that only spins would never fire a timer (no deadline, no heartbeat, no counter flush)
//! while traffic keeps the window open. Every [`RELEASE`] of spinning, the running spinner
//! therefore waits on a timer that is already due instead of passing the baton: the loop then
//! parks with a zero timeout (the wheel's next expiry is in the past), which polls the driver and
//! fires every due timer, this one included, and the spinning goes on.
//!
//! The state is a thread-local; [`install`] spawns the spinners on the current runtime (a gateway
//! worker, which lives as long as its thread). Threads without spinners pay a counter bump.

use std::cell::Cell;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// How long the loop spins before it parks once (zero timeout) to fire due timers: monoio's
/// timer granularity.
pub const RELEASE: Duration = Duration::from_millis(1);

struct Spin {
    /// Bumped by every [`activity`].
    seen: Cell<u64>,
    /// The waker of the spinner that sleeps until the next activity.
    parked: Cell<Option<Waker>>,
    /// The waker of the spinner waiting for the baton (woken by the other one's next poll).
    baton: Cell<Option<Waker>>,
    /// When the loop last parked to fire timers.
    released: Cell<Instant>,
    /// Spinner polls so far (tests count how long a woken task waits behind the spinners).
    polls: Cell<u64>,
}

impl Default for Spin {
    fn default() -> Self {
        Self {
            seen: Cell::new(0),
            parked: Cell::new(None),
            baton: Cell::new(None),
            released: Cell::new(Instant::now()),
            polls: Cell::new(0),
        }
    }
}

thread_local! {
    static SPIN: Spin = Spin::default();
}

/// Notes network activity on this thread: a parked spinner starts a new window.
#[inline]
pub fn activity() {
    SPIN.with(|s| {
        s.seen.set(s.seen.get().wrapping_add(1));
        if let Some(w) = s.parked.take() {
            w.wake();
        }
    });
}

/// Spawns this thread's two spinners with `window` (zero: nothing is spawned, the loop sleeps in
/// the kernel whenever it is idle).
pub fn install(window: Duration) {
    if window.is_zero() {
        return;
    }
    monoio::spawn(spinner(window));
    monoio::spawn(spinner(window));
}

/// Whether the window that the last observed activity opened is still open at `now`.
fn open(until: Option<Instant>, now: Instant) -> bool {
    until.is_some_and(|u| now < u)
}

async fn spinner(window: Duration) {
    let mut last = SPIN.with(|s| s.seen.get());
    let mut until: Option<Instant> = None;
    loop {
        // Ready when the loop should park once (module docs, "Timers").
        poll_fn(|cx| step(cx, window, &mut last, &mut until)).await;
        // Due a millisecond ago: the wheel's next expiry is in the past, so the loop's park has
        // a zero timeout. (Were it already processed, the timer fires at once: nothing is due.)
        let now = Instant::now();
        monoio::time::sleep_until(monoio::time::Instant::from_std(now.checked_sub(RELEASE).unwrap_or(now))).await;
        SPIN.with(|s| s.released.set(Instant::now()));
    }
}

/// One poll of a spinner: pass the baton while the window is open, release every [`RELEASE`],
/// sleep until the next activity once the window is closed.
fn step(cx: &mut std::task::Context<'_>, window: Duration, last: &mut u64, until: &mut Option<Instant>) -> Poll<()> {
    SPIN.with(|s| {
        s.polls.set(s.polls.get().wrapping_add(1));
        let now = Instant::now();
        let seen = s.seen.get();
        if seen != *last {
            *last = seen;
            *until = Some(now + window);
        }
        if open(*until, now) {
            if now.saturating_duration_since(s.released.get()) >= RELEASE {
                return Poll::Ready(());
            }
            // The other spinner goes to the back of the run queue; this one waits for it. (The
            // other may be parked instead: an activity between the two spinners' first polls.)
            if let Some(other) = s.baton.take().or_else(|| s.parked.take()) {
                other.wake();
            }
            s.baton.set(Some(cx.waker().clone()));
        } else {
            *until = None;
            // One spinner sleeps until the next activity, the other waits for the baton.
            let parked = s.parked.take();
            if parked.is_none() {
                s.parked.set(Some(cx.waker().clone()));
            } else {
                s.parked.set(parked);
                s.baton.set(Some(cx.waker().clone()));
            }
        }
        Poll::Pending
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap()
    }

    /// Whether the spinner sleeps (its waker is parked).
    fn parked() -> bool {
        SPIN.with(|s| {
            let w = s.parked.take();
            let parked = w.is_some();
            s.parked.set(w);
            parked
        })
    }

    #[test]
    fn the_window_is_open_only_before_its_end() {
        let now = Instant::now();
        assert!(!open(None, now));
        assert!(open(Some(now + Duration::from_micros(1)), now));
        assert!(!open(Some(now), now));
    }

    #[test]
    fn spins_after_activity_then_parks_until_the_next() {
        runtime().block_on(async {
            install(Duration::from_millis(30));
            monoio::time::sleep(Duration::from_millis(5)).await;
            assert!(parked(), "no activity yet: the spinner sleeps");
            activity();
            // Timers still fire while the loop spins (it polls the driver, zero timeout).
            monoio::time::sleep(Duration::from_millis(5)).await;
            assert!(!parked(), "within the window the spinner keeps itself runnable");
            monoio::time::sleep(Duration::from_millis(60)).await;
            assert!(parked(), "after the window the spinner sleeps again");
            activity();
            monoio::time::sleep(Duration::from_millis(1)).await;
            assert!(!parked(), "the next activity opens a new window");
            // The spinner outlives this runtime: park it so the thread's next runtime starts clean.
            monoio::time::sleep(Duration::from_millis(40)).await;
        });
    }

    /// A woken task runs after at most a few spinner polls: a spinner that woke itself would
    /// keep the front of monoio's run queue (until the next release, a millisecond later).
    #[test]
    fn woken_tasks_run_right_behind_the_spinners() {
        runtime().block_on(async {
            let window = Duration::from_secs(20);
            install(window);
            monoio::time::sleep(Duration::from_millis(1)).await;
            activity();
            let (to_echo, echo_in) = async_channel::bounded::<u64>(1);
            let (to_main, main_in) = async_channel::bounded::<u64>(1);
            monoio::spawn(async move {
                while let Ok(sent_at) = echo_in.recv().await {
                    activity();
                    let waited = SPIN.with(|s| s.polls.get()) - sent_at;
                    if to_main.send(waited).await.is_err() {
                        break;
                    }
                }
            });
            let mut most = 0;
            for _ in 0..100 {
                to_echo.send(SPIN.with(|s| s.polls.get())).await.unwrap();
                most = most.max(main_in.recv().await.unwrap());
            }
            assert!(!parked(), "still spinning: the window is open");
            assert!(most <= 4, "a woken task waited behind {most} spinner polls");
        });
    }

    /// monoio fires timers only when its loop parks: the spinners let it park every RELEASE.
    #[test]
    fn timers_fire_while_spinning() {
        runtime().block_on(async {
            let window = Duration::from_secs(20);
            install(window);
            let start = Instant::now();
            activity();
            for _ in 0..5 {
                monoio::time::sleep(Duration::from_millis(2)).await;
                activity();
            }
            assert!(!parked(), "still spinning: the window is open");
            assert!(start.elapsed() < window / 2, "the timers waited for the window to close");
        });
    }

    #[test]
    fn a_zero_window_spawns_nothing() {
        runtime().block_on(async {
            install(Duration::ZERO);
            activity();
            monoio::time::sleep(Duration::from_millis(2)).await;
            assert!(!parked(), "no spinner ever parked on this thread");
        });
    }
}
