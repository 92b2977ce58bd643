"""Remote tracebacks show the user's code, not ours: the frames of
bootstrap/worker.py and bootstrap/runner.py are left out, and what remains
is what CPython prints for the same code (computed by the workers'
interpreter, so caret lines and messages match its version).

Both ways the worker is booted are covered: from source (its code objects
are named ``<string>``, like code remote code itself may ``exec``) and from
a file, as execdeck's master does from its worker cache (named by the
file's path, which varies).
"""

import subprocess
import textwrap

import pytest

import execnet
from execnet import gateway_bootstrap
from execnet.gateway_base import Message, dumps_internal

from conftest import (MARKER, TIMEOUT, WORKER_PATH, WORKER_PYTHON,
                      execdeck_bootstrap, python_spec)
from test_runner import Run

HEADER = "Traceback (most recent call last):\n"

#: Runs ``source`` as ``file_name`` in a fresh interpreter and prints the
#: traceback CPython gives for it, without the frame of this script (so a
#: SyntaxError has no frame, only the header CPython prints above it).
CPYTHON_REFERENCE = r"""
import linecache, sys, traceback
source, file_name = sys.argv[1], sys.argv[2]
linecache.cache[file_name] = (len(source), None,
                              source.splitlines(True), file_name)
try:
    namespace = {"__name__": "__channelexec__", "channel": None}
    exec(compile(source, file_name, "exec"), namespace)
    if len(sys.argv) > 3:
        # call_name: execnet's remote_exec(function) calls it with the channel
        namespace[sys.argv[3]](None)
except BaseException as exc:
    tb = exc.__traceback__.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    if tb is None:
        lines.insert(0, "Traceback (most recent call last):\n")
    sys.stdout.write("".join(lines))
"""


def cpython_traceback(source, file_name, call_name=None):
    args = [WORKER_PYTHON, "-c", CPYTHON_REFERENCE, source, file_name]
    if call_name:
        args.append(call_name)
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(HEADER), out.stdout
    return out.stdout


def file_bootstrap(io, spec):
    """Boot our worker from its file, compiled under its path (what the
    cached boot of execdeck's master does), instead of from source."""
    config = {"id": spec.id, "execmodel": spec.execmodel or "thread"}
    source = ("EXECDECK_BOOT = %r\n"
              "exec(compile(open(%r).read(), %r, 'exec'), globals())\n"
              % (config, str(WORKER_PATH), str(WORKER_PATH)))
    io.write((repr(source) + "\n").encode("utf-8"))
    want = MARKER + b"1"
    got = io.read(len(want))
    if got != want:
        raise RuntimeError("bad handshake from worker: %r" % (got,))


@pytest.fixture(params=["source", "file"])
def anygw(request, monkeypatch):
    boot = execdeck_bootstrap if request.param == "source" else file_bootstrap
    monkeypatch.setattr(gateway_bootstrap, "bootstrap_import", boot)
    monkeypatch.setattr(gateway_bootstrap, "bootstrap_exec", boot)
    group = execnet.Group()
    try:
        yield group.makegateway(python_spec("popen"))
    finally:
        group.terminate(timeout=TIMEOUT)


def exec_error(gw, source):
    ch = gw.remote_exec(source)
    with pytest.raises(execnet.RemoteError) as info:
        ch.waitclose(TIMEOUT)
    return info.value.formatted


def run_error(gw, source, file_name):
    run = Run(gw, source, file_name=file_name)
    with pytest.raises(execnet.RemoteError) as info:
        run.wait()
    return info.value.formatted


CASES = {
    "syntax-error": "x = 1\ny = (\n",
    "nested-functions": textwrap.dedent("""\
        def outer():
            middle()
        def middle():
            inner()
        def inner():
            {}['missing']
        outer()
    """),
    "chained": textwrap.dedent("""\
        def parse(text):
            try:
                return int(text)
            except ValueError as exc:
                raise RuntimeError('bad number') from exc
        parse('x')
    """),
    # code remote code compiles itself is named "<string>", as the worker's
    # own code is when booted from source: those frames must stay
    "exec-of-string": "def f():\n    exec('def h():\\n    1/0\\nh()')\nf()\n",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_remote_exec_traceback_is_cpythons(anygw, case):
    source = CASES[case]
    assert exec_error(anygw, source) == cpython_traceback(source,
                                                          "<remote exec>")


@pytest.mark.parametrize("case", sorted(CASES))
def test_run_traceback_is_cpythons(anygw, case):
    source = CASES[case]
    assert run_error(anygw, source, "<pane>") == cpython_traceback(source,
                                                                   "<pane>")


def test_called_function_traceback_is_cpythons(anygw):
    source = textwrap.dedent("""\
        def helper(n):
            return 10 // n
        def task(channel):
            result = helper(0)
            channel.send(result)
    """)
    ch = anygw.newchannel()   # what remote_exec(function) sends
    anygw._send(Message.CHANNEL_EXEC, ch.id,
                dumps_internal((source, None, "task", {})))
    with pytest.raises(execnet.RemoteError) as info:
        ch.waitclose(TIMEOUT)
    assert info.value.formatted == cpython_traceback(source, "<remote exec>",
                                                     "task")


def test_error_inside_a_worker_call_shows_the_calling_line_last(anygw):
    text = exec_error(anygw, "def f():\n    channel.send(object())\nf()\n")
    assert text.startswith(HEADER)
    files = [line.strip() for line in text.splitlines()
             if line.startswith("  File ")]
    assert files == ['File "<remote exec>", line 3, in <module>',
                     'File "<remote exec>", line 2, in f'], text
    assert text.rstrip().endswith(
        "DumpError: can't serialize <class 'object'>"), text


def test_run_error_inside_a_worker_call_shows_the_calling_line_last(anygw):
    text = run_error(anygw, "channel.send({1: [object()]})\n", "<pane>")
    files = [line.strip() for line in text.splitlines()
             if line.startswith("  File ")]
    assert files == ['File "<pane>", line 1, in <module>'], text
    assert text.rstrip().endswith(
        "DumpError: can't serialize <class 'object'> at [1][0]"), text
