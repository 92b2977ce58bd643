//! The default interpreter behind a shim (issue 15): `python3` on PATH is
//! often pyenv's or asdf's script, which costs ~100 ms per start. A group of
//! 8 popen gateways whose `python=` is such a shim should pay for it about
//! once: its limit is the same group with the interpreter named directly
//! plus one run of the shim, all measured in the same run.

use std::os::unix::fs::PermissionsExt;

use crate::report::{Better, Row};
use crate::{Bench, Fallible, fill, limits, median, workloads};

/// Gateways in the group.
const N: usize = 8;

/// What the made-up shim does before it execs the interpreter: as long as
/// pyenv's `python3` shim takes on the machines here.
const SHIM_DELAY: &str = "0.1";

/// Writes the shim into a fresh temporary directory and returns its path.
fn make_shim(b: &Bench) -> Fallible<String> {
    let dir = std::env::temp_dir().join(format!("execdeck-bench-shim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("python3");
    // It names pyenv: execdeck asks only version managers' shims.
    let body = format!(
        "#!/bin/sh\n# a pyenv-style shim\nsleep {SHIM_DELAY}\nexec '{}' \"$@\"\n",
        b.python
    );
    std::fs::write(&path, body).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// The group of 8 through a shim, ours and execnet's, with its limit.
pub fn rows(b: &Bench) -> Vec<Row> {
    let mut row = Row::new(
        format!("group of {N} popen, python= a ~100 ms shim: ready, exec, terminate"),
        "ms",
        Better::Lower,
    );
    let reps = b.plan.startup_reps.min(5);
    let shim = match make_shim(b) {
        Ok(s) => s,
        Err(e) => {
            row.errors.push(e);
            return vec![row];
        }
    };
    let spec = format!("popen//python={shim}");
    let ours = b.run(workloads::group(spec.clone(), N, reps));
    let theirs = b.execnet_with("group", N, reps, &["--spec", &spec]);
    fill(&mut row, ours, theirs);
    let direct = b.run(workloads::group(b.spec(), N, reps));
    let shim_run = limits::bare_python(&shim, reps);
    match (direct, shim_run) {
        (Ok(direct), Ok(shim_run)) => {
            if let (Some(d), Some(s)) = (median(&direct), median(&shim_run)) {
                row.limit = Some(d + s);
                row.limit_label = "the group named directly + one shim run";
                row.extra.insert("direct_ms".into(), serde_json::json!(d));
                row.extra.insert("shim_run_ms".into(), serde_json::json!(s));
            }
        }
        (Err(e), _) | (_, Err(e)) => row.errors.push(format!("limit: {e}")),
    }
    row.target = "≤ 1.1× limit (the shim paid once)".into();
    row.met = match (row.execdeck, row.limit) {
        (Some(ours), Some(limit)) => Some(ours <= 1.1 * limit),
        _ => None,
    };
    if let Some(dir) = std::path::Path::new(&shim).parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
    vec![row]
}
