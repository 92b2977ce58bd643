//! Prompts a front end answers for the transports: the passphrase of an
//! encrypted ssh key, an ssh password, and whether to trust a host key the
//! known_hosts file does not list.
//!
//! A [`Prompter`] is carried in [`LaunchOptions`](super::popen::LaunchOptions)
//! (set on a group with `GroupOptions::prompter`); without one nobody can be
//! asked, so an encrypted key is skipped (with a note saying to add it to
//! ssh-agent) and password authentication is not tried. [`FixedAnswers`]
//! answers from memory (tests, library users); [`TerminalPrompter`] asks on
//! the controlling terminal without echo (the command line).

use std::fmt;
use std::future::Future;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::ssh::SshAt;

/// An answer to come: `None` when the user gave none (cancelled, no input).
pub type Answer<'a> = Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;

/// A host key to decide on (unknown), or to be told about (changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyQuestion {
    /// User, host and port.
    pub at: SshAt,
    /// The key's algorithm (`ssh-ed25519`).
    pub key_type: String,
    /// Its SHA-256 fingerprint (`SHA256:…`).
    pub fingerprint: String,
    /// The known_hosts file checked.
    pub known_hosts: std::path::PathBuf,
    /// For a changed key: the line of the known_hosts file with the old key.
    pub changed_line: Option<usize>,
}

/// What the user decided about an unknown host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyDecision {
    /// Trust it for this connection only.
    AcceptOnce,
    /// Trust it and add it to the known_hosts file.
    AcceptAndRecord,
    /// Refuse it (the start fails with `SshHostKeyUnknown`).
    Refuse,
}

/// A host-key decision to come.
pub type Decision<'a> = Pin<Box<dyn Future<Output = HostKeyDecision> + Send + 'a>>;

/// Asks the user for secrets while a gateway starts. The start waits for
/// the answer, and its startup timeout does not run meanwhile; prompts of
/// gateways starting together may come at the same time.
pub trait Prompter: Send + Sync {
    /// The passphrase of the encrypted private key `key`, used to log in as
    /// `at`. `attempt` counts from 1 (a wrong passphrase is asked again, up
    /// to three times).
    fn passphrase<'a>(&'a self, key: &'a Path, at: &'a SshAt, attempt: u32) -> Answer<'a>;

    /// The password of `at` (its user on its host). `attempt` counts from 1.
    fn password<'a>(&'a self, at: &'a SshAt, attempt: u32) -> Answer<'a>;

    /// Whether to trust a host key the known_hosts file does not list
    /// (asked only under `StrictHostKeyChecking` yes or ask, the default).
    /// By default: refused, as without a prompter.
    fn host_key<'a>(&'a self, question: &'a HostKeyQuestion) -> Decision<'a> {
        let _ = question;
        Box::pin(std::future::ready(HostKeyDecision::Refuse))
    }

    /// Tells that a host's key differs from the one recorded (the start is
    /// refused whatever is answered: there is nothing to accept). By
    /// default nobody is told, beyond the start's error.
    fn host_key_changed(&self, question: &HostKeyQuestion) {
        let _ = question;
    }
}

/// A [`Prompter`] to share between gateways (a cheap clone).
#[derive(Clone)]
pub struct SharedPrompter(pub Arc<dyn Prompter>);

impl SharedPrompter {
    /// Shares `prompter`.
    pub fn new(prompter: impl Prompter + 'static) -> SharedPrompter {
        SharedPrompter(Arc::new(prompter))
    }
}

impl fmt::Debug for SharedPrompter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedPrompter(..)")
    }
}

impl std::ops::Deref for SharedPrompter {
    type Target = dyn Prompter;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// Answers every prompt with the same text (or none): for tests and
/// programs that hold the secret already.
#[derive(Clone, Default)]
pub struct FixedAnswers {
    /// The answer to every passphrase prompt.
    pub passphrase: Option<String>,
    /// The answer to every password prompt.
    pub password: Option<String>,
}

impl fmt::Debug for FixedAnswers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |s: &Option<String>| if s.is_some() { "Some(***)" } else { "None" };
        f.debug_struct("FixedAnswers")
            .field("passphrase", &hidden(&self.passphrase))
            .field("password", &hidden(&self.password))
            .finish()
    }
}

impl Prompter for FixedAnswers {
    fn passphrase<'a>(&'a self, _key: &'a Path, _at: &'a SshAt, _attempt: u32) -> Answer<'a> {
        Box::pin(std::future::ready(self.passphrase.clone()))
    }

    fn password<'a>(&'a self, _at: &'a SshAt, _attempt: u32) -> Answer<'a> {
        Box::pin(std::future::ready(self.password.clone()))
    }
}

/// How long a terminal prompt waits for its answer; then it counts as
/// none given.
pub const TERMINAL_PROMPT_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The terminal settings to put back if the program exits while a prompt
/// has echo off.
static OPEN_PROMPT: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Registered with `atexit`: restores the terminal a prompt left open.
extern "C" fn restore_at_exit() {
    let saved = match OPEN_PROMPT.try_lock() {
        Ok(mut open) => open.take(),
        Err(_) => None,
    };
    if let Some(saved) = saved
        && let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty")
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the file is open; saved came from tcgetattr.
        unsafe { libc::tcsetattr(tty.as_raw_fd(), libc::TCSANOW, &saved) };
        let _ = tty.write_all(b"\n");
    }
}

