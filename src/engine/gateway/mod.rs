//! A gateway: one connection to one worker interpreter.
//!
//! Each gateway has a reader task (the only reader of the connection: it
//! decodes messages and hands items to channels) and a writer task (the only
//! writer: it batches outgoing frames). Handles talk to them through shared
//! state and a queue; nothing else touches the pipe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use super::channel::{Channel, ChannelShared, Ended};
use super::error::{Error, Result};
use super::events::{ChannelOrigin, CloseHow, Direction, EventKind, EventSender, Payload, Side};
use super::outbox::{Outbox, Refused};
use crate::spec::XSpec;
use crate::transport::{Connection, ExitInfo, WorkerHandle};
use crate::wire::message::{HEADER_LEN, check_payload_len, encode_header, parse_header};
use crate::wire::serial::dump_into;
use crate::wire::{LoadOptions, MsgCode, Value};

mod death;
mod reader;
mod types;

use reader::reader_task;
pub use types::{ExecSource, RInfo, RemoteStatus};

/// Source of the helper that the rinfo call runs remotely.
const RINFO_SOURCE: &str = include_str!("../../../bootstrap/rinfo.py");

/// State shared by the handles and the reader task.
pub(crate) struct GatewayInner {
    pub(crate) id: String,
    /// The id as events carry it.
    pub(crate) event_id: Arc<str>,
    pub(crate) spec: XSpec,
    channels: Mutex<HashMap<i32, Arc<ChannelShared>>>,
    next_id: AtomicI32,
    opts: Mutex<LoadOptions>,
    /// Why the connection ended, once it has.
    dead: watch::Sender<Option<String>>,
    /// Set when the reader task has finished, its exit event published.
    finished: watch::Sender<bool>,
    exiting: AtomicBool,
    outbox: Arc<Outbox>,
    worker: WorkerHandle,
    warnings: Vec<String>,
    events: EventSender,
}

