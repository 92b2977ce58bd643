//! Statistics of a trace: totals per gateway, message type and channel,
//! and the errors, added up event by event. Numbers only: showing them is
//! the caller's business (`execdeck trace --stats`, the TUI).

use std::collections::HashMap;

use super::read::{Body, Record, last_line};
use crate::engine::{ChannelOrigin, Direction, EventKind, Side};
use crate::wire::MsgCode;

/// Totals of one gateway.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayStats {
    /// Gateway id.
    pub gw: String,
    /// Events of this gateway.
    pub events: u64,
    /// Messages master → worker.
    pub messages_out: u64,
    /// Messages worker → master.
    pub messages_in: u64,
    /// Payload bytes master → worker.
    pub bytes_out: u64,
    /// Payload bytes worker → master.
    pub bytes_in: u64,
    /// How it ended: the exit status, `failed`, or `None` when the trace does not say.
    pub ended: Option<String>,
    /// The last step of its start (`start_step` events), if any was traced.
    pub last_step: Option<String>,
}

/// Totals of one message type.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageStats {
    /// Message code.
    pub code: MsgCode,
    /// How many.
    pub count: u64,
    /// Payload bytes.
    pub bytes: u64,
}

/// Life and traffic of one channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelStats {
    /// Gateway id.
    pub gw: String,
    /// Channel id.
    pub channel: i64,
    /// Who made it, from `channel_opened`.
    pub origin: Option<ChannelOrigin>,
    /// Messages, both ways.
    pub messages: u64,
    /// Payload bytes, both ways.
    pub bytes: u64,
    /// `t` of `channel_opened`.
    pub opened: Option<f64>,
    /// `t` of the last `channel_closed`.
    pub closed: Option<f64>,
    /// `how` of the last `channel_closed` (`closed`, `error`, …).
    pub how: Option<&'static str>,
    /// `by` of the last `channel_closed`.
    pub by: Option<Side>,
}

impl ChannelStats {
    /// Seconds from open to close, when both are in the trace.
    pub fn lifetime(&self) -> Option<f64> {
        Some(self.closed? - self.opened?)
    }

    /// `closed by remote`, `error by local`, … or `open` when it never closed.
    pub fn closing(&self) -> String {
        match (&self.how, &self.by) {
            (Some(how), Some(by)) => format!("{how} by {}", by.as_str()),
            _ => "open".to_owned(),
        }
    }
}

/// Something that went wrong, as the trace tells.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorEntry {
    /// When.
    pub t: f64,
    /// Gateway id.
    pub gw: String,
    /// The event kind.
    pub kind: String,
    /// The channel, for channel errors.
    pub channel: Option<i64>,
    /// What happened, in one line (the last line of a traceback).
    pub summary: String,
    /// The whole error text of the event, when it has one.
    pub error: Option<String>,
}

/// Everything `--stats` shows, added up event by event.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events counted.
    pub events: u64,
    /// Smallest `t`.
    pub first_t: Option<f64>,
    /// Largest `t`.
    pub last_t: Option<f64>,
    /// Per gateway, in order of first appearance.
    pub gateways: Vec<GatewayStats>,
    /// Per message type, in order of first appearance.
    pub messages: Vec<MessageStats>,
    /// Per channel, in order of first appearance (channel 0 carries
    /// gateway-level messages and gets a row only if opened or closed).
    pub channels: Vec<ChannelStats>,
    /// Errors, in file order.
    pub errors: Vec<ErrorEntry>,
    /// Sum of the `lost` events' counts.
    pub lost: u64,
    /// `warning` events.
    pub warnings: u64,
    gw_index: HashMap<String, usize>,
    msg_index: HashMap<MsgCode, usize>,
    ch_index: HashMap<(String, i64), usize>,
}

