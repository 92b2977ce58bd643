//! Gateways started through another gateway of the group (`via=GWID`, run
//! by `bootstrap/proxy.py` on the via gateway) and socket gateways whose
//! server is installed through one (`socket//installvia=GWID`).

mod common;

use std::time::{Duration, Instant};

use common::*;
use execdeck::engine::Error;
use execdeck::transport::ConnectError;
use execdeck::wire::pyrepr::same_value;
use execdeck::{Group, Value};

const T: Option<Duration> = Some(Duration::from_secs(20));

async fn pid_of(gw: &execdeck::Gateway) -> i64 {
    gw.rinfo(T).await.expect("rinfo").pid
}

async fn ppid_of(gw: &execdeck::Gateway) -> i64 {
    let ch = gw
        .remote_exec("import os; channel.send(os.getppid())")
        .await
        .unwrap();
    ch.receive(T).await.unwrap().as_i64().expect("an int")
}

#[tokio::test]
async fn proxied_worker_is_a_child_of_the_via_worker() {
    within(60, async {
        let group = Group::new();
        let gw0 = group.makegateway(&popen("")).await.unwrap();
        let gw1 = group.makegateway(&popen("//via=gw0")).await.unwrap();
        assert_eq!(gw1.id(), "gw1");
        let via_pid = pid_of(&gw0).await;
        assert_eq!(ppid_of(&gw1).await, via_pid);
        let pid = pid_of(&gw1).await;
        assert_ne!(pid, via_pid);
        assert_eq!(gw1.pid(), Some(pid as u32), "the proxy reports the pid");
        assert_eq!(gw1.address(), Some("via gw0"));
        group.terminate(Duration::from_secs(5)).await;
        assert!(
            wait_gone(pid as u32, 5).await,
            "proxied worker left running"
        );
        assert!(
            wait_gone(via_pid as u32, 5).await,
            "via worker left running"
        );
    })
    .await;
}

#[tokio::test]
async fn every_value_flows_both_ways_and_remote_errors_arrive() {
    within(90, async {
        let group = Group::new();
        group.makegateway(&popen("")).await.unwrap();
        let gw = group.makegateway(&popen("//via=gw0")).await.unwrap();
        let ch = gw
            .remote_exec("for item in channel:\n    channel.send(item)\n")
            .await
            .unwrap();
        for v in corpus() {
            ch.send(v.clone()).await.unwrap();
            let back = ch.receive(T).await.unwrap();
            assert!(same_value(&v, &back), "{v:?} came back as {back:?}");
        }
        // Bulk bytes in both directions, larger than the stream buffers.
        let big = Value::Bytes(vec![7u8; 3 << 20]);
        ch.send(big.clone()).await.unwrap();
        assert_eq!(ch.receive(T).await.unwrap(), big);

        let err = gw
            .remote_exec("def culprit():\n    raise ValueError('boom')\nculprit()\n")
            .await
            .unwrap()
            .receive(T)
            .await
            .unwrap_err();
        let remote = err.remote().unwrap_or_else(|| panic!("not remote: {err}"));
        assert!(remote.text.contains("ValueError: boom"), "{}", remote.text);
        assert!(remote.text.contains("culprit"), "{}", remote.text);

        let blocker = gw.remote_exec("channel.receive()").await.unwrap();
        let status = gw.remote_status(T).await.unwrap();
        assert!(status.numexecuting >= 1, "{status:?}");
        blocker.send(1).await.unwrap();
        blocker.wait_close(T).await.unwrap();
        group.terminate(Duration::from_secs(5)).await;
    })
    .await;
}

#[tokio::test]
async fn a_chain_of_two_vias() {
    within(90, async {
        let group = Group::new();
        let gw0 = group.makegateway(&popen("")).await.unwrap();
        let gw1 = group.makegateway(&popen("//via=gw0")).await.unwrap();
        let gw2 = group.makegateway(&popen("//via=gw1")).await.unwrap();
        assert_eq!(gw2.address(), Some("via gw0 ← gw1"));
        let pids = [pid_of(&gw0).await, pid_of(&gw1).await, pid_of(&gw2).await];
        assert_eq!(ppid_of(&gw1).await, pids[0]);
        assert_eq!(ppid_of(&gw2).await, pids[1]);
        let ch = gw2
            .remote_exec("channel.send(channel.receive() * 2)")
            .await
            .unwrap();
        ch.send(21).await.unwrap();
        assert_eq!(ch.receive(T).await.unwrap(), Value::Int(42));
        let started = Instant::now();
        group.terminate(Duration::from_secs(5)).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "terminate took {:?}",
            started.elapsed()
        );
        for pid in pids {
            assert!(wait_gone(pid as u32, 5).await, "pid {pid} left running");
        }
    })
    .await;
}

#[tokio::test]
async fn killing_the_via_gateway_fails_the_proxied_gateway_promptly() {
    within(60, async {
        let group = Group::new();
        let gw0 = group.makegateway(&popen("")).await.unwrap();
        let gw1 = group.makegateway(&popen("//via=gw0")).await.unwrap();
        let pid1 = pid_of(&gw1).await;
        let ch = gw1.remote_exec("channel.receive()").await.unwrap();
        let started = Instant::now();
        gw0.kill();
        let err = ch.receive(T).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        assert!(
            matches!(&err, Error::GatewayDied { gateway, .. } if gateway == "gw1"),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("gw0"),
            "the error should name the via gateway: {text}"
        );
        assert!(
            wait_gone(pid1 as u32, 5).await,
            "proxied worker left running"
        );
        group.terminate(Duration::from_secs(2)).await;
    })
    .await;
}