impl Drop for GatewayInner {
    /// The last handle is gone: close the write side once the queued frames
    /// are out, so the worker sees the end of its input and exits.
    fn drop(&mut self) {
        self.outbox.shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GatewayInner {
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.borrow().is_some()
    }

    fn death_error(&self) -> Error {
        Error::GatewayDied {
            gateway: self.id.clone(),
            reason: self
                .dead
                .borrow()
                .clone()
                .unwrap_or_else(|| "its connection is closed".into()),
        }
    }

    /// The state of channel `id`, made (and announced) when it is new.
    fn shared(&self, id: i32, origin: ChannelOrigin) -> Arc<ChannelShared> {
        let mut created = false;
        let shared = lock(&self.channels)
            .entry(id)
            .or_insert_with(|| {
                created = true;
                Arc::new(ChannelShared::new(id))
            })
            .clone();
        if created {
            self.events.send(
                &self.event_id,
                EventKind::ChannelOpened {
                    channel: id,
                    origin,
                },
            );
        }
        // A channel made after the connection ended can never receive anything.
        if let Some(reason) = self.dead.borrow().clone() {
            shared.end(Ended::GatewayDied(reason), true);
        }
        shared
    }

    /// Publishes that channel `channel` was closed.
    pub(crate) fn note_closed(&self, channel: i32, by: Side, how: CloseHow) {
        self.events
            .send_with(&self.event_id, || EventKind::ChannelClosed {
                channel,
                by,
                how,
            });
    }

    /// Publishes a message event for an encoded frame.
    fn note_frame(&self, dir: Direction, frame: &[u8]) {
        if !self.events.is_traced() {
            return;
        }
        if let Some(header) = frame.first_chunk::<HEADER_LEN>()
            && let Ok(h) = parse_header(header, usize::MAX)
        {
            self.events.send(
                &self.event_id,
                EventKind::Message {
                    dir,
                    code: h.code,
                    channel: h.channel,
                    payload: Payload::new(&frame[HEADER_LEN..]),
                },
            );
        }
    }

    pub(crate) fn forget_channel(&self, id: i32) {
        lock(&self.channels).remove(&id);
    }

    fn new_channel_id(&self) -> i32 {
        self.next_id.fetch_add(2, Ordering::Relaxed)
    }

    /// Sends one item on `channel`.
    pub(crate) async fn send_item(&self, channel: i32, item: &Value) -> Result<()> {
        self.send_message(MsgCode::ChannelData, channel, Some(item))
            .await
    }

    /// Sends a message whose payload is `payload` serialized (empty for `None`).
    pub(crate) async fn send_message(
        &self,
        code: MsgCode,
        channel: i32,
        payload: Option<&Value>,
    ) -> Result<()> {
        self.send_frame(frame(code, channel, payload)?).await
    }

    async fn send_frame(&self, frame: Vec<u8>) -> Result<()> {
        if self.is_dead() {
            return Err(self.death_error());
        }
        if self.exiting.load(Ordering::SeqCst) {
            return Err(self.refused_error(Refused::Closed));
        }
        self.note_frame(Direction::Out, &frame);
        self.outbox
            .send(frame)
            .await
            .map_err(|r| self.refused_error(r))
    }

    /// The error for a frame the outbox did not take.
    fn refused_error(&self, refused: Refused) -> Error {
        match refused {
            _ if self.is_dead() => self.death_error(),
            Refused::Closed => Error::GatewayDied {
                gateway: self.id.clone(),
                reason: "the gateway was exited".into(),
            },
            Refused::Failed(e) => Error::GatewayDied {
                gateway: self.id.clone(),
                reason: format!("writing to the worker failed: {e}"),
            },
        }
    }

    /// Queues a small message without waiting (used from `Drop` and the
    /// reader). A payload that cannot be serialized is sent empty.
    pub(crate) fn send_control(&self, code: MsgCode, channel: i32, payload: Option<&Value>) {
        let frame = frame(code, channel, payload)
            .unwrap_or_else(|_| frame(code, channel, None).unwrap_or_default());
        self.note_frame(Direction::Out, &frame);
        let _ = self.outbox.push(frame);
    }

    /// A master-side callback panicked: close the channel with the text so the
    /// remote side's receive raises.
    pub(crate) fn callback_failed(&self, shared: &ChannelShared, text: String) {
        self.send_control(
            MsgCode::ChannelCloseError,
            shared.id,
            Some(&Value::str(text.clone())),
        );
        self.note_closed(shared.id, Side::Local, CloseHow::Error(text.clone()));
        shared.end(Ended::RemoteError(text), false);
    }

    fn die(&self, reason: String) {
        // Mark dead first: channels made from now on end at once (see `shared`).
        self.dead.send_if_modified(|dead| {
            if dead.is_none() {
                *dead = Some(reason.clone());
                true
            } else {
                false
            }
        });
        let channels: Vec<Arc<ChannelShared>> = lock(&self.channels).values().cloned().collect();
        for ch in channels {
            if ch.end(Ended::GatewayDied(reason.clone()), true) {
                self.note_closed(ch.id, Side::Remote, CloseHow::GatewayDied(reason.clone()));
            }
        }
    }
}

/// The one place frames are built: the header, then `payload` serialized
/// straight after it (no copy of bulk data), or nothing for `None`.
fn frame(code: MsgCode, channel: i32, payload: Option<&Value>) -> Result<Vec<u8>> {
    // Room for a lone bytes or str value (opcode, length, data, STOP) up
    // front: growing the vector on the final STOP would copy bulk data again.
    let hint = match payload {
        None => 0,
        Some(Value::Bytes(b)) => b.len() + 6,
        Some(Value::Str(s)) => s.len() + 6,
        Some(_) => 64,
    };
    let mut frame = Vec::with_capacity(HEADER_LEN + hint);
    frame.resize(HEADER_LEN, 0);
    if let Some(value) = payload {
        dump_into(value, &mut frame)?;
    }
    let len = frame.len() - HEADER_LEN;
    check_payload_len(len)?;
    frame[..HEADER_LEN].copy_from_slice(&encode_header(code, channel, len));
    Ok(frame)
}

/// A connection to one worker interpreter. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<GatewayInner>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Gateway id={} spec={}>", self.inner.id, self.inner.spec)
    }
}

