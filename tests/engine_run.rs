//! Runs (`Gateway::run`, bootstrap/runner.py) against a real worker:
//! captured stdout/stderr per run, items on the channel, concurrent runs,
//! errors and interrupts in the main thread and in other threads.

mod common;

use std::time::{Duration, Instant};

use common::*;
use execdeck::engine::{Error, EventKind, OutputStream, Received, Run, RunOutput};
use execdeck::{Gateway, Group, Value};

const T: Option<Duration> = Some(Duration::from_secs(20));

use OutputStream::{Stderr, Stdout};

async fn gateway(group: &Group, extra: &str) -> Gateway {
    within(20, group.makegateway(&popen(extra))).await.unwrap()
}

/// Pieces merged per stream change: what a pane would show.
fn merged(pieces: &[RunOutput]) -> Vec<(OutputStream, String)> {
    let mut out: Vec<(OutputStream, String)> = Vec::new();
    for p in pieces {
        match out.last_mut() {
            Some((stream, text)) if *stream == p.stream => text.push_str(&p.text),
            _ => out.push((p.stream, p.text.clone())),
        }
    }
    out
}

fn text_of(pieces: &[RunOutput], stream: OutputStream) -> String {
    pieces
        .iter()
        .filter(|p| p.stream == stream)
        .map(|p| p.text.as_str())
        .collect()
}

async fn all_output(run: &Run) -> Vec<RunOutput> {
    within(20, run.output().collect()).await
}

/// Keeps the worker's main thread busy so that the next execution runs in
/// another thread; `release` ends it.
struct MainThreadBlocker(execdeck::Channel);

impl MainThreadBlocker {
    async fn start(gw: &Gateway) -> MainThreadBlocker {
        let ch = gw
            .remote_exec(
                "import threading\nchannel.send(threading.current_thread() is \
                 threading.main_thread())\nchannel.receive()",
            )
            .await
            .unwrap();
        assert_eq!(ch.receive(T).await.unwrap(), Value::Bool(true));
        MainThreadBlocker(ch)
    }

    async fn release(self) {
        self.0.send(1).await.unwrap();
        self.0.wait_close(T).await.unwrap();
    }
}

const REPORT_THREAD: &str =
    "import threading\nchannel.send(threading.current_thread() is threading.main_thread())\n";

