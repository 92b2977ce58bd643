//! rsync of directory trees to gateways (`execdeck::engine::rsync`) with the
//! real receiver (`bootstrap/rsync_remote.py`) in real workers: trees
//! compared byte for byte with mode and mtime, deltas measured on the wire,
//! memory of the receiving worker, atomic replacement under a kill, 1:N with
//! a failing target, and an ssh gateway to a real sshd.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use execdeck::engine::rsync::{RSync, TargetOptions, TargetReport};
use execdeck::engine::{EventKind, Received};
use execdeck::{Gateway, Group};

const MIB: usize = 1 << 20;

/// `n` bytes of a repeatable pseudo-random stream.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Sets a path's mtime (not following a symlink) to `secs` + `nanos`.
fn set_mtime(path: &Path, secs: i64, nanos: i64) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let times = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        },
    ];
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0, "utimensat {}", path.display());
}

fn write(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, data).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// What a tree holds, per relative path: kind, mode, mtime, contents or link text.
#[derive(Debug, PartialEq)]
enum Node {
    Dir {
        mode: u32,
        mtime: (i64, i64),
    },
    File {
        mode: u32,
        mtime: (i64, i64),
        data: Vec<u8>,
    },
    Link(PathBuf),
}

fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    fn visit(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.mode() & 0o7777;
            let mtime = (meta.mtime(), meta.mtime_nsec());
            let node = if meta.file_type().is_symlink() {
                Node::Link(fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                visit(root, &path, out);
                Node::Dir { mode, mtime }
            } else {
                Node::File {
                    mode,
                    mtime,
                    data: fs::read(&path).unwrap(),
                }
            };
            out.insert(rel, node);
        }
    }
    let mut out = BTreeMap::new();
    visit(root, root, &mut out);
    out
}

/// Asserts that `dest` mirrors `src`: the same paths, kinds, contents,
/// modes and mtimes (links compared by the caller where their text differs).
fn assert_mirror(src: &Path, dest: &Path) {
    let (a, b) = (snapshot(src), snapshot(dest));
    let names = |m: &BTreeMap<String, Node>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "the same paths");
    for (path, node) in &a {
        assert!(
            b[path] == *node,
            "{path} differs: {node:?} vs {:?}",
            b[path]
        );
    }
}

/// A small tree with nested, empty, executable, read-only files and directories.
fn small_tree(root: &Path) {
    write(&root.join("a.txt"), b"alpha\n");
    write(&root.join("empty"), b"");
    write(&root.join("sub/b.bin"), &noise(300_000, 1));
    write(&root.join("sub/deeper/c.py"), b"print('c')\n");
    write(&root.join("run.sh"), b"#!/bin/sh\necho hi\n");
    chmod(&root.join("run.sh"), 0o755);
    write(&root.join("frozen/inside.txt"), b"in a read-only dir\n");
    chmod(&root.join("frozen/inside.txt"), 0o444);
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    for (i, rel) in [
        "a.txt",
        "empty",
        "sub/b.bin",
        "sub/deeper/c.py",
        "run.sh",
        "frozen/inside.txt",
    ]
    .iter()
    .enumerate()
    {
        set_mtime(&root.join(rel), 1_600_000_000 + i as i64, 123_456_789);
    }
    for rel in ["sub/deeper", "sub", "empty-dir", "frozen"] {
        set_mtime(&root.join(rel), 1_500_000_000, 5);
    }
    chmod(&root.join("frozen"), 0o555);
}

async fn sync_one(group: &Group, src: &Path, dest: &Path, delete: bool) -> TargetReport {
    let gw = match group.get("gw0") {
        Some(gw) => gw,
        None => group.makegateway(&popen("")).await.unwrap(),
    };
    run_one(RSync::new(src), gw, dest, TargetOptions { delete }).await
}

