//! What the TUI knows about each gateway, fed by engine events and status polls.

use crate::engine::{EventKind, RemoteStatus};

/// Most stderr lines kept per gateway.
const STDERR_LINES: usize = 500;

/// Where a gateway is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GwStatus {
    /// Being started.
    Starting,
    /// Ready for work.
    Live,
    /// Could not be started; the error text.
    Failed(String),
    /// Its connection ended; the exit status or reason.
    Exited(String),
}

impl GwStatus {
    /// A one-character mark for the tree.
    pub fn mark(&self) -> &'static str {
        match self {
            GwStatus::Starting => "◌",
            GwStatus::Live => "●",
            GwStatus::Failed(_) => "✗",
            GwStatus::Exited(_) => "○",
        }
    }

    /// A word for the status.
    pub fn word(&self) -> &'static str {
        match self {
            GwStatus::Starting => "starting",
            GwStatus::Live => "live",
            GwStatus::Failed(_) => "failed",
            GwStatus::Exited(_) => "exited",
        }
    }
}

/// One gateway as shown in the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayView {
    /// Gateway id.
    pub id: String,
    /// The spec it was made from.
    pub spec: String,
    /// popen, ssh, socket, via or cmd.
    pub kind: String,
    /// The TUI group it belongs to (the spec's `group=` key, else `default`).
    pub group: String,
    /// Where it runs: `localhost` for popen and cmd, else the host of the spec.
    pub host: String,
    /// Where a worker without a local process is: the `host:port` a socket
    /// gateway connects to (for `installvia=`, known once it is ready), or
    /// the route of a via gateway (`via gw0 ← gw1`: through gw1, itself
    /// started through gw0); `None` for other kinds.
    pub address: Option<String>,
    /// Life-cycle status.
    pub status: GwStatus,
    /// Local process id.
    pub pid: Option<u32>,
    /// Python version of the worker.
    pub python: Option<String>,
    /// The interpreter that runs the worker (`sys.executable`): for a
    /// `python=` shim, the interpreter it chose.
    pub executable: Option<String>,
    /// The last `remote_status` answer.
    pub remote: Option<RemoteStatus>,
    /// The last stderr lines of the worker.
    pub stderr: Vec<String>,
    /// The latest step of its start (`start_step` events): where a slow or
    /// failed start stands.
    pub step: Option<String>,
}

impl GatewayView {
    fn new(id: &str, spec: &str) -> GatewayView {
        let parsed = crate::spec::XSpec::parse(spec).ok();
        let kind = match &parsed {
            Some(s) if s.via().is_some() => "via",
            Some(s) => s.kind().key(),
            None => "?",
        };
        let group = parsed
            .as_ref()
            .and_then(|s| s.group())
            .unwrap_or("default")
            .to_owned();
        let host = parsed
            .as_ref()
            .and_then(|s| s.host())
            .unwrap_or_else(|| "?".to_owned());
        let address = match &parsed {
            Some(s) => match s.via() {
                // The whole route comes with the ready event.
                Some(via) => Some(format!("via {via}")),
                None => s.socket().map(str::to_owned),
            },
            None => None,
        };
        GatewayView {
            id: id.to_owned(),
            spec: spec.to_owned(),
            kind: kind.to_owned(),
            group,
            host,
            address,
            status: GwStatus::Starting,
            pid: None,
            python: None,
            executable: None,
            remote: None,
            stderr: Vec::new(),
            step: None,
        }
    }

    /// Whether work can be sent to it.
    pub fn is_live(&self) -> bool {
        self.status == GwStatus::Live
    }
}

/// All gateways in the order they appeared.
#[derive(Debug, Clone)]
pub struct Gateways {
    /// The gateways.
    pub list: Vec<GatewayView>,
    /// Stderr lines kept per gateway (config `stderr_lines`).
    pub stderr_lines: usize,
}

impl Default for Gateways {
    fn default() -> Self {
        Gateways {
            list: Vec::new(),
            stderr_lines: STDERR_LINES,
        }
    }
}