#[tokio::test]
async fn print_and_stderr_arrive_in_order_with_their_stream() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let run = gw
        .run(
            "import sys, logging\n\
             print('one')\n\
             sys.stderr.write('two\\n')\n\
             sys.stdout.write('three ')\n\
             print('four', flush=True)\n\
             channel.send(42)\n\
             logging.getLogger('t').warning('five')\n\
             print('six', file=sys.stderr)\n\
             print('seven', end='')\n\
             channel.send('done')\n",
            "<pane 1>",
        )
        .await
        .unwrap();
    assert_eq!(run.channel().receive(T).await.unwrap(), Value::Int(42));
    assert_eq!(run.channel().receive(T).await.unwrap(), s("done"));
    within(20, run.wait()).await.unwrap();
    let pieces = all_output(&run).await;
    assert_eq!(
        merged(&pieces),
        vec![
            (Stdout, "one\n".to_owned()),
            (Stderr, "two\n".to_owned()),
            (Stdout, "three four\n".to_owned()),
            (Stderr, "five\nsix\n".to_owned()),
            (Stdout, "seven".to_owned()),
        ]
    );
    assert!(run.channel().receive(T).await.unwrap_err().is_eof());
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn output_is_streamed_while_the_code_runs() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let run = gw
        .run(
            "print('first line')\nprint('partial', end='')\nchannel.receive()\nprint('after')\n",
            "<live>",
        )
        .await
        .unwrap();
    let mut output = run.output();
    let mut seen = String::new();
    // Both arrive while the code waits: at the newline, and ~50 ms later
    // for the partial line.
    while seen != "first line\npartial" {
        let piece = within(10, output.recv()).await.unwrap();
        assert_eq!(piece.stream, Stdout);
        seen.push_str(&piece.text);
    }
    assert!(!run.is_finished());
    run.channel().send(1).await.unwrap();
    within(20, run.wait()).await.unwrap();
    assert_eq!(
        text_of(&within(20, output.collect()).await, Stdout),
        "after\n"
    );
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_code_gets_items_sent_into_it() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let run = gw
        .run(
            "for x in channel:\n    print('got', x)\n    channel.send(x * 2)\n    if x == 3: break\n",
            "<echo>",
        )
        .await
        .unwrap();
    for x in 1..=3 {
        run.channel().send(x).await.unwrap();
        assert_eq!(run.channel().receive(T).await.unwrap(), Value::Int(x * 2));
    }
    within(20, run.wait()).await.unwrap();
    assert_eq!(
        text_of(&all_output(&run).await, Stdout),
        "got 1\ngot 2\ngot 3\n"
    );
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn threads_started_by_the_code_write_into_its_output() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let run = gw
        .run(
            "import threading, concurrent.futures\n\
             t = threading.Thread(target=print, args=('from a thread',))\n\
             t.start(); t.join()\n\
             with concurrent.futures.ThreadPoolExecutor(2) as pool:\n\
             \x20   list(pool.map(print, ['pool 1', 'pool 2']))\n",
            "<threads>",
        )
        .await
        .unwrap();
    within(20, run.wait()).await.unwrap();
    let out = text_of(&all_output(&run).await, Stdout);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["from a thread", "pool 1", "pool 2"], "{out:?}");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn many_lines_arrive_complete_and_in_order() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let run = gw
        .run(
            "import sys\nfor i in range(20000):\n    print(i)\n    if i % 1000 == 0: sys.stderr.write('e%d\\n' % i)\n",
            "<many>",
        )
        .await
        .unwrap();
    let pieces = all_output(&run).await;
    within(20, run.wait()).await.unwrap();
    let want: String = (0..20000).map(|i| format!("{i}\n")).collect();
    assert_eq!(text_of(&pieces, Stdout), want);
    let want_err: String = (0..20).map(|i| format!("e{}\n", i * 1000)).collect();
    assert_eq!(text_of(&pieces, Stderr), want_err);
    // Batched: far fewer pieces than writes.
    assert!(pieces.len() < 20000, "{} pieces", pieces.len());
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn two_concurrent_runs_keep_their_output_apart() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let code = |tag: &str| {
        format!(
            "import sys, time\nchannel.receive()\nfor i in range(40):\n    print('{tag}', i)\n    \
             sys.stderr.write('{tag} err %d\\n' % i)\n    time.sleep(0.005)\n"
        )
    };
    let a = gw.run(&code("A"), "<a>").await.unwrap();
    let b = gw.run(&code("B"), "<b>").await.unwrap();
    // Both wait until both run, so their writes interleave in time.
    a.channel().send(1).await.unwrap();
    b.channel().send(1).await.unwrap();
    let (out_a, out_b) = tokio::join!(all_output(&a), all_output(&b));
    within(20, a.wait()).await.unwrap();
    within(20, b.wait()).await.unwrap();
    for (tag, pieces) in [("A", &out_a), ("B", &out_b)] {
        let want: String = (0..40).map(|i| format!("{tag} {i}\n")).collect();
        assert_eq!(text_of(pieces, Stdout), want);
        let want: String = (0..40).map(|i| format!("{tag} err {i}\n")).collect();
        assert_eq!(text_of(pieces, Stderr), want);
    }
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_run_that_raises_keeps_its_output_and_reports_the_traceback() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let run = gw
        .run(
            "print('before')\nchannel.send(1)\ndef f():\n    raise ValueError('boom')\nf()\n",
            "<failing>",
        )
        .await
        .unwrap();
    let err = within(20, run.wait()).await.unwrap_err();
    let remote = err.remote().expect("a remote error");
    assert!(
        remote
            .text
            .starts_with("Traceback (most recent call last):"),
        "{err}"
    );
    assert!(
        remote.text.contains("File \"<failing>\", line 4, in f"),
        "{err}"
    );
    assert!(remote.text.contains("raise ValueError('boom')"), "{err}");
    assert_eq!(remote.summary(), "ValueError: boom");
    assert_eq!(run.channel().receive(T).await.unwrap(), Value::Int(1));
    assert!(matches!(
        run.channel().receive(T).await,
        Err(Error::Remote(_))
    ));
    assert_eq!(
        merged(&all_output(&run).await),
        vec![(Stdout, "before\n".to_owned())]
    );
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_syntax_error_is_reported_like_remote_exec_does() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let run = gw.run("x = (1,\n", "<bad>").await.unwrap();
    let err = within(20, run.wait()).await.unwrap_err();
    let text = &err.remote().expect("a remote error").text;
    assert!(text.contains("SyntaxError"), "{text}");
    assert!(text.contains("<bad>"), "{text}");
    assert!(all_output(&run).await.is_empty());
    group.terminate(Duration::from_secs(5)).await;
}

