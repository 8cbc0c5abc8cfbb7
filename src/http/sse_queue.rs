//! The queue between a streamed response's producer and its connection: bounded, with
//! both ends on one worker (`Rc` / `RefCell`), nothing allocated per frame.
//!
//! Why not `async_channel` (which this replaced): its ends are thread-safe, so every frame paid
//! for atomics, and every wait allocated an event-listener node and freed it again. Callgrind
//! counted about 1,500 of the 7,700 instructions the gateway spent per paced chunk of a
//! passed-through stream in `async_channel` and `event_listener`.
//!
//! Semantics are the channel's: `send` waits for room and fails (handing the frame back) once
//! the receiver is gone; `recv` hands out every queued frame, then `None` once every sender is
//! gone. [`Receiver::poll_recv_after`] serves a connection that runs the producer itself (in
//! its own task, `http::sse_writer::Producer`): the frames the producer queues then do not wake
//! the task that is already running it. Each waiting task leaves one waker (a task that waits
//! again is recognised with `Waker::will_wake`). Wakers are woken and dropped after the queue's
//! borrow ends: dropping the last reference to a task drops its future, and with it perhaps an
//! end of this queue, whose `Drop` borrows the queue again.

use bytes::Bytes;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Inner {
    frames: VecDeque<Bytes>,
    capacity: usize,
    senders: usize,
    receiver_alive: bool,
    /// The receiver's task while it waits for a frame.
    receiving: Option<Waker>,
    /// Sender tasks waiting for room.
    room: Vec<Waker>,
}

