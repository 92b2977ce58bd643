//! Groups of gateways: make them, find them, run code on all, terminate all.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::task::JoinSet;

use super::error::{Error, Result};
use super::events::{EventKind, EventSender, Subscription};
use super::gateway::{ExecSource, Gateway};
use super::multi::MultiChannel;
use super::via;
use crate::spec::{GatewayKind, SshClient, XSpec};
use crate::transport::bootstrap::BootSource;
use crate::transport::bootstrap::{DebugMode, REMOTE_TRACE_PREFIX};
use crate::transport::openssh;
use crate::transport::popen::{self, LaunchOptions, ProgressSink};
use crate::transport::socket;
use crate::transport::ssh;
use crate::transport::worker_cache::WorkerCache;
use crate::transport::{ConnectError, Connection, StderrSink};
use crate::wire::Value;
use crate::wire::message::DEFAULT_MAX_PAYLOAD;

/// Source of the helper that applies chdir/nice/env on a new worker.
const SPEC_SETUP_SOURCE: &str = include_str!("../../bootstrap/spec_setup.py");

/// Settings for the gateways a group makes.
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// Time allowed from start to handshake.
    pub startup_timeout: Duration,
    /// Largest message payload accepted from a worker.
    pub max_payload: usize,
    /// Which worker program popen gateways bootstrap (execdeck's by default;
    /// tests use another to check that the master speaks plain execnet).
    pub boot: BootSource,
    /// How many events a subscriber may fall behind before it loses the oldest.
    pub event_buffer: usize,
    /// Where popen gateways of execdeck's worker boot from: a cached copy of
    /// the worker, so that Python keeps its compiled code (see
    /// [`WorkerCache`]).
    pub worker_cache: WorkerCache,
    /// Who answers passphrase and password prompts of ssh gateways (`None`,
    /// the default: nobody can be asked; encrypted keys are skipped and
    /// passwords not tried).
    pub prompter: Option<crate::transport::SharedPrompter>,
    /// ssh gateways accept and record host keys that known_hosts does not
    /// list yet, as with `-o StrictHostKeyChecking=accept-new` (the CLI's
    /// `--accept-new-host-keys`). A changed key is refused all the same.
    pub accept_new_host_keys: bool,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            startup_timeout: popen::DEFAULT_STARTUP_TIMEOUT,
            max_payload: DEFAULT_MAX_PAYLOAD,
            boot: BootSource::Execdeck,
            event_buffer: super::events::EVENT_BUFFER,
            worker_cache: WorkerCache::Default,
            prompter: None,
            accept_new_host_keys: false,
        }
    }
}

/// A set of gateways with ids `gw0`, `gw1`, … (execnet's `Group`). Cheap to clone.
#[derive(Clone, Default)]
pub struct Group {
    inner: Arc<GroupInner>,
}

#[derive(Default)]
struct GroupInner {
    /// Gateways with the sequence number of their reservation, in that order.
    gateways: Mutex<Vec<(u64, Gateway)>>,
    next_seq: std::sync::atomic::AtomicU64,
    /// Ids taken by gateways that exist or are starting.
    ids: Mutex<HashSet<String>>,
    events: EventSender,
    opts: GroupOptions,
    /// Woken when a gateway joins the group or a reserved id is freed
    /// (a start that `via=` may be waiting for ended).
    changed: tokio::sync::Notify,
    /// Interpreters found behind shims, asked once per group.
    shims: crate::transport::shim::ShimCache,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Frees a reserved id unless the gateway was made.
struct IdReservation {
    group: Arc<GroupInner>,
    seq: u64,
    id: String,
    keep: bool,
}

impl Drop for IdReservation {
    fn drop(&mut self) {
        if !self.keep {
            lock(&self.group.ids).remove(&self.id);
            self.group.changed.notify_waiters();
        }
    }
}

impl Group {
    /// An empty group with default options.
    pub fn new() -> Group {
        Group::default()
    }