impl Gateways {
    /// The gateway with this id.
    pub fn get(&self, id: &str) -> Option<&GatewayView> {
        self.list.iter().find(|g| g.id == id)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut GatewayView> {
        self.list.iter_mut().find(|g| g.id == id)
    }

    /// Updates from one engine event.
    pub fn apply(&mut self, gateway: &str, kind: &EventKind) {
        if let EventKind::GatewayStarting { spec } = kind {
            match self.get_mut(gateway) {
                // A restart under the same id starts over.
                Some(g) => *g = GatewayView::new(gateway, spec),
                None => self.list.push(GatewayView::new(gateway, spec)),
            }
            return;
        }
        let cap = self.stderr_lines.max(1);
        let Some(g) = self.get_mut(gateway) else {
            return;
        };
        match kind {
            EventKind::GatewayReady {
                pid,
                python,
                executable,
                address,
            } => {
                g.status = GwStatus::Live;
                g.pid = *pid;
                if address.is_some() {
                    g.address.clone_from(address);
                }
                if python.is_some() {
                    g.python.clone_from(python);
                }
                if executable.is_some() {
                    g.executable.clone_from(executable);
                }
            }
            EventKind::StartStep { step } => g.step = Some(step.clone()),
            EventKind::GatewayFailed { error } => g.status = GwStatus::Failed(error.clone()),
            EventKind::GatewayExited { status, reason } => {
                g.status = GwStatus::Exited(status.clone().unwrap_or_else(|| reason.clone()))
            }
            EventKind::Stderr { line } => {
                if g.stderr.len() >= cap {
                    g.stderr.remove(0);
                }
                g.stderr.push(line.clone());
            }
            EventKind::Status {
                numchannels,
                numexecuting,
                execmodel,
            } => {
                g.remote = Some(RemoteStatus {
                    numchannels: *numchannels,
                    numexecuting: *numexecuting,
                    execmodel: execmodel.clone(),
                })
            }
            _ => {}
        }
    }

    /// Records the Python version and interpreter found by an rinfo call.
    pub fn set_python(&mut self, gateway: &str, version: String, executable: String) {
        if let Some(g) = self.get_mut(gateway) {
            g.python = Some(version);
            g.executable = Some(executable);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn life_cycle_from_events() {
        let mut gws = Gateways::default();
        gws.apply(
            "gw0",
            &EventKind::GatewayStarting {
                spec: "popen//python=python3".into(),
            },
        );
        assert_eq!(gws.list[0].kind, "popen");
        assert_eq!(gws.list[0].status, GwStatus::Starting);
        gws.apply(
            "gw0",
            &EventKind::GatewayReady {
                pid: Some(7),
                python: None,
                executable: None,
                address: None,
            },
        );
        assert!(gws.list[0].is_live());
        gws.apply(
            "gw0",
            &EventKind::Stderr {
                line: "hello".into(),
            },
        );
        gws.apply(
            "gw0",
            &EventKind::GatewayExited {
                status: Some("exit status 1".into()),
                reason: "x".into(),
            },
        );
        assert_eq!(gws.list[0].status, GwStatus::Exited("exit status 1".into()));
        assert_eq!(gws.list[0].stderr, vec!["hello".to_string()]);
        gws.apply(
            "gw1",
            &EventKind::GatewayReady {
                pid: None,
                python: None,
                executable: None,
                address: None,
            },
        );
        assert_eq!(gws.list.len(), 1, "events of unknown gateways are ignored");
    }

    #[test]
    fn via_and_installvia_gateways_show_their_route_and_address() {
        let mut gws = Gateways::default();
        let starting = |spec: &str| EventKind::GatewayStarting { spec: spec.into() };
        let ready = |address: &str| EventKind::GatewayReady {
            pid: Some(9),
            python: None,
            executable: None,
            address: Some(address.into()),
        };
        gws.apply("gw2", &starting("popen//via=gw1"));
        assert_eq!(gws.list[0].kind, "via");
        assert_eq!(gws.list[0].address.as_deref(), Some("via gw1"));
        gws.apply("gw2", &ready("via gw0 ← gw1"));
        assert_eq!(gws.list[0].address.as_deref(), Some("via gw0 ← gw1"));
        gws.apply("s1", &starting("socket//installvia=gw0"));
        assert_eq!(gws.list[1].address, None);
        gws.apply("s1", &ready("127.0.0.1:40123"));
        assert_eq!(gws.list[1].address.as_deref(), Some("127.0.0.1:40123"));
    }

    #[test]
    fn socket_gateways_show_host_and_address() {
        let mut gws = Gateways::default();
        for (id, spec) in [("a", "socket=127.0.0.1:8888"), ("b", "socket=[::1]:9")] {
            gws.apply(id, &EventKind::GatewayStarting { spec: spec.into() });
        }
        assert_eq!(gws.list[0].kind, "socket");
        assert_eq!(gws.list[0].host, "127.0.0.1");
        assert_eq!(gws.list[0].address.as_deref(), Some("127.0.0.1:8888"));
        assert_eq!(gws.list[1].host, "::1");
        assert_eq!(gws.list[1].address.as_deref(), Some("[::1]:9"));
        gws.apply(
            "c",
            &EventKind::GatewayStarting {
                spec: "popen".into(),
            },
        );
        assert_eq!(gws.list[2].address, None);
    }
}
