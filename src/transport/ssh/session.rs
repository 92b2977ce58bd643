//! The authenticated ssh session with the target: straight over TCP, or
//! through jump hosts (`-J`, `ProxyJump`), each reached over a
//! `direct-tcpip` channel of the hop before it, with its own host-key check
//! (its own known_hosts entry) and authentication.

use std::path::Path;
use std::sync::{Arc, Mutex};

use russh::client::{self, Handle};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::*;

/// The sessions of one start: the target's, and those of the jump hosts
/// it goes through (first hop first), which must live as long as it does.
pub(super) struct Sessions {
    pub(super) target: Handle<Client>,
    pub(super) hops: Vec<Handle<Client>>,
}

/// What [`establish`] needs besides the settings.
pub(super) struct Route<'a> {
    /// The spec, for error messages.
    pub(super) spec: &'a XSpec,
    /// The `ssh=` value (its options are carried to the jump hosts).
    pub(super) value: &'a str,
    /// The text of the config file, if any (for the jump hosts' sections).
    pub(super) config: Option<&'a str>,
    /// The local home directory.
    pub(super) home: Option<&'a Path>,
    /// When the start must be done (moved on by time spent in prompts).
    pub(super) deadline: Instant,
    /// The whole startup timeout, for messages.
    pub(super) timeout: Duration,
    /// Where the steps of the start go.
    pub(super) opts: &'a LaunchOptions,
}

/// Connects to the target of `s`, through its jump hosts if it has any,
/// checks each host key and authenticates on each. Errors on a jump host
/// name it: the spec part reads `… (jump host i of n)`, `at` is the hop.
pub(super) async fn establish(
    route: &Route<'_>,
    s: &SshSettings,
    prompts: &Prompts,
    warnings: &mut Vec<String>,
) -> Result<Sessions, ConnectError> {
    let spec = route.spec;
    // (the label for errors, what steps add for a jump host, its settings)
    let mut chain: Vec<(String, String, SshSettings)> = Vec::new();
    if !s.jump.is_empty() {
        let options = parse_ssh_value(route.value)
            .map_err(|message| ConnectError::SshOptions {
                spec: spec.to_string(),
                message,
            })?
            .options;
        let local = local_user();
        let n = s.jump.len();
        for (i, hop) in s.jump.iter().enumerate() {
            let config = route
                .config
                .map(|text| ssh_config_for(text, &hop.host))
                .unwrap_or_default();
            let label = format!("{spec} (jump host {} of {n}, {})", i + 1, hop.host);
            let mut hs = settings_for(hop.target(&options), &config, route.home, &local).map_err(
                |message| ConnectError::SshOptions {
                    spec: label.clone(),
                    message,
                },
            )?;
            if route.opts.accept_new_host_keys {
                hs.policy = HostKeyPolicy::AcceptNew;
            }
            chain.push((label, format!(" of jump host {}", hop.host), hs));
        }
    }
    chain.push((spec.to_string(), String::new(), s.clone()));
    let mut hops: Vec<(Handle<Client>, String, SshSettings)> = Vec::new();
    for (label, note, hs) in chain {
        let session = match hops.last() {
            None => {
                let connect_timeout = hs
                    .connect_timeout
                    .map_or(route.timeout, |t| t.min(route.timeout));
                let tcp = open(&label, &hs.at, connect_timeout, route.opts).await?;
                start(route, (&label, &note), &hs, prompts, warnings, tcp).await?
            }
            Some((previous, previous_label, ps)) => {
                let opened = prompts
                    .until(
                        route.deadline,
                        previous.channel_open_direct_tcpip(
                            hs.at.host.clone(),
                            u32::from(hs.at.port),
                            "127.0.0.1",
                            0,
                        ),
                    )
                    .await;
                let channel = match opened {
                    None => return Err(timed_out(route, previous_label, &ps.at)),
                    Some(Err(e)) => {
                        return Err(ConnectError::SshSession {
                            spec: previous_label.clone(),
                            at: Box::new(ps.at.clone()),
                            message: format!(
                                "the jump host did not open a connection to {}:{}: {e}",
                                hs.at.host, hs.at.port
                            ),
                        });
                    }
                    Some(Ok(channel)) => channel,
                };
                route.opts.step(&format!(
                    "{} forwarding to {}:{}",
                    ps.at.host, hs.at.host, hs.at.port
                ));
                start(
                    route,
                    (&label, &note),
                    &hs,
                    prompts,
                    warnings,
                    channel.into_stream(),
                )
                .await?
            }
        };
        hops.push((session, label, hs));
    }
    let mut handles: Vec<Handle<Client>> = hops.into_iter().map(|(h, _, _)| h).collect();
    match handles.pop() {
        Some(target) => Ok(Sessions {
            target,
            hops: handles,
        }),
        None => Err(ConnectError::SshOptions {
            spec: spec.to_string(),
            message: "no host to connect to".into(),
        }),
    }
}