/// Asks on the controlling terminal (`/dev/tty`), as OpenSSH does, with
/// echo off; one prompt at a time, each waiting at most
/// [`TERMINAL_PROMPT_LIMIT`]. The terminal is restored when the program
/// exits (or is interrupted with Ctrl-C) in the middle of a prompt.
#[derive(Debug, Default)]
pub struct TerminalPrompter {
    /// Held while a prompt is on the terminal.
    busy: Arc<Mutex<()>>,
}

impl TerminalPrompter {
    /// A prompter when there is a terminal to ask on: stdin or stderr is a
    /// terminal and `/dev/tty` opens. `None` otherwise.
    pub fn if_terminal() -> Option<TerminalPrompter> {
        let interactive = std::io::stdin().is_terminal() || std::io::stderr().is_terminal();
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok();
        (interactive && tty).then(TerminalPrompter::default)
    }

    fn ask(&self, prompt: String) -> Answer<'static> {
        let busy = self.busy.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let _turn = busy.lock().unwrap_or_else(|e| e.into_inner());
                read_hidden(&prompt).ok().flatten()
            })
            .await
            .ok()
            .flatten()
        })
    }
}

impl Prompter for TerminalPrompter {
    fn passphrase<'a>(&'a self, key: &'a Path, at: &'a SshAt, attempt: u32) -> Answer<'a> {
        let again = if attempt > 1 {
            "wrong passphrase; "
        } else {
            ""
        };
        self.ask(format!(
            "{again}passphrase for key {} ({at}): ",
            key.display()
        ))
    }

    fn password<'a>(&'a self, at: &'a SshAt, attempt: u32) -> Answer<'a> {
        let again = if attempt > 1 { "refused; " } else { "" };
        self.ask(format!("{again}password for {at}: "))
    }
}

/// Writes `prompt` on /dev/tty and reads a line from it with echo off,
/// byte by byte (erase and kill as the terminal defines them); the terminal
/// is restored afterwards, also on error. `None` for end of input (Ctrl-D
/// on an empty line). The interrupt key (Ctrl-C) restores the terminal
/// and then interrupts the program, as it would have without the prompt.
fn read_hidden(prompt: &str) -> std::io::Result<Option<String>> {
    use std::os::fd::AsRawFd;
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let fd = tty.as_raw_fd();
    // SAFETY: an all-zero termios is a valid value for tcgetattr to fill.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open for the duration of the call; saved is writable.
    let have_termios = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    // Without termios (not a terminal after all): the defaults.
    let key = |index: usize, default: u8| {
        if have_termios {
            saved.c_cc[index]
        } else {
            default
        }
    };
    let (interrupt, erase, kill, eof) = (
        key(libc::VINTR, 0x03),
        key(libc::VERASE, 0x7f),
        key(libc::VKILL, 0x15),
        key(libc::VEOF, 0x04),
    );
    if have_termios {
        static AT_EXIT: std::sync::Once = std::sync::Once::new();
        // SAFETY: restore_at_exit is an extern "C" fn that does not unwind.
        AT_EXIT.call_once(|| unsafe {
            libc::atexit(restore_at_exit);
        });
        if let Ok(mut open) = OPEN_PROMPT.lock() {
            *open = Some(saved);
        }
        let mut quiet = saved;
        quiet.c_lflag &= !(libc::ECHO | libc::ICANON | libc::ISIG);
        quiet.c_cc[libc::VMIN] = 1;
        quiet.c_cc[libc::VTIME] = 0;
        // SAFETY: fd is open; quiet is a valid termios.
        unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) };
    }
    let restore = || {
        if have_termios {
            if let Ok(mut open) = OPEN_PROMPT.lock() {
                *open = None;
            }
            // SAFETY: fd is still open; saved came from tcgetattr.
            unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &saved) };
        }
    };
    let mut interrupted = false;
    let result = (|| {
        tty.write_all(prompt.as_bytes())?;
        tty.flush()?;
        let mut line: Vec<u8> = Vec::new();
        let mut byte = [0u8; 1];
        let give_up = std::time::Instant::now() + TERMINAL_PROMPT_LIMIT;
        loop {
            let left = give_up.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut ready = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let wait_ms = left.as_millis().min(1000) as libc::c_int;
            // SAFETY: ready is one valid pollfd for an open fd.
            if unsafe { libc::poll(&mut ready, 1, wait_ms) } <= 0 {
                continue;
            }
            if tty.read(&mut byte)? == 0 {
                break;
            }
            match byte[0] {
                b'\r' | b'\n' => break,
                b if b == interrupt => {
                    interrupted = true;
                    return Ok(None);
                }
                b if b == eof && line.is_empty() => return Ok(None),
                b if b == eof => break,
                b if b == erase || b == 0x08 => {
                    // One character, however many bytes.
                    while line.pop().is_some_and(|b| b & 0xc0 == 0x80) {}
                }
                b if b == kill => line.clear(),
                b => line.push(b),
            }
        }
        Ok(Some(String::from_utf8_lossy(&line).into_owned()))
    })();
    let _ = tty.write_all(b"\n");
    restore();
    if interrupted {
        // SAFETY: raise has no memory-safety preconditions.
        unsafe { libc::raise(libc::SIGINT) };
    }
    result
}
