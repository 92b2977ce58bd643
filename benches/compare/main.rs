//! execdeck and execnet side by side, in one run on one machine.
//!
//! ```text
//! cargo bench --bench compare               # every workload, full size (a few minutes)
//! cargo bench --bench compare -- --quick    # each workload briefly: checks that it works
//! cargo bench --bench compare -- --only echo,bulk
//! cargo bench --bench compare -- --only serializer-dict   # the Rust serializer alone
//! cargo bench --bench compare -- --only tui               # the TUI's traffic frame time
//! cargo bench --bench compare -- --only ssh,socket,via,rsync
//! cargo bench --bench compare -- --only shim   # a group of 8 through a python3 shim
//! ```
//!
//! The ssh rows start a throwaway sshd on 127.0.0.1 (`ssh.rs`), the socket
//! rows `execdeck serve --loop` and execnet's own socket server (`net.rs`),
//! the rsync rows write a tree in a temp dir and sync it in child
//! processes so that peak memory can be read (`rsync.rs`).
//!
//! execdeck is driven through its Rust engine API; execnet 2.1.2 (from PyPI,
//! in `.venv/`, created by `scripts/venv.sh` when missing) through
//! `benches/execnet_side.py`. Both use the same interpreter for their
//! workers. The table shows medians; `target/bench/compare.json` has the
//! raw samples. Targets are reported, never enforced: the command fails
//! only when a workload does not work.

mod limits;
mod net;
mod report;
mod rsync;
mod shim;
mod ssh;
mod tui;
mod workloads;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use report::{Better, Row};
use serde_json::json;
use workloads::Fallible;

/// Sizes and repetitions of one run.
struct Plan {
    quick: bool,
    startup_reps: usize,
    group_sizes: &'static [(usize, usize)],
    memory_gateways: usize,
    echo_n: usize,
    bulk_items: usize,
    small_items: usize,
    reps: usize,
    serializer_items: usize,
    /// Entries of the dict the Rust serializer round-trips.
    serializer_dict_entries: usize,
    /// Repetitions of one ssh gateway's start.
    ssh_reps: usize,
    /// Gateways in the ssh group, and repetitions.
    ssh_group: (usize, usize),
    /// Repetitions of one socket gateway's start.
    socket_reps: usize,
    /// Repetitions of one via gateway's start.
    via_reps: usize,
    rsync: rsync::TreePlan,
}

const FULL: Plan = Plan {
    quick: false,
    startup_reps: 21,
    group_sizes: &[(1, 7), (8, 5), (32, 3), (64, 3), (128, 3), (256, 2)],
    memory_gateways: 64,
    echo_n: 2000,
    bulk_items: 512,
    small_items: 200_000,
    reps: 5,
    serializer_items: 100_000,
    serializer_dict_entries: 1_000_000,
    ssh_reps: 11,
    ssh_group: (32, 3),
    socket_reps: 21,
    via_reps: 11,
    rsync: rsync::TreePlan {
        small_files: 5000,
        small_size: 4096,
        big_files: 4,
        big_size: 64 << 20,
        reps: 3,
    },
};

const QUICK: Plan = Plan {
    quick: true,
    startup_reps: 2,
    group_sizes: &[(1, 1), (8, 1)],
    memory_gateways: 8,
    echo_n: 100,
    bulk_items: 8,
    small_items: 5000,
    reps: 1,
    serializer_items: 2000,
    serializer_dict_entries: 10_000,
    ssh_reps: 1,
    ssh_group: (4, 1),
    socket_reps: 2,
    via_reps: 1,
    rsync: rsync::TreePlan {
        small_files: 50,
        small_size: 4096,
        big_files: 4,
        big_size: 256 << 10,
        reps: 1,
    },
};

/// Everything a workload needs to know.
struct Bench {
    plan: Plan,
    root: PathBuf,
    python: String,
    only: Option<Vec<String>>,
    rt: tokio::runtime::Runtime,
}

