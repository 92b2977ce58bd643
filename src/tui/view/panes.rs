//! Code panes: tabs, the editor of the active pane, and the output of its runs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Tabs, Wrap};

use ratatui::buffer::Buffer;
use ratatui::style::Color;
use tui_textarea::{DataCursor, TextArea};

use crate::tui::filter::Filter;
use crate::tui::state::panes::{Pane, RunState, RunView};
use crate::tui::state::{Focus, State};
use crate::tui::syntax::{Class, classify};
use crate::tui::theme::Theme;

pub(super) fn draw(frame: &mut Frame, areas: &super::Areas, state: &State, theme: &Theme) {
    let (tabs_area, editor_area, output_area) = (areas.tabs, areas.editor, areas.output);
    let titles: Vec<String> = state
        .panes
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{} {}", i + 1, p.name))
        .collect();
    frame.render_widget(
        Tabs::new(titles)
            .select(state.active)
            .style(theme.dim)
            .highlight_style(theme.title),
        tabs_area,
    );
    let Some(pane) = state.pane() else { return };
    let focused = state.focus == Focus::Editor;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.border_focus
        } else {
            theme.border
        })
        .title(Span::styled(" Code (Python) ", theme.title));
    let inner = block.inner(editor_area);
    frame.render_widget(block, editor_area);
    frame.render_widget(&pane.editor, inner);
    colour_syntax(frame.buffer_mut(), inner, &pane.editor, theme);
    draw_output(
        frame,
        output_area,
        pane,
        state.filter.as_ref(),
        state.output_scroll,
        theme,
    );
}

/// Colours the Python the editor just drew: each cell is mapped back to the
/// character under it (scrolling and tabs included) and styled by its class.
/// Cells the editor styled itself (cursor, selection) keep their look.
fn colour_syntax(buf: &mut Buffer, area: Rect, editor: &TextArea<'_>, theme: &Theme) {
    let classes = classify(editor.lines());
    let (top, left) = editor.scroll_offset();
    let gutter = editor.line_number_width();
    for y in area.top()..area.bottom() {
        for x in area.left().saturating_add(gutter)..area.right() {
            let cell = &mut buf[(x, y)];
            if cell.symbol() == " " || cell.fg != Color::Reset || cell.bg != Color::Reset {
                continue;
            }
            let row = usize::from(y - area.top() + top);
            let col = usize::from(x - area.left() - gutter + left);
            let DataCursor(line, ch) = editor.screen_to_data(row, col);
            let class = classes.get(line).and_then(|l| l.get(ch)).copied().flatten();
            let style = match class {
                None => continue,
                Some(Class::Keyword) => theme.keyword,
                Some(Class::Builtin) => theme.builtin,
                Some(Class::Str) => theme.string,
                Some(Class::Comment) => theme.comment,
                Some(Class::Number) => theme.number,
                Some(Class::Def) => theme.def,
            };
            cell.set_style(style);
        }
    }
}

fn draw_output(
    frame: &mut Frame,
    area: Rect,
    pane: &Pane,
    filter: Option<&Filter>,
    back: u16,
    theme: &Theme,
) {
    // The newest batch of a run-on-all goes side by side, one column each.
    let last_batch = pane.runs.last().map(|r| r.batch);
    let batch: Vec<&RunView> = pane
        .runs
        .iter()
        .filter(|r| Some(r.batch) == last_batch)
        .collect();
    if batch.len() > 1 {
        let columns =
            Layout::horizontal(vec![Constraint::Ratio(1, batch.len() as u32); batch.len()])
                .split(area);
        for (run, column) in batch.iter().zip(columns.iter()) {
            draw_runs(
                frame,
                *column,
                &format!(" {} ", run.gateway),
                std::slice::from_ref(run),
                filter,
                back,
                theme,
            );
        }
        return;
    }
    let runs: Vec<&RunView> = pane.runs.iter().collect();
    let title = match filter {
        Some(f) => format!(" Output /{}/ ", f.text),
        None => " Output ".to_owned(),
    };
    draw_runs(frame, area, &title, &runs, filter, back, theme);
}

fn draw_runs(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    runs: &[&RunView],
    filter: Option<&Filter>,
    back: u16,
    theme: &Theme,
) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(title.to_owned(), theme.title));
    let mut lines: Vec<Line> = Vec::new();
    for run in runs {
        let (state_text, style) = match &run.state {
            RunState::Running => ("running".to_string(), theme.starting),
            RunState::Done => ("done".to_string(), theme.live),
            RunState::Failed(_) => ("failed".to_string(), theme.failed),
        };
        let took = run
            .took
            .map(|d| format!(" in {:.3}s", d.as_secs_f64()))
            .unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!("── run {} on {} ", run.id, run.gateway), theme.dim),
            Span::styled(state_text, style),
            Span::styled(took, theme.dim),
        ]));
        if run.dropped > 0 {
            lines.push(Line::from(Span::styled(
                format!("… {} earlier lines dropped (buffer_lines)", run.dropped),
                theme.dim,
            )));
        }
        for item in &run.items {
            for (i, part) in item.lines().enumerate() {
                let lead = if i == 0 { "→ " } else { "  " };
                lines.push(Line::from(vec![
                    Span::styled(lead, theme.dim),
                    Span::styled(part, theme.item),
                ]));
            }
        }
        for (stderr, line) in &run.output {
            let style = if *stderr { theme.stderr } else { theme.stdout };
            lines.push(Line::from(vec![
                Span::styled(if *stderr { "! " } else { "│ " }, theme.dim),
                Span::styled(line.as_str(), style),
            ]));
        }
        if let RunState::Failed(text) = &run.state {
            lines.extend(
                text.lines()
                    .map(|l| Line::from(Span::styled(l, theme.error))),
            );
        }
    }
    if let Some(f) = filter {
        lines.retain(|l| f.keeps(&l.to_string()));
    }
    if lines.is_empty() && runs.is_empty() {
        lines.push(Line::from(Span::styled(
            "Run the code with Ctrl-R (F5).",
            theme.dim,
        )));
    }
    // Keep the newest output in view, `back` lines up when scrolled.
    let height = area.height.saturating_sub(2) as usize;
    let newest = lines.len().saturating_sub(height) as u16;
    let scroll = newest.saturating_sub(back);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}
