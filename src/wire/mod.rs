//! The bytes on the wire: values, the execnet serializer, message framing and
//! Python text for values. Pure functions over bytes: no I/O, no processes.

pub mod message;
pub mod pyrepr;
pub mod serial;
#[cfg(test)]
mod strategies;
pub mod value;

pub use message::{FrameError, Message, MsgCode};
pub use serial::{DataFormatError, DumpError, LoadOptions, dumps, loads};
pub use value::Value;