fn median(samples: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

impl Bench {
    fn spec(&self) -> String {
        format!("popen//python={}", self.python)
    }

    /// Runs a workload as a task on the runtime's workers, where an
    /// application's tasks run (code on `block_on`'s own thread pays a
    /// thread hop per wake-up).
    fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Fallible<T>> + Send + 'static,
    ) -> Fallible<T> {
        self.rt
            .block_on(self.rt.spawn(work))
            .map_err(|e| format!("the workload task failed: {e}"))?
    }

    fn wanted(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| name.starts_with(o.as_str())))
    }

    /// Runs `benches/execnet_side.py WORKLOAD` and returns its samples.
    fn execnet(&self, workload: &str, n: usize, reps: usize) -> Fallible<Vec<f64>> {
        self.execnet_with(workload, n, reps, &[])
    }

    /// [`Bench::execnet`] with more arguments (`--spec SPEC`, ...).
    fn execnet_with(
        &self,
        workload: &str,
        n: usize,
        reps: usize,
        extra: &[&str],
    ) -> Fallible<Vec<f64>> {
        samples_of(&self.execnet_doc(workload, n, reps, extra)?)
    }

    /// Runs `benches/execnet_side.py WORKLOAD` and returns all it printed.
    fn execnet_doc(
        &self,
        workload: &str,
        n: usize,
        reps: usize,
        extra: &[&str],
    ) -> Fallible<serde_json::Value> {
        let script = self.root.join("benches/execnet_side.py");
        let out = run_with_timeout(
            Command::new(&self.python)
                .arg(&script)
                .args([
                    workload,
                    "--python",
                    &self.python,
                    "--reps",
                    &reps.to_string(),
                    "--n",
                    &n.to_string(),
                ])
                .args(extra),
            Duration::from_secs(900),
        )?;
        serde_json::from_str(&out).map_err(|e| format!("execnet side printed {out:?}: {e}"))
    }
}

/// The `samples` of what `execnet_side.py` printed.
fn samples_of(doc: &serde_json::Value) -> Fallible<Vec<f64>> {
    doc["samples"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
        .ok_or_else(|| format!("execnet side printed no samples: {doc}"))
}

/// Runs a command to completion within `limit`; its stdout, or why it failed.
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Fallible<String> {
    use std::io::Read;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?} did not finish within {limit:?}"));
            }
            Err(e) => return Err(format!("waiting for {cmd:?}: {e}")),
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut stderr);
    }
    if !status.success() {
        return Err(format!("{cmd:?} failed ({status}): {}", stderr.trim()));
    }
    Ok(stdout)
}

/// Fills a row's execdeck and execnet columns from samples (medians), keeping the samples.
fn fill(row: &mut Row, ours: Fallible<Vec<f64>>, theirs: Fallible<Vec<f64>>) {
    match ours {
        Ok(s) => {
            row.execdeck = median(&s);
            row.extra.insert("execdeck_samples".into(), json!(s));
        }
        Err(e) => row.errors.push(format!("execdeck: {e}")),
    }
    match theirs {
        Ok(s) => {
            row.execnet = median(&s);
            row.extra.insert("execnet_samples".into(), json!(s));
        }
        Err(e) => row.errors.push(format!("execnet: {e}")),
    }
}

fn set_limit(row: &mut Row, label: &'static str, samples: Fallible<Vec<f64>>) {
    match samples {
        Ok(s) => {
            row.limit = median(&s);
            row.limit_label = label;
            row.extra.insert("limit_samples".into(), json!(s));
        }
        Err(e) => row.errors.push(format!("limit: {e}")),
    }
}

/// Sets the target text and whether the ratio meets `min_ratio`.
fn target_ratio(row: &mut Row, min_ratio: f64) {
    row.target = format!("≥ {min_ratio}×");
    row.met = row.ratio().map(|r| r >= min_ratio);
}

