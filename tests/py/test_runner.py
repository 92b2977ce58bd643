"""bootstrap/runner.py (captured output and interrupts) driven by execnet's
own master, running in our worker (``gw``, see conftest.py) and, for the
``channels_first`` form the Rust master uses, in execnet's own worker.
"""

import subprocess
import sys
import textwrap
import time

import pytest

import execnet
from execnet.gateway_base import Message, dumps_internal

from conftest import ROOT, TIMEOUT, WORKER_PYTHON, python_spec

RUNNER_SOURCE = (ROOT / "bootstrap" / "runner.py").read_text(encoding="utf-8")
RUNNER_FILE = "<execdeck runner>"
REPORT_THREAD = ("import threading\nchannel.send(threading.current_thread()"
                 " is threading.main_thread())\n")


class Run:
    """One run: the exec channel, the output and the control channel."""

    def __init__(self, gw, source, file_name="<run>", channels_first=False,
                 send_channels=True):
        self.gw = gw
        self._pieces = None
        self.output = gw.newchannel()
        self.control = gw.newchannel()
        self.channel = gw.newchannel()
        kwargs = {"source": source, "file_name": file_name}
        if channels_first:
            kwargs["channels_first"] = True
        else:
            kwargs["output"] = self.output
            kwargs["control"] = self.control
        # execnet's remote_exec only passes kwargs to functions it has the
        # source of; send the CHANNEL_EXEC ourselves
        gw._send(Message.CHANNEL_EXEC, self.channel.id,
                 dumps_internal((RUNNER_SOURCE, RUNNER_FILE, "run", kwargs)))
        if channels_first and send_channels:
            self.send_channels()

    def send_channels(self):
        self.channel.send((self.output, self.control))

    def receive(self):
        return self.channel.receive(TIMEOUT)

    def interrupt(self):
        try:
            self.control.send("interrupt")
        except OSError:
            assert self.control.isclosed()  # the run ended and closed it

    def wait(self):
        self.channel.waitclose(TIMEOUT)

    def pieces(self):
        """Every output item up to the close of the output channel (read
        once, then remembered)."""
        if self._pieces is None:
            items = []
            while True:
                try:
                    items.append(self.output.receive(TIMEOUT))
                except EOFError:
                    break
            self._pieces = items
        return self._pieces

    def merged(self):
        out = []
        for stream, text in self.pieces():
            assert stream in ("out", "err")
            if out and out[-1][0] == stream:
                out[-1] = (stream, out[-1][1] + text)
            else:
                out.append((stream, text))
        return out

    def text(self, stream="out"):
        return "".join(t for s, t in self.merged() if s == stream)


class MainThreadBlocker:
    """Occupies the worker's main thread so the next execution runs in
    another thread."""

    def __init__(self, gw):
        self.channel = gw.remote_exec(REPORT_THREAD + "channel.receive()")
        assert self.channel.receive(TIMEOUT) is True

    def release(self):
        self.channel.send(1)
        self.channel.waitclose(TIMEOUT)


def wait_error(run):
    with pytest.raises(execnet.RemoteError) as info:
        run.wait()
    return info.value.formatted


def plain(gw, source):
    """A plain remote_exec, waited for; returns the first item."""
    ch = gw.remote_exec(source)
    item = ch.receive(TIMEOUT)
    ch.waitclose(TIMEOUT)
    return item


# -- output ------------------------------------------------------------------

def test_stdout_and_stderr_arrive_in_order_with_their_stream(gw):
    run = Run(gw, """
        import sys, logging
        print("one")
        sys.stderr.write("two\\n")
        sys.stdout.write("three ")
        print("four", flush=True)
        channel.send(42)
        logging.getLogger("t").warning("five")
        print("six", file=sys.stderr)
        sys.stdout.writelines(["seven", "\\n", "eight"])
    """.replace("\n        ", "\n"))
    assert run.receive() == 42
    run.wait()
    assert run.merged() == [("out", "one\n"), ("err", "two\n"),
                            ("out", "three four\n"), ("err", "five\nsix\n"),
                            ("out", "seven\neight")]


