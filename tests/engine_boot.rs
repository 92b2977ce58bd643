//! The cached boot of popen gateways: the worker source kept in a cache
//! directory and loaded through CPython's pyc cache, with the source sent
//! over stdin whenever that cannot work.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use execdeck::engine::GroupOptions;
use execdeck::transport::worker_cache::{self, WorkerCache};
use execdeck::{Gateway, Group, Value};

const T: Option<Duration> = Some(Duration::from_secs(20));

/// What a worker reports about how it was booted.
#[derive(Debug)]
struct Booted {
    /// The file name its code was compiled with (`<string>` from stdin).
    code_file: String,
    dont_write_bytecode: bool,
    id: String,
    execmodel: String,
    /// `__main__` holds the worker's names and no boot helper.
    main_clean: bool,
}

const REPORT: &str = "import sys\n\
main = sys.modules['__main__']\n\
channel.send((type(channel.gateway).__init__.__code__.co_filename,\n\
              sys.dont_write_bytecode, channel.gateway.id,\n\
              channel.gateway.execmodel.backend,\n\
              hasattr(main, 'Message') and hasattr(main, 'serve_stdio')\n\
              and 'EXECDECK_BOOT' in vars(main)\n\
              and not hasattr(main, '_execdeck_boot')))\n";

async fn booted(gw: &Gateway) -> Booted {
    let ch = gw.remote_exec(REPORT).await.unwrap();
    let Value::Tuple(items) = ch.receive(T).await.unwrap() else {
        panic!("not a tuple");
    };
    let text = |v: &Value| match v {
        Value::Str(s) => s.clone(),
        other => panic!("not a str: {other:?}"),
    };
    Booted {
        code_file: text(&items[0]),
        dont_write_bytecode: items[1] == Value::Bool(true),
        id: text(&items[2]),
        execmodel: text(&items[3]),
        main_clean: items[4] == Value::Bool(true),
    }
}

fn cached_group(dir: &Path) -> Group {
    Group::with_options(GroupOptions {
        worker_cache: WorkerCache::Dir(dir.to_path_buf()),
        ..GroupOptions::default()
    })
}

fn worker_file(dir: &Path) -> PathBuf {
    dir.join(format!("{}.py", worker_cache::module_name()))
}

/// The pyc files CPython made for the cached worker.
fn pycs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("__pycache__")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(worker_cache::module_name()))
        })
        .collect()
}

async fn check_works(gw: &Gateway) {
    let ch = gw
        .remote_exec("channel.send(channel.receive() * 2)")
        .await
        .unwrap();
    ch.send(21).await.unwrap();
    assert_eq!(ch.receive(T).await.unwrap(), Value::Int(42));
    assert!(gw.warnings().is_empty(), "{:?}", gw.warnings());
}

#[tokio::test]
async fn cached_boot_compiles_once_then_loads_the_pyc() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let group = cached_group(&dir);
    // PYTHONDONTWRITEBYTECODE governs Python's imports, not execdeck's cache;
    // remote code still sees the flag it asked for.
    let spec = popen("//id=first//execmodel=main_thread_only//env:PYTHONDONTWRITEBYTECODE=1");
    let gw = within(20, group.makegateway(&spec)).await.unwrap();
    let b = booted(&gw).await;
    let file = worker_file(&dir);
    assert_eq!(b.code_file, file.display().to_string());
    assert!(b.dont_write_bytecode);
    assert_eq!(
        (b.id.as_str(), b.execmodel.as_str()),
        ("first", "main_thread_only")
    );
    assert!(b.main_clean, "{b:?}");
    check_works(&gw).await;
    let pyc = pycs(&dir);
    assert_eq!(pyc.len(), 1, "{pyc:?}");
    let before = std::fs::metadata(&pyc[0]).unwrap().modified().unwrap();

    let gw2 = within(20, group.makegateway(&popen("//id=second")))
        .await
        .unwrap();
    let b = booted(&gw2).await;
    assert_eq!(b.code_file, file.display().to_string());
    assert_eq!((b.id.as_str(), b.execmodel.as_str()), ("second", "thread"));
    check_works(&gw2).await;
    assert_eq!(pycs(&dir), pyc);
    let after = std::fs::metadata(&pyc[0]).unwrap().modified().unwrap();
    assert_eq!(before, after, "the pyc was written again");
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn dont_write_bytecode_writes_no_pyc() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let group = cached_group(&dir);
    let gw = within(20, group.makegateway(&popen("//dont_write_bytecode")))
        .await
        .unwrap();
    let b = booted(&gw).await;
    assert_eq!(b.code_file, worker_file(&dir).display().to_string());
    assert!(b.dont_write_bytecode);
    check_works(&gw).await;
    group.terminate(Duration::from_secs(5)).await;
    assert!(pycs(&dir).is_empty(), "{:?}", pycs(&dir));
}

#[tokio::test]
async fn an_unusable_cache_dir_means_the_source_goes_over_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let group = cached_group(&file.join("cache"));
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    let b = booted(&gw).await;
    assert_eq!(b.code_file, "<string>");
    assert!(b.main_clean, "{b:?}");
    check_works(&gw).await;
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_worker_file_the_interpreter_cannot_load_means_it_asks_for_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    // An interpreter that does not see the file (another machine, a container).
    let wrapper = tmp.path().join("python-elsewhere");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nrm -f '{}'\nexec '{}' \"$@\"\n",
            worker_file(&dir).display(),
            python()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let group = cached_group(&dir);
    let spec = format!("popen//python={}//id=elsewhere", wrapper.display());
    let gw = within(20, group.makegateway(&spec)).await.unwrap();
    let b = booted(&gw).await;
    assert_eq!(b.code_file, "<string>");
    assert_eq!(b.id, "elsewhere");
    assert!(b.main_clean, "{b:?}");
    check_works(&gw).await;
    group.terminate(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn damaged_cache_files_are_never_used() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let file = worker_file(&dir);
    // A partial copy under the final name (e.g. from a crash)...
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("bootstrap/worker.py"))
            .unwrap();
    std::fs::write(&file, &source[..source.len() / 2]).unwrap();
    let group = cached_group(&dir);
    let gw = within(20, group.makegateway(&popen(""))).await.unwrap();
    // ...is replaced before any interpreter reads it.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), source);
    assert_eq!(booted(&gw).await.code_file, file.display().to_string());
    check_works(&gw).await;

    // A pyc cut short after its header: loading fails, the source is sent,
    // and the pyc is dropped so that the next interpreter compiles anew.
    let pyc = pycs(&dir);
    assert_eq!(pyc.len(), 1, "{pyc:?}");
    let bytes = std::fs::read(&pyc[0]).unwrap();
    std::fs::write(&pyc[0], &bytes[..40]).unwrap();
    let gw2 = within(20, group.makegateway(&popen(""))).await.unwrap();
    let b = booted(&gw2).await;
    assert_eq!(b.code_file, "<string>");
    assert!(b.main_clean, "{b:?}");
    check_works(&gw2).await;
    assert!(pycs(&dir).is_empty());
    let gw3 = within(20, group.makegateway(&popen(""))).await.unwrap();
    assert_eq!(booted(&gw3).await.code_file, file.display().to_string());
    let rewritten = std::fs::read(&pyc[0]).unwrap();
    assert_eq!(rewritten.len(), bytes.len());
    assert_eq!(rewritten[..16], bytes[..16]);
    group.terminate(Duration::from_secs(5)).await;
}