/// Adds `waker` to `list` unless its task is already there.
fn add_waker(list: &mut Vec<Waker>, waker: &Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

/// Wakes every task in one waiting list (`list` picks it), one at a time, each outside the
/// queue's borrow; the list keeps its capacity, so waiting again allocates nothing.
fn wake_all(inner: &RefCell<Inner>, list: fn(&mut Inner) -> &mut Vec<Waker>) {
    loop {
        let next = list(&mut inner.borrow_mut()).pop();
        match next {
            Some(w) => w.wake(),
            None => return,
        }
    }
}

/// A queue of at most `capacity` frames (at least 1).
pub fn queue(capacity: usize) -> (Sender, Receiver) {
    let inner = Rc::new(RefCell::new(Inner {
        frames: VecDeque::with_capacity(capacity.max(1)),
        capacity: capacity.max(1),
        senders: 1,
        receiver_alive: true,
        ..Inner::default()
    }));
    (Sender(Rc::clone(&inner)), Receiver(inner))
}

/// The producer's end. Cloning makes another sender; the receiver sees the end of the stream
/// when the last one is dropped.
pub struct Sender(Rc<RefCell<Inner>>);

impl Sender {
    /// Queues `frame`, waiting while the queue is full. `Err(frame)` once the receiver is gone.
    pub async fn send(&self, frame: Bytes) -> Result<(), Bytes> {
        let mut frame = Some(frame);
        poll_fn(|cx| self.poll_send(cx, &mut frame)).await
    }

    fn poll_send(&self, cx: &Context<'_>, frame: &mut Option<Bytes>) -> Poll<Result<(), Bytes>> {
        let Some(f) = frame.take() else {
            // Polled again after it completed: nothing left to send.
            return Poll::Ready(Ok(()));
        };
        let Err(f) = self.try_send(f) else { return Poll::Ready(Ok(())) };
        let mut q = self.0.borrow_mut();
        if !q.receiver_alive {
            return Poll::Ready(Err(f));
        }
        // Full: wait for room.
        *frame = Some(f);
        add_waker(&mut q.room, cx.waker());
        Poll::Pending
    }

    /// Queues `frame` if there is room now; `Err(frame)` when the queue is full or the receiver
    /// is gone (a producer queues its first frame this way before the connection writes the
    /// response head, so the two go out in one write).
    pub fn try_send(&self, frame: Bytes) -> Result<(), Bytes> {
        let mut q = self.0.borrow_mut();
        if !q.receiver_alive || q.frames.len() >= q.capacity {
            return Err(frame);
        }
        q.frames.push_back(frame);
        let receiving = q.receiving.take();
        drop(q);
        if let Some(w) = receiving {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        !self.0.borrow().receiver_alive
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.0.borrow_mut().senders += 1;
        Self(Rc::clone(&self.0))
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut q = self.0.borrow_mut();
        q.senders = q.senders.saturating_sub(1);
        if q.senders > 0 {
            return;
        }
        // The last sender: the receiver sees the end, and no sender is left to wait.
        let receiving = q.receiving.take();
        let room = std::mem::take(&mut q.room);
        drop(q);
        if let Some(w) = receiving {
            w.wake();
        }
        drop(room);
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

/// The connection's end. Dropping it tells the senders the client is gone.
pub struct Receiver(Rc<RefCell<Inner>>);

impl Receiver {
    /// The next frame, waiting for one; `None` once the queue is empty and every sender gone.
    pub async fn recv(&self) -> Option<Bytes> {
        poll_fn(|cx| self.poll_recv_after(cx, |_| {})).await
    }

    /// Whether every sender is gone (the producer ended the stream), frames queued or not.
    pub fn is_ended(&self) -> bool {
        self.0.borrow().senders == 0
    }

    /// The next frame as a poll, for a connection that runs the producer itself: `step` runs it
    /// first, and the frames it queues do not wake this task (it asks the queue right after);
    /// a task that waits leaves its waker once. [`Receiver::recv`] is this with no step.
    pub fn poll_recv_after(&self, cx: &Context<'_>, step: impl FnOnce(&Context<'_>)) -> Poll<Option<Bytes>> {
        let waiting = self.0.borrow_mut().receiving.take();
        step(cx);
        if let Some(frame) = self.try_recv() {
            return Poll::Ready(Some(frame));
        }
        let mut q = self.0.borrow_mut();
        if q.senders == 0 {
            return Poll::Ready(None);
        }
        let replaced = match waiting {
            Some(w) if w.will_wake(cx.waker()) => q.receiving.replace(w),
            _ => q.receiving.replace(cx.waker().clone()),
        };
        drop(q);
        drop(replaced);
        Poll::Pending
    }

    /// Calls `f` with the length of each queued frame, in order, while it returns `true`.
    pub fn queued_lens(&self, mut f: impl FnMut(usize) -> bool) {
        let q = self.0.borrow();
        for frame in &q.frames {
            if !f(frame.len()) {
                return;
            }
        }
    }

    /// A frame already queued, without waiting.
    pub fn try_recv(&self) -> Option<Bytes> {
        let frame = self.0.borrow_mut().frames.pop_front()?;
        wake_all(&self.0, |q| &mut q.room);
        Some(frame)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut q = self.0.borrow_mut();
        q.receiver_alive = false;
        let frames = std::mem::take(&mut q.frames);
        let receiving = q.receiving.take();
        drop(q);
        drop((frames, receiving));
        wake_all(&self.0, |q| &mut q.room);
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = self.0.borrow();
        f.debug_struct("Receiver").field("queued", &q.frames.len()).field("senders", &q.senders).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::counting_waker::counting_waker as counter;
    use std::future::Future;
    use std::pin::pin;

    fn poll<F: Future>(f: std::pin::Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(w))
    }
    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn frames_come_out_in_order_then_none_after_the_last_sender() {
        let (tx, rx) = queue(4);
        let tx2 = tx.clone();
        let (_, w) = counter();
        assert!(poll(pin!(tx.send(b("a"))), &w).is_ready());
        assert!(poll(pin!(tx2.send(b("b"))), &w).is_ready());
        assert_eq!(rx.try_recv(), Some(b("a")));
        drop(tx);
        assert_eq!(poll(pin!(rx.recv()), &w), Poll::Ready(Some(b("b"))));
        // One sender left: the empty queue waits.
        assert_eq!(poll(pin!(rx.recv()), &w), Poll::Pending);
        drop(tx2);
        assert_eq!(poll(pin!(rx.recv()), &w), Poll::Ready(None));
        assert_eq!(rx.try_recv(), None);
    }

    #[test]
    fn a_waiting_receiver_is_woken_by_a_frame_and_by_the_last_sender_leaving() {
        let (tx, rx) = queue(2);
        let (count, w) = counter();
        let mut recv = pin!(rx.recv());
        assert_eq!(poll(recv.as_mut(), &w), Poll::Pending);
        assert!(poll(pin!(tx.send(b("x"))), &w).is_ready());
        assert_eq!(count.get(), 1);
        assert_eq!(poll(recv.as_mut(), &w), Poll::Ready(Some(b("x"))));
        let mut recv = pin!(rx.recv());
        assert_eq!(poll(recv.as_mut(), &w), Poll::Pending);
        drop(tx);
        assert_eq!(count.get(), 2);
        assert_eq!(poll(recv.as_mut(), &w), Poll::Ready(None));
    }

    #[test]
    fn try_send_queues_while_there_is_room_and_hands_the_frame_back_otherwise() {
        let (tx, rx) = queue(2);
        let (count, w) = counter();
        {
            let mut recv = pin!(rx.recv());
            assert_eq!(poll(recv.as_mut(), &w), Poll::Pending);
            assert_eq!(tx.try_send(b("1")), Ok(()));
            assert_eq!(count.get(), 1, "a waiting receiver is woken");
            assert_eq!(tx.try_send(b("2")), Ok(()));
            assert_eq!(tx.try_send(b("3")), Err(b("3")), "full");
            assert_eq!(poll(recv.as_mut(), &w), Poll::Ready(Some(b("1"))));
        }
        assert_eq!(rx.try_recv(), Some(b("2")));
        assert_eq!(tx.try_send(b("4")), Ok(()));
        drop(rx);
        assert_eq!(tx.try_send(b("5")), Err(b("5")), "the receiver is gone");
    }

    #[test]
    fn a_full_queue_holds_the_sender_until_a_frame_is_taken() {
        let (tx, rx) = queue(1);
        let (count, w) = counter();
        assert!(poll(pin!(tx.send(b("1"))), &w).is_ready());
        let mut second = pin!(tx.send(b("2")));
        assert_eq!(poll(second.as_mut(), &w), Poll::Pending);
        // Polled again while still full: still waiting, and registered once.
        assert_eq!(poll(second.as_mut(), &w), Poll::Pending);
        assert_eq!(rx.0.borrow().room.len(), 1);
        assert_eq!(rx.try_recv(), Some(b("1")));
        assert_eq!(count.get(), 1);
        assert_eq!(poll(second.as_mut(), &w), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Some(b("2")));
    }

    #[test]
    fn dropping_the_receiver_fails_sends_and_hands_the_frame_back() {
        let (tx, rx) = queue(1);
        let (count, w) = counter();
        assert!(poll(pin!(tx.send(b("queued"))), &w).is_ready());
        let mut blocked = pin!(tx.send(b("blocked")));
        assert_eq!(poll(blocked.as_mut(), &w), Poll::Pending);
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        // The blocked send was woken.
        assert_eq!(count.get(), 1);
        assert_eq!(poll(blocked.as_mut(), &w), Poll::Ready(Err(b("blocked"))));
        assert_eq!(poll(pin!(tx.send(b("late"))), &w), Poll::Ready(Err(b("late"))));
    }

    #[test]
    fn the_receiver_dropping_frees_queued_frames() {
        let (tx, rx) = queue(4);
        let big = Bytes::from(vec![0u8; 1024]);
        let (_, w) = counter();
        assert!(poll(pin!(tx.send(big.clone())), &w).is_ready());
        assert!(!big.is_unique());
        drop(rx);
        assert!(big.is_unique(), "the queue still holds the frame");
    }

    #[test]
    fn frames_queued_by_the_step_are_handed_out_without_waking_the_task() {
        let (tx, rx) = queue(4);
        let (count, w) = counter();
        let cx = Context::from_waker(&w);
        // Nothing queued and nothing produced: waiting, with this task's waker left once.
        assert_eq!(rx.poll_recv_after(&cx, |_| {}), Poll::Pending);
        assert!(rx.0.borrow().receiving.is_some());
        // The step queues two frames: the first comes back at once, and the task that ran the
        // step was not woken for it (a plain send now would wake it).
        let got = rx.poll_recv_after(&cx, |_| {
            assert_eq!(tx.try_send(b("a")), Ok(()));
            assert_eq!(tx.try_send(b("b")), Ok(()));
        });
        assert_eq!(got, Poll::Ready(Some(b("a"))));
        assert_eq!(count.get(), 0, "the task running the producer was woken by its own frames");
        assert_eq!(rx.try_recv(), Some(b("b")));
        // Waiting again keeps the waker; a frame from elsewhere (another task) wakes it.
        assert_eq!(rx.poll_recv_after(&cx, |_| {}), Poll::Pending);
        assert_eq!(tx.try_send(b("c")), Ok(()));
        assert_eq!(count.get(), 1);
        assert_eq!(rx.poll_recv_after(&cx, |_| {}), Poll::Ready(Some(b("c"))));
        // The step drops the last sender: the end of the stream.
        assert!(!rx.is_ended());
        let mut last = Some(tx);
        assert_eq!(rx.poll_recv_after(&cx, |_| drop(last.take())), Poll::Ready(None));
        assert!(rx.is_ended());
    }

    thread_local! {
        static HELD: RefCell<Option<Sender>> = const { RefCell::new(None) };
    }

    /// A waker whose last reference, dropped, drops a sender of the queue (as a task whose
    /// future owned one would).
    struct DropsSender;
    impl std::task::Wake for DropsSender {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    impl Drop for DropsSender {
        fn drop(&mut self) {
            let _ = HELD.with(|h| h.borrow_mut().take());
        }
    }

    #[test]
    fn a_replaced_waker_whose_drop_drops_a_sender_does_not_find_the_queue_borrowed() {
        let (tx, rx) = queue(1);
        HELD.with(|h| *h.borrow_mut() = Some(tx.clone()));
        let holder = Waker::from(std::sync::Arc::new(DropsSender));
        assert_eq!(poll(pin!(rx.recv()), &holder), Poll::Pending);
        drop(holder);
        // The queue holds the last reference; replacing it drops the held sender.
        let (_, plain) = counter();
        assert_eq!(poll(pin!(rx.recv()), &plain), Poll::Pending);
        assert!(HELD.with(|h| h.borrow().is_none()), "the replaced waker was not dropped");
        assert_eq!(rx.0.borrow().senders, 1);
        drop(tx);
        assert_eq!(poll(pin!(rx.recv()), &plain), Poll::Ready(None));
    }
}
