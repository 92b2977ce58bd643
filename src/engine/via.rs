//! Gateways started through another gateway of the group (spec key
//! `via=GWID`).
//!
//! The via gateway runs `bootstrap/proxy.py` with `remote_exec`: it starts
//! `python -u -c <boot line>` (the spec's `python=`, else its own
//! interpreter) and forwards the sub-process's stdin and stdout as items of
//! the exec channel, its stderr lines as `("err", line)` and its exit as
//! `("exit", returncode)`. On this side two tasks pump between that channel
//! and one end of an in-memory duplex stream; the other end is booted with
//! [`boot_stream`] exactly as a popen pipe is, and becomes the proxied
//! gateway's connection. Its worker handle is a
//! [`WorkerHandle::Remote`] with the pid, the stderr and the exit status the
//! proxy reports ([`RemoteProcess`]); stopping it asks the proxy to kill the
//! sub-process and ends the stream at once.
//!
//! This lives in the engine, not in `transport`, because it needs a
//! [`Gateway`] and its channels; what it yields is a plain [`Connection`].

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::channel::Channel;
use super::error::Error;
use super::gateway::{ExecSource, Gateway};
use crate::spec::{ExecModel, XSpec};
use crate::transport::bootstrap::{BOOT_LINE, BootStream, Handshake, SOCKETSERVER_SOURCE};
use crate::transport::handshake::{BootOutcome, boot_stream};
use crate::transport::popen::{DEFAULT_STARTUP_TIMEOUT, LaunchOptions};
use crate::transport::{
    BoxedReader, ConnectError, Connection, RemoteHandle, RemoteProcess, WorkerHandle,
};
use crate::wire::Value;

/// Source of the proxy the via gateway runs (`bootstrap/proxy.py`).
pub const PROXY_SOURCE: &str = include_str!("../../bootstrap/proxy.py");

/// What a proxied gateway's [`RemoteHandle`] calls its worker.
pub const PROXIED_KIND: &str = "proxied worker";

/// Bytes buffered in each direction of the in-memory stream.
const STREAM_BUFFER: usize = 256 * 1024;

/// Largest chunk sent to the proxy as one item.
const CHUNK: usize = 256 * 1024;

/// How long a stopped proxied worker has to report its exit status.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The route to a proxied worker as shown to people, from this side out:
/// `via gw0` for a gateway started through gw0, `via gw0 ← gw1` for one
/// started through gw1, itself started through gw0.
pub fn route(via: &Gateway) -> String {
    match via.worker() {
        WorkerHandle::Remote(r) if r.kind() == PROXIED_KIND => {
            format!("{} ← {}", r.address(), via.id())
        }
        _ => format!("via {}", via.id()),
    }
}

