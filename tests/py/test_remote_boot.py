"""bootstrap/remote_boot.py, the first stage of workers on other hosts:
it loads the worker from the host's cache or asks for the source and keeps
it, with every file and directory check, in a fresh interpreter each time."""

import ast
import hashlib
import os
import subprocess
import textwrap
import time

from conftest import MARKER, ROOT, TIMEOUT, WORKER_PYTHON

STAGE = (ROOT / "bootstrap" / "remote_boot.py").read_text(encoding="utf-8")
NAME = "execdeck_worker_test"
#: A stand-in worker: the stage treats any source alike.
WORKER = "import os\nRESULT = ('loaded', os.getpid() > 0)\n"
DIGEST = hashlib.sha256(WORKER.encode("utf-8")).hexdigest()
REQUEST = MARKER + b"S"


def boot(home, answer=WORKER, digest=DIGEST, keep=True, env=None):
    """Runs the stage in a fresh interpreter with HOME and the cache below
    ``home``; returns (what the worker set, what the stage wrote)."""
    driver = STAGE + textwrap.dedent("""
        written = []
        g = {"__name__": "stage_test"}
        _execdeck_boot(g, %r, %r, written.append, lambda: %r, %r)
        print(repr((g.get("RESULT"), written)))
        """ % (NAME, digest, repr(answer) + "\n", keep))
    environ = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / "cache"),
                   TMPDIR=str(home / "tmp"))
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    environ.update(env or {})
    out = subprocess.run([WORKER_PYTHON, "-c", driver], env=environ,
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def cache_file(home):
    return home / "cache" / "execdeck" / "worker" / (NAME + ".py")


def pycs(directory):
    cache = directory / "__pycache__"
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_first_boot_asks_and_keeps_the_source_then_loads_it(tmp_path):
    assert boot(tmp_path) == (("loaded", True), [REQUEST])
    path = cache_file(tmp_path)
    assert path.read_text(encoding="utf-8") == WORKER
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert [p for p in pycs(path.parent) if p.startswith(NAME + ".")]
    # the next boot asks for nothing
    assert boot(tmp_path) == (("loaded", True), [])
    # no temporary file is left
    assert sorted(p.name for p in path.parent.iterdir()) == ["__pycache__", NAME + ".py"]


def test_a_damaged_file_is_replaced(tmp_path):
    boot(tmp_path)
    path = cache_file(tmp_path)
    path.write_text(WORKER[:10], encoding="utf-8")
    assert boot(tmp_path) == (("loaded", True), [REQUEST])
    assert path.read_text(encoding="utf-8") == WORKER
    assert boot(tmp_path) == (("loaded", True), [])


def test_a_damaged_pyc_is_dropped_and_the_source_asked_for(tmp_path):
    boot(tmp_path)
    path = cache_file(tmp_path)
    for name in pycs(path.parent):
        # same header (source mtime and size), broken code
        pyc = path.parent / "__pycache__" / name
        pyc.write_bytes(pyc.read_bytes()[:16] + b"\xff" * 8)
    assert boot(tmp_path) == (("loaded", True), [REQUEST])
    assert boot(tmp_path) == (("loaded", True), [])


def test_a_directory_others_can_write_is_passed_over(tmp_path):
    worker_dir = tmp_path / "cache" / "execdeck" / "worker"
    worker_dir.mkdir(parents=True)
    worker_dir.chmod(0o777)
    (tmp_path / "tmp").mkdir()
    assert boot(tmp_path) == (("loaded", True), [REQUEST])
    assert list(worker_dir.iterdir()) == []
    fallback = tmp_path / "tmp" / ("execdeck-%d-worker" % os.geteuid())
    assert (fallback / (NAME + ".py")).read_text(encoding="utf-8") == WORKER
    assert fallback.stat().st_mode & 0o777 == 0o700


def test_below_a_directory_others_can_write_nothing_is_kept(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache").chmod(0o777)
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp").chmod(0o777)  # not sticky either
    assert boot(tmp_path) == (("loaded", True), [REQUEST])
    assert boot(tmp_path) == (("loaded", True), [REQUEST])
    assert not cache_file(tmp_path).exists()


def test_a_source_that_is_not_the_worker_runs_but_is_not_kept(tmp_path):
    other = "RESULT = ('other', True)\n"
    assert boot(tmp_path, answer=other) == (("other", True), [REQUEST])
    assert not cache_file(tmp_path).exists()


def test_without_keep_bytecode_dont_write_bytecode_is_obeyed(tmp_path):
    env = {"PYTHONDONTWRITEBYTECODE": "1"}
    assert boot(tmp_path, keep=False, env=env) == (("loaded", True), [REQUEST])
    assert pycs(cache_file(tmp_path).parent) == []
    assert boot(tmp_path, keep=True, env=env) == (("loaded", True), [])
    assert pycs(cache_file(tmp_path).parent) != []


def test_writing_prunes_other_versions_not_written_for_a_day(tmp_path):
    worker_dir = tmp_path / "cache" / "execdeck" / "worker"
    (worker_dir / "__pycache__").mkdir(parents=True)
    worker_dir.chmod(0o700)
    old = worker_dir / "execdeck_worker_0000000000000001.py"
    old_pyc = worker_dir / "__pycache__" / "execdeck_worker_0000000000000001.cpython-311.pyc"
    recent = worker_dir / "execdeck_worker_0000000000000002.py"
    other = worker_dir / "notes.py"
    for f in (old, old_pyc, recent, other):
        f.write_text("x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    os.utime(other, (two_days_ago, two_days_ago))
    assert boot(tmp_path) == (("loaded", True), [REQUEST])
    assert not old.exists() and not old_pyc.exists()
    assert recent.exists() and other.exists()
