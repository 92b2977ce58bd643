//! Channels: two-way pipes of Python values between the master and a worker.

use std::collections::VecDeque;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use super::error::{Error, RemoteError, Result};
use super::events::{CloseHow, Side};
use super::gateway::GatewayInner;
use crate::wire::{LoadOptions, MsgCode, Value};

/// A callback that receives a channel's items.
pub type Callback = Box<dyn FnMut(Value) + Send + 'static>;

/// Why a channel will receive nothing more.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// The other side closed it normally (or sent its last message).
    Closed,
    /// The other side closed it with an error text.
    RemoteError(String),
    /// The connection ended; the reason names exit status and stderr.
    GatewayDied(String),
    /// An item could not be decoded.
    BadData(crate::wire::DataFormatError),
}

/// State of one channel, shared by the reader task and every handle.
pub(crate) struct ChannelShared {
    pub(crate) id: i32,
    state: Mutex<ChannelState>,
    notify: Notify,
    /// The one live handle, so every `Channel` for this id shares it.
    pub(crate) handle: Mutex<Weak<ChannelHandle>>,
    /// Whether a handle was ever given out (until then the reader keeps the
    /// state of a closed channel, so items sent inside a value are not lost).
    pub(crate) handed_out: std::sync::atomic::AtomicBool,
}

struct ChannelState {
    items: VecDeque<Value>,
    /// Set when nothing more will arrive.
    ended: Option<Ended>,
    /// This side sent CLOSE / CLOSE_ERROR.
    closed_here: bool,
    /// The other side refuses more items (it closed, or the connection ended).
    peer_closed: bool,
    callback: Option<(Callback, Option<Value>)>,
    /// String coercion for items on this channel.
    opts: Option<LoadOptions>,
    /// Whether the callback is currently running (re-entrancy guard).
    in_callback: bool,
}

fn lock(m: &Mutex<ChannelState>) -> MutexGuard<'_, ChannelState> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ChannelShared {
    pub(crate) fn new(id: i32) -> ChannelShared {
        ChannelShared {
            id,
            state: Mutex::new(ChannelState {
                items: VecDeque::new(),
                ended: None,
                closed_here: false,
                peer_closed: false,
                callback: None,
                opts: None,
                in_callback: false,
            }),
            notify: Notify::new(),
            handle: Mutex::new(Weak::new()),
            handed_out: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn load_options(&self) -> Option<LoadOptions> {
        lock(&self.state).opts
    }

    pub(crate) fn set_load_options(&self, opts: LoadOptions) {
        lock(&self.state).opts = Some(opts);
    }

    /// Delivers an item (reader task). Returns a callback panic text, if any.
    pub(crate) fn deliver(&self, item: Value) -> Option<String> {
        let mut st = lock(&self.state);
        if st.ended.is_some() {
            return None;
        }
        if let Some((mut cb, marker)) = st.callback.take() {
            st.in_callback = true;
            drop(st);
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| cb(item)));
            // The channel may have ended while the callback ran: `end` found no
            // callback to give the end marker to, so `reinstall` gives it.
            self.reinstall(lock(&self.state), cb, marker);
            return result.err().map(panic_text);
        }
        st.items.push_back(item);
        drop(st);
        self.notify.notify_waiters();
        None
    }

    /// Puts the callback back after a run outside the lock, or, when the
    /// channel ended meanwhile, passes it the end marker instead.
    fn reinstall(
        &self,
        mut st: MutexGuard<'_, ChannelState>,
        mut cb: Callback,
        marker: Option<Value>,
    ) {
        st.in_callback = false;
        if st.ended.is_none() {
            st.callback = Some((cb, marker));
            return;
        }
        drop(st);
        if let Some(marker) = marker {
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| cb(marker)));
        }
    }

    /// Marks the channel ended (reader task or connection loss). The end
    /// marker, if any, is passed to the callback exactly once.
    /// Returns whether this call ended it (false when it had ended before).
    pub(crate) fn end(&self, why: Ended, peer_closed: bool) -> bool {
        let mut st = lock(&self.state);
        if peer_closed {
            st.peer_closed = true;
        }
        if st.ended.is_some() {
            return false;
        }
        st.ended = Some(why);
        let callback = st.callback.take();
        drop(st);
        if let Some((mut cb, Some(marker))) = callback {
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| cb(marker)));
        }
        self.notify.notify_waiters();
        true
    }

    pub(crate) fn is_ended(&self) -> bool {
        lock(&self.state).ended.is_some()
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "callback panicked".into());
    format!(
        "Traceback (most recent call last):\n  (execdeck master callback)\nRuntimeError: callback panicked: {msg}\n"
    )
}

/// One end of a channel on the master side. Cheap to clone; all clones are the same channel.
///
/// When the last handle of a channel that is still open is dropped, the
/// channel is closed (CHANNEL_CLOSE), or, when it has a callback, marked
/// send-only (CHANNEL_LAST_MESSAGE) so the callback keeps receiving — as in execnet.
#[derive(Clone)]
pub struct Channel {
    pub(crate) handle: Arc<ChannelHandle>,
}

