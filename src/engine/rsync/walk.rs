//! Walking a source tree for rsync: the entries the receiver is sent, in
//! the order it needs them.

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use super::filter::Rules;
#[cfg(test)]
use crate::wire::Value;

/// A source tree as the walk found it.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    /// The entries, parents before what they hold.
    pub entries: Vec<Entry>,
    /// Paths left out because of a problem, as "PATH: reason" (unreadable
    /// directory, a name that is not UTF-8, a socket/fifo/device).
    pub skipped: Vec<String>,
    /// The same paths relative to the root: with `delete`, what the
    /// destination has there is kept (the source could not say what it holds).
    pub skipped_relpaths: Vec<String>,
    /// Regular files among the entries, and their total size.
    pub files: u64,
    pub bytes: u64,
}

/// One directory, regular file or symlink of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// '/'-separated, relative to the root, never empty.
    pub relpath: String,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i64,
    pub kind: EntryKind,
}

/// What an [`Entry`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Dir,
    File {
        size: u64,
    },
    /// A symlink: with `inside`, `target` is the place in the source tree
    /// it points at, relative to the root ("" for the root); otherwise the
    /// link's text as it is.
    Link {
        target: String,
        inside: bool,
    },
}

impl Entry {
    /// The entry as the receiver reads it: ("d", relpath, mode, mtime_ns) /
    /// ("f", relpath, mode, mtime_ns, size) / ("l", relpath, target, inside):
    /// an `entries` item's form (the master sends [`Entry::pack`]'s).
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        let relpath = Value::str(self.relpath.as_str());
        let mode = Value::Int(i64::from(self.mode));
        let mtime = Value::Int(self.mtime_ns);
        Value::Tuple(match &self.kind {
            EntryKind::Dir => vec![Value::str("d"), relpath, mode, mtime],
            EntryKind::File { size } => {
                let size = Value::from_bigint((*size).into());
                vec![Value::str("f"), relpath, mode, mtime, size]
            }
            EntryKind::Link { target, inside } => vec![
                Value::str("l"),
                relpath,
                Value::str(target.as_str()),
                Value::Bool(*inside),
            ],
        })
    }
}

impl Entry {
    /// Appends the entry to the text of a `packed` item: each field
    /// followed by a NUL (no path or link target holds one), numbers in
    /// decimal, `inside` as 0 or 1.
    pub fn pack(&self, out: &mut String) {
        use std::fmt::Write as _;
        let tag = match self.kind {
            EntryKind::Dir => 'd',
            EntryKind::File { .. } => 'f',
            EntryKind::Link { .. } => 'l',
        };
        out.push(tag);
        out.push('\0');
        out.push_str(&self.relpath);
        out.push('\0');
        // Writing into a String cannot fail.
        let _ = match &self.kind {
            EntryKind::Dir => write!(out, "{}\0{}\0", self.mode, self.mtime_ns),
            EntryKind::File { size } => {
                write!(out, "{}\0{}\0{size}\0", self.mode, self.mtime_ns)
            }
            EntryKind::Link { target, inside } => {
                write!(out, "{target}\0{}\0", u8::from(*inside))
            }
        };
    }
}

/// Walks `root` (not following symlinks): parents before what they hold,
/// names in byte order within a directory, depth first; the root itself is
/// not an entry. Err when `root` is not a readable directory (the message
/// names it).
pub(crate) fn walk(root: &Path, rules: &Rules) -> Result<Tree, String> {
    let meta = fs::metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
    if !meta.is_dir() {
        return Err(format!("{}: not a directory", root.display()));
    }
    let names = read_names(root).map_err(|e| format!("{}: {e}", root.display()))?;
    // Where links into the tree point: the root as given made absolute, and
    // its canonical form.
    let mut roots = vec![rules.root().to_path_buf()];
    if let Ok(canonical) = fs::canonicalize(root)
        && canonical != roots[0]
    {
        roots.push(canonical);
    }
    let mut walker = Walker {
        root,
        roots,
        rules,
        tree: Tree::default(),
    };
    walker.dir("", names);
    Ok(walker.tree)
}

/// The names in directory `path`, in byte order.
fn read_names(path: &Path) -> std::io::Result<Vec<OsString>> {
    let mut names = fs::read_dir(path)?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort_unstable();
    Ok(names)
}

/// One walk in progress.
struct Walker<'a> {
    root: &'a Path,
    /// The root's absolute and canonical paths.
    roots: Vec<PathBuf>,
    rules: &'a Rules,
    tree: Tree,
}

