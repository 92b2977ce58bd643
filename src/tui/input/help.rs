//! The keymap as the help overlay and the README's table show it.

use super::{Action, Binding, Context, key_name};

/// The help rows: keys joined per action and context, in keymap order.
pub fn help_rows(keymap: &[Binding]) -> Vec<(String, &'static str, Context)> {
    let mut rows: Vec<(String, &'static str, Context, Action)> = Vec::new();
    for b in keymap {
        let name = key_name(b.code, b.mods);
        match rows
            .iter_mut()
            .find(|r| r.3 == b.action && r.2 == b.context)
        {
            Some(row) => row.0 = format!("{}, {name}", row.0),
            None => rows.push((name, b.help, b.context, b.action)),
        }
    }
    rows.into_iter().map(|(k, h, c, _)| (k, h, c)).collect()
}

/// The keys as a Markdown table (the README's copy is checked against it).
pub fn markdown_table(keymap: &[Binding]) -> String {
    // Rows alike in several contexts are one row naming them all.
    let mut rows: Vec<(String, Vec<&str>, &str)> = Vec::new();
    for (keys, help, context) in help_rows(keymap) {
        // Dialogs show their keys in their own hints.
        if let Context::Dialog(_) = context {
            continue;
        }
        match rows.iter_mut().find(|r| r.0 == keys && r.2 == help) {
            Some(row) => row.1.push(context.place()),
            None => rows.push((keys, vec![context.place()], help)),
        }
    }
    let mut out = String::from("| keys | where | what |\n|---|---|---|\n");
    for (keys, places, help) in rows {
        out.push_str(&format!(
            "| {} | {} | {help} |\n",
            keys.replace('|', "\\|"),
            places.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod readme_tests {
    use super::*;
    use crate::tui::input::{DialogAction, default_keymap};

    #[test]
    fn the_readme_lists_every_key() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let table = markdown_table(&default_keymap());
        assert!(
            readme.contains(&table),
            "README.md must contain this keys table:\n{table}"
        );
        for a in Action::ALL {
            assert!(
                readme.contains(&format!("`{}`", a.name())),
                "README.md lacks palette command {}",
                a.name()
            );
        }
        for a in DialogAction::ALL {
            assert!(
                readme.contains(&format!("`{}`", a.name())),
                "README.md lacks dialog action {}",
                a.name()
            );
        }
    }
}
