//! `config.toml` in the platform's config directory: theme, refresh interval,
//! mouse, and the gateways to start. A broken file is reported (file and
//! line) and the defaults are used; it never stops the TUI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Settings from `config.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Theme name (built in, or `<name>.toml` in the themes directory).
    pub theme: String,
    /// How often live gateways are asked for their status, in milliseconds.
    pub refresh_ms: u64,
    /// Whether the mouse is captured (click to focus).
    pub mouse: bool,
    /// Specs of the gateways to start when none are given on the command line.
    pub gateways: Vec<String>,
    /// Key overrides: action name (as in the palette) → keys, e.g.
    /// `run = ["ctrl-g", "f5"]`.
    pub keys: std::collections::BTreeMap<String, Vec<String>>,
    /// Saved gateways: name → spec. A name can stand for its spec in
    /// `gateways`, in groups and in the add-gateway dialog.
    pub saved: Saved,
    /// Named groups: name → gateways (specs or saved names).
    pub groups: std::collections::BTreeMap<String, Vec<String>>,
    /// The group to start when no gateway is given on the command line
    /// (else `gateways`).
    pub default_group: Option<String>,
    /// Lines (items and printed output) kept per run; older ones are dropped.
    pub buffer_lines: usize,
    /// Stderr lines kept per gateway.
    pub stderr_lines: usize,
    /// Messages kept by the traffic inspector (and events by the trace
    /// view); older ones are dropped and counted.
    pub traffic_messages: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            theme: "default".into(),
            refresh_ms: 1000,
            mouse: true,
            gateways: vec!["popen".into()],
            keys: std::collections::BTreeMap::new(),
            saved: Saved::default(),
            groups: std::collections::BTreeMap::new(),
            default_group: None,
            buffer_lines: 5000,
            stderr_lines: 500,
            traffic_messages: crate::tui::state::traffic::DEFAULT_CAPACITY,
        }
    }
}

/// Saved gateways from the config (`[saved]`: name → spec): the one place
/// where a saved name is turned into its spec, for the command line, the
/// config's `gateways` and groups, and the add-gateway dialog alike.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Saved(std::collections::BTreeMap<String, String>);

impl Saved {
    /// The spec a saved name stands for, or `name_or_spec` itself.
    pub fn resolve(&self, name_or_spec: &str) -> String {
        self.0
            .get(name_or_spec)
            .cloned()
            .unwrap_or_else(|| name_or_spec.to_owned())
    }

    /// The saved names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[cfg(test)]
impl<const N: usize> From<[(&str, &str); N]> for Saved {
    fn from(pairs: [(&str, &str); N]) -> Saved {
        Saved(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

impl Config {
    /// The specs of group `name`, saved names resolved.
    pub fn group(&self, name: &str) -> Option<Vec<String>> {
        self.groups
            .get(name)
            .map(|members| members.iter().map(|m| self.saved.resolve(m)).collect())
    }

    /// The gateways to start when none are given: the default group's, else
    /// `gateways`; and a problem when the default group does not exist.
    pub fn startup_specs(&self) -> (Vec<String>, Option<String>) {
        let plain = || {
            self.gateways
                .iter()
                .map(|g| self.saved.resolve(g))
                .collect()
        };
        match &self.default_group {
            Some(name) => match self.group(name) {
                Some(specs) => (specs, None),
                None => (
                    plain(),
                    Some(format!("default_group {name:?} is not in [groups]")),
                ),
            },
            None => (plain(), None),
        }
    }

    /// The refresh interval (at least 100 ms).
    pub fn refresh(&self) -> Duration {
        Duration::from_millis(self.refresh_ms.max(100))
    }

    /// Parses config text; errors name `path` and the line.
    pub fn parse(path: &Path, text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .and_then(|s| text.get(..s.start))
                .map(|before| before.matches('\n').count() + 1);
            match line {
                Some(line) => format!("{}:{line}: {}", path.display(), e.message()),
                None => format!("{}: {}", path.display(), e.message()),
            }
        })
    }

    /// Loads `path` if it exists: the config and, when it was broken, why.
    pub fn load(path: &Path) -> (Config, Option<String>) {
        match std::fs::read_to_string(path) {
            Ok(text) => match Config::parse(path, &text) {
                Ok(config) => (config, None),
                Err(problem) => (Config::default(), Some(problem)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Config::default(), None),
            Err(e) => (Config::default(), Some(format!("{}: {e}", path.display()))),
        }
    }
}

/// Where execdeck keeps its files.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// The config directory (config.toml, themes/).
    pub config: PathBuf,
    /// The data directory (history, snippets).
    pub data: PathBuf,
}

impl Dirs {
    /// The platform's directories for execdeck, if a home directory is known.
    pub fn find() -> Option<Dirs> {
        let dirs = directories::ProjectDirs::from("", "", "execdeck")?;
        Some(Dirs {
            config: dirs.config_dir().to_path_buf(),
            data: dirs.data_dir().to_path_buf(),
        })
    }

    /// `config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    /// The user's themes.
    pub fn themes(&self) -> PathBuf {
        self.config.join("themes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_partial_files() {
        let c = Config::parse(Path::new("c.toml"), "theme = 'light'\n").unwrap();
        assert_eq!(c.theme, "light");
        assert_eq!(c.gateways, vec!["popen".to_string()]);
        assert_eq!(
            Config::parse(Path::new("c.toml"), "").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn saved_gateways_and_groups() {
        let text = "default_group = 'two'\ngateways = ['py']\n[saved]\npy = 'popen//python=python3'\n\
                    [groups]\ntwo = ['py', 'popen//id=x']\n";
        let c = Config::parse(Path::new("c.toml"), text).unwrap();
        assert_eq!(c.saved.resolve("py"), "popen//python=python3");
        assert_eq!(c.saved.resolve("popen"), "popen");
        let (specs, problem) = c.startup_specs();
        assert_eq!(
            specs,
            vec!["popen//python=python3".to_string(), "popen//id=x".into()]
        );
        assert_eq!(problem, None);
        let c = Config {
            default_group: Some("nope".into()),
            ..c
        };
        let (specs, problem) = c.startup_specs();
        assert_eq!(specs, vec!["popen//python=python3".to_string()]);
        assert!(problem.unwrap().contains("nope"));
    }

    #[test]
    fn key_overrides_parse() {
        let c = Config::parse(Path::new("c.toml"), "[keys]\nrun = ['ctrl-g', 'f5']\n").unwrap();
        assert_eq!(c.keys["run"], vec!["ctrl-g".to_string(), "f5".to_string()]);
    }

    #[test]
    fn broken_files_name_file_and_line() {
        let err = Config::parse(
            Path::new("/x/config.toml"),
            "theme = 'a'\nrefresh_ms = 'fast'\n",
        )
        .unwrap_err();
        assert!(err.starts_with("/x/config.toml:2:"), "{err}");
        let err = Config::parse(Path::new("c.toml"), "\n\ncolour = 1\n").unwrap_err();
        assert!(
            err.starts_with("c.toml:3:") && err.contains("colour"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[[[").unwrap();
        let (config, problem) = Config::load(&path);
        assert_eq!(config, Config::default());
        assert!(problem.unwrap().contains("config.toml:1"));
        assert_eq!(
            Config::load(&dir.path().join("missing.toml")),
            (Config::default(), None)
        );
    }
}
