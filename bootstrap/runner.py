"""Remote half of ``Gateway::run``: run a code buffer with its output
captured and streamed back, interruptible from the master.

Run through remote_exec with call_name ``run``::

    run(channel, source, file_name="<run>", output=None, control=None,
        channels_first=False)

``source`` runs with globals ``{"channel": channel, "__name__":
"__channelexec__"}``, exactly like plain remote_exec code. What it writes
through ``sys.stdout``/``sys.stderr`` goes to ``output`` as ``("out" |
"err", text)`` items instead of the real streams; ``"interrupt"`` sent on
``control`` raises KeyboardInterrupt in the thread running it. See
bootstrap/README.md, "runner.py: captured output and interrupts".

Python 3.8+, standard library only. Every remote_exec runs this file in a
fresh namespace, so the machinery shared by all runs of an interpreter (the
stream proxies, the patched ``time.sleep`` and ``Thread.start``, the SIGINT
handler, the registries) lives in one ``_State`` kept in
``sys.modules[STATE_MODULE]``, made by the first run.
"""
import _thread
import linecache
import sys
import threading
import time

#: Name under which the shared state is kept in ``sys.modules``.
STATE_MODULE = "_execdeck_runner"
#: A partial line waits at most this long (seconds) before it is sent.
FLUSH_INTERVAL = 0.05
#: Characters buffered for the master beyond which writers wait.
MAX_BUFFERED = 1 << 20
#: The control message that interrupts the run.
INTERRUPT = "interrupt"
#: Interrupts repeated within this many seconds count once (so a second
#: request cannot land in the runner's own clean-up of the first).
INTERRUPT_REPEAT = 0.5
#: How long the end of a run waits for a SIGINT it sent to be handled.
SIGNAL_SETTLE = 1.0


class RunInterrupted(Exception):
    """What ``run`` raises in place of the KeyboardInterrupt that stopped the
    code: a bare KeyboardInterrupt would be reported by the worker as the
    text "keyboard-interrupted", without a traceback."""


RunInterrupted.__module__ = "execdeck.runner"


def _state():
    """The interpreter's shared state, made on first use."""
    mod = sys.modules.get(STATE_MODULE)
    if mod is None:
        import types
        candidate = types.ModuleType(STATE_MODULE)
        candidate.lock = threading.Lock()
        candidate.state = None
        mod = sys.modules.setdefault(STATE_MODULE, candidate)  # atomic
    with mod.lock:
        if mod.state is None:
            mod.state = _State()
        return mod.state


def _register_source(filename, source):
    """Let tracebacks show the lines of ``source`` for ``filename``."""
    linecache.cache[filename] = (len(source), None,
                                 source.splitlines(True), filename)


# ---------------------------------------------------------------------------
# Output capture
# ---------------------------------------------------------------------------


