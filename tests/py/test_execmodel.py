"""Remote execution models other than threads: ``execmodel=gevent`` and
``execmodel=eventlet``, with execnet's own master driving our worker (see
conftest.py), plus the errors for a model that is unknown or unavailable.
"""

import subprocess
import time

import pytest

from conftest import (TIMEOUT, WORKER_PATH, WORKER_PYTHON, boot_source,
                      wait_pid_gone)


def _importable(name):
    """Whether the workers' interpreter can import ``name``."""
    return subprocess.run(
        [WORKER_PYTHON, "-W", "ignore", "-c", "import " + name],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


GREEN = ["gevent", "eventlet"]


@pytest.fixture(params=GREEN)
def green(request):
    """A gateway to our worker with a green execution model."""
    if not _importable(request.param):
        pytest.fail("%s is not importable by %s: scripts/venv.sh installs it"
                    % (request.param, WORKER_PYTHON))
    return request.param


@pytest.fixture
def ggw(green, makegateway):
    return makegateway("popen//execmodel=%s" % green)


# -- execnet's test_regression_gevent_hangs, both variants -------------------

@pytest.mark.parametrize("interleave_getstatus", [True, False],
                         ids=["interleave-remote-status",
                              "no-interleave-remote-status"])
def test_regression_gevent_hangs(makegateway, interleave_getstatus):
    if not _importable("gevent"):
        pytest.fail("gevent is not importable: scripts/venv.sh installs it")
    gw = makegateway("popen//execmodel=gevent")
    assert gw.remote_status().execmodel == "gevent"

    def sendback(channel):
        channel.send(1234)

    ch = gw.remote_exec(sendback)
    if interleave_getstatus:
        gw.remote_status()
    assert ch.receive(timeout=0.5) == 1234


# -- what runs under a green model -------------------------------------------

def test_remote_status_and_execmodel_object(ggw, green):
    assert ggw.remote_status().execmodel == green
    ch = ggw.remote_exec("""
        import threading
        em = channel.gateway.execmodel
        channel.send((em.backend, type(em.Event()) is not threading.Event,
                      em.queue.__name__.split('.')[0]))
    """)
    assert ch.receive(TIMEOUT) == (green, True, green)


def test_executions_run_in_greenlets(ggw, green):
    """Two executions at once, each waiting for the other through the
    model's sleep: only works when they cooperate."""
    src = """
        em = channel.gateway.execmodel
        other = channel.receive()
        for i in range(3):
            channel.send(i)
            em.sleep(0.01)
        channel.send(other)
        import _thread
        channel.send((_thread.get_ident(), em.get_ident()))
    """
    a = ggw.remote_exec(src)
    b = ggw.remote_exec(src)
    a.send("a")
    b.send("b")
    assert [a.receive(TIMEOUT) for _ in range(4)] == [0, 1, 2, "a"]
    assert [b.receive(TIMEOUT) for _ in range(4)] == [0, 1, 2, "b"]
    (thread_a, green_a), (thread_b, green_b) = (a.receive(TIMEOUT),
                                                b.receive(TIMEOUT))
    assert thread_a == thread_b  # one OS thread ...
    assert green_a != green_b    # ... two greenlets
    a.waitclose(TIMEOUT)
    b.waitclose(TIMEOUT)


def test_channel_roundtrip_and_remote_receive_timeout(ggw):
    ch = ggw.remote_exec("""
        for item in channel:
            if item is None:
                break
            channel.send(item * 2)
        try:
            channel.receive(0.2)
        except channel.TimeoutError:
            channel.send("timed out")
    """)
    for i in range(20):
        ch.send(i)
        assert ch.receive(TIMEOUT) == i * 2
    ch.send(None)
    t0 = time.monotonic()
    assert ch.receive(TIMEOUT) == "timed out"
    assert time.monotonic() - t0 < 5
    ch.waitclose(TIMEOUT)


def test_master_receive_timeout(ggw):
    ch = ggw.remote_exec("channel.receive()")
    with pytest.raises(ch.TimeoutError):
        ch.receive(0.1)
    ch.send(1)
    ch.waitclose(TIMEOUT)


def test_callbacks_both_ways(ggw):
    got = []
    ch = ggw.remote_exec("""
        items = []
        done = channel.gateway.execmodel.Event()
        def cb(item):
            items.append(item)
            if item == 2:
                done.set()
        channel.setcallback(cb)
        for i in range(3):
            channel.send(("echo", i))
        done.wait(5)
        channel.send(("done", items))
    """)
    ch.setcallback(got.append, endmarker="END")
    for i in range(3):
        ch.send(i)
    ch.waitclose(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while "END" not in got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == [("echo", 0), ("echo", 1), ("echo", 2), ("done", [0, 1, 2]),
                   "END"]


def test_remote_error_and_many_channels(ggw):
    chans = [ggw.remote_exec("channel.send(channel.receive() + 1)")
             for _ in range(30)]
    for i, ch in enumerate(chans):
        ch.send(i)
    assert [ch.receive(TIMEOUT) for ch in chans] == list(range(1, 31))
    ch = ggw.remote_exec("raise ValueError('green')")
    with pytest.raises(Exception) as info:
        ch.receive(TIMEOUT)
    assert "ValueError: green" in str(info.value)


def test_big_payloads(ggw):
    data = b"x" * (3 << 20)
    ch = ggw.remote_exec("""
        data = channel.receive()
        channel.send(data + data)
    """)
    ch.send(data)
    assert ch.receive(TIMEOUT) == data + data


def test_terminate_with_busy_execution(group, makegateway, green):
    """terminate() ends a worker whose execution waits forever, fast."""
    gw = makegateway("popen//execmodel=%s" % green)
    pid = gw.remote_exec("import os; channel.send(os.getpid())").receive(TIMEOUT)
    gw.remote_exec("channel.receive()")  # never gets anything
    gw.remote_exec("import sys; sys.modules[%r].sleep(1000)" % green)
    t0 = time.monotonic()
    group.terminate(timeout=TIMEOUT)
    assert time.monotonic() - t0 < 6
    assert wait_pid_gone(pid, TIMEOUT)


# -- unknown or unavailable models: a clear error, at once --------------------

def _boot(execmodel, args=()):
    """Boot our worker as execdeck's master does, asking for execmodel."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [WORKER_PYTHON] + list(args)
        + ["-u", "-c", "import sys;exec(eval(sys.stdin.readline()))"],
        input=(repr(boot_source("gw9", execmodel)) + "\n").encode(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    return proc, time.monotonic() - t0


@pytest.mark.parametrize("name", ["bogus", "Gevent", "asyncio"])
def test_unknown_model_is_a_clear_error(name):
    proc, took = _boot(name)
    assert proc.returncode != 0
    assert proc.stdout == b""  # no handshake
    err = proc.stderr.decode()
    assert "unknown execmodel %r" % name in err, err
    assert took < 5


@pytest.mark.parametrize("name", ["gevent", "eventlet"])
def test_unavailable_model_is_a_clear_error(name):
    # -S: no site-packages, so neither gevent nor eventlet can be imported
    proc, took = _boot(name, ["-S"])
    assert proc.returncode != 0
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert "execmodel %r is not available" % name in err, err
    assert "No module named %r" % name in err, err
    assert took < 5


def test_unknown_model_through_execnets_master(makegateway, capfd):
    t0 = time.monotonic()
    with pytest.raises(Exception):
        makegateway("popen//execmodel=bogus")
    assert time.monotonic() - t0 < 5
    assert "unknown execmodel 'bogus'" in capfd.readouterr().err


def test_plain_script_unknown_model():
    proc = subprocess.run([WORKER_PYTHON, "-u", str(WORKER_PATH),
                           "--execmodel", "bogus"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=TIMEOUT)
    assert proc.returncode == 2
    assert "unknown execmodel 'bogus'" in proc.stderr.decode()


def test_thread_model_does_not_import_green_libraries(gw):
    ch = gw.remote_exec("""
        import sys
        channel.send([m for m in ('gevent', 'eventlet', 'greenlet')
                      if m in sys.modules])
    """)
    assert ch.receive(TIMEOUT) == []


@pytest.mark.parametrize("code", [
    "channel.send(1)\nwhile True: pass",       # never yields to the hub
    "import time\nchannel.send(1)\ntime.sleep(100)",  # blocks the hub
    "channel.send(1)\nchannel.receive()",      # yields, waits forever
])
def test_master_death_ends_green_worker_quickly(raw_worker, green, code):
    rw = raw_worker("--execmodel", green)
    rw.exec_(1, code)
    assert rw.recv()[:2] == ("CHANNEL_DATA", 1)
    start = time.monotonic()
    rw.proc.stdin.close()    # the master is gone
    rw.proc.wait(timeout=8)   # would raise: the code never ends by itself
    assert time.monotonic() - start < 8.0


SOCKET_SERVER = """
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
print(server.getsockname()[1], flush=True)
conn, _ = server.accept()
ns = {"__name__": "execdeck_worker"}
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), ns)
ns["serve_socket"](conn, id="greensock", execmodel=sys.argv[2])
"""


def test_serve_socket_under_green_model(green, group):
    import socket
    import execnet
    from execnet.gateway_socket import SocketIO
    from execnet.xspec import XSpec
    server = subprocess.Popen([WORKER_PYTHON, "-u", "-c", SOCKET_SERVER,
                               str(WORKER_PATH), green],
                              stdout=subprocess.PIPE)
    try:
        port = int(server.stdout.readline())
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        sock.settimeout(None)
        io = SocketIO(sock, group.execmodel)
        assert io.read(1) == b"1"
        gw = execnet.Gateway(io, XSpec("socket=x//id=greensock"))
        group._register(gw)
        assert gw.remote_status().execmodel == green
        ch = gw.remote_exec("""
            channel.send(channel.gateway.id)
            channel.send(channel.receive() * 2)
        """)
        assert ch.receive(TIMEOUT) == "greensock"
        ch.send(b"y" * 200000)
        assert ch.receive(TIMEOUT) == b"y" * 400000
        gw.exit()
        gw.join(TIMEOUT)
        assert server.wait(timeout=TIMEOUT) == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