fn startup(b: &Bench) -> Row {
    let mut row = Row::new("popen gateway: start, exec, exit", "ms", Better::Lower);
    let reps = b.plan.startup_reps;
    let spec = b.spec();
    let ours = b.run(workloads::startup(spec.clone(), reps));
    fill(&mut row, ours, b.execnet("startup", 1, reps));
    set_limit(
        &mut row,
        "python -c pass",
        limits::bare_python(&b.python, reps),
    );
    row.target = "≥ 2× and ≤ 1.6× limit".into();
    row.met = match (row.ratio(), row.execdeck, row.limit) {
        (Some(r), Some(ours), Some(limit)) => Some(r >= 2.0 && ours <= 1.6 * limit),
        _ => None,
    };
    if let (Some(ours), Some(limit)) = (row.execdeck, row.limit) {
        row.extra.insert("over_limit".into(), json!(ours / limit));
    }
    row
}

/// Groups of popen gateways of growing size; ms per gateway. The limit is
/// the CPU-bound floor: the CPU time of one `python -c pass` divided by the
/// cores (each gateway must at least start an interpreter).
fn groups(b: &Bench) -> Vec<Row> {
    let spec = b.spec();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let floor = limits::python_cpu_ms(&b.python, b.plan.startup_reps).map(|ms| ms / cores as f64);
    let mut rows = Vec::new();
    let mut per_gateway_at_8 = None;
    for &(n, reps) in b.plan.group_sizes {
        let mut row = Row::new(
            format!("group of {n} popen: ready, exec, terminate"),
            "ms/gw",
            Better::Lower,
        );
        let per = |s: Fallible<Vec<f64>>| s.map(|v| v.iter().map(|t| t / n as f64).collect());
        let ours = per(b.run(workloads::group(spec.clone(), n, reps)));
        fill(&mut row, ours, per(b.execnet("group", n, reps)));
        row.extra.insert("gateways".into(), json!(n));
        match &floor {
            Ok(f) => {
                row.limit = Some(*f);
                row.limit_label = "CPU floor: python -c pass CPU / cores";
            }
            Err(e) => row.errors.push(format!("limit: {e}")),
        }
        if n == 8 {
            per_gateway_at_8 = row.execdeck;
        }
        if n >= 8 {
            // Flat: per-gateway cost must not grow with the group (10% noise).
            row.target = "≥ 4×, flat from 8, ≤ 1.5× floor".into();
            row.met = match (row.ratio(), per_gateway_at_8, row.execdeck, row.limit) {
                (Some(r), Some(at8), Some(here), Some(floor)) => {
                    Some(r >= 4.0 && here <= at8 * 1.1 && here <= 1.5 * floor)
                }
                _ => None,
            };
            if let (Some(here), Some(floor)) = (row.execdeck, row.limit) {
                row.extra.insert("over_floor".into(), json!(here / floor));
            }
        }
        rows.push(row);
    }
    rows
}

fn memory(b: &Bench) -> Row {
    let n = b.plan.memory_gateways;
    let mut row = Row::new(
        format!("master memory per idle gateway ({n})"),
        "KiB",
        Better::Lower,
    );
    let ours = std::env::current_exe()
        .map_err(|e| e.to_string())
        .and_then(|exe| {
            run_with_timeout(
                Command::new(exe).args(["--child-memory", &n.to_string(), &b.python]),
                Duration::from_secs(300),
            )
        })
        .and_then(|out| {
            out.trim()
                .parse::<f64>()
                .map(|v| vec![v])
                .map_err(|e| format!("memory child printed {out:?}: {e}"))
        });
    fill(&mut row, ours, b.execnet("memory", n, 1));
    row.target = "≤ execnet".into();
    row.met = row.ratio().map(|r| r >= 1.0);
    row
}

