//! The gateway tree: one group with its gateways, and the selected one's details.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::tui::state::gateways::{GatewayView, GwStatus};
use crate::tui::state::panes::RunState;
use crate::tui::state::{Focus, State, TreeRow};
use crate::tui::theme::Theme;

pub(super) fn draw(
    frame: &mut Frame,
    list_area: Rect,
    detail_area: Rect,
    state: &State,
    theme: &Theme,
) {
    let focused = state.focus == Focus::Tree;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.border_focus
        } else {
            theme.border
        })
        .title(Span::styled(" Gateways ", theme.title));
    let mut lines = Vec::new();
    for row_kind in state.tree_rows() {
        match row_kind {
            TreeRow::Group { name, shown } => lines.push(Line::from(Span::styled(
                format!("▾ {name} ({shown})"),
                theme.dim,
            ))),
            TreeRow::Gateway(i) => {
                let mut line = row(&state.gateways.list[i], theme);
                if i == state.selected {
                    line = line.style(theme.selected);
                }
                lines.push(line);
            }
        }
    }
    if state.gateways.list.is_empty() {
        lines.push(Line::from(Span::styled(
            "  no gateways: press a",
            theme.dim,
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(block), list_area);

    let detail = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(" Details ", theme.title));
    let lines = match state.gateways.list.get(state.selected) {
        Some(gw) => details(gw, state, theme),
        None => vec![],
    };
    frame.render_widget(
        Paragraph::new(lines)
            .block(detail)
            .wrap(Wrap { trim: false }),
        detail_area,
    );
}

fn status_style(status: &GwStatus, theme: &Theme) -> ratatui::style::Style {
    match status {
        GwStatus::Starting => theme.starting,
        GwStatus::Live => theme.live,
        GwStatus::Failed(_) => theme.failed,
        GwStatus::Exited(_) => theme.exited,
    }
}

fn row<'a>(gw: &'a GatewayView, theme: &Theme) -> Line<'a> {
    let mut spans = vec![
        Span::raw("  "),
        Span::styled(gw.status.mark(), status_style(&gw.status, theme)),
        Span::raw(" "),
        Span::raw(gw.id.as_str()),
        Span::styled(format!(" {}", gw.kind), theme.dim),
    ];
    if let Some(py) = &gw.python {
        spans.push(Span::styled(format!(" py{py}"), theme.dim));
    }
    // Where a start stands, as it happens (an ssh start may wait for a dialog).
    if let (GwStatus::Starting, Some(step)) = (&gw.status, &gw.step) {
        spans.push(Span::styled(format!(" {step}"), theme.dim));
    }
    if let Some(st) = &gw.remote {
        spans.push(Span::styled(
            format!(" ch:{} ex:{}", st.numchannels, st.numexecuting),
            theme.dim,
        ));
    }
    Line::from(spans)
}

fn details<'a>(gw: &'a GatewayView, state: &'a State, theme: &Theme) -> Vec<Line<'a>> {
    let field = |name: &'static str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:>9} "), theme.dim),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        field("id", gw.id.clone()),
        Line::from(vec![
            Span::styled(format!("{:>9} ", "status"), theme.dim),
            Span::styled(gw.status.word(), status_style(&gw.status, theme)),
        ]),
        field("spec", gw.spec.clone()),
        field("group", gw.group.clone()),
        field("host", gw.host.clone()),
    ];
    if let Some(address) = &gw.address {
        let label = match gw.kind.as_str() {
            "via" => "route",
            _ => "address",
        };
        lines.push(field(label, address.clone()));
    }
    lines.extend([
        field("pid", gw.pid.map_or_else(|| "-".into(), |p| p.to_string())),
        field("python", gw.python.clone().unwrap_or_else(|| "-".into())),
    ]);
    if let Some(exe) = &gw.executable {
        lines.push(field("exe", exe.clone()));
    }
    if let Some(st) = &gw.remote {
        lines.push(field("execmodel", st.execmodel.clone()));
        lines.push(field("channels", st.numchannels.to_string()));
        lines.push(field("executing", st.numexecuting.to_string()));
    }
    // Where a start stands (or stood when it failed).
    if let (GwStatus::Starting | GwStatus::Failed(_), Some(step)) = (&gw.status, &gw.step) {
        lines.push(field("step", step.clone()));
    }
    match &gw.status {
        GwStatus::Failed(why) | GwStatus::Exited(why) => {
            lines.push(Line::from(Span::styled(why.as_str(), theme.error)));
        }
        _ => {}
    }
    // This gateway's run history, across panes, newest first.
    let mut runs: Vec<(&str, &crate::tui::state::panes::RunView)> = state
        .panes
        .iter()
        .flat_map(|p| p.runs.iter().map(move |r| (p.name.as_str(), r)))
        .filter(|(_, r)| r.gateway == gw.id)
        .collect();
    runs.sort_by_key(|(_, r)| std::cmp::Reverse(r.id));
    if !runs.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("runs ({}):", runs.len()),
            theme.dim,
        )));
        for (pane, r) in runs.iter().take(5) {
            let (word, style) = match &r.state {
                RunState::Running => ("running", theme.starting),
                RunState::Done => ("done", theme.live),
                RunState::Failed(_) => ("failed", theme.failed),
            };
            let took = r
                .took
                .map(|d| format!(" {:.3}s", d.as_secs_f64()))
                .unwrap_or_default();
            lines.push(Line::from(vec![
                Span::styled(format!("  #{} {pane} ", r.id), theme.dim),
                Span::styled(word, style),
                Span::styled(took, theme.dim),
            ]));
        }
    }
    if !gw.stderr.is_empty() {
        lines.push(Line::from(Span::styled("stderr:", theme.dim)));
        let skip = gw.stderr.len().saturating_sub(8);
        lines.extend(
            gw.stderr[skip..]
                .iter()
                .map(|l| Line::from(Span::styled(l.as_str(), theme.stderr))),
        );
    }
    lines
}
