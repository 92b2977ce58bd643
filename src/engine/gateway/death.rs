//! Describing how a worker went away: exit status or signal (or the remote
//! address), and the part of its stderr worth showing.

use std::time::Duration;

use super::GatewayInner;
use crate::transport::bootstrap::REMOTE_TRACE_PREFIX;

/// "the worker closed the connection (exit status 1); last stderr lines: …"
pub(super) async fn describe_death(inner: &GatewayInner, what: &str) -> String {
    let mut reason = what.to_string();
    let w = &inner.worker;
    let (end, ()) = tokio::join!(
        w.describe_end(Duration::from_millis(400)),
        w.wait_stderr_closed(Duration::from_millis(300))
    );
    reason.push_str(&format!(" ({end})"));
    {
        let lines: Vec<String> = w
            .stderr_tail(200)
            .into_iter()
            .filter(|l| !l.starts_with(REMOTE_TRACE_PREFIX))
            .collect();
        let tail = stderr_for_humans(&lines[lines.len().saturating_sub(60)..]);
        if !tail.is_empty() {
            reason.push_str("; last stderr lines:\n");
            reason.push_str(&tail.join("\n"));
        }
    }
    reason
}

/// The part of a dead worker's stderr worth showing: from a faulthandler
/// report ("Fatal Python error: …") when there is one, else the last 10 lines.
fn stderr_for_humans(lines: &[String]) -> Vec<String> {
    let start = lines
        .iter()
        .rposition(|l| l.starts_with("Fatal Python error"))
        .unwrap_or(lines.len().saturating_sub(10));
    lines[start..].to_vec()
}
