//! The write side of a gateway: frames wait in an outbox that one writer
//! task drains into the connection.
//!
//! A sender whose frame finds the outbox empty writes it itself, at once,
//! without waking the writer task (a round trip then costs no thread hop);
//! whatever does not fit into the pipe right away, and every frame that
//! finds others waiting, is queued for the writer task. Small frames are
//! coalesced so a burst of messages becomes a few large writes. Senders wait
//! while more than the budget is queued.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::io::AsyncWrite;
use tokio::sync::Notify;

use crate::transport::BoxedWriter;

/// Bytes that may wait in the outbox before senders wait.
pub(crate) const SEND_BUDGET: usize = 16 << 20;

/// Frames up to this size are appended to the last queued segment.
const COALESCE: usize = 64 << 10;

/// Most segments handed to one vectored write.
const MAX_SLICES: usize = 64;

/// Why the outbox refuses frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Shut down: the gateway is exiting.
    Closed,
    /// A write failed; the text names the error.
    Failed(String),
}

struct State {
    writer: BoxedWriter,
    /// Segments to write, oldest first; `offset` bytes of the first are written.
    queue: VecDeque<Vec<u8>>,
    offset: usize,
    queued: usize,
    /// A write completed since the last flush.
    unflushed: bool,
    shutdown: bool,
    failed: Option<String>,
}

impl State {
    fn refused(&self) -> Option<Refused> {
        if let Some(e) = &self.failed {
            Some(Refused::Failed(e.clone()))
        } else if self.shutdown {
            Some(Refused::Closed)
        } else {
            None
        }
    }

    fn push(&mut self, mut frame: Vec<u8>) {
        if frame.is_empty() {
            // Nothing to write (and an empty write would read as WriteZero).
            return;
        }
        self.queued += frame.len();
        match self.queue.back_mut() {
            // Appending keeps `offset` valid even for a partly written segment.
            Some(last) if frame.len() <= COALESCE && last.len() < COALESCE => {
                last.append(&mut frame);
            }
            _ => self.queue.push_back(frame),
        }
    }

    /// Records a failed write: nothing queued will be written.
    fn fail(&mut self, e: &std::io::Error) -> Refused {
        self.failed = Some(e.to_string());
        self.queue.clear();
        self.offset = 0;
        self.queued = 0;
        Refused::Failed(e.to_string())
    }

