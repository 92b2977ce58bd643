"""Start modes, the raw protocol, tracing and process life time of the
worker (plain script, boot line, socket)."""

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import execnet
from execnet import gateway_io
from execnet.gateway_socket import SocketIO
from execnet.gateway_base import dumps_internal
from execnet.xspec import XSpec

from conftest import (BOOTLINE, MARKER, TIMEOUT, WORKER_PATH, WORKER_PYTHON,
                      WORKER_SOURCE, boot_source, wait_pid_gone)

I32 = lambda n: struct.pack("!i", n)  # noqa: E731


# -- plain-script mode -------------------------------------------------------

_counter = [0]


def plain_gateway(group, *args):
    """execnet's master over a worker started as ``python -u worker.py``."""
    io = gateway_io.Popen2IOMaster(
        [WORKER_PYTHON, "-u", str(WORKER_PATH)] + list(args), group.execmodel)
    assert io.read(1) == b"1"
    _counter[0] += 1
    gw = execnet.Gateway(io, XSpec("popen//id=plain%d" % _counter[0]))
    group._register(gw)
    return gw


def test_plain_script_driven_by_execnet(group):
    gw = plain_gateway(group, "--id", "scripted")
    ch = gw.remote_exec("channel.send((channel.gateway.id, channel.receive() * 2))")
    ch.send(21)
    assert ch.receive(TIMEOUT) == ("scripted", 42)
    assert gw.remote_status().execmodel == "thread"


def test_plain_script_main_thread_only(group):
    gw = plain_gateway(group, "--execmodel=main_thread_only")
    assert gw.remote_status().execmodel == "main_thread_only"


def test_plain_script_arguments():
    run = lambda *a: subprocess.run([WORKER_PYTHON, str(WORKER_PATH)] + list(a),
                                    capture_output=True, timeout=30,
                                    stdin=subprocess.DEVNULL)
    r = run("--help")
    assert r.returncode == 0 and b"usage" in r.stdout
    r = run("--bogus")
    assert r.returncode == 2 and b"unknown argument" in r.stderr
    r = run("--execmodel", "nosuchmodel")
    assert r.returncode == 2 and b"nosuchmodel" in r.stderr
    r = run("--id")
    assert r.returncode == 2
    r = run("--stdout", "bogus")
    assert r.returncode == 2 and b"bogus" in r.stderr
    r = run("--help")
    assert b"--stdout" in r.stdout


def test_plain_script_eof_on_stdin_exits(raw_worker):
    rw = raw_worker()
    rw.proc.stdin.close()
    assert rw.proc.wait(timeout=5) == 0


# -- boot mode ---------------------------------------------------------------

def _boot(source, python_args=(), prelude="", env=None):
    proc = subprocess.Popen(
        [WORKER_PYTHON, "-u"] + list(python_args) + ["-c", prelude + BOOTLINE],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env)
    proc.stdin.write((repr(source) + "\n").encode("utf-8"))
    proc.stdin.flush()
    return proc


