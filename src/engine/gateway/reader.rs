//! The reader task: the only reader of a gateway's connection. It reads
//! frames, dispatches each message (items to channels, closes, STATUS
//! answers) and, when the connection ends, wakes every waiter with the reason.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::death::describe_death;
use super::{GatewayInner, lock};
use crate::engine::channel::{ChannelShared, Ended};
use crate::engine::events::{ChannelOrigin, CloseHow, Direction, EventKind, Payload, Side};
use crate::engine::frames::{Body, Frame, FrameReader};
use crate::transport::{BoxedReader, WorkerHandle};
use crate::wire::serial::load_unversioned;
use crate::wire::{DataFormatError, LoadOptions, MsgCode, Value};

pub(super) async fn reader_task(
    gw: std::sync::Weak<GatewayInner>,
    worker: WorkerHandle,
    reader: BoxedReader,
    max_payload: usize,
) {
    let mut frames = FrameReader::new(reader, max_payload);
    // Noticing the process's death even if its stdout stays open (a child of
    // the worker may hold it): give the pipe a moment to drain, then stop.
    // (A remote worker's end is the end of the connection: never here.)
    let process_gone = async move {
        worker.ended().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    tokio::pin!(process_gone);
    let outcome: std::result::Result<(), String> = loop {
        let msg = tokio::select! {
            biased;
            msg = frames.next() => msg,
            _ = &mut process_gone => break Ok(()),
        };
        let Some(inner) = gw.upgrade() else { return };
        match msg {
            Ok(Some(Frame {
                code,
                channel,
                body,
            })) => {
                if inner.events.is_traced() {
                    inner.events.send(
                        &inner.event_id,
                        EventKind::Message {
                            dir: Direction::In,
                            code,
                            channel,
                            payload: Payload::new(&body.encoded()),
                        },
                    );
                }
                if let Err(e) = dispatch(&inner, code, channel, body) {
                    break Err(e);
                }
                if code == MsgCode::GatewayTerminate {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let Some(inner) = gw.upgrade() else { return };
    finish_reader(&inner, outcome).await;
    inner.finished.send_replace(true);
}

/// Ends the gateway after its reader stopped: wakes every waiter with the
/// reason and publishes the exit event.
async fn finish_reader(inner: &GatewayInner, outcome: std::result::Result<(), String>) {
    let (reason, clean) = match outcome {
        Ok(()) if inner.exiting.load(Ordering::SeqCst) => {
            ("the gateway was exited".to_string(), true)
        }
        Ok(()) => (
            describe_death(inner, "the worker closed the connection").await,
            false,
        ),
        Err(e) => {
            // The stream can no longer be trusted: stop the worker.
            inner.worker.stop();
            (describe_death(inner, &e).await, false)
        }
    };
    inner.die(reason.clone());
    if inner.events.is_observed() {
        // After a clean exit the process usually ends a moment later.
        let status = match clean {
            true => inner.worker.wait(Duration::from_secs(2)).await,
            false => inner.worker.exit_info(),
        };
        inner.events.send(
            &inner.event_id,
            EventKind::GatewayExited {
                status: status.map(|s| s.to_string()),
                reason,
            },
        );
    }
}

/// Handles one message from the worker. An error ends the gateway.
fn dispatch(
    inner: &GatewayInner,
    code: MsgCode,
    channel: i32,
    body: Body,
) -> std::result::Result<(), String> {
    let payload = match body {
        Body::Encoded(payload) => payload,
        Body::Bytes(data) => {
            deliver(inner, channel, Ok(Value::Bytes(data)));
            return Ok(());
        }
    };
    let load = |shared: Option<&ChannelShared>, payload: &[u8]| {
        let opts = shared
            .and_then(ChannelShared::load_options)
            .unwrap_or_else(|| *lock(&inner.opts));
        load_unversioned(payload, opts)
    };
    match code {
        MsgCode::ChannelData => {
            let shared = inner.shared(channel, ChannelOrigin::Remote);
            let item = load(Some(&shared), &payload);
            deliver_to(inner, &shared, item);
        }
        MsgCode::ChannelClose | MsgCode::ChannelCloseError | MsgCode::ChannelLastMessage => {
            // A close for a channel this side already forgot needs nothing.
            let Some(shared) = lock(&inner.channels).get(&channel).cloned() else {
                return Ok(());
            };
            let ended = match code {
                MsgCode::ChannelCloseError => match load(Some(&shared), &payload) {
                    Ok(Value::Str(text)) => Ended::RemoteError(text),
                    Ok(other) => Ended::RemoteError(format!("{other:?}")),
                    Err(e) => Ended::BadData(e),
                },
                _ => Ended::Closed,
            };
            let peer_closed = code != MsgCode::ChannelLastMessage;
            inner.note_closed(
                channel,
                Side::Remote,
                match (&ended, code) {
                    (_, MsgCode::ChannelLastMessage) => CloseHow::SendOnly,
                    (Ended::RemoteError(text), _) => CloseHow::Error(text.clone()),
                    (Ended::BadData(e), _) => CloseHow::Error(e.to_string()),
                    _ => CloseHow::Closed,
                },
            );
            shared.end(ended, peer_closed);
            // Forget it only if a handle was given out and is gone; otherwise a
            // channel that arrived inside a value would lose its queued items.
            let has_handle = lock_weak(&shared).strong_count() > 0;
            let handed_out = shared.handed_out.load(Ordering::SeqCst);
            if peer_closed && handed_out && !has_handle {
                inner.forget_channel(channel);
            }
        }
        MsgCode::Reconfigure => {
            let flags =
                load(None, &payload).map_err(|e| format!("bad RECONFIGURE message: {e}"))?;
            if let Value::Tuple(f) = &flags
                && let [Value::Bool(a), Value::Bool(b)] = f.as_slice()
            {
                let opts = LoadOptions {
                    py2str_as_py3str: *a,
                    py3str_as_py2str: *b,
                };
                if channel == 0 {
                    *lock(&inner.opts) = opts;
                } else {
                    inner
                        .shared(channel, ChannelOrigin::Remote)
                        .set_load_options(opts);
                }
            }
        }
        MsgCode::Status => {
            let status = Value::Dict(vec![
                (
                    Value::str("numchannels"),
                    Value::Int(lock(&inner.channels).len() as i64),
                ),
                (Value::str("numexecuting"), Value::Int(0)),
                (Value::str("execmodel"), Value::str("execdeck-master")),
            ]);
            inner.send_control(MsgCode::ChannelData, channel, Some(&status));
            inner.send_control(MsgCode::ChannelClose, channel, None);
        }
        MsgCode::ChannelExec => {
            let text = "execdeck's master does not run code sent by a worker";
            inner.send_control(MsgCode::ChannelCloseError, channel, Some(&Value::str(text)));
        }
        MsgCode::GatewayTerminate => {}
    }
    Ok(())
}

/// Hands a decoded CHANNEL_DATA item to channel `channel`.
fn deliver(inner: &GatewayInner, channel: i32, item: std::result::Result<Value, DataFormatError>) {
    let shared = inner.shared(channel, ChannelOrigin::Remote);
    deliver_to(inner, &shared, item);
}

fn deliver_to(
    inner: &GatewayInner,
    shared: &ChannelShared,
    item: std::result::Result<Value, DataFormatError>,
) {
    match item {
        Ok(item) => {
            item.for_each_channel(&mut |id| {
                inner.shared(id, ChannelOrigin::Remote);
            });
            if let Some(text) = shared.deliver(item) {
                inner.callback_failed(shared, text);
            }
        }
        Err(e) => {
            shared.end(Ended::BadData(e), false);
        }
    }
}

fn lock_weak(shared: &ChannelShared) -> std::sync::Weak<crate::engine::channel::ChannelHandle> {
    lock(&shared.handle).clone()
}
