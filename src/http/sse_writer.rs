//! Server-side SSE framing and the producer half of a streamed response.
//!
//! A handler that streams creates [`channel`] and returns `Response::sse(rx, Producer::new(..))`:
//! the producer is a future that writes frames with [`SseSender::send`]. The producer has no
//! task of its own: the connection's task polls it whenever it looks for the next frame (no
//! hand-over between two tasks per frame), writes each frame as it comes (one flush per event),
//! and the producer never touches the socket. While a write is in flight the producer is not
//! polled, so a slow client holds back the upstream reads at once. Once the producer has ended
//! the stream (dropped its sender) while it still has work left (a proxied stream reads its
//! upstream's tail), [`Producer::detach`] hands that rest to a task of its own. When the client
//! goes away the connection drops the producer, and with it the upstream request (a `send`
//! fails with [`ClientGone`] only for a producer that outlives its receiver).

use super::sse_queue;
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};

/// The client disconnected (or the server is closing the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientGone;

/// Producer half of an SSE response.
#[derive(Debug, Clone)]
pub struct SseSender {
    tx: sse_queue::Sender,
}

/// Creates a stream with room for `capacity` queued frames (backpressure beyond that), on the
/// worker's own queue ([`sse_queue`]).
pub fn channel(capacity: usize) -> (SseSender, sse_queue::Receiver) {
    let (tx, rx) = sse_queue::queue(capacity);
    (SseSender { tx }, rx)
}

impl SseSender {
    /// Queues one complete frame; waits when the client is slower than the producer.
    pub async fn send(&self, frame: Bytes) -> Result<(), ClientGone> {
        self.tx.send(frame).await.map_err(|_| ClientGone)
    }

    /// Queues one complete frame if there is room now; the frame back when there is none or the
    /// client is gone. A producer queues its first frame with it before it returns the
    /// response, so the connection writes the head and that frame at once.
    pub fn try_send(&self, frame: Bytes) -> Result<(), Bytes> {
        self.tx.try_send(frame)
    }

    /// Frames and queues one event.
    pub async fn event(&self, event: Option<&str>, data: &[u8]) -> Result<(), ClientGone> {
        let mut buf = BytesMut::with_capacity(data.len() + 32);
        write_event(&mut buf, event, data);
        self.send(buf.freeze()).await
    }
}

/// The future that fills a stream's queue, driven by the connection that writes the stream (see
/// the module header). Empty once it has finished or been detached.
pub struct Producer {
    fut: Option<Pin<Box<dyn Future<Output = ()>>>>,
    /// The waker the producer is polled with (made at its first step): it records that the
    /// producer was woken before it wakes the connection's task, so [`Producer::step`] polls
    /// the producer only when it can go on, not on every wake-up of the connection.
    wakeup: Option<(Arc<Wakeup>, Waker)>,
}

/// What the producer's waker does: note the wake-up, then wake the connection's task.
struct Wakeup {
    woken: AtomicBool,
    task: Waker,
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // One worker thread polls and wakes a producer: nothing to order against.
        self.woken.store(true, Ordering::Relaxed);
        self.task.wake_by_ref();
    }
}

impl Producer {
    pub fn new(fut: impl Future<Output = ()> + 'static) -> Self {
        Self { fut: Some(Box::pin(fut)), wakeup: None }
    }

    /// Runs the producer until it waits (on its upstream, on room in the queue), if it was woken
    /// since it last waited (or has not run yet); the connection's task (the waker of `cx`) is
    /// woken when it can go on.
    pub fn step(&mut self, cx: &Context<'_>) {
        let Some(fut) = &mut self.fut else { return };
        let waker = match &self.wakeup {
            Some((wakeup, waker)) if wakeup.task.will_wake(cx.waker()) => {
                // Cleared before the poll: a wake-up during it is kept for the next step.
                if !wakeup.woken.swap(false, Ordering::Relaxed) {
                    return;
                }
                waker
            }
            _ => {
                let wakeup = Arc::new(Wakeup { woken: AtomicBool::new(false), task: cx.waker().clone() });
                let waker = Waker::from(Arc::clone(&wakeup));
                &self.wakeup.insert((wakeup, waker)).1
            }
        };
        if fut.as_mut().poll(&mut Context::from_waker(waker)).is_ready() {
            self.fut = None;
        }
    }

    /// Hands what is left of the producer to a task of its own (on the current worker's
    /// runtime, which the connection calling it runs on): once it has ended the stream
    /// (dropped its sender) it may still have work the client must not wait for (a proxied
    /// stream reads its upstream's tail).
    pub fn detach(&mut self) {
        if let Some(fut) = self.fut.take() {
            monoio::spawn(fut);
        }
    }

    /// Whether the producer has not finished yet.
    pub fn is_running(&self) -> bool {
        self.fut.is_some()
    }
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer").field("running", &self.is_running()).finish()
    }
}

