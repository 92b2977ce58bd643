//! What a popen gateway costs to start: the median of full cycles (start a
//! gateway, `remote_exec` of `channel.send(1)`, receive the 1, terminate,
//! process gone) next to a bare `python -c pass` measured in the same run,
//! and the cost per gateway of groups of 8 and 64 started at once.
//!
//! ```text
//! cargo run --release --example startup_probe -- [PYTHON] [RUNS]
//! ```
//!
//! `PROBE_REPS=n` sets how many times each group size runs (alternating, so
//! both see the same background load). For profilers, `PROBE_ONLY=bare` or
//! `PROBE_ONLY=cycle` runs just `RUNS` bare interpreters or gateway cycles.

use std::time::{Duration, Instant};

use execdeck::{Group, Value};

type Result<T> = std::result::Result<T, String>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time (user + system) of this process and of its waited-for children, in ms.
fn cpu_ms() -> (f64, f64) {
    let get = |who| {
        // SAFETY: an all-zero rusage is valid; getrusage only writes to it.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage.
        unsafe { libc::getrusage(who, &mut ru) };
        let tv = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    (get(libc::RUSAGE_SELF), get(libc::RUSAGE_CHILDREN))
}

/// One `python -c pass`, in ms.
fn bare(python: &str) -> Result<f64> {
    let t = Instant::now();
    let status = std::process::Command::new(python)
        .args(["-c", "pass"])
        .status()
        .map_err(|e| format!("{python}: {e}"))?;
    if !status.success() {
        return Err(format!("{python} -c pass: {status}"));
    }
    Ok(ms(t.elapsed()))
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Runs `channel.send(1)` on every gateway and checks the answers.
async fn send_one(gateways: &[execdeck::Gateway]) -> Result<()> {
    let mut channels = Vec::new();
    for gw in gateways {
        channels.push(
            gw.remote_exec("channel.send(1)")
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    for ch in channels {
        let v = ch
            .receive(Some(Duration::from_secs(30)))
            .await
            .map_err(|e| e.to_string())?;
        if v != Value::Int(1) {
            return Err(format!("got {v:?} instead of 1"));
        }
    }
    Ok(())
}

/// One full cycle; the phase times in ms: start, exec, terminate.
async fn cycle(spec: &str) -> Result<[f64; 3]> {
    let group = Group::new();
    let t0 = Instant::now();
    let gw = group.makegateway(spec).await.map_err(|e| e.to_string())?;
    let t1 = Instant::now();
    send_one(std::slice::from_ref(&gw)).await?;
    let t2 = Instant::now();
    let pid = gw.pid().ok_or("no pid")?;
    group.terminate(Duration::from_secs(5)).await;
    if alive(pid) {
        return Err(format!("worker {pid} still there after terminate"));
    }
    let t3 = Instant::now();
    Ok([ms(t1 - t0), ms(t2 - t1), ms(t3 - t2)])
}

/// `n` gateways at once; ms per gateway: wall, master CPU, workers' CPU.
async fn concurrent(spec: &str, n: usize) -> Result<[f64; 3]> {
    let group = Group::new();
    let c0 = cpu_ms();
    let t0 = Instant::now();
    let specs = vec![spec.to_owned(); n];
    let mut gateways = Vec::new();
    for gw in group.makegateways(&specs).await {
        gateways.push(gw.map_err(|e| e.to_string())?);
    }
    send_one(&gateways).await?;
    let pids: Vec<u32> = gateways.iter().filter_map(|g| g.pid()).collect();
    group.terminate(Duration::from_secs(10)).await;
    if let Some(pid) = pids.iter().find(|p| alive(**p)) {
        return Err(format!("worker {pid} still there after terminate"));
    }
    let wall = ms(t0.elapsed());
    let c1 = cpu_ms();
    let n = n as f64;
    Ok([wall / n, (c1.0 - c0.0) / n, (c1.1 - c0.1) / n])
}

async fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let python = args.next().unwrap_or_else(|| "python3".into());
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(30);
    let env_num = |name: &str| std::env::var(name).ok().and_then(|s| s.parse().ok());
    let spec = format!("popen//python={python}");
    if let Ok(mode) = std::env::var("PROBE_ONLY") {
        for _ in 0..runs {
            match mode.as_str() {
                "bare" => drop(bare(&python)?),
                _ => drop(cycle(&spec).await?),
            }
        }
        return Ok(());
    }
    // Warm-up: page cache, the worker cache and its pyc.
    bare(&python)?;
    cycle(&spec).await?;

    let (mut bares, mut totals) = (Vec::new(), Vec::new());
    let mut phases: [Vec<f64>; 3] = Default::default();
    let (mut bare_cpu, mut cycle_cpu) = (0.0, 0.0);
    for _ in 0..runs {
        let c0 = cpu_ms().1;
        bares.push(bare(&python)?);
        let c1 = cpu_ms().1;
        let p = cycle(&spec).await?;
        bare_cpu += c1 - c0;
        cycle_cpu += cpu_ms().1 - c1;
        for (all, one) in phases.iter_mut().zip(p) {
            all.push(one);
        }
        totals.push(p.iter().sum());
    }
    let b = median(bares);
    let t = median(totals);
    let runs_f = runs as f64;
    println!(
        "python -c pass : {b:6.2} ms   (CPU per run: bare {:.2}, gateway worker {:.2})",
        bare_cpu / runs_f,
        cycle_cpu / runs_f
    );
    println!("gateway cycle  : {t:6.2} ms   ({:.2}x)", t / b);
    let [start, exec, term] = phases.map(median);
    println!("  start {start:.2}  exec {exec:.2}  terminate {term:.2}");

    let reps: usize = env_num("PROBE_REPS").unwrap_or((runs / 6).max(3));
    let sizes = [8usize, 64];
    let mut per: [Vec<[f64; 3]>; 2] = Default::default();
    for _ in 0..reps {
        for (i, n) in sizes.into_iter().enumerate() {
            per[i].push(concurrent(&spec, n).await?);
        }
    }
    for (i, n) in sizes.into_iter().enumerate() {
        let col = |k: usize| median(per[i].iter().map(|p| p[k]).collect());
        println!(
            "group of {n:2}    : {:6.2} ms per gateway (CPU per gateway: master {:.2}, worker {:.2})",
            col(0),
            col(1),
            col(2)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("startup_probe: {e}");
        std::process::exit(1);
    }
}
