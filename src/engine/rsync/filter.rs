//! Which paths of a source tree rsync leaves out: exclude patterns, the
//! tree's `.gitignore` files and execnet's `filter` callback.
//!
//! Patterns are gitignore's (ripgrep's `ignore` crate matches them). The
//! user's excludes come first, as git's command-line patterns do: the last
//! of them that matches a path decides, excluded or (`!pattern`) kept.
//! When none matches, the `.gitignore` files decide, the deepest directory's
//! first, each applying to what is below its directory. A directory left
//! out takes everything in it along: nothing inside it can be kept again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// execnet's `RSync.filter(path)`: called with each absolute source path;
/// false leaves it (and, for a directory, everything in it) out.
pub type PathFilter = Arc<dyn Fn(&Path) -> bool + Send + Sync>;

/// A directory of the source as the `.gitignore` rules see it.
#[derive(Clone)]
enum Dir {
    /// Not a directory of the source (missing, or a symlink or a file):
    /// nothing below it is in the source.
    Absent,
    /// A directory, with its `.gitignore` when it has one.
    Present(Option<Arc<Gitignore>>),
}

/// The rules that leave paths of one source tree out.
pub(crate) struct Rules {
    /// The source root made absolute (what the filter's paths start with).
    root: PathBuf,
    /// The user's excludes (matched against paths relative to the root).
    excludes: Gitignore,
    gitignore: bool,
    filter: Option<PathFilter>,
    /// Directories by relpath ("" for the root), read when first needed.
    dirs: Mutex<HashMap<String, Dir>>,
}

impl Rules {
    /// Rules for the tree at `root`: gitignore-style `excludes` (as
    /// rsync/git read them: `*.pyc`, `build/`, `/top-only`, `a/**/b`,
    /// `!keep` negation), the source's `.gitignore` files when `gitignore`
    /// is set (each applies to its directory and below, as in git; read
    /// lazily and cached), and the user's filter. Err names a bad pattern.
    pub fn new(
        root: &Path,
        excludes: &[String],
        gitignore: bool,
        filter: Option<PathFilter>,
    ) -> Result<Rules, String> {
        let root = std::path::absolute(root)
            .map_err(|e| format!("{}: cannot make it absolute: {e}", root.display()))?;
        let mut builder = GitignoreBuilder::new(".");
        for pattern in excludes {
            builder
                .add_line(None, pattern)
                .map_err(|e| format!("bad exclude pattern {pattern:?}: {e}"))?;
        }
        let excludes = builder
            .build()
            .map_err(|e| format!("bad exclude patterns: {e}"))?;
        Ok(Rules {
            root,
            excludes,
            gitignore,
            filter,
            dirs: Mutex::new(HashMap::new()),
        })
    }

    /// The source root, absolute.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `relpath` ('/'-separated, relative to root) is left out
    /// (excluded by a pattern or a .gitignore, or refused by the filter).
    /// Used by the walk and, for destination entries the source lacks, to
    /// protect them from `delete` (as rsync does without
    /// --delete-excluded), so it must also work for paths that do not exist
    /// in the source (then the filter is not consulted, only patterns and
    /// the .gitignore files of existing source directories among its
    /// ancestors).
    ///
    /// Every directory above `relpath` is checked too, as the walk would
    /// have met it.
    pub fn excluded(&self, relpath: &str, is_dir: bool) -> bool {
        // Whether the path being checked is in the source: only when its
        // parent is a directory of the source (not a symlink to one).
        let mut parent_is_dir = true;
        let mut ancestors = relpath.match_indices('/').map(|(at, _)| &relpath[..at]);
        let mut check = |path: &str, is_dir: bool| {
            let meta = parent_is_dir
                .then(|| std::fs::symlink_metadata(self.root.join(path)).ok())
                .flatten();
            parent_is_dir = meta.as_ref().is_some_and(|meta| meta.is_dir());
            self.pattern_excluded(path, is_dir) || (meta.is_some() && self.refused(path))
        };
        ancestors.any(|dir| check(dir, true)) || check(relpath, is_dir)
    }

