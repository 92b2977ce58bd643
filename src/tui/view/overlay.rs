//! Overlays: the key help (built from the live keymap), the add-gateway
//! dialog, and the quit confirmation.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::tui::input::{Binding, Context, help_rows};
use crate::tui::palette::matches;
use crate::tui::state::{Overlay, State};
use crate::tui::theme::Theme;

pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &[Binding],
) {
    match &state.overlay {
        Overlay::None => {}
        Overlay::Help => help(frame, area, theme, keymap),
        Overlay::AddGateway { input, problem } => line_dialog(
            frame,
            area,
            theme,
            LineDialog {
                title: " Add gateway ",
                hint: "Spec, e.g. popen//python=python3//chdir=/tmp".into(),
                prompt: "> ",
                keys: "Enter starts it, Tab completes, ↑/↓ recall, Esc cancels.",
            },
            input,
            problem.as_deref(),
        ),
        Overlay::ConfirmQuit => confirm(
            frame,
            area,
            theme,
            " Quit? ",
            "Code is still running. Quit and stop every gateway?".into(),
            "quit",
            "stay",
        ),
        Overlay::ConfirmExit { gateway } => confirm(
            frame,
            area,
            theme,
            " Exit gateway? ",
            format!("{gateway} is still running code. Exit it?"),
            "exit",
            "keep it",
        ),
        Overlay::ConfirmTerminate { group } => confirm(
            frame,
            area,
            theme,
            " Terminate group? ",
            format!("Group {group} still runs code. Exit all its gateways?"),
            "terminate",
            "keep them",
        ),
        Overlay::Filter { input, problem } => line_dialog(
            frame,
            area,
            theme,
            LineDialog {
                title: " Filter ",
                hint: "A regular expression over gateways and output; !re keeps the rest".into(),
                prompt: "/ ",
                keys: "Enter applies (empty clears), Esc cancels.",
            },
            input,
            problem.as_deref(),
        ),
        Overlay::SendValue {
            run,
            input,
            problem,
        } => line_dialog(
            frame,
            area,
            theme,
            LineDialog {
                title: " Send ",
                hint: format!("A Python literal for run {run}, e.g. [1, 'two', {{3: 4.0}}]"),
                prompt: "> ",
                keys: "Enter sends it, Esc cancels.",
            },
            input,
            problem.as_deref(),
        ),
        Overlay::Palette { input, selected } => palette(frame, area, theme, input, *selected),
    }
}

fn palette(frame: &mut Frame, area: Rect, theme: &Theme, input: &str, selected: usize) {
    let found = matches(input);
    let rows = found.len().min(12);
    let rect = centered(area, 76, rows as u16 + 4);
    let mut lines = vec![Line::from(vec![
        Span::styled(": ", theme.key),
        Span::raw(input),
        Span::styled("▏", theme.key),
    ])];
    if found.is_empty() {
        lines.push(Line::from(Span::styled("no such command", theme.error)));
    }
    for (i, e) in found.iter().take(rows).enumerate() {
        let name = match e.arg {
            Some(arg) => format!("{} {arg}", e.name),
            None => e.name.to_owned(),
        };
        let mut line = Line::from(vec![
            Span::styled(format!(" {name:<18}"), theme.key),
            Span::styled(e.describe, theme.dim),
        ]);
        if i == selected.min(rows.saturating_sub(1)) {
            line = line.style(theme.selected);
        }
        lines.push(line);
    }
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(boxed(" Command (Tab completes, Enter runs) ", theme)),
        rect,
    );
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

fn boxed<'a>(title: &'a str, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border_focus)
        .title(Span::styled(title, theme.title))
        .style(theme.base)
}

fn help(frame: &mut Frame, area: Rect, theme: &Theme, keymap: &[Binding]) {
    let rows = help_rows(keymap);
    let width = rows
        .iter()
        .map(|(k, _, _)| k.chars().count())
        .max()
        .unwrap_or(8);
    let mut lines = Vec::new();
    for (context, heading) in [
        (Context::Global, "Everywhere"),
        (Context::Tree, "In the gateway list"),
    ] {
        lines.push(Line::from(Span::styled(heading, theme.title)));
        for (keys, help, _) in rows.iter().filter(|r| r.2 == context) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:>width$}  "), theme.key),
                Span::raw(*help),
            ]));
        }
        lines.push(Line::default());
    }
    lines.push(Line::from(Span::styled(
        "In the editor other keys edit the code. F1 or Esc closes this help.",
        theme.dim,
    )));
    let rect = centered(area, 72, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(boxed(" Keys ", theme)), rect);
}

/// A yes/no question: `y` does `yes`, anything else keeps things as they are.
fn confirm(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: &str,
    question: String,
    yes: &str,
    no: &str,
) {
    let rect = centered(area, question.chars().count().max(40) as u16 + 4, 5);
    let lines = vec![
        Line::from(question),
        Line::from(vec![
            Span::styled("y", theme.key),
            Span::raw(format!(" {yes}   ")),
            Span::styled("n", theme.key),
            Span::raw(format!(" / Esc {no}")),
        ]),
    ];
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(boxed(title, theme)), rect);
}

/// The words around a one-line input dialog.
struct LineDialog {
    title: &'static str,
    hint: String,
    prompt: &'static str,
    keys: &'static str,
}

/// A dialog with a hint, one input line and either its problem or the keys.
fn line_dialog(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    d: LineDialog,
    input: &str,
    problem: Option<&str>,
) {
    let rect = centered(area, 70, 6);
    let lines = vec![
        Line::from(Span::styled(d.hint, theme.dim)),
        Line::from(vec![
            Span::styled(d.prompt, theme.key),
            Span::raw(input),
            Span::styled("▏", theme.key),
        ]),
        match problem {
            Some(p) => Line::from(Span::styled(p, theme.error)),
            None => Line::from(Span::styled(d.keys, theme.dim)),
        },
    ];
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(boxed(d.title, theme))
            .wrap(Wrap { trim: false }),
        rect,
    );
}
