//! The command palette (`:` or Ctrl-P): every action by name, plus commands
//! that take an argument. Completion and parsing are pure functions.

use std::path::PathBuf;

use super::input::Action;

/// A palette command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// One of the keymap's actions.
    Action(Action),
    /// Switch to a theme.
    Theme(String),
    /// Open a file in a new pane.
    Open(PathBuf),
    /// Save the active pane to a file.
    Save(PathBuf),
    /// Start every gateway of a group from the config.
    Group(String),
}

/// One line of the palette's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The command word.
    pub name: &'static str,
    /// What the argument is, if it takes one.
    pub arg: Option<&'static str>,
    /// What it does.
    pub describe: &'static str,
}

/// Every command the palette knows.
pub fn entries() -> Vec<Entry> {
    let mut list: Vec<Entry> = Action::ALL
        .iter()
        .map(|a| Entry {
            name: a.name(),
            arg: None,
            describe: a.describe(),
        })
        .collect();
    list.extend([
        Entry {
            name: "theme",
            arg: Some("NAME"),
            describe: "switch the colour theme (default, light, high-contrast, or your own)",
        },
        Entry {
            name: "open",
            arg: Some("PATH"),
            describe: "open a Python file in a new pane",
        },
        Entry {
            name: "save",
            arg: Some("PATH"),
            describe: "save the active pane to a file",
        },
        Entry {
            name: "group",
            arg: Some("NAME"),
            describe: "start every gateway of a group from config.toml",
        },
    ]);
    list
}

/// The entries matching what was typed: by the first word, prefixes first,
/// then names that contain it.
pub fn matches(input: &str) -> Vec<Entry> {
    let word = input.split_whitespace().next().unwrap_or("");
    let all = entries();
    let mut out: Vec<Entry> = all
        .iter()
        .filter(|e| e.name.starts_with(word))
        .cloned()
        .collect();
    out.extend(
        all.into_iter()
            .filter(|e| !e.name.starts_with(word) && e.name.contains(word)),
    );
    out
}

/// Parses a complete command line such as `theme light` or `run`.
pub fn parse(input: &str) -> Result<Command, String> {
    let input = input.trim();
    let (word, rest) = match input.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (input, ""),
    };
    let need_arg = |what: &str| {
        if rest.is_empty() {
            Err(format!("{word} needs {what}"))
        } else {
            Ok(rest.to_owned())
        }
    };
    match word {
        "theme" => need_arg("a theme name").map(Command::Theme),
        "open" => need_arg("a file path").map(|p| Command::Open(PathBuf::from(p))),
        "save" => need_arg("a file path").map(|p| Command::Save(PathBuf::from(p))),
        "group" => need_arg("a group name").map(Command::Group),
        _ => match Action::ALL.iter().find(|a| a.name() == word) {
            Some(a) if rest.is_empty() => Ok(Command::Action(*a)),
            Some(_) => Err(format!("{word} takes no argument")),
            None => Err(format!("no command {word:?} (Tab completes)")),
        },
    }
}

/// What Tab makes of the input: the first match's name (and a space when it
/// takes an argument).
pub fn complete(input: &str) -> Option<String> {
    let first = matches(input).into_iter().next()?;
    Some(match first.arg {
        Some(_) => format!("{} ", first.name),
        None => first.name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_reachable_by_name() {
        for a in Action::ALL {
            assert_eq!(parse(a.name()), Ok(Command::Action(a)));
        }
    }

    #[test]
    fn commands_with_arguments() {
        assert_eq!(parse("theme light"), Ok(Command::Theme("light".into())));
        assert_eq!(parse("group lab"), Ok(Command::Group("lab".into())));
        assert_eq!(
            parse("  save  /tmp/x.py "),
            Ok(Command::Save("/tmp/x.py".into()))
        );
        assert!(parse("open").unwrap_err().contains("needs a file path"));
        assert!(parse("run now").unwrap_err().contains("takes no argument"));
        assert!(parse("frobnicate").unwrap_err().contains("no command"));
    }

    #[test]
    fn completion_prefers_prefixes() {
        assert_eq!(complete("th"), Some("theme ".into()));
        assert_eq!(complete("run-"), Some("run-all".into()));
        assert!(matches("gateway").iter().any(|e| e.name == "add-gateway"));
        assert!(matches("zzz").is_empty());
        assert_eq!(matches("").len(), entries().len());
    }
}
