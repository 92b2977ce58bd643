"""bootstrap/socketserver.py (``execdeck serve``): the token gate, the
source line, and execnet's master through it. The server runs as a real
process; every wait is bounded."""

import importlib.util
import os
import select
import socket
import subprocess
import sys
import time

import pytest

import execnet
from execnet import gateway_bootstrap
from execnet.gateway_socket import SocketIO
from execnet.xspec import XSpec

from conftest import ROOT, TIMEOUT, WORKER_PYTHON

SERVER_PATH = ROOT / "bootstrap" / "socketserver.py"
SECRET = b"correct horse battery staple"

_spec = importlib.util.spec_from_file_location("execdeck_socketserver", SERVER_PATH)
ss = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ss)


class Server:
    """A running ``socketserver.py`` process; ``stop()`` kills it."""

    def __init__(self, tmp_path, secret=None, loop=True, address="127.0.0.1:0",
                 fork=True):
        if fork:
            args = [WORKER_PYTHON, "-u", str(SERVER_PATH), address]
        else:
            # As on a system without fork: connections served in-process.
            args = [WORKER_PYTHON, "-u", "-c",
                    "import os, runpy; del os.fork; runpy.run_path(%r, run_name='__main__')"
                    % str(SERVER_PATH), address]
        if loop:
            args.append("--loop")
        if secret is not None:
            token = tmp_path / "token"
            token.write_bytes(secret + b"\n")
            args += ["--token-file", str(token)]
        self.stderr_path = tmp_path / "server-stderr"
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=open(self.stderr_path, "wb"),
                                     cwd=str(tmp_path))
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        assert ready, "no address line within %s s" % TIMEOUT
        line = self.proc.stdout.readline().decode().strip()
        host, _, port = line.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0, line
        self.host, self.port = host, int(port)

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        self.proc.stdout.close()


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(**kw):
        s = Server(tmp_path, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def send_source(sock, source):
    sock.sendall((repr(source) + "\n").encode("utf-8"))


def marker_source(path):
    """Code that creates ``path`` and says so on the socket."""
    return ("open(%r, 'w').close()\nclientsock.sendall(b'done')\n" % str(path))


def recv_all(sock, timeout=TIMEOUT):
    """Everything until EOF (bounded)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def good_client_runs(server, tmp_path, name="good"):
    marker = tmp_path / name
    with ss.connect(server.host, server.port, SECRET, timeout=TIMEOUT) as sock:
        send_source(sock, marker_source(marker))
        assert recv_all(sock) == b"done"
    assert marker.exists()


# -- token gate ---------------------------------------------------------------


def test_right_token_runs_the_source(serve, tmp_path):
    server = serve(secret=SECRET)
    good_client_runs(server, tmp_path, "one")
    good_client_runs(server, tmp_path, "two")


def test_no_token_is_disconnected_and_nothing_runs(serve, tmp_path):
    server = serve(secret=SECRET)
    marker = tmp_path / "intruder"
    with socket.create_connection((server.host, server.port), TIMEOUT) as sock:
        # An execnet-style client: sends its source line right away.
        send_source(sock, marker_source(marker))
        got = recv_all(sock)
    assert got.startswith(ss.AUTH_MAGIC + b" ")
    assert got.endswith(b"\nDENIED\n")
    assert not marker.exists()
    good_client_runs(server, tmp_path)
    assert not marker.exists()
    assert "refused 127.0.0.1:" in server.stderr()


def test_wrong_token_is_disconnected_and_nothing_runs(serve, tmp_path):
    server = serve(secret=SECRET)
    marker = tmp_path / "intruder"
    sock = socket.create_connection((server.host, server.port), TIMEOUT)
    with sock:
        with pytest.raises(ss.AuthError, match="refused"):
            ss.client_handshake(sock, b"wrong secret")
        try:
            send_source(sock, marker_source(marker))
        except OSError:
            pass
        assert recv_all(sock) == b""
    assert not marker.exists()
    good_client_runs(server, tmp_path)
    assert not marker.exists()
    assert "wrong token" in server.stderr()


def test_garbage_handshake_lines_are_refused(serve, tmp_path):
    server = serve(secret=SECRET)
    for garbage in (b"\n", b"zz zz\n", b"x" * 5000 + b"\n", b"00 00 00\n"):
        with socket.create_connection((server.host, server.port), TIMEOUT) as sock:
            sock.sendall(garbage)
            got = recv_all(sock)
        assert got.endswith(b"DENIED\n"), (garbage[:20], got)
    # And one that hangs up in the middle of the handshake.
    with socket.create_connection((server.host, server.port), TIMEOUT) as sock:
        sock.sendall(b"abc")
    good_client_runs(server, tmp_path)


def test_each_connection_gets_a_fresh_nonce(serve):
    server = serve(secret=SECRET)
    challenges = set()
    for _ in range(3):
        with socket.create_connection((server.host, server.port), TIMEOUT) as sock:
            sock.settimeout(TIMEOUT)
            challenges.add(sock.recv(200).split(b"\n")[0])
    assert len(challenges) == 3


def test_client_checks_the_servers_proof():
    """Mutual authentication: a server that does not know the secret (here
    one that answers OK with a made-up proof) is detected by the client."""
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(TIMEOUT)
        b.settimeout(TIMEOUT)
        b.sendall(ss.AUTH_MAGIC + b" " + os.urandom(ss.NONCE_BYTES).hex().encode() + b"\n")
        b.sendall(b"OK " + os.urandom(32).hex().encode() + b"\n")
        with pytest.raises(ss.AuthError, match="does not know the token"):
            ss.client_handshake(a, SECRET)


def test_client_refuses_a_server_without_challenge():
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(TIMEOUT)
        b.sendall(b"1")
        b.close()
        with pytest.raises(ss.AuthError):
            ss.client_handshake(a, SECRET)


def test_execnet_master_through_the_token_gate(serve):
    """After the handshake, execnet's own socket bootstrap runs unchanged."""
    server = serve(secret=SECRET)
    sock = ss.connect(server.host, server.port, SECRET, timeout=TIMEOUT)
    group = execnet.Group()
    try:
        io = SocketIO(sock, group.execmodel)
        io.remoteaddress = "%s:%d" % (server.host, server.port)
        spec = XSpec("socket=%s:%d//id=tokened" % (server.host, server.port))
        gateway_bootstrap.bootstrap_socket(io, spec)
        gw = execnet.Gateway(io, spec)
        group._register(gw)
        ch = gw.remote_exec("channel.send(channel.receive() * 2)")
        ch.send([1, "a"])
        assert ch.receive(TIMEOUT) == [1, "a", 1, "a"]
    finally:
        group.terminate(TIMEOUT)


def test_execnet_master_without_token_is_refused(serve, tmp_path):
    server = serve(secret=SECRET)
    with pytest.raises(Exception):
        execnet.makegateway("socket=%s:%d" % (server.host, server.port))
    good_client_runs(server, tmp_path)


def test_token_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing"
    empty = tmp_path / "empty"
    empty.write_bytes(b" \n")
    for path, words in ((missing, "cannot read token file"), (empty, "is empty")):
        out = subprocess.run(
            [WORKER_PYTHON, str(SERVER_PATH), "127.0.0.1:0", "--token-file", str(path)],
            capture_output=True, timeout=TIMEOUT)
        assert out.returncode == 2
        assert words in out.stderr.decode() and str(path) in out.stderr.decode()
        assert out.stdout == b""


# -- the source line without a token -----------------------------------------


def test_namespace_is_execnets(serve, tmp_path):
    """The exec'd source finds clientsock, address and execmodel, as in
    execnet's server; the execmodel has what execnet's ThreadExecModel has."""
    from execnet.gateway_base import ThreadExecModel

    server = serve()
    with socket.create_connection((server.host, server.port), TIMEOUT) as sock:
        send_source(sock, "clientsock.sendall(repr((sorted(k for k in globals()"
                          " if not k.startswith('__')), address[0],"
                          " execmodel.backend)).encode())\n")
        assert recv_all(sock) == (b"(['address', 'clientsock', 'execmodel'],"
                                  b" '127.0.0.1', 'thread')")
    public = {n for n in dir(ThreadExecModel) if not n.startswith("_")}
    assert public <= set(dir(ss.ServerExecModel))


@pytest.mark.parametrize("execmodel_arg", ["execmodel", "'thread'"])
def test_our_worker_through_our_server(serve, execmodel_arg):
    """What execdeck's master does: send worker.py plus a serve_socket line
    (the same source works with execnet's server)."""
    from conftest import WORKER_SOURCE

    server = serve()
    group = execnet.Group()
    try:
        for attempt in range(2):
            sock = socket.create_connection((server.host, server.port), TIMEOUT)
            sock.settimeout(None)
            send_source(sock, WORKER_SOURCE + "\nserve_socket(clientsock, id='sw',"
                              " execmodel=%s)\n" % execmodel_arg)
            io = SocketIO(sock, group.execmodel)
            assert io.read(1) == b"1"
            gw = execnet.Gateway(io, XSpec("socket=x//id=ours%d" % attempt))
            group._register(gw)
            ch = gw.remote_exec("channel.send((channel.gateway.id,"
                                " channel.gateway.execmodel.backend))")
            assert ch.receive(TIMEOUT) == ("sw", "thread")
            gw.exit()
            gw.join(TIMEOUT)
    finally:
        group.terminate(TIMEOUT)


@pytest.mark.parametrize("fork", [True, False])
def test_bad_lines_never_run_and_server_goes_on(serve, tmp_path, fork):
    server = serve(fork=fork)
    marker = tmp_path / "bad"
    lines = [
        b"garbage that is not python\n",
        b"__import__('os').system('touch %s')\n" % str(marker).encode(),
        b"b'bytes literal'\n",
        (repr(marker_source(marker)).encode())[:-10],  # half a line, then EOF
    ]
    for line in lines:
        with socket.create_connection((server.host, server.port), TIMEOUT) as sock:
            sock.sendall(line)
            sock.shutdown(socket.SHUT_WR)
            assert recv_all(sock) == b""
    assert not marker.exists()
    with socket.create_connection((server.host, server.port), TIMEOUT) as sock:
        send_source(sock, marker_source(marker))
        assert recv_all(sock) == b"done"
    assert marker.exists()


def test_exiting_code_does_not_end_the_server(serve, tmp_path):
    server = serve()
    for source in ("import os; os._exit(3)", "raise SystemExit(4)",
                   "import os, signal; os.kill(os.getpid(), signal.SIGINT)",
                   "raise ValueError('x')"):
        with socket.create_connection((server.host, server.port), TIMEOUT) as sock:
            send_source(sock, source)
            recv_all(sock)
    with socket.create_connection((server.host, server.port), TIMEOUT) as sock:
        send_source(sock, "clientsock.sendall(b'alive')")
        assert recv_all(sock) == b"alive"
    assert server.proc.poll() is None


def test_without_fork_exceptions_do_not_end_the_server(serve, tmp_path):
    server = serve(fork=False, secret=SECRET)
    for source in ("raise SystemExit(4)", "raise ValueError('x')"):
        with ss.connect(server.host, server.port, SECRET, timeout=TIMEOUT) as sock:
            send_source(sock, source)
            recv_all(sock)
    good_client_runs(server, tmp_path)
    assert server.proc.poll() is None


def test_connections_are_served_side_by_side(serve):
    server = serve()
    with socket.create_connection((server.host, server.port), TIMEOUT) as first:
        send_source(first, "import time\nclientsock.sendall(b'1')\ntime.sleep(60)")
        first.settimeout(TIMEOUT)
        assert first.recv(1) == b"1"
        # the first connection's code still runs: the second is served anyway
        with socket.create_connection((server.host, server.port), TIMEOUT) as second:
            send_source(second, "clientsock.sendall(b'2')")
            assert recv_all(second) == b"2"
    assert server.proc.poll() is None


def test_without_loop_one_connection_then_exit(serve, tmp_path):
    server = serve(loop=False)
    with socket.create_connection((server.host, server.port), TIMEOUT) as sock:
        send_source(sock, "clientsock.sendall(b'x')")
        assert recv_all(sock) == b"x"
    assert server.proc.wait(TIMEOUT) == 0


def test_parse_address():
    assert ss.parse_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert ss.parse_address(":8888") == ("0.0.0.0", 8888)
    assert ss.parse_address("[::1]:5") == ("::1", 5)
    for bad in ("nocolon", "h:x", "h:70000"):
        with pytest.raises(ValueError):
            ss.parse_address(bad)
    assert ss.is_loopback("127.0.0.1") and ss.is_loopback("::1")
    assert not ss.is_loopback("0.0.0.0")


def test_sigterm_ends_the_server_and_the_connection(serve):
    server = serve()
    sock = socket.create_connection((server.host, server.port), TIMEOUT)
    with sock:
        send_source(sock, "import time\nclientsock.sendall(b'x')\ntime.sleep(60)")
        sock.settimeout(TIMEOUT)
        assert sock.recv(1) == b"x"
        server.proc.terminate()
        assert server.proc.wait(TIMEOUT) != 0
        t0 = time.monotonic()
        assert recv_all(sock) == b""      # the forked child is gone too
        assert time.monotonic() - t0 < TIMEOUT


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_sigkill_of_the_server_ends_the_connection(serve):
    server = serve()
    sock = socket.create_connection((server.host, server.port), TIMEOUT)
    with sock:
        send_source(sock, "import time\nclientsock.sendall(b'x')\ntime.sleep(60)")
        sock.settimeout(TIMEOUT)
        assert sock.recv(1) == b"x"
        server.proc.kill()
        server.proc.wait(TIMEOUT)
        t0 = time.monotonic()
        assert recv_all(sock) == b""
        assert time.monotonic() - t0 < TIMEOUT
    # the child forked to wait for the next connection is gone as well:
    # nobody holds the listening socket any more
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            socket.create_connection((server.host, server.port), TIMEOUT).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "a child of the killed server listens on"
        time.sleep(0.05)
