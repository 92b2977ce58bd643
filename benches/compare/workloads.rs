//! execdeck's half of each workload, through the Rust engine API. The
//! remote code, sizes and clock start/stop mirror `benches/execnet_side.py`.

use std::time::{Duration, Instant};

use execdeck::wire::{LoadOptions, dumps, loads};
use execdeck::{Group, Value};

/// A failed measurement, as text for the table.
pub type Fallible<T> = Result<T, String>;

const NOOP_EXEC: &str = "channel.send(1)";
const ECHO: &str = "for item in channel:\n    channel.send(item)\n";
const BULK_OUT: &str = "data = bytes(channel.receive())\n\
                        for _ in range(channel.receive()):\n    channel.send(data)\n";
const BULK_IN: &str = "total = 0\nfor item in iter(channel.receive, None):\n    total += len(item)\nchannel.send(total)\n";
const SMALL: &str = "for i in range(channel.receive()):\n    channel.send(i)\n";

/// Size of one bulk item.
pub const BULK_ITEM: usize = 1 << 20;

const WAIT: Option<Duration> = Some(Duration::from_secs(60));
const TERMINATE: Duration = Duration::from_secs(30);

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn expect(got: Value, want: Value) -> Fallible<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("expected {want:?}, got {got:?}"))
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// One gateway: start, first remote_exec result, terminate (process gone); ms.
pub async fn startup(spec: String, reps: usize) -> Fallible<Vec<f64>> {
    startup_on(spec, reps, true).await
}

/// [`startup`] for any spec; `local` checks that the worker process is
/// gone after terminate (a popen gateway's is our child; an ssh or socket
/// gateway's is not).
pub async fn startup_on(spec: String, reps: usize, local: bool) -> Fallible<Vec<f64>> {
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        let group = Group::new();
        let gw = group.makegateway(&spec).await.map_err(err)?;
        let ch = gw.remote_exec(NOOP_EXEC).await.map_err(err)?;
        expect(ch.receive(WAIT).await.map_err(err)?, Value::Int(1))?;
        group.terminate(TERMINATE).await;
        if local && gw.exit_info().is_none() {
            return Err("the worker was still running after terminate".into());
        }
        samples.push(ms(start));
    }
    Ok(samples)
}

/// A gateway through a running popen gateway (`via=`): start, first
/// result; ms. The via gateway is started, and everything terminated,
/// outside the clock.
pub async fn via_startup(spec: String, reps: usize) -> Fallible<Vec<f64>> {
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let group = Group::new();
        group
            .makegateway(&format!("{spec}//id=proxy"))
            .await
            .map_err(err)?;
        let start = Instant::now();
        let gw = group
            .makegateway(&format!("{spec}//via=proxy"))
            .await
            .map_err(err)?;
        let ch = gw.remote_exec(NOOP_EXEC).await.map_err(err)?;
        expect(ch.receive(WAIT).await.map_err(err)?, Value::Int(1))?;
        samples.push(ms(start));
        group.terminate(TERMINATE).await;
    }
    Ok(samples)
}

/// `n` gateways started together, one exec each, then terminate; ms in all.
pub async fn group(spec: String, n: usize, reps: usize) -> Fallible<Vec<f64>> {
    let specs = vec![spec.as_str(); n];
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        let group = Group::new();
        for made in group.makegateways(&specs).await {
            made.map_err(err)?;
        }
        let mch = group.remote_exec(NOOP_EXEC).await.map_err(err)?;
        let items = mch.receive_each(WAIT).await.map_err(err)?;
        expect(Value::List(items), Value::List(vec![Value::Int(1); n]))?;
        group.terminate(TERMINATE).await;
        samples.push(ms(start));
    }
    Ok(samples)
}

/// This process's resident set, KiB.
pub fn rss_kib() -> Fallible<f64> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(err)?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/self/status".into())
}

/// Master RSS growth per idle gateway with `n` gateways, KiB. Run it in a
/// fresh process (`--child-memory`), so nothing else has grown the heap.
/// One gateway is started, used and terminated first (execnet's side does
/// the same), so the code pages that any first start touches once are not
/// counted as memory per gateway.
pub async fn memory(spec: &str, n: usize) -> Fallible<f64> {
    with_gateway(spec, Group::new(), |gw| async move {
        let ch = gw.remote_exec(NOOP_EXEC).await.map_err(err)?;
        ch.receive(WAIT).await.map_err(err)?;
        Ok(())
    })
    .await?;
    let group = Group::new();
    let before = rss_kib()?;
    let specs = vec![spec; n];
    for made in group.makegateways(&specs).await {
        made.map_err(err)?;
    }
    let mch = group.remote_exec(NOOP_EXEC).await.map_err(err)?;
    mch.receive_each(WAIT).await.map_err(err)?;
    drop(mch);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_kib()?;
    group.terminate(TERMINATE).await;
    Ok((after - before) / n as f64)
}

/// Runs `f` on one fresh gateway, terminating it afterwards.
async fn with_gateway<F, Fut, T>(spec: &str, group: Group, f: F) -> Fallible<T>
where
    F: FnOnce(execdeck::Gateway) -> Fut,
    Fut: std::future::Future<Output = Fallible<T>>,
{
    let gw = group.makegateway(spec).await.map_err(err)?;
    let out = f(gw).await;
    group.terminate(TERMINATE).await;
    out
}

