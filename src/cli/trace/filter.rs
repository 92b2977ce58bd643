//! Which events to show: `--gateway`, `--channel` and `--kind`.

use crate::trace::read::{Body, Record, event_kinds, message_names};

/// The filters of one command. Each given filter must match (and), any of its
/// values may match (or); a filter without values matches everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Gateway ids; `lost` events (not tied to one gateway) always pass.
    pub gateways: Vec<String>,
    /// Channel ids; events without a channel never match.
    pub channels: Vec<i64>,
    /// Kinds or message names, compared without regard to ASCII case.
    pub kinds: Vec<String>,
}

impl Filter {
    /// Does the event pass every filter?
    pub fn matches(&self, ev: &Record) -> bool {
        let gateway_ok = self.gateways.is_empty()
            || matches!(ev.body, Body::Lost { .. })
            || self.gateways.contains(&ev.gw);
        let channel_ok =
            self.channels.is_empty() || ev.channel().is_some_and(|c| self.channels.contains(&c));
        let kind_ok = self.kinds.is_empty()
            || self.kinds.iter().any(|k| {
                k.eq_ignore_ascii_case(&ev.kind)
                    || ev.message_name().is_some_and(|n| k.eq_ignore_ascii_case(n))
            });
        gateway_ok && channel_ok && kind_ok
    }

    /// The `--kind` values that are neither a kind nor a message name of this
    /// format version (likely typos; they still match such kinds).
    pub fn unknown_kinds(&self) -> Vec<&str> {
        self.kinds
            .iter()
            .filter(|k| {
                !event_kinds()
                    .chain(message_names())
                    .any(|known| known.eq_ignore_ascii_case(k))
            })
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::read::parse_event;

    fn events() -> Vec<Record> {
        [
            r#"{"t": 0.1, "gw": "gw0", "kind": "gateway_ready", "pid": 1, "python": "3.12"}"#,
            r#"{"t": 0.2, "gw": "gw0", "kind": "message", "dir": "out", "code": 3, "name": "CHANNEL_EXEC", "channel": 1, "len": 5, "preview": "'x'"}"#,
            r#"{"t": 0.3, "gw": "gw1", "kind": "message", "dir": "in", "code": 4, "name": "CHANNEL_DATA", "channel": 1, "len": 2, "preview": "1"}"#,
            r#"{"t": 0.4, "gw": "gw1", "kind": "channel_closed", "channel": 3, "by": "remote", "how": "closed"}"#,
            r#"{"t": 0.5, "gw": "gw1", "kind": "stderr", "line": "hi"}"#,
            r#"{"t": 0.6, "gw": "", "kind": "lost", "count": 2}"#,
            r#"{"t": 0.7, "gw": "gw2", "kind": "new_kind", "channel": 1}"#,
        ]
        .iter()
        .map(|l| parse_event(l.as_bytes()).unwrap())
        .collect()
    }

    fn shown(f: &Filter) -> Vec<f64> {
        events()
            .into_iter()
            .filter(|e| f.matches(e))
            .map(|e| e.t)
            .collect()
    }

    #[test]
    fn no_filter_shows_everything() {
        assert_eq!(shown(&Filter::default()).len(), 7);
    }

    #[test]
    fn gateway_filter_keeps_lost_events() {
        let f = Filter {
            gateways: vec!["gw1".into()],
            ..Filter::default()
        };
        assert_eq!(shown(&f), [0.3, 0.4, 0.5, 0.6]);
        let f = Filter {
            gateways: vec!["gw0".into(), "gw2".into()],
            ..Filter::default()
        };
        assert_eq!(shown(&f), [0.1, 0.2, 0.6, 0.7]);
    }

    #[test]
    fn channel_filter_needs_a_channel() {
        let f = Filter {
            channels: vec![1],
            ..Filter::default()
        };
        assert_eq!(shown(&f), [0.2, 0.3, 0.7]);
        let f = Filter {
            channels: vec![3, 9],
            ..Filter::default()
        };
        assert_eq!(shown(&f), [0.4]);
    }

    #[test]
    fn kind_filter_takes_kinds_and_message_names() {
        let f = Filter {
            kinds: vec!["CHANNEL_DATA".into(), "stderr".into()],
            ..Filter::default()
        };
        assert_eq!(shown(&f), [0.3, 0.5]);
        let f = Filter {
            kinds: vec!["message".into()],
            ..Filter::default()
        };
        assert_eq!(shown(&f), [0.2, 0.3]);
        let f = Filter {
            kinds: vec!["channel_exec".into(), "NEW_KIND".into()],
            ..Filter::default()
        };
        assert_eq!(shown(&f), [0.2, 0.7]);
    }

    #[test]
    fn filters_combine() {
        let f = Filter {
            gateways: vec!["gw1".into()],
            channels: vec![1, 3],
            kinds: vec!["message".into()],
        };
        assert_eq!(shown(&f), [0.3]);
        // lost passes --gateway but not --kind.
        let f = Filter {
            gateways: vec!["gw0".into()],
            kinds: vec!["lost".into(), "gateway_ready".into()],
            ..Filter::default()
        };
        assert_eq!(shown(&f), [0.1, 0.6]);
    }

    #[test]
    fn unknown_kinds_are_named() {
        let f = Filter {
            kinds: vec!["stderr".into(), "channel_data".into(), "mesage".into()],
            ..Filter::default()
        };
        assert_eq!(f.unknown_kinds(), ["mesage"]);
    }
}
