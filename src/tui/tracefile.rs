//! Trace files in the TUI: `execdeck tui --trace FILE` reads one into the
//! traffic and trace views, and the rows a view shows can be written to a
//! new one (with the trace writer of `crate::trace`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::state::traffic::Traffic;
use crate::engine::EventKind;
use crate::trace::read::{Body, Record, parse_event, parse_header};
use crate::trace::write::{TraceWriter, write_kind};

/// Most bad lines reported by name when reading a trace file.
const PROBLEMS_SHOWN: usize = 3;

/// Reads the trace file at `path`: its event lines, and what was wrong with
/// lines that could not be read (they are skipped). The error says why the
/// file is not a trace at all.
pub fn load(path: &Path) -> Result<(Vec<Record>, Vec<String>), String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let mut lines = bytes.split(|&b| b == b'\n');
    let header = lines.next().unwrap_or_default();
    parse_header(header).map_err(|e| format!("{name}: {e}"))?;
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let mut bad = 0;
    for (i, line) in lines.enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_event(line) {
            Ok(r) => records.push(r),
            Err(e) => {
                bad += 1;
                if problems.len() < PROBLEMS_SHOWN {
                    problems.push(format!("{name}:{}: {e}", i + 2));
                }
            }
        }
    }
    if bad > PROBLEMS_SHOWN {
        problems.push(format!("{} more bad lines skipped", bad - PROBLEMS_SHOWN));
    }
    Ok((records, problems))
}

/// Writes the rows shown — the messages, or with `trace` the other events —
/// to a new trace file at `path` (live messages with their payloads);
/// returns how many.
pub fn export(path: &Path, traffic: &Traffic, trace: bool) -> Result<usize, String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut out = BufWriter::new(File::create(path).map_err(fail)?);
    let command = ["execdeck".to_owned(), "tui".to_owned()];
    // The header, as every trace file starts.
    TraceWriter::new(&mut out, true, &command).map_err(fail)?;
    let mut n = 0;
    if trace {
        let view = &traffic.line_view;
        for &seq in traffic
            .lines
            .shown()
            .iter()
            .take(view.visible(&traffic.lines))
        {
            if let Some(Record {
                t,
                gw,
                body: Body::Event(kind),
                ..
            }) = traffic.lines.get(seq)
            {
                write_kind(&mut out, *t, gw, kind, false).map_err(fail)?;
                out.write_all(b"\n").map_err(fail)?;
                n += 1;
            }
        }
    } else {
        let view = &traffic.msg_view;
        for &seq in traffic
            .msgs
            .shown()
            .iter()
            .take(view.visible(&traffic.msgs))
        {
            let Some(m) = traffic.msgs.get(seq) else {
                continue;
            };
            let t = m.t.as_secs_f64();
            let (dir, code, channel) = (m.dir, m.code, m.channel);
            match &m.payload {
                Some(payload) => {
                    let kind = EventKind::Message {
                        dir,
                        code,
                        channel,
                        payload: payload.clone(),
                    };
                    write_kind(&mut out, t, &m.gateway, &kind, true)
                }
                None => {
                    let payload = crate::trace::read::Recorded {
                        len: m.len,
                        preview: m.preview.to_string(),
                    };
                    let kind = EventKind::Message {
                        dir,
                        code,
                        channel,
                        payload,
                    };
                    write_kind(&mut out, t, &m.gateway, &kind, false)
                }
            }
            .map_err(fail)?;
            out.write_all(b"\n").map_err(fail)?;
            n += 1;
        }
    }
    out.flush().map_err(fail)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Direction, Event, Payload};
    use crate::wire::MsgCode;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn an_exported_view_reads_back() {
        let mut t = Traffic::new(10);
        for (i, gw) in ["gw0", "gw1", "gw0"].into_iter().enumerate() {
            let mut bytes = vec![];
            crate::wire::serial::dump_into(&crate::wire::Value::Int(i as i64), &mut bytes).unwrap();
            t.apply(&Event {
                time: Duration::from_millis(i as u64),
                gateway: Arc::from(gw),
                kind: EventKind::Message {
                    dir: Direction::In,
                    code: MsgCode::ChannelData,
                    channel: 1,
                    payload: Payload::new(&bytes),
                },
            });
        }
        t.set_filter(Some(
            crate::tui::state::traffic::TrafficFilter::new("gw:gw0").unwrap(),
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        assert_eq!(export(&path, &t, false), Ok(2));
        let (records, problems) = load(&path).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let previews: Vec<String> = records.iter().map(Record::detail).collect();
        assert_eq!(previews, ["0", "2"]);
        assert!(load(&dir.path().join("nope")).is_err());
        std::fs::write(&path, "hello\n").unwrap();
        assert!(load(&path).unwrap_err().contains("not an execdeck trace"));
    }
}