impl Walker<'_> {
    /// Adds what is in directory `dir` (a relpath, "" for the root), whose
    /// names are `names`.
    fn dir(&mut self, dir: &str, names: Vec<OsString>) {
        for name in names {
            let path = self.root.join(dir).join(&name);
            let Some(name) = name.to_str() else {
                self.skip(&path, "the name is not UTF-8");
                continue;
            };
            let relpath = if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            };
            match fs::symlink_metadata(&path) {
                Ok(meta) => self.entry(&path, relpath, &meta),
                Err(e) => self.skip(&path, &e.to_string()),
            }
        }
    }

    /// Adds the entry at `path` (and, for a directory, what it holds)
    /// unless the rules leave it out.
    fn entry(&mut self, path: &Path, relpath: String, meta: &Metadata) {
        let kind = meta.file_type();
        if self.rules.leaves_out(&relpath, kind.is_dir()) {
            return;
        }
        let mode = meta.mode() & 0o7777;
        let mtime_ns = meta
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec());
        let entry = |kind| Entry {
            relpath: relpath.clone(),
            mode,
            mtime_ns,
            kind,
        };
        if kind.is_dir() {
            // The directory is listed even when it cannot be read: it
            // exists, only its contents are unknown.
            self.tree.entries.push(entry(EntryKind::Dir));
            match read_names(path) {
                Ok(names) => self.dir(&relpath, names),
                Err(e) => self.skip(path, &format!("cannot read the directory: {e}")),
            }
        } else if kind.is_file() {
            self.tree.files += 1;
            self.tree.bytes += meta.len();
            self.tree
                .entries
                .push(entry(EntryKind::File { size: meta.len() }));
        } else if kind.is_symlink() {
            match fs::read_link(path) {
                Ok(text) => match self.link(&text) {
                    Some(link) => self.tree.entries.push(entry(link)),
                    None => self.skip(path, "the link's target is not UTF-8"),
                },
                Err(e) => self.skip(path, &format!("cannot read the link: {e}")),
            }
        } else {
            let what = if kind.is_fifo() {
                "a fifo"
            } else if kind.is_socket() {
                "a socket"
            } else if kind.is_block_device() {
                "a block device"
            } else if kind.is_char_device() {
                "a character device"
            } else {
                "of an unknown kind"
            };
            self.skip(path, &format!("{what} (not a file, directory or symlink)"));
        }
    }

    /// The link kind for a symlink whose text is `text`; `None` when the
    /// text is not UTF-8.
    fn link(&self, text: &Path) -> Option<EntryKind> {
        let target = text.to_str()?.to_string();
        let inside = text.is_absolute().then(|| self.inside(text)).flatten();
        Some(match inside {
            Some(place) => EntryKind::Link {
                target: place,
                inside: true,
            },
            None => EntryKind::Link {
                target,
                inside: false,
            },
        })
    }

    /// The place in the tree an absolute link text names, relative to the
    /// root ("" for the root itself); `None` when it is outside (or goes
    /// through `..`, which may lead anywhere).
    fn inside(&self, text: &Path) -> Option<String> {
        let rest = self
            .roots
            .iter()
            .find_map(|root| text.strip_prefix(root).ok())?;
        let parts = rest
            .components()
            .map(|part| match part {
                Component::Normal(name) => name.to_str(),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(parts.join("/"))
    }

    /// Records `path` as left out for `reason`.
    fn skip(&mut self, path: &Path, reason: &str) {
        self.tree
            .skipped
            .push(format!("{}: {reason}", path.display()));
        if let Ok(rel) = path.strip_prefix(self.root) {
            self.tree
                .skipped_relpaths
                .push(rel.to_string_lossy().into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::time::{Duration, SystemTime};

    fn walk_all(root: &Path, excludes: &[&str]) -> Tree {
        let excludes: Vec<String> = excludes.iter().map(|p| p.to_string()).collect();
        walk(root, &Rules::new(root, &excludes, false, None).unwrap()).unwrap()
    }

    fn relpaths(tree: &Tree) -> Vec<&str> {
        tree.entries.iter().map(|e| e.relpath.as_str()).collect()
    }

    #[test]
    fn order_is_parents_first_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["b/z", "b/a", "a", "B"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in ["b/z/f", "b/a/f", "b/f", "a0", "a/x", "é"] {
            fs::write(root.join(f), "1234").unwrap();
        }
        let tree = walk_all(root, &[]);
        assert_eq!(
            relpaths(&tree),
            [
                "B", "a", "a/x", "a0", "b", "b/a", "b/a/f", "b/f", "b/z", "b/z/f", "é"
            ]
        );
        assert_eq!((tree.files, tree.bytes), (6, 24));
        assert!(tree.skipped.is_empty());
    }

    #[test]
    fn modes_mtimes_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("d")).unwrap();
        fs::write(root.join("d/f"), "hello").unwrap();
        fs::set_permissions(root.join("d/f"), fs::Permissions::from_mode(0o4751)).unwrap();
        fs::set_permissions(root.join("d"), fs::Permissions::from_mode(0o700)).unwrap();
        let when = SystemTime::UNIX_EPOCH + Duration::new(1_600_000_000, 123_456_789);
        fs::File::options()
            .write(true)
            .open(root.join("d/f"))
            .unwrap()
            .set_modified(when)
            .unwrap();
        let tree = walk_all(root, &[]);
        let [d, f] = &tree.entries[..] else {
            panic!("{:?}", tree.entries)
        };
        assert_eq!((d.mode, &d.kind), (0o700, &EntryKind::Dir));
        assert_eq!(f.mode, 0o4751);
        assert_eq!(f.mtime_ns, 1_600_000_000_123_456_789);
        assert_eq!(f.kind, EntryKind::File { size: 5 });
        assert_eq!(
            f.to_value(),
            Value::Tuple(vec![
                "f".into(),
                "d/f".into(),
                Value::Int(0o4751),
                Value::Int(1_600_000_000_123_456_789),
                Value::Int(5),
            ])
        );
        let mut packed = String::new();
        d.pack(&mut packed);
        f.pack(&mut packed);
        assert_eq!(
            packed,
            format!(
                "d\0d\0{}\0{}\0f\0d/f\0{}\0{}\05\0",
                0o700, d.mtime_ns, 0o4751, 1_600_000_000_123_456_789_i64
            )
        );
        assert_eq!(
            d.to_value(),
            Value::Tuple(vec![
                "d".into(),
                "d".into(),
                Value::Int(0o700),
                Value::Int(d.mtime_ns)
            ])
        );
    }

    #[test]
    fn symlinks_inside_and_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        fs::create_dir_all(root.join("sub")).unwrap();
        let abs = std::path::absolute(&root).unwrap();
        let canonical = fs::canonicalize(&root).unwrap();
        symlink(abs.join("sub/f"), root.join("abs_in")).unwrap();
        symlink(&canonical, root.join("abs_root")).unwrap();
        symlink(canonical.join("sub"), root.join("canon_in")).unwrap();
        symlink("/etc/passwd", root.join("abs_out")).unwrap();
        symlink("../sub/f", root.join("rel")).unwrap();
        symlink(abs.join("../elsewhere"), root.join("dotdot")).unwrap();
        symlink(format!("{}x/y", abs.display()), root.join("prefix")).unwrap();
        let tree = walk_all(&root, &[]);
        let links: Vec<(&str, &EntryKind)> = tree
            .entries
            .iter()
            .map(|e| (e.relpath.as_str(), &e.kind))
            .filter(|(_, kind)| matches!(kind, EntryKind::Link { .. }))
            .collect();
        let link = |target: &str, inside| EntryKind::Link {
            target: target.to_string(),
            inside,
        };
        let dotdot = abs.join("../elsewhere").display().to_string();
        let prefix = format!("{}x/y", abs.display());
        assert_eq!(
            links,
            [
                ("abs_in", &link("sub/f", true)),
                ("abs_out", &link("/etc/passwd", false)),
                ("abs_root", &link("", true)),
                ("canon_in", &link("sub", true)),
                ("dotdot", &link(&dotdot, false)),
                ("prefix", &link(&prefix, false)),
                ("rel", &link("../sub/f", false)),
            ]
        );
        let value = tree.entries[0].to_value();
        assert_eq!(
            value,
            Value::Tuple(vec![
                "l".into(),
                "abs_in".into(),
                "sub/f".into(),
                Value::Bool(true)
            ])
        );
    }

    #[test]
    fn special_files_and_bad_names_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let fifo = CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        fs::write(root.join(std::ffi::OsStr::from_bytes(b"bad\xff")), "").unwrap();
        symlink(std::ffi::OsStr::from_bytes(b"/x\xff"), root.join("badlink")).unwrap();
        fs::write(root.join("good"), "").unwrap();
        let tree = walk_all(root, &[]);
        assert_eq!(relpaths(&tree), ["good"]);
        assert_eq!(tree.skipped.len(), 3, "{:?}", tree.skipped);
        let fifo = format!("{}: a fifo", root.join("fifo").display());
        assert!(
            tree.skipped.iter().any(|s| s.starts_with(&fifo)),
            "{:?}",
            tree.skipped
        );
        assert!(tree.skipped.iter().any(|s| s.contains("not UTF-8")));
        assert!(tree.skipped.iter().any(|s| s.contains("badlink")));
    }

    #[test]
    fn excluded_directories_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("build/keep")).unwrap();
        fs::create_dir_all(root.join("src")).unwrap();
        fs::write(root.join("build/keep/f"), "").unwrap();
        fs::write(root.join("src/a.pyc"), "").unwrap();
        fs::write(root.join("src/a.py"), "").unwrap();
        let tree = walk_all(root, &["build/", "*.pyc", "!keep"]);
        assert_eq!(relpaths(&tree), ["src", "src/a.py"]);
        // A .gitignore and the filter prune the same way.
        fs::write(root.join(".gitignore"), "src/\n").unwrap();
        let filter: super::super::filter::PathFilter =
            std::sync::Arc::new(|path: &Path| !path.ends_with("build"));
        let rules = Rules::new(root, &[], true, Some(filter)).unwrap();
        assert_eq!(relpaths(&walk(root, &rules).unwrap()), [".gitignore"]);
    }

    #[test]
    fn root_must_be_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let rules = Rules::new(&file, &[], false, None).unwrap();
        let err = walk(&file, &rules).unwrap_err();
        assert!(err.contains(&file.display().to_string()), "{err}");
        let missing = dir.path().join("missing");
        let err = walk(&missing, &rules).unwrap_err();
        assert!(err.contains("missing"), "{err}");
    }
}
