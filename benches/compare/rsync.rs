//! Mirroring a tree to popen gateways: execdeck's `RSync` against execnet's
//! `execnet.RSync`, with `rsync -a` between two local directories as the
//! limit. The tree: many small files and a few big ones (random bytes, so
//! nothing compresses or dedups by accident).
//!
//! Our side runs in a child process (`--child-rsync`, the bench binary
//! itself) that only makes the gateways and syncs, so its peak resident
//! memory (VmHWM) is the sync's; execnet's runs in `execnet_side.py rsync`.
//! Each tool mirrors into destinations of its own; the source is shared.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use execdeck::Group;
use execdeck::engine::rsync::{RSync, TargetOptions};
use serde_json::{Value as Json, json};

use crate::report::{Better, Row};
use crate::workloads::Fallible;
use crate::{Bench, median, run_with_timeout};

/// Sizes of the tree.
pub struct TreePlan {
    pub small_files: usize,
    pub small_size: usize,
    pub big_files: usize,
    pub big_size: usize,
    /// Repetitions of the first sync, the no-change sync and the delta.
    pub reps: usize,
}

const KIB: f64 = 1024.0;

/// The rsync row's limit when there is no `rsync` to measure.
const NOT_INSTALLED: &str = "rsync(1) not installed";

/// Fills `buf` with pseudo-random bytes (xorshift64*) from `seed`.
fn random_fill(buf: &mut [u8], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

fn io(what: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", what.display())
}

/// Writes the source tree: `small/dNN/fNNNN` and `big/bN`.
fn make_tree(root: &Path, p: &TreePlan) -> Fallible<()> {
    let mut buf = vec![0u8; p.small_size];
    for i in 0..p.small_files {
        let dir = root.join(format!("small/d{:02}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        random_fill(&mut buf, i as u64 + 1);
        let path = dir.join(format!("f{i:04}"));
        std::fs::write(&path, &buf).map_err(io(&path))?;
    }
    let big = root.join("big");
    std::fs::create_dir_all(&big).map_err(io(&big))?;
    let mut chunk = vec![0u8; 1 << 20];
    for i in 0..p.big_files {
        let path = big.join(format!("b{i}"));
        let mut f = std::fs::File::create(&path).map_err(io(&path))?;
        let mut left = p.big_size;
        let mut seed = 1_000_000 + (i as u64) * 100_000;
        while left > 0 {
            let n = left.min(chunk.len());
            seed += 1;
            random_fill(&mut chunk[..n], seed);
            f.write_all(&chunk[..n]).map_err(io(&path))?;
            left -= n;
        }
    }
    Ok(())
}

/// Overwrites 1 KiB in the middle of each big file (a different place per
/// `round`), which also moves its mtime.
fn change_big_files(root: &Path, p: &TreePlan, round: usize) -> Fallible<()> {
    let mut patch = vec![0u8; 1024];
    for i in 0..p.big_files {
        let path = root.join(format!("big/b{i}"));
        random_fill(&mut patch, 7_000_000 + (round * 100 + i) as u64);
        let at = (p.big_size / 2 + round * 8192) % p.big_size.saturating_sub(1024).max(1);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        f.seek(SeekFrom::Start(at as u64)).map_err(io(&path))?;
        f.write_all(&patch).map_err(io(&path))?;
    }
    Ok(())
}

/// Writes every dirty page out (outside the clock), so that no run pays
/// for the write-back of the tree or of the run before it.
fn flush() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

fn remove(dirs: &[PathBuf]) {
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// What one run of our side reported.
struct Ours {
    seconds: f64,
    bytes_on_wire: f64,
    master_peak_kib: f64,
    remote_peak_kib: f64,
    /// CPU seconds (user + system) of this side's process during the send.
    master_cpu: f64,
    /// CPU seconds of the receiving workers during the send, all added up.
    receiver_cpu: f64,
}

/// Runs `--child-rsync` (this binary) syncing `src` to each of `dests`.
fn ours(b: &Bench, src: &Path, dests: &[PathBuf]) -> Fallible<Ours> {
    flush();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("--child-rsync").arg(&b.python).arg(src).args(dests);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(900))?;
    let doc: Json =
        serde_json::from_str(&out).map_err(|e| format!("the rsync child printed {out:?}: {e}"))?;
    let num = |k: &str| {
        doc[k]
            .as_f64()
            .ok_or_else(|| format!("the rsync child printed no {k}: {out:?}"))
    };
    Ok(Ours {
        seconds: num("seconds")?,
        bytes_on_wire: num("bytes_on_wire")?,
        master_peak_kib: num("master_peak_rss_kib")?,
        remote_peak_kib: num("remote_peak_rss_kib")?,
        master_cpu: num("master_cpu_s").unwrap_or(f64::NAN),
        receiver_cpu: num("receiver_cpu_s").unwrap_or(f64::NAN),
    })
}

/// What one run of execnet's side reported.
#[derive(Clone)]
struct Theirs {
    samples: Vec<f64>,
    bytes_on_wire: f64,
    master_peak_kib: f64,
    remote_peak_kib: f64,
}

fn theirs(b: &Bench, src: &Path, dests: &[PathBuf], reps: usize) -> Fallible<Theirs> {
    flush();
    let dest = dests
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let src = src.display().to_string();
    let doc = b.execnet_doc("rsync", 1, reps, &["--src", &src, "--dest", &dest])?;
    let samples = crate::samples_of(&doc)?;
    let remote = doc["remote_peak_rss_kib"]
        .as_array()
        .and_then(|a| a.iter().filter_map(Json::as_f64).reduce(f64::max));
    Ok(Theirs {
        samples,
        bytes_on_wire: doc["bytes_on_wire"].as_f64().unwrap_or(f64::NAN),
        master_peak_kib: doc["master_peak_rss_kib"].as_f64().unwrap_or(f64::NAN),
        remote_peak_kib: remote.unwrap_or(f64::NAN),
    })
}

/// execnet's runs taken together: the samples of all, the largest peaks,
/// the last run's bytes.
fn merge(parts: Vec<Fallible<Theirs>>) -> Fallible<Theirs> {
    let mut all: Option<Theirs> = None;
    for t in parts {
        let t = t?;
        all = Some(match all {
            None => t,
            Some(mut a) => {
                a.samples.extend(t.samples);
                a.bytes_on_wire = t.bytes_on_wire;
                a.master_peak_kib = a.master_peak_kib.max(t.master_peak_kib);
                a.remote_peak_kib = a.remote_peak_kib.max(t.remote_peak_kib);
                a
            }
        });
    }
    all.ok_or_else(|| "no repetitions".into())
}

/// `rsync -a src/ dest/` between two local directories, each time into
/// a fresh destination of `dests`; seconds.
fn rsync1(src: &Path, dests: &[PathBuf]) -> Fallible<Vec<f64>> {
    let mut samples = Vec::with_capacity(dests.len());
    for dest in dests {
        flush();
        let start = Instant::now();
        let out = Command::new("rsync")
            .arg("-a")
            .arg(format!("{}/", src.display()))
            .arg(format!("{}/", dest.display()))
            .output();
        let out = match out {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(NOT_INSTALLED.into());
            }
            Err(e) => return Err(format!("cannot run rsync: {e}")),
        };
        samples.push(start.elapsed().as_secs_f64());
        if !out.status.success() {
            return Err(format!(
                "rsync -a failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(samples)
}

/// Sets the execdeck column from our runs (`value` of each), keeping the samples.
fn ours_col(row: &mut Row, runs: &Fallible<Vec<Ours>>, value: impl Fn(&Ours) -> f64) {
    match runs {
        Ok(runs) => {
            let s: Vec<f64> = runs.iter().map(value).collect();
            row.execdeck = median(&s);
            row.extra.insert("execdeck_samples".into(), json!(s));
            let cpu: Vec<[f64; 2]> = runs
                .iter()
                .map(|r| [r.master_cpu, r.receiver_cpu])
                .collect();
            row.extra
                .insert("execdeck_cpu_s_master_receivers".into(), json!(cpu));
        }
        Err(e) => row.errors.push(format!("execdeck: {e}")),
    }
}

fn theirs_col(row: &mut Row, runs: &Fallible<Vec<f64>>) {
    match runs {
        Ok(s) => {
            row.execnet = median(s);
            row.extra.insert("execnet_samples".into(), json!(s));
        }
        Err(e) => row.errors.push(format!("execnet: {e}")),
    }
}

fn collect(runs: impl Iterator<Item = Fallible<Ours>>) -> Fallible<Vec<Ours>> {
    runs.collect()
}

/// Where the tree and the copies go: a temp dir in `/dev/shm` (tmpfs) when
/// it has room for all of them at once, so that what is measured is the
/// tools and not the state of a disk shared with other work (page cache
/// reclaim, ext4's inode allocation, write-back); else the usual temp dir.
/// Also what was chosen, for the JSON.
fn scratch(p: &TreePlan) -> (std::io::Result<tempfile::TempDir>, String) {
    // The source, 3 copies per tool per rep, 8 for the 4-gateway run; and 1 GiB spare.
    let tree = (p.small_files * p.small_size + p.big_files * p.big_size) as u64;
    let need = tree * (1 + 3 * p.reps as u64 + 8) + (1 << 30);
    let shm = Path::new("/dev/shm");
    // SAFETY: statvfs only writes into the struct we pass.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let free = match std::ffi::CString::new("/dev/shm") {
        Ok(c) if unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0 => {
            st.f_bavail as u64 * st.f_frsize as u64
        }
        _ => 0,
    };
    if free >= need {
        (tempfile::tempdir_in(shm), "tmpfs (/dev/shm)".into())
    } else {
        let t = tempfile::tempdir();
        let at = t
            .as_ref()
            .map_or_else(|_| String::new(), |t| t.path().display().to_string());
        (t, at)
    }
}

/// Every rsync row.
pub fn rows(b: &Bench) -> Vec<Row> {
    let p = &b.plan.rsync;
    let mib = (p.small_files * p.small_size + p.big_files * p.big_size) as f64 / KIB / KIB;
    let tree = format!(
        "{} × {} KiB + {} × {} MiB",
        p.small_files,
        p.small_size / 1024,
        p.big_files,
        p.big_size as f64 / KIB / KIB
    );
    let mut first = Row::new(
        format!("rsync first sync to popen ({tree}, {mib:.0} MiB)"),
        "s",
        Better::Lower,
    );
    let (tmp, place) = scratch(p);
    let on_tmpfs = place.starts_with("tmpfs");
    first.extra.insert("directory".into(), json!(place));
    let tmp = match tmp {
        Ok(t) => t,
        Err(e) => {
            first.errors.push(format!("temp dir: {e}"));
            return vec![first];
        }
    };
    let src = tmp.path().join("src");
    if let Err(e) = make_tree(&src, p) {
        first.errors.push(format!("cannot write the tree: {e}"));
        return vec![first];
    }
    // Every first sync goes to a fresh directory, and nothing is deleted
    // until the syncs that create files are done: ext4 skips inodes freed
    // in the last 30 s when it allocates new ones, so a burst of creates
    // right after deleting a tree costs several times the kernel time (seen
    // in perf: ext4_create → recently_deleted), whoever creates them.
    let fresh = |name: &str| -> Vec<PathBuf> {
        (0..p.reps)
            .map(|i| tmp.path().join(format!("{name}{i}")))
            .collect()
    };
    let (our_firsts, their_firsts) = (fresh("ours-first"), fresh("theirs-first"));
    let last = |dirs: &[PathBuf]| dirs[dirs.len() - 1..].to_vec();
    let (our_dest, their_dest) = (last(&our_firsts), last(&their_firsts));

    // First sync: ours, execnet's and rsync(1) take turns, one run each
    // per round.
    let rsync1_dests = fresh("rsync1-");
    let (mut our_parts, mut their_parts) = (Vec::new(), Vec::new());
    let mut limit = Ok(Vec::new());
    for i in 0..p.reps {
        our_parts.push(ours(b, &src, &our_firsts[i..=i]));
        their_parts.push(theirs(b, &src, &their_firsts[i..=i], 1));
        crate::extend(&mut limit, rsync1(&src, &rsync1_dests[i..=i]));
    }
    let runs = collect(our_parts.into_iter());
    let execnet_first = merge(their_parts);
    ours_col(&mut first, &runs, |r| r.seconds);
    let execnet_times = execnet_first.as_ref().map(|t| t.samples.clone());
    theirs_col(&mut first, &execnet_times.map_err(Clone::clone));
    match limit {
        Ok(s) => {
            first.limit = median(&s);
            first.limit_label = "rsync -a, local to local";
            first.extra.insert("limit_samples".into(), json!(s));
        }
        // Not a failure of the workload: the limit is just not known.
        Err(e) if e == NOT_INSTALLED => {
            first.limit_label = NOT_INSTALLED;
            first.extra.insert("limit_error".into(), json!(e));
        }
        Err(e) => first.errors.push(format!("limit: {e}")),
    }
    first.target = "≥ 2×, ≤ 1.5× rsync -a".into();
    first.met = first.ratio().map(|r| {
        r >= 2.0
            && match (first.execdeck, first.limit) {
                (Some(ours), Some(limit)) => ours <= 1.5 * limit,
                _ => true,
            }
    });
    if let Ok(runs) = &runs {
        let wire: Vec<f64> = runs.iter().map(|r| r.bytes_on_wire).collect();
        first
            .extra
            .insert("execdeck_bytes_on_wire".into(), json!(wire));
    }
    if let Ok(t) = &execnet_first {
        first
            .extra
            .insert("execnet_bytes_on_wire".into(), json!(t.bytes_on_wire));
    }

    // Peak memory of both sides during the first sync.
    let mut rss = Vec::new();
    for (side, of_ours, of_theirs) in [
        (
            "master",
            (|r: &Ours| r.master_peak_kib) as fn(&Ours) -> f64,
            (|t: &Theirs| t.master_peak_kib) as fn(&Theirs) -> f64,
        ),
        ("receiver", |r| r.remote_peak_kib, |t| t.remote_peak_kib),
    ] {
        let mut row = Row::new(
            format!("  … peak RSS during the first sync, {side}"),
            "MiB",
            Better::Lower,
        );
        ours_col(&mut row, &runs, |r| of_ours(r) / KIB);
        theirs_col(
            &mut row,
            &execnet_first
                .as_ref()
                .map(|t| vec![of_theirs(t) / KIB])
                .map_err(Clone::clone),
        );
        row.target = "≤ 64 MiB".into();
        row.met = row.execdeck.map(|m| m <= 64.0);
        rss.push(row);
    }

    // Nothing changed.
    let mut same = Row::new("rsync, nothing changed", "s", Better::Lower);
    let runs_same = collect((0..p.reps).map(|_| ours(b, &src, &our_dest)));
    ours_col(&mut same, &runs_same, |r| r.seconds);
    theirs_col(
        &mut same,
        &theirs(b, &src, &their_dest, p.reps).map(|t| t.samples),
    );
    crate::target_ratio(&mut same, 1.0);

    // 1 KiB changed in each big file.
    let mut delta_time = Row::new(
        format!("rsync, 1 KiB changed in each of {} big files", p.big_files),
        "s",
        Better::Lower,
    );
    let mut delta_bytes = Row::new("  … bytes on the wire", "KiB", Better::Lower);
    let mut our_runs = Vec::new();
    let mut their_runs: Fallible<Vec<Theirs>> = Ok(Vec::new());
    for round in 0..p.reps {
        if let Err(e) = change_big_files(&src, p, round) {
            delta_time.errors.push(e);
            break;
        }
        our_runs.push(ours(b, &src, &our_dest));
        match (their_runs.as_mut(), theirs(b, &src, &their_dest, 1)) {
            (Ok(all), Ok(t)) => all.push(t),
            (Ok(_), Err(e)) => their_runs = Err(e),
            (Err(_), _) => {}
        }
    }
    let our_runs: Fallible<Vec<Ours>> = our_runs.into_iter().collect();
    ours_col(&mut delta_time, &our_runs, |r| r.seconds);
    ours_col(&mut delta_bytes, &our_runs, |r| r.bytes_on_wire / KIB);
    let their_time = their_runs
        .as_ref()
        .map(|all| all.iter().flat_map(|t| t.samples.clone()).collect())
        .map_err(Clone::clone);
    let their_bytes = their_runs
        .as_ref()
        .map(|all| all.iter().map(|t| t.bytes_on_wire / KIB).collect())
        .map_err(Clone::clone);
    theirs_col(&mut delta_time, &their_time);
    theirs_col(&mut delta_bytes, &their_bytes);
    crate::target_ratio(&mut delta_time, 1.0);
    delta_time.target = "faster than execnet".into();
    delta_bytes.target = "≤ 1% of execnet".into();
    delta_bytes.met = delta_bytes
        .execdeck
        .zip(delta_bytes.execnet)
        .map(|(ours, theirs)| ours <= theirs / 100.0);

    // The first sync to 4 gateways at once. The copies so far go first, to
    // keep the disk use down, and then (on a disk) 30 s pass (see above).
    for dirs in [&our_firsts, &their_firsts, &rsync1_dests] {
        remove(dirs);
    }
    if !b.plan.quick && !on_tmpfs {
        std::thread::sleep(Duration::from_secs(31));
    }
    let mut four = Row::new(
        "rsync first sync to 4 popen gateways at once",
        "s",
        Better::Lower,
    );
    let ours4: Vec<PathBuf> = (0..4)
        .map(|i| tmp.path().join(format!("ours{i}")))
        .collect();
    let theirs4: Vec<PathBuf> = (0..4)
        .map(|i| tmp.path().join(format!("theirs{i}")))
        .collect();
    let runs4 = collect(std::iter::once(ours(b, &src, &ours4)));
    ours_col(&mut four, &runs4, |r| r.seconds);
    theirs_col(&mut four, &theirs(b, &src, &theirs4, 1).map(|t| t.samples));
    remove(&ours4);
    remove(&theirs4);
    four.target = "≤ 1.5× one gateway".into();
    if let (Some(at4), Some(at1)) = (four.execdeck, first.execdeck) {
        four.extra
            .insert("over_one_gateway".into(), json!(at4 / at1));
        four.name = format!("{} ({:.2}× one)", four.name, at4 / at1);
        four.met = Some(at4 <= 1.5 * at1);
    }
    let mut rows = vec![first];
    rows.extend(rss);
    rows.extend([same, delta_time, delta_bytes, four]);
    rows
}

/// `--child-rsync PYTHON SRC DEST...`: makes one popen gateway per DEST,
/// syncs SRC to all at once, and prints one JSON object: seconds of the
/// send, bytes on the wire (all targets), the receivers' largest peak
/// RSS and this process's (KiB).
pub fn child(args: &[String]) -> Fallible<String> {
    let (Some(python), Some(src)) = (args.get(2), args.get(3)) else {
        return Err("usage: --child-rsync PYTHON SRC DEST...".into());
    };
    let dests = &args[4.min(args.len())..];
    if dests.is_empty() {
        return Err("--child-rsync: no destination".into());
    }
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let group = Group::new();
        let spec = format!("popen//python={python}");
        let specs = vec![spec.as_str(); dests.len()];
        let mut job = RSync::new(src);
        for (made, dest) in group.makegateways(&specs).await.into_iter().zip(dests) {
            job.add_target(
                made.map_err(|e| e.to_string())?,
                dest.clone(),
                TargetOptions::default(),
            );
        }
        let pids: Vec<u32> = group.gateways().iter().filter_map(|g| g.pid()).collect();
        let cpu_before = (own_cpu(), pids.iter().map(|p| cpu_of(*p)).sum::<f64>());
        let start = Instant::now();
        let reports = job.send().await.map_err(|e| e.to_string());
        let seconds = start.elapsed().as_secs_f64();
        let master_cpu = own_cpu() - cpu_before.0;
        let receiver_cpu = pids.iter().map(|p| cpu_of(*p)).sum::<f64>() - cpu_before.1;
        group.terminate(Duration::from_secs(30)).await;
        let reports = reports?;
        if let Some(bad) = reports.iter().find(|r| !r.is_ok()) {
            return Err(format!("the sync failed: {:?} {:?}", bad.error, bad.errors));
        }
        let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .ok_or("no VmHWM in /proc/self/status")?;
        Ok(json!({
            "seconds": seconds,
            "bytes_on_wire": reports.iter().map(|r| r.bytes_on_wire).sum::<u64>(),
            "remote_peak_rss_kib": reports.iter().filter_map(|r| r.remote_peak_rss_kib).max(),
            "master_peak_rss_kib": hwm,
            "files_sent": reports.iter().map(|r| r.files_sent).sum::<u64>(),
            "master_cpu_s": master_cpu,
            "receiver_cpu_s": receiver_cpu,
        })
        .to_string())
    })
}

/// CPU seconds (user + system) this process has used.
fn own_cpu() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// CPU seconds (user + system, all threads) process `pid` has used, from
/// /proc/PID/stat; NaN when it cannot be read.
fn cpu_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // The fields after the command (which may hold spaces) in parentheses.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 11 and 12 here.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) if hz > 0.0 => (u + s) / hz,
        _ => f64::NAN,
    }
}
