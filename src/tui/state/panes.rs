//! Code panes: editor buffers and the runs made from them.

use std::time::{Duration, Instant};

use tui_textarea::TextArea;

/// Where a run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Still executing.
    Running,
    /// Finished normally.
    Done,
    /// Raised, or its gateway went away: the error text (a traceback).
    Failed(String),
}

/// One execution of a pane's code on one gateway.
#[derive(Debug, Clone)]
pub struct RunView {
    /// Unique run number.
    pub id: u64,
    /// The gateway it runs on.
    pub gateway: String,
    /// Runs started together (one run-on-all) share a batch number.
    pub batch: u64,
    /// Its state.
    pub state: RunState,
    /// When it started.
    pub started: Instant,
    /// How long it took, once finished.
    pub took: Option<Duration>,
    /// Each item the code sent, as Python repr.
    pub items: Vec<String>,
    /// What the code printed, line by line: (from stderr, text). The last
    /// line may still be growing.
    pub output: Vec<(bool, String)>,
    /// Whether the last output line is complete.
    pub output_done: bool,
    /// Lines dropped from the front to stay within the buffer size.
    pub dropped: usize,
}

impl RunView {
    /// Drops the oldest lines beyond `cap` items plus output lines.
    pub fn trim(&mut self, cap: usize) {
        let cap = cap.max(1);
        let over = (self.items.len() + self.output.len()).saturating_sub(cap);
        let from_output = over.min(self.output.len());
        self.output.drain(..from_output);
        let from_items = (over - from_output).min(self.items.len());
        self.items.drain(..from_items);
        self.dropped += from_output + from_items;
    }

    /// Appends a piece of printed text (pieces are not whole lines).
    pub fn push_output(&mut self, stderr: bool, text: &str) {
        let mut parts = text.split('\n').peekable();
        if let Some(first) = parts.next() {
            // The first part continues the last line while that is open.
            match self.output.last_mut() {
                Some((err, line)) if !self.output_done && *err == stderr => line.push_str(first),
                _ if !first.is_empty() || parts.peek().is_some() => {
                    self.output.push((stderr, first.to_owned()))
                }
                _ => {}
            }
        }
        self.output.extend(parts.map(|p| (stderr, p.to_owned())));
        // A trailing newline leaves an empty last part: the line is done.
        if text.ends_with('\n') && self.output.last().is_some_and(|(_, l)| l.is_empty()) {
            self.output.pop();
        }
        self.output_done = text.ends_with('\n');
    }
}

/// An editor buffer with the runs made from it.
pub struct Pane {
    /// The tab title.
    pub name: String,
    /// The code.
    pub editor: TextArea<'static>,
    /// Runs, oldest first.
    pub runs: Vec<RunView>,
}

impl Pane {
    /// A pane with the given name and code.
    pub fn new(name: &str, code: &str) -> Pane {
        let mut editor = TextArea::new(code.lines().map(str::to_owned).collect());
        editor.set_tab_length(4);
        editor.set_hard_tab_indent(false);
        editor.set_line_number_style(
            ratatui::style::Style::default().add_modifier(ratatui::style::Modifier::DIM),
        );
        Pane {
            name: name.to_owned(),
            editor,
            runs: Vec::new(),
        }
    }

    /// The code in the editor.
    pub fn code(&self) -> String {
        self.editor.lines().join("\n")
    }

    /// Whether a run of this pane is still executing.
    pub fn is_running(&self) -> bool {
        self.runs.iter().any(|r| r.state == RunState::Running)
    }

    /// The run with this id.
    pub fn run_mut(&mut self, id: u64) -> Option<&mut RunView> {
        self.runs.iter_mut().find(|r| r.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunView {
        RunView {
            id: 1,
            gateway: "gw0".into(),
            batch: 1,
            state: RunState::Running,
            started: Instant::now(),
            took: None,
            items: vec![],
            output: vec![],
            output_done: true,
            dropped: 0,
        }
    }

    #[test]
    fn trimming_keeps_the_newest_lines() {
        let mut r = run();
        r.items = vec!["1".into(), "2".into()];
        r.push_output(false, "a\nb\nc\n");
        r.trim(3);
        assert_eq!(r.dropped, 2);
        assert_eq!(r.output.len() + r.items.len(), 3);
        r.trim(1);
        assert_eq!(r.items.len() + r.output.len(), 1);
    }

    #[test]
    fn output_pieces_become_lines() {
        let mut r = run();
        r.push_output(false, "hel");
        r.push_output(false, "lo\nwor");
        r.push_output(true, "err\n");
        r.push_output(false, "ld\n\nend\n");
        assert_eq!(
            r.output,
            vec![
                (false, "hello".into()),
                (false, "wor".into()),
                (true, "err".into()),
                (false, "ld".into()),
                (false, "".into()),
                (false, "end".into()),
            ]
        );
        assert!(r.output_done);
    }
}
