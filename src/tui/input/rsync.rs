//! Keys on the rsync screen: the keymap's [`Context::Rsync`] first, then a
//! few keys of [`Context::Global`] (help, palette, quit, suspend, switching
//! screens); what is left types into the form's text row with the cursor.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{Action, Binding, Context, lookup_in};
use crate::tui::state::State;
use crate::tui::state::rsync::{complete_path, live_ids};

/// What a key does on the rsync screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsyncAction {
    /// Start the job the form describes.
    Start,
    /// Cancel the running job.
    Cancel,
    /// Move to the next row of the form.
    NextRow,
    /// Move to the previous row of the form.
    PrevRow,
    /// Check or uncheck the row (a target gateway, an option).
    Toggle,
    /// Complete the source directory as a local path.
    Complete,
    /// Show the next (newer) job.
    NextJob,
    /// Show the previous (older) job.
    PrevJob,
}

impl RsyncAction {
    /// Every rsync screen action.
    pub const ALL: [RsyncAction; 8] = [
        RsyncAction::Start,
        RsyncAction::Cancel,
        RsyncAction::NextRow,
        RsyncAction::PrevRow,
        RsyncAction::Toggle,
        RsyncAction::Complete,
        RsyncAction::NextJob,
        RsyncAction::PrevJob,
    ];

    /// Its name in the palette and in the config's `[keys]` table.
    pub fn name(self) -> &'static str {
        match self {
            RsyncAction::Start => "rsync-start",
            RsyncAction::Cancel => "rsync-cancel",
            RsyncAction::NextRow => "rsync-next-row",
            RsyncAction::PrevRow => "rsync-prev-row",
            RsyncAction::Toggle => "rsync-toggle",
            RsyncAction::Complete => "rsync-complete",
            RsyncAction::NextJob => "rsync-next-job",
            RsyncAction::PrevJob => "rsync-prev-job",
        }
    }

    /// What it does.
    pub fn describe(self) -> &'static str {
        match self {
            RsyncAction::Start => "start the rsync job of the form",
            RsyncAction::Cancel => "cancel the running rsync job",
            RsyncAction::NextRow => "next row of the rsync form",
            RsyncAction::PrevRow => "previous row of the rsync form",
            RsyncAction::Toggle => "check or uncheck a target or an option",
            RsyncAction::Complete => "complete the source directory",
            RsyncAction::NextJob => "show the next rsync job",
            RsyncAction::PrevJob => "show the previous rsync job",
        }
    }
}

/// Global actions that work on the rsync screen too (the others act on
/// code panes).
pub const GLOBAL: [Action; 8] = [
    Action::Help,
    Action::Palette,
    Action::Quit,
    Action::Suspend,
    Action::ShowGateways,
    Action::ShowTraffic,
    Action::ShowTrace,
    Action::ShowRsync,
];

/// The built-in keys of the rsync screen.
pub(super) fn keymap() -> Vec<Binding> {
    use super::{CTRL, NONE, bind};
    use KeyCode::{Char, Down, Enter, PageDown, PageUp, Tab, Up};
    use RsyncAction::*;
    let r =
        |code, mods, action, help| bind(code, mods, Action::Rsync(action), Context::Rsync, help);
    vec![
        r(Enter, NONE, Start, "start the job of the form"),
        r(Char('x'), CTRL, Cancel, "cancel the running job"),
        r(Down, NONE, NextRow, "next row of the form"),
        r(Up, NONE, PrevRow, "previous row of the form"),
        r(
            Char(' '),
            NONE,
            Toggle,
            "check a target or an option (on text rows: a space)",
        ),
        r(Tab, NONE, Complete, "complete the source directory"),
        r(PageDown, NONE, NextJob, "show the next job"),
        r(PageUp, NONE, PrevJob, "show the previous job"),
    ]
}

/// Handles `key` (no dialog open): the action it is bound to, if any; else
/// a printable key or Backspace edits the text row with the cursor. On a
/// text row, plain characters type (so Space types a space there).
pub fn on_key(state: &mut State, keymap: &[Binding], key: KeyEvent) -> Option<Action> {
    let live = live_ids(&state.gateways);
    let row = state.rsync.form.row(&live);
    let typing = row.is_text()
        && matches!(key.code, KeyCode::Char(_))
        && (key.modifiers - KeyModifiers::SHIFT).is_empty();
    if !typing {
        if let Some(action) = lookup_in(keymap, &key, &[Context::Rsync]) {
            return Some(action);
        }
        if let Some(action) = lookup_in(keymap, &key, &[Context::Global])
            && GLOBAL.contains(&action)
        {
            return Some(action);
        }
    }
    if let Some(text) = state.rsync.form.text_mut(&row) {
        match key.code {
            KeyCode::Char(c) if typing => text.push(c),
            KeyCode::Backspace => {
                text.pop();
            }
            _ => {}
        }
    }
    None
}

