//! Channels to several gateways at once (execnet's `MultiChannel`).

use std::time::Duration;

use tokio::sync::mpsc;

use super::channel::Channel;
use super::error::{Error, Result};
use crate::wire::Value;

/// One channel per gateway, as returned by `Group::remote_exec`.
#[derive(Clone, Debug)]
pub struct MultiChannel {
    channels: Vec<Channel>,
}

impl MultiChannel {
    /// Bundles channels.
    pub fn new(channels: Vec<Channel>) -> MultiChannel {
        MultiChannel { channels }
    }

    /// The channels, in gateway order.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// Sends the same value on every channel.
    pub async fn send_each(&self, item: impl Into<Value>) -> Result<()> {
        let item = item.into();
        for ch in &self.channels {
            ch.send_ref(&item).await?;
        }
        Ok(())
    }

    /// Receives one item from every channel, in gateway order.
    pub async fn receive_each(&self, timeout: Option<Duration>) -> Result<Vec<Value>> {
        let mut items = Vec::with_capacity(self.channels.len());
        for ch in &self.channels {
            items.push(ch.receive(timeout).await?);
        }
        Ok(items)
    }

    /// One queue merging the items of all channels as they arrive: each entry
    /// is the channel and `Ok(item)`, and every channel's last entry is its
    /// end: `Err(Error::Eof)` when it closed normally, or the error it ended with.
    pub fn receive_queue(&self) -> mpsc::UnboundedReceiver<(Channel, Result<Value>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        for ch in &self.channels {
            let ch = ch.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                loop {
                    let item = tokio::select! {
                        item = ch.receive(None) => item,
                        _ = tx.closed() => break,
                    };
                    let end = item.is_err();
                    if tx.send((ch.clone(), item)).is_err() || end {
                        break;
                    }
                }
            });
        }
        rx
    }

    /// Waits until every channel is closed, at most `timeout` in all; the
    /// first remote error (or timeout) is returned after all were waited for.
    pub async fn wait_close(&self, timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
        let mut first: Option<Error> = None;
        for ch in &self.channels {
            let left = deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
            if let Err(e) = ch.wait_close(left).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