/// Adds one target (`dest` on `gw`) to `rsync`, runs it and returns its report.
async fn run_one(
    mut rsync: RSync,
    gw: Gateway,
    dest: &Path,
    options: TargetOptions,
) -> TargetReport {
    rsync.add_target(gw, dest.display().to_string(), options);
    within(120, rsync.send()).await.unwrap().pop().unwrap()
}

/// Calls `act` once, at the first progress event of `gw` that `when`
/// accepts; the task ends with whether that happened.
fn on_progress(
    gw: &Gateway,
    when: impl Fn(&EventKind) -> bool + Send + 'static,
    act: impl FnOnce() + Send + 'static,
) -> tokio::task::JoinHandle<bool> {
    let mut events = gw.subscribe();
    tokio::spawn(async move {
        while let Some(received) = events.recv().await {
            if let Received::Event(ev) = received
                && matches!(ev.kind, EventKind::RsyncProgress { .. })
                && when(&ev.kind)
            {
                act();
                return true;
            }
        }
        false
    })
}

fn assert_ok(report: &TargetReport) {
    assert!(report.is_ok(), "target failed: {report:#?}");
}

fn partials(root: &Path) -> Vec<String> {
    snapshot(root)
        .into_keys()
        .filter(|k| k.ends_with(".execdeck-partial"))
        .collect()
}

