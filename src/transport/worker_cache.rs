//! The worker source kept in a cache directory, so that popen gateways can
//! boot from a file and CPython's pyc cache spares them compiling the worker
//! (about 10 ms per interpreter).
//!
//! The file is named after a hash of its content and written atomically
//! (temporary file, then rename); before each use its content is compared
//! with the worker this binary carries, so a partial, stale or foreign file
//! is never booted from: it is rewritten, or the gateway boots the classic
//! way (source sent over stdin). The directory must belong to the user and
//! be writable by nobody else, and every directory above it must be ours or
//! root's and closed to other writers (or sticky, like `/tmp`); the
//! interpreter is given the resolved path.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use super::bootstrap::WORKER_SOURCE;

/// Where popen gateways find the cached worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WorkerCache {
    /// The user's cache directory (`$XDG_CACHE_HOME/execdeck/worker` or
    /// `~/.cache/execdeck/worker` on Linux), else `execdeck-<uid>-worker`
    /// in the temporary directory.
    #[default]
    Default,
    /// This directory (made with mode 0700 when missing).
    Dir(PathBuf),
    /// No cache: the worker source is always sent over stdin.
    Off,
}

/// The Python module name of the cached worker: `execdeck_worker_<hash>`.
pub fn module_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| format!("execdeck_worker_{:016x}", fnv1a(WORKER_SOURCE.as_bytes())))
}

