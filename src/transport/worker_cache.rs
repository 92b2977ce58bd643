//! The worker source kept in a cache directory, so that popen gateways can
//! boot from a file and CPython's pyc cache spares them compiling the worker
//! (about 10 ms per interpreter).
//!
//! The file is named after a hash of its content and written atomically
//! (temporary file, then rename); before each use its content is compared
//! with the worker this binary carries, so a partial, stale or foreign file
//! is never booted from: it is rewritten, or the gateway boots the classic
//! way (source sent over stdin). The directory must belong to the user and
//! be writable by nobody else.

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
    /// `~/.cache/execdeck/worker` on Linux), else `execdeck-<uid>/worker`
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
    pub fn worker_file(&self) -> Option<PathBuf> {
        let dirs: Vec<PathBuf> = match self {
            WorkerCache::Off => return None,
            WorkerCache::Dir(dir) => vec![dir.clone()],
            WorkerCache::Default => {
                let mut dirs = Vec::new();
                if let Some(p) = directories::ProjectDirs::from("", "", "execdeck") {
                    dirs.push(p.cache_dir().join("worker"));
                }
                // SAFETY: geteuid has no preconditions and cannot fail.
                let uid = unsafe { libc::geteuid() };
                dirs.push(
                    std::env::temp_dir()
                        .join(format!("execdeck-{uid}"))
                        .join("worker"),
                );
                dirs
            }
        };
        dirs.iter().find_map(|dir| ensure_file(dir))
    }
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

/// Verified files by path (one lock for all: writes are rare and short).
fn verified() -> &'static Mutex<HashMap<PathBuf, Stamp>> {
    static VERIFIED: OnceLock<Mutex<HashMap<PathBuf, Stamp>>> = OnceLock::new();
    VERIFIED.get_or_init(|| Mutex::new(HashMap::new()))
}

fn ensure_file(dir: &Path) -> Option<PathBuf> {
    let path = dir.join(format!("{}.py", module_name()));
    let mut known = verified().lock().unwrap_or_else(|p| p.into_inner());
    // The common case: the file we checked (or wrote) before is unchanged.
    if let (Some(stamp), Ok(meta)) = (known.get(&path), fs::symlink_metadata(&path))
        && *stamp == Stamp::of(&meta)
        && private_dir(dir)
    {
        return Some(path);
    }
    known.remove(&path);
    if !make_private_dir(dir) {
        return None;
    }
    let stamp = match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_file() && holds_worker(&path) => Stamp::of(&meta),
        _ => write_atomically(dir, &path)?,
    };
    known.insert(path.clone(), stamp);
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
    remove_stale_bytecode(dir);
    // What was renamed into place is what was written, unless another
    // writer raced us with the same content: check once more.
    match fs::symlink_metadata(path) {
        Ok(meta) if holds_worker(path) => Some(Stamp::of(&meta)),
        _ => None,
    }
}

/// Removes `__pycache__/execdeck_worker_<hash>.*.pyc`: a file compiled from
/// a damaged earlier copy could carry the same size and mtime second.
fn remove_stale_bytecode(dir: &Path) {
    let prefix = format!("{}.", module_name());
    if let Ok(entries) = fs::read_dir(dir.join("__pycache__")) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Makes `dir` (and missing parents) with mode 0700; true when it is then a
/// private directory of ours.
fn make_private_dir(dir: &Path) -> bool {
    if !private_dir(dir) {
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
    }
    private_dir(dir)
}

/// A real directory (not a symlink) owned by us that nobody else can write.
fn private_dir(dir: &Path) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    fs::symlink_metadata(dir)
        .is_ok_and(|m| m.file_type().is_dir() && m.uid() == uid && m.mode() & 0o022 == 0)
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
        assert_eq!(path.parent(), Some(dir.as_path()));
        assert_eq!(fs::read(&path).unwrap(), WORKER_SOURCE.as_bytes());
        let mode = fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let ino = fs::metadata(&path).unwrap().ino();
        assert_eq!(cache.worker_file().unwrap(), path);
        assert_eq!(fs::metadata(&path).unwrap().ino(), ino, "rewritten");

        // A truncated copy (same name) is replaced, and its bytecode dropped.
        fs::write(&path, &WORKER_SOURCE.as_bytes()[..100]).unwrap();
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
    fn a_directory_others_can_write_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("open");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        assert_eq!(WorkerCache::Dir(dir.clone()).worker_file(), None);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        let link = tmp.path().join("link");
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(WorkerCache::Dir(link).worker_file(), None);
        assert_eq!(WorkerCache::Off.worker_file(), None);
    }
}