/// Starts `code` (after reporting its thread), checks it runs in the main
/// thread or not (when `in_main` says), interrupts it and checks it ends with KeyboardInterrupt
/// within a few seconds, keeping the output written before.
async fn interrupt_case(gw: &Gateway, code: &str, in_main: Option<bool>) {
    let run = gw
        .run(
            &format!("{REPORT_THREAD}print('started', flush=True)\n{code}"),
            "<interrupted>",
        )
        .await
        .unwrap();
    let main = run.channel().receive(T).await.unwrap();
    if let Some(in_main) = in_main {
        assert_eq!(main, Value::Bool(in_main), "{code}");
    }
    let mut output = run.output();
    assert_eq!(
        within(10, output.recv()).await.unwrap().text,
        "started\n",
        "{code}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    run.interrupt().await.unwrap();
    let err = within(20, run.wait()).await.unwrap_err();
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(4), "{code}: took {took:?}");
    let text = &err.remote().expect("a remote error").text;
    assert!(text.contains("KeyboardInterrupt"), "{code}: {text}");
    assert!(text.contains("<interrupted>"), "{code}: {text}");
    assert!(within(10, output.recv()).await.is_none());
    // Interrupting again after the end is harmless.
    run.interrupt().await.unwrap();
}

#[tokio::test]
async fn interrupt_stops_busy_loops_and_sleeps_in_the_main_thread() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    interrupt_case(&gw, "while True: pass\n", Some(true)).await;
    interrupt_case(&gw, "import time\ntime.sleep(60)\n", Some(true)).await;
    interrupt_case(&gw, "channel.receive()\n", Some(true)).await;
    let ch = gw.remote_exec("channel.send('still fine')").await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), s("still fine"));
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn interrupt_stops_busy_loops_and_sleeps_in_another_thread() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let blocker = MainThreadBlocker::start(&gw).await;
    interrupt_case(&gw, "while True: pass\n", Some(false)).await;
    interrupt_case(&gw, "import time\ntime.sleep(60)\n", Some(false)).await;
    interrupt_case(&gw, "from time import sleep\nsleep(60)\n", Some(false)).await;
    blocker.release().await;
    let ch = gw.remote_exec("channel.send('still fine')").await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), s("still fine"));
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn interrupt_in_a_main_thread_only_worker() {
    let group = Group::new();
    let gw = gateway(&group, "//execmodel=main_thread_only").await;
    interrupt_case(&gw, "import time\ntime.sleep(60)\n", Some(true)).await;
    let run = gw.run("print('next')", "<next>").await.unwrap();
    within(20, run.wait()).await.unwrap();
    assert_eq!(text_of(&all_output(&run).await, Stdout), "next\n");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_refused_run_reports_why_and_its_output_ends() {
    let group = Group::new();
    let gw = gateway(&group, "//execmodel=main_thread_only").await;
    let blocker = MainThreadBlocker::start(&gw).await;
    let run = gw.run("print('never')", "<refused>").await.unwrap();
    let err = within(20, run.wait()).await.unwrap_err();
    assert!(
        err.remote()
            .is_some_and(|r| r.text.contains("main_thread_only")),
        "{err}"
    );
    assert!(all_output(&run).await.is_empty());
    run.interrupt().await.unwrap();
    blocker.release().await;
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_interrupt_sent_right_away_stops_the_run() {
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let run = gw
        .run("import time\ntime.sleep(60)\n", "<early>")
        .await
        .unwrap();
    run.interrupt().await.unwrap();
    let err = within(10, run.wait()).await.unwrap_err();
    assert!(err.to_string().contains("KeyboardInterrupt"), "{err}");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn interrupting_code_that_sends_large_items_keeps_the_stream_intact() {
    // A KeyboardInterrupt between the header and the payload of a message
    // would corrupt the protocol; the runner defers it to the end of a send.
    let group = Group::new();
    let gw = gateway(&group, "").await;
    let code = "while True:\n    channel.send(b'x' * 200000)\n    print('y' * 1000)\n";
    for in_main in [true, false] {
        let blocker = if in_main {
            None
        } else {
            Some(MainThreadBlocker::start(&gw).await)
        };
        for i in 0..8u64 {
            let run = gw
                .run(&format!("{REPORT_THREAD}{code}"), "<sender>")
                .await
                .unwrap();
            assert_eq!(
                run.channel().receive(T).await.unwrap(),
                Value::Bool(in_main)
            );
            run.channel().set_callback(|_| {}, None);
            tokio::time::sleep(Duration::from_millis(20 + 23 * i)).await;
            run.interrupt().await.unwrap();
            let err = within(20, run.wait()).await.unwrap_err();
            assert!(err.to_string().contains("KeyboardInterrupt"), "{err}");
            let ch = gw.remote_exec("channel.send(2)").await.unwrap();
            assert_eq!(ch.receive(T).await.unwrap(), Value::Int(2));
            ch.wait_close(T).await.unwrap();
        }
        if let Some(b) = blocker {
            b.release().await;
        }
    }
    assert!(gw.is_alive());
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn after_a_run_the_gateway_works_as_before() {
    let group = Group::new();
    let mut events = group.subscribe();
    let gw = gateway(&group, "").await;
    let run = gw.run("print('inside the run')", "<run>").await.unwrap();
    within(20, run.wait()).await.unwrap();
    let mut output = run.output();
    assert_eq!(
        within(10, output.recv()).await.unwrap().text,
        "inside the run\n"
    );
    run.interrupt().await.unwrap();
    // A plain remote_exec still works, and its prints go to the gateway's
    // stderr, not into the finished run.
    let ch = gw
        .remote_exec(
            "import sys\nprint('plain print')\nsys.stderr.write('plain err\\n')\nchannel.send(7)",
        )
        .await
        .unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), Value::Int(7));
    ch.wait_close(T).await.unwrap();
    let mut lines: Vec<String> = Vec::new();
    within(20, async {
        while !(lines.iter().any(|l| l.contains("plain print"))
            && lines.iter().any(|l| l.contains("plain err")))
        {
            if let Some(Received::Event(ev)) = events.recv().await
                && let EventKind::Stderr { line } = ev.kind
            {
                lines.push(line);
            }
        }
    })
    .await;
    assert!(
        !lines.iter().any(|l| l.contains("inside the run")),
        "{lines:?}"
    );
    assert!(within(10, output.recv()).await.is_none());
    // Output of a plain remote_exec running beside a run stays out of it.
    let blocker = MainThreadBlocker::start(&gw).await;
    let run = gw
        .run("channel.receive()\nprint('run text')", "<beside>")
        .await
        .unwrap();
    let plain = gw
        .remote_exec("print('plain beside')\nchannel.send(1)")
        .await
        .unwrap();
    assert_eq!(plain.receive(T).await.unwrap(), Value::Int(1));
    run.channel().send(1).await.unwrap();
    within(20, run.wait()).await.unwrap();
    assert_eq!(text_of(&all_output(&run).await, Stdout), "run text\n");
    blocker.release().await;
    assert_eq!(gw.remote_status(T).await.unwrap().numexecuting, 0);
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn output_after_the_run_is_dropped_goes_to_the_gateway_stderr() {
    let group = Group::new();
    let mut events = group.subscribe();
    let gw = gateway(&group, "").await;
    let run = gw
        .run(
            "print('kept')\nchannel.receive()\nprint('orphan output')",
            "<dropped>",
        )
        .await
        .unwrap();
    let mut output = run.output();
    assert_eq!(within(10, output.recv()).await.unwrap().text, "kept\n");
    let exec = run.channel().clone();
    drop(output);
    drop(run);
    exec.send(1).await.unwrap();
    within(20, exec.wait_close(None)).await.unwrap();
    within(20, async {
        loop {
            if let Some(Received::Event(ev)) = events.recv().await
                && let EventKind::Stderr { line } = ev.kind
                && line.contains("orphan output")
            {
                break;
            }
        }
    })
    .await;
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn runs_work_on_execnets_own_worker() {
    let group = group(Worker::Execnet);
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let run = gw
        .run(
            "import sys\nprint('hi')\nsys.stderr.write('ho\\n')\nchannel.send(5)",
            "<execnet>",
        )
        .await
        .unwrap();
    assert_eq!(run.channel().receive(T).await.unwrap(), Value::Int(5));
    within(20, run.wait()).await.unwrap();
    assert_eq!(
        merged(&all_output(&run).await),
        vec![(Stdout, "hi\n".to_owned()), (Stderr, "ho\n".to_owned())]
    );
    interrupt_case(&gw, "import time\ntime.sleep(60)\n", None).await;
    group.terminate(Duration::from_secs(5)).await;
}
