"""The real pytest-xdist on our worker: what the workers print on fd 1 (their
own pytest reports) must not reach the user's terminal, exactly as with
execnet's worker. pytest runs in a subprocess; ``-p ourworker_plugin`` makes
its execnet master boot bootstrap/worker.py (see ourworker_plugin.py)."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

import xdist  # noqa: F401  (scripts/venv.sh installs pytest-xdist; missing is a failure, not a skip)

SUITE = textwrap.dedent("""\
    import pytest

    @pytest.mark.parametrize("i", range(12))
    def test_passes(i):
        print("output of a passing test", i)

    @pytest.mark.parametrize("i", range(4))
    def test_fails(i):
        print("output of a failing test", i)
        assert i < 0, "failure number %d" % i

    def test_worker_writes_to_its_fd_1():
        import os
        os.write(1, b"written to fd 1 of the xdist worker\\n")
""")


def run_xdist(suite_dir, our_worker):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "tests" / "py")]
        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("PYTEST_ADDOPTS", None)
    args = [sys.executable, "-m", "pytest", "-n", "3", "-p", "no:cacheprovider",
            "-o", "console_output_style=classic", str(suite_dir)]
    if our_worker:
        args[3:3] = ["-p", "ourworker_plugin"]
    return subprocess.run(args, capture_output=True, text=True, timeout=120,
                          cwd=str(suite_dir), env=env,
                          stdin=subprocess.DEVNULL)


def test_xdist_workers_print_no_more_than_with_execnets_worker(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_suite.py").write_text(SUITE)
    theirs = run_xdist(suite, our_worker=False)
    ours = run_xdist(suite, our_worker=True)
    for result in (theirs, ours):
        assert result.returncode == 1, result.stdout + result.stderr
        assert "4 failed, 13 passed" in result.stdout, result.stdout
    assert "execdeck's bootstrap/worker.py" in ours.stdout   # really ours
    assert "execdeck's bootstrap/worker.py" not in theirs.stdout
    assert "written to fd 1" not in ours.stderr + ours.stdout
    assert len(ours.stderr.splitlines()) <= len(theirs.stderr.splitlines()), (
        ours.stderr)
