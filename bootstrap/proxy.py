"""execdeck's via proxy: runs in a worker (the "via" gateway) through
``remote_exec`` and starts another interpreter (the proxied gateway's
worker) whose bytes it forwards over the exec channel.

Python 3.8+, standard library only. The master calls ``serve`` with::

    serve(channel, boot_line, python=None, flags=["-u"], env=[])

It starts ``[python or sys.executable] + flags + ["-c", boot_line]`` with
``env`` (pairs) added to this process's environment, in this worker's
process group (so that killing the via worker's group ends it too).

On the channel, from the master:

* ``bytes``: written to the sub-process's stdin, in order;
* ``None``: close the sub-process's stdin (the master closed its side);
* ``"kill"``: SIGKILL the sub-process;
* the channel ending (the master closed it, or the connection went away)
  kills the sub-process too.

To the master:

* first ``("pid", pid)``, or ``("error", text)`` when it cannot be started
  (then the code ends);
* ``bytes``: what the sub-process wrote on stdout, in order;
* ``("err", line)``: one line (bytes) it wrote on stderr;
* last ``("exit", returncode)`` once stdout and stderr are at their end and
  the process has ended (a negative code is the signal number, as in
  ``subprocess``); then the code ends and the channel closes.
"""

import os
import subprocess
import sys
import threading

try:
    import queue
except ImportError:  # pragma: no cover - Python 2 is not supported
    import Queue as queue  # noqa: N813

#: Largest read from the sub-process's stdout (one item per read).
CHUNK = 256 * 1024

#: What the callback gets when the channel ends.
_END = ("end",)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _feed(proc, inbox):
    """Writes what the master sends to the sub-process's stdin."""
    fd = proc.stdin.fileno()
    while True:
        item = inbox.get()
        if isinstance(item, (bytes, bytearray)):
            try:
                _write_all(fd, item)
            except OSError:
                # The sub-process went away; its exit is reported by serve.
                pass
            continue
        if item is None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            continue
        if item == "kill" or item is _END:
            try:
                proc.kill()
            except OSError:
                pass
            if item is _END:
                return


def _pump_stdout(proc, channel):
    fd = proc.stdout.fileno()
    while True:
        try:
            data = os.read(fd, CHUNK)
        except OSError:
            data = b""
        if not data:
            return
        try:
            channel.send(data)
        except (OSError, IOError):
            return


def _pump_stderr(proc, channel):
    for line in iter(proc.stderr.readline, b""):
        try:
            channel.send(("err", line))
        except (OSError, IOError):
            return


def serve(channel, boot_line, python=None, flags=("-u",), env=()):
    """Start the sub-process and forward its bytes until it has ended."""
    executable = python or sys.executable
    environ = dict(os.environ)
    for name, value in env:
        environ[name] = value
    argv = [executable] + list(flags) + ["-c", boot_line]
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environ,
            bufsize=0,
            close_fds=True,
        )
    except (OSError, ValueError) as e:
        channel.send(("error", "cannot start %r: %s" % (executable, e)))
        return
    channel.send(("pid", proc.pid))
    inbox = queue.Queue()
    feeder = threading.Thread(target=_feed, args=(proc, inbox), name="via-stdin")
    feeder.daemon = True
    feeder.start()
    channel.setcallback(inbox.put, endmarker=_END)
    pumps = [
        threading.Thread(target=_pump_stdout, args=(proc, channel), name="via-stdout"),
        threading.Thread(target=_pump_stderr, args=(proc, channel), name="via-stderr"),
    ]
    for t in pumps:
        t.daemon = True
        t.start()
    for t in pumps:
        t.join()
    returncode = proc.wait()
    try:
        channel.send(("exit", returncode))
    except (OSError, IOError):
        pass
    # Stop the feeder once the channel ends (it may never, if the master
    # keeps it open); it is a daemon thread and holds nothing else.
    inbox.put(None)


def install_server(channel, server_source, address="127.0.0.1:0", python=None):
    """Start execdeck's socket server (``server_source``, the text of
    ``socketserver.py``) in a sub-process listening on ``address`` (port 0:
    a free one), for one connection (``socket//installvia=``).

    Sends ``("address", "host:port")`` once it listens, or ``("error",
    text)``; then ``("err", line)`` per stderr line of the server and
    ``("exit", returncode)`` when it has ended (after its one connection).
    """
    executable = python or sys.executable
    try:
        proc = subprocess.Popen(
            [executable, "-u", "-c", server_source, address],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
    except (OSError, ValueError) as e:
        channel.send(("error", "cannot start %r: %s" % (executable, e)))
        return
    bound = proc.stdout.readline().decode("utf-8", "replace").strip()
    if not bound:
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        returncode = proc.wait()
        channel.send(("error", "the socket server did not start (exit status %s): %s"
                      % (returncode, err)))
        return
    channel.send(("address", bound, proc.pid))
    _pump_stderr(proc, channel)
    returncode = proc.wait()
    try:
        channel.send(("exit", returncode))
    except (OSError, IOError):
        pass
