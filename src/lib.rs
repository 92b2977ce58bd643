//! execdeck: rapid multi-Python deployment, wire-compatible with execnet.

#![deny(missing_docs)]

pub mod spec;
pub mod wire;