    /// Marks `n` bytes of the queue written.
    fn advance(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let Some(front) = self.queue.front() else {
                return;
            };
            let left = front.len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.offset = 0;
            self.queue.pop_front();
        }
    }

    /// Writes queued bytes until the queue is empty (Ready(Ok)), the
    /// connection is not ready (Pending, `cx` registered), or a write fails.
    fn poll_write_queue(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.queue.is_empty() {
            let n = if self.writer.is_write_vectored() && self.queue.len() > 1 {
                let mut slices = Vec::with_capacity(self.queue.len().min(MAX_SLICES));
                for (i, seg) in self.queue.iter().take(MAX_SLICES).enumerate() {
                    let start = if i == 0 { self.offset } else { 0 };
                    slices.push(IoSlice::new(&seg[start..]));
                }
                std::task::ready!(Pin::new(&mut self.writer).poll_write_vectored(cx, &slices))?
            } else {
                let Some(front) = self.queue.front() else {
                    break;
                };
                let bytes = &front[self.offset..];
                std::task::ready!(Pin::new(&mut self.writer).poll_write(cx, bytes))?
            };
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.unflushed = true;
            self.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

/// Frames waiting for the connection; see the module docs.
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// Wakes the writer task when frames are queued or on shutdown.
    work: Notify,
    /// Wakes senders waiting for room in the budget.
    room: Notify,
}

impl Outbox {
    pub(crate) fn new(writer: BoxedWriter) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                writer,
                queue: VecDeque::new(),
                offset: 0,
                queued: 0,
                unflushed: false,
                shutdown: false,
                failed: None,
            }),
            work: Notify::new(),
            room: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a frame, waiting while the budget is used up.
    pub(crate) async fn send(&self, frame: Vec<u8>) -> Result<(), Refused> {
        loop {
            let room = self.room.notified();
            {
                let st = self.lock();
                if let Some(refused) = st.refused() {
                    return Err(refused);
                }
                if st.queued < SEND_BUDGET {
                    break;
                }
            }
            room.await;
        }
        self.push(frame)
    }

    /// Sends a frame without waiting for room (control messages, `Drop`).
    pub(crate) fn push(&self, frame: Vec<u8>) -> Result<(), Refused> {
        let mut st = self.lock();
        if let Some(refused) = st.refused() {
            return Err(refused);
        }
        let idle = st.queue.is_empty() && !st.unflushed;
        st.push(frame);
        if !idle {
            // The writer task is busy with earlier frames; it takes this one too.
            return Ok(());
        }
        // The writer task has nothing to do, so it is not waiting on the
        // connection: write here. A Pending registers a no-op waker, which the
        // writer task replaces when it polls the queued rest.
        let mut cx = Context::from_waker(Waker::noop());
        let outcome = match st.poll_write_queue(&mut cx) {
            Poll::Ready(Ok(())) => match Pin::new(&mut st.writer).poll_flush(&mut cx) {
                Poll::Ready(Ok(())) => {
                    st.unflushed = false;
                    return Ok(());
                }
                Poll::Ready(Err(e)) => Err(e),
                Poll::Pending => Ok(()),
            },
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Ok(()),
        };
        match outcome {
            // Left over, or to be flushed: the writer task finishes it.
            Ok(()) => {
                drop(st);
                self.work.notify_one();
                Ok(())
            }
            Err(e) => {
                let refused = st.fail(&e);
                drop(st);
                self.room.notify_waiters();
                Err(refused)
            }
        }
    }

    /// Stops taking frames; the writer task writes what is queued, then
    /// shuts the connection's write side.
    pub(crate) fn shutdown(&self) {
        self.lock().shutdown = true;
        self.work.notify_one();
    }

    /// One step of the writer task: write what is queued, flush, and on
    /// shutdown close the write side. Ready(true) when the task should end.
    fn poll_step(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut st = self.lock();
        if st.failed.is_some() {
            return Poll::Ready(true);
        }
        let before = st.queued;
        let written = st.poll_write_queue(cx);
        if st.queued < before && before >= SEND_BUDGET {
            self.room.notify_waiters();
        }
        let result = match written {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(())) => {
                if st.unflushed {
                    let flushed = std::task::ready!(Pin::new(&mut st.writer).poll_flush(cx));
                    st.unflushed = false;
                    flushed
                } else {
                    Ok(())
                }
            }
            Poll::Ready(Err(e)) => Err(e),
        };
        if let Err(e) = result {
            st.fail(&e);
            drop(st);
            self.room.notify_waiters();
            return Poll::Ready(true);
        }
        if st.shutdown {
            let _ = std::task::ready!(Pin::new(&mut st.writer).poll_shutdown(cx));
            return Poll::Ready(true);
        }
        Poll::Ready(false)
    }

    /// The writer task: drains the outbox until shutdown or a failed write.
    pub(crate) async fn run_writer(&self) {
        loop {
            let work = self.work.notified();
            if std::future::poll_fn(|cx| self.poll_step(cx)).await {
                break;
            }
            work.await;
        }
        self.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    fn frames(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let len = if i % 50 == 0 { 300_000 } else { i % 97 };
                vec![(i % 251) as u8; len]
            })
            .collect()
    }

    async fn read_all(mut r: tokio::io::DuplexStream) -> Vec<u8> {
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut got))
            .await
            .expect("the outbox never shut its write side")
            .expect("read");
        got
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_byte_arrives_in_order_through_a_small_pipe() {
        // A 4 KiB duplex is always full: most frames go through the writer task.
        let (w, r) = tokio::io::duplex(4096);
        let outbox = Arc::new(Outbox::new(Box::new(w)));
        let writer = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.run_writer().await }
        });
        let reader = tokio::spawn(read_all(r));
        let sent = frames(400);
        for (i, f) in sent.iter().enumerate() {
            if i % 3 == 0 {
                outbox.push(f.clone()).unwrap();
            } else {
                outbox.send(f.clone()).await.unwrap();
            }
        }
        outbox.shutdown();
        assert_eq!(outbox.push(vec![1]), Err(Refused::Closed));
        let got = reader.await.unwrap();
        assert_eq!(got.len(), sent.iter().map(Vec::len).sum::<usize>());
        assert!(got == sent.concat(), "bytes out of order");
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn an_idle_outbox_writes_in_the_senders_task() {
        let (w, mut r) = tokio::io::duplex(1 << 16);
        // No writer task at all: a frame that fits is written by push itself.
        let outbox = Outbox::new(Box::new(w));
        outbox.push(b"hello".to_vec()).unwrap();
        let mut buf = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(5), r.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"hello");
    }

    #[tokio::test]
    async fn a_closed_connection_refuses_frames_with_the_reason() {
        let (w, r) = tokio::io::duplex(64);
        drop(r);
        let outbox = Arc::new(Outbox::new(Box::new(w)));
        let writer = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.run_writer().await }
        });
        let first = outbox.push(vec![0; 10]);
        assert!(
            matches!(first, Err(Refused::Failed(ref e)) if e.contains("pipe")),
            "{first:?}"
        );
        let later = outbox.send(vec![0; 10]).await;
        assert!(matches!(later, Err(Refused::Failed(_))), "{later:?}");
        tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the writer task ends after a failed write")
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn senders_wait_while_the_budget_is_used_up() {
        let (w, r) = tokio::io::duplex(1 << 16);
        let outbox = Arc::new(Outbox::new(Box::new(w)));
        tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.run_writer().await }
        });
        outbox.push(vec![1; SEND_BUDGET + (1 << 20)]).unwrap();
        let blocked =
            tokio::time::timeout(Duration::from_millis(300), outbox.send(vec![2; 10])).await;
        assert!(
            blocked.is_err(),
            "send went through with the budget used up"
        );
        let reader = tokio::spawn(read_all(r));
        tokio::time::timeout(Duration::from_secs(20), outbox.send(vec![2; 10]))
            .await
            .expect("send still waits after the queue drained")
            .unwrap();
        outbox.shutdown();
        assert_eq!(reader.await.unwrap().len(), SEND_BUDGET + (1 << 20) + 10);
    }
}