def _read_exact(proc, n):
    data = b""
    while len(data) < n:
        chunk = os.read(proc.stdout.fileno(), n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _terminate(proc):
    out, err = proc.communicate(struct.pack("!bii", 2, 0, 0), timeout=TIMEOUT)
    return proc.returncode, out, err


def test_boot_mode_marker_then_handshake():
    proc = _boot(boot_source("gw7"), ["-B"])
    assert _read_exact(proc, len(MARKER) + 1) == MARKER + b"1"
    code, out, err = _terminate(proc)
    assert code == 0 and out == b"" and err == b""


def test_boot_mode_without_marker():
    proc = _boot(boot_source("gw7", marker=False))
    assert _read_exact(proc, 1) == b"1"
    assert _terminate(proc)[0] == 0


def test_boot_marker_shows_foreign_output(tmp_path):
    """A sitecustomize printing on stdout: the master finds the marker."""
    (tmp_path / "sitecustomize.py").write_text("print('banner from site')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = _boot(boot_source(), env=env)
    want = b"banner from site\n" + MARKER + b"1"
    assert _read_exact(proc, len(want)) == want
    assert _terminate(proc)[0] == 0


def test_boot_mode_bad_execmodel_fails_before_handshake():
    proc = _boot(boot_source(execmodel="nonsense"))
    out, err = proc.communicate(timeout=TIMEOUT)
    assert out == b""
    assert b"nonsense" in err and proc.returncode != 0


def test_boot_source_is_one_line():
    line = repr(boot_source())
    assert "\n" not in line
    assert eval(line).startswith("EXECDECK_BOOT = {")


# -- socket mode -------------------------------------------------------------

def test_serve_socket_in_process(worker, group):
    a, b = socket.socketpair()
    served = threading.Thread(target=worker.serve_socket, args=(a,),
                              kwargs={"id": "sock"}, daemon=True)
    served.start()
    io = SocketIO(b, group.execmodel)
    assert io.read(1) == b"1"
    gw = execnet.Gateway(io, XSpec("socket//id=insock"))
    group._register(gw)
    ch = gw.remote_exec("""
        import threading
        channel.send((channel.gateway.id, threading.current_thread().name))
        channel.send(channel.receive() + 1)
    """)
    ident, thread_name = ch.receive(TIMEOUT)
    assert ident == "sock" and thread_name == served.name
    ch.send(41)
    assert ch.receive(TIMEOUT) == 42
    gw.exit()
    served.join(TIMEOUT)
    assert not served.is_alive()   # serve_socket returned, process lives on


def test_execnet_socketserver_runs_our_worker(group):
    """PROTOCOL.md section 1 'socket': execnet's socketserver execs our
    worker plus a serve_socket(clientsock) line."""
    import execnet.script.socketserver as ss
    server = subprocess.Popen([sys.executable, "-u", ss.__file__, "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = server.stdout.readline().decode()
        port = int(re.search(r"(\d+)\)\s*$", line).group(1))
        for attempt in range(2):   # the server loops: serve two connections
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            sock.settimeout(None)
            source = (WORKER_SOURCE
                      + "\nserve_socket(clientsock, id='sockworker',"
                        " execmodel=execmodel)\n")
            sock.sendall((repr(source) + "\n").encode())
            io = SocketIO(sock, group.execmodel)
            assert io.read(1) == b"1"
            gw = execnet.Gateway(io, XSpec("socket=x//id=sockgw%d" % attempt))
            group._register(gw)
            ch = gw.remote_exec("channel.send((channel.gateway.id, 6 * 7))")
            assert ch.receive(TIMEOUT) == ("sockworker", 42)
            gw.exit()
            gw.join(TIMEOUT)
    finally:
        server.kill()
        server.wait()


# -- raw protocol --------------------------------------------------------------

def test_status_replies_on_same_channel(raw_worker):
    rw = raw_worker()
    rw.send("STATUS", 7)
    assert rw.recv() == ("CHANNEL_DATA", 7, {"numchannels": 0,
                                             "numexecuting": 0,
                                             "execmodel": "thread"})
    assert rw.recv() == ("CHANNEL_CLOSE", 7, None)
    rw.exec_(1, "channel.receive()")
    rw.send("STATUS", 9)
    name, chid, status = rw.recv()
    assert (name, chid) == ("CHANNEL_DATA", 9)
    assert status["numexecuting"] == 1 and status["numchannels"] == 1
    assert rw.recv() == ("CHANNEL_CLOSE", 9, None)


def test_exec_with_file_name_call_name_kwargs(raw_worker):
    rw = raw_worker()
    source = "\n\ndef f(channel, x, y=1):\n    channel.send(x * y)\n    1/0\n"
    rw.send_obj("CHANNEL_EXEC", 1, (source, "/remote/place/myfile.py", "f",
                                    {"x": 21, "y": 2}))
    assert rw.recv() == ("CHANNEL_DATA", 1, 42)
    name, chid, text = rw.recv()
    assert (name, chid) == ("CHANNEL_CLOSE_ERROR", 1)
    assert 'File "/remote/place/myfile.py", line 5, in f' in text
    assert "1/0" in text and "ZeroDivisionError" in text


def test_dropped_channels_send_close_or_last_message(raw_worker):
    rw = raw_worker()
    rw.exec_(1, textwrap.dedent("""
        gw = channel.gateway
        plain = gw.newchannel()
        channel.send(plain)
        del plain
        withcb = gw.newchannel()
        withcb.setcallback(lambda item: None)
        channel.send(withcb)
        del withcb
    """))
    assert rw.recv() == ("CHANNEL_DATA", 1, ("channel", 2))
    assert rw.recv() == ("CHANNEL_CLOSE", 2, None)
    assert rw.recv() == ("CHANNEL_DATA", 1, ("channel", 4))
    assert rw.recv() == ("CHANNEL_LAST_MESSAGE", 4, None)
    assert rw.recv() == ("CHANNEL_CLOSE", 1, None)


def test_last_message_makes_channel_send_only(raw_worker):
    rw = raw_worker()
    rw.exec_(1, textwrap.dedent("""
        c = channel.receive()
        c.waitclose(5)
        channel.send(c.isclosed())
        c.send(42)
        try:
            c.receive(5)   # EOF at once: the peer sent LAST_MESSAGE
        except EOFError:
            channel.send("EOF")
    """))
    rw.send("CHANNEL_DATA", 1, b"B" + I32(3) + b"Q")
    rw.send("CHANNEL_LAST_MESSAGE", 3)
    assert rw.recv() == ("CHANNEL_DATA", 1, False)
    assert rw.recv() == ("CHANNEL_DATA", 3, 42)
    assert rw.recv() == ("CHANNEL_DATA", 1, "EOF")
    # dropping c at the end: CLOSE (the master's callback gets its end marker)
    assert rw.recv() == ("CHANNEL_CLOSE", 3, None)
    assert rw.recv() == ("CHANNEL_CLOSE", 1, None)


def test_close_error_from_master_is_remote_error(raw_worker):
    rw = raw_worker()
    rw.exec_(1, textwrap.dedent("""
        c = channel.receive()
        try:
            c.receive(5)
        except c.RemoteError as e:
            channel.send(("receive", str(e)))
        try:
            c.waitclose(5)
        except c.RemoteError as e:
            channel.send(("waitclose", str(e)))
        else:
            channel.send(("waitclose", None))
        try:
            c.receive(5)
        except EOFError:
            channel.send("EOF")
    """))
    rw.send("CHANNEL_DATA", 1, b"B" + I32(3) + b"Q")
    rw.send_obj("CHANNEL_CLOSE_ERROR", 3, "master says no")
    assert rw.recv() == ("CHANNEL_DATA", 1, ("receive", "master says no"))
    # like execnet, a recorded error is re-raised once
    assert rw.recv() == ("CHANNEL_DATA", 1, ("waitclose", None))
    assert rw.recv() == ("CHANNEL_DATA", 1, "EOF")


def test_legacy_opcodes_from_master(raw_worker):
    rw = raw_worker()
    rw.exec_(1, "for x in channel: channel.send((type(x).__name__, x))")
    for payload, expected in [
        (b"G" + I32(-7) + b"Q", ("int", -7)),
        (b"I" + I32(20) + b"-1000000000000000000Q", ("int", -10 ** 18)),
        (b"H" + I32(12) + b"-99999999999Q", ("int", -99999999999)),
        (b"S" + I32(2) + "\u00e9".encode() + b"Q", ("str", "\u00e9")),
        (b"M" + I32(1) + b"\xe9Q", ("str", "\u00e9")),
        (b"T" + struct.pack("!dd", 1.0, -2.0) + b"Q", ("complex", 1 - 2j)),
    ]:
        rw.send("CHANNEL_DATA", 1, payload)
        assert rw.recv() == ("CHANNEL_DATA", 1, expected)
    # gateway-wide string coercion: py2 strings stay bytes
    rw.send_obj("RECONFIGURE", 0, (False, False))
    rw.exec_(3, "channel.send(type(channel.receive()).__name__)")
    rw.send("CHANNEL_DATA", 3, b"M" + I32(1) + b"\xe9Q")
    assert rw.recv() == ("CHANNEL_DATA", 3, "bytes")


def test_corrupt_data_fails_only_that_channel(raw_worker):
    rw = raw_worker()
    rw.exec_(1, "channel.receive()")
    rw.send("CHANNEL_DATA", 1, b"K" + I32(2 ** 31 - 1) + b"Q")
    name, chid, text = rw.recv()
    assert (name, chid) == ("CHANNEL_CLOSE_ERROR", 1)
    assert "LoadError" in text
    rw.exec_(3, "channel.send('still alive')")
    assert rw.recv() == ("CHANNEL_DATA", 3, "still alive")


WRITE_TO_FD_1 = textwrap.dedent("""\
    import os, subprocess, sys
    print('hello from print')
    os.write(1, b'raw fd1\\n')
    subprocess.run([sys.executable, '-c', 'print("from a child")'])
    sys.stdout.flush()
    os.write(2, b'stderr after\\n')
""")


def wait_stderr(rw, text):
    deadline = time.monotonic() + TIMEOUT
    while text not in rw.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    return rw.stderr_text()


def test_print_goes_to_stderr_with_stdout_stderr(raw_worker):
    rw = raw_worker("--stdout", "stderr")
    rw.exec_(1, WRITE_TO_FD_1)
    assert rw.recv() == ("CHANNEL_CLOSE", 1, None)
    assert wait_stderr(rw, "stderr after") == (
        "hello from print\nraw fd1\nfrom a child\nstderr after\n")


def test_plain_script_discards_fd_1_as_execnets_worker(raw_worker):
    rw = raw_worker()
    rw.exec_(1, WRITE_TO_FD_1)
    assert rw.recv() == ("CHANNEL_CLOSE", 1, None)
    assert wait_stderr(rw, "stderr after") == "stderr after\n"


@pytest.mark.parametrize("stdout, shown", [
    (None, True),           # execdeck's master: it shows the stderr lines
    ("stderr", True),
    ("discard", False),     # execnet's master: discarded, as its worker does
])
def test_boot_config_stdout(stdout, shown):
    proc = _boot(boot_source(stdout=stdout))
    try:
        assert _read_exact(proc, len(MARKER) + 1) == MARKER + b"1"
        payload = dumps_internal((WRITE_TO_FD_1, None, None, {}))
        proc.stdin.write(struct.pack("!bii", 3, 1, len(payload)) + payload)
        proc.stdin.write(struct.pack("!bii", 2, 0, 0))   # GATEWAY_TERMINATE
        proc.stdin.flush()
        proc.wait(timeout=TIMEOUT)
        err = proc.stderr.read().decode()
    finally:
        proc.kill()
        proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()
    if shown:
        assert err == "hello from print\nraw fd1\nfrom a child\nstderr after\n"
    else:
        assert err == "stderr after\n"


def test_unknown_message_code_is_protocol_error(raw_worker):
    rw = raw_worker()
    rw.exec_(1, "channel.receive()")
    rw.send(42, 1, b"junk")
    with pytest.raises(EOFError):
        rw.recv(timeout=5)
    assert rw.proc.wait(timeout=5) == 0
    err = rw.stderr_text()
    assert "protocol error" in err and "unknown message code 42" in err


def test_negative_length_is_protocol_error(raw_worker):
    rw = raw_worker()
    rw.proc.stdin.write(struct.pack("!bii", 4, 1, -5))
    rw.proc.stdin.flush()
    assert rw.proc.wait(timeout=5) == 0
    assert "negative payload length" in rw.stderr_text()


# -- termination -----------------------------------------------------------------

def test_terminate_idle_worker_is_quick_and_quiet(raw_worker):
    rw = raw_worker()
    start = time.monotonic()
    rw.send("GATEWAY_TERMINATE")
    with pytest.raises(EOFError):
        rw.recv(timeout=5)
    assert rw.proc.wait(timeout=5) == 0
    assert time.monotonic() - start < 3.0
    assert rw.stderr_text() == ""


def test_start_up_frozen_remote_objects_collected_and_finalized(raw_worker,
                                                              tmp_path):
    """The worker's start-up objects are frozen (gc.freeze, so collections
    skip them); what remote code makes is collected as before, and a cycle
    still alive when the interpreter exits is finalized by its exit."""
    rw = raw_worker()
    marker = tmp_path / "finalized"
    rw.exec_(1, textwrap.dedent("""
        import gc, os, sys, types, weakref
        class Cycle:
            fd = None
            write = staticmethod(lambda fd, data: None)
            def __del__(self):
                self.write(self.fd, b"finalized at exit")
        dropped = Cycle(); dropped.me = dropped
        gone = weakref.ref(dropped)
        del dropped
        gc.collect()
        kept = Cycle(); kept.me = kept
        kept.write = os.write
        kept.fd = os.open(%r, os.O_WRONLY | os.O_CREAT, 0o600)
        holder = types.ModuleType("held_until_exit")
        holder.kept = kept
        sys.modules[holder.__name__] = holder
        channel.send((gc.get_freeze_count() > 0, gone() is None))
    """ % str(marker)))
    assert rw.recv() == ("CHANNEL_DATA", 1, (True, True))
    rw.send("GATEWAY_TERMINATE")
    assert rw.proc.wait(timeout=10) == 0
    assert marker.read_bytes() == b"finalized at exit"


def test_terminate_interrupts_sleeping_main_thread(raw_worker):
    rw = raw_worker()
    rw.exec_(1, "import time\nchannel.send(1)\ntime.sleep(100)")
    assert rw.recv() == ("CHANNEL_DATA", 1, 1)
    start = time.monotonic()
    rw.send("GATEWAY_TERMINATE")
    assert rw.recv() == ("CHANNEL_CLOSE_ERROR", 1, "keyboard-interrupted")
    with pytest.raises(EOFError):
        rw.recv(timeout=5)
    rw.proc.wait(timeout=5)
    assert time.monotonic() - start < 5.0   # far below the sleep(100)
    assert rw.stderr_text() == ""


def test_terminate_never_cuts_a_message_in_half(raw_worker):
    """The SIGINT that ends a main-thread execution during shutdown must not
    land between the parts of a message being written."""
    rw = raw_worker()
    rw.exec_(1, "data = b'x' * (1 << 20)\nwhile True: channel.send(data)")
    assert rw.recv()[:2] == ("CHANNEL_DATA", 1)
    rw.send("GATEWAY_TERMINATE")
    last = None
    with pytest.raises(EOFError):
        while True:
            msg = rw.recv(timeout=5)    # a torn message would not parse
            assert msg[1] == 1
            if msg[0] == "CHANNEL_DATA":
                assert msg[2] == b"x" * (1 << 20)
            last = msg
    assert last == ("CHANNEL_CLOSE_ERROR", 1, "keyboard-interrupted")
    assert rw.proc.wait(timeout=5) == 0


def test_terminate_wakes_receivers_with_eof(raw_worker):
    rw = raw_worker()
    rw.exec_(1, textwrap.dedent("""
        try:
            channel.receive()
        except EOFError:
            import sys
            sys.stderr.write('got EOF\\n')
            raise
    """))
    rw.exec_(3, "channel.receive()")
    time.sleep(0.1)
    rw.send("GATEWAY_TERMINATE")
    msgs = set()
    with pytest.raises(EOFError):
        while True:
            msgs.add(rw.recv(timeout=5))
    # executions that ended by EOF close normally, no error text
    assert msgs == {("CHANNEL_CLOSE", 1, None), ("CHANNEL_CLOSE", 3, None)}
    assert rw.proc.wait(timeout=5) == 0
    assert rw.stderr_text() == "got EOF\n"


@pytest.mark.parametrize("code", [
    "channel.send(1)\nwhile True: pass",
    # ignores KeyboardInterrupt: os._exit after the grace period
    "channel.send(1)\nwhile True:\n  try:\n    while True: pass\n"
    "  except KeyboardInterrupt: pass",
    "import time\nchannel.send(1)\ntime.sleep(100)",
])
def test_master_death_ends_worker_quickly(raw_worker, code):
    rw = raw_worker()
    rw.exec_(1, code)
    rw.exec_(3, "import time\nchannel.send(1)\nwhile True: time.sleep(0.01)")
    got = {rw.recv()[1], rw.recv()[1]}
    assert got == {1, 3}
    start = time.monotonic()
    rw.proc.stdin.close()    # the master is gone
    rw.proc.wait(timeout=5)   # would raise: the code never ends by itself
    assert time.monotonic() - start < 5.0


KILLED_MASTER = """
import sys, time
sys.path.insert(0, {testdir!r})
import execnet
from execnet import gateway_bootstrap
from conftest import execdeck_bootstrap, python_spec
gateway_bootstrap.bootstrap_import = execdeck_bootstrap
gateway_bootstrap.bootstrap_exec = execdeck_bootstrap
gw = execnet.makegateway(python_spec("popen"))
ch = gw.remote_exec("import os\\nchannel.send(os.getpid())\\nwhile True: pass")
print(ch.receive(10), flush=True)
time.sleep(60)
"""


def test_master_killed_with_sigkill_ends_worker(tmp_path):
    script = tmp_path / "master.py"
    script.write_text(KILLED_MASTER.format(
        testdir=os.path.dirname(os.path.abspath(__file__))))
    master = subprocess.Popen([sys.executable, str(script)],
                              stdout=subprocess.PIPE)
    try:
        worker_pid = int(master.stdout.readline())
        master.kill()
        master.wait()
        start = time.monotonic()
        assert wait_pid_gone(worker_pid, 5)   # it spins in `while True`
        assert time.monotonic() - start < 5.0
    finally:
        master.kill()


def test_faulthandler_traceback_on_segfault(raw_worker):
    rw = raw_worker()
    rw.exec_(1, "import ctypes\n\nctypes.string_at(0)\n")
    rw.proc.wait(timeout=TIMEOUT)
    assert rw.proc.returncode == -signal.SIGSEGV
    err = rw.stderr_text()
    assert "Segmentation fault" in err
    assert 'File "<remote exec>", line 3' in err


# -- tracing ---------------------------------------------------------------------

def test_debug_1_writes_trace_file(makegateway, monkeypatch, tmp_path):
    monkeypatch.setenv("EXECDECK_DEBUG", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    gw = makegateway()
    pid = gw.remote_exec("import os; channel.send(os.getpid())").receive(TIMEOUT)
    gw.exit()
    gw.join(TIMEOUT)
    path = tmp_path / ("execdeck-debug-%d" % pid)
    text = path.read_text()
    assert "worker starts" in text
    assert re.search(r"^\d\d:\d\d:\d\d\.\d{6} \[%d\] gw0 received CHANNEL_EXEC "
                     r"channel=1 len=\d+$" % pid, text, re.M)
    assert "sent CHANNEL_DATA channel=1 len=6" in text
    assert "gw0 execution starts[1]: " in text


def test_debug_2_traces_to_stderr(makegateway, monkeypatch, capfd):
    monkeypatch.setenv("EXECDECK_DEBUG", "2")
    gw = makegateway()
    pid = gw.remote_exec("import os; channel.send(os.getpid())").receive(TIMEOUT)
    gw.exit()
    gw.join(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    err = ""
    while "shutdown" not in err and time.monotonic() < deadline:
        err += capfd.readouterr().err
        time.sleep(0.02)
    assert "[%d] gw0 received CHANNEL_EXEC channel=1" % pid in err
    assert "[%d] gw0 shutdown: terminate" % pid in err
    trace_lines = [l for l in err.splitlines() if "gw0 received" in l]
    assert trace_lines and all(l.startswith("execdeck-trace: ") for l in trace_lines)


# execnet's EXECNET_DEBUG, as its TestTracing::test_popen_filetracing and
# test_popen_stderr_tracing check it (there the worker's file name comes from
# execnet.gateway_base.fn; ours is computed from the pid).

def test_execnet_debug_1_writes_execnets_trace_file(makegateway, monkeypatch,
                                                    tmp_path):
    monkeypatch.delenv("EXECDECK_DEBUG", raising=False)
    monkeypatch.setenv("EXECNET_DEBUG", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    gw = makegateway()
    pid = gw.remote_exec("import os; channel.send(os.getpid())").receive(TIMEOUT)
    # remote code importing execnet (xdist's does) leaves the file intact;
    # execnet's own test finds the file through gateway_base.fn
    fn = gw.remote_exec("import execnet;channel.send(execnet.gateway_base.fn)"
                        ).receive(TIMEOUT)
    assert fn == str(tmp_path / ("execnet-debug-%d" % pid))
    gw.exit()
    gw.join(TIMEOUT)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "execnet-debug-%d" % pid]
    lines = (tmp_path / ("execnet-debug-%d" % pid)).read_text().splitlines()
    # execnet's words for the same moments; lines are the bare words
    for words in ("creating workergateway on ", "gw0 execution starts[1]: ", "gw0 execution finished",
                  "gw0 received CHANNEL_EXEC channel=1 ",
                  "gw0 sent CHANNEL_DATA channel=1 "):
        assert any(l.startswith(words) for l in lines), (words, lines)


def test_execnet_debug_2_traces_to_stderr_with_pid_prefix(makegateway,
                                                          monkeypatch, capfd):
    monkeypatch.delenv("EXECDECK_DEBUG", raising=False)
    monkeypatch.setenv("EXECNET_DEBUG", "2")
    gw = makegateway()
    pid = gw.remote_exec("import os ; channel.send(os.getpid())").receive(TIMEOUT)
    gw.exit()
    gw.join(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    err = ""
    while "RECEIVERTHREAD" not in err and time.monotonic() < deadline:
        err += capfd.readouterr().err
        time.sleep(0.02)
    assert "[%s] creating workergateway" % pid in err
    traced = [l for l in err.splitlines() if "[%d] " % pid in l]
    assert len(traced) > 5 and all(l.startswith("[%d] " % pid)
                                   for l in traced), err
    assert "[%d] gw0 got exception" % pid not in err


def test_execnet_debug_2_traces_failures(makegateway, monkeypatch, capfd):
    monkeypatch.delenv("EXECDECK_DEBUG", raising=False)
    monkeypatch.setenv("EXECNET_DEBUG", "2")
    gw = makegateway()
    ch = gw.remote_exec("import os\nchannel.send(os.getpid())\n1/0")
    pid = ch.receive(TIMEOUT)
    with pytest.raises(execnet.RemoteError):
        ch.waitclose(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    err = ""
    while "got exception" not in err and time.monotonic() < deadline:
        err += capfd.readouterr().err
        time.sleep(0.02)
    assert ("[%d] gw0 got exception: ZeroDivisionError('division by zero')"
            % pid) in err


def test_no_trace_file_by_default(makegateway, monkeypatch, tmp_path):
    monkeypatch.delenv("EXECDECK_DEBUG", raising=False)
    monkeypatch.delenv("EXECNET_DEBUG", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    gw = makegateway()
    gw.remote_exec("channel.send(1)").receive(TIMEOUT)
    assert list(tmp_path.iterdir()) == []


# -- in-process unit tests of the gateway ---------------------------------------

class _RecordingIO:
    write_closed = False

    def __init__(self):
        self.messages = []
        self.hook = None

    def write_message(self, code, chid, payload=b""):
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
        self.messages.append((code, chid))


def test_gc_during_send_is_deferred_not_interleaved(worker):
    io = _RecordingIO()
    gw = worker.WorkerGateway(io, "unit")
    doomed = [gw.newchannel()]
    # while message (4, 99) is being written, a channel is collected and its
    # __del__ wants to send CHANNEL_CLOSE from the same thread
    io.hook = lambda: doomed.pop()
    gw._send(4, 99, b"x")
    assert io.messages == [(4, 99), (5, 2)]


def test_execmodel_names(worker):
    assert worker.get_execmodel("thread").backend == "thread"
    assert worker.get_execmodel(execnet.gateway_base.get_execmodel(
        "main_thread_only")).backend == "main_thread_only"
    with pytest.raises(ValueError, match="unknown execmodel 'eventlets'"):
        worker.get_execmodel("eventlets")