#[tokio::test]
async fn the_proxied_workers_stderr_and_exit_are_reported() {
    within(60, async {
        let group = Group::new();
        group.makegateway(&popen("")).await.unwrap();
        let gw = group.makegateway(&popen("//via=gw0")).await.unwrap();
        let _ = gw
            .remote_exec("import os, sys\nos.write(2, b'dying words\\n')\nos._exit(3)\n")
            .await
            .unwrap()
            .receive(T)
            .await;
        assert!(gw.wait_exit(Duration::from_secs(10)).await);
        let reason = gw.death_reason().unwrap_or_default();
        assert!(reason.contains("exit status 3"), "{reason}");
        assert!(reason.contains("dying words"), "{reason}");
        assert_eq!(gw.exit_info().and_then(|e| e.code), Some(3));
        group.terminate(Duration::from_secs(2)).await;
    })
    .await;
}

#[tokio::test]
async fn bad_vias_are_clear_errors() {
    within(60, async {
        let group = Group::new();
        let err = group.makegateway(&popen("//via=nope")).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, Error::Connect(ConnectError::Via { via, .. }) if via == "nope"),
            "{text}"
        );
        assert!(
            text.contains("via=nope") && text.contains("no gateway"),
            "{text}"
        );

        let gw0 = group.makegateway(&popen("")).await.unwrap();
        gw0.kill();
        assert!(gw0.wait_exit(Duration::from_secs(5)).await);
        let err = group.makegateway(&popen("//via=gw0")).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("via=gw0") && text.contains("dead"), "{text}");

        group
            .makegateway(&popen("//id=green//execmodel=gevent"))
            .await
            .unwrap();
        let err = group
            .makegateway(&popen("//via=green"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("via=green") && err.contains("execmodel=gevent"),
            "{err}"
        );

        let gw = group.makegateway(&popen("//id=live")).await.unwrap();
        // An interpreter that ends at once: its exit status is reported.
        let err = group
            .makegateway("popen//python=false//via=live")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, Error::Connect(ConnectError::DiedDuringStartup { .. })),
            "{text}"
        );
        assert!(text.contains("exit status 1"), "{text}");
        let err = group
            .makegateway("popen//python=/no/such/python//via=live")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/no/such/python"), "{text}");
        assert!(gw.is_alive());
        group.terminate(Duration::from_secs(2)).await;
    })
    .await;
}

#[tokio::test]
async fn makegateways_waits_for_the_via_gateway() {
    within(60, async {
        let group = Group::new();
        let specs = [popen(""), popen("//via=gw0")];
        let results = group.makegateways(&specs).await;
        let gws: Vec<_> = results.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(ppid_of(&gws[1]).await, pid_of(&gws[0]).await);
        group.terminate(Duration::from_secs(5)).await;
    })
    .await;
}

#[tokio::test]
async fn socket_installvia_starts_a_server_through_the_gateway() {
    within(60, async {
        let group = Group::new();
        let gw0 = group.makegateway(&popen("")).await.unwrap();
        let gw = group
            .makegateway("socket//installvia=gw0//id=s1")
            .await
            .unwrap();
        assert_eq!(gw.id(), "s1");
        let address = gw.address().unwrap_or_default().to_owned();
        assert!(address.starts_with("127.0.0.1:"), "{address}");
        let via_pid = pid_of(&gw0).await;
        let pid = pid_of(&gw).await;
        assert_ne!(pid, via_pid);
        gw.remote_status(T).await.unwrap();
        let ch = gw
            .remote_exec("channel.send(channel.receive() + 1)")
            .await
            .unwrap();
        ch.send(1).await.unwrap();
        assert_eq!(ch.receive(T).await.unwrap(), Value::Int(2));
        group.terminate(Duration::from_secs(5)).await;
        assert!(wait_gone(pid as u32, 5).await, "socket worker left running");
        assert!(
            wait_gone(via_pid as u32, 5).await,
            "via worker left running"
        );

        let err = group
            .makegateway("socket//installvia=gw9")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("installvia=gw9"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn killing_a_proxied_gateway_leaves_the_via_gateway_working() {
    within(60, async {
        let group = Group::new();
        let gw0 = group.makegateway(&popen("")).await.unwrap();
        let gw1 = group.makegateway(&popen("//via=gw0")).await.unwrap();
        let pid1 = pid_of(&gw1).await;
        let ch = gw1
            .remote_exec("import time; time.sleep(60)")
            .await
            .unwrap();
        gw1.kill();
        let err = ch.receive(T).await.unwrap_err();
        assert!(matches!(err, Error::GatewayDied { .. }), "{err}");
        assert!(
            wait_gone(pid1 as u32, 5).await,
            "proxied worker left running"
        );
        assert!(gw1.wait_exit(Duration::from_secs(5)).await);
        // The proxy's execution on gw0 has ended; gw0 still serves.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = gw0.remote_status(T).await.unwrap();
            if status.numexecuting == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the proxy still runs: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(pid_of(&gw0).await > 0);
        group.terminate(Duration::from_secs(5)).await;
    })
    .await;
}