def test_runs_like_remote_exec_code(gw):
    run = Run(gw, "import sys\nchannel.send((__name__, sorted(k for k in "
                  "globals() if k != '__builtins__')))\n"
                  "for x in channel:\n    channel.send(x + 1)\n")
    assert run.receive() == ("__channelexec__", ["__name__", "channel", "sys"])
    run.channel.send(1)
    assert run.receive() == 2
    run.channel.close()
    run.wait()


def test_channels_first_form(gw):
    run = Run(gw, "print('hi')\nchannel.send(channel.receive() * 2)",
              channels_first=True)
    run.channel.send(21)
    assert run.receive() == 42
    run.wait()
    assert run.merged() == [("out", "hi\n")]


def test_channels_first_on_execnets_own_worker():
    group = execnet.Group()
    try:
        gw = group.makegateway(python_spec("popen"))
        run = Run(gw, "import sys\nprint('a')\nsys.stderr.write('b')\n"
                      "channel.send(1)", channels_first=True)
        assert run.receive() == 1
        run.wait()
        assert run.merged() == [("out", "a\n"), ("err", "b")]
        run = Run(gw, "import time\nprint('x', flush=True)\ntime.sleep(60)",
                  channels_first=True)
        assert run.output.receive(TIMEOUT) == ("out", "x\n")
        run.interrupt()
        assert "KeyboardInterrupt" in wait_error(run)
    finally:
        group.terminate(TIMEOUT)


def test_output_does_not_reach_the_real_streams_but_plain_exec_does(capfd, makegateway):
    gw = makegateway()  # after capfd took fd 2: the worker inherits it
    run = Run(gw, "import sys, os\nprint('captured out')\n"
                  "sys.stderr.write('captured err\\n')\n"
                  "os.write(2, b'fd level\\n')\n")
    run.wait()
    assert run.merged() == [("out", "captured out\n"),
                            ("err", "captured err\n")]
    assert plain(gw, "print('plain print')\nchannel.send(1)") == 1
    deadline = time.monotonic() + TIMEOUT
    err = ""
    while "plain print" not in err and time.monotonic() < deadline:
        time.sleep(0.05)
        err += capfd.readouterr().err
    assert "plain print" in err
    assert "fd level" in err          # fd writes are not captured
    assert "captured" not in err


def test_partial_lines_are_sent_after_a_short_while(gw):
    run = Run(gw, "print('no newline', end='')\nchannel.receive()\n"
                  "print(' end')")
    start = time.monotonic()
    # sent while the code still waits in receive(): no newline, no end needed
    assert run.output.receive(TIMEOUT) == ("out", "no newline")
    assert time.monotonic() - start < 3
    run.channel.send(None)
    run.wait()
    assert run.text() == " end\n"


def test_output_is_batched_complete_and_in_order(gw):
    run = Run(gw, "for i in range(30000):\n    print(i)\n")
    run.wait()
    pieces = run.pieces()
    assert "".join(t for _, t in pieces) == "".join("%d\n" % i
                                                    for i in range(30000))
    assert len(pieces) < 30000


def test_concurrent_runs_keep_their_output_apart(gw):
    source = """
        import sys, time
        channel.receive()
        for i in range(40):
            print(TAG, i)
            sys.stderr.write("%s err %d\\n" % (TAG, i))
            time.sleep(0.003)
    """.replace("\n        ", "\n")
    runs = {tag: Run(gw, "TAG = %r\n" % tag + source) for tag in "ABC"}
    for run in runs.values():
        run.channel.send(1)
    for tag, run in runs.items():
        run.wait()
        assert run.text("out") == "".join("%s %d\n" % (tag, i)
                                          for i in range(40))
        assert run.text("err") == "".join("%s err %d\n" % (tag, i)
                                          for i in range(40))


def test_threads_started_by_the_code_inherit_its_capture(gw):
    run = Run(gw, """
        import threading, concurrent.futures
        t = threading.Thread(target=print, args=("thread",))
        t.start(); t.join()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(print, ["pool"]))
    """.replace("\n        ", "\n"))
    run.wait()
    assert sorted(run.text().splitlines()) == ["pool", "thread"]


