//! The event stream: exact sequences for a scripted run, slow subscribers,
//! per-gateway subscriptions and remote tracing.

mod common;

use std::time::Duration;

use common::*;
use execdeck::engine::{Event, EventKind, GroupOptions, Received, Subscription};
use execdeck::{Group, Value};

const T: Option<Duration> = Some(Duration::from_secs(20));

/// One line per event, leaving out what varies between runs (times, pids,
/// stderr and remote trace lines).
fn describe(ev: &Event) -> Option<String> {
    let gw = &ev.gateway;
    Some(match &ev.kind {
        EventKind::GatewayStarting { spec } => {
            format!("{gw} starting {}", spec.split("//").next().unwrap_or(""))
        }
        EventKind::GatewayReady { pid, python, .. } => {
            format!(
                "{gw} ready pid={} python={}",
                pid.is_some(),
                python.as_deref().is_some_and(|p| p.starts_with("3."))
            )
        }
        EventKind::GatewayFailed { error } => format!("{gw} failed {error}"),
        EventKind::GatewayExited { status, .. } => {
            format!("{gw} exited {}", status.as_deref().unwrap_or("?"))
        }
        EventKind::Message {
            dir,
            code,
            channel,
            payload,
        } => format!(
            "{gw} {} {} ch{channel} {}",
            dir.as_str(),
            code.name(),
            payload.preview(16)
        )
        .trim_end()
        .to_owned(),
        EventKind::ChannelOpened { channel, origin } => {
            format!("{gw} opened ch{channel} {}", origin.as_str())
        }
        EventKind::ChannelClosed { channel, by, how } => {
            // The last line of a traceback; a death reason without its pid.
            let summary = how.error().map(|e| {
                let last = e.trim_end().lines().last().unwrap_or("");
                last.split(" (worker pid").next().unwrap_or("").to_owned()
            });
            format!(
                "{gw} closed ch{channel} by {} {} {}",
                by.as_str(),
                how.as_str(),
                summary.unwrap_or_default()
            )
            .trim_end()
            .to_owned()
        }
        EventKind::Status {
            numchannels,
            numexecuting,
            execmodel,
        } => format!("{gw} status {numchannels} {numexecuting} {execmodel}"),
        // Start steps carry pids; `start_steps_of_a_popen_gateway` checks
        // them. rsync's events are checked in `engine_rsync`.
        EventKind::RsyncProgress { .. } | EventKind::RsyncDone { .. } => return None,
        EventKind::Stderr { .. }
        | EventKind::RemoteTrace { .. }
        | EventKind::Warning { .. }
        | EventKind::StartStep { .. } => {
            return None;
        }
    })
}

#[tokio::test]
async fn start_steps_of_a_popen_gateway() {
    let group = Group::new();
    let mut sub = group.subscribe_lifecycle();
    let gw = within(30, group.makegateway(&popen(""))).await.unwrap();
    let pid = gw.pid().expect("a local process");
    let mut steps = vec![];
    within(20, async {
        loop {
            match sub.recv().await {
                Some(Received::Event(ev)) => match ev.kind {
                    EventKind::StartStep { step } => steps.push(step),
                    EventKind::GatewayReady { .. } => break,
                    _ => {}
                },
                Some(Received::Lost(_)) => {}
                None => panic!("the event stream ended"),
            }
        }
    })
    .await;
    assert_eq!(
        steps,
        [
            format!("spawned {} pid {pid}", python()),
            "handshake done".to_owned()
        ]
    );
    group.terminate(Duration::from_secs(5)).await;
}