pub(crate) struct ChannelHandle {
    pub(crate) gw: Arc<GatewayInner>,
    pub(crate) shared: Arc<ChannelShared>,
}

impl Drop for ChannelHandle {
    /// The last handle is gone: tell the other side (CLOSE, or LAST_MESSAGE
    /// when a callback still receives), and forget the channel unless its
    /// callback still expects items.
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        let has_callback = st.callback.is_some() || st.in_callback;
        let open = !(st.closed_here || st.peer_closed || self.gw.is_dead());
        if open && has_callback {
            drop(st);
            self.gw
                .send_control(MsgCode::ChannelLastMessage, self.shared.id, None);
            self.gw
                .note_closed(self.shared.id, Side::Local, CloseHow::SendOnly);
            return;
        }
        if open {
            st.closed_here = true;
            drop(st);
            self.gw
                .send_control(MsgCode::ChannelClose, self.shared.id, None);
            self.gw
                .note_closed(self.shared.id, Side::Local, CloseHow::Closed);
        } else if has_callback && st.ended.is_none() {
            return;
        } else {
            drop(st);
        }
        self.gw.forget_channel(self.shared.id);
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Channel id={} of {}>", self.id(), self.handle.gw.id)
    }
}

impl Channel {
    /// The handle for `shared`, reusing the live one if there is one.
    pub(crate) fn for_shared(gw: &Arc<GatewayInner>, shared: Arc<ChannelShared>) -> Channel {
        let mut slot = shared.handle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = slot.upgrade() {
            return Channel { handle };
        }
        let handle = Arc::new(ChannelHandle {
            gw: gw.clone(),
            shared: shared.clone(),
        });
        *slot = Arc::downgrade(&handle);
        drop(slot);
        shared
            .handed_out
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Channel { handle }
    }

    fn shared(&self) -> &ChannelShared {
        &self.handle.shared
    }

    /// The channel id (odd when the master made it, even when the worker did).
    pub fn id(&self) -> i32 {
        self.shared().id
    }

    /// The id of the gateway the channel belongs to.
    pub fn gateway_id(&self) -> &str {
        &self.handle.gw.id
    }

    /// This channel as a value, to send it inside data.
    pub fn as_value(&self) -> Value {
        Value::Channel(self.id())
    }

    /// Sends one value to the other side.
    ///
    /// Fails with [`Error::ChannelClosed`] when either side closed the
    /// channel, [`Error::GatewayDied`] when the connection is gone, and
    /// [`Error::Dump`] when the value cannot be serialized.
    pub async fn send(&self, item: impl Into<Value>) -> Result<()> {
        self.send_ref(&item.into()).await
    }