fn echo(b: &Bench) -> Row {
    let mut row = Row::new("echo round trip (int)", "µs", Better::Lower);
    let (n, reps) = (b.plan.echo_n, b.plan.reps);
    // Round trips are wake-ups, whose cost on a virtual machine drifts over
    // minutes: the three measurements take turns, one sample each per round.
    let (mut ours, mut theirs, mut limit) = (Ok(Vec::new()), Ok(Vec::new()), Ok(Vec::new()));
    for _ in 0..reps {
        let spec = b.spec();
        extend(&mut ours, b.run(workloads::echo(spec, n, 1)));
        extend(&mut theirs, b.execnet("echo", n, 1));
        extend(
            &mut limit,
            b.run(limits::pipe_ping_pong(b.python.clone(), n, 1)),
        );
    }
    fill(&mut row, ours, theirs);
    set_limit(&mut row, "byte ping-pong over pipes", limit);
    target_ratio(&mut row, 1.8);
    row
}

/// Adds a round's samples to `all`, keeping the first failure.
fn extend(all: &mut Fallible<Vec<f64>>, round: Fallible<Vec<f64>>) {
    match (all.as_mut(), round) {
        (Ok(all), Ok(more)) => all.extend(more),
        (Ok(_), Err(e)) => *all = Err(e),
        (Err(_), _) => {}
    }
}

fn bulk(b: &Bench) -> Vec<Row> {
    let (n, reps) = (b.plan.bulk_items, b.plan.reps);
    let mib = (n * workloads::BULK_ITEM) >> 20;
    let spec = b.spec();
    let mut rows = Vec::new();
    for out in [true, false] {
        let (name, ours, theirs) = if out {
            (
                format!("bulk remote → local ({mib} MiB)"),
                b.run(workloads::bulk_out(spec.clone(), n, reps)),
                "bulk_out",
            )
        } else {
            (
                format!("bulk local → remote ({mib} MiB)"),
                b.run(workloads::bulk_in(spec.clone(), n, reps)),
                "bulk_in",
            )
        };
        let mut row = Row::new(name, "GB/s", Better::Higher);
        fill(&mut row, ours, b.execnet(theirs, n, reps));
        let limit = |link| {
            let python = b.python.clone();
            if out {
                b.run(limits::pipe_out(python, n, reps, link))
            } else {
                b.run(limits::pipe_in(python, n, reps, link))
            }
        };
        let (pipe_label, pair_label) = if out {
            ("python → pipe → Rust", "python → socketpair → Rust")
        } else {
            ("Rust → pipe → python", "Rust → socketpair → python")
        };
        set_limit(&mut row, pipe_label, limit(limits::Link::Pipe));
        target_ratio(&mut row, 3.0);
        let mut pair = Row::new("  … beside a socketpair", "GB/s", Better::Higher);
        pair.execdeck = row.execdeck;
        set_limit(&mut pair, pair_label, limit(limits::Link::SocketPair));
        pair.ratio_override = pair
            .execdeck
            .zip(pair.limit)
            .map(|(ours, limit)| ours / limit);
        pair.target = "≥ 0.8× socketpair, if popen could use one".into();
        rows.extend([row, pair]);
    }
    rows
}

fn small(b: &Bench) -> Vec<Row> {
    let (n, reps) = (b.plan.small_items, b.plan.reps);
    let spec = b.spec();
    let mut plain = Row::new(
        format!("small items remote → local ({n} ints)"),
        "items/s",
        Better::Higher,
    );
    fill(
        &mut plain,
        b.run(workloads::small(spec.clone(), n, reps, false)),
        b.execnet("small", n, reps),
    );
    target_ratio(&mut plain, 2.0);
    let mut sub = Row::new("  … with an event subscriber", "items/s", Better::Higher);
    match b.run(workloads::small(spec.clone(), n, reps, true)) {
        Ok(s) => {
            sub.execdeck = median(&s);
            sub.extra.insert("execdeck_samples".into(), json!(s));
        }
        Err(e) => sub.errors.push(format!("execdeck: {e}")),
    }
    sub.ratio_override = sub
        .execdeck
        .zip(plain.execdeck)
        .map(|(with, without)| with / without);
    sub.target = "≥ 0.95× no subscriber".into();
    sub.met = sub.ratio_override.map(|r| r >= 0.95);
    vec![plain, sub]
}