impl Stats {
    /// Counts one event.
    pub fn add(&mut self, ev: &Record) {
        self.events += 1;
        self.first_t = Some(self.first_t.map_or(ev.t, |t| t.min(ev.t)));
        self.last_t = Some(self.last_t.map_or(ev.t, |t| t.max(ev.t)));
        if let Body::Lost { count } = ev.body {
            self.lost += count;
            return;
        }
        self.gateway(&ev.gw).events += 1;
        let Body::Event(kind) = &ev.body else {
            return;
        };
        match kind {
            EventKind::Message {
                dir,
                code,
                channel,
                payload,
            } => {
                let len = payload.len;
                let g = self.gateway(&ev.gw);
                match dir {
                    Direction::Out => {
                        g.messages_out += 1;
                        g.bytes_out += len;
                    }
                    Direction::In => {
                        g.messages_in += 1;
                        g.bytes_in += len;
                    }
                }
                let i = match self.msg_index.get(code) {
                    Some(&i) => i,
                    None => {
                        self.messages.push(MessageStats {
                            code: *code,
                            count: 0,
                            bytes: 0,
                        });
                        self.msg_index.insert(*code, self.messages.len() - 1);
                        self.messages.len() - 1
                    }
                };
                self.messages[i].count += 1;
                self.messages[i].bytes += len;
                let channel = i64::from(*channel);
                if channel != 0 || self.ch_index.contains_key(&(ev.gw.clone(), 0)) {
                    let c = self.channel(&ev.gw, channel);
                    c.messages += 1;
                    c.bytes += len;
                }
            }
            EventKind::ChannelOpened { channel, origin } => {
                let c = self.channel(&ev.gw, i64::from(*channel));
                c.opened = Some(ev.t);
                c.origin = Some(*origin);
            }
            EventKind::ChannelClosed { channel, by, how } => {
                let c = self.channel(&ev.gw, i64::from(*channel));
                c.closed = Some(ev.t);
                c.how = Some(how.as_str());
                c.by = Some(*by);
                if let Some(error) = how.error() {
                    let summary =
                        format!("{} by {}: {}", how.as_str(), by.as_str(), last_line(error));
                    self.error(
                        ev,
                        Some(i64::from(*channel)),
                        summary,
                        Some(error.to_owned()),
                    );
                }
            }
            EventKind::StartStep { step } => self.gateway(&ev.gw).last_step = Some(step.clone()),
            EventKind::GatewayFailed { error } => {
                let g = self.gateway(&ev.gw);
                g.ended = Some("failed".to_owned());
                // Where the start stood when it failed, when that was traced.
                let summary = match &g.last_step {
                    Some(step) => format!("{} (after: {step})", last_line(error)),
                    None => last_line(error).to_owned(),
                };
                self.error(ev, None, summary, Some(error.clone()));
            }
            EventKind::GatewayExited { status, reason } => {
                let g = self.gateway(&ev.gw);
                g.ended = Some(status.clone().unwrap_or_else(|| "exited".to_owned()));
                if let Some(status) = status.as_deref().filter(|s| *s != "exit status 0") {
                    self.error(ev, None, format!("{status} ({reason})"), None);
                }
            }
            EventKind::Warning { .. } => self.warnings += 1,
            _ => {}
        }
    }

    fn gateway(&mut self, gw: &str) -> &mut GatewayStats {
        let i = match self.gw_index.get(gw) {
            Some(&i) => i,
            None => {
                self.gateways.push(GatewayStats {
                    gw: gw.to_owned(),
                    ..GatewayStats::default()
                });
                self.gw_index.insert(gw.to_owned(), self.gateways.len() - 1);
                self.gateways.len() - 1
            }
        };
        &mut self.gateways[i]
    }

    fn channel(&mut self, gw: &str, channel: i64) -> &mut ChannelStats {
        let key = (gw.to_owned(), channel);
        let i = match self.ch_index.get(&key) {
            Some(&i) => i,
            None => {
                self.channels.push(ChannelStats {
                    gw: gw.to_owned(),
                    channel,
                    ..ChannelStats::default()
                });
                self.ch_index.insert(key, self.channels.len() - 1);
                self.channels.len() - 1
            }
        };
        &mut self.channels[i]
    }

    fn error(&mut self, ev: &Record, channel: Option<i64>, summary: String, error: Option<String>) {
        self.errors.push(ErrorEntry {
            t: ev.t,
            gw: ev.gw.clone(),
            kind: ev.kind.clone(),
            channel,
            summary,
            error,
        });
    }

