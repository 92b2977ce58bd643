//! execdeck: rapid multi-Python deployment, wire-compatible with execnet.
//!
//! Start Python interpreters ("gateways"), run code in them and move Python
//! values both ways over channels:
//!
//! ```no_run
//! use execdeck::{Group, Value};
//!
//! # async fn demo() -> execdeck::Result<()> {
//! let group = Group::new();
//! let gw = group.makegateway("popen//python=python3").await?;
//! let ch = gw.remote_exec("channel.send(channel.receive() * 2)").await?;
//! ch.send(21).await?;
//! assert_eq!(ch.receive(None).await?, Value::Int(42));
//! group.terminate(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod cli;
pub mod engine;
pub mod exit;
pub mod fmt;
pub mod spec;
pub mod trace;
pub mod transport;
pub mod tui;
pub mod wire;

pub use engine::{Channel, Error, ExecSource, Gateway, Group, MultiChannel, Result};
pub use spec::XSpec;
pub use wire::Value;
