//! Dialogs over the screen: the key help, the questions, the one-line
//! inputs and the palette. Every key they mention is read from the live
//! keymap (the dialog's context), so a rebinding shows in the hints.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::tui::input::{Action, Binding, Context, Dialog, DialogAction, help_rows, keys_for};
use crate::tui::palette::matches;
use crate::tui::screen::Screen;
use crate::tui::state::{Overlay, State};
use crate::tui::theme::Theme;

pub(super) fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &[Binding],
) {
    let k = Keys(keymap);
    match &state.overlay {
        Overlay::None => {}
        Overlay::Help { scroll } => help(frame, area, state, theme, keymap, *scroll),
        Overlay::ConfirmDebug { gateway } => confirm(
            frame,
            area,
            theme,
            &k,
            Question {
                title: " Remote tracing? ",
                question: format!(
                    "Restart {gateway} with debug=stream? Code running on it is stopped."
                ),
                yes: "restart",
                no: "keep it",
            },
        ),
        Overlay::TrafficFilter { input, problem } => line_dialog(
            frame,
            area,
            theme,
            LineDialog {
                title: " Filter traffic and trace ",
                hint: "gw:ID ch:N type:NAME and a regex over the text (!re inverts)".into(),
                prompt: "/ ",
                keys: k.sentence(
                    Dialog::Filter,
                    &[
                        (&[DialogAction::Accept], "applies (empty clears)"),
                        (&[DialogAction::Cancel], "cancels"),
                    ],
                ),
            },
            input,
            problem.as_deref(),
        ),
        Overlay::Export { input } => line_dialog(
            frame,
            area,
            theme,
            LineDialog {
                title: " Export ",
                hint: "Write the rows shown to this trace file (JSON lines)".into(),
                prompt: "> ",
                keys: k.sentence(
                    Dialog::Export,
                    &[
                        (&[DialogAction::Accept], "writes it"),
                        (&[DialogAction::Cancel], "cancels"),
                    ],
                ),
            },
            input,
            None,
        ),
        Overlay::Prompt(asking) => super::prompt::draw(frame, area, asking, theme, keymap),
        Overlay::AddGateway { input, problem } => line_dialog(
            frame,
            area,
            theme,
            LineDialog {
                title: " Add gateway ",
                hint: "Spec, e.g. popen//python=python3//chdir=/tmp".into(),
                prompt: "> ",
                keys: k.sentence(
                    Dialog::AddGateway,
                    &[
                        (&[DialogAction::Accept], "starts it"),
                        (&[DialogAction::Complete], "completes"),
                        (
                            &[DialogAction::PrevEntry, DialogAction::NextEntry],
                            "recall",
                        ),
                        (&[DialogAction::Cancel], "cancels"),
                    ],
                ),
            },
            input,
            problem.as_deref(),
        ),
        Overlay::ConfirmQuit => confirm(
            frame,
            area,
            theme,
            &k,
            Question {
                title: " Quit? ",
                question: match state.rsync.running() {
                    Some(job) => format!(
                        "rsync job {} is still running. Quit, cancel it and stop every gateway?",
                        job.id
                    ),
                    None => "Code is still running. Quit and stop every gateway?".into(),
                },
                yes: "quit",
                no: "stay",
            },
        ),
        Overlay::ConfirmExit { gateway } => confirm(
            frame,
            area,
            theme,
            &k,
            Question {
                title: " Exit gateway? ",
                question: format!("{gateway} is still running code. Exit it?"),
                yes: "exit",
                no: "keep it",
            },
        ),
        Overlay::ConfirmTerminate { group } => confirm(
            frame,
            area,
            theme,
            &k,
            Question {
                title: " Terminate group? ",
                question: format!("Group {group} still runs code. Exit all its gateways?"),
                yes: "terminate",
                no: "keep them",
            },
        ),
        Overlay::Filter { input, problem } => line_dialog(
            frame,
            area,
            theme,
            LineDialog {
                title: " Filter ",
                hint: "A regular expression over gateways and output; !re keeps the rest".into(),
                prompt: "/ ",
                keys: k.sentence(
                    Dialog::Filter,
                    &[
                        (&[DialogAction::Accept], "applies (empty clears)"),
                        (&[DialogAction::Cancel], "cancels"),
                    ],
                ),
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
                keys: k.sentence(
                    Dialog::SendValue,
                    &[
                        (&[DialogAction::Accept], "sends it"),
                        (&[DialogAction::Cancel], "cancels"),
                    ],
                ),
            },
            input,
            problem.as_deref(),
        ),
        Overlay::Palette { input, selected } => {
            let title = k.parts(
                Dialog::Palette,
                &[
                    (&[DialogAction::Complete], "completes"),
                    (&[DialogAction::Accept], "runs"),
                ],
            );
            let title = format!(" Command ({}) ", title.join(", "));
            palette(frame, area, theme, &title, input, *selected)
        }
    }
}

/// The keymap, read for hints.
struct Keys<'a>(&'a [Binding]);

