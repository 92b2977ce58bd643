//! Where the master's memory per idle popen gateway goes: RSS, the heap in
//! use (glibc `mallinfo2`), the heap's free pages, and the threads, before
//! and after `N` idle gateways, made as the bench's memory row makes them
//! (one gateway started, used and ended first, so one-time costs are not
//! counted per gateway). `PROBE_EXIT=1` exits right after printing
//! (the workers see EOF and end) instead of terminating the group;
//! `PROBE_SMAPS=DIR` keeps
//! `/proc/self/smaps` from before and after in DIR.
//!
//! ```text
//! cargo run --release --example memory_probe -- [N] [PYTHON]
//! ```

use std::time::Duration;

use execdeck::Group;

fn status(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[derive(Debug, Clone, Copy)]
struct Snap {
    rss: f64,
    anon: f64,
    threads: f64,
    heap_used: f64,
    heap_free: f64,
    mmapped: f64,
}

fn snap() -> Snap {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let mi = unsafe { libc::mallinfo2() };
    Snap {
        rss: status("VmRSS:"),
        anon: status("RssAnon:"),
        threads: status("Threads:"),
        heap_used: mi.uordblks as f64 / 1024.0,
        heap_free: mi.fordblks as f64 / 1024.0,
        mmapped: mi.hblkhd as f64 / 1024.0,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let python = args.get(2).cloned().unwrap_or_else(|| "python3".into());
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return eprintln!("memory_probe: no runtime: {e}"),
    };
    if let Err(e) = rt.block_on(probe(n, python)) {
        eprintln!("memory_probe: {e}");
        std::process::exit(1);
    }
}

/// Starts, uses and ends one gateway (so one-time costs are paid), then
/// measures `n` idle gateways; with `PROBE_SMAPS=DIR` it also keeps
/// `/proc/self/smaps` from before and after in DIR.
async fn probe(n: usize, python: String) -> Result<(), String> {
    let spec = format!("popen//python={python}");
    let warm = Group::new();
    warm.makegateway(&spec).await.map_err(|e| e.to_string())?;
    exec_one(&warm).await?;
    warm.terminate(Duration::from_secs(30)).await;

    let smaps = std::env::var_os("PROBE_SMAPS").map(std::path::PathBuf::from);
    let keep = |name: &str| {
        if let Some(dir) = &smaps
            && let Err(e) = std::fs::copy("/proc/self/smaps", dir.join(name))
        {
            eprintln!("memory_probe: smaps not kept in {}: {e}", dir.display());
        }
    };
    let group = Group::new();
    let before = snap();
    keep("smaps.before");
    let specs = vec![spec.as_str(); n];
    for made in group.makegateways(&specs).await {
        made.map_err(|e| e.to_string())?;
    }
    exec_one(&group).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = snap();
    keep("smaps.after");
    let per = |f: fn(&Snap) -> f64| (f(&after) - f(&before)) / n as f64;
    println!(
        "per gateway KiB: rss {:.1} anon {:.1} heap_used {:.1} heap_free {:.1} mmapped {:.1}; threads {} -> {}",
        per(|s| s.rss),
        per(|s| s.anon),
        per(|s| s.heap_used),
        per(|s| s.heap_free),
        per(|s| s.mmapped),
        before.threads,
        after.threads
    );
    if std::env::var_os("PROBE_EXIT").is_some() {
        std::process::exit(0);
    }
    group.terminate(Duration::from_secs(30)).await;
    Ok(())
}

/// Runs `channel.send(1)` on every gateway of `group` and waits for the items.
async fn exec_one(group: &Group) -> Result<(), String> {
    let mch = group
        .remote_exec("channel.send(1)")
        .await
        .map_err(|e| e.to_string())?;
    mch.receive_each(Some(Duration::from_secs(60)))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
