//! The value of an `ssh=` spec key, read as OpenSSH reads its command line:
//! options first (`-p 2222`, `-l user`, `-o Port=2222`, ...), then the
//! destination `[user@]host`, `[user@]host:port`-free, or `ssh://[user@]host[:port]`.

/// Options of OpenSSH's `ssh` that take an argument (`man ssh`).
const OPTIONS_WITH_ARGUMENT: &str = "BbcDEeFIiJLlmOoPpQRSWw";

/// Where an `ssh=` spec connects to, as far as the spec itself says (an ssh
/// config file may still change the host name, user and port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The host as written (an alias a config file may resolve).
    pub host: String,
    /// `user@`, `-l USER` or `-o User=USER`, when given.
    pub user: Option<String>,
    /// `-p PORT`, `-o Port=PORT` or `ssh://host:PORT`, when given.
    pub port: Option<u16>,
    /// Every option as written, in order: (`p`, `2222`), (`o`, `Port=2222`), (`4`, ``).
    pub options: Vec<(char, String)>,
}

/// Reads an `ssh=` value. Fails with a message naming what is wrong: no
/// destination, an option without its argument, a port that is not a number.
pub fn parse_ssh_value(value: &str) -> Result<SshTarget, String> {
    let mut words = value.split_whitespace();
    let mut options: Vec<(char, String)> = Vec::new();
    let mut destination = None;
    while let Some(word) = words.next() {
        let Some(flags) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
            destination = Some(word);
            break;
        };
        // Flags may be grouped (`-4v`); one that takes an argument ends the
        // group, its argument being the rest of the word or the next word.
        for (at, flag) in flags.char_indices() {
            if OPTIONS_WITH_ARGUMENT.contains(flag) {
                let rest = &flags[at + flag.len_utf8()..];
                let argument = if rest.is_empty() {
                    words
                        .next()
                        .ok_or_else(|| format!("ssh option -{flag} needs an argument"))?
                } else {
                    rest
                };
                options.push((flag, argument.to_owned()));
                break;
            }
            options.push((flag, String::new()));
        }
    }
    let destination = destination.ok_or("no host given after the ssh options")?;
    let (mut user, host, mut port) = split_destination(destination)?;
    for (flag, argument) in &options {
        match flag {
            'l' => user = user.or_else(|| Some(argument.clone())),
            'p' => port = port.or(Some(parse_port(argument)?)),
            'o' => {
                let (key, val) = argument
                    .split_once(['=', ' '])
                    .map(|(k, v)| (k.trim(), v.trim()))
                    .unwrap_or((argument.as_str(), ""));
                if key.eq_ignore_ascii_case("user") {
                    user = user.or_else(|| Some(val.to_owned()));
                } else if key.eq_ignore_ascii_case("port") {
                    port = port.or(Some(parse_port(val)?));
                }
            }
            _ => {}
        }
    }
    Ok(SshTarget {
        host,
        user,
        port,
        options,
    })
}

/// `[user@]host` or `ssh://[user@]host[:port]`.
fn split_destination(text: &str) -> Result<(Option<String>, String, Option<u16>), String> {
    let (uri, rest) = match text.strip_prefix("ssh://") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((user, host)) if !user.is_empty() => (Some(user.to_owned()), host),
        Some(_) => return Err(format!("empty user name in {text:?}")),
        None => (None, rest),
    };
    let (host, port) = if uri {
        match hostport.strip_prefix('[').and_then(|h| h.split_once(']')) {
            Some((host, tail)) => match tail.strip_prefix(':') {
                Some(port) => (host, Some(parse_port(port)?)),
                None => (host, None),
            },
            None => match hostport.rsplit_once(':') {
                Some((host, port)) => (host, Some(parse_port(port)?)),
                None => (hostport, None),
            },
        }
    } else {
        (hostport, None)
    };
    if host.is_empty() {
        return Err(format!("no host name in {text:?}"));
    }
    Ok((user, host.to_owned(), port))
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("bad ssh port {text:?}: expected a number from 1 to 65535"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_user_and_port_from_every_place_openssh_takes_them() {
        let t = parse_ssh_value("-p 2222 alice@example.org").unwrap();
        assert_eq!(
            (t.host.as_str(), t.user.as_deref(), t.port),
            ("example.org", Some("alice"), Some(2222))
        );
        let t = parse_ssh_value("-l bob -o Port=2200 -4 myhost").unwrap();
        assert_eq!(
            (t.host.as_str(), t.user.as_deref(), t.port),
            ("myhost", Some("bob"), Some(2200))
        );
        assert_eq!(t.options[2], ('4', String::new()));
        let t = parse_ssh_value("-p2201 -i key ssh://carol@[::1]:2202").unwrap();
        // The destination's port wins over -p, as in OpenSSH.
        assert_eq!(
            (t.host.as_str(), t.user.as_deref(), t.port),
            ("::1", Some("carol"), Some(2202))
        );
        let t = parse_ssh_value("-vp 7 h").unwrap();
        assert_eq!(t.options, vec![('v', String::new()), ('p', "7".into())]);
        assert_eq!(parse_ssh_value("host").unwrap().port, None);
    }

    #[test]
    fn mistakes_are_named() {
        assert!(
            parse_ssh_value("-p")
                .unwrap_err()
                .contains("-p needs an argument")
        );
        assert!(parse_ssh_value("-p 22").unwrap_err().contains("no host"));
        assert!(
            parse_ssh_value("-p x h")
                .unwrap_err()
                .contains("bad ssh port \"x\"")
        );
        assert!(parse_ssh_value("@h").unwrap_err().contains("empty user"));
    }
}
