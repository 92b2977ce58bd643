//! ssh gateways (`ssh=…`) against a real OpenSSH server on 127.0.0.1
//! (`tests/common/sshd.rs`): key authentication, the worker over an exec
//! channel, its stderr, and each way a start can fail, every wait bounded.

mod common;

use std::time::{Duration, Instant};

use common::sshd::{Sshd, keygen, user};
use common::*;
use execdeck::engine::{Error, EventKind, Received};
use execdeck::transport::ConnectError;
use execdeck::wire::pyrepr::same_value;
use execdeck::{Group, Value};

const T: Option<Duration> = Some(Duration::from_secs(20));

/// The start error of `spec`, within 30 s.
async fn start_error(group: &Group, spec: &str) -> ConnectError {
    match within(30, group.makegateway(spec)).await {
        Err(Error::Connect(e)) => e,
        Err(other) => panic!("{spec}: expected a connect error, got {other}"),
        Ok(_) => panic!("{spec}: the gateway started"),
    }
}

#[tokio::test]
async fn key_auth_runs_code_and_moves_every_value() {
    let sshd = Sshd::start();
    let group = Group::new();
    let gw = within(30, group.makegateway(&sshd.spec("")))
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log_text()));
    let ch = gw
        .remote_exec(
            "while 1:\n    x = channel.receive()\n    if x == 'stop': break\n    channel.send(x)",
        )
        .await
        .unwrap();
    for v in corpus() {
        ch.send(v.clone()).await.unwrap();
        let back = ch.receive(T).await.unwrap();
        assert!(same_value(&v, &back), "{v:?} came back as {back:?}");
    }
    ch.send(s("stop")).await.unwrap();
    ch.wait_close(T).await.unwrap();

    // A remote error carries the remote traceback.
    let ch = gw
        .remote_exec("raise ValueError('over ssh')")
        .await
        .unwrap();
    match ch.wait_close(T).await {
        Err(Error::Remote(r)) => assert!(r.summary().contains("over ssh"), "{}", r.summary()),
        other => panic!("expected a remote error, got {other:?}"),
    }
    let status = gw.remote_status(T).await.unwrap();
    assert_eq!(status.numexecuting, 0, "{status:?}");
    assert_eq!(
        gw.worker().address(),
        Some(format!("{}@127.0.0.1:{}", user(), sshd.port).as_str())
    );
    group.terminate(Duration::from_secs(5)).await;
}
