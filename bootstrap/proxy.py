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
import sys

import _thread
from _queue import SimpleQueue

#: Largest read from the sub-process's stdout (one item per read).
CHUNK = 256 * 1024

#: What the callback gets when the channel ends.
_END = ("end",)


class _Child:
    """The sub-process: its pid and the parent's ends of its stdin, stdout
    and stderr pipes. Started with ``os.posix_spawnp`` where there is one:
    importing ``subprocess`` (with ``re``, ``enum``, ``locale``, ...) into a
    fresh worker costs more than starting the interpreter does."""

    def __init__(self, argv, environ):
        self._lock = _thread.allocate_lock()
        self._reaped = False
        self._popen = None
        if not hasattr(os, "posix_spawnp"):
            import subprocess

            self._popen = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=environ, bufsize=0, close_fds=True)
            self.pid = self._popen.pid
            self.stdin = os.dup(self._popen.stdin.fileno())
            self.stdout = os.dup(self._popen.stdout.fileno())
            self.stderr = os.dup(self._popen.stderr.fileno())
            for f in (self._popen.stdin, self._popen.stdout, self._popen.stderr):
                f.close()
            return
        import _signal

        pipes = [os.pipe() for _ in range(3)]  # not inherited: O_CLOEXEC
        child_ends = (pipes[0][0], pipes[1][1], pipes[2][1])
        try:
            # the pipes' child ends become 0, 1 and 2 (dup2 clears
            # close-on-exec); every signal is at its default, as subprocess
            # leaves SIGPIPE, which Python ignores
            self.pid = os.posix_spawnp(
                argv[0], argv, environ,
                file_actions=[(os.POSIX_SPAWN_DUP2, fd, n)
                              for n, fd in enumerate(child_ends)],
                setsigdef=[n for n in (getattr(_signal, "SIGPIPE", None),
                                       getattr(_signal, "SIGXFSZ", None))
                           if n is not None])
        except BaseException:
            for r, w in pipes:
                os.close(r)
                os.close(w)
            raise
        for fd in child_ends:
            os.close(fd)
        self.stdin, self.stdout, self.stderr = pipes[0][1], pipes[1][0], pipes[2][0]

    def kill(self):
        """SIGKILL, unless it has been waited for (its pid may be reused)."""
        with self._lock:
            if not self._reaped:
                try:
                    os.kill(self.pid, 9)
                except OSError:
                    pass

    def wait(self):
        """Waits for the end; the return code as ``subprocess`` gives it."""
        if self._popen is not None:
            code = self._popen.wait()
            self._reaped = True
            return code
        if hasattr(os, "waitid"):  # wait without reaping: kill() stays safe
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        with self._lock:
            _, status = os.waitpid(self.pid, 0)
            self._reaped = True
        if os.WIFSIGNALED(status):
            return -os.WTERMSIG(status)
        return os.WEXITSTATUS(status)


def _start(target, *args):
    """Runs ``target(*args)`` in a new thread; returns a lock that is held
    until it returns (``acquire`` it to wait)."""
    done = _thread.allocate_lock()
    done.acquire()

    def run():
        try:
            target(*args)
        finally:
            done.release()

    _thread.start_new_thread(run, ())
    return done


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _feed(child, inbox):
    """Writes what the master sends to the sub-process's stdin."""
    fd = child.stdin
    while True:
        item = inbox.get()
        if isinstance(item, (bytes, bytearray)):
            if fd is not None:
                try:
                    _write_all(fd, item)
                except OSError:
                    # The sub-process went away; its exit is reported by serve.
                    pass
            continue
        if item is None:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                fd = None
            continue
        if item == "kill" or item is _END:
            child.kill()
            if item is _END:
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                return


def _pump_stdout(fd, channel):
    try:
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
    finally:
        os.close(fd)


def _pump_stderr(stderr, channel):
    with stderr:
        for line in iter(stderr.readline, b""):
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
        child = _Child(argv, environ)
    except (OSError, ValueError) as e:
        channel.send(("error", "cannot start %r: %s" % (executable, e)))
        return
    channel.send(("pid", child.pid))
    inbox = SimpleQueue()
    _start(_feed, child, inbox)
    channel.setcallback(inbox.put, endmarker=_END)
    pumps = [
        _start(_pump_stdout, child.stdout, channel),
        _start(_pump_stderr, os.fdopen(child.stderr, "rb"), channel),
    ]
    for done in pumps:
        done.acquire()
    returncode = child.wait()
    try:
        channel.send(("exit", returncode))
    except (OSError, IOError):
        pass
    # Stop the feeder once the channel ends (it may never, if the master
    # keeps it open); its thread holds nothing else.
    inbox.put(None)


def install_server(channel, server_source, address="127.0.0.1:0", python=None):
    """Start execdeck's socket server (``server_source``, the text of
    ``socketserver.py``) in a sub-process listening on ``address`` (port 0:
    a free one), for one connection (``socket//installvia=``).

    Sends ``("address", "host:port")`` once it listens, or ``("error",
    text)``; then ``("err", line)`` per stderr line of the server and
    ``("exit", returncode)`` when it has ended (after its one connection).
    """
    import subprocess

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
    _pump_stderr(proc.stderr, channel)
    returncode = proc.wait()
    try:
        channel.send(("exit", returncode))
    except (OSError, IOError):
        pass
