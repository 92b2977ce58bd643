//! The TUI's traffic inspector under load, in this process: 200k messages
//! held, a filter on, new messages arriving between frames (a bulk transfer).
//! Reported only (target ≤ 16 ms a frame, one frame at 60 Hz).

use std::sync::Arc;
use std::time::{Duration, Instant};

use execdeck::engine::events::{Direction, Event, EventKind, Payload, Received};
use execdeck::tui::input::default_keymap;
use execdeck::tui::screen::Screen;
use execdeck::tui::state::State;
use execdeck::tui::state::traffic::{Traffic, TrafficFilter};
use execdeck::tui::theme::Theme;
use execdeck::tui::view;
use execdeck::wire::{MsgCode, Value, serial::dump_into};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::workloads::Fallible;

/// Messages held while frames are drawn.
pub const HELD: usize = 200_000;

fn message(i: usize) -> Fallible<Received> {
    let v = Value::Tuple(vec![Value::Int(i as i64), Value::str(format!("item {i}"))]);
    let mut bytes = Vec::new();
    dump_into(&v, &mut bytes).map_err(|e| e.to_string())?;
    Ok(Received::Event(Event {
        time: Duration::from_micros(i as u64 * 10),
        gateway: Arc::from(if i.is_multiple_of(2) { "gw0" } else { "gw1" }),
        kind: EventKind::Message {
            dir: Direction::In,
            code: MsgCode::ChannelData,
            channel: (i % 8) as i32 + 1,
            payload: Payload::new(&bytes),
        },
    }))
}

/// Frame times (ms) of the traffic screen with [`HELD`] messages and the
/// filter `ch:3 item`, `per_frame` new messages arriving before each
/// frame; and how long taking in one message took (µs, median of frames).
pub fn traffic_frames(frames: usize, per_frame: usize) -> Fallible<(Vec<f64>, f64)> {
    let mut st = State::default();
    st.traffic = Traffic::new(HELD);
    st.screen = Screen::Traffic;
    st.traffic.set_filter(Some(
        TrafficFilter::new("ch:3 item").map_err(|e| e.to_string())?,
    ));
    for i in 0..HELD {
        st.apply_event(&message(i)?);
    }
    let theme = Theme::fallback(false);
    let keymap = default_keymap();
    let mut term =
        Terminal::new(TestBackend::new(200, 50)).map_err(|e| format!("test backend: {e}"))?;
    let mut times = Vec::with_capacity(frames);
    let mut ingest = Vec::with_capacity(frames);
    let mut next = HELD;
    for _ in 0..frames {
        let batch: Vec<Received> = (next..next + per_frame)
            .map(message)
            .collect::<Fallible<_>>()?;
        next += per_frame;
        let start = Instant::now();
        for r in &batch {
            st.apply_event(r);
        }
        ingest.push(start.elapsed().as_secs_f64() * 1e6 / per_frame.max(1) as f64);
        let start = Instant::now();
        term.draw(|f| view::draw(f, &st, &theme, &keymap))
            .map_err(|e| format!("draw: {e}"))?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    if st.traffic.msgs.dropped() == 0 {
        return Err("the ring never dropped a message: it is not bounded".into());
    }
    ingest.sort_by(f64::total_cmp);
    Ok((times, ingest[ingest.len() / 2]))
}