impl Keys<'_> {
    /// The keys of `action` in `dialog`, joined with `sep`.
    fn of(&self, dialog: Dialog, action: DialogAction, sep: &str) -> String {
        keys_for(self.0, Context::Dialog(dialog), Action::Dialog(action)).join(sep)
    }

    /// "KEYS what" for each entry whose actions have keys; the keys of
    /// several actions are joined with `/` (`↑/↓ recall`).
    fn parts(&self, dialog: Dialog, entries: &[(&[DialogAction], &str)]) -> Vec<String> {
        entries
            .iter()
            .filter_map(|(actions, what)| {
                let keys: Vec<String> = actions
                    .iter()
                    .map(|a| self.of(dialog, *a, "/"))
                    .filter(|k| !k.is_empty())
                    .collect();
                (!keys.is_empty()).then(|| format!("{} {what}", keys.join("/")))
            })
            .collect()
    }

    /// The parts as a sentence: "Enter sends it, Esc cancels."
    fn sentence(&self, dialog: Dialog, entries: &[(&[DialogAction], &str)]) -> String {
        format!("{}.", self.parts(dialog, entries).join(", "))
    }
}

fn palette(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: &str,
    input: &str,
    selected: usize,
) {
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
    frame.render_widget(Paragraph::new(lines).block(boxed(title, theme)), rect);
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

fn help(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    theme: &Theme,
    keymap: &[Binding],
    scroll: u16,
) {
    let screen = state.screen;
    let rows = help_rows(keymap);
    let width = rows
        .iter()
        .map(|(k, _, _)| k.chars().count())
        .max()
        .unwrap_or(8);
    let mut lines = Vec::new();
    // The screen shown, then everywhere.
    let here = match screen {
        Screen::Gateways => [Context::Tree, Context::Tree],
        Screen::Traffic => [Context::Traffic, Context::Detail],
        Screen::Trace => [Context::Trace, Context::Trace],
        Screen::Rsync => [Context::Rsync, Context::Rsync],
    };
    let mut contexts = vec![here[0]];
    if here[1] != here[0] {
        contexts.push(here[1]);
    }
    contexts.push(Context::Global);
    for context in contexts {
        let heading = match context {
            Context::Tree => "In the gateway list",
            Context::Traffic => "In the traffic table",
            Context::Detail => "On a message opened in full",
            Context::Trace => "In the trace view",
            Context::Rsync => "On the rsync screen",
            _ => "Everywhere",
        };
        lines.push(Line::from(Span::styled(heading, theme.title)));
        // The rsync screen takes only some of the keys of everywhere.
        let applies = |r: &&(String, &str, Context)| {
            screen != Screen::Rsync
                || r.2 != Context::Global
                || keymap.iter().any(|b| {
                    b.context == Context::Global
                        && b.help == r.1
                        && crate::tui::input::rsync::GLOBAL.contains(&b.action)
                })
        };
        for (keys, help, _) in rows.iter().filter(|r| r.2 == context).filter(applies) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:>width$}  "), theme.key),
                Span::raw(*help),
            ]));
        }
        lines.push(Line::default());
    }
    let close = keys_for(
        keymap,
        Context::Dialog(Dialog::Help),
        Action::Dialog(DialogAction::Cancel),
    );
    let close = close
        .iter()
        .take(2)
        .cloned()
        .collect::<Vec<_>>()
        .join(" or ");
    lines.pop();
    let room = usize::from(area.height.saturating_sub(3));
    let scrolls = lines.len() > room;
    let footer = if scrolls {
        let keys = |a| keys_for(keymap, Context::Dialog(Dialog::Help), Action::Dialog(a));
        let (up, down) = (keys(DialogAction::PrevEntry), keys(DialogAction::NextEntry));
        format!(
            "{}/{} scroll. {close} closes this help.",
            up.first().map_or("", String::as_str),
            down.first().map_or("", String::as_str)
        )
    } else {
        match screen {
            Screen::Gateways => {
                format!("In the editor other keys edit the code. {close} closes this help.")
            }
            Screen::Traffic | Screen::Trace => format!("{close} closes this help."),
            Screen::Rsync => {
                format!("Other keys type into the form's text rows. {close} closes this help.")
            }
        }
    };
    let skip = usize::from(scroll).min(lines.len().saturating_sub(room));
    let mut lines: Vec<Line> = lines.into_iter().skip(skip).take(room).collect();
    lines.push(Line::from(Span::styled(footer, theme.dim)));
    let rect = centered(area, 72, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(boxed(" Keys ", theme)), rect);
}

/// A yes/no question: the yes key does `yes`, anything else keeps things
/// as they are.
fn confirm(frame: &mut Frame, area: Rect, theme: &Theme, keys: &Keys, q: Question) {
    let Question {
        title,
        question,
        yes,
        no,
    } = q;
    let rect = centered(area, question.chars().count().max(40) as u16 + 4, 5);
    let yes_key = keys_for(
        keys.0,
        Context::Dialog(Dialog::Confirm),
        Action::Dialog(DialogAction::Yes),
    );
    let lines = vec![
        Line::from(question),
        Line::from(vec![
            Span::styled(yes_key.first().cloned().unwrap_or_default(), theme.key),
            Span::raw(format!(" {yes}   ")),
            Span::styled(
                keys.of(Dialog::Confirm, DialogAction::Cancel, " / "),
                theme.key,
            ),
            Span::raw(format!(" {no}")),
        ]),
    ];
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(boxed(title, theme)), rect);
}

/// The words of a yes/no question.
struct Question {
    title: &'static str,
    question: String,
    yes: &'static str,
    no: &'static str,
}

/// The words around a one-line input dialog.
struct LineDialog {
    title: &'static str,
    hint: String,
    prompt: &'static str,
    keys: String,
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
