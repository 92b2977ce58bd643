//! OpenSSH client config files (`~/.ssh/config`, `ssh_config=PATH`, `-F`):
//! which directives apply to a host, read as `ssh_config(5)` says. No I/O:
//! the caller reads the file.
//!
//! `Host` sections with `*` and `?` wildcards and `!` negations, and
//! directives before the first `Host` (they apply to every host), are
//! understood. `Match` sections and `Include` lines are not: they are
//! reported in [`ConfigMatch::skipped`], and a `Match` section's directives
//! are left out.

/// The directives of a config file that apply to one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigMatch {
    /// Each directive that applies, in file order, as (keyword as written,
    /// value with surrounding double quotes removed). A keyword may repeat:
    /// the first value counts, except for those that accumulate
    /// (`IdentityFile`), as in OpenSSH.
    pub directives: Vec<(String, String)>,
    /// Lines that were not understood and so not applied (`Match …`,
    /// `Include …`), with their line numbers.
    pub skipped: Vec<String>,
}

/// Reads config `text` for `host` (the host as written in the spec: an
/// alias that `HostName` may replace).
pub fn ssh_config_for(text: &str, host: &str) -> ConfigMatch {
    let mut out = ConfigMatch::default();
    // Before the first Host line every directive applies.
    let mut applies = true;
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keyword, value) = split_directive(line);
        match keyword.to_ascii_lowercase().as_str() {
            "host" => applies = host_matches(value, host),
            "match" => {
                applies = false;
                out.skipped.push(format!("line {}: {line}", number + 1));
            }
            "include" => out.skipped.push(format!("line {}: {line}", number + 1)),
            _ if applies => out
                .directives
                .push((keyword.to_owned(), unquote(value).to_owned())),
            _ => {}
        }
    }
    out
}

/// `Keyword value`, `Keyword=value` or `Keyword = value`.
fn split_directive(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    (keyword, rest)
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Whether a `Host` line's patterns select `host`: one pattern matches and
/// no negated one does.
fn host_matches(patterns: &str, host: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split_whitespace().map(unquote) {
        match pattern.strip_prefix('!') {
            Some(negated) if wildcard(negated, host) => return false,
            Some(_) => {}
            None => matched |= wildcard(pattern, host),
        }
    }
    matched
}

/// `*` (any run) and `?` (any one character) matching, ASCII case-insensitive.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# global
ConnectTimeout 9

Host box box.lan
    HostName 10.0.0.5
    User = alice
    Port=2200
    IdentityFile \"~/.ssh/box key\"

Host *.lan !secret.lan
    User bob
    IdentityFile ~/.ssh/lan

Match user root
    Port 1

Host *
    User fallback
Include other.conf
";

    fn pairs(m: &ConfigMatch) -> Vec<(&str, &str)> {
        m.directives
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn sections_apply_in_file_order() {
        let m = ssh_config_for(CONFIG, "box");
        assert_eq!(
            pairs(&m),
            vec![
                ("ConnectTimeout", "9"),
                ("HostName", "10.0.0.5"),
                ("User", "alice"),
                ("Port", "2200"),
                ("IdentityFile", "~/.ssh/box key"),
                ("User", "fallback"),
            ]
        );
        assert_eq!(
            m.skipped,
            vec!["line 14: Match user root", "line 19: Include other.conf"]
        );
        let m = ssh_config_for(CONFIG, "web.LAN");
        assert_eq!(m.directives[1], ("User".into(), "bob".into()));
        let m = ssh_config_for(CONFIG, "secret.lan");
        assert_eq!(
            pairs(&m),
            vec![("ConnectTimeout", "9"), ("User", "fallback")]
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", ""));
        assert!(wildcard("a*c", "abbbc"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "ac"));
        assert!(wildcard("*.example.*", "www.example.org"));
        assert!(!wildcard("*.example", "example"));
        assert!(host_matches("a b !c*", "b"));
        assert!(!host_matches("* !c*", "cat"));
        assert!(!host_matches("!c", "d"));
    }
}