def test_a_thread_outliving_its_run_writes_to_the_real_stream(capfd, makegateway):
    gw = makegateway()  # after capfd took fd 2: the worker inherits it
    run = Run(gw, """
        import threading, time
        def late():
            time.sleep(0.3)
            print("written after the run")
        threading.Thread(target=late, daemon=True).start()
    """.replace("\n        ", "\n"))
    run.wait()
    assert run.pieces() == []
    deadline = time.monotonic() + TIMEOUT
    err = ""
    while "written after the run" not in err and time.monotonic() < deadline:
        time.sleep(0.05)
        err += capfd.readouterr().err
    assert "written after the run" in err


def test_output_of_a_failing_run_and_its_traceback(gw):
    run = Run(gw, "print('before')\ndef f():\n    raise ValueError('boom')\n"
                  "f()\n", file_name="<pane>")
    text = wait_error(run)
    assert text.startswith("Traceback (most recent call last):")
    assert 'File "<pane>", line 3, in f' in text
    assert "raise ValueError('boom')" in text
    assert text.rstrip().endswith("ValueError: boom")
    assert run.merged() == [("out", "before\n")]


def test_syntax_error(gw):
    run = Run(gw, "x = (\n", file_name="<bad>")
    text = wait_error(run)
    assert "SyntaxError" in text and "<bad>" in text
    assert run.pieces() == []


def test_master_closing_the_output_sends_it_to_the_real_stream(capfd, makegateway):
    gw = makegateway()  # after capfd took fd 2: the worker inherits it
    run = Run(gw, "print('first')\nchannel.receive()\nprint('orphaned')\n")
    assert run.output.receive(TIMEOUT) == ("out", "first\n")
    run.output.close()
    run.channel.send(1)
    run.wait()
    deadline = time.monotonic() + TIMEOUT
    err = ""
    while "orphaned" not in err and time.monotonic() < deadline:
        time.sleep(0.05)
        err += capfd.readouterr().err
    assert "orphaned" in err


def test_stream_proxy_surface(gw):
    run = Run(gw, """
        import sys
        out = sys.stdout
        channel.send((out.isatty(), isinstance(out.encoding, str),
                      isinstance(out.fileno(), int), out.write("abc")))
        try:
            out.write(b"bytes")
        except TypeError as exc:
            channel.send(str(exc))
    """.replace("\n        ", "\n"))
    assert run.receive() == (False, True, True, 3)
    assert "must be str" in run.receive()
    run.wait()
    assert run.text() == "abc"


def test_runs_without_output_or_control(gw):
    ch = gw.newchannel()
    gw._send(Message.CHANNEL_EXEC, ch.id, dumps_internal(
        (RUNNER_SOURCE, RUNNER_FILE, "run",
         {"source": "print('to stderr')\nchannel.send(5)"})))
    assert ch.receive(TIMEOUT) == 5
    ch.waitclose(TIMEOUT)


# -- interrupts ----------------------------------------------------------------

def interrupted(run, in_main):
    assert run.receive() is in_main
    assert run.output.receive(TIMEOUT) == ("out", "started\n")
    time.sleep(0.1)
    start = time.monotonic()
    run.interrupt()
    text = wait_error(run)
    assert time.monotonic() - start < 4
    assert "KeyboardInterrupt" in text
    assert text.rstrip().endswith(
        "execdeck.runner.RunInterrupted: KeyboardInterrupt")
    run.interrupt()  # after the end: harmless
    return text


BLOCKING = [
    "while True:\n    pass\n",
    "import time\ntime.sleep(60)\n",
    "from time import sleep\nsleep(60)\n",
]


@pytest.mark.parametrize("code", BLOCKING)
def test_interrupt_in_the_main_thread(gw, code):
    run = Run(gw, REPORT_THREAD + "print('started', flush=True)\n" + code,
              file_name="<stopped>")
    text = interrupted(run, True)
    assert 'File "<stopped>", line' in text
    assert "<execdeck runner>" not in text.split('File "<stopped>"')[-1]
    assert plain(gw, "channel.send(1)") == 1