class _StreamProxy:
    """``sys.stdout``/``sys.stderr`` replacement: writes of a thread with a
    capture go to that capture, everything else to the original stream."""

    _execdeck_proxy = True

    def __init__(self, state, stream, original):
        self._state = state
        self._stream = stream      # "out" or "err"
        self._original = original

    def _capture(self):
        return self._state.captures.get(_thread.get_ident())

    def write(self, text):
        capture = self._capture()
        if capture is not None:
            if not isinstance(text, str):
                raise TypeError("write() argument must be str, not %s"
                                % type(text).__name__)
            if capture.write(self._stream, text):
                return len(text)
        if self._original is None:
            return len(text)
        return self._original.write(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        capture = self._capture()
        if capture is not None and capture.flush():
            return None
        if self._original is not None:
            return self._original.flush()
        return None

    def isatty(self):
        capture = self._capture()
        if capture is not None and not capture.done:
            return False
        return self._original is not None and self._original.isatty()

    def __getattr__(self, name):
        return getattr(self._original, name)

    def __repr__(self):
        return "<execdeck run proxy %s for %r>" % (self._stream,
                                                    self._original)


class _Capture:
    """The output of one run: buffered, sent on the output channel by a
    sender thread (at a newline, after FLUSH_INTERVAL for partial lines, on
    flush() and at the end), then the output channel is closed."""

    def __init__(self, state, channel):
        self._state = state
        self._channel = channel
        self._cond = threading.Condition(threading.Lock())
        self._pending = []      # [stream, [texts]] in write order
        self._size = 0
        self._since = None      # when the oldest pending text was written
        self._urgent = False    # a newline or flush(): send now
        self._closing = False
        self.done = False       # the run ended: writes go to the real streams
        self.failed = False     # sending failed: writes go to the real streams
        self._sender = threading.Thread(target=self._send_loop,
                                        name="execdeck-run-output")
        self._sender.daemon = True
        self._sender._execdeck_nocapture = True
        self._sender.start()

    def write(self, stream, text):
        """Buffer text; False when the caller should use the real stream."""
        if not text:
            return not (self.done or self.failed)
        with self._cond:
            if self.done or self.failed:
                return False
            pending = self._pending
            if pending and pending[-1][0] == stream:
                pending[-1][1].append(text)
            else:
                pending.append((stream, [text]))
            wake = self._since is None
            if wake:
                self._since = time.monotonic()
            if "\n" in text:
                self._urgent = wake = True
            self._size += len(text)
            if self._size > MAX_BUFFERED:
                self._urgent = wake = True
            if wake:
                self._cond.notify_all()
            # back pressure: the master reads slower than the code writes
            while (self._size > MAX_BUFFERED
                   and not (self.failed or self._closing)):
                self._cond.wait(0.1)
        return True

    def flush(self):
        """Send what is buffered soon; False when not capturing."""
        with self._cond:
            if self.done or self.failed:
                return False
            if self._pending:
                self._urgent = True
                self._cond.notify_all()
        return True

    def close(self):
        """End of the run: send the rest, close the output channel, and
        wait for that (so it precedes the close of the exec channel)."""
        with self._cond:
            self.done = True
            self._closing = True
            self._cond.notify_all()
        self._sender.join()

    def _next_batch(self):
        with self._cond:
            while not self._pending and not self._closing:
                self._cond.wait()
            if not self._pending:
                return None
            while not (self._urgent or self._closing):
                left = self._since + FLUSH_INTERVAL - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch = self._pending
            self._pending = []
            self._size = 0
            self._since = None
            self._urgent = False
            self._cond.notify_all()
            return batch

    def _send_loop(self):
        while True:
            batch = self._next_batch()
            if batch is None:
                break
            for i, (stream, texts) in enumerate(batch):
                if self.failed:
                    self._state.write_original(stream, "".join(texts))
                    continue
                try:
                    self._channel.send((stream, "".join(texts)))
                except Exception:
                    # the master closed the output channel (or is gone):
                    # nothing is lost, it goes where plain remote_exec
                    # output goes
                    with self._cond:
                        self.failed = True
                        self._cond.notify_all()
                    self._state.write_original(stream, "".join(texts))
        try:
            self._channel.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------
# Interrupts
# ---------------------------------------------------------------------------


class _Control:
    """Interrupt state of one run (all fields under ``lock``).

    ``use_signal``: the run is in the main thread and a SIGINT handler of
    ours is installed; else interrupts use PyThreadState_SetAsyncExc, and
    the patched ``time.sleep`` wakes up. An interrupt never lands while the
    thread writes a protocol message (``in_send``): it is deferred to the
    end of the send.
    """

    def __init__(self, state, ident):
        self.state = state
        self.ident = ident
        self.lock = threading.RLock()
        self.use_signal = False
        self.started = False
        self.active = False
        self.early = False       # interrupt before the code started
        self.in_send = False
        self.deferred = False    # interrupt waiting for the send to end
        self.sleeping = False    # in the patched time.sleep
        self.wake = threading.Event()
        self.async_set = False
        self.sent = 0            # SIGINTs sent ...
        self.handled = 0         # ... and seen by the handler
        self.last = None         # when the last interrupt was delivered
        self.prev_handler = None

    def on_control(self, item):
        """Control channel callback (runs in the worker's receiver)."""
        if item == INTERRUPT:
            self.interrupt()

    def interrupt(self):
        with self.lock:
            if not self.started:
                self.early = True
                return
            if not self.active:
                return
            now = time.monotonic()
            if self.last is not None and now - self.last < INTERRUPT_REPEAT:
                return
            self.last = now
            if self.use_signal:
                if self.in_send:
                    self.deferred = True
                    return
                self.sent += 1
                if not self.state.send_sigint(self.ident):
                    self.sent -= 1
                return
            if self.sleeping:
                self.wake.set()
            elif self.in_send:
                self.deferred = True
            elif self.state.set_async_exc(self.ident, KeyboardInterrupt):
                self.async_set = True
            else:  # no ctypes: only sleeps and sends see it
                self.deferred = True

    def start(self):
        """Arm interrupts; KeyboardInterrupt when one came before."""
        with self.lock:
            self.started = True
            self.active = True
            early = self.early
            if early:
                self.last = time.monotonic()
        if early:
            raise KeyboardInterrupt

    def stop(self):
        with self.lock:
            self.active = False
            self.deferred = False
            if self.async_set:
                self.state.set_async_exc(self.ident, None)
                self.async_set = False

    def on_sigint(self):
        """True when the SIGINT should raise KeyboardInterrupt now."""
        with self.lock:
            self.handled += 1
            if not self.active:
                return False
            if self.in_send:
                self.deferred = True
                return False
            return True


# ---------------------------------------------------------------------------
# Shared state
# ---------------------------------------------------------------------------


class _State:
    """Everything shared by the runs of one interpreter."""

    def __init__(self):
        self.lock = threading.RLock()
        self.captures = {}      # thread ident -> _Capture
        self.controls = {}      # thread ident -> _Control
        self.main_control = None
        self.orig_sleep = time.sleep
        self._async_exc = None  # (setter, clearer) or False
        self._install_sleep()
        self._install_thread_start()

    # -- installation --------------------------------------------------------

    def _install_streams(self):
        for name, stream in (("stdout", "out"), ("stderr", "err")):
            current = getattr(sys, name)
            if not getattr(type(current), "_execdeck_proxy", False):
                setattr(sys, name, _StreamProxy(self, stream, current))

    def write_original(self, stream, text):
        """Write to the stream a proxy wraps (or the current one)."""
        current = sys.stdout if stream == "out" else sys.stderr
        target = getattr(current, "_original", current) \
            if getattr(type(current), "_execdeck_proxy", False) else current
        try:
            if target is not None:
                target.write(text)
                target.flush()
        except Exception:
            pass

    def _install_sleep(self):
        orig = self.orig_sleep
        controls = self.controls
        timeout_max = threading.TIMEOUT_MAX

        def sleep(secs):
            ctl = controls.get(_thread.get_ident())
            if ctl is None or ctl.use_signal:
                return orig(secs)
            if secs < 0:
                raise ValueError("sleep length must be non-negative")
            deadline = time.monotonic() + secs
            prev = ctl.sleeping
            try:
                with ctl.lock:
                    if not ctl.active:
                        woken = None
                    else:
                        ctl.sleeping = True
                        ctl.wake.clear()
                        woken = False
                if woken is None:
                    return orig(secs)
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0 or ctl.wake.wait(min(left, timeout_max)):
                        break
            finally:
                with ctl.lock:
                    ctl.sleeping = prev
                    woken = ctl.wake.is_set()
                    ctl.wake.clear()
            if woken:
                raise KeyboardInterrupt
            return None

        sleep.__doc__ = orig.__doc__
        sleep.__name__ = "sleep"
        sleep._execdeck_orig = orig
        time.sleep = sleep

    def _install_thread_start(self):
        orig_start = threading.Thread.start
        captures = self.captures

        def start(thread):
            capture = captures.get(_thread.get_ident())
            if (capture is not None and not capture.done
                    and not getattr(thread, "_execdeck_nocapture", False)):
                _inherit(thread, capture, captures)
            return orig_start(thread)

        start.__doc__ = orig_start.__doc__
        start._execdeck_orig = orig_start
        threading.Thread.start = start

    def guard_gateway(self, gateway):
        """Wrap ``gateway._send`` so that no interrupt lands inside the
        writing of a protocol message of a run's thread."""
        send = getattr(gateway, "_send", None)
        if send is None or getattr(send, "_execdeck_guard", False):
            return
        controls = self.controls

        def guarded_send(*args, **kwargs):
            ctl = controls.get(_thread.get_ident())
            if ctl is None:
                return send(*args, **kwargs)
            prev = ctl.in_send
            try:
                with ctl.lock:
                    ctl.in_send = True
                return send(*args, **kwargs)
            finally:
                with ctl.lock:
                    ctl.in_send = prev
                    fire = not prev and ctl.deferred and ctl.active
                    if fire:
                        ctl.deferred = False
                if fire:
                    raise KeyboardInterrupt

        guarded_send._execdeck_guard = True
        try:
            gateway._send = guarded_send
        except Exception:
            pass

    # -- interrupt primitives --------------------------------------------------

    def set_async_exc(self, ident, exc):
        """PyThreadState_SetAsyncExc(ident, exc or NULL); False without ctypes."""
        if self._async_exc is None:
            try:
                import ctypes
                api = ctypes.pythonapi
                setter = ctypes.PYFUNCTYPE(
                    ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
                        ("PyThreadState_SetAsyncExc", api))
                clearer = ctypes.PYFUNCTYPE(
                    ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
                        ("PyThreadState_SetAsyncExc", api))
                self._async_exc = (setter, clearer)
            except Exception:
                self._async_exc = False
        if not self._async_exc:
            return False
        setter, clearer = self._async_exc
        if exc is None:
            return clearer(ident, None) == 1
        return setter(ident, exc) == 1

    def send_sigint(self, ident):
        try:
            import signal
            if hasattr(signal, "pthread_kill"):
                # a real signal also wakes blocking calls such as sleep()
                signal.pthread_kill(ident, signal.SIGINT)
            else:
                _thread.interrupt_main()
            return True
        except Exception:
            return False

    def _on_sigint(self, signum, frame):
        ctl = self.main_control
        if ctl is None:
            raise KeyboardInterrupt  # Python's default behaviour
        if ctl.on_sigint():
            raise KeyboardInterrupt

    def _install_sigint(self, ctl):
        """In the main thread: route SIGINT through us for this run."""
        if threading.current_thread() is not threading.main_thread():
            return False
        try:
            import signal
            ctl.prev_handler = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._on_sigint)
            return True
        except Exception:
            return False

    def _restore_sigint(self, ctl):
        import signal
        deadline = time.monotonic() + SIGNAL_SETTLE
        # a SIGINT we sent must meet our handler, not the previous one
        while ctl.handled < ctl.sent and time.monotonic() < deadline:
            self.orig_sleep(0.002)
        try:
            if signal.getsignal(signal.SIGINT) == self._on_sigint:
                prev = ctl.prev_handler
                signal.signal(signal.SIGINT, signal.default_int_handler
                              if prev is None else prev)
        except Exception:
            pass

    # -- a run -----------------------------------------------------------------

    def run(self, channel, source, file_name="<run>", output=None,
            control=None, channels_first=False):
        """Run ``source`` like remote_exec would, with its output sent on
        ``output`` and interrupts taken from ``control`` (both optional).

        With ``channels_first`` the two channels are not keyword arguments
        but the first item received on ``channel``, a tuple ``(output,
        control)`` (execnet's own worker cannot load channels inside the
        keyword arguments of a CHANNEL_EXEC).
        """
        if channels_first:
            first = channel.receive()
            if not (isinstance(first, (tuple, list)) and len(first) == 2):
                raise ValueError("runner: the first item must be the tuple"
                                 " (output, control), not %r" % (first,))
            output, control = first
        if isinstance(source, bytes):
            source = source.decode("utf-8")
        file_name = file_name or "<run>"
        ident = _thread.get_ident()
        with self.lock:
            self._install_streams()
        gateway = getattr(channel, "gateway", None)
        self.guard_gateway(gateway)
        # An interrupt may land anywhere in this thread: it must not read
        # the worker's protocol stream itself (leader/follower reading).
        excluded = getattr(gateway, "_lf_excluded", None)
        if excluded is not None and ident in excluded:
            excluded = None  # a run inside a run: the outer one undoes it
        if excluded is not None:
            excluded.add(ident)
        ctl = _Control(self, ident)
        capture = _Capture(self, output) if output is not None else None
        registered = []
        if control is not None:
            try:
                control.setcallback(ctl.on_control)
            except Exception:
                pass
        namespace = {"channel": channel, "__name__": "__channelexec__"}
        finished = False
        try:
            try:
                _register_source(file_name, source)
                code = compile(source, file_name, "exec")
                registered.append(self._register(ctl, capture))
                ctl.start()
                exec(code, namespace)
                finished = True
            finally:
                self._unregister(ctl, registered)
        except KeyboardInterrupt as exc:
            self._unregister(ctl, registered)
            if not finished:
                _register_source(file_name, source)
                raise _interrupted(exc) from None
        except BaseException:
            _register_source(file_name, source)  # ours, not a rival's
            raise
        finally:
            if excluded is not None:
                excluded.discard(ident)
            if capture is not None:
                capture.close()
            if control is not None:
                try:
                    control.close()
                except Exception:
                    pass

    def _register(self, ctl, capture):
        """Route this thread's output to ``capture`` and register its
        interrupt control. Returns what ``_unregister`` restores."""
        ident = ctl.ident
        with self.lock:
            saved = (self.captures.get(ident), self.controls.get(ident),
                     self.main_control)
            if capture is not None:
                self.captures[ident] = capture
            ctl.use_signal = self._install_sigint(ctl)
            self.controls[ident] = ctl
            if ctl.use_signal:
                self.main_control = ctl
        return saved

    def _unregister(self, ctl, registered):
        """Disarm interrupts (no KeyboardInterrupt of ours can come after
        this) and give the thread its streams back. Idempotent."""
        while True:
            try:
                ctl.stop()
                break
            except KeyboardInterrupt:
                continue  # it was pending; now it is not
        if not registered:
            return
        capture_before, control_before, main_before = registered.pop()
        if ctl.use_signal:
            self._restore_sigint(ctl)
        ident = ctl.ident
        with self.lock:
            for table, before in ((self.captures, capture_before),
                                  (self.controls, control_before)):
                if before is None:
                    table.pop(ident, None)
                else:
                    table[ident] = before
            if self.main_control is ctl:
                self.main_control = main_before


