"""execdeck's socket server: accepts a connection, reads one line of Python
source and executes it, the way execnet's ``socketserver.py`` does, so that
execnet's master (``makegateway("socket=HOST:PORT")``) and execdeck's master
can boot a worker over the connection.

Python 3.8+, standard library only. Run by ``execdeck serve`` (which passes
this file's text with ``python -c``) or directly::

    python3 socketserver.py [HOST:PORT] [--loop] [--token-file FILE]

The first line on stdout is the address actually bound (``127.0.0.1:40123``
with port 0); everything else goes to stderr.

What a client sends: one line, ``repr(source) + "\\n"`` (a Python string
literal; read with ``ast.literal_eval``, never ``eval``). The source is
compiled as ``<socket server>`` and executed with the globals
``{"clientsock": <the connected socket>, "address": <peer address>,
"execmodel": <ServerExecModel>}``, as execnet's server does (its
``execmodel`` is an execnet ``ThreadExecModel``; ours is a stand-in with the
same attributes, see ``ServerExecModel``), so execnet's master talks to the
unmodified ``gateway_base`` it sent, and sources written for execnet's server
(``serve_socket(clientsock, execmodel=execmodel)``) work unchanged.

Where ``os.fork`` exists, each connection is served in a child forked before
it arrives (the child accepts it); with ``--loop`` the next child waits for a
connection as soon as one is accepted, so connections are served side by side
(execnet's server serves them one after another). Whatever the client sends
or runs — garbage, a half line, ``os._exit``, a SIGINT from execnet's
shutdown — ends only that child. On Linux the child is killed when the server dies (even by
``kill -9``). Without fork the connection is served in-process.

Token gate (``--token-file``): before the source line, client and server prove
to each other that they know the secret; see ``bootstrap/README.md``
("socketserver.py") and ``client_handshake`` below.
"""

import ast
import hashlib
import hmac
import os
import socket
import sys
import traceback

PROGNAME = "execdeck serve"

#: Seconds a client has to finish the token handshake and send its source
#: line; a client that stalls is dropped so the next one can be served.
PREAMBLE_TIMEOUT = 30.0

#: Longest accepted source line (execnet's gateway_base is about 60 KB).
MAX_SOURCE_LINE = 64 * 1024 * 1024

#: First word of the server's challenge line (version 1 of the token gate).
AUTH_MAGIC = b"EXECDECK-AUTH-1"
#: Bytes in each nonce (sent hex-encoded).
NONCE_BYTES = 32
#: Prefixes that keep the client's and the server's proofs apart.
CLIENT_PROOF_PREFIX = b"execdeck-auth-client\x00"
SERVER_PROOF_PREFIX = b"execdeck-auth-server\x00"
#: Longest line accepted during the handshake.
MAX_AUTH_LINE = 1024

WARNING_PUBLIC = (
    "execdeck serve: WARNING: listening on {addr}, which is not a loopback "
    "address: anyone who can reach this port can run code as this user{token}.\n"
)


class AuthError(Exception):
    """The token handshake failed (wrong or missing secret, bad line)."""


