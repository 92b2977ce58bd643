//! Exit statuses of the `execdeck` binary, shared by the command line and
//! the terminal UI: 0 success, then these.

/// Exit status: remote code raised, or a gateway died.
pub const EXIT_REMOTE: i32 = 1;
/// Exit status: bad spec, bad literal, unreadable file, gateway that cannot start.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: `--timeout` passed.
pub const EXIT_TIMEOUT: i32 = 3;
