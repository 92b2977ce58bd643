//! Keys of the traffic inspector (its table, and a message opened in full)
//! and of the trace view: their keymap contexts, and the actions that only
//! move around in their model ([`act`]); the rest go to the app loop.

use crossterm::event::{KeyCode, KeyEvent, MouseEvent, MouseEventKind};

use super::{Action, Binding, Context, NONE, bind, lookup_in};
use crate::engine::Payload;
use crate::tui::screen::Screen;
use crate::tui::state::detail::Detail;
use crate::tui::state::{Focus, State};

/// Rows a page key moves.
pub const PAGE: isize = 20;

/// The default keys of the traffic and trace screens.
pub(super) fn keymap() -> Vec<Binding> {
    use Action::*;
    use Context::{Detail, Trace, Traffic};
    let mut keys = vec![bind(
        KeyCode::Enter,
        NONE,
        OpenDetail,
        Traffic,
        "open the message: value and hex dump",
    )];
    for ctx in [Traffic, Trace] {
        keys.extend([
            bind(KeyCode::Char('j'), NONE, SelectNext, ctx, "next row"),
            bind(KeyCode::Down, NONE, SelectNext, ctx, "next row"),
            bind(KeyCode::Char('k'), NONE, SelectPrev, ctx, "previous row"),
            bind(KeyCode::Up, NONE, SelectPrev, ctx, "previous row"),
            bind(KeyCode::PageUp, NONE, PageUp, ctx, "a page up"),
            bind(KeyCode::PageDown, NONE, PageDown, ctx, "a page down"),
            bind(
                KeyCode::Char('G'),
                NONE,
                Follow,
                ctx,
                "newest row, follow new ones",
            ),
            bind(
                KeyCode::End,
                NONE,
                Follow,
                ctx,
                "newest row, follow new ones",
            ),
            bind(
                KeyCode::Char(' '),
                NONE,
                Pause,
                ctx,
                "pause or resume (PAUSED +N counts new rows)",
            ),
            bind(
                KeyCode::Char('/'),
                NONE,
                Filter,
                ctx,
                "filter: gw:ID ch:N type:NAME and a regex",
            ),
            bind(
                KeyCode::Char('w'),
                NONE,
                Export,
                ctx,
                "write the rows shown to a trace file",
            ),
            bind(
                KeyCode::Char('D'),
                NONE,
                RemoteDebug,
                ctx,
                "restart the row's gateway with debug=stream",
            ),
            bind(
                KeyCode::Char('?'),
                NONE,
                Help,
                ctx,
                "show or hide this help",
            ),
            bind(KeyCode::Char('q'), NONE, Quit, ctx, "quit"),
        ]);
    }
    keys.extend([
        bind(KeyCode::Char('j'), NONE, SelectNext, Detail, "next line"),
        bind(KeyCode::Down, NONE, SelectNext, Detail, "next line"),
        bind(
            KeyCode::Char('k'),
            NONE,
            SelectPrev,
            Detail,
            "previous line",
        ),
        bind(KeyCode::Up, NONE, SelectPrev, Detail, "previous line"),
        bind(
            KeyCode::Enter,
            NONE,
            ToggleFold,
            Detail,
            "fold or unfold the value",
        ),
        bind(
            KeyCode::Char(' '),
            NONE,
            ToggleFold,
            Detail,
            "fold or unfold the value",
        ),
        bind(
            KeyCode::PageUp,
            NONE,
            PageUp,
            Detail,
            "scroll the hex dump up",
        ),
        bind(
            KeyCode::PageDown,
            NONE,
            PageDown,
            Detail,
            "scroll the hex dump down",
        ),
        bind(KeyCode::Esc, NONE, Back, Detail, "back to the table"),
        bind(KeyCode::Char('q'), NONE, Back, Detail, "back to the table"),
    ]);
    keys
}

/// The keymap contexts of the screen shown (with `Global`).
pub fn contexts(state: &State) -> [Context; 2] {
    match (state.screen, state.traffic.detail.is_some()) {
        (Screen::Traffic, true) => [Context::Global, Context::Detail],
        (Screen::Traffic, false) => [Context::Global, Context::Traffic],
        (Screen::Trace, _) => [Context::Global, Context::Trace],
        (Screen::Gateways, _) if state.focus == Focus::Tree => [Context::Global, Context::Tree],
        (Screen::Gateways, _) => [Context::Global, Context::Global],
        (Screen::Rsync, _) => [Context::Global, Context::Rsync],
    }
}

/// A key on the traffic or trace screen: the action bound to it, if any.
pub fn on_key(state: &State, keymap: &[Binding], key: KeyEvent) -> Option<Action> {
    lookup_in(keymap, &key, &contexts(state))
}

/// The mouse wheel moves the selection (three rows a notch); returns
/// whether to redraw.
pub fn on_mouse(state: &mut State, m: MouseEvent) -> bool {
    let action = match m.kind {
        MouseEventKind::ScrollUp => Action::SelectPrev,
        MouseEventKind::ScrollDown => Action::SelectNext,
        _ => return false,
    };
    (0..3).all(|_| act(state, action))
}

/// Does `action` when it only moves within the traffic or trace screen's
/// model; returns whether it did.
pub fn act(state: &mut State, action: Action) -> bool {
    let t = &mut state.traffic;
    let step = match action {
        Action::SelectNext => 1,
        Action::SelectPrev => -1,
        Action::PageDown => PAGE,
        Action::PageUp => -PAGE,
        _ => 0,
    };
    if let (Screen::Traffic, Some(d)) = (state.screen, t.detail.as_mut()) {
        match action {
            Action::SelectNext | Action::SelectPrev => d.step(step),
            Action::PageUp | Action::PageDown => d.scroll_hex(step),
            Action::ToggleFold => d.toggle(),
            Action::Back => t.detail = None,
            _ => return false,
        }
        return true;
    }
    let (ring_msgs, ring_lines) = (&t.msgs, &t.lines);
    let trace = state.screen == Screen::Trace;
    let view = if trace {
        &mut t.line_view
    } else {
        &mut t.msg_view
    };
    match action {
        _ if step != 0 && trace => view.step(ring_lines, step),
        _ if step != 0 => view.step(ring_msgs, step),
        Action::Follow => view.selected = None,
        Action::Pause if trace => view.toggle_pause(ring_lines),
        Action::Pause => view.toggle_pause(ring_msgs),
        Action::OpenDetail if !trace => {
            t.detail = t.selected_msg().map(|(seq, m)| {
                let title = format!(
                    "{} {} {} channel {}, {} bytes",
                    m.gateway,
                    m.dir.as_str(),
                    m.code.name(),
                    m.channel,
                    m.len
                );
                match &m.payload {
                    Some(p) if p.is_empty() => {
                        Detail::new(seq, title, Err("(no payload)".into()), p.clone())
                    }
                    Some(p) => {
                        let value = p.decode().map_err(|e| format!("<undecodable: {e}>"));
                        Detail::new(seq, title, value, p.clone())
                    }
                    None if t.replay.is_some() => Detail::new(
                        seq,
                        title,
                        Err(format!(
                            "{}  (the trace file keeps only this preview)",
                            m.preview
                        )),
                        Payload::new(&[]),
                    ),
                    None => Detail::new(
                        seq,
                        title,
                        Err(format!(
                            "{}  (an old payload, let go to keep memory bounded: only this preview)",
                            m.preview
                        )),
                        Payload::new(&[]),
                    ),
                }
            });
        }
        _ => return false,
    }
    true
}