/// Starts gateway `id` of `spec` through the gateway `via` and boots
/// execdeck's worker (or `opts.boot`) in it.
///
/// The proxy occupies one execution of the via gateway for the proxied
/// gateway's life (with `execmodel=main_thread_only` its only one). The
/// whole start is bounded by the startup timeout of `opts`. Fails with
/// [`ConnectError::Via`] when the via gateway is dead, has the gevent or
/// eventlet execution model, cannot run the proxy or the
/// proxy cannot start the interpreter, and with
/// [`ConnectError::DiedDuringStartup`], [`ConnectError::BadHandshake`] or
/// [`ConnectError::StartupTimeout`] (quoting the sub-process's stderr) after.
pub async fn connect(
    via: &Gateway,
    spec: &XSpec,
    id: &str,
    opts: &LaunchOptions,
) -> Result<Connection, ConnectError> {
    let timeout = opts.startup_timeout.unwrap_or(DEFAULT_STARTUP_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let fail = |message: String| ConnectError::Via {
        spec: spec.to_string(),
        key: "via",
        via: via.id().to_owned(),
        message,
    };
    can_carry(via).map_err(fail)?;
    let mut flags = vec![Value::str("-u")];
    if spec.dont_write_bytecode() {
        flags.push(Value::str("-B"));
    }
    let env = Value::List(
        spec.env()
            .iter()
            .map(|(k, v)| Value::Tuple(vec![Value::str(k.clone()), Value::str(v.clone())]))
            .collect(),
    );
    let source = ExecSource::code(PROXY_SOURCE)
        .call("serve")
        .kwarg("boot_line", BOOT_LINE)
        .kwarg("python", spec.python())
        .kwarg("flags", Value::List(flags))
        .kwarg("env", env);
    let channel = via
        .remote_exec(source)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let first = channel
        .receive(Some(deadline.saturating_duration_since(Instant::now())))
        .await;
    let pid = match first {
        Ok(Value::Tuple(t)) => match t.as_slice() {
            [Value::Str(tag), Value::Int(pid)] if tag == "pid" => u32::try_from(*pid).ok(),
            [Value::Str(tag), Value::Str(text)] if tag == "error" => {
                return Err(fail(text.clone()));
            }
            _ => None,
        },
        Ok(_) => None,
        Err(Error::Remote(e)) => return Err(fail(format!("the proxy failed: {}", e.summary()))),
        Err(Error::Timeout { .. }) => {
            return Err(fail(format!(
                "the proxy did not start the interpreter within {}s",
                timeout.as_secs_f64()
            )));
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    let Some(pid) = pid else {
        return Err(fail("unexpected first reply from the proxy".into()));
    };
    opts.step(&format!("started through {}: pid {pid}", via.id()));

    let process = RemoteProcess::new(opts.stderr_sink.clone());
    let (ours, theirs) = tokio::io::duplex(STREAM_BUFFER);
    let (their_read, their_write) = tokio::io::split(theirs);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(to_proxy(channel.clone(), their_read, stop_rx.clone()));
    tokio::spawn(from_proxy(
        channel,
        their_write,
        process.clone(),
        via.id().to_owned(),
        stop_rx,
    ));
    let stop_tx = Arc::new(stop_tx);
    let stop = {
        let stop_tx = stop_tx.clone();
        Arc::new(move || {
            stop_tx.send_replace(true);
        })
    };

    let (our_read, mut our_write) = tokio::io::split(ours);
    let mut reader = BufReader::with_capacity(8 * 1024, our_read);
    let boot = opts.remote_boot(spec, id, BootStream::Stdio);
    let plan = boot.plan(deadline.saturating_duration_since(Instant::now()));
    let outcome = boot_stream(&mut reader, &mut our_write, &plan).await;
    let failed = |printed: &[u8]| {
        stop_tx.send_replace(true);
        String::from_utf8_lossy(printed).into_owned()
    };
    match outcome {
        BootOutcome::Read(Handshake::Ready { banner }) => {
            opts.step("handshake done");
            let mut warnings = Vec::new();
            if !banner.is_empty() {
                warnings.push(format!(
                    "{spec}: the interpreter printed on stdout before the worker started (ignored): {:?}",
                    String::from_utf8_lossy(&banner)
                ));
            }
            let reader: BoxedReader = if reader.buffer().is_empty() {
                Box::new(reader.into_inner())
            } else {
                Box::new(reader)
            };
            let handle = RemoteHandle::new(PROXIED_KIND, route(via), stop)
                .with_pid(pid)
                .with_process(process);
            Ok(Connection {
                reader,
                writer: Box::new(our_write),
                worker: WorkerHandle::Remote(handle),
                warnings,
            })
        }
        BootOutcome::Read(Handshake::Eof { seen }) => {
            let stdout = failed(&seen);
            let status = process.wait(Duration::from_secs(2)).await;
            process.wait_stderr_closed(Duration::from_secs(1)).await;
            Err(ConnectError::DiedDuringStartup {
                spec: spec.to_string(),
                status: status.map_or_else(|| "still running".into(), |s| s.to_string()),
                stdout,
                stderr: process.stderr_tail(20).join("\n"),
            })
        }
        BootOutcome::Read(
            Handshake::Unexpected { seen } | Handshake::SourceRequested { banner: seen },
        ) => {
            let stdout = failed(&seen);
            process.wait_stderr_closed(Duration::from_secs(1)).await;
            Err(ConnectError::BadHandshake {
                spec: spec.to_string(),
                stdout,
                stderr: process.stderr_tail(20).join("\n"),
            })
        }
        BootOutcome::TimedOut { printed } => {
            let stdout = failed(&printed);
            process.wait_stderr_closed(Duration::from_secs(1)).await;
            Err(ConnectError::StartupTimeout {
                spec: spec.to_string(),
                secs: timeout.as_secs_f64(),
                stdout,
                stderr: process.stderr_tail(20).join("\n"),
            })
        }
    }
}

/// `Err` saying why `via` cannot run the proxy: it is dead, or it runs
/// code in greenlets (`proxy.py` blocks in OS reads, which would stall its
/// event loop).
fn can_carry(via: &Gateway) -> Result<(), String> {
    if !via.is_alive() {
        return Err(format!(
            "that gateway is dead: {}",
            via.death_reason().unwrap_or_default()
        ));
    }
    match via.spec().execmodel() {
        Some(model @ (ExecModel::Gevent | ExecModel::Eventlet)) => Err(format!(
            "its execmodel={} cannot run the proxy, which needs OS threads \
             (start gateways that others go through with the thread execmodel)",
            model.as_str()
        )),
        _ => Ok(()),
    }
}

/// Completes when `stop` turns true; never when its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What the gateway writes to its worker goes to the proxy as `bytes`
/// items; the end of it as `None`; a stop as `"kill"`.
async fn to_proxy(
    channel: Channel,
    mut from_gateway: ReadHalf<DuplexStream>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        tokio::select! {
            read = from_gateway.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    if channel.send(Value::None).await.is_err() {
                        return;
                    }
                    break;
                }
                Ok(n) => {
                    if channel.send(Value::Bytes(buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            },
            _ = stopped(&mut stop) => {
                let _ = channel.send(Value::str("kill")).await;
                return;
            }
        }
    }
    // The gateway closed its side; a stop may still come until the proxy
    // is done (or the handle is gone).
    tokio::select! {
        asked = async { stop.wait_for(|s| *s).await.is_ok() } => {
            if asked {
                let _ = channel.send(Value::str("kill")).await;
            }
        }
        _ = channel.wait_close(None) => {}
    }
}

/// Items from the proxy: stdout bytes go to the gateway's side of the
/// stream, stderr lines and the exit status to `process`. When the channel
/// ends (or the worker is stopped), the stream ends, so that the gateway's
/// reader sees the worker go.
async fn from_proxy(
    channel: Channel,
    to_gateway: WriteHalf<DuplexStream>,
    process: Arc<RemoteProcess>,
    via: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut writer = Some(to_gateway);
    // Set once stopped: how long to wait for the exit status still.
    let mut until: Option<Instant> = None;
    loop {
        let received = match until {
            None => tokio::select! {
                r = channel.receive(None) => Some(r),
                _ = stopped(&mut stop) => None,
            },
            Some(deadline) => {
                match tokio::time::timeout_at(deadline, channel.receive(None)).await {
                    Ok(r) => Some(r),
                    Err(_) => break,
                }
            }
        };
        let Some(received) = received else {
            // Stopped from this side: end the stream now, keep listening a
            // moment for the exit status and the last stderr lines.
            process.set_note("stopped from this side".into());
            if let Some(mut w) = writer.take() {
                let _ = w.shutdown().await;
            }
            until = Some(Instant::now() + STOP_GRACE);
            continue;
        };
        match received {
            Ok(Value::Bytes(data)) => {
                if let Some(w) = writer.as_mut()
                    && w.write_all(&data).await.is_err()
                {
                    writer = None;
                }
            }
            Ok(Value::Tuple(t)) => match t.as_slice() {
                [Value::Str(tag), Value::Bytes(line)] if tag == "err" => process.stderr_line(line),
                [Value::Str(tag), Value::Int(rc)] if tag == "exit" => process.exited(*rc),
                _ => {}
            },
            Ok(_) => {}
            Err(Error::GatewayDied { reason, .. }) => {
                process.set_note(format!(
                    "gateway {via}, which it went through, ended: {reason}"
                ));
                break;
            }
            Err(Error::Remote(e)) => {
                process.set_note(format!(
                    "the proxy on gateway {via} failed: {}",
                    e.summary()
                ));
                break;
            }
            // The proxy's code ended (after the exit status), or the channel
            // is otherwise over.
            Err(_) => break,
        }
    }
    process.stderr_closed();
    if let Some(mut w) = writer.take() {
        let _ = w.shutdown().await;
    }
}

/// Starts execdeck's socket server through the gateway `via`, in a
/// sub-process of its interpreter listening on `listen` (`host:port`, port
/// 0 for a free one), for one connection (spec key `installvia=`), and
/// returns the address it is bound to.
///
/// Bounded by the startup timeout of `opts`; fails
/// with [`ConnectError::Via`] naming the gateway and what went wrong.
pub async fn install_socket_server(
    via: &Gateway,
    spec: &XSpec,
    listen: &str,
    opts: &LaunchOptions,
) -> Result<String, ConnectError> {
    let timeout = opts.startup_timeout.unwrap_or(DEFAULT_STARTUP_TIMEOUT);
    let fail = |message: String| ConnectError::Via {
        spec: spec.to_string(),
        key: "installvia",
        via: via.id().to_owned(),
        message,
    };
    can_carry(via).map_err(fail)?;
    let source = ExecSource::code(PROXY_SOURCE)
        .call("install_server")
        .kwarg("server_source", SOCKETSERVER_SOURCE)
        .kwarg("address", listen);
    let channel = via
        .remote_exec(source)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let address = match channel.receive(Some(timeout)).await {
        Ok(Value::Tuple(t)) => match t.as_slice() {
            [Value::Str(tag), Value::Str(address), ..] if tag == "address" => address.clone(),
            [Value::Str(tag), Value::Str(text)] if tag == "error" => {
                return Err(fail(text.clone()));
            }
            _ => return Err(fail("unexpected first reply from the installer".into())),
        },
        Ok(_) => return Err(fail("unexpected first reply from the installer".into())),
        Err(Error::Remote(e)) => {
            return Err(fail(format!("the installer failed: {}", e.summary())));
        }
        Err(Error::Timeout { .. }) => {
            return Err(fail(format!(
                "the socket server did not listen within {}s",
                timeout.as_secs_f64()
            )));
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    // Drain the channel until the server ends (it serves one connection)
    // or the gateway it runs through goes away. Its log lines ("connection
    // from …") are not the socket worker's stderr: they are dropped.
    tokio::spawn(async move { while channel.receive(None).await.is_ok() {} });
    Ok(address)
}