/// The SHA-256 of [`WORKER_SOURCE`] in lowercase hex: what a remote first
/// stage (`bootstrap/remote_boot.py`) checks a cached worker file against.
pub fn worker_digest() -> &'static str {
    static DIGEST: OnceLock<String> = OnceLock::new();
    DIGEST.get_or_init(|| {
        use sha2::Digest;
        sha2::Sha256::digest(WORKER_SOURCE.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl WorkerCache {
    /// The path of a file that holds exactly the worker source, writing it
    /// first when needed; `None` when no usable directory can be had or the
    /// file cannot be written (the caller then sends the source over stdin).
    ///
    /// Blocking file system work; see [`WorkerCache::known_file`] for the
    /// check that does none.
    pub fn worker_file(&self) -> Option<PathBuf> {
        self.dirs().iter().find_map(|dir| ensure_file(dir))
    }

    /// What [`WorkerCache::worker_file`] returns when the file was found
    /// good before (by this process) and looks unchanged: two `lstat`s, no
    /// reading or writing. `None` means: ask `worker_file`.
    pub fn known_file(&self) -> Option<PathBuf> {
        let dir = self.dirs().into_iter().next()?;
        let known = verified().lock().unwrap_or_else(|p| p.into_inner());
        known
            .get(&dir)
            .filter(|v| v.unchanged())
            .map(|v| v.path.clone())
    }

    fn dirs(&self) -> Vec<PathBuf> {
        match self {
            WorkerCache::Off => Vec::new(),
            WorkerCache::Dir(dir) => vec![dir.clone()],
            WorkerCache::Default => {
                let mut dirs = Vec::new();
                if let Some(p) = directories::ProjectDirs::from("", "", "execdeck") {
                    dirs.push(p.cache_dir().join("worker"));
                }
                dirs.push(std::env::temp_dir().join(format!("execdeck-{}-worker", euid())));
                dirs
            }
        }
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// What a verified file looked like, to skip re-reading it while it stays so.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

/// A worker file found good: its real path and what it looked like.
struct Verified {
    path: PathBuf,
    stamp: Stamp,
}

impl Verified {
    /// The file and its directory look as they did when checked.
    fn unchanged(&self) -> bool {
        fs::symlink_metadata(&self.path).is_ok_and(|meta| Stamp::of(&meta) == self.stamp)
            && self.path.parent().is_some_and(private_dir)
    }
}

/// Verified files by the directory asked for (one lock for all: the checks
/// are a few system calls, writes are rare).
fn verified() -> &'static Mutex<HashMap<PathBuf, Verified>> {
    static VERIFIED: OnceLock<Mutex<HashMap<PathBuf, Verified>>> = OnceLock::new();
    VERIFIED.get_or_init(|| Mutex::new(HashMap::new()))
}

fn ensure_file(dir: &Path) -> Option<PathBuf> {
    let mut known = verified().lock().unwrap_or_else(|p| p.into_inner());
    // The common case: the file we checked (or wrote) before is unchanged.
    if let Some(v) = known.get(dir)
        && v.unchanged()
    {
        return Some(v.path.clone());
    }
    known.remove(dir);
    if !private_dir(dir) {
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
    }
    // The interpreter gets the real path, every component of it safe from
    // other users (nobody else can swap the directory or the file).
    let real = fs::canonicalize(dir).ok()?;
    if !private_dir(&real) || !safe_ancestors(&real) {
        return None;
    }
    let path = real.join(format!("{}.py", module_name()));
    let stamp = match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_file() && holds_worker(&path) => Stamp::of(&meta),
        _ => {
            let stamp = write_atomically(&real, &path)?;
            prune_other_versions(&real);
            stamp
        }
    };
    known.insert(
        dir.to_path_buf(),
        Verified {
            path: path.clone(),
            stamp,
        },
    );
    Some(path)
}

/// Whether `path` holds exactly the worker source.
fn holds_worker(path: &Path) -> bool {
    fs::read(path).is_ok_and(|content| content == WORKER_SOURCE.as_bytes())
}

/// Writes the worker to a temporary file in `dir` and renames it to `path`;
/// drops bytecode compiled from an earlier file of that name.
fn write_atomically(dir: &Path, path: &Path) -> Option<Stamp> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        module_name(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(WORKER_SOURCE.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
        return None;
    }
    remove_bytecode(dir, module_name());
    // What was renamed into place is what was written, unless another
    // writer raced us with the same content: check once more.
    match fs::symlink_metadata(path) {
        Ok(meta) if holds_worker(path) => Some(Stamp::of(&meta)),
        _ => None,
    }
}

/// Removes `__pycache__/<module>.*.pyc`: a file compiled from a damaged
/// earlier copy could carry the same size and mtime second.
fn remove_bytecode(dir: &Path, module: &str) {
    let prefix = format!("{module}.");
    if let Ok(entries) = fs::read_dir(dir.join("__pycache__")) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// How long a worker file of another version stays after its last write.
const KEEP_OTHER_VERSIONS: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes worker files of other execdeck versions (and their bytecode) not
/// written for a day, so that upgrades and development builds do not pile
/// up files. A master still using one writes it again when it needs it.
fn prune_other_versions(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(module) = name
            .strip_suffix(".py")
            .filter(|m| m.starts_with("execdeck_worker_") && *m != module_name())
        else {
            continue;
        };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > KEEP_OTHER_VERSIONS));
        if old && fs::remove_file(entry.path()).is_ok() {
            remove_bytecode(dir, module);
        }
    }
}

/// A real directory (not a symlink) owned by us that nobody else can write.
fn private_dir(dir: &Path) -> bool {
    fs::symlink_metadata(dir)
        .is_ok_and(|m| m.file_type().is_dir() && m.uid() == euid() && m.mode() & 0o022 == 0)
}

/// Every directory above `dir` (a canonical path) belongs to us or to root
/// and is writable by nobody else, or is sticky like `/tmp` (where others
/// cannot rename what is ours).
fn safe_ancestors(dir: &Path) -> bool {
    dir.ancestors().skip(1).all(|a| {
        fs::symlink_metadata(a).is_ok_and(|m| {
            (m.uid() == 0 || m.uid() == euid()) && (m.mode() & 0o022 == 0 || m.mode() & 0o1000 != 0)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_name_carries_the_content_hash() {
        let name = module_name();
        assert!(name.starts_with("execdeck_worker_"), "{name}");
        assert_eq!(name.len(), "execdeck_worker_".len() + 16);
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }

    #[test]
    fn writes_once_then_reuses_and_repairs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("b");
        let cache = WorkerCache::Dir(dir.clone());
        let path = cache.worker_file().unwrap();
        let dir = fs::canonicalize(&dir).unwrap();
        assert_eq!(path.parent(), Some(dir.as_path()));
        assert_eq!(fs::read(&path).unwrap(), WORKER_SOURCE.as_bytes());
        let mode = fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let ino = fs::metadata(&path).unwrap().ino();
        assert_eq!(cache.worker_file().unwrap(), path);
        assert_eq!(cache.known_file().unwrap(), path);
        assert_eq!(fs::metadata(&path).unwrap().ino(), ino, "rewritten");

        // A truncated copy (same name) is replaced, and its bytecode dropped.
        fs::write(&path, &WORKER_SOURCE.as_bytes()[..100]).unwrap();
        assert_eq!(cache.known_file(), None);
        let pycache = dir.join("__pycache__");
        fs::create_dir(&pycache).unwrap();
        let pyc = pycache.join(format!("{}.cpython-311.pyc", module_name()));
        fs::write(&pyc, b"junk").unwrap();
        assert_eq!(cache.worker_file().unwrap(), path);
        assert_eq!(fs::read(&path).unwrap(), WORKER_SOURCE.as_bytes());
        assert!(!pyc.exists());
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn old_files_of_other_versions_are_pruned_when_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let pycache = dir.join("__pycache__");
        fs::create_dir(&pycache).unwrap();
        let old = dir.join("execdeck_worker_0000000000000001.py");
        let old_pyc = pycache.join("execdeck_worker_0000000000000001.cpython-311.pyc");
        let recent = dir.join("execdeck_worker_0000000000000002.py");
        let other = dir.join("notes.py");
        for f in [&old, &old_pyc, &recent, &other] {
            fs::write(f, "x").unwrap();
        }
        let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(48 * 3600);
        fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
        let path = WorkerCache::Dir(dir.clone()).worker_file().unwrap();
        assert!(path.exists());
        assert!(!old.exists() && !old_pyc.exists());
        assert!(recent.exists() && other.exists());
    }

    #[test]
    fn a_directory_others_can_write_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("open");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        assert_eq!(WorkerCache::Dir(dir.clone()).worker_file(), None);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        // Below a directory others can write, even a private one is unsafe.
        let inner = dir.join("inner");
        fs::DirBuilder::new().mode(0o700).create(&inner).unwrap();
        assert_eq!(WorkerCache::Dir(inner).worker_file(), None);
        // A symlink to a good directory: the interpreter gets the real path.
        let link = tmp.path().join("link");
        let real = tmp.path().join("real");
        fs::DirBuilder::new().mode(0o700).create(&real).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let path = WorkerCache::Dir(link).worker_file().unwrap();
        assert_eq!(
            path.parent(),
            Some(fs::canonicalize(&real).unwrap().as_path())
        );
        assert_eq!(WorkerCache::Off.worker_file(), None);
    }
}