async fn drain(sub: &mut Subscription) -> Vec<String> {
    let mut out = vec![];
    while let Ok(Some(received)) =
        tokio::time::timeout(Duration::from_millis(300), sub.recv()).await
    {
        match received {
            Received::Event(ev) => out.extend(describe(&ev)),
            Received::Lost(n) => out.push(format!("lost {n}")),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_run_yields_exactly_the_expected_events() {
    let group = Group::new();
    let mut sub = group.subscribe();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();

    let ch = gw
        .remote_exec("x = channel.receive()\nchannel.send(x * 2)")
        .await
        .unwrap();
    ch.send(21).await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), Value::Int(42));
    ch.wait_close(T).await.unwrap();

    let failing = gw.remote_exec("raise ValueError('boom')").await.unwrap();
    assert!(failing.wait_close(T).await.is_err());

    let status = gw.remote_status(T).await.unwrap();
    assert_eq!(status.numexecuting, 0);

    let blocked = gw.remote_exec("channel.receive()").await.unwrap();
    // Let the worker start running it before it dies.
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.kill();
    assert!(gw.wait_exit(Duration::from_secs(10)).await);
    assert!(blocked.receive(T).await.is_err());

    let got = drain(&mut sub).await;
    let expected = [
        "gw0 starting popen",
        "gw0 opened ch1 exec",
        "gw0 out CHANNEL_EXEC ch1 ('\"\"\"Remote hal…",
        "gw0 in CHANNEL_DATA ch1 {'executable': …",
        "gw0 in CHANNEL_CLOSE ch1",
        "gw0 closed ch1 by remote closed",
        "gw0 ready pid=true python=true",
        "gw0 opened ch3 exec",
        "gw0 out CHANNEL_EXEC ch3 ('x = channel.r…",
        "gw0 out CHANNEL_DATA ch3 21",
        "gw0 in CHANNEL_DATA ch3 42",
        "gw0 in CHANNEL_CLOSE ch3",
        "gw0 closed ch3 by remote closed",
        "gw0 opened ch5 exec",
        "gw0 out CHANNEL_EXEC ch5 (\"raise ValueEr…",
        "gw0 in CHANNEL_CLOSE_ERROR ch5 'Traceback (mos…",
        "gw0 closed ch5 by remote error ValueError: boom",
        "gw0 opened ch7 local",
        "gw0 out STATUS ch7",
        "gw0 in CHANNEL_DATA ch7 {'numchannels':…",
        "gw0 in CHANNEL_CLOSE ch7",
        "gw0 closed ch7 by remote closed",
        "gw0 status 0 0 thread",
        "gw0 opened ch9 exec",
        "gw0 out CHANNEL_EXEC ch9 ('channel.recei…",
        "gw0 closed ch9 by remote gateway_died the worker closed the connection",
        "gw0 exited killed by signal 9 (SIGKILL)",
    ];
    assert_eq!(got, expected, "got:\n{}", got.join("\n"));
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_loses_events_but_the_engine_delivers_everything() {
    let group = Group::with_options(GroupOptions {
        event_buffer: 64,
        ..GroupOptions::default()
    });
    let mut slow = group.subscribe();
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let ch = gw
        .remote_exec("for i in range(5000):\n    channel.send(i)")
        .await
        .unwrap();
    let mut count = 0;
    while let Ok(v) = within(30, ch.receive(None)).await {
        assert_eq!(v, Value::Int(count));
        count += 1;
    }
    assert_eq!(count, 5000, "the engine must deliver every item");
    match slow.try_recv() {
        Some(Received::Lost(n)) => assert!(n > 4000, "lost only {n}"),
        other => panic!("expected a Lost notice first, got {other:?}"),
    }
    let mut kept = 0;
    while let Some(Received::Event(_)) = slow.try_recv() {
        kept += 1;
    }
    assert_eq!(kept, 64, "the newest events fill the buffer");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_gateway_and_lifecycle_subscriptions_filter() {
    let group = Group::new();
    let mut lifecycle = group.subscribe_lifecycle();
    let specs = [popen(""), popen("")];
    let gws: Vec<_> = within(30, group.makegateways(&specs))
        .await
        .into_iter()
        .map(|g| g.unwrap())
        .collect();
    let mut only_gw1 = gws[1].subscribe();
    for gw in &gws {
        gw.remote_exec("channel.send(1)")
            .await
            .unwrap()
            .wait_close(T)
            .await
            .unwrap();
    }
    let got = drain(&mut only_gw1).await;
    assert!(!got.is_empty());
    assert!(got.iter().all(|l| l.starts_with("gw1 ")), "{got:?}");
    assert!(got.iter().any(|l| l.contains("CHANNEL_DATA")), "{got:?}");
    let got = drain(&mut lifecycle).await;
    assert!(got.iter().any(|l| l.starts_with("gw0 ready")), "{got:?}");
    assert!(got.iter().any(|l| l.starts_with("gw1 closed")), "{got:?}");
    assert!(
        !got.iter().any(|l| l.contains("CHANNEL_")),
        "lifecycle got messages: {got:?}"
    );
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_is_an_event() {
    let group = Group::new();
    let mut sub = group.subscribe_lifecycle();
    assert!(
        group
            .makegateway("popen//python=/no/such/python")
            .await
            .is_err()
    );
    let got = drain(&mut sub).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], "gw0 starting popen");
    assert!(
        got[1].starts_with("gw0 failed ") && got[1].contains("/no/such/python"),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_stream_sends_remote_trace_lines_as_events() {
    let group = Group::new();
    let mut sub = group.subscribe_lifecycle();
    let gw = within(20, group.makegateway(&popen("//debug=stream")))
        .await
        .unwrap();
    gw.remote_exec("channel.send(1)")
        .await
        .unwrap()
        .wait_close(T)
        .await
        .unwrap();
    let mut traces = vec![];
    let mut stderr = vec![];
    while let Ok(Some(Received::Event(ev))) =
        tokio::time::timeout(Duration::from_millis(300), sub.recv()).await
    {
        match ev.kind {
            EventKind::RemoteTrace { line } => traces.push(line),
            EventKind::Stderr { line } => stderr.push(line),
            _ => {}
        }
    }
    assert!(
        traces.iter().any(|l| l.contains("received CHANNEL_EXEC")),
        "{traces:?}"
    );
    assert!(
        stderr.iter().all(|l| !l.contains("CHANNEL_EXEC")),
        "trace lines leaked into stderr: {stderr:?}"
    );
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_1_writes_a_trace_file_on_the_remote() {
    let dir = tempfile::tempdir().unwrap();
    let group = Group::new();
    let spec = popen(&format!("//debug=1//env:TMPDIR={}", dir.path().display()));
    let gw = within(20, group.makegateway(&spec)).await.unwrap();
    gw.remote_exec("channel.send(1)")
        .await
        .unwrap()
        .wait_close(T)
        .await
        .unwrap();
    let pid = gw.pid().unwrap();
    group.terminate(Duration::from_secs(5)).await;
    let text = std::fs::read_to_string(dir.path().join(format!("execdeck-debug-{pid}"))).unwrap();
    assert!(text.contains("received CHANNEL_EXEC"), "{text}");
    let err = group.makegateway(&popen("//debug=loud")).await.unwrap_err();
    assert!(err.to_string().contains("debug=loud"), "{err}");
}
