//! Code panes persist across restarts as files in the data directory
//! (`snippets/NN-name.py`), written atomically so a crash never leaves half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `contents` to `path` through a temporary file in the same
/// directory and a rename: the old file stays whole until the new one is.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.execdeck-tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Saves panes (name, code) as `NN-name.py` in `dir`, replacing what was there.
pub fn save(dir: &Path, panes: &[(String, String)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut keep: Vec<PathBuf> = Vec::new();
    for (i, (name, code)) in panes.iter().enumerate() {
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{:02}-{clean}.py", i + 1));
        write_atomic(&path, code)?;
        keep.push(path);
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "py") && !keep.contains(&path) {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

/// Loads the saved panes from `dir`, in order: (name, code). Unreadable
/// files are skipped.
pub fn load(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let code = std::fs::read_to_string(&p).ok()?;
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            let name = stem
                .split_once('-')
                .map_or(stem.clone(), |(_, n)| n.to_owned());
            Some((name, code))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_round_trip_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let panes = vec![
            ("scratch".to_string(), "print(1)\n".to_string()),
            ("my pane/x".to_string(), "x = 2".to_string()),
        ];
        save(dir.path(), &panes).unwrap();
        let back = load(dir.path());
        assert_eq!(back[0], panes[0]);
        assert_eq!(back[1], ("my_pane_x".to_string(), "x = 2".to_string()));
        save(dir.path(), &panes[..1]).unwrap();
        assert_eq!(load(dir.path()).len(), 1, "removed panes are forgotten");
        assert!(load(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.py");
        write_atomic(&path, "one").unwrap();
        write_atomic(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(&dir.path().join("no/such\0dir/x"), "x").is_err());
    }
}