/// Pasted text goes into the text row with the cursor (one line).
pub fn on_paste(state: &mut State, text: &str) {
    let live = live_ids(&state.gateways);
    let row = state.rsync.form.row(&live);
    if let Some(field) = state.rsync.form.text_mut(&row) {
        field.push_str(text.trim_end_matches(['\r', '\n']));
    }
}

/// Changes the form for `action`; returns `true` when the app must act
/// (start or cancel a job).
pub fn on_action(state: &mut State, action: RsyncAction) -> bool {
    let live = live_ids(&state.gateways);
    let rs = &mut state.rsync;
    match action {
        RsyncAction::NextRow => rs.form.move_cursor(1, &live),
        RsyncAction::PrevRow => rs.form.move_cursor(-1, &live),
        RsyncAction::Toggle => {
            let row = rs.form.row(&live);
            rs.form.toggle(&row);
        }
        RsyncAction::Complete => {
            if let Some(done) = complete_path(&rs.form.source) {
                rs.form.source = done;
            }
        }
        RsyncAction::NextJob => rs.move_selection(1),
        RsyncAction::PrevJob => rs.move_selection(-1),
        RsyncAction::Start | RsyncAction::Cancel => return true,
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::input::{CTRL, NONE, default_keymap};
    use crate::tui::screen::Screen;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn text_rows_type_and_other_keys_act() {
        let keymap = default_keymap();
        let mut st = State::default();
        st.screen = Screen::Rsync;
        for c in "a b".chars() {
            assert_eq!(on_key(&mut st, &keymap, key(KeyCode::Char(c), NONE)), None);
        }
        assert_eq!(st.rsync.form.source, "a b");
        on_key(&mut st, &keymap, key(KeyCode::Backspace, NONE));
        assert_eq!(st.rsync.form.source, "a ");
        // Global keys of other screens do nothing here; some pass.
        assert_eq!(on_key(&mut st, &keymap, key(KeyCode::F(5), NONE)), None);
        assert_eq!(
            on_key(&mut st, &keymap, key(KeyCode::Char('q'), CTRL)),
            Some(Action::Quit)
        );
        assert_eq!(
            on_key(&mut st, &keymap, key(KeyCode::F(8), NONE)),
            Some(Action::ShowRsync)
        );
        assert_eq!(
            on_key(&mut st, &keymap, key(KeyCode::Tab, NONE)),
            Some(Action::Rsync(RsyncAction::Complete))
        );
        let down = on_key(&mut st, &keymap, key(KeyCode::Down, NONE));
        assert_eq!(down, Some(Action::Rsync(RsyncAction::NextRow)));
        assert!(!on_action(&mut st, RsyncAction::NextRow));
        // The dest row (no live gateway): typing goes there.
        on_key(&mut st, &keymap, key(KeyCode::Char('d'), NONE));
        assert_eq!(st.rsync.form.dest, "d");
        on_paste(&mut st, "/x\n");
        assert_eq!(st.rsync.form.dest, "d/x");
        // A toggle row: Space toggles.
        on_action(&mut st, RsyncAction::NextRow);
        on_action(&mut st, RsyncAction::NextRow);
        let space = on_key(&mut st, &keymap, key(KeyCode::Char(' '), NONE));
        assert_eq!(space, Some(Action::Rsync(RsyncAction::Toggle)));
        assert!(!on_action(&mut st, RsyncAction::Toggle));
        assert!(st.rsync.form.delete);
        assert!(on_action(&mut st, RsyncAction::Start));
        assert!(on_action(&mut st, RsyncAction::Cancel));
    }

    #[test]
    fn the_readme_names_every_rsync_action() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        for a in RsyncAction::ALL {
            assert!(
                readme.contains(&format!("`{}`", a.name())),
                "README.md lacks {}",
                a.name()
            );
        }
    }
}