fn cli(b: &Bench) -> Row {
    let mut row = Row::new(
        "CLI: exec -c \"channel.send(1)\", whole process",
        "ms",
        Better::Lower,
    );
    let reps = b.plan.startup_reps;
    let spec = b.spec();
    let exe = env!("CARGO_BIN_EXE_execdeck");
    let ours = limits::time_command(
        || {
            let mut c = Command::new(exe);
            c.args(["exec", "-c", "channel.send(1)", "-g", &spec]);
            c
        },
        reps,
        Some("1\n"),
    );
    let script = format!(
        "import execnet\ngw = execnet.makegateway({spec:?})\nch = gw.remote_exec('channel.send(1)')\n\
         print(ch.receive())\ngw.exit()\n"
    );
    let theirs = limits::time_command(
        || {
            let mut c = Command::new(&b.python);
            c.args(["-c", &script]);
            c
        },
        reps,
        Some("1\n"),
    );
    fill(&mut row, ours, theirs);
    target_ratio(&mut row, 2.0);
    row
}

fn serializer(b: &Bench) -> Row {
    let n = b.plan.serializer_items;
    let mut row = Row::new(
        format!("worker serializer: dumps+loads {n} dicts"),
        "s",
        Better::Lower,
    );
    let code = format!(
        "import json, sys\nsys.path.insert(0, {:?})\nimport serializer\n\
         print(json.dumps(serializer.run(n={n}, repeat={})))\n",
        b.root.join("benches").display().to_string(),
        b.plan.reps
    );
    let result = run_with_timeout(
        Command::new(&b.python).args(["-c", &code]),
        Duration::from_secs(600),
    )
    .and_then(|out| {
        serde_json::from_str::<serde_json::Value>(&out).map_err(|e| format!("{out:?}: {e}"))
    });
    match result {
        Ok(doc) => {
            row.execdeck = doc["execdeck"].as_f64();
            row.execnet = doc["execnet"].as_f64();
            row.extra.insert("pickle".into(), doc["pickle"].clone());
        }
        Err(e) => row.errors.push(e),
    }
    target_ratio(&mut row, 2.0);
    row
}

/// The Rust serializer (`execdeck::wire`) on its own: dumps+loads of one big
/// dict, in this process. Reported only: there is no execnet column and no
/// target.
fn serializer_dict(b: &Bench) -> Row {
    let n = b.plan.serializer_dict_entries;
    let mut row = Row::new(
        format!("Rust serializer: dumps+loads a {n}-entry dict"),
        "s",
        Better::Lower,
    );
    match workloads::serializer_dict(n, b.plan.reps) {
        Ok(s) => {
            row.execdeck = median(&s);
            row.extra.insert("execdeck_samples".into(), json!(s));
        }
        Err(e) => row.errors.push(format!("execdeck: {e}")),
    }
    row
}

/// Facts about this machine and run, for the JSON and the README.
fn machine(b: &Bench) -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let python = Command::new(&b.python)
        .args(["-c", "import sys; print(sys.version.split()[0])"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "os": std::env::consts::OS,
        "python": python,
        "quick": b.plan.quick,
    })
}

fn parse_args() -> Result<(Plan, Option<Vec<String>>), String> {
    let mut plan = FULL;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => plan = QUICK,
            "--only" => {
                let list = args.next().ok_or("--only needs a list of workload names")?;
                only = Some(list.split(',').map(str::to_owned).collect());
            }
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            other => {
                return Err(format!(
                    "unknown argument {other:?}; expected --quick or --only NAMES"
                ));
            }
        }
    }
    Ok((plan, only))
}