@pytest.mark.parametrize("code", BLOCKING)
def test_interrupt_in_another_thread(gw, code):
    blocker = MainThreadBlocker(gw)
    run = Run(gw, REPORT_THREAD + "print('started', flush=True)\n" + code)
    interrupted(run, False)
    blocker.release()
    assert plain(gw, "channel.send(1)") == 1


def test_interrupt_a_channel_receive_in_the_main_thread(gw):
    run = Run(gw, REPORT_THREAD + "print('started', flush=True)\n"
                  "channel.receive()\n")
    interrupted(run, True)


def test_interrupt_with_main_thread_only(makegateway):
    gw = makegateway("popen//execmodel=main_thread_only")
    run = Run(gw, REPORT_THREAD + "print('started', flush=True)\n"
                  "import time\ntime.sleep(60)\n")
    interrupted(run, True)
    assert plain(gw, "channel.send(1)") == 1


def test_the_sigint_handler_is_given_back(gw):
    run = Run(gw, "import signal\nchannel.send(signal.getsignal("
                  "signal.SIGINT).__qualname__)")
    assert run.receive() == "_State._on_sigint"
    run.wait()
    assert plain(gw, "import signal\nchannel.send(signal.getsignal("
                     "signal.SIGINT) is signal.default_int_handler)") is True


def test_code_that_catches_the_interrupt_goes_on(gw):
    run = Run(gw, """
        import time
        for i in range(2):
            try:
                channel.send("waiting")
                time.sleep(60)
            except KeyboardInterrupt:
                channel.send("caught")
        print("finished normally")
    """.replace("\n        ", "\n"))
    for _ in range(2):
        assert run.receive() == "waiting"
        time.sleep(0.6)  # interrupts within 0.5 s count once
        run.interrupt()
        assert run.receive() == "caught"
    run.wait()
    assert run.text() == "finished normally\n"


def test_interrupts_within_half_a_second_count_once(gw):
    run = Run(gw, """
        import time
        try:
            channel.send("go")
            time.sleep(60)
        except KeyboardInterrupt:
            channel.send("caught")
        time.sleep(0.3)
        channel.send("survived")
    """.replace("\n        ", "\n"))
    assert run.receive() == "go"
    run.interrupt()
    run.interrupt()
    run.interrupt()
    assert run.receive() == "caught"
    assert run.receive() == "survived"
    run.wait()


@pytest.mark.parametrize("in_main", [True, False])
def test_interrupting_large_sends_keeps_the_protocol_intact(gw, in_main):
    blocker = None if in_main else MainThreadBlocker(gw)
    for i in range(6):
        run = Run(gw, REPORT_THREAD +
                  "while True:\n    channel.send(b'x' * 200000)\n"
                  "    print('y' * 1000)\n")
        assert run.receive() is in_main
        run.channel.setcallback(lambda item: None)
        time.sleep(0.02 + 0.03 * i)
        run.interrupt()
        assert "KeyboardInterrupt" in wait_error(run)
        assert plain(gw, "channel.send(2)") == 2
    if blocker:
        blocker.release()


def test_sleep_outside_interruptible_runs_behaves_as_before(gw):
    run = Run(gw, """
        import time, threading
        t0 = time.monotonic(); time.sleep(0.2); slept = time.monotonic() - t0
        try:
            time.sleep(-1)
        except ValueError as exc:
            negative = str(exc)
        result = []
        def other():
            t0 = time.monotonic(); time.sleep(0.1)
            result.append(time.monotonic() - t0)
        t = threading.Thread(target=other); t.start(); t.join()
        channel.send((slept >= 0.19, negative, result[0] >= 0.09))
    """.replace("\n        ", "\n"))
    assert run.receive() == (True, "sleep length must be non-negative", True)
    run.wait()
    blocker = MainThreadBlocker(gw)
    run = Run(gw, "import time\nt0 = time.monotonic(); time.sleep(0.2)\n"
                  "channel.send(time.monotonic() - t0 >= 0.19)")
    assert run.receive() is True
    run.wait()
    blocker.release()


