//! Render tests of the traffic inspector, a message in full and the trace
//! view, drawn into a `TestBackend` from hand-made state.

use std::sync::Arc;
use std::time::Duration;

use super::tests::screen;
use crate::engine::{
    ChannelOrigin, CloseHow, Direction, Event, EventKind, Payload, Received, Side,
};
use crate::tui::input::Action;
use crate::tui::input::traffic::act;
use crate::tui::screen::Screen;
use crate::tui::state::State;
use crate::tui::state::traffic::{Traffic, TrafficFilter};
use crate::wire::{MsgCode, Value};

fn at(ms: u64, gw: &str, kind: EventKind) -> Received {
    Received::Event(Event {
        time: Duration::from_millis(ms),
        gateway: Arc::from(gw),
        kind,
    })
}

fn msg(ms: u64, gw: &str, dir: Direction, code: MsgCode, channel: i32, v: &Value) -> Received {
    let mut bytes = vec![];
    crate::wire::serial::dump_into(v, &mut bytes).unwrap();
    at(
        ms,
        gw,
        EventKind::Message {
            dir,
            code,
            channel,
            payload: Payload::new(&bytes),
        },
    )
}

/// Two channels of gw0: one with three items in, one closed with an error.
fn sample(cap: usize) -> State {
    let mut st = State::default();
    st.screen = Screen::Traffic;
    st.traffic = Traffic::new(cap);
    st.apply_event(&at(
        1,
        "gw0",
        EventKind::ChannelOpened {
            channel: 1,
            origin: ChannelOrigin::Exec,
        },
    ));
    let code = Value::Tuple(vec![
        Value::str("channel.send(1)"),
        Value::None,
        Value::None,
        Value::Dict(vec![]),
    ]);
    st.apply_event(&msg(
        2,
        "gw0",
        Direction::Out,
        MsgCode::ChannelExec,
        1,
        &code,
    ));
    for i in 0..3 {
        let v = Value::List(vec![Value::Int(i), Value::str("ab")]);
        st.apply_event(&msg(
            10 + i as u64,
            "gw0",
            Direction::In,
            MsgCode::ChannelData,
            1,
            &v,
        ));
    }
    st.apply_event(&at(
        20,
        "gw0",
        EventKind::ChannelClosed {
            channel: 3,
            by: Side::Remote,
            how: CloseHow::Error("Traceback…\nValueError: boom".into()),
        },
    ));
    st.apply_event(&at(
        21,
        "gw0",
        EventKind::RemoteTrace {
            line: "[4242] sent channel data".into(),
        },
    ));
    st.apply_event(&at(
        22,
        "gw1",
        EventKind::Stderr {
            line: "oops".into(),
        },
    ));
    st
}

