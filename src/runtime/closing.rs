//! A worker's drain signal: set once when the worker starts draining, awaited by every idle
//! keep-alive connection (and the accept loop) so shutdown can cut them.
//!
//! Why not a closed `async_channel`: an idle connection waits on the signal before every
//! request, and each `recv` of a channel allocates an event-listener node (about 800
//! instructions and one allocation per request, callgrind). Here a waiter takes a slot in a
//! per-worker table of wakers ([`super::slots`]) and gives it back when dropped; the table's
//! slots are reused, so waiting allocates nothing once the table has grown to the number of idle
//! connections.
//! Single-threaded (`Cell` / `RefCell`): a worker's connections live on its thread.

use super::slots::Slots;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The signal. [`Closing::close`] wakes every waiter; waiting after that completes at once.
#[derive(Debug, Default)]
pub struct Closing {
    closed: Cell<bool>,
    /// Each waiter's slot: its waker until `close` takes it.
    wakers: RefCell<Slots<Option<Waker>>>,
}

impl Closing {
    /// Whether the signal was given.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Gives the signal: wakes every waiter (idempotent).
    pub fn close(&self) {
        self.closed.set(true);
        // Taken out first: a woken task does not run inside this call, but its waker's `wake`
        // must not find the table borrowed either way.
        let wakers: Vec<Waker> = self.wakers.borrow_mut().iter_mut().filter_map(Option::take).collect();
        for w in wakers {
            w.wake();
        }
    }

    /// A future that completes once the signal is given.
    pub fn wait(&self) -> Wait<'_> {
        Wait { closing: self, slot: None }
    }

    /// Puts `waker` in the waiter's slot (a new one the first time). A waker it replaces is
    /// dropped after the table's borrow ends: dropping the last reference to a task drops its
    /// future, whose own `Wait` would then borrow the table again.
    fn register(&self, slot: Option<usize>, waker: &Waker) -> usize {
        let mut wakers = self.wakers.borrow_mut();
        let (i, _replaced) = match slot.and_then(|i| Some((i, wakers.get_mut(i)?))) {
            Some((i, entry)) if entry.as_ref().is_some_and(|w| w.will_wake(waker)) => (i, None),
            Some((i, entry)) => (i, entry.replace(waker.clone())),
            None => (wakers.insert(Some(waker.clone())), None),
        };
        drop(wakers);
        i
    }

    fn release(&self, slot: usize) {
        let old = self.wakers.borrow_mut().remove(slot);
        drop(old);
    }
}

/// The future of [`Closing::wait`]; dropping it gives its slot back.
#[derive(Debug)]
pub struct Wait<'a> {
    closing: &'a Closing,
    slot: Option<usize>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.closing.is_closed() {
            return Poll::Ready(());
        }
        let slot = self.closing.register(self.slot, cx.waker());
        self.slot = Some(slot);
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            self.closing.release(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::counting_waker::counting_waker;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    fn poll(w: &mut Wait<'_>, waker: &Waker) -> Poll<()> {
        Pin::new(w).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn close_wakes_every_waiter_and_later_waits_complete_at_once() {
        let closing = Closing::default();
        let (counts, wakers): (Vec<_>, Vec<Waker>) = (0..3).map(|_| counting_waker()).unzip();
        let mut waits: Vec<Wait<'_>> = (0..3).map(|_| closing.wait()).collect();
        for (w, waker) in waits.iter_mut().zip(&wakers) {
            assert_eq!(poll(w, waker), Poll::Pending);
        }
        assert!(!closing.is_closed());
        closing.close();
        assert!(closing.is_closed());
        for c in &counts {
            assert_eq!(c.get(), 1, "each waiter is woken once");
        }
        for (w, waker) in waits.iter_mut().zip(&wakers) {
            assert_eq!(poll(w, waker), Poll::Ready(()));
        }
        assert_eq!(poll(&mut closing.wait(), &wakers[0]), Poll::Ready(()));
    }

    thread_local! {
        static SIGNAL: Closing = Closing::default();
    }

    /// A waker whose `wake` waits on this thread's signal again (as a task woken in place
    /// might): `close` must hold no borrow of the table while it wakes.
    struct Reenter(AtomicUsize);

    impl Wake for Reenter {
        fn wake(self: Arc<Self>) {
            let waker = Waker::from(Arc::clone(&self));
            SIGNAL.with(|c| {
                let mut again = c.wait();
                assert_eq!(poll(&mut again, &waker), Poll::Ready(()), "closed before anyone is woken");
            });
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_woken_waiter_may_wait_again_inside_wake() {
        let me = Arc::new(Reenter(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&me));
        SIGNAL.with(|c| {
            let mut w = c.wait();
            assert_eq!(poll(&mut w, &waker), Poll::Pending);
            c.close();
        });
        assert_eq!(me.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropped_waiters_give_their_slots_back_and_are_not_woken() {
        let closing = Closing::default();
        let (count, waker) = counting_waker();
        for _ in 0..100 {
            let mut w = closing.wait();
            assert_eq!(poll(&mut w, &waker), Poll::Pending);
            assert_eq!(poll(&mut w, &waker), Poll::Pending, "polled again: the same slot");
        }
        assert_eq!(closing.wakers.borrow().grown_to(), 1, "one slot, reused by every waiter in turn");
        closing.close();
        assert_eq!(count.get(), 0, "no waiter was left to wake");
    }
}