def test_no_state_is_left_behind(gw):
    blocker = MainThreadBlocker(gw)
    runs = [Run(gw, "print('x')") for _ in range(5)]
    for run in runs:
        run.wait()
    blocker.release()
    run = Run(gw, "import time\ntime.sleep(60)")
    time.sleep(0.2)
    run.interrupt()
    wait_error(run)
    state = plain(gw, """
        import sys, signal
        st = sys.modules["_execdeck_runner"].state
        channel.send((len(st.captures), len(st.controls),
                      st.main_control is None))
    """.replace("\n        ", "\n"))
    assert state == (0, 0, True)
    status = gw.remote_status()
    assert status.numexecuting == 0


# -- in-process, with fake channels (in a subprocess: the runner patches the
# -- interpreter it runs in) --------------------------------------------------

FAKES = """
import queue, sys, threading, time
ns = {}
exec(compile(open(%r).read(), "<execdeck runner>", "exec"), ns)
run = ns["run"]

class FakeChannel:
    def __init__(self, items=()):
        self.sent = []
        self.closed = False
        self.items = queue.Queue()
        for item in items:
            self.items.put(item)
        self.callback = None
    def send(self, item):
        if self.closed:
            raise IOError("closed")
        self.sent.append((time.monotonic(), item))
    def receive(self, timeout=None):
        return self.items.get(timeout=timeout)
    def setcallback(self, callback, endmarker=None):
        self.callback = callback
        while not self.items.empty():
            callback(self.items.get())
    def close(self, error=None):
        self.closed = True
""" % str(ROOT / "bootstrap" / "runner.py")


def in_process(script):
    """Run ``script`` after FAKES in a fresh interpreter; its stdout."""
    proc = subprocess.run([WORKER_PYTHON, "-c", FAKES + textwrap.dedent(script)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_an_interrupt_before_the_start_stops_the_run_at_once():
    out = in_process("""
        code = FakeChannel()
        output, control = FakeChannel(), FakeChannel(["interrupt"])
        try:
            run(code, "channel.send('ran')", "<early>", output, control)
        except Exception as exc:
            print(type(exc).__name__, exc)
        print(code.sent, output.sent, output.closed, control.closed)
    """)
    assert out.splitlines() == ["RunInterrupted KeyboardInterrupt",
                                "[] [] True True"]


BATCHED = ("import sys, time\n"
           "sys.stdout.write('a')\n"
           "sys.stdout.write('b')\n"
           "time.sleep(0.3)\n"        # the partial line goes out meanwhile
           "print('c')\n"
           "sys.stderr.write('d')\n"
           "sys.stderr.write('e')\n"
           "sys.stdout.write('tail')\n")


def test_batches_go_out_after_a_while_and_at_the_end():
    out = in_process("""
        output = FakeChannel()
        run(FakeChannel(), %r, "<t>", output, None)
        for at, item in output.sent:
            print(repr(item))
        print(output.closed)
    """ % BATCHED)
    lines = out.splitlines()
    assert lines[-1] == "True"
    items = [eval(line) for line in lines[:-1]]
    assert items[0] == ("out", "ab")    # before 'c' was written
    merged = []
    for stream, text in items:
        if merged and merged[-1][0] == stream:
            merged[-1] = (stream, merged[-1][1] + text)
        else:
            merged.append((stream, text))
    assert merged == [("out", "abc\n"), ("err", "de"), ("out", "tail")]


def test_a_second_namespace_shares_the_state_of_the_first():
    out = in_process("""
        ns2 = {}
        exec(compile(open(%r).read(), "<execdeck runner>", "exec"), ns2)
        print(ns2["run"].__self__ is run.__self__)
        print(type(sys.stdout).__name__)
        output = FakeChannel()
        ns2["run"](FakeChannel(), "print('x')", "<t>", output)
        print([item for _, item in output.sent])
        print(type(sys.stdout).__name__)
    """ % str(ROOT / "bootstrap" / "runner.py"))
    assert out.splitlines() == ["True", "TextIOWrapper",
                                "[('out', 'x\\n')]", "_StreamProxy"]
