//! Unit tests of the ssh transport.

use std::path::{Path, PathBuf};

use crate::transport::RemoteProcess;

use super::*;

#[test]
fn settings_read_openssh_options() {
    let home = Path::new("/home/ann");
    let none = ConfigMatch::default();
    let s = settings(
        "-p 2222 -i ~/k1 -o IdentityFile=/k2 -o UserKnownHostsFile=~/kh \
         -o StrictHostKeyChecking=accept-new -o ConnectTimeout=7 bob@h",
        &none,
        Some(home),
        "ann",
    )
    .unwrap();
    assert_eq!(
        s.at,
        SshAt {
            user: "bob".into(),
            host: "h".into(),
            port: 2222
        }
    );
    assert_eq!(s.at.to_string(), "bob@h:2222");
    assert_eq!(
        s.identity_files,
        vec![PathBuf::from("/home/ann/k1"), PathBuf::from("/k2")]
    );
    assert_eq!(s.known_hosts, PathBuf::from("/home/ann/kh"));
    assert_eq!(s.policy, HostKeyPolicy::AcceptNew);
    assert_eq!(s.connect_timeout, Some(Duration::from_secs(7)));
    assert_eq!(s.agent, AgentChoice::Env);
    assert_eq!(s.alive_interval, Some(DEFAULT_ALIVE_INTERVAL));
    let alive = |v: &str| {
        let s = settings(v, &none, Some(home), "ann").unwrap();
        (s.alive_interval, s.alive_count)
    };
    assert_eq!(
        alive("-o ServerAliveInterval=5 -o ServerAliveCountMax=2 h"),
        (Some(Duration::from_secs(5)), 2)
    );
    assert_eq!(alive("-o ServerAliveInterval=0 h").0, None);
    assert!(s.unsupported.is_empty());
    let agent = |v: &str| settings(v, &none, Some(home), "ann").unwrap().agent;
    assert_eq!(agent("-o IdentityAgent=none h"), AgentChoice::Off);
    assert_eq!(
        agent("-o IdentityAgent=~/a.sock -o IdentityAgent=none h"),
        AgentChoice::Socket(PathBuf::from("/home/ann/a.sock"))
    );
    assert_eq!(agent("-o IdentityAgent=SSH_AUTH_SOCK h"), AgentChoice::Env);
}

#[test]
fn defaults_and_unsupported_options() {
    let s = settings(
        "-4 -o ForwardAgent=yes -T h",
        &ConfigMatch::default(),
        Some(Path::new("/r")),
        "root",
    )
    .unwrap();
    assert_eq!(s.at.to_string(), "root@h:22");
    assert_eq!(s.known_hosts, PathBuf::from("/r/.ssh/known_hosts"));
    assert_eq!(s.policy, HostKeyPolicy::Strict);
    assert_eq!(s.unsupported, vec!["-4", "-o ForwardAgent=yes"]);
    let s = settings(
        "-o StrictHostKeyChecking=no ::1",
        &ConfigMatch::default(),
        Some(Path::new("/r")),
        "u",
    )
    .unwrap();
    assert_eq!(s.policy, HostKeyPolicy::AcceptNew);
    assert_eq!(s.notes.len(), 1);
    assert_eq!(s.at.to_string(), "u@[::1]:22");
}

#[test]
fn a_config_file_fills_in_what_the_command_line_leaves_open() {
    let config = ssh_config_for(
        "Host box\n HostName 10.1.2.3\n User alice\n Port 2200\n IdentityFile ~/box\n \
         UserKnownHostsFile ~/kh\n ConnectTimeout 4\n ProxyJump gw\nMatch all\n",
        "box",
    );
    let home = Path::new("/h");
    let s = settings("-i /cli -o ConnectTimeout=2 box", &config, Some(home), "me").unwrap();
    assert_eq!(s.at.to_string(), "alice@10.1.2.3:2200");
    assert_eq!(
        s.identity_files,
        vec![PathBuf::from("/cli"), PathBuf::from("/h/box")]
    );
    assert_eq!(s.known_hosts, PathBuf::from("/h/kh"));
    assert_eq!(s.connect_timeout, Some(Duration::from_secs(2)));
    assert_eq!(
        s.unsupported,
        vec!["config file line 9: Match all".to_owned()]
    );
    assert_eq!(
        s.jump,
        vec![JumpHop {
            user: None,
            host: "gw".into(),
            port: None
        }]
    );
    // The command line wins.
    let s = settings("-p 22 -l bob box", &config, Some(home), "me").unwrap();
    assert_eq!(s.at.to_string(), "bob@10.1.2.3:22");
}

#[test]
fn which_config_file() {
    let home = Some(Path::new("/h"));
    assert_eq!(
        config_file("h", None, home),
        Some((PathBuf::from("/h/.ssh/config"), false))
    );
    assert_eq!(
        config_file("h", Some("~/c"), home),
        Some((PathBuf::from("/h/c"), true))
    );
    assert_eq!(
        config_file("-F /f h", Some("/c"), home),
        Some((PathBuf::from("/f"), true))
    );
    assert_eq!(config_file("-F none h", None, home), None);
    assert_eq!(config_file("h", None, None), None);
}

#[test]
fn stderr_bytes_become_lines() {
    let process = RemoteProcess::new(None);
    let mut lines = StderrLines::default();
    lines.push(b"one\ntw", &process);
    lines.push(b"o\r\nthree", &process);
    lines.push(&vec![b'x'; STDERR_LINE_LIMIT + 1], &process);
    lines.finish(&process);
    let tail = process.stderr_tail(10);
    assert_eq!(&tail[..2], ["one", "two"]);
    assert_eq!(tail[2].len(), STDERR_LINE_LIMIT);
    assert!(tail[2].starts_with("threex"));
    assert_eq!(tail[3], "xxxxxx");
    assert_eq!(tail.len(), 4);
}