    /// An empty group with the given options.
    pub fn with_options(opts: GroupOptions) -> Group {
        Group {
            inner: Arc::new(GroupInner {
                events: EventSender::with_capacity(opts.event_buffer),
                opts,
                ..GroupInner::default()
            }),
        }
    }

    /// Subscribes to every event of every gateway of this group, from now on
    /// (messages included: each payload is copied while this subscription lives).
    pub fn subscribe(&self) -> Subscription {
        self.inner.events.subscribe()
    }

    /// Subscribes to every event but messages: life cycles, stderr lines,
    /// remote trace lines, warnings, status answers.
    pub fn subscribe_lifecycle(&self) -> Subscription {
        self.inner.events.subscribe_lifecycle()
    }

    /// Starts a gateway from a spec string such as `popen//python=python3`.
    ///
    /// The gateway gets the spec's `id=` or the next free `gwN`. When the
    /// spec has `chdir`, `nice` or `env:` keys they are applied before the
    /// gateway is returned. Fails with [`Error::Spec`] for a bad spec and
    /// [`Error::Connect`] when the worker cannot be started.
    pub async fn makegateway(&self, spec: &str) -> Result<Gateway> {
        let (spec, reservation) = self.reserve(spec)?;
        self.start(spec, reservation).await
    }