fn timed_out(route: &Route<'_>, label: &str, at: &SshAt) -> ConnectError {
    ConnectError::SshConnectTimeout {
        spec: label.to_owned(),
        at: Box::new(at.clone()),
        secs: route.timeout.as_secs_f64(),
    }
}

/// The key exchange (with the host key check) and authentication over
/// `stream`, for the host of `s`; `label` names it in errors, `note` in
/// the steps of the start.
async fn start<R>(
    route: &Route<'_>,
    (label, note): (&str, &str),
    s: &SshSettings,
    prompts: &Prompts,
    warnings: &mut Vec<String>,
    stream: R,
) -> Result<Handle<Client>, ConnectError>
where
    R: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let at = &s.at;
    let session_failed = |message: String| ConnectError::SshSession {
        spec: label.to_owned(),
        at: Box::new(at.clone()),
        message,
    };
    let verdict = Arc::new(Mutex::new(None));
    let handler = Client {
        host: at.host.clone(),
        port: at.port,
        known_hosts: s.known_hosts.clone(),
        policy: s.policy,
        verdict: verdict.clone(),
        asker: prompts
            .asker(s)
            .filter(|_| s.policy == HostKeyPolicy::Strict)
            .map(|p| (p.clone(), prompts.clone())),
        at: at.clone(),
    };
    let config = Arc::new(client::Config {
        nodelay: true,
        keepalive_interval: s.alive_interval,
        keepalive_max: s.alive_count,
        ..client::Config::default()
    });
    let verdict_now = || verdict.lock().ok().and_then(|v| v.clone());
    let started = prompts
        .until(
            route.deadline,
            client::connect_stream(config, stream, handler),
        )
        .await;
    let mut session = match started {
        None => return Err(timed_out(route, label, at)),
        Some(Err(e)) => {
            return Err(key_error(label, s, verdict_now())
                .unwrap_or_else(|| session_failed(format!("the key exchange failed: {e}"))));
        }
        Some(Ok(session)) => session,
    };
    route.opts.step(&format!("host key{note} checked"));
    match verdict_now() {
        Some(KeyVerdict::Learned {
            key_type,
            fingerprint,
        }) => warnings.push(format!(
            "{label}: permanently added the {key_type} host key of {at} ({fingerprint}) to {}",
            s.known_hosts.display()
        )),
        Some(KeyVerdict::AcceptedOnce {
            key_type,
            fingerprint,
        }) => warnings.push(format!(
            "{label}: accepted the {key_type} host key of {at} ({fingerprint}) for this \
             connection only (not recorded in {})",
            s.known_hosts.display()
        )),
        _ => {}
    }
    match prompts
        .until(
            route.deadline,
            authenticate(&mut session, s, route.home, prompts),
        )
        .await
    {
        None => Err(ConnectError::SshStartupTimeout {
            spec: label.to_owned(),
            at: Box::new(at.clone()),
            secs: route.timeout.as_secs_f64(),
            stdout: String::new(),
            stderr: String::new(),
        }),
        Some(Err(AuthFailure::Refused { tried, methods })) => Err(ConnectError::SshAuthRefused {
            spec: label.to_owned(),
            at: Box::new(at.clone()),
            tried,
            server_methods: methods,
        }),
        Some(Err(AuthFailure::Session(message))) => Err(session_failed(message)),
        Some(Ok(method)) => {
            route
                .opts
                .step(&format!("authenticated as {} with {method}{note}", at.user));
            Ok(session)
        }
    }
}