impl Gateway {
    /// Starts the reader and writer tasks over an established connection.
    pub(crate) fn start(
        id: String,
        spec: XSpec,
        conn: Connection,
        events: EventSender,
        max_payload: usize,
    ) -> Gateway {
        let outbox = Arc::new(Outbox::new(conn.writer));
        let (dead, _) = watch::channel(None);
        let inner = Arc::new(GatewayInner {
            event_id: Arc::from(id.as_str()),
            id,
            spec,
            channels: Mutex::new(HashMap::new()),
            next_id: AtomicI32::new(1),
            opts: Mutex::new(LoadOptions::default()),
            dead,
            finished: watch::channel(false).0,
            exiting: AtomicBool::new(false),
            outbox: outbox.clone(),
            worker: conn.worker,
            warnings: conn.warnings,
            events,
        });
        tokio::spawn(async move { outbox.run_writer().await });
        tokio::spawn(reader_task(
            Arc::downgrade(&inner),
            inner.worker.clone(),
            conn.reader,
            max_payload,
        ));
        Gateway { inner }
    }

    /// The gateway id (`gw0`, …, or the spec's `id=`).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The spec the gateway was made from.
    pub fn spec(&self) -> &XSpec {
        &self.inner.spec
    }

    /// The process id of the worker: always known for a local process
    /// (popen, or the launcher of `cmd=`); for a remote worker only when its
    /// transport told it.
    pub fn pid(&self) -> Option<u32> {
        self.inner.worker.pid()
    }

    /// The address of a remote worker (`host:port` of a socket gateway);
    /// `None` for a local process.
    pub fn address(&self) -> Option<&str> {
        self.inner.worker.address()
    }

    /// The engine's handle on the worker (local process or remote peer).
    pub fn worker(&self) -> &WorkerHandle {
        &self.inner.worker
    }

    /// Warnings from the start (e.g. output printed before the worker ran).
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// The last `n` lines the worker wrote on stderr.
    pub fn stderr_tail(&self, n: usize) -> Vec<String> {
        self.inner.worker.stderr_tail(n)
    }

    /// Publishes an event of this gateway, built only when someone listens.
    pub(crate) fn publish(&self, make: impl FnOnce() -> EventKind) {
        self.inner.events.send_with(&self.inner.event_id, make);
    }

    /// Subscribes to this gateway's events (messages included), from now on.
    pub fn subscribe(&self) -> super::events::Subscription {
        self.inner.events.subscribe().only_gateway(&self.inner.id)
    }

    /// How many channels this side still tracks (open, or closed with items
    /// or handles left).
    pub fn channel_count(&self) -> usize {
        lock(&self.inner.channels).len()
    }

    /// Whether the connection is up.
    pub fn is_alive(&self) -> bool {
        !self.inner.is_dead()
    }

    /// Why the connection ended, if it has.
    pub fn death_reason(&self) -> Option<String> {
        self.inner.dead.borrow().clone()
    }