#[tokio::test]
async fn first_sync_mirrors_the_tree_and_a_second_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest/nested"));
    small_tree(&src);
    let group = Group::new();

    let first = sync_one(&group, &src, &dest, false).await;
    assert_ok(&first);
    assert_mirror(&src, &dest);
    assert_eq!(first.files_checked, 6);
    assert_eq!(first.files_sent, 6);
    assert_eq!(first.bytes_sent, 6 + 300_000 + 11 + 18 + 19);
    assert!(first.bytes_on_wire > first.bytes_sent, "{first:?}");
    assert!(first.sent.contains(&"sub/deeper/c.py".to_string()));

    let second = sync_one(&group, &src, &dest, false).await;
    assert_ok(&second);
    assert_eq!(
        (second.files_checked, second.files_sent, second.bytes_sent),
        (6, 0, 0)
    );
    assert!(second.bytes_on_wire < 4096, "only the listing: {second:?}");
    assert_mirror(&src, &dest);
    assert!(partials(&dest).is_empty());
    chmod(&src.join("frozen"), 0o755);
    chmod(&dest.join("frozen"), 0o755);
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_changed_file_costs_only_its_change_on_the_wire() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    let mut data = noise(64 * MIB, 7);
    write(&src.join("big.bin"), &data);
    write(&src.join("same.txt"), b"unchanged");
    let group = Group::new();
    assert_ok(&sync_one(&group, &src, &dest, false).await);

    // 1 KiB changed in the middle, same size.
    let middle = data.len() / 2 + 17;
    data[middle..middle + 1024].copy_from_slice(&noise(1024, 99));
    write(&src.join("big.bin"), &data);
    set_mtime(&src.join("big.bin"), 1_700_000_000, 1);
    let report = sync_one(&group, &src, &dest, false).await;
    assert_ok(&report);
    assert_eq!(report.files_sent, 1);
    assert_eq!(report.bytes_sent, 64 * MIB as u64);
    assert!(
        report.bytes_on_wire < 1024 * 1024,
        "64 MiB with 1 KiB changed took {} bytes on the wire",
        report.bytes_on_wire
    );
    assert_mirror(&src, &dest);

    // Only the mtime changed: the checksums match, nothing is sent.
    set_mtime(&src.join("same.txt"), 1_700_000_100, 0);
    let report = sync_one(&group, &src, &dest, false).await;
    assert_ok(&report);
    assert_eq!(report.files_sent, 0, "{report:?}");
    assert_mirror(&src, &dest);

    // A shorter file with a different start: still right.
    data.drain(..5000);
    write(&src.join("big.bin"), &data[..40 * MIB]);
    let report = sync_one(&group, &src, &dest, false).await;
    assert_ok(&report);
    assert!(report.bytes_on_wire < 2 * 1024 * 1024, "{report:?}");
    assert_mirror(&src, &dest);
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn delete_removes_what_the_source_lacks_but_keeps_excluded_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    let outside = tmp.path().join("outside");
    write(&outside.join("precious"), b"keep me");
    small_tree(&src);
    chmod(&src.join("frozen"), 0o755);
    write(&dest.join("stale.txt"), b"old");
    write(&dest.join("old-dir/x/y.txt"), b"old");
    write(&dest.join("cache.pyc"), b"compiled");
    symlink(&outside, dest.join("link-to-outside")).unwrap();
    let group = Group::new();

    // Without delete, extra entries stay.
    assert_ok(&sync_one(&group, &src, &dest, false).await);
    assert!(dest.join("stale.txt").exists());

    let gw = group.get("gw0").unwrap();
    let mut rsync = RSync::new(&src);
    rsync.exclude("*.pyc");
    let report = run_one(rsync, gw, &dest, TargetOptions { delete: true }).await;
    assert_ok(&report);
    let mut deleted = report.deleted.clone();
    deleted.sort();
    assert_eq!(deleted, ["link-to-outside", "old-dir", "stale.txt"]);
    assert!(
        dest.join("cache.pyc").exists(),
        "excluded paths are protected"
    );
    fs::remove_file(dest.join("cache.pyc")).unwrap();
    assert_mirror(&src, &dest);
    assert_eq!(fs::read(outside.join("precious")).unwrap(), b"keep me");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn symlinks_inside_the_tree_point_into_the_destination_others_stay_as_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    write(&src.join("target.txt"), b"t");
    write(&src.join("dir/f"), b"f");
    symlink(src.join("target.txt"), src.join("abs-inside")).unwrap();
    symlink(src.join("dir"), src.join("abs-inside-dir")).unwrap();
    symlink(&src, src.join("dir/abs-root")).unwrap();
    symlink("target.txt", src.join("relative")).unwrap();
    symlink("/etc/hostname", src.join("abs-outside")).unwrap();
    symlink("no/such/thing", src.join("dangling")).unwrap();
    let report = sync_one(&Group::new(), &src, &dest, false).await;
    assert_ok(&report);
    let link = |name: &str| fs::read_link(dest.join(name)).unwrap();
    assert_eq!(link("abs-inside"), dest.join("target.txt"));
    assert_eq!(link("abs-inside-dir"), dest.join("dir"));
    assert_eq!(link("dir/abs-root"), dest);
    assert_eq!(link("relative"), PathBuf::from("target.txt"));
    assert_eq!(link("abs-outside"), PathBuf::from("/etc/hostname"));
    assert_eq!(link("dangling"), PathBuf::from("no/such/thing"));
    assert_eq!(fs::read(dest.join("abs-inside")).unwrap(), b"t");
    assert_eq!(fs::read(dest.join("dir/f")).unwrap(), b"f");
}

#[tokio::test]
async fn a_destination_symlink_where_a_directory_goes_is_replaced_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    write(&src.join("sub/file.txt"), b"data");
    fs::create_dir_all(&dest).unwrap();
    symlink(&outside, dest.join("sub")).unwrap();
    // A file of the source whose destination name is a link to a file outside.
    write(&src.join("victim"), b"new");
    write(&outside.join("victim"), b"outside stays");
    symlink(outside.join("victim"), dest.join("victim")).unwrap();
    let report = sync_one(&Group::new(), &src, &dest, false).await;
    assert_ok(&report);
    assert!(fs::symlink_metadata(dest.join("sub")).unwrap().is_dir());
    assert_eq!(fs::read(dest.join("sub/file.txt")).unwrap(), b"data");
    assert!(
        fs::read_dir(&outside).unwrap().count() == 1,
        "nothing written outside"
    );
    assert_eq!(fs::read(outside.join("victim")).unwrap(), b"outside stays");
    assert_eq!(fs::read(dest.join("victim")).unwrap(), b"new");
}