#[test]
fn the_table_shows_each_message_and_the_channels() {
    let text = screen(&sample(100), 110, 24);
    assert!(text.contains("Traffic: 4 of 4 held · following"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("'ab'"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("0.010 gw0    in  CHANNEL_DATA            1"),
        "{row}"
    );
    assert!(row.contains("[0, 'ab']"), "{row}");
    assert!(text.contains("out CHANNEL_EXEC"), "{text}");
    assert!(
        text.contains("('channel.send(1)', None, None, {})"),
        "{text}"
    );
    // The channel summary: items and bytes each way, how it closed.
    assert!(text.contains("ch 1    exec   in      3 items"), "{text}");
    assert!(text.contains("error by remote: ValueError: boom"), "{text}");
    // The screens and their keys.
    assert!(text.contains("F2 gateways F3 traffic F4 trace"), "{text}");
    assert!(text.contains("Enter open  / filter  Space pause"), "{text}");
}

#[test]
fn paused_dropped_and_filtered_show_in_the_title() {
    let mut st = sample(3);
    act(&mut st, Action::Pause);
    st.apply_event(&msg(
        30,
        "gw0",
        Direction::In,
        MsgCode::ChannelData,
        1,
        &Value::Int(7),
    ));
    let text = screen(&st, 110, 24);
    assert!(text.contains("2 dropped (cap 3) · PAUSED +1"), "{text}");
    assert!(!text.contains("  7\n"), "{text}");
    act(&mut st, Action::Pause);
    act(&mut st, Action::SelectPrev);
    let text = screen(&st, 110, 24);
    let row = text
        .lines()
        .find(|l| l.contains("[2, 'ab']"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.starts_with("│›    0.012"),
        "the selected row is marked: {row}"
    );
    act(&mut st, Action::Follow);
    st.traffic
        .set_filter(Some(TrafficFilter::new("ch:1 type:data 1").unwrap()));
    let text = screen(&st, 110, 24);
    assert!(
        text.contains(
            "Traffic: 1 of 3 held, 2 dropped (cap 3) · filter ch:1 type:data 1 · following"
        ),
        "{text}"
    );
    assert!(text.contains("[1, 'ab']"), "{text}");
    assert!(!text.contains("[2, 'ab']"), "{text}");
}

#[test]
fn a_message_opens_with_its_value_and_hex_dump() {
    let mut st = sample(100);
    let big = Value::Dict(vec![
        (Value::str("name"), Value::str("x")),
        (
            Value::str("nums"),
            Value::List((0..40).map(Value::Int).collect()),
        ),
    ]);
    st.apply_event(&msg(
        40,
        "gw0",
        Direction::In,
        MsgCode::ChannelData,
        1,
        &big,
    ));
    act(&mut st, Action::OpenDetail);
    let text = screen(&st, 110, 30);
    assert!(
        text.contains("Message: gw0 in CHANNEL_DATA channel 1"),
        "{text}"
    );
    assert!(text.contains("▾ dict, 2 items"), "{text}");
    assert!(text.contains("'name': 'x'"), "{text}");
    // The big list starts folded, showing its repr.
    assert!(text.contains("▸ 'nums': [0, 1, 2, 3"), "{text}");
    assert!(text.contains("00000000 "), "{text}");
    assert!(text.contains("|"), "{text}");
    act(&mut st, Action::SelectNext);
    act(&mut st, Action::SelectNext);
    act(&mut st, Action::ToggleFold);
    let text = screen(&st, 110, 30);
    assert!(text.contains("▾ 'nums': list, 40 items"), "{text}");
    assert!(text.contains("[3] 3"), "{text}");
    act(&mut st, Action::Back);
    let text = screen(&st, 110, 30);
    assert!(text.contains("Traffic: 5 of 5 held"), "{text}");
}

#[test]
fn the_trace_view_shows_events_remote_trace_and_stderr() {
    let mut st = sample(100);
    st.screen = Screen::Trace;
    let text = screen(&st, 110, 24);
    assert!(text.contains("Trace: 4 of 4 held"), "{text}");
    assert!(text.contains("remote_trace"), "{text}");
    assert!(text.contains("[4242] sent channel data"), "{text}");
    assert!(
        text.contains("channel_closed    3  error by remote: ValueError: boom"),
        "{text}"
    );
    assert!(text.contains("gw1    stderr"), "{text}");
    assert!(text.contains("D debug"), "{text}");
    st.traffic
        .set_filter(Some(TrafficFilter::new("gw:gw1").unwrap()));
    let text = screen(&st, 110, 24);
    assert!(text.contains("Trace: 1 of 4 held"), "{text}");
    assert!(!text.contains("remote_trace"), "{text}");
}

#[test]
fn a_recorded_trace_is_marked_read_only() {
    let mut st = sample(100);
    st.traffic.replay = Some("ci.jsonl".into());
    let text = screen(&st, 110, 24);
    assert!(text.contains("ci.jsonl (read-only)"), "{text}");
}

#[test]
fn the_wheel_moves_the_selection_three_rows() {
    use crossterm::event::{KeyModifiers, MouseEvent, MouseEventKind};
    let mut st = sample(100);
    let wheel = |kind| MouseEvent {
        kind,
        column: 10,
        row: 5,
        modifiers: KeyModifiers::NONE,
    };
    assert!(crate::tui::input::traffic::on_mouse(
        &mut st,
        wheel(MouseEventKind::ScrollUp)
    ));
    // From the newest of the four messages, three up: the exec.
    let (_, m) = st.traffic.selected_msg().unwrap();
    assert_eq!(m.code, MsgCode::ChannelExec);
    crate::tui::input::traffic::on_mouse(&mut st, wheel(MouseEventKind::ScrollDown));
    assert_eq!(st.traffic.msg_view.selected, None, "back to following");
}
