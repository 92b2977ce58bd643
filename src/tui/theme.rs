//! Colour themes: `themes/*.toml` shipped in the binary, plus the user's own
//! from the config directory. `NO_COLOR` turns every colour off.

use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The themes built into the binary, by name.
pub const BUILTIN: [(&str, &str); 3] = [
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// A theme file's contents: each field a colour name, `#rrggbb` or `reset`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    fg: String,
    bg: String,
    border: String,
    border_focus: String,
    title: String,
    selected_bg: String,
    dim: String,
    live: String,
    starting: String,
    failed: String,
    exited: String,
    item: String,
    stdout: String,
    stderr: String,
    error: String,
    flash: String,
    key: String,
    /// Python syntax colours; optional so older user themes keep working.
    #[serde(default)]
    syntax: SyntaxColours,
}

/// Colours of the editor's Python syntax classes.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SyntaxColours {
    keyword: String,
    builtin: String,
    string: String,
    comment: String,
    number: String,
    def: String,
}

impl Default for SyntaxColours {
    fn default() -> Self {
        SyntaxColours {
            keyword: "magenta".into(),
            builtin: "yellow".into(),
            string: "green".into(),
            comment: "darkgray".into(),
            number: "cyan".into(),
            def: "blue".into(),
        }
    }
}

/// Resolved styles for every part of the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The theme's name.
    pub name: String,
    /// Ordinary text and background.
    pub base: Style,
    /// Pane borders.
    pub border: Style,
    /// The border of the focused pane.
    pub border_focus: Style,
    /// Pane titles.
    pub title: Style,
    /// The selected row.
    pub selected: Style,
    /// Secondary text.
    pub dim: Style,
    /// A live gateway.
    pub live: Style,
    /// A gateway that is starting.
    pub starting: Style,
    /// A gateway that failed.
    pub failed: Style,
    /// A gateway that has exited.
    pub exited: Style,
    /// Items a run sent.
    pub item: Style,
    /// What a run printed on stdout.
    pub stdout: Style,
    /// What a run printed on stderr.
    pub stderr: Style,
    /// Tracebacks and errors.
    pub error: Style,
    /// Flash messages.
    pub flash: Style,
    /// Key names in hints and help.
    pub key: Style,
    /// Python keywords in the editor.
    pub keyword: Style,
    /// Builtins (`True`, `None`, `print`, …) in the editor.
    pub builtin: Style,
    /// String literals in the editor.
    pub string: Style,
    /// Comments in the editor.
    pub comment: Style,
    /// Numbers in the editor.
    pub number: Style,
    /// Names being defined and decorators in the editor.
    pub def: Style,
}

/// A theme that cannot be used, naming the file or theme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("theme {source_name}: {message}")]
pub struct ThemeError {
    /// The theme name or file.
    pub source_name: String,
    /// What is wrong (with the line for TOML errors).
    pub message: String,
}

fn color(source: &str, field: &str, text: &str) -> Result<Color, ThemeError> {
    Color::from_str(text).map_err(|_| ThemeError {
        source_name: source.to_owned(),
        message: format!("{field} = {text:?} is not a colour (a name, #rrggbb or reset)"),
    })
}

impl Theme {
    /// Parses theme TOML; `source` names it in errors.
    pub fn parse(source: &str, text: &str, no_color: bool) -> Result<Theme, ThemeError> {
        let f: ThemeFile = toml::from_str(text).map_err(|e| ThemeError {
            source_name: source.to_owned(),
            message: e.to_string(),
        })?;
        let c = |field: &str, value: &str| -> Result<Style, ThemeError> {
            if no_color {
                return Ok(Style::default());
            }
            Ok(Style::default().fg(color(source, field, value)?))
        };
        let base = if no_color {
            Style::default()
        } else {
            Style::default()
                .fg(color(source, "fg", &f.fg)?)
                .bg(color(source, "bg", &f.bg)?)
        };
        let selected = if no_color {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().bg(color(source, "selected_bg", &f.selected_bg)?)
        };
        Ok(Theme {
            name: f.name.clone(),
            base,
            border: c("border", &f.border)?,
            border_focus: c("border_focus", &f.border_focus)?.add_modifier(Modifier::BOLD),
            title: c("title", &f.title)?.add_modifier(Modifier::BOLD),
            selected,
            dim: c("dim", &f.dim)?,
            live: c("live", &f.live)?,
            starting: c("starting", &f.starting)?,
            failed: c("failed", &f.failed)?,
            exited: c("exited", &f.exited)?,
            item: c("item", &f.item)?,
            stdout: c("stdout", &f.stdout)?,
            stderr: c("stderr", &f.stderr)?,
            error: c("error", &f.error)?.add_modifier(Modifier::BOLD),
            flash: c("flash", &f.flash)?,
            key: c("key", &f.key)?.add_modifier(Modifier::BOLD),
            keyword: c("syntax.keyword", &f.syntax.keyword)?.add_modifier(Modifier::BOLD),
            builtin: c("syntax.builtin", &f.syntax.builtin)?,
            string: c("syntax.string", &f.syntax.string)?,
            comment: c("syntax.comment", &f.syntax.comment)?.add_modifier(Modifier::ITALIC),
            number: c("syntax.number", &f.syntax.number)?,
            def: c("syntax.def", &f.syntax.def)?,
        })
    }