/// Round trip of an int, `n` per sample; µs.
pub async fn echo(spec: String, n: usize, reps: usize) -> Fallible<Vec<f64>> {
    with_gateway(&spec, Group::new(), |gw| async move {
        let ch = gw.remote_exec(ECHO).await.map_err(err)?;
        let mut samples = Vec::with_capacity(reps);
        for _ in 0..reps {
            let start = Instant::now();
            for i in 0..n as i64 {
                ch.send(i).await.map_err(err)?;
                expect(ch.receive(WAIT).await.map_err(err)?, Value::Int(i))?;
            }
            samples.push(start.elapsed().as_secs_f64() / n as f64 * 1e6);
        }
        ch.close(None).await.map_err(err)?;
        Ok(samples)
    })
    .await
}

/// `n` items of [`BULK_ITEM`] bytes, remote → local; GB/s.
pub async fn bulk_out(spec: String, n: usize, reps: usize) -> Fallible<Vec<f64>> {
    with_gateway(&spec, Group::new(), |gw| async move {
        let mut samples = Vec::with_capacity(reps);
        for _ in 0..reps {
            let start = Instant::now();
            let ch = gw.remote_exec(BULK_OUT).await.map_err(err)?;
            ch.send(BULK_ITEM as i64).await.map_err(err)?;
            ch.send(n as i64).await.map_err(err)?;
            let mut last = Value::None;
            for _ in 0..n {
                last = ch.receive(WAIT).await.map_err(err)?;
            }
            match last {
                Value::Bytes(b) if b.len() == BULK_ITEM => {}
                other => return Err(format!("unexpected item {:.60}", format!("{other:?}"))),
            }
            samples.push((n * BULK_ITEM) as f64 / start.elapsed().as_secs_f64() / 1e9);
            ch.wait_close(WAIT).await.map_err(err)?;
        }
        Ok(samples)
    })
    .await
}

/// `n` items of [`BULK_ITEM`] bytes, local → remote; GB/s.
pub async fn bulk_in(spec: String, n: usize, reps: usize) -> Fallible<Vec<f64>> {
    with_gateway(&spec, Group::new(), |gw| async move {
        let data = Value::Bytes(vec![0; BULK_ITEM]);
        let mut samples = Vec::with_capacity(reps);
        for _ in 0..reps {
            let start = Instant::now();
            let ch = gw.remote_exec(BULK_IN).await.map_err(err)?;
            for _ in 0..n {
                ch.send_ref(&data).await.map_err(err)?;
            }
            ch.send(Value::None).await.map_err(err)?;
            expect(
                ch.receive(WAIT).await.map_err(err)?,
                Value::Int((n * BULK_ITEM) as i64),
            )?;
            samples.push((n * BULK_ITEM) as f64 / start.elapsed().as_secs_f64() / 1e9);
        }
        Ok(samples)
    })
    .await
}

/// `n` ints, remote → local; items/s. With `subscribed`, a task drains a
/// full event subscription (every message copied) meanwhile.
pub async fn small(spec: String, n: usize, reps: usize, subscribed: bool) -> Fallible<Vec<f64>> {
    let group = Group::new();
    let drain = subscribed.then(|| {
        let mut sub = group.subscribe();
        tokio::spawn(async move {
            let mut seen = 0u64;
            while sub.recv().await.is_some() {
                seen += 1;
            }
            seen
        })
    });
    let out = with_gateway(&spec, group, |gw| async move {
        let mut samples = Vec::with_capacity(reps);
        for _ in 0..reps {
            let start = Instant::now();
            let ch = gw.remote_exec(SMALL).await.map_err(err)?;
            ch.send(n as i64).await.map_err(err)?;
            let mut last = Value::None;
            for _ in 0..n {
                last = ch.receive(WAIT).await.map_err(err)?;
            }
            expect(last, Value::Int(n as i64 - 1))?;
            samples.push(n as f64 / start.elapsed().as_secs_f64());
            ch.wait_close(WAIT).await.map_err(err)?;
        }
        Ok(samples)
    })
    .await;
    if let Some(task) = drain {
        task.abort();
    }
    out
}

/// The Rust serializer alone, no gateway: `dumps` then `loads` of a dict of
/// `entries` items `{'k0': 0, 'k1': 1, ...}`; seconds per round trip. The
/// first round trip is also checked to give back the same dict.
pub fn serializer_dict(entries: usize, reps: usize) -> Fallible<Vec<f64>> {
    let items = (0..entries)
        .map(|k| {
            Ok((
                Value::str(format!("k{k}")),
                Value::Int(i64::try_from(k).map_err(err)?),
            ))
        })
        .collect::<Fallible<Vec<_>>>()?;
    let dict = Value::Dict(items);
    let mut samples = Vec::with_capacity(reps);
    for rep in 0..reps {
        let t = Instant::now();
        let bytes = dumps(&dict).map_err(err)?;
        let back = loads(&bytes, LoadOptions::default()).map_err(err)?;
        samples.push(t.elapsed().as_secs_f64());
        if rep == 0 && back != dict {
            return Err("the dict did not come back the same".into());
        }
    }
    Ok(samples)
}
