//! Booting a worker over any duplex byte stream: write the boot line, read
//! the handshake within a timeout, and keep what came before it.
//!
//! Transports (popen, socket, …) call [`boot_stream`] once their stream is
//! open and turn its [`BootOutcome`] into a [`super::Connection`] or a
//! [`super::ConnectError`] that says what they know of the worker.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::bootstrap::{Expect, Handshake, boot_input, read_handshake_into};

/// What booting a worker over a stream gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootOutcome {
    /// The handshake was read (or the stream ended, or something else came
    /// first): see [`Handshake`]. A read error counts as the stream ending.
    Read(Handshake),
    /// No handshake within the timeout; `printed` is everything read so far.
    TimedOut {
        /// The bytes that came before the wait ran out.
        printed: Vec<u8>,
    },
}

/// What to send to start the worker.
pub struct BootPlan<'a> {
    /// Source of the worker program, sent as one line ([`boot_input`]);
    /// nothing is sent when it is empty (the worker was started otherwise).
    pub source: &'a str,
    /// When the worker asks for its whole source
    /// ([`super::bootstrap::SOURCE_REQUEST`], after a cached boot failed),
    /// this gives the source to send as one more line.
    pub on_request: Option<&'a (dyn Fn() -> String + Sync)>,
    /// What the handshake looks like.
    pub expect: Expect,
    /// How long the worker may take to send its handshake.
    pub timeout: Duration,
}

/// Writes `plan.source` to `writer` and reads the handshake from `reader`
/// within `plan.timeout`, leaving every byte after the handshake unread in
/// `reader`. A write error is not reported by itself: the worker is gone,
/// and the handshake read says so ([`Handshake::Eof`]).
pub async fn boot_stream<R, W>(
    reader: &mut BufReader<R>,
    writer: &mut W,
    plan: &BootPlan<'_>,
) -> BootOutcome
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Everything read before the handshake, kept when the wait runs out.
    let mut printed: Vec<u8> = Vec::new();
    let handshake = async {
        if !plan.source.is_empty() {
            let _ = writer.write_all(boot_input(plan.source).as_bytes()).await;
            let _ = writer.flush().await;
        }
        let mut on_request = plan.on_request;
        // Output before a source request belongs to the banner too.
        let mut before: Vec<u8> = Vec::new();
        loop {
            let hs = read_handshake_into(reader, plan.expect, &mut printed).await?;
            if let Handshake::SourceRequested { banner } = &hs
                && let Some(full_source) = on_request.take()
            {
                before.extend_from_slice(banner);
                let _ = writer
                    .write_all(boot_input(&full_source()).as_bytes())
                    .await;
                let _ = writer.flush().await;
                continue;
            }
            return Ok::<_, std::io::Error>(hs.after(before));
        }
    };
    let waited = tokio::time::timeout(plan.timeout, handshake).await;
    match waited {
        Ok(Ok(hs)) => BootOutcome::Read(hs),
        // A read error is the peer going away.
        Ok(Err(_)) => BootOutcome::Read(Handshake::Eof { seen: printed }),
        Err(_) => {
            printed.extend_from_slice(reader.buffer());
            BootOutcome::TimedOut { printed }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn plan(source: &str, timeout_ms: u64) -> BootPlan<'_> {
        BootPlan {
            source,
            on_request: None,
            expect: Expect::Bare,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[tokio::test]
    async fn sends_the_boot_line_and_reads_the_handshake() {
        let (ours, theirs) = tokio::io::duplex(1024);
        let (their_read, mut their_write) = tokio::io::split(theirs);
        let (our_read, mut our_write) = tokio::io::split(ours);
        let peer = tokio::spawn(async move {
            let mut line = Vec::new();
            let mut r = BufReader::new(their_read);
            tokio::io::AsyncBufReadExt::read_until(&mut r, b'\n', &mut line)
                .await
                .unwrap();
            their_write.write_all(b"1more").await.unwrap();
            line
        });
        let mut reader = BufReader::new(our_read);
        let outcome = boot_stream(&mut reader, &mut our_write, &plan("x = 1", 3000)).await;
        assert_eq!(
            outcome,
            BootOutcome::Read(Handshake::Ready { banner: vec![] })
        );
        assert_eq!(peer.await.unwrap(), b"'x = 1'\n");
        let mut rest = [0u8; 4];
        reader.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"more");
    }

    #[tokio::test]
    async fn a_timeout_keeps_what_came() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        theirs.write_all(b"banner").await.unwrap();
        let (our_read, mut our_write) = tokio::io::split(ours);
        let mut reader = BufReader::new(our_read);
        let mut p = plan("", 200);
        p.expect = Expect::Marker;
        let outcome = boot_stream(&mut reader, &mut our_write, &p).await;
        assert_eq!(
            outcome,
            BootOutcome::TimedOut {
                printed: b"banner".to_vec()
            }
        );
        drop(theirs);
    }
}