    /// Sends one value without taking it (to send the same value many times,
    /// or to several channels, without copying it first). Fails like [`Channel::send`].
    pub async fn send_ref(&self, item: &Value) -> Result<()> {
        {
            let st = lock(&self.shared().state);
            let why = if st.closed_here {
                Some("it was closed on this side")
            } else if st.peer_closed {
                Some("the other side closed it")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Error::ChannelClosed {
                    gateway: self.handle.gw.id.clone(),
                    channel: self.id(),
                    why: why.into(),
                });
            }
        }
        self.handle.gw.send_item(self.id(), item).await
    }

    /// Receives the next value, waiting at most `timeout` (forever with `None`).
    ///
    /// Fails with [`Error::Eof`] once the channel is closed and drained (on
    /// every later call too), [`Error::Remote`] when the remote code raised,
    /// [`Error::GatewayDied`] when the worker went away, and
    /// [`Error::Timeout`] when the time passes. Calling this on a channel
    /// with a callback is a usage error.
    pub async fn receive(&self, timeout: Option<Duration>) -> Result<Value> {
        self.wait_until(timeout, "an item", |st| {
            if st.callback.is_some() || st.in_callback {
                return Some(Err(Error::Usage(format!(
                    "channel {} of {} has a callback: it cannot be received from",
                    self.id(),
                    self.handle.gw.id
                ))));
            }
            if let Some(item) = st.items.pop_front() {
                return Some(Ok(item));
            }
            st.ended.as_ref().map(|ended| Err(self.ended_error(ended)))
        })
        .await
    }

    /// Waits until nothing more can arrive on the channel, at most `timeout`.
    ///
    /// Returns `Ok` when it closed normally, the [`Error::Remote`] it was
    /// closed with, [`Error::GatewayDied`] when the worker went away, or
    /// [`Error::Timeout`]. Unread items stay available to `receive`.
    pub async fn wait_close(&self, timeout: Option<Duration>) -> Result<()> {
        self.wait_until(timeout, "the close", |st| match &st.ended {
            Some(Ended::Closed) => Some(Ok(())),
            Some(other) => Some(Err(self.ended_error(other))),
            None => None,
        })
        .await
    }

    /// Runs `check` on the state now and after every change until it gives
    /// an answer, or fails with [`Error::Timeout`] naming `what` after `timeout`.
    async fn wait_until<T>(
        &self,
        timeout: Option<Duration>,
        what: &str,
        mut check: impl FnMut(&mut ChannelState) -> Option<Result<T>>,
    ) -> Result<T> {
        let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
        loop {
            // Register for wake-ups before looking, so no change is missed.
            let notified = self.shared().notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(answer) = check(&mut lock(&self.shared().state)) {
                return answer;
            }
            let Some(deadline) = deadline else {
                notified.await;
                continue;
            };
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Error::Timeout {
                    what: format!("{what} on channel {} of {}", self.id(), self.handle.gw.id),
                    after: timeout.unwrap_or_default(),
                });
            }
        }
    }

    fn ended_error(&self, ended: &Ended) -> Error {
        let gateway = self.handle.gw.id.clone();
        match ended {
            Ended::Closed => Error::Eof {
                gateway,
                channel: self.id(),
            },
            Ended::RemoteError(text) => Error::Remote(RemoteError {
                gateway,
                text: text.clone(),
            }),
            Ended::GatewayDied(reason) => Error::GatewayDied {
                gateway,
                reason: reason.clone(),
            },
            Ended::BadData(error) => Error::DataFormat {
                gateway,
                channel: self.id(),
                error: error.clone(),
            },
        }
    }

    /// Closes the channel from this side: CHANNEL_CLOSE, or CHANNEL_CLOSE_ERROR
    /// carrying `error` (which the other side's receive raises as RemoteError).
    /// Closing twice does nothing.
    pub async fn close(&self, error: Option<&str>) -> Result<()> {
        {
            let mut st = lock(&self.shared().state);
            if st.closed_here {
                return Ok(());
            }
            st.closed_here = true;
        }
        let how = error.map_or(CloseHow::Closed, |e| CloseHow::Error(e.to_owned()));
        self.handle.gw.note_closed(self.id(), Side::Local, how);
        let result = match error {
            None => {
                self.handle
                    .gw
                    .send_message(MsgCode::ChannelClose, self.id(), None)
                    .await
            }
            Some(text) => {
                self.handle
                    .gw
                    .send_message(
                        MsgCode::ChannelCloseError,
                        self.id(),
                        Some(&Value::str(text)),
                    )
                    .await
            }
        };
        // Our side is done: nothing is received after we close (execnet does the same).
        self.shared().end(Ended::Closed, false);
        result
    }

    /// Whether this channel can receive nothing more.
    pub fn is_closed(&self) -> bool {
        self.shared().is_ended()
    }

    /// Passes every item to `callback` from now on, on the gateway's reader
    /// task: first the items already queued, in order, then new ones as they
    /// arrive. When the channel ends, `endmarker` (if any) is passed once.
    ///
    /// The callback must not block. If it panics, the channel is closed with
    /// CHANNEL_CLOSE_ERROR so the remote side's receive raises.
    pub fn set_callback<F>(&self, callback: F, endmarker: Option<Value>)
    where
        F: FnMut(Value) + Send + 'static,
    {
        let mut cb: Callback = Box::new(callback);
        let mut failure = None;
        // Hand over queued items outside the lock; items that arrive meanwhile
        // are queued by the reader and picked up by the next round.
        loop {
            let mut st = lock(&self.shared().state);
            if st.items.is_empty() || failure.is_some() {
                self.shared().reinstall(st, cb, endmarker);
                break;
            }
            let queued: Vec<Value> = st.items.drain(..).collect();
            st.in_callback = true;
            drop(st);
            for item in queued {
                if let Err(p) = std::panic::catch_unwind(AssertUnwindSafe(|| cb(item))) {
                    failure = Some(panic_text(p));
                    break;
                }
            }
        }
        if let Some(text) = failure {
            self.handle.gw.callback_failed(&self.handle.shared, text);
        }
    }

    /// The items as a [`futures_core::Stream`]: each `Ok(item)` until the
    /// channel closes normally (then the stream ends), or one `Err` with the
    /// remote error / gateway loss, then the end.
    pub fn into_stream(self) -> ItemStream {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // Stop (and let the gateway go) as soon as the stream is dropped.
                let item = tokio::select! {
                    item = self.receive(None) => item,
                    _ = tx.closed() => break,
                };
                match item {
                    Ok(item) => {
                        if tx.send(Ok(item)).await.is_err() {
                            break;
                        }
                    }
                    Err(Error::Eof { .. }) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        break;
                    }
                }
            }
        });
        ItemStream { rx }
    }
}

/// A stream of a channel's items (see [`Channel::into_stream`]).
pub struct ItemStream {
    rx: mpsc::Receiver<Result<Value>>,
}

impl ItemStream {
    /// The next item, or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Value>> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for ItemStream {
    type Item = Result<Value>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
