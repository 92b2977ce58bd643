//! Groups of gateways: make them, find them, run code on all, terminate all.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::error::{Error, Result};
use super::events::{Event, EventSender};
use super::gateway::{ExecSource, Gateway};
use super::multi::MultiChannel;
use crate::spec::{GatewayKind, XSpec};
use crate::transport::bootstrap::BootSource;
use crate::transport::popen::{self, LaunchOptions};
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
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            startup_timeout: popen::DEFAULT_STARTUP_TIMEOUT,
            max_payload: DEFAULT_MAX_PAYLOAD,
            boot: BootSource::Execdeck,
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
                opts,
                ..GroupInner::default()
            }),
        }
    }

    /// Subscribes to the events of every gateway of this group.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
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

    async fn start(&self, spec: XSpec, mut reservation: IdReservation) -> Result<Gateway> {
        let id = reservation.id.clone();
        let conn = self.connect(&spec, &id).await?;
        let gateway = Gateway::start(
            id.clone(),
            spec.clone(),
            conn,
            self.inner.events.clone(),
            self.inner.opts.max_payload,
        );
        self.inner.events.send(Event::GatewayReady {
            gateway: id.clone(),
            pid: gateway.pid(),
        });
        for text in gateway.warnings() {
            self.inner.events.send(Event::Warning {
                gateway: id.clone(),
                text: text.clone(),
            });
        }
        if let Err(e) = apply_spec_setup(&gateway, &spec).await {
            gateway.kill();
            return Err(e);
        }
        reservation.keep = true;
        let mut gateways = lock(&self.inner.gateways);
        let at = gateways.partition_point(|(seq, _)| *seq < reservation.seq);
        gateways.insert(at, (reservation.seq, gateway.clone()));
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

    async fn connect(&self, spec: &XSpec, id: &str) -> Result<Connection, ConnectError> {
        let events = self.inner.events.clone();
        let gateway = id.to_owned();
        let sink: StderrSink = Arc::new(move |line: &str| {
            events.send(Event::StderrLine {
                gateway: gateway.clone(),
                line: line.to_owned(),
            })
        });
        let opts = LaunchOptions {
            startup_timeout: Some(self.inner.opts.startup_timeout),
            boot: self.inner.opts.boot.clone(),
            stderr_sink: Some(sink),
        };
        if spec.via().is_some() {
            return Err(ConnectError::Unsupported {
                spec: spec.to_string(),
                kind: "via".into(),
            });
        }
        match spec.kind() {
            GatewayKind::Popen => popen::spawn(spec, id, &opts).await,
            GatewayKind::Cmd(command) => popen::spawn_cmd(spec, command, &opts).await,
            other => Err(ConnectError::Unsupported {
                spec: spec.to_string(),
                kind: other.key().into(),
            }),
        }
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

    /// Runs the same code on every gateway at once.
    pub async fn remote_exec(&self, source: impl Into<ExecSource>) -> Result<MultiChannel> {
        let source = source.into();
        let mut channels = Vec::new();
        for gw in self.gateways() {
            channels.push(gw.remote_exec(source.clone()).await?);
        }
        Ok(MultiChannel::new(channels))
    }

    /// Exits every gateway in parallel, waits up to `timeout` for each, kills
    /// what has not ended, and removes them all from the group. Returns within
    /// about twice `timeout`.
    pub async fn terminate(&self, timeout: Duration) {
        let gateways = std::mem::take(&mut *lock(&self.inner.gateways));
        let mut set = JoinSet::new();
        for (_, gw) in gateways {
            lock(&self.inner.ids).remove(gw.id());
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