/// Appends one SSE event: optional `event:` line, one `data:` line per line of `data`, blank line.
pub fn write_event(out: &mut BytesMut, event: Option<&str>, data: &[u8]) {
    if let Some(name) = event {
        out.put_slice(b"event: ");
        out.put_slice(name.as_bytes());
        out.put_u8(b'\n');
    }
    for line in data.split(|b| *b == b'\n') {
        out.put_slice(b"data: ");
        out.put_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::counting_waker::counting_waker;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::task::Poll;

    /// A future that waits until its gate is opened `opens` times, counting its polls, and
    /// leaves its waker where the test can wake it.
    fn gated(opens: usize, polls: &Rc<Cell<usize>>, waker: &Rc<RefCell<Option<Waker>>>) -> Producer {
        let (polls, waker) = (Rc::clone(polls), Rc::clone(waker));
        let mut left = opens;
        Producer::new(std::future::poll_fn(move |cx| {
            polls.set(polls.get() + 1);
            if left == 0 {
                return Poll::Ready(());
            }
            left -= 1;
            *waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }))
    }

    #[test]
    fn step_polls_the_producer_only_when_it_was_woken() {
        let (polls, slot) = (Rc::new(Cell::new(0)), Rc::new(RefCell::new(None::<Waker>)));
        let mut p = gated(2, &polls, &slot);
        let (task_wakes, task) = counting_waker();
        let cx = Context::from_waker(&task);
        p.step(&cx);
        assert_eq!(polls.get(), 1, "the first step runs it");
        p.step(&cx);
        p.step(&cx);
        assert_eq!(polls.get(), 1, "stepped again without a wake-up: not polled");
        let made = p.wakeup.as_ref().map(|(w, _)| Arc::as_ptr(w));
        // Its waker wakes the connection's task and marks the producer (the counts below fail
        // if the producer left none).
        if let Some(w) = slot.borrow_mut().take() {
            w.wake();
        }
        assert_eq!(task_wakes.get(), 1);
        p.step(&cx);
        assert_eq!(polls.get(), 2);
        assert_eq!(p.wakeup.as_ref().map(|(w, _)| Arc::as_ptr(w)), made, "the same task: its waker is kept");
        if let Some(w) = slot.borrow_mut().take() {
            w.wake_by_ref();
        }
        p.step(&cx);
        assert_eq!(polls.get(), 3);
        assert!(!p.is_running(), "it finished");
        p.step(&cx);
        assert_eq!(polls.get(), 3, "a finished producer is not polled again");
        assert_eq!(task_wakes.get(), 2, "each wake-up of the producer woke the connection's task");
    }

    #[test]
    fn a_wake_up_during_the_poll_is_kept_for_the_next_step() {
        let polls = Rc::new(Cell::new(0));
        let counted = Rc::clone(&polls);
        let mut p = Producer::new(std::future::poll_fn(move |cx| {
            counted.set(counted.get() + 1);
            if counted.get() < 3 {
                // Woken while it runs (as a producer whose queue had room again would be).
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(())
        }));
        let (_, task) = counting_waker();
        let cx = Context::from_waker(&task);
        p.step(&cx);
        p.step(&cx);
        p.step(&cx);
        assert_eq!(polls.get(), 3);
        assert!(!p.is_running());
    }

    #[test]
    fn in_a_monoio_task_the_producer_runs_once_per_wake_up_and_detach_finishes_it() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
        let (polls, slot) = (Rc::new(Cell::new(0)), Rc::new(RefCell::new(None::<Waker>)));
        let (steps, wakeups_made) = rt.block_on(async {
            let mut p = gated(4, &polls, &slot);
            let mut steps = 0;
            let mut made = std::collections::HashSet::new();
            // Step it from this task while another task opens its gate twice; this task is also
            // woken by a timer of its own in between, which must not poll the producer.
            let opener = {
                let slot = Rc::clone(&slot);
                monoio::spawn(async move {
                    for _ in 0..2 {
                        monoio::time::sleep(std::time::Duration::from_millis(5)).await;
                        if let Some(w) = slot.borrow_mut().take() {
                            w.wake();
                        }
                    }
                })
            };
            let mut tick = monoio::time::interval(std::time::Duration::from_millis(1));
            while polls.get() < 3 {
                tick.tick().await;
                std::future::poll_fn(|cx| {
                    p.step(cx);
                    Poll::Ready(())
                })
                .await;
                steps += 1;
                made.extend(p.wakeup.as_ref().map(|(w, _)| Arc::as_ptr(w) as usize));
            }
            opener.await;
            // Two waits are left. Detached, it runs in a task of its own (its fourth poll, which
            // leaves that task's waker), and that task finishes it once woken.
            p.detach();
            assert!(!p.is_running());
            monoio::time::sleep(std::time::Duration::from_millis(2)).await;
            assert_eq!(polls.get(), 4, "the detached producer ran in its own task");
            if let Some(w) = slot.borrow_mut().take() {
                w.wake();
            }
            monoio::time::sleep(std::time::Duration::from_millis(2)).await;
            (steps, made.len())
        });
        assert_eq!(polls.get(), 5, "three runs while stepped (start, two wake-ups), two detached");
        assert!(steps > 3, "the loop stepped it more often than it was woken ({steps})");
        assert_eq!(wakeups_made, 1, "monoio's waker for one task is recognised: one wake-up record");
    }

    #[test]
    fn frames_multiline_data() {
        let mut b = BytesMut::new();
        write_event(&mut b, Some("message_start"), b"{\"a\":1}");
        write_event(&mut b, None, b"one\ntwo");
        assert_eq!(&b[..], b"event: message_start\ndata: {\"a\":1}\n\ndata: one\ndata: two\n\n");
    }
}