    /// The theme called `name`: a `<name>.toml` in `user_dir` first, then the
    /// built-in ones.
    pub fn load(name: &str, user_dir: Option<&Path>, no_color: bool) -> Result<Theme, ThemeError> {
        if let Some(dir) = user_dir {
            let path = dir.join(format!("{name}.toml"));
            if let Ok(text) = std::fs::read_to_string(&path) {
                return Theme::parse(&path.display().to_string(), &text, no_color);
            }
        }
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Theme::parse(n, text, no_color),
            None => Err(ThemeError {
                source_name: name.to_owned(),
                message: format!(
                    "no such theme (built in: {}; or put {name}.toml in the themes directory)",
                    BUILTIN.map(|(n, _)| n).join(", ")
                ),
            }),
        }
    }

    /// The built-in default theme (never fails: it is tested).
    pub fn fallback(no_color: bool) -> Theme {
        Theme::parse("default", BUILTIN[0].1, no_color).unwrap_or_else(|_| Theme {
            name: "plain".into(),
            base: Style::default(),
            border: Style::default(),
            border_focus: Style::default().add_modifier(Modifier::BOLD),
            title: Style::default().add_modifier(Modifier::BOLD),
            selected: Style::default().add_modifier(Modifier::REVERSED),
            dim: Style::default(),
            live: Style::default(),
            starting: Style::default(),
            failed: Style::default(),
            exited: Style::default(),
            item: Style::default(),
            stdout: Style::default(),
            stderr: Style::default(),
            error: Style::default().add_modifier(Modifier::BOLD),
            flash: Style::default(),
            key: Style::default().add_modifier(Modifier::BOLD),
            keyword: Style::default().add_modifier(Modifier::BOLD),
            builtin: Style::default(),
            string: Style::default(),
            comment: Style::default().add_modifier(Modifier::ITALIC),
            number: Style::default(),
            def: Style::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses() {
        for (name, text) in BUILTIN {
            let theme = Theme::parse(name, text, false).unwrap();
            assert_eq!(theme.name, name);
        }
    }

    #[test]
    fn no_color_has_no_colours() {
        let theme = Theme::load("default", None, true).unwrap();
        assert_eq!(theme.live, Style::default());
        assert_eq!(theme.base, Style::default());
    }

    #[test]
    fn bad_themes_name_the_problem() {
        let err = Theme::parse("mine.toml", "name = 'x'\n", false).unwrap_err();
        assert!(err.to_string().contains("mine.toml"), "{err}");
        let text = BUILTIN[0].1.replace("\"green\"", "\"greenish\"");
        let err = Theme::parse("mine.toml", &text, false).unwrap_err();
        assert!(err.to_string().contains("live = \"greenish\""), "{err}");
        assert!(
            Theme::load("nope", None, false)
                .unwrap_err()
                .to_string()
                .contains("built in")
        );
    }

    #[test]
    fn user_themes_come_first() {
        let dir = tempfile::tempdir().unwrap();
        let text = BUILTIN[0]
            .1
            .replace("name = \"default\"", "name = \"mine\"");
        std::fs::write(dir.path().join("default.toml"), text).unwrap();
        assert_eq!(
            Theme::load("default", Some(dir.path()), false)
                .unwrap()
                .name,
            "mine"
        );
    }
}