#[tokio::test]
async fn dry_run_writes_nothing_and_says_what_it_would_do() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    write(&src.join("new.txt"), b"new");
    write(&src.join("changed.txt"), b"changed!");
    write(&src.join("same.txt"), b"same");
    let group = Group::new();
    assert_ok(&sync_one(&group, &src, &dest, false).await);
    write(&src.join("changed.txt"), b"changed again");
    fs::remove_file(src.join("new.txt")).unwrap();
    write(&src.join("brand-new.txt"), b"brand new");
    let before = snapshot(&dest);

    let gw = group.get("gw0").unwrap();
    let mut rsync = RSync::new(&src);
    rsync.dry_run(true);
    let report = run_one(rsync, gw, &dest, TargetOptions { delete: true }).await;
    assert_ok(&report);
    assert!(report.dry_run);
    assert_eq!(report.sent, ["brand-new.txt", "changed.txt"]);
    assert_eq!(report.deleted, ["new.txt"]);
    assert_eq!(snapshot(&dest), before, "nothing changed");

    // A dry run into a destination that does not exist makes nothing.
    let gw = group.get("gw0").unwrap();
    let missing = tmp.path().join("missing");
    let mut rsync = RSync::new(&src);
    rsync.dry_run(true);
    let report = run_one(rsync, gw, &missing, TargetOptions::default()).await;
    assert_ok(&report);
    assert_eq!(report.files_sent, 3);
    assert!(!missing.exists());
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn excludes_and_gitignore_files_leave_paths_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    write(&src.join("keep.py"), b"k");
    write(&src.join("drop.log"), b"d");
    write(&src.join("build/out.o"), b"o");
    write(&src.join("pkg/.gitignore"), b"*.tmp\n");
    write(&src.join("pkg/x.tmp"), b"x");
    write(&src.join("pkg/y.py"), b"y");
    write(&src.join("top.tmp"), b"not under pkg");
    let gw = Group::new().makegateway(&popen("")).await.unwrap();
    let mut rsync = RSync::new(&src);
    rsync
        .exclude("*.log")
        .exclude("build/")
        .filter_gitignore(true);
    let report = run_one(rsync, gw, &dest, TargetOptions::default()).await;
    assert_ok(&report);
    let mut names: Vec<String> = snapshot(&dest).into_keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["keep.py", "pkg", "pkg/.gitignore", "pkg/y.py", "top.tmp"]
    );
}

#[tokio::test]
async fn a_file_that_vanishes_mid_run_is_reported_and_the_rest_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    write(&src.join("a-big.bin"), &noise(48 * MIB, 3));
    write(&src.join("m.txt"), b"middle");
    write(&src.join("z-vanishes.txt"), b"soon gone");
    let group = Group::new();
    let gw = group.makegateway(&popen("")).await.unwrap();
    let victim = src.join("z-vanishes.txt");
    let watcher = on_progress(
        &gw,
        |kind| matches!(kind, EventKind::RsyncProgress { current: Some(c), .. } if c == "a-big.bin"),
        move || fs::remove_file(&victim).unwrap(),
    );
    let rsync = RSync::new(&src);
    let report = run_one(rsync, gw, &dest, TargetOptions::default()).await;
    // The start of a big file is announced at once (and z is read after
    // it): the file is gone before the sender gets to it.
    assert!(within(10, watcher).await.unwrap(), "saw the big file start");
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(
        report.errors[0].starts_with("z-vanishes.txt: "),
        "{report:?}"
    );
    assert_eq!(report.files_sent, 2);
    assert_eq!(fs::read(dest.join("m.txt")).unwrap(), b"middle");
    assert!(!dest.join("z-vanishes.txt").exists());
    assert!(partials(&dest).is_empty());
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_256_mib_file_streams_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    fs::create_dir_all(&src).unwrap();
    {
        use std::io::Write;
        let mut f = fs::File::create(src.join("huge.bin")).unwrap();
        let block = noise(4 * MIB, 11);
        for i in 0..64u8 {
            let mut b = block.clone();
            b[0] = i;
            f.write_all(&b).unwrap();
        }
    }
    let report = sync_one(&Group::new(), &src, &dest, false).await;
    assert_ok(&report);
    assert_eq!(report.bytes_sent, 256 * MIB as u64);
    let rss = report
        .remote_peak_rss_kib
        .expect("the receiver reports its peak RSS");
    assert!(rss < 64 * 1024, "the receiving worker peaked at {rss} KiB");
    assert_mirror(&src, &dest);
}

