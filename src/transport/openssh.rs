//! ssh gateways with the system's OpenSSH client (`ssh=…//ssh_client=openssh`),
//! started as execnet starts every ssh gateway: the local child process
//! `ssh -C [-F <ssh_config>] <ssh= value split on whitespace> '<python> -c
//! "<boot line>"'`, whose stdin and stdout carry the protocol and whose
//! stderr (ssh's own messages, then the worker's) is captured as a popen
//! gateway's is.
//!
//! Everything the `ssh` binary can do is then available: Kerberos,
//! `ControlMaster`, hardware tokens, `ProxyJump`, the whole ssh config. What
//! it cannot do is ask for anything: its stdin is the protocol, so a
//! passphrase or password prompt has no terminal (use an agent, or
//! `-o BatchMode=yes` to fail at once instead of waiting for the startup
//! timeout). A failed start is [`ConnectError::DiedDuringStartup`] quoting
//! what ssh printed (`Connection refused`, `Host key verification failed`,
//! …; ssh exits with status 255 for its own failures).

use tokio::process::Command;

use super::bootstrap::BOOT_LINE;
use super::popen::{LaunchOptions, Link, start};
use super::{ConnectError, Connection};
use crate::spec::XSpec;

/// The program run; found on `PATH`.
pub const SSH_PROGRAM: &str = "ssh";

/// The arguments of the `ssh` command line for `spec` (an ssh spec) with the
/// `ssh=` value `value`, as execnet builds them (without the program name).
pub fn ssh_args(spec: &XSpec, value: &str) -> Vec<String> {
    let mut args = vec!["-C".to_owned()];
    if let Some(config) = spec.ssh_config() {
        args.push("-F".to_owned());
        args.push(config.to_owned());
    }
    args.extend(value.split_whitespace().map(str::to_owned));
    let python = spec.python().unwrap_or("python3");
    args.push(format!("{python} -c \"{BOOT_LINE}\""));
    args
}

/// Starts gateway `id` of `spec` by running `ssh` with [`ssh_args`] as a
/// local child process, then sends execdeck's worker over its stdin and
/// reads the handshake within the startup timeout, as for popen gateways.
pub async fn spawn(
    spec: &XSpec,
    value: &str,
    id: &str,
    opts: &LaunchOptions,
) -> Result<Connection, ConnectError> {
    let mut cmd = Command::new(SSH_PROGRAM);
    cmd.args(ssh_args(spec, value));
    let execmodel = spec.execmodel().map_or("thread", |m| m.as_str());
    let source = opts.boot.source(id, execmodel, opts.debug);
    start(cmd, spec, SSH_PROGRAM, &source, None, Link::Pipes, opts).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_execnets() {
        let spec = XSpec::parse(
            "ssh=-p 2222  -o BatchMode=yes user@box//ssh_client=openssh//ssh_config=/c//python=python3.12",
        )
        .unwrap();
        let args = ssh_args(&spec, spec.ssh().unwrap());
        assert_eq!(
            args[..8],
            [
                "-C",
                "-F",
                "/c",
                "-p",
                "2222",
                "-o",
                "BatchMode=yes",
                "user@box"
            ]
        );
        assert_eq!(args.len(), 9);
        assert!(args[8].starts_with("python3.12 -c \""), "{}", args[8]);
        assert!(args[8].ends_with('"'), "{}", args[8]);
    }
}