#[test]
fn changed_key_lines_count_comments_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kh");
    std::fs::write(&file, "# one\na k1\n# three\n\nb k2\n").unwrap();
    // russh's entries: "a k1" is 1, the blank line 2, "b k2" 3.
    assert_eq!(physical_line(&file, 1), 2);
    assert_eq!(physical_line(&file, 3), 5);
    assert_eq!(physical_line(&dir.path().join("none"), 4), 4);
}

#[test]
fn bad_option_values_are_named() {
    let none = ConfigMatch::default();
    let e = settings("-o ConnectTimeout=soon h", &none, None, "u").unwrap_err();
    assert!(e.contains("ConnectTimeout=soon"), "{e}");
    let e = settings("-o StrictHostKeyChecking=maybe h", &none, None, "u").unwrap_err();
    assert!(e.contains("StrictHostKeyChecking=maybe"), "{e}");
    let e = settings("h", &none, None, "u").unwrap_err();
    assert!(e.contains("UserKnownHostsFile"), "{e}");
}

#[test]
fn jump_hosts_are_read_from_j_and_proxy_jump() {
    let hops = parse_jump("a@gw1:2201,ssh://b@gw2,[::1]:2203,gw4").unwrap();
    let shown: Vec<(Option<&str>, &str, Option<u16>)> = hops
        .iter()
        .map(|h| (h.user.as_deref(), h.host.as_str(), h.port))
        .collect();
    assert_eq!(
        shown,
        [
            (Some("a"), "gw1", Some(2201)),
            (Some("b"), "gw2", None),
            (None, "::1", Some(2203)),
            (None, "gw4", None)
        ]
    );
    assert_eq!(parse_jump("none").unwrap(), Vec::new());
    assert!(parse_jump("gw:0").unwrap_err().contains("gw:0"));
    assert!(parse_jump("gw,").unwrap_err().contains("no host"));

    let none = ConfigMatch::default();
    let home = Some(Path::new("/h"));
    // -J comes before -o ProxyJump; the first one counts.
    let s = settings("-J j1 -o ProxyJump=j2 h", &none, home, "u").unwrap();
    assert_eq!(s.jump[0].host, "j1");
    assert!(s.unsupported.is_empty(), "{:?}", s.unsupported);
    let s = settings("-o ProxyJump=none h", &none, home, "u").unwrap();
    assert!(s.jump.is_empty());
    assert!(settings("-o BatchMode=maybe h", &none, home, "u").is_err());
    let s = settings(
        "-o BatchMode=yes -o PasswordAuthentication=no h",
        &none,
        home,
        "u",
    )
    .unwrap();
    assert!(!s.prompts && !s.password_auth);
}

#[test]
fn a_jump_host_keeps_the_identity_settings_but_not_the_destination() {
    let target = parse_ssh_value(
        "-p 2222 -l bob -i /k -J gw -o UserKnownHostsFile=/kh -o Port=2 -o ProxyJump=x \
         -o HostName=y -4 box",
    )
    .unwrap();
    let hop = parse_jump("carol@gw:2200").unwrap().remove(0);
    let s = settings_for(
        hop.target(&target.options),
        &ConfigMatch::default(),
        Some(Path::new("/h")),
        "me",
    )
    .unwrap();
    assert_eq!(s.at.to_string(), "carol@gw:2200");
    assert_eq!(s.identity_files, vec![PathBuf::from("/k")]);
    assert_eq!(s.known_hosts, PathBuf::from("/kh"));
    assert!(s.jump.is_empty());
    // The hop's own config section adds to them.
    let config = ssh_config_for("Host gw\n IdentityFile /gwkey\n User dan\n", "gw");
    let hop = parse_jump("gw").unwrap().remove(0);
    let s = settings_for(hop.target(&target.options), &config, None, "me").unwrap();
    assert_eq!(s.at.to_string(), "dan@gw:22");
    assert_eq!(
        s.identity_files,
        vec![PathBuf::from("/k"), PathBuf::from("/gwkey")]
    );
}

/// Answers a passphrase after a while (a slow human).
struct Slow(Duration);

impl crate::transport::Prompter for Slow {
    fn passphrase<'a>(
        &'a self,
        _key: &'a Path,
        _at: &'a SshAt,
        _attempt: u32,
    ) -> crate::transport::prompt::Answer<'a> {
        Box::pin(async move {
            tokio::time::sleep(self.0).await;
            Some("p".into())
        })
    }

    fn password<'a>(
        &'a self,
        _at: &'a SshAt,
        _attempt: u32,
    ) -> crate::transport::prompt::Answer<'a> {
        Box::pin(std::future::ready(None))
    }
}

#[tokio::test]
async fn the_startup_timeout_stops_while_a_prompt_is_open() {
    let prompts = Prompts::new(Some(SharedPrompter::new(Slow(Duration::from_millis(600)))));
    let at = SshAt {
        user: "u".into(),
        host: "h".into(),
        port: 22,
    };
    let asker = prompts.prompter.clone().unwrap();
    let deadline = Instant::now() + Duration::from_millis(200);
    let answered = prompts
        .until(deadline, async {
            prompts.wait(asker.passphrase(Path::new("k"), &at, 1)).await
        })
        .await;
    assert_eq!(answered, Some(Some("p".to_owned())));
    assert!(prompts.paused().0 >= Duration::from_millis(600));
    // Without a prompt the deadline holds.
    let deadline = Instant::now() + Duration::from_millis(100);
    let late = prompts
        .until(deadline, tokio::time::sleep(Duration::from_secs(5)))
        .await;
    assert!(late.is_none());
}