    /// Starts several gateways at once. Ids are given in the order of
    /// `specs`; the results come in that order too.
    pub async fn makegateways<S: AsRef<str>>(&self, specs: &[S]) -> Vec<Result<Gateway>> {
        let mut results: Vec<Option<Result<Gateway>>> = (0..specs.len()).map(|_| None).collect();
        let mut set = JoinSet::new();
        for (i, spec) in specs.iter().enumerate() {
            match self.reserve(spec.as_ref()) {
                Ok((spec, reservation)) => {
                    let group = self.clone();
                    set.spawn(async move { (i, group.start(spec, reservation).await) });
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        while let Some(done) = set.join_next().await {
            if let Ok((i, result)) = done {
                results[i] = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Usage("gateway start task failed".into()))))
            .collect()
    }

    /// Parses `spec` and reserves its id.
    fn reserve(&self, spec: &str) -> Result<(XSpec, IdReservation)> {
        let spec = XSpec::parse(spec)?;
        let reservation = self.reserve_id(&spec)?;
        Ok((spec, reservation))
    }

    async fn start(&self, spec: XSpec, reservation: IdReservation) -> Result<Gateway> {
        let event_id: Arc<str> = Arc::from(reservation.id.as_str());
        let events = &self.inner.events;
        events.send_with(&event_id, || EventKind::GatewayStarting {
            spec: spec.to_string(),
        });
        let started = self.start_inner(spec, reservation).await;
        match &started {
            Ok(gateway) => {
                // The Python version is asked for only when someone listens.
                let info = match events.is_traced() {
                    true => gateway.rinfo(Some(Duration::from_secs(30))).await.ok(),
                    false => None,
                };
                let (python, executable) = match info {
                    Some(i) => (Some(i.version), Some(i.executable)),
                    None => (None, None),
                };
                events.send(
                    &event_id,
                    EventKind::GatewayReady {
                        pid: gateway.pid(),
                        python,
                        executable,
                        address: gateway.address().map(str::to_owned),
                    },
                );
            }
            Err(e) => events.send_with(&event_id, || EventKind::GatewayFailed {
                error: e.to_string(),
            }),
        }
        started
    }

    async fn start_inner(&self, spec: XSpec, mut reservation: IdReservation) -> Result<Gateway> {
        let id = reservation.id.clone();
        let debug = debug_mode(&spec)?;
        let conn = self.connect(&spec, &id, debug).await?;
        let gateway = Gateway::start(
            id.clone(),
            spec.clone(),
            conn,
            self.inner.events.clone(),
            self.inner.opts.max_payload,
        );
        for text in gateway.warnings() {
            self.inner.events.send(
                &gateway.inner.event_id,
                EventKind::Warning { text: text.clone() },
            );
        }
        if let Err(e) = apply_spec_setup(&gateway, &spec).await {
            gateway.kill();
            return Err(e);
        }
        reservation.keep = true;
        let mut gateways = lock(&self.inner.gateways);
        let at = gateways.partition_point(|(seq, _)| *seq < reservation.seq);
        gateways.insert(at, (reservation.seq, gateway.clone()));
        drop(gateways);
        self.inner.changed.notify_waiters();
        Ok(gateway)
    }

    fn reserve_id(&self, spec: &XSpec) -> Result<IdReservation> {
        let mut ids = lock(&self.inner.ids);
        let id = match spec.id() {
            Some(id) if ids.contains(id) => {
                return Err(Error::Usage(format!(
                    "{spec}: a gateway with id {id:?} already exists in this group"
                )));
            }
            Some(id) => id.to_owned(),
            None => (0..)
                .map(|n| format!("gw{n}"))
                .find(|id| !ids.contains(id))
                .unwrap_or_default(),
        };
        ids.insert(id.clone());
        Ok(IdReservation {
            group: self.inner.clone(),
            seq: self
                .inner
                .next_seq
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            id,
            keep: false,
        })
    }

    async fn connect(
        &self,
        spec: &XSpec,
        id: &str,
        debug: Option<DebugMode>,
    ) -> Result<Connection, ConnectError> {
        let events = self.inner.events.clone();
        let gateway: Arc<str> = Arc::from(id);
        let sink: StderrSink = Arc::new(move |line: &str| {
            events.send_with(&gateway, || match line.strip_prefix(REMOTE_TRACE_PREFIX) {
                Some(trace) => EventKind::RemoteTrace {
                    line: trace.to_owned(),
                },
                None => EventKind::Stderr {
                    line: line.to_owned(),
                },
            })
        });
        let events = self.inner.events.clone();
        let gateway: Arc<str> = Arc::from(id);
        let progress: ProgressSink = Arc::new(move |step: &str| {
            events.send_with(&gateway, || EventKind::StartStep {
                step: step.to_owned(),
            })
        });
        let opts = LaunchOptions {
            startup_timeout: Some(self.inner.opts.startup_timeout),
            boot: self.inner.opts.boot.clone(),
            stderr_sink: Some(sink),
            debug,
            worker_cache: self.inner.opts.worker_cache.clone(),
            prompter: self.inner.opts.prompter.clone(),
            accept_new_host_keys: self.inner.opts.accept_new_host_keys,
            progress: Some(progress),
            shims: self.inner.shims.clone(),
        };
        if let Some(via_id) = spec.via() {
            let via = self.find_via(spec, id, "via", via_id).await?;
            return match spec.kind() {
                GatewayKind::Popen => Box::pin(via::connect(&via, spec, id, &opts)).await,
                other => Err(ConnectError::Unsupported {
                    spec: spec.to_string(),
                    kind: format!("{}//via", other.key()),
                }),
            };
        }
        // The kinds with large start futures (ssh's handshake state, the via
        // proxy, installvia) are boxed, so that every other start (and its
        // task, of which a group has one per gateway) stays small.
        match spec.kind() {
            GatewayKind::Popen => popen::spawn(spec, id, &opts).await,
            GatewayKind::Cmd(command) => popen::spawn_cmd(spec, command, &opts).await,
            GatewayKind::VagrantSsh(machine) => {
                popen::spawn_vagrant(spec, machine, id, &opts).await
            }
            GatewayKind::Socket(Some(address)) => socket::connect(spec, address, id, &opts).await,
            GatewayKind::Ssh(value) => match spec.ssh_client() {
                SshClient::Russh => Box::pin(ssh::connect(spec, value, id, &opts)).await,
                SshClient::OpenSsh => openssh::spawn(spec, value, id, &opts).await,
            },
            GatewayKind::Socket(None) => {
                let Some(via_id) = spec.installvia() else {
                    return Err(ConnectError::Unsupported {
                        spec: spec.to_string(),
                        kind: "socket without an address".into(),
                    });
                };
                let via = self.find_via(spec, id, "installvia", via_id).await?;
                if !self.is_local(&via) {
                    return Err(ConnectError::Via {
                        spec: spec.to_string(),
                        key: "installvia",
                        via: via_id.to_owned(),
                        message: "installing a socket server is supported only through local \
                                  (popen, cmd, or via= of those) gateways so far: through an ssh \
                                  gateway it would listen on the ssh host's 127.0.0.1, which \
                                  this host cannot reach without port forwarding"
                            .into(),
                    });
                }
                let address =
                    Box::pin(via::install_socket_server(&via, spec, "127.0.0.1:0", &opts)).await?;
                socket::connect(spec, &address, id, &opts).await
            }
        }
    }

    /// The gateway `via_id` that gateway `id` (of `spec`) is to be started
    /// through (spec key `key`): when it is still starting, waits for it,
    /// within the startup timeout.
    async fn find_via(
        &self,
        spec: &XSpec,
        id: &str,
        key: &'static str,
        via_id: &str,
    ) -> Result<Gateway, ConnectError> {
        let fail = |message: String| ConnectError::Via {
            spec: spec.to_string(),
            key,
            via: via_id.to_owned(),
            message,
        };
        if via_id == id {
            return Err(fail("a gateway cannot be started through itself".into()));
        }
        let timeout = self.inner.opts.startup_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(gw) = self.get(via_id) {
                return Ok(gw);
            }
            if !lock(&self.inner.ids).contains(via_id) {
                return Err(fail(
                    "there is no gateway with that id in this group".into(),
                ));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(fail(format!(
                    "that gateway did not finish starting within {}s",
                    timeout.as_secs_f64()
                )));
            }
        }
    }

    /// Whether `gw` runs on this host: popen or cmd, directly or through
    /// other gateways of this group that do.
    fn is_local(&self, gw: &Gateway) -> bool {
        let mut spec = gw.spec().clone();
        // A chain longer than the group is a cycle.
        for _ in 0..=self.len() {
            if !matches!(spec.kind(), GatewayKind::Popen | GatewayKind::Cmd(_)) {
                return false;
            }
            match spec.via().and_then(|v| self.get(v)) {
                Some(next) => spec = next.spec().clone(),
                None => return spec.via().is_none(),
            }
        }
        false
    }

    /// How many gateways of `gateways` the gateway `gw` goes through (its
    /// `via=` or `installvia=` chain); 0 for one started directly.
    fn depth(gateways: &[(u64, Gateway)], gw: &Gateway) -> usize {
        let mut depth = 0;
        let mut current = gw.clone();
        while depth <= gateways.len() {
            let next = current.spec().via().or(current.spec().installvia());
            let Some(next) = next.and_then(|v| gateways.iter().find(|(_, g)| g.id() == v)) else {
                break;
            };
            depth += 1;
            current = next.1.clone();
        }
        depth
    }

    /// The gateway with this id, if it is in the group.
    pub fn get(&self, id: &str) -> Option<Gateway> {
        lock(&self.inner.gateways)
            .iter()
            .find(|(_, g)| g.id() == id)
            .map(|(_, g)| g.clone())
    }

    /// The gateways, in the order they were asked for.
    pub fn gateways(&self) -> Vec<Gateway> {
        lock(&self.inner.gateways)
            .iter()
            .map(|(_, g)| g.clone())
            .collect()
    }

    /// How many gateways the group has.
    pub fn len(&self) -> usize {
        lock(&self.inner.gateways).len()
    }

    /// Whether the group has no gateways.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes a gateway from the group (freeing its id) and returns it; the
    /// gateway itself keeps running until it is exited or dropped.
    pub fn remove(&self, id: &str) -> Option<Gateway> {
        let mut gateways = lock(&self.inner.gateways);
        let at = gateways.iter().position(|(_, g)| g.id() == id)?;
        let (_, gw) = gateways.remove(at);
        lock(&self.inner.ids).remove(id);
        Some(gw)
    }

    /// Exits gateway `id` (killing it after `timeout`) and starts a new one
    /// from the same spec under the same id.
    pub async fn restart(&self, id: &str, timeout: Duration) -> Result<Gateway> {
        let old = self
            .remove(id)
            .ok_or_else(|| Error::Usage(format!("no gateway {id:?} in this group")))?;
        old.exit();
        if !old.wait_exit(timeout).await {
            old.kill();
            old.wait_exit(timeout).await;
        }
        let spec = old.spec().with_id(id)?;
        self.makegateway(spec.as_str()).await
    }

    /// Runs the same code on every gateway at once.
    pub async fn remote_exec(&self, source: impl Into<ExecSource>) -> Result<MultiChannel> {
        let source = source.into();
        let mut channels = Vec::new();
        for gw in self.gateways() {
            channels.push(gw.remote_exec(source.clone()).await?);
        }
        Ok(MultiChannel::new(channels))
    }

    /// Exits every gateway, waits up to `timeout` for each, kills what has
    /// not ended, and removes them all from the group. Gateways started
    /// through others (`via=`, `installvia=`) end first: those at the end of
    /// the longest chains, in parallel, then the next ones, and so on. Returns
    /// within about twice `timeout` per level of chain (once for a group
    /// without `via`).
    pub async fn terminate(&self, timeout: Duration) {
        let gateways = std::mem::take(&mut *lock(&self.inner.gateways));
        let mut levels: Vec<Vec<Gateway>> = Vec::new();
        for (_, gw) in &gateways {
            lock(&self.inner.ids).remove(gw.id());
            let depth = Self::depth(&gateways, gw);
            if levels.len() <= depth {
                levels.resize_with(depth + 1, Vec::new);
            }
            levels[depth].push(gw.clone());
        }
        for level in levels.into_iter().rev() {
            let mut set = JoinSet::new();
            for gw in level {
                set.spawn(async move {
                    gw.exit();
                    if !gw.wait_exit(timeout).await {
                        gw.kill();
                        gw.wait_exit(timeout).await;
                    }
                });
            }
            while set.join_next().await.is_some() {}
        }
    }
}

/// The spec's `debug=` key: `1` (or `file`) for a trace file on the remote,
/// `stream` (or `2`) for trace lines sent back over stderr.
fn debug_mode(spec: &XSpec) -> Result<Option<DebugMode>> {
    match spec.get("debug") {
        None | Some("0") => Ok(None),
        Some("1" | "file") => Ok(Some(DebugMode::File)),
        Some("2" | "stream") => Ok(Some(DebugMode::Stream)),
        Some(other) => Err(Error::Usage(format!(
            "invalid spec \"{spec}\": debug={other} must be 1 (a trace file on the remote) or stream"
        ))),
    }
}

/// Applies the spec's chdir, nice and env keys on the new worker.
async fn apply_spec_setup(gateway: &Gateway, spec: &XSpec) -> Result<()> {
    if spec.chdir().is_none() && spec.nice().is_none() && spec.env().is_empty() {
        return Ok(());
    }
    let env = Value::List(
        spec.env()
            .iter()
            .map(|(k, v)| Value::Tuple(vec![Value::str(k.clone()), Value::str(v.clone())]))
            .collect(),
    );
    let source = ExecSource::code(SPEC_SETUP_SOURCE)
        .call("setup")
        .kwarg("chdir", spec.chdir())
        .kwarg("nice", spec.nice().map(i64::from))
        .kwarg("env", env);
    let setup_failed = |message: String| {
        Error::Connect(ConnectError::Setup {
            spec: spec.to_string(),
            message,
        })
    };
    let channel = gateway.remote_exec(source).await?;
    match channel.wait_close(Some(Duration::from_secs(30))).await {
        Ok(()) => Ok(()),
        Err(Error::Remote(r)) => Err(setup_failed(r.summary().to_owned())),
        Err(e) => Err(setup_failed(e.to_string())),
    }
}
