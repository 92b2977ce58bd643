//! The traffic inspector: the message table (only the rows on screen are
//! formatted), or one message in full (value tree and hex dump), above a
//! summary per channel; and the trace view's table, drawn the same way.

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::status;
use crate::engine::Direction;
use crate::trace::read::Record;
use crate::tui::input::Binding;
use crate::tui::state::State;
use crate::tui::state::detail::Detail;
use crate::tui::state::ring::{Follow, Ring};
use crate::tui::state::traffic::{ChannelSummary, Traffic};
use crate::tui::theme::Theme;

/// Draws the traffic inspector in `area`.
pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &[Binding],
) {
    let t = &state.traffic;
    let channels = t.shown_channels().count() as u16;
    let [main, summary, status_area] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(channels.clamp(1, 6) + 2),
        Constraint::Length(1),
    ])
    .areas(area);
    match &t.detail {
        Some(d) => detail(frame, main, d, theme),
        None => messages(frame, main, t, theme),
    }
    channel_summary(frame, summary, t, theme);
    status::draw(frame, status_area, state, theme, keymap);
}

/// Draws the trace view in `area`.
pub(super) fn draw_trace(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &[Binding],
) {
    let t = &state.traffic;
    let [main, status_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let block = framed(&title("Trace", &t.lines, &t.line_view, t), theme);
    let inner = block.inner(main);
    frame.render_widget(block, main);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:>10} {:<6} {:<14} {:>4}  text",
            "time", "gw", "kind", "ch"
        ),
        theme.title,
    ))];
    lines.extend(window(&t.lines, &t.line_view, inner.height, |r, sel| {
        trace_row(r, sel, theme)
    }));
    if t.lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "  no events yet (D restarts a gateway with remote tracing)",
            theme.dim,
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    status::draw(frame, status_area, state, theme, keymap);
}

fn framed<'a>(title: &str, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border_focus)
        .title(Span::styled(title.to_owned(), theme.title))
}

/// The title: what is held, dropped, filtered, and following or paused.
fn title<T>(name: &str, ring: &Ring<T>, view: &Follow, t: &Traffic) -> String {
    let mut s = format!(" {name}: {} of {} held", view.visible(ring), ring.len());
    if ring.dropped() > 0 {
        let _ = write!(s, ", {} dropped (cap {})", ring.dropped(), ring.cap());
    }
    if let Some(f) = &t.filter {
        let _ = write!(s, " · filter {}", f.text);
    }
    match (view.paused, view.selected) {
        (Some(_), _) => {
            let _ = write!(s, " · PAUSED +{}", view.waiting(ring));
        }
        (None, None) => s.push_str(" · following"),
        (None, Some(_)) => {}
    }
    if let Some(file) = &t.replay {
        let _ = write!(s, " · {file} (read-only)");
    }
    s.push(' ');
    s
}

/// The rows of `ring` that fit in `height` lines (less the header), drawn
/// by `row` (told whether it is the selected one).
fn window<'a, T>(
    ring: &'a Ring<T>,
    view: &Follow,
    height: u16,
    row: impl Fn(&'a T, bool) -> Line<'a>,
) -> Vec<Line<'a>> {
    let rows = usize::from(height.saturating_sub(1));
    let top = view.top(ring, rows);
    let selected = view.index(ring).filter(|_| view.selected.is_some());
    let end = view.visible(ring).min(top + rows);
    (top..end)
        .filter_map(|i| {
            let item = ring.get(*ring.shown().get(i)?)?;
            Some(row(item, selected == Some(i)))
        })
        .collect()
}