/// `--child-memory N PYTHON`: the memory workload, in a process of its own.
fn child_memory(args: &[String]) -> ExitCode {
    let (Some(n), Some(python)) = (args.get(2).and_then(|n| n.parse().ok()), args.get(3)) else {
        eprintln!("usage: --child-memory N PYTHON");
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(workloads::memory(&format!("popen//python={python}"), n)) {
        Ok(kib) => {
            println!("{kib}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The traffic inspector's frame time with 200k messages held and a filter
/// on, while messages keep arriving (see `tui.rs`). Reported only.
fn tui_traffic(b: &Bench) -> Row {
    let mut row = Row::new(
        "tui traffic frame, 200k messages, filter on",
        "ms",
        Better::Lower,
    );
    let (frames, per_frame) = if b.plan.quick {
        (20, 1000)
    } else {
        (200, 1000)
    };
    match tui::traffic_frames(frames, per_frame) {
        Ok((times, ingest_us)) => {
            row.execdeck = median(&times);
            row.extra.insert("execdeck_samples".into(), json!(times));
            row.extra
                .insert("ingest_us_per_message".into(), json!(ingest_us));
            row.extra
                .insert("messages_per_frame".into(), json!(per_frame));
        }
        Err(e) => row.errors.push(format!("execdeck: {e}")),
    }
    row.target = "≤ 16 ms".into();
    row.met = row.execdeck.map(|ms| ms <= 16.0);
    row
}

fn setup_python(root: &Path) -> Fallible<String> {
    let out = run_with_timeout(
        &mut Command::new(root.join("scripts/venv.sh")),
        Duration::from_secs(600),
    )?;
    Ok(out.trim().to_owned())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child-memory") {
        return child_memory(&args);
    }
    if args.get(1).map(String::as_str) == Some("--child-rsync") {
        return match rsync::child(&args) {
            Ok(out) => {
                println!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let (plan, only) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("compare: {e}");
            return ExitCode::from(2);
        }
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = match setup_python(&root) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("compare: cannot prepare the Python venv with execnet: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("compare: {e}");
            return ExitCode::FAILURE;
        }
    };
    let b = Bench {
        plan,
        root,
        python,
        only,
        rt,
    };
    let mut rows = Vec::new();
    type Workload = fn(&Bench) -> Vec<Row>;
    let all: [(&str, Workload); 15] = [
        ("startup", |b| vec![startup(b)]),
        ("group", groups),
        ("shim", shim::rows),
        ("ssh", ssh::rows),
        ("socket", net::socket_rows),
        ("via", |b| vec![net::via_row(b)]),
        ("rsync", rsync::rows),
        ("memory", |b| vec![memory(b)]),
        ("echo", |b| vec![echo(b)]),
        ("bulk", bulk),
        ("small", small),
        ("cli", |b| vec![cli(b)]),
        ("serializer", |b| vec![serializer(b)]),
        ("serializer-dict", |b| vec![serializer_dict(b)]),
        ("tui", |b| vec![tui_traffic(b)]),
    ];
    for (name, run) in all {
        if b.wanted(name) {
            eprintln!("compare: {name} …");
            rows.extend(run(&b));
        }
    }
    let machine = machine(&b);
    println!(
        "\nexecdeck vs execnet 2.1.2 — {} cores, {}, Python {}{}\n",
        machine["cores"],
        machine["cpu"].as_str().unwrap_or("?"),
        machine["python"].as_str().unwrap_or("?"),
        if b.plan.quick {
            " (--quick: sizes too small to mean anything)"
        } else {
            ""
        }
    );
    print!("{}", report::table(&rows));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| b.root.join("target"), PathBuf::from);
    let dir = target.join("bench");
    let written = report::write_rows(&dir.join("compare.json"), &rows)
        .and_then(|()| report::write_json(&dir.join("compare-machine.json"), &machine));
    match written {
        Ok(()) => println!("\nraw numbers: {}", dir.join("compare.json").display()),
        Err(e) => eprintln!("compare: cannot write {}: {e}", dir.display()),
    }
    if rows.iter().any(|r| !r.errors.is_empty()) {
        eprintln!("compare: some workloads failed (see above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