#[tokio::test]
async fn a_transfer_killed_midway_leaves_each_file_old_or_new_and_the_next_run_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    let old = |i: usize| noise(8 * MIB, 100 + i as u64);
    let new = |i: usize| noise(8 * MIB + 13, 200 + i as u64);
    for i in 0..8 {
        write(&dest.join(format!("f{i}.bin")), &old(i));
        write(&src.join(format!("f{i}.bin")), &new(i));
    }
    let group = Group::new();
    let gw = group.makegateway(&popen("")).await.unwrap();
    let victim = gw.clone();
    let killer = on_progress(
        &gw,
        |kind| {
            matches!(kind, EventKind::RsyncProgress { files_done, bytes_done, .. }
                if *files_done >= 2 && *bytes_done > 20 * MIB as u64)
        },
        move || victim.kill(),
    );
    let rsync = RSync::new(&src);
    let report = run_one(rsync, gw, &dest, TargetOptions::default()).await;
    assert!(within(10, killer).await.unwrap(), "killed midway");
    assert!(report.error.is_some(), "the target failed: {report:?}");
    let (mut olds, mut news) = (0, 0);
    for i in 0..8 {
        let data = fs::read(dest.join(format!("f{i}.bin"))).unwrap();
        if data == old(i) {
            olds += 1;
        } else if data == new(i) {
            news += 1;
        } else {
            panic!("f{i}.bin is neither old nor new ({} bytes)", data.len());
        }
    }
    assert!(news >= 2 && olds >= 1, "{news} new, {olds} old");

    let group = Group::new();
    let report = sync_one(&group, &src, &dest, false).await;
    assert_ok(&report);
    assert!(partials(&dest).is_empty(), "{:?}", partials(&dest));
    assert_mirror(&src, &dest);
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn three_targets_at_once_one_through_via_one_failing_the_others_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    small_tree(&src);
    chmod(&src.join("frozen"), 0o755);
    write(&tmp.path().join("a-file"), b"in the way");
    let group = Group::new();
    let dests = [
        tmp.path().join("d0"),
        tmp.path().join("d1"),
        tmp.path().join("a-file/below"),
    ];
    let mut rsync = RSync::new(&src);
    let finished = Arc::new(Mutex::new(Vec::new()));
    // The second target is a gateway started through the first.
    for (i, dest) in dests.iter().enumerate() {
        let spec = if i == 1 {
            popen("//via=gw0")
        } else {
            popen("")
        };
        let gw = group.makegateway(&spec).await.unwrap();
        let finished = finished.clone();
        rsync.add_target_with_callback(
            gw,
            dest.display().to_string(),
            TargetOptions::default(),
            move |r| finished.lock().unwrap().push(r.gateway.clone()),
        );
    }
    let mut events = group.subscribe_lifecycle();
    let reports = within(60, rsync.send()).await.unwrap();
    assert_eq!(reports.len(), 3);
    assert_ok(&reports[0]);
    assert_ok(&reports[1]);
    assert_mirror(&src, &dests[0]);
    assert_mirror(&src, &dests[1]);
    let error = reports[2].error.as_deref().expect("the third failed");
    assert!(error.contains("a-file"), "names the path: {error}");
    let mut called = finished.lock().unwrap().clone();
    called.sort();
    assert_eq!(called, ["gw0", "gw1", "gw2"]);

    // The reports reached the event stream too.
    let mut done = BTreeMap::new();
    while let Some(Received::Event(ev)) = events.try_recv() {
        if let EventKind::RsyncDone { report, .. } = ev.kind {
            done.insert(ev.gateway.to_string(), *report);
        }
    }
    assert_eq!(done.len(), 3);
    assert_eq!(done["gw1"], reports[1]);
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn cancel_stops_every_target_and_leaves_whole_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    for i in 0..4 {
        write(&src.join(format!("f{i}.bin")), &noise(16 * MIB, i));
    }
    let group = Group::new();
    let gw = group.makegateway(&popen("")).await.unwrap();
    let rsync = RSync::new(&src);
    let cancel = rsync.cancel_handle();
    on_progress(
        &gw,
        |kind| {
            matches!(
                kind,
                EventKind::RsyncProgress {
                    files_done: 1..,
                    ..
                }
            )
        },
        move || cancel.cancel(),
    );
    let report = run_one(rsync, gw.clone(), &dest, TargetOptions::default()).await;
    assert_eq!(report.error.as_deref(), Some("cancelled"));
    for i in 0..4 {
        let path = dest.join(format!("f{i}.bin"));
        if path.exists() {
            assert_eq!(fs::read(&path).unwrap(), noise(16 * MIB, i));
        }
    }
    // The receiver cleaned its temporary file when the channel closed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !partials(&dest).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(partials(&dest).is_empty());
    assert!(gw.is_alive(), "the gateway outlives a cancelled job");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn no_targets_and_a_missing_source_are_clear_errors() {
    let err = RSync::new("/nonexistent").send().await.unwrap_err();
    assert!(err.to_string().contains("no targets"), "{err}");
    let group = Group::new();
    let gw = group.makegateway(&popen("")).await.unwrap();
    let mut rsync = RSync::new("/nonexistent/source");
    rsync.add_target(gw, "/tmp/x", TargetOptions::default());
    let err = within(30, rsync.send()).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/source"), "{err}");
    let mut rsync = RSync::new("/");
    rsync.exclude("a{b");
    rsync.add_target(
        group.get("gw0").unwrap(),
        "/tmp/x",
        TargetOptions::default(),
    );
    let err = within(30, rsync.send()).await.unwrap_err();
    assert!(err.to_string().contains("a{b"), "{err}");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn over_an_ssh_gateway_to_a_real_sshd() {
    let sshd = common::sshd::Sshd::start();
    let tmp = tempfile::tempdir().unwrap();
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("dest"));
    small_tree(&src);
    write(&src.join("big.bin"), &noise(6 * MIB, 5));
    let group = Group::new();
    let gw = within(30, group.makegateway(&sshd.spec("")))
        .await
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log_text()));
    let rsync = RSync::new(&src);
    let report = run_one(rsync, gw.clone(), &dest, TargetOptions::default()).await;
    assert_ok(&report);
    assert_mirror(&src, &dest);
    // A delta over ssh.
    let mut data = noise(6 * MIB, 5);
    data[3 * MIB..3 * MIB + 100].fill(0);
    write(&src.join("big.bin"), &data);
    let rsync = RSync::new(&src);
    let report = run_one(rsync, gw, &dest, TargetOptions::default()).await;
    assert_ok(&report);
    assert_eq!(report.files_sent, 1);
    assert!(report.bytes_on_wire < 512 * 1024, "{report:?}");
    assert_mirror(&src, &dest);
    chmod(&src.join("frozen"), 0o755);
    chmod(&dest.join("frozen"), 0o755);
    group.terminate(Duration::from_secs(5)).await;
}
