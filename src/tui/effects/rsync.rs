//! Rsync jobs of the rsync screen: each runs in a spawned task; progress
//! comes as engine events, the end as [`TaskMsg::RsyncEnded`].

use super::{Effects, TaskMsg};
use crate::engine::rsync::{RSync, TargetOptions};
use crate::tui::state::rsync::JobSpec;

impl Effects {
    /// Starts job `job` for `spec` in the background. A target whose
    /// gateway is not live makes it fail, with the reason.
    pub fn start_rsync(&mut self, job: u64, spec: &JobSpec) -> Result<(), String> {
        let mut rsync = RSync::new(&spec.source);
        for pattern in &spec.excludes {
            rsync.exclude(pattern.clone());
        }
        rsync.filter_gitignore(spec.gitignore).dry_run(spec.dry_run);
        let options = TargetOptions {
            delete: spec.delete,
        };
        for id in &spec.targets {
            match self.group.get(id) {
                Some(gw) if gw.is_alive() => {
                    rsync.add_target(gw, spec.dest.clone(), options);
                }
                _ => return Err(format!("{id} is not live")),
            }
        }
        self.rsyncs.insert(job, rsync.cancel_handle());
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = rsync.send().await.map_err(|e| e.to_string());
            let _ = tx.send(TaskMsg::RsyncEnded { job, result });
        });
        Ok(())
    }

    /// Cancels job `job`: each target stops after aborting its current
    /// file (destination files stay whole). `false` when it is not running.
    pub fn cancel_rsync(&self, job: u64) -> bool {
        match self.rsyncs.get(&job) {
            Some(handle) => {
                handle.cancel();
                true
            }
            None => false,
        }
    }
}
