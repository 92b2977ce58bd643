//! The engine: groups of gateways, channels and the events they publish.
//! Async on tokio, with execnet's vocabulary.

pub mod channel;
pub mod error;
pub mod events;
mod frames;
pub mod gateway;
pub mod group;
pub mod multi;
mod outbox;
pub mod rsync;
pub mod run;
pub mod via;

pub use channel::{Channel, ItemStream};
pub use error::{Error, RemoteError, Result};
pub use events::{
    ChannelOrigin, CloseHow, Direction, Event, EventKind, EventSender, Payload, Received, Side,
    Subscription,
};
pub use gateway::{ExecSource, Gateway, RInfo, RemoteStatus};
pub use group::{Group, GroupOptions};
pub use multi::MultiChannel;
pub use run::{OutputReceiver, OutputStream, Run, RunOutput};