def log(*words):
    """One line on stderr."""
    try:
        sys.stderr.write(PROGNAME + ": " + " ".join(str(w) for w in words) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class ServerExecModel:
    """What the executed source finds as ``execmodel``: the attributes of
    execnet's thread execution model (``backend``, ``start``, ``get_ident``,
    ``sleep``, ``fdopen``, ``Lock`` (reentrant, as execnet's), ``RLock``,
    ``Event``, and the modules ``queue``, ``socket``, ``subprocess``), which
    is what execnet's ``gateway_base`` and execdeck's worker ask of it."""

    backend = "thread"

    def __repr__(self):
        return "<ExecModel %r>" % self.backend

    @property
    def queue(self):
        import queue

        return queue

    @property
    def socket(self):
        return socket

    @property
    def subprocess(self):
        import subprocess

        return subprocess

    def get_ident(self):
        import _thread

        return _thread.get_ident()

    def sleep(self, delay):
        import time

        time.sleep(delay)

    def start(self, func, args=()):
        import _thread

        _thread.start_new_thread(func, args)

    def fdopen(self, fd, mode, bufsize=1, closefd=True):
        return os.fdopen(fd, mode, bufsize, encoding="utf-8", closefd=closefd)

    def Lock(self):
        import threading

        return threading.RLock()

    def RLock(self):
        import threading

        return threading.RLock()

    def Event(self):
        import threading

        return threading.Event()


# ---------------------------------------------------------------- token gate


def read_token_file(path):
    """The secret in ``path``: its bytes without surrounding whitespace.
    Raises ``ValueError`` (with the path) when it is empty or unreadable."""
    try:
        with open(path, "rb") as f:
            secret = f.read().strip()
    except OSError as e:
        raise ValueError("cannot read token file %s: %s" % (path, e.strerror or e))
    if not secret:
        raise ValueError("token file %s is empty" % (path,))
    return secret


def client_proof(secret, server_nonce, client_nonce):
    """HMAC-SHA256 the client sends: proves it knows ``secret``."""
    return hmac.new(
        secret, CLIENT_PROOF_PREFIX + server_nonce + client_nonce, hashlib.sha256
    ).digest()


def server_proof(secret, server_nonce, client_nonce):
    """HMAC-SHA256 the server sends back: proves it knows ``secret`` too."""
    return hmac.new(
        secret, SERVER_PROOF_PREFIX + server_nonce + client_nonce, hashlib.sha256
    ).digest()


def _read_line(rfile, limit):
    line = rfile.readline(limit + 1)
    if not line.endswith(b"\n") or len(line) > limit:
        raise AuthError("connection closed or line too long during the handshake")
    return line.rstrip(b"\r\n")


def _unhex(text, nbytes):
    try:
        raw = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise AuthError("malformed handshake line")
    if len(raw) != nbytes:
        raise AuthError("malformed handshake line")
    return raw


def server_handshake(sock, rfile, secret):
    """Server side of the token gate on a connected socket (``rfile`` is its
    buffered binary reader). Returns when the client proved the secret;
    raises ``AuthError`` otherwise (after telling the client ``DENIED``)."""
    server_nonce = os.urandom(NONCE_BYTES)
    sock.sendall(AUTH_MAGIC + b" " + server_nonce.hex().encode("ascii") + b"\n")
    try:
        words = _read_line(rfile, MAX_AUTH_LINE).split(b" ")
        if len(words) != 2:
            raise AuthError("malformed handshake line")
        proof = _unhex(words[0], hashlib.sha256().digest_size)
        client_nonce = _unhex(words[1], NONCE_BYTES)
        if not hmac.compare_digest(
            proof, client_proof(secret, server_nonce, client_nonce)
        ):
            raise AuthError("wrong token")
    except AuthError:
        try:
            sock.sendall(b"DENIED\n")
        except OSError:
            pass
        raise
    answer = server_proof(secret, server_nonce, client_nonce)
    sock.sendall(b"OK " + answer.hex().encode("ascii") + b"\n")


def client_handshake(sock, secret):
    """Client side of the token gate: call right after connecting, before
    sending the source line. ``secret`` is bytes (as ``read_token_file``
    gives). Reads byte by byte, so nothing after the handshake is consumed.
    Raises ``AuthError`` when the server refuses or cannot prove the
    secret itself."""

    def line():
        buf = b""
        while not buf.endswith(b"\n"):
            c = sock.recv(1)
            if not c:
                raise AuthError("server closed the connection during the handshake")
            buf += c
            if len(buf) > MAX_AUTH_LINE:
                raise AuthError("handshake line too long")
        return buf.rstrip(b"\r\n")

    words = line().split(b" ")
    if len(words) != 2 or words[0] != AUTH_MAGIC:
        raise AuthError("the server sent no token challenge")
    server_nonce = _unhex(words[1], NONCE_BYTES)
    client_nonce = os.urandom(NONCE_BYTES)
    proof = client_proof(secret, server_nonce, client_nonce)
    sock.sendall(proof.hex().encode("ascii") + b" " + client_nonce.hex().encode("ascii") + b"\n")
    words = line().split(b" ")
    if words == [b"DENIED"]:
        raise AuthError("the server refused the token")
    if len(words) != 2 or words[0] != b"OK":
        raise AuthError("malformed handshake line")
    answer = _unhex(words[1], hashlib.sha256().digest_size)
    if not hmac.compare_digest(answer, server_proof(secret, server_nonce, client_nonce)):
        raise AuthError("the server does not know the token")


def connect(host, port, secret=None, timeout=10.0):
    """A client socket connected to ``host:port``, through the token gate
    when ``secret`` is given; ready for the source line."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if secret is not None:
            client_handshake(sock, secret)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return sock


# ------------------------------------------------------------------- serving


def format_address(sockaddr):
    """``host:port`` (``[host]:port`` for IPv6) of a socket address."""
    host, port = sockaddr[0], sockaddr[1]
    if ":" in host:
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def parse_address(text):
    """``(host, port)`` from ``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` (all
    interfaces). Raises ``ValueError`` naming the text."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError("address %r is not HOST:PORT" % (text,))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise ValueError("port %r in %r is not a number" % (port, text))
    if not 0 <= number <= 65535:
        raise ValueError("port %d in %r is out of range" % (number, text))
    return (host or "0.0.0.0", number)


def is_loopback(host):
    """Whether a bound address is a loopback address."""
    import ipaddress

    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def bind_and_listen(host, port):
    """A listening TCP socket on ``host:port`` (close-on-exec, SO_REUSEADDR
    as execnet's server sets it). Raises ``OSError``."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    last = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if os.name == "posix" and sys.platform != "cygwin":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(5)
            return sock
        except OSError as e:
            sock.close()
            last = e
    raise last if last is not None else OSError("no address for %s" % host)


def read_source(rfile):
    """The source string from the client's line, or ``None`` (with a log
    line) when the line is incomplete, too long or not a string literal."""
    line = rfile.readline(MAX_SOURCE_LINE + 1)
    if not line.endswith(b"\n") or len(line) > MAX_SOURCE_LINE:
        log("no complete source line (got %d bytes), closing" % len(line))
        return None
    try:
        source = ast.literal_eval(line.decode("utf-8").rstrip("\r\n"))
    except (UnicodeDecodeError, ValueError, SyntaxError, TypeError, MemoryError,
            RecursionError) as e:
        log("the line is not a Python string literal (%s), closing" % type(e).__name__)
        return None
    if not isinstance(source, str):
        log("the line is a %s literal, not a str, closing" % type(source).__name__)
        return None
    return source


def handle(clientsock, address, secret):
    """Serves one connection: token gate, source line, exec. Returns after
    the executed code returns (or on any failure, logged)."""
    peer = format_address(address)
    try:
        clientsock.settimeout(PREAMBLE_TIMEOUT)
        rfile = clientsock.makefile("rb")
        try:
            if secret is not None:
                try:
                    server_handshake(clientsock, rfile, secret)
                except AuthError as e:
                    log("refused %s: %s" % (peer, e))
                    return
            source = read_source(rfile)
        finally:
            # The executed code reads the socket itself: nothing may stay
            # buffered here (clients send nothing more before the handshake).
            rfile.close()
        if source is None:
            return
        clientsock.settimeout(None)
        code = compile(source + "\n", "<socket server>", "exec")
        namespace = {"clientsock": clientsock, "address": address,
                     "execmodel": ServerExecModel()}
        exec(code, namespace)
    except socket.timeout:
        log("%s sent nothing for %.0f s, closing" % (peer, PREAMBLE_TIMEOUT))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        log("connection from %s failed:" % peer)
        traceback.print_exc()
    finally:
        try:
            clientsock.close()
        except OSError:
            pass


_PRCTL = []


def _prctl():
    """libc's ``prctl`` on Linux, else None. Looked up once, in the server:
    importing ctypes in each forked child would cost every connection a few
    milliseconds."""
    if not _PRCTL:
        found = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                found = ctypes.CDLL(None, use_errno=True).prctl
            except (ImportError, OSError, AttributeError):
                found = None
        _PRCTL.append(found)
    return _PRCTL[0]


def _warm_up():
    """Imports, once in the server, the modules execdeck's worker and its
    first stage import on start (execnet's in-process server has them after
    its first connection), so that each forked child need not; then moves
    the server's objects out of the collector's reach (``gc.freeze``), so
    that children do not copy the pages holding them."""
    for name in ("_queue", "faulthandler", "_sha2", "_sha256"):
        if name not in sys.modules:
            try:
                __import__(name)
            except ImportError:
                pass
    import gc

    if hasattr(gc, "freeze"):
        gc.freeze()


def _die_with_parent(parent, prctl):
    """Linux: ask for SIGKILL when the server process dies (even by
    ``kill -9``), as the connection would die with execnet's in-process
    server. Best effort; elsewhere the child lives until its connection
    ends."""
    if prctl is None:
        return
    import signal

    pr_set_pdeathsig = 1
    prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the server died before prctl took effect
        os._exit(1)


#: Exit status of a child that could not accept a connection.
ACCEPT_FAILED = 75


def serve_one(serversock, secret):
    """Accepts one connection and serves it in this process (where there is
    no fork); returns when it is done."""
    clientsock, address = serversock.accept()
    log("connection from %s" % format_address(address))
    try:
        handle(clientsock, address, secret)
    except SystemExit as e:
        log("the code of %s raised SystemExit(%r)" % (format_address(address), e.code))


def _child(serversock, secret, prctl, server, pipe):
    """In a forked child of the process ``server``: accepts one connection,
    tells the server so (one byte on the write end of ``pipe``), serves it
    and ends the process, whatever happens (never returns)."""
    status = 0
    try:
        os.close(pipe[0])
        accepted = pipe[1]
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _die_with_parent(server, prctl)
        try:
            clientsock, address = serversock.accept()
        except OSError as e:
            log("cannot accept a connection: %s" % (e.strerror or e,))
            status = ACCEPT_FAILED
            return
        serversock.close()
        os.write(accepted, b"a")
        os.close(accepted)
        log("connection from %s" % format_address(address))
        handle(clientsock, address, secret)
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 1
    except BaseException:
        status = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def serve_forked(serversock, secret, loop):
    """Serves connections, each in a child forked before it arrives (the
    child accepts it, so the fork is no part of a client's start); with
    ``loop`` a new child waits for the next connection as soon as one is
    accepted, so connections are served side by side. Without ``loop``,
    returns when the one connection is done. On any exception (SIGTERM,
    Ctrl-C) the children are ended before it propagates."""
    prctl = _prctl()
    # taken before forking: a child that asked after the server died would
    # get init's pid, and live on
    server = os.getpid()
    children = set()
    try:
        while True:
            sys.stdout.flush()
            sys.stderr.flush()
            pipe = accepted, tell = os.pipe()
            pid = os.fork()
            if pid == 0:
                _child(serversock, secret, prctl, server, pipe)
            os.close(tell)
            children.add(pid)
            try:
                got = os.read(accepted, 1)
            finally:
                os.close(accepted)
            if not got:
                # it ended without a connection (accept failed): do not
                # fork in a busy loop while accept keeps failing
                _reap({pid}, block=True)
                children.discard(pid)
                if not loop:
                    return
                import time

                time.sleep(0.1)
                continue
            _reap(children, block=not loop)
            if not loop:
                return
    except BaseException:
        import signal

        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        _reap(children, block=True)
        raise


def _reap(children, block):
    """Waits for the children that ended (for all of them with ``block``)
    and drops them from the set."""
    for pid in list(children):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done == pid:
            children.discard(pid)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


USAGE = (
    "usage: socketserver.py [HOST:PORT] [--loop] [--token-file FILE]\n"
    "Serves execnet's socket bootstrap (default 127.0.0.1:8888; port 0 picks a\n"
    "free port). The bound address is the first line on stdout.\n"
)


def main(argv):
    """Command line entry point; returns the exit status."""
    address, loop, token_file = "127.0.0.1:8888", False, None
    args = list(argv)
    positional = []
    while args:
        a = args.pop(0)
        if a == "--loop":
            loop = True
        elif a == "--token-file" and args:
            token_file = args.pop(0)
        elif a.startswith("--token-file="):
            token_file = a.split("=", 1)[1]
        elif a in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        elif a.startswith("-") and a != "-":
            sys.stderr.write(USAGE)
            return 2
        else:
            positional.append(a)
    if len(positional) > 1:
        sys.stderr.write(USAGE)
        return 2
    if positional:
        address = positional[0]
    try:
        host, port = parse_address(address)
        secret = read_token_file(token_file) if token_file is not None else None
    except ValueError as e:
        log(e)
        return 2
    try:
        serversock = bind_and_listen(host, port)
    except (OSError, UnicodeError) as e:
        log("cannot listen on %s: %s" % (address, getattr(e, "strerror", None) or e))
        return 2
    try:
        import signal

        signal.signal(signal.SIGTERM, _terminate)
    except (ImportError, ValueError, AttributeError):
        pass
    bound = format_address(serversock.getsockname())
    if not is_loopback(serversock.getsockname()[0]):
        sys.stderr.write(WARNING_PUBLIC.format(
            addr=bound,
            token=" that has the token" if secret is not None else
            " (no --token-file given)"))
        sys.stderr.flush()
    sys.stdout.write(bound + "\n")
    sys.stdout.flush()
    if hasattr(os, "fork"):
        _warm_up()
        try:
            serve_forked(serversock, secret, loop)
        except KeyboardInterrupt:
            return 130
        finally:
            serversock.close()
        return 0
    cwd = os.getcwd()
    try:
        while True:
            try:
                serve_one(serversock, secret)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:
                log("error while serving: %s" % (e,))
            if not loop:
                break
            try:
                os.chdir(cwd)
            except OSError:
                pass
    except KeyboardInterrupt:
        return 130
    finally:
        serversock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
