//! Socket gateways (`socket=host:port`): connect to a running socket server
//! (execnet's `socketserver.py`, or execdeck's own), send it the worker
//! source, which it `exec`s with the connected socket as `clientsock`, read
//! the worker's handshake, then speak messages over the socket
//! (PROTOCOL.md §1).
//!
//! The worker runs inside the server's process on another host: this side
//! has no process of it, only the connection ([`WorkerHandle::Remote`]).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::bootstrap::{BootStream, Handshake};
use super::handshake::{BootOutcome, boot_stream};
use super::popen::{DEFAULT_STARTUP_TIMEOUT, LaunchOptions};
use super::{ConnectError, Connection, RemoteHandle, WorkerHandle, token};
use crate::spec::XSpec;

/// What a socket gateway's [`RemoteHandle`] calls its worker.
pub const PEER_KIND: &str = "socket peer";

/// Buffer for reading the handshake; later reads pass it by.
const HANDSHAKE_BUFFER: usize = 8 * 1024;

/// Splits `host:port` (`[v6]:port` for IPv6 literals) into host and port.
/// `None` when it is not of that form (the spec parser already refused such
/// values; this only guards against a caller that did not use it).
pub fn split_address(address: &str) -> Option<(&str, u16)> {
    let (host, port) = match address.strip_prefix('[') {
        Some(rest) => {
            let (host, port) = rest.split_once(']')?;
            (host, port.strip_prefix(':')?)
        }
        None => address.rsplit_once(':')?,
    };
    if host.is_empty() {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
    Some((host, port))
}

/// Connects gateway `id` of `spec` to the socket server at `address`
/// (`host:port`) and boots execdeck's worker there.
///
/// The whole start (resolving, connecting, the handshake) is bounded by the
/// startup timeout of `opts`. Fails with [`ConnectError::HostNotFound`],
/// [`ConnectError::Refused`], [`ConnectError::ConnectFailed`] or
/// [`ConnectError::ConnectTimeout`] before a connection exists, and with
/// [`ConnectError::ClosedBeforeHandshake`], [`ConnectError::SocketBadHandshake`]
/// or [`ConnectError::SocketStartupTimeout`] after; each names the address.
pub async fn connect(
    spec: &XSpec,
    address: &str,
    id: &str,
    opts: &LaunchOptions,
) -> Result<Connection, ConnectError> {
    let timeout = opts.startup_timeout.unwrap_or(DEFAULT_STARTUP_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let stream = open(spec, address, timeout, deadline).await?;
    let _ = stream.set_nodelay(true);
    // A second descriptor of the same socket, to shut it down from the
    // handle (a stop) while the reader and writer tasks own the halves.
    let std_stream = stream
        .into_std()
        .map_err(|e| connect_failed(spec, address, &e))?;
    let stopper = std_stream
        .try_clone()
        .map_err(|e| connect_failed(spec, address, &e))?;
    let stream = TcpStream::from_std(std_stream).map_err(|e| connect_failed(spec, address, &e))?;
    let peer = stream
        .peer_addr()
        .map_or_else(|_| address.to_owned(), |a| a.to_string());
    opts.step(&format!("connected to {peer}"));
    let (read_half, mut write_half) = stream.into_split();
    let mut reader = BufReader::with_capacity(HANDSHAKE_BUFFER, read_half);
    if let Some(path) = spec.token_file() {
        let token_error = |message: String| ConnectError::Token {
            spec: spec.to_string(),
            address: address.to_owned(),
            message,
        };
        let secret = token::read_secret(std::path::Path::new(path)).map_err(token_error)?;
        let exchange = token::client_handshake(&mut reader, &mut write_half, &secret);
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(result) => result.map_err(token_error)?,
            Err(_) => {
                return Err(token_error(format!(
                    "no token exchange within {}s (is the server running with --token-file?)",
                    timeout.as_secs_f64()
                )));
            }
        }
    }
    let boot = opts.remote_boot(spec, id, BootStream::Socket);
    let plan = boot.plan(deadline.saturating_duration_since(Instant::now()));
    let received = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    match boot_stream(&mut reader, &mut write_half, &plan).await {
        BootOutcome::Read(Handshake::Ready { .. }) => {
            opts.step("handshake done");
            let stop = Arc::new(move || {
                let _ = stopper.shutdown(std::net::Shutdown::Both);
            });
            let reader: super::BoxedReader = if reader.buffer().is_empty() {
                Box::new(reader.into_inner())
            } else {
                Box::new(reader)
            };
            Ok(Connection {
                reader,
                writer: Box::new(write_half),
                worker: WorkerHandle::Remote(RemoteHandle::new(PEER_KIND, peer, stop)),
                warnings: Vec::new(),
            })
        }
        BootOutcome::Read(Handshake::Eof { seen }) => Err(ConnectError::ClosedBeforeHandshake {
            spec: spec.to_string(),
            address: address.to_owned(),
            received: received(&seen),
        }),
        BootOutcome::Read(
            Handshake::Unexpected { seen } | Handshake::SourceRequested { banner: seen },
        ) => Err(ConnectError::SocketBadHandshake {
            spec: spec.to_string(),
            address: address.to_owned(),
            received: received(&seen),
        }),
        BootOutcome::TimedOut { printed } => Err(ConnectError::SocketStartupTimeout {
            spec: spec.to_string(),
            address: address.to_owned(),
            secs: timeout.as_secs_f64(),
            received: received(&printed),
        }),
    }
}

fn connect_failed(spec: &XSpec, address: &str, e: &std::io::Error) -> ConnectError {
    ConnectError::ConnectFailed {
        spec: spec.to_string(),
        address: address.to_owned(),
        message: e.to_string(),
    }
}

/// Resolves `address` and connects to the first of its addresses that
/// accepts, before `deadline`.
async fn open(
    spec: &XSpec,
    address: &str,
    timeout: Duration,
    deadline: Instant,
) -> Result<TcpStream, ConnectError> {
    let timed_out = || ConnectError::ConnectTimeout {
        spec: spec.to_string(),
        address: address.to_owned(),
        secs: timeout.as_secs_f64(),
    };
    let Some((host, port)) = split_address(address) else {
        return Err(ConnectError::ConnectFailed {
            spec: spec.to_string(),
            address: address.to_owned(),
            message: "not a host:port address".into(),
        });
    };
    // An address needs no lookup (which takes a thread of the blocking pool).
    let resolved = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(vec![SocketAddr::new(ip, port)]),
        Err(_) => tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| timed_out())?
            .map(Iterator::collect),
    };
    let addrs: Vec<SocketAddr> = match resolved {
        Ok(addrs) => addrs,
        Err(e) => {
            return Err(ConnectError::HostNotFound {
                spec: spec.to_string(),
                address: address.to_owned(),
                message: e.to_string(),
            });
        }
    };
    if addrs.is_empty() {
        return Err(ConnectError::HostNotFound {
            spec: spec.to_string(),
            address: address.to_owned(),
            message: "the name has no addresses".into(),
        });
    }
    // Refused everywhere is a refusal; any other failure is reported as such.
    let mut other: Option<std::io::Error> = None;
    for addr in addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(timed_out()),
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => {}
            Ok(Err(e)) => other = Some(e),
        }
    }
    match other {
        Some(e) => Err(connect_failed(spec, address, &e)),
        None => Err(ConnectError::Refused {
            spec: spec.to_string(),
            address: address.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::split_address;

    #[test]
    fn addresses() {
        assert_eq!(split_address("localhost:8888"), Some(("localhost", 8888)));
        assert_eq!(split_address("10.0.0.1:1"), Some(("10.0.0.1", 1)));
        assert_eq!(split_address("[::1]:65535"), Some(("::1", 65535)));
        assert_eq!(split_address("[::1]65535"), None);
        assert_eq!(split_address(":80"), None);
        assert_eq!(split_address("h:0"), None);
        assert_eq!(split_address("h"), None);
    }
}