    /// [`Rules::excluded`] for a path of the walk, whose directories above
    /// were checked already and which exists.
    pub(crate) fn leaves_out(&self, relpath: &str, is_dir: bool) -> bool {
        self.pattern_excluded(relpath, is_dir) || self.refused(relpath)
    }

    /// Whether the user's filter refuses `relpath`.
    fn refused(&self, relpath: &str) -> bool {
        self.filter
            .as_ref()
            .is_some_and(|filter| !filter(&self.root.join(relpath)))
    }

    /// Whether a pattern or a `.gitignore` leaves `relpath` out (its
    /// directories above are not looked at).
    fn pattern_excluded(&self, relpath: &str, is_dir: bool) -> bool {
        match self.excludes.matched(relpath, is_dir) {
            Match::Ignore(_) => return true,
            Match::Whitelist(_) => return false,
            Match::None => {}
        }
        if !self.gitignore {
            return false;
        }
        // The directories holding `relpath`, the deepest first, each with
        // `relpath` relative to it.
        let mut dirs: Vec<(&str, &str)> = relpath
            .match_indices('/')
            .map(|(at, _)| (&relpath[..at], &relpath[at + 1..]))
            .collect();
        dirs.insert(0, ("", relpath));
        // Only the directories of the source count: stop at the first that
        // is not one.
        let present = dirs
            .iter()
            .position(|(dir, _)| matches!(self.dir(dir), Dir::Absent))
            .unwrap_or(dirs.len());
        for (dir, below) in dirs[..present].iter().rev() {
            if let Dir::Present(Some(ignore)) = self.dir(dir) {
                match ignore.matched(below, is_dir) {
                    Match::Ignore(_) => return true,
                    Match::Whitelist(_) => return false,
                    Match::None => {}
                }
            }
        }
        false
    }

    /// The directory `relpath` of the source, its `.gitignore` read and
    /// kept on first use.
    fn dir(&self, relpath: &str) -> Dir {
        let lock = || self.dirs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(dir) = lock().get(relpath) {
            return dir.clone();
        }
        // Read without holding the lock: another target's task may read
        // the same file meanwhile, and the first to finish is kept.
        let path = self.root.join(relpath);
        let dir = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() || relpath.is_empty() => {
                Dir::Present(read_gitignore(&path.join(".gitignore")))
            }
            _ => Dir::Absent,
        };
        lock().entry(relpath.to_string()).or_insert(dir).clone()
    }
}