fn messages(frame: &mut Frame, area: Rect, t: &Traffic, theme: &Theme) {
    let block = framed(&title("Traffic", &t.msgs, &t.msg_view, t), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{:>10} {:<6} {:<3} {:<20} {:>4} {:>7}  value",
            "time", "gw", "dir", "type", "ch", "size"
        ),
        theme.title,
    ))];
    lines.extend(window(&t.msgs, &t.msg_view, inner.height, |m, sel| {
        let (arrow, style) = match m.dir {
            Direction::Out => ("out", theme.stdout),
            Direction::In => ("in", theme.item),
        };
        let line = Line::from(vec![
            Span::styled(
                format!(
                    "{}{:>9.3} {:<6} ",
                    mark(sel),
                    m.t.as_secs_f64(),
                    cut(&m.gateway, 6)
                ),
                theme.dim,
            ),
            Span::styled(format!("{arrow:<3} "), style),
            Span::raw(format!(
                "{:<20} {:>4} {:>7}  ",
                m.code.name(),
                m.channel,
                size(m.len)
            )),
            Span::styled(&*m.preview, theme.string),
        ]);
        if sel {
            line.style(theme.selected)
        } else {
            line
        }
    }));
    if t.msgs.is_empty() {
        lines.push(Line::from(Span::styled(
            "  no messages yet: they are recorded while this screen is open",
            theme.dim,
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn trace_row<'a>(r: &'a Record, selected: bool, theme: &Theme) -> Line<'a> {
    let style = match r.kind.as_str() {
        "remote_trace" => theme.comment,
        "stderr" => theme.stderr,
        "warning" | "gateway_failed" => theme.error,
        _ => Style::default(),
    };
    let ch = r.channel().map(|c| c.to_string()).unwrap_or_default();
    let text = r.detail();
    let line = Line::from(vec![
        Span::styled(
            format!("{}{:>9.3} {:<6} ", mark(selected), r.t, cut(&r.gw, 6)),
            theme.dim,
        ),
        Span::styled(format!("{:<14} {ch:>4}  ", cut(&r.kind, 14)), style),
        Span::raw(text.replace(['\n', '\r', '\t'], " ")),
    ]);
    if selected {
        line.style(theme.selected)
    } else {
        line
    }
}

fn detail(frame: &mut Frame, area: Rect, d: &Detail, theme: &Theme) {
    let hex_rows = u16::try_from(d.hex_lines()).unwrap_or(u16::MAX);
    let hex_height = hex_rows.saturating_add(2).min(area.height / 2).max(3);
    let [top, bottom] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(hex_height)]).areas(area);
    let block = framed(&format!(" Message: {} ", d.title), theme);
    let inner = block.inner(top);
    frame.render_widget(block, top);
    let shown = d.visible();
    let rows = usize::from(inner.height);
    let at = shown.iter().position(|&i| i == d.cursor).unwrap_or(0);
    let first = at
        .saturating_sub(rows / 2)
        .min(shown.len().saturating_sub(rows));
    let lines: Vec<Line> = shown
        .iter()
        .skip(first)
        .take(rows)
        .map(|&i| {
            let n = &d.nodes[i];
            let folded = d.folded.contains(&i);
            let mark = match (&n.folded_text, folded) {
                (None, _) => "  ",
                (Some(_), true) => "▸ ",
                (Some(_), false) => "▾ ",
            };
            let text = match (&n.folded_text, folded) {
                (Some(repr), true) => repr.as_str(),
                _ => n.text.as_str(),
            };
            let line = Line::from(vec![
                Span::raw(" ".repeat(n.depth * 2)),
                Span::styled(mark, theme.key),
                Span::styled(n.label.as_str(), theme.dim),
                Span::styled(text, theme.string),
            ]);
            if i == d.cursor {
                line.style(theme.selected)
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(
            format!(" Payload: {} lines of hex ", d.hex_lines()),
            theme.title,
        ));
    let rows = usize::from(bottom.height.saturating_sub(2));
    let lines: Vec<Line> = (d.hex_scroll..d.hex_scroll + rows)
        .map_while(|i| d.hex_line(i))
        .map(Line::from)
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), bottom);
}

fn channel_summary(frame: &mut Frame, area: Rect, t: &Traffic, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(" Channels ", theme.title));
    let mut lines: Vec<Line> = t
        .shown_channels()
        .map(|((gw, ch), s)| channel_line(gw, *ch, s, theme))
        .collect();
    let rows = usize::from(area.height.saturating_sub(2));
    if lines.len() > rows {
        // The newest channels matter most.
        lines.drain(..lines.len() - rows);
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled("  no channels yet", theme.dim)));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn channel_line<'a>(gw: &str, ch: i32, s: &ChannelSummary, theme: &Theme) -> Line<'a> {
    let origin = s.origin.map_or("?", |o| o.as_str());
    let (state, style) = match &s.closed {
        None => ("open".to_owned(), theme.live),
        Some((by, how)) => match how.error() {
            Some(e) => (
                format!(
                    "{} by {}: {}",
                    how.as_str(),
                    by.as_str(),
                    crate::trace::read::last_line(e)
                ),
                theme.error,
            ),
            None => (format!("{} by {}", how.as_str(), by.as_str()), theme.dim),
        },
    };
    Line::from(vec![
        Span::raw(format!(
            "{:<6} ch {:<4} {:<6} in {:>6} items {:>8}  out {:>6} items {:>8}  ",
            cut(gw, 6),
            ch,
            origin,
            s.items_in,
            size(s.bytes_in),
            s.items_out,
            size(s.bytes_out)
        )),
        Span::styled(state, style),
    ])
}

/// The first column: `›` on the selected row (seen without colours too).
fn mark(selected: bool) -> char {
    if selected { '›' } else { ' ' }
}

/// A byte count, short: `512 B`, `4.0 KB`, `1.2 MB`.
fn size(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KB", n as f64 / 1024.0),
        _ => format!("{:.1} MB", n as f64 / 1_048_576.0),
    }
}

fn cut(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
