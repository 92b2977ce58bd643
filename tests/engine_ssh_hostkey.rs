//! Unknown and changed ssh host keys put to the group's prompter, against a
//! real OpenSSH server on 127.0.0.1 (`tests/common/sshd.rs`): accept once,
//! accept and record, refuse; a changed key is only told about.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::sshd::{Sshd, user};
use common::*;
use execdeck::Group;
use execdeck::engine::{Error, GroupOptions};
use execdeck::transport::prompt::{Answer, Decision};
use execdeck::transport::{
    ConnectError, HostKeyDecision, HostKeyQuestion, Prompter, SharedPrompter, SshAt,
};

/// Answers host-key questions with `decision` and keeps what it was asked.
#[derive(Clone)]
struct Decider {
    decision: HostKeyDecision,
    asked: Arc<Mutex<Vec<HostKeyQuestion>>>,
    told: Arc<Mutex<Vec<HostKeyQuestion>>>,
}

impl Decider {
    fn new(decision: HostKeyDecision) -> Decider {
        Decider {
            decision,
            asked: Arc::default(),
            told: Arc::default(),
        }
    }

    fn asked(&self) -> Vec<HostKeyQuestion> {
        self.asked.lock().unwrap().clone()
    }
}

impl Prompter for Decider {
    fn passphrase<'a>(&'a self, _: &'a std::path::Path, _: &'a SshAt, _: u32) -> Answer<'a> {
        Box::pin(std::future::ready(None))
    }
    fn password<'a>(&'a self, _: &'a SshAt, _: u32) -> Answer<'a> {
        Box::pin(std::future::ready(None))
    }
    fn host_key<'a>(&'a self, question: &'a HostKeyQuestion) -> Decision<'a> {
        self.asked.lock().unwrap().push(question.clone());
        Box::pin(std::future::ready(self.decision))
    }
    fn host_key_changed(&self, question: &HostKeyQuestion) {
        self.told.lock().unwrap().push(question.clone());
    }
}

fn group_with(decider: &Decider) -> Group {
    Group::with_options(GroupOptions {
        prompter: Some(SharedPrompter::new(decider.clone())),
        ..GroupOptions::default()
    })
}

/// An ssh spec for `sshd` with its user key and `known_hosts`, plus `options`.
fn spec(sshd: &Sshd, known_hosts: &std::path::Path, options: &str) -> String {
    format!(
        "ssh=-p {} -i {} -o UserKnownHostsFile={} {options} -o IdentityAgent=none -F none \
         {}@127.0.0.1//python={}",
        sshd.port,
        sshd.user_key.display(),
        known_hosts.display(),
        user(),
        python()
    )
}

#[tokio::test]
async fn an_unknown_host_key_is_put_to_the_prompter() {
    let sshd = Sshd::start();
    let known_hosts = sshd.dir.path().join("fresh_known_hosts");
    let key_b64 = sshd.host_public_key.split_whitespace().nth(1).unwrap();

    // Refused: the start fails as without a prompter, nothing recorded.
    let refuse = Decider::new(HostKeyDecision::Refuse);
    let group = group_with(&refuse);
    match within(30, group.makegateway(&spec(&sshd, &known_hosts, ""))).await {
        Err(Error::Connect(ConnectError::SshHostKeyUnknown { fingerprint, .. })) => {
            let asked = refuse.asked();
            assert_eq!(asked.len(), 1, "{asked:?}");
            assert_eq!(asked[0].fingerprint, fingerprint);
            assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
            assert_eq!(asked[0].key_type, "ssh-ed25519");
            assert_eq!(asked[0].at.port, sshd.port);
            assert_eq!(asked[0].known_hosts, known_hosts);
            assert_eq!(asked[0].changed_line, None);
        }
        Err(e) => panic!("expected SshHostKeyUnknown, got {e}"),
        Ok(_) => panic!("a refused key let the gateway start"),
    }
    assert!(!known_hosts.exists());

    // Accepted once: it starts, nothing recorded, a warning says so.
    let once = Decider::new(HostKeyDecision::AcceptOnce);
    let group = group_with(&once);
    let gw = within(30, group.makegateway(&spec(&sshd, &known_hosts, "")))
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log_text()));
    assert_eq!(once.asked().len(), 1);
    assert!(
        gw.warnings()
            .iter()
            .any(|w| w.contains("for this connection only")),
        "{:?}",
        gw.warnings()
    );
    assert!(!known_hosts.exists(), "accept once records nothing");
    group.terminate(Duration::from_secs(5)).await;

    // Accepted and recorded: the next start is not asked.
    let record = Decider::new(HostKeyDecision::AcceptAndRecord);
    let group = group_with(&record);
    within(30, group.makegateway(&spec(&sshd, &known_hosts, "")))
        .await
        .unwrap();
    let recorded = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(recorded.contains(key_b64), "{recorded}");
    within(30, group.makegateway(&spec(&sshd, &known_hosts, "")))
        .await
        .unwrap();
    assert_eq!(record.asked().len(), 1, "a recorded key is not asked again");
    group.terminate(Duration::from_secs(5)).await;

    // BatchMode: nobody is asked.
    let batch = Decider::new(HostKeyDecision::AcceptOnce);
    let group = group_with(&batch);
    let fresh = sshd.dir.path().join("batch_known_hosts");
    let started = within(
        30,
        group.makegateway(&spec(&sshd, &fresh, "-o BatchMode=yes")),
    )
    .await;
    assert!(
        matches!(
            started,
            Err(Error::Connect(ConnectError::SshHostKeyUnknown { .. }))
        ),
        "{:?}",
        started.err().map(|e| e.to_string())
    );
    assert!(batch.asked().is_empty());
}

#[tokio::test]
async fn a_changed_host_key_is_told_and_refused() {
    let sshd = Sshd::start();
    let (known_hosts, other_key) = sshd.known_hosts_with_another_key("# a comment\n");
    let decider = Decider::new(HostKeyDecision::AcceptAndRecord);
    let group = group_with(&decider);
    match within(30, group.makegateway(&spec(&sshd, &known_hosts, ""))).await {
        Err(Error::Connect(ConnectError::SshHostKeyChanged { line, .. })) => assert_eq!(line, 2),
        Err(e) => panic!("expected SshHostKeyChanged, got {e}"),
        Ok(_) => panic!("a changed key let the gateway start"),
    }
    assert!(decider.asked().is_empty(), "a changed key is never asked");
    let told = decider.told.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].changed_line, Some(2));
    let kept = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(
        kept.contains(other_key.as_str())
            && !kept.contains(sshd.host_public_key.split_whitespace().nth(1).unwrap())
    );
}
