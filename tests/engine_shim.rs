//! popen gateways whose `python=` is a shim (a script that picks the
//! interpreter, as pyenv's and asdf's do): the group asks it once and
//! starts the interpreter it chose directly, with the shim's environment.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::*;
use execdeck::Group;
use execdeck::engine::{EventKind, Received};

const T: Option<Duration> = Some(Duration::from_secs(20));

/// A script at `dir/name` that counts its runs in `dir/runs`, does `middle`
/// (shell lines) and execs the test interpreter; returns its path.
fn script(dir: &Path, name: &str, middle: &str) -> String {
    let path = dir.join(name);
    let body = format!(
        "#!/bin/sh\necho run >> '{}'\n{middle}exec '{}' \"$@\"\n",
        dir.join("runs").display(),
        python()
    );
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// A pyenv-style shim at `dir/python3` (it names pyenv, as pyenv's do)
/// that sets `SHIM_CHOSE`.
fn shim(dir: &Path) -> String {
    script(
        dir,
        "python3",
        "# made like a pyenv shim\nexport SHIM_CHOSE=yes\n",
    )
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs")).map_or(0, |s| s.lines().count())
}

/// (sys.executable, SHIM_CHOSE, X) as the gateway's worker sees them.
async fn seen(gw: &execdeck::Gateway) -> String {
    let ch = gw
        .remote_exec(
            "import os, sys\n\
             channel.send('%s %s %s' % (sys.executable, os.environ.get('SHIM_CHOSE'), os.environ.get('X')))",
        )
        .await
        .unwrap();
    ch.receive(T).await.unwrap().as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_group_of_eight_pays_for_the_shim_once() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("popen//python={}", shim(dir.path()));
        let group = Group::new();
        let mut events = group.subscribe_lifecycle();
        let specs = vec![spec.clone(); 8];
        let gateways: Vec<_> = group
            .makegateways(&specs)
            .await
            .into_iter()
            .map(|g| g.unwrap())
            .collect();
        assert_eq!(runs(dir.path()), 1, "the shim ran once for 8 gateways");
        let real = std::fs::canonicalize(python()).unwrap();
        for gw in &gateways {
            let seen = seen(gw).await;
            let (exe, rest) = seen.split_once(' ').unwrap();
            assert_eq!(
                std::fs::canonicalize(exe).unwrap(),
                real,
                "the interpreter the shim chose"
            );
            assert_eq!(rest, "yes None", "with the environment the shim set");
        }
        let mut steps = 0;
        while let Some(Received::Event(ev)) = events.try_recv() {
            if let EventKind::StartStep { step } = &ev.kind
                && step.contains("is a shim for")
            {
                steps += 1;
            }
        }
        assert_eq!(steps, 8, "each start says it skipped the shim");

        // Other env: keys may make the shim choose otherwise: asked again.
        let other = group
            .makegateway(&format!("{spec}//env:X=1"))
            .await
            .unwrap();
        assert_eq!(runs(dir.path()), 2);
        assert!(seen(&other).await.ends_with(" yes 1"));
        // A new group asks again.
        let again = Group::new();
        again.makegateway(&spec).await.unwrap();
        assert_eq!(runs(dir.path()), 3);
        group.terminate(Duration::from_secs(5)).await;
        again.terminate(Duration::from_secs(5)).await;
    })
    .await;
}

#[tokio::test]
async fn a_shim_that_cannot_answer_is_used_as_it_is() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        // Runs Python only for the boot line (-u ... -c BOOT): the question fails.
        let path = script(
            dir.path(),
            "python3",
            "# pyenv\n[ \"$1\" = -u ] || exit 3\n",
        );
        let group = Group::new();
        let spec = format!("popen//python={path}");
        for result in group.makegateways(&[&spec, &spec]).await {
            let gw = result.unwrap();
            assert!(seen(&gw).await.ends_with(" None None"));
        }
        assert_eq!(
            runs(dir.path()),
            3,
            "asked once, then the shim itself for each gateway"
        );
        group.terminate(Duration::from_secs(5)).await;
    })
    .await;
}

#[tokio::test]
async fn a_wrapper_script_that_is_no_version_managers_shim_runs_for_every_start() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let path = script(dir.path(), "python-wrapper", "");
        let group = Group::new();
        let spec = format!("popen//python={path}");
        for result in group.makegateways(&[&spec, &spec]).await {
            result.unwrap();
        }
        assert_eq!(runs(dir.path()), 2, "the wrapper ran for each gateway");
        group.terminate(Duration::from_secs(5)).await;
    })
    .await;
}

#[tokio::test]
async fn an_interpreter_that_is_no_script_is_started_as_named() {
    within(60, async {
        let group = Group::new();
        let mut events = group.subscribe_lifecycle();
        group.makegateway(&popen("")).await.unwrap();
        while let Some(Received::Event(ev)) = events.try_recv() {
            if let EventKind::StartStep { step } = &ev.kind {
                assert!(!step.contains("shim"), "{step}");
            }
        }
        group.terminate(Duration::from_secs(5)).await;
    })
    .await;
}