/// The patterns of the `.gitignore` file at `path`, matched against paths
/// relative to its directory; `None` when there is none or it has no
/// pattern. Lines that are not valid patterns are left out, as git does.
fn read_gitignore(path: &Path) -> Option<Arc<Gitignore>> {
    if !path.is_file() {
        return None;
    }
    let mut builder = GitignoreBuilder::new(".");
    // A partial error: the good lines are in.
    let _ = builder.add(path);
    builder
        .build()
        .ok()
        .filter(|ignore| !ignore.is_empty())
        .map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn rules(root: &Path, excludes: &[&str], gitignore: bool) -> Rules {
        let excludes: Vec<String> = excludes.iter().map(|p| p.to_string()).collect();
        Rules::new(root, &excludes, gitignore, None).unwrap()
    }

    #[test]
    fn patterns() {
        let dir = tempfile::tempdir().unwrap();
        let r = rules(
            dir.path(),
            &[
                "*.pyc",
                "build/",
                "/top",
                "**/x",
                "a/**/b",
                "*.log",
                "!keep.log",
            ],
            false,
        );
        assert!(r.excluded("m.pyc", false));
        assert!(r.excluded("deep/er/m.pyc", false));
        assert!(!r.excluded("m.py", false));
        assert!(r.excluded("build", true));
        assert!(r.excluded("sub/build", true));
        assert!(
            !r.excluded("build", false),
            "build/ matches directories only"
        );
        assert!(
            r.excluded("build/anything", false),
            "below an excluded directory"
        );
        assert!(r.excluded("top", false));
        assert!(
            !r.excluded("sub/top", false),
            "/top is anchored at the root"
        );
        assert!(r.excluded("x", false));
        assert!(r.excluded("p/q/x", true));
        assert!(r.excluded("a/b", false));
        assert!(r.excluded("a/c/d/b", false));
        assert!(!r.excluded("c/a/b", false));
        assert!(r.excluded("err.log", false));
        assert!(!r.excluded("keep.log", false));
        assert!(!r.excluded("sub/keep.log", false));
    }

    #[test]
    fn bad_pattern_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Rules::new(dir.path(), &["ok".into(), "a{b".into()], false, None)
            .err()
            .unwrap();
        assert!(err.contains("a{b"), "{err}");
    }

    #[test]
    fn gitignore_files_apply_below_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::create_dir_all(root.join("other")).unwrap();
        fs::write(root.join(".gitignore"), "*.tmp\n/rootonly\n").unwrap();
        fs::write(
            root.join("sub/.gitignore"),
            "*.dat\n!special.tmp\n/anchored\n",
        )
        .unwrap();
        let r = rules(root, &[], true);
        assert!(r.excluded("a.tmp", false));
        assert!(r.excluded("other/a.tmp", false));
        assert!(r.excluded("rootonly", false));
        assert!(!r.excluded("sub/rootonly", false));
        assert!(r.excluded("sub/x.dat", false));
        assert!(r.excluded("sub/deeper/x.dat", false));
        assert!(
            !r.excluded("x.dat", false),
            "sub/.gitignore applies only below sub"
        );
        assert!(!r.excluded("other/x.dat", false));
        assert!(
            !r.excluded("sub/special.tmp", false),
            "the deeper file wins"
        );
        assert!(r.excluded("sub/anchored", false));
        assert!(!r.excluded("sub/deeper/anchored", false));
        // Off: the files are not read.
        assert!(!rules(root, &[], false).excluded("a.tmp", false));
        // The user's excludes come first.
        let r = rules(root, &["!a.tmp", "*.md"], true);
        assert!(!r.excluded("a.tmp", false));
        assert!(r.excluded("sub/notes.md", false));
    }

    #[test]
    fn absent_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/.gitignore"), "*.o\n").unwrap();
        fs::write(root.join("sub/refused"), "").unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let filter: PathFilter = Arc::new(move |path: &Path| {
            log.lock().unwrap().push(path.to_path_buf());
            path.file_name() != Some("refused".as_ref())
        });
        let r = Rules::new(root, &["*.pyc".into()], true, Some(filter)).unwrap();
        let abs = std::path::absolute(root).unwrap();
        // Missing from the source: patterns and the .gitignore of the
        // existing directory above decide, the filter is not asked.
        assert!(!r.excluded("gone.txt", false));
        assert!(r.excluded("gone.pyc", false));
        assert!(r.excluded("sub/gone.o", false));
        assert!(!r.excluded("sub/gone.txt", false));
        assert!(r.excluded("missing/dir/gone.pyc", false));
        assert!(!r.excluded("missing/dir/gone.o", false));
        assert!(!r.excluded("sub/gone/refused", false));
        let asked = seen.lock().unwrap().clone();
        assert!(
            asked.iter().all(|path| *path == abs.join("sub")),
            "{asked:?}"
        );
        // An existing path is asked about.
        assert!(r.excluded("sub/refused", false));
        assert_eq!(seen.lock().unwrap().last(), Some(&abs.join("sub/refused")));
    }

    #[test]
    fn the_filter_is_called_with_absolute_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("no.txt"), "").unwrap();
        fs::write(root.join("yes.txt"), "").unwrap();
        let filter: PathFilter = Arc::new(|path: &Path| {
            assert!(path.is_absolute());
            path.file_name() != Some("no.txt".as_ref())
        });
        let r = Rules::new(root, &[], false, Some(filter)).unwrap();
        assert!(r.excluded("no.txt", false));
        assert!(!r.excluded("yes.txt", false));
        assert!(r.leaves_out("no.txt", false));
    }

    #[test]
    fn rules_are_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Rules>();
    }
}