def _inherit(thread, capture, captures):
    """Let a thread started by a captured thread write to the same capture
    (until the run ends)."""
    try:
        target_run = thread.run
    except Exception:
        return

    def run_captured():
        ident = _thread.get_ident()
        captures[ident] = capture
        try:
            return target_run()
        finally:
            if captures.get(ident) is capture:
                del captures[ident]

    try:
        thread.run = run_captured
    except Exception:
        pass


def _interrupted(exc):
    """RunInterrupted carrying the traceback of ``exc`` from the code that
    was stopped: the runner's frames above and below it are left out."""
    own = _interrupted.__code__.co_filename
    tb = exc.__traceback__
    tb = tb.tb_next if tb is not None else None   # the runner's run()
    last_user = None
    walk = tb
    while walk is not None:
        if walk.tb_frame.f_code.co_filename != own:
            last_user = walk
        walk = walk.tb_next
    if last_user is not None:
        try:
            last_user.tb_next = None   # the patched sleep, the handler, ...
        except (AttributeError, TypeError):
            pass
    text = "KeyboardInterrupt"
    if str(exc):
        text += ": %s" % exc
    return RunInterrupted(text).with_traceback(tb)


#: The entry point: ``run(channel, source, file_name="<run>", output=None,
#: control=None, channels_first=False)`` (the shared state's method, so that a traceback shows one
#: runner frame).
run = _state().run

# The exec channel of the run that first runs this file must not stay
# reachable through the functions kept in the shared state.
globals().pop("channel", None)