    /// How the local process ended, if there is one and it has.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.inner.worker.exit_info()
    }

    /// Runs code in the worker on a new channel and returns that channel.
    ///
    /// The code sees the channel as the global `channel` and `__name__` is
    /// `"__channelexec__"`. When it raises, receives on the channel fail with
    /// [`Error::Remote`] carrying the traceback.
    pub async fn remote_exec(&self, source: impl Into<ExecSource>) -> Result<Channel> {
        let source = source.into();
        let payload = source.to_value();
        let channel = self.open_channel(ChannelOrigin::Exec);
        self.inner
            .send_message(MsgCode::ChannelExec, channel.id(), Some(&payload))
            .await?;
        Ok(channel)
    }

    /// A new channel, for example to send inside a value.
    pub fn newchannel(&self) -> Channel {
        self.open_channel(ChannelOrigin::Local)
    }

    fn open_channel(&self, origin: ChannelOrigin) -> Channel {
        let shared = self.inner.shared(self.inner.new_channel_id(), origin);
        Channel::for_shared(&self.inner, shared)
    }

    /// The handle of a channel that arrived inside a received value.
    pub fn channel(&self, id: i32) -> Channel {
        Channel::for_shared(&self.inner, self.inner.shared(id, ChannelOrigin::Remote))
    }

    /// Channels in a received value, resolved to handles (depth first).
    pub fn channels_in(&self, v: &Value) -> Vec<Channel> {
        let mut out = Vec::new();
        v.for_each_channel(&mut |id| out.push(self.channel(id)));
        out
    }

    /// Asks the worker for its channel and execution counts (STATUS message).
    pub async fn remote_status(&self, timeout: Option<Duration>) -> Result<RemoteStatus> {
        let channel = self.newchannel();
        self.inner
            .send_message(MsgCode::Status, channel.id(), None)
            .await?;
        let reply = channel.receive(timeout).await?;
        // The CLOSE follows at once; waiting for it keeps events in order.
        channel.wait_close(timeout).await?;
        let int = |key: &str| reply.get(key).and_then(Value::as_i64);
        match (
            int("numchannels"),
            int("numexecuting"),
            reply.get("execmodel"),
        ) {
            (Some(numchannels), Some(numexecuting), Some(Value::Str(execmodel))) => {
                self.inner.events.send(
                    &self.inner.event_id,
                    EventKind::Status {
                        numchannels,
                        numexecuting,
                        execmodel: execmodel.clone(),
                    },
                );
                Ok(RemoteStatus {
                    numchannels,
                    numexecuting,
                    execmodel: execmodel.clone(),
                })
            }
            _ => Err(Error::Protocol {
                gateway: self.id().to_owned(),
                message: format!("unexpected status reply {reply:?}"),
            }),
        }
    }

    /// Facts about the remote interpreter (executable, version, platform, cwd, pid).
    pub async fn rinfo(&self, timeout: Option<Duration>) -> Result<RInfo> {
        let ch = self
            .remote_exec(ExecSource::code(RINFO_SOURCE).call("rinfo"))
            .await?;
        let info = ch.receive(timeout).await?;
        ch.wait_close(timeout).await?;
        let text = |key: &str| info.get(key).and_then(Value::as_str).map(str::to_owned);
        let bad = || Error::Protocol {
            gateway: self.id().to_owned(),
            message: format!("unexpected rinfo reply {info:?}"),
        };
        let version_info = info.get("version_info").cloned().ok_or_else(bad)?;
        let version = match &version_info {
            Value::Tuple(parts) => parts
                .iter()
                .take(3)
                .filter_map(Value::as_i64)
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join("."),
            _ => return Err(bad()),
        };
        Ok(RInfo {
            executable: text("executable").ok_or_else(bad)?,
            version_info,
            version,
            platform: text("platform").ok_or_else(bad)?,
            cwd: text("cwd").ok_or_else(bad)?,
            pid: info.get("pid").and_then(Value::as_i64).ok_or_else(bad)?,
        })
    }

    /// Sets the string coercion of the whole gateway (both sides): whether
    /// Python 2 `str` loads as text and Python 3 `str` as bytes.
    pub async fn reconfigure(&self, py2str_as_py3str: bool, py3str_as_py2str: bool) -> Result<()> {
        *lock(&self.inner.opts) = LoadOptions {
            py2str_as_py3str,
            py3str_as_py2str,
        };
        let payload = Value::Tuple(vec![
            Value::Bool(py2str_as_py3str),
            Value::Bool(py3str_as_py2str),
        ]);
        self.inner
            .send_message(MsgCode::Reconfigure, 0, Some(&payload))
            .await
    }

    /// Asks the worker to shut down (GATEWAY_TERMINATE) and closes the write side.
    /// Returns at once; see [`Gateway::wait_exit`] and `Group::terminate`.
    pub fn exit(&self) {
        if self.inner.exiting.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inner.send_control(MsgCode::GatewayTerminate, 0, None);
        self.inner.outbox.shutdown();
    }

    /// Waits up to `timeout` for the connection to end and the local
    /// process, if there is one, to exit.
    pub async fn wait_exit(&self, timeout: Duration) -> bool {
        let Some(deadline) = tokio::time::Instant::now().checked_add(timeout) else {
            return false;
        };
        let mut finished = self.inner.finished.subscribe();
        if tokio::time::timeout_at(deadline, finished.wait_for(|done| *done))
            .await
            .is_err()
        {
            return false;
        }
        let reports_exit = match &self.inner.worker {
            WorkerHandle::Process(_) => true,
            WorkerHandle::Remote(r) => r.process().is_some(),
        };
        if !reports_exit {
            return true;
        }
        self.inner
            .worker
            .wait(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
            .is_some()
    }

    /// Stops the worker at once: SIGKILL to a local process, shutting the
    /// connection down for a remote one.
    pub fn kill(&self) {
        self.inner.worker.stop();
    }

    /// Waits until every stderr line of the worker has been delivered, at most `timeout`.
    pub async fn wait_stderr_closed(&self, timeout: Duration) {
        self.inner.worker.wait_stderr_closed(timeout).await;
    }
}