    /// Message types by code.
    pub fn sorted_messages(&self) -> Vec<&MessageStats> {
        let mut m: Vec<&MessageStats> = self.messages.iter().collect();
        m.sort_by_key(|m| m.code as i8);
        m
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::read::parse_event;
    use super::*;

    /// Events of every kind, for tests of the numbers and of how they are shown.
    pub(crate) const EXAMPLE: &str = r#"{"t": 0.000102, "gw": "gw0", "kind": "gateway_starting", "spec": "popen"}
{"t": 0.031200, "gw": "gw0", "kind": "gateway_ready", "pid": 4242, "python": "3.11.7"}
{"t": 0.031500, "gw": "gw0", "kind": "channel_opened", "channel": 1, "origin": "exec"}
{"t": 0.031600, "gw": "gw0", "kind": "message", "dir": "out", "code": 3, "name": "CHANNEL_EXEC", "channel": 1, "len": 52, "preview": "('channel.send(1)', None, None, {})"}
{"t": 0.032900, "gw": "gw0", "kind": "message", "dir": "in", "code": 4, "name": "CHANNEL_DATA", "channel": 1, "len": 6, "preview": "1"}
{"t": 0.033000, "gw": "gw0", "kind": "message", "dir": "in", "code": 5, "name": "CHANNEL_CLOSE", "channel": 1, "len": 0, "preview": ""}
{"t": 0.033010, "gw": "gw0", "kind": "channel_closed", "channel": 1, "by": "remote", "how": "closed"}
{"t": 0.034000, "gw": "gw0", "kind": "message", "dir": "out", "code": 2, "name": "GATEWAY_TERMINATE", "channel": 0, "len": 0, "preview": ""}
{"t": 0.052000, "gw": "gw0", "kind": "gateway_exited", "status": "exit status 0", "reason": "the gateway was exited"}
{"t": 0.100000, "gw": "gw1", "kind": "channel_opened", "channel": 1, "origin": "exec"}
{"t": 0.100100, "gw": "gw1", "kind": "message", "dir": "out", "code": 4, "name": "CHANNEL_DATA", "channel": 1, "len": 10, "preview": "'x'"}
{"t": 0.100200, "gw": "gw1", "kind": "message", "dir": "in", "code": 6, "name": "CHANNEL_CLOSE_ERROR", "channel": 1, "len": 40, "preview": "'Traceback...'"}
{"t": 0.100300, "gw": "gw1", "kind": "channel_closed", "channel": 1, "by": "remote", "how": "error", "error": "Traceback (most recent call last):\nValueError: boom"}
{"t": 0.100400, "gw": "gw1", "kind": "message", "dir": "in", "code": 4, "name": "CHANNEL_DATA", "channel": 7, "len": 3, "preview": "1"}
{"t": 0.2, "gw": "gw1", "kind": "gateway_exited", "status": "killed by signal 9 (SIGKILL)", "reason": "gone"}
{"t": 0.3, "gw": "gw2", "kind": "gateway_failed", "error": "cannot start python9"}
{"t": 0.35, "gw": "", "kind": "lost", "count": 3}
{"t": 0.36, "gw": "", "kind": "lost", "count": 2}
{"t": 0.4, "gw": "gw0", "kind": "warning", "text": "hm"}
"#;

    /// The statistics of [`EXAMPLE`].
    pub(crate) fn stats() -> Stats {
        let mut s = Stats::default();
        for line in EXAMPLE.lines() {
            s.add(&parse_event(line.as_bytes()).unwrap());
        }
        s
    }

    #[test]
    fn a_failed_start_names_its_last_step() {
        let mut s = Stats::default();
        for line in [
            r#"{"t": 0.1, "gw": "gw0", "kind": "gateway_starting", "spec": "ssh=h"}"#,
            r#"{"t": 0.2, "gw": "gw0", "kind": "start_step", "step": "resolving h"}"#,
            r#"{"t": 0.3, "gw": "gw0", "kind": "start_step", "step": "connecting to 10.0.0.1:22"}"#,
            r#"{"t": 9.3, "gw": "gw0", "kind": "gateway_failed", "error": "timed out"}"#,
        ] {
            s.add(&parse_event(line.as_bytes()).unwrap());
        }
        assert_eq!(
            s.gateways[0].last_step.as_deref(),
            Some("connecting to 10.0.0.1:22")
        );
        assert_eq!(
            s.errors[0].summary,
            "timed out (after: connecting to 10.0.0.1:22)"
        );
    }

    #[test]
    fn per_gateway_totals() {
        let s = stats();
        assert_eq!(s.events, 19);
        assert_eq!((s.first_t, s.last_t), (Some(0.000102), Some(0.4)));
        assert_eq!(s.gateways.len(), 3);
        assert_eq!(
            s.gateways[0],
            GatewayStats {
                gw: "gw0".into(),
                events: 10,
                messages_out: 2,
                messages_in: 2,
                bytes_out: 52,
                bytes_in: 6,
                ended: Some("exit status 0".into()),
                last_step: None,
            }
        );
        let g1 = &s.gateways[1];
        assert_eq!(
            (
                g1.events,
                g1.messages_out,
                g1.messages_in,
                g1.bytes_out,
                g1.bytes_in
            ),
            (6, 1, 2, 10, 43)
        );
        assert_eq!(g1.ended.as_deref(), Some("killed by signal 9 (SIGKILL)"));
        assert_eq!(s.gateways[2].ended.as_deref(), Some("failed"));
        assert_eq!((s.lost, s.warnings), (5, 1));
    }

    #[test]
    fn per_message_type_totals() {
        let s = stats();
        let m: Vec<(&str, u64, u64)> = s
            .sorted_messages()
            .iter()
            .map(|m| (m.code.name(), m.count, m.bytes))
            .collect();
        assert_eq!(
            m,
            [
                ("GATEWAY_TERMINATE", 1, 0),
                ("CHANNEL_EXEC", 1, 52),
                ("CHANNEL_DATA", 3, 19),
                ("CHANNEL_CLOSE", 1, 0),
                ("CHANNEL_CLOSE_ERROR", 1, 40),
            ]
        );
    }

    #[test]
    fn per_channel_life() {
        let s = stats();
        // gw0/1, gw1/1, gw1/7; channel 0 (GATEWAY_TERMINATE) has no row.
        assert_eq!(s.channels.len(), 3);
        let c = &s.channels[0];
        assert_eq!((c.gw.as_str(), c.channel), ("gw0", 1));
        assert_eq!((c.messages, c.bytes), (3, 58));
        assert_eq!((c.opened, c.closed), (Some(0.0315), Some(0.03301)));
        assert!((c.lifetime().unwrap() - 0.00151).abs() < 1e-9);
        assert_eq!(c.closing(), "closed by remote");
        assert_eq!(c.origin, Some(ChannelOrigin::Exec));
        let c = &s.channels[1];
        assert_eq!(
            (c.messages, c.bytes, c.closing().as_str()),
            (2, 50, "error by remote")
        );
        let c = &s.channels[2];
        assert_eq!(
            (c.channel, c.messages, c.opened, c.lifetime()),
            (7, 1, None, None)
        );
        assert_eq!(c.closing(), "open");
    }

    #[test]
    fn errors_are_collected() {
        let s = stats();
        let e: Vec<(&str, &str, Option<i64>)> = s
            .errors
            .iter()
            .map(|e| (e.gw.as_str(), e.kind.as_str(), e.channel))
            .collect();
        assert_eq!(
            e,
            [
                ("gw1", "channel_closed", Some(1)),
                ("gw1", "gateway_exited", None),
                ("gw2", "gateway_failed", None),
            ]
        );
        assert_eq!(s.errors[0].summary, "error by remote: ValueError: boom");
        assert_eq!(
            s.errors[0].error.as_deref(),
            Some("Traceback (most recent call last):\nValueError: boom")
        );
        assert_eq!(s.errors[1].summary, "killed by signal 9 (SIGKILL) (gone)");
        assert_eq!(s.errors[1].error, None);
    }
}
