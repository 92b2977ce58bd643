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
        vec![
            "config file line 9: Match all".to_owned(),
            "ProxyJump gw (config file)".to_owned()
        ]
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
