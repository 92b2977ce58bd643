"""Leader/follower reading in our worker: an execution waiting in receive()
reads the protocol stream itself while nobody else does (see
WorkerGateway._lf_receive). execnet's master drives the worker, as in
test_worker.py; these tests look for what that must not change: order,
integrity under SIGINT, callbacks in the receiver thread, timeouts, STATUS
and TERMINATE while an execution reads, and several readers side by side.
"""

import os
import signal
import threading
import time

from conftest import TIMEOUT, wait_pid_gone


def remote_pid(gw):
    return gw.remote_exec("import os; channel.send(os.getpid())").receive(TIMEOUT)


ECHO = """
    for item in channel:
        channel.send(item)
"""


def test_items_of_every_size_come_back_in_order(gw):
    ch = gw.remote_exec(ECHO)
    items = [0, "x" * 10, b"y" * 70_000, 1.5, b"z" * (3 << 20), (1, [2]),
             b"", "end"]
    for item in items:  # one at a time: the execution reads each itself
        ch.send(item)
        assert ch.receive(TIMEOUT) == item
    for i in range(2000):  # many at once: several messages per read
        ch.send(i)
    assert [ch.receive(TIMEOUT) for _ in range(2000)] == list(range(2000))
    ch.close()
    ch.waitclose(TIMEOUT)


def test_callbacks_run_in_the_receiver_thread_not_in_the_reader(gw):
    ch = gw.remote_exec("""
        import _thread
        main = _thread.get_ident()
        seen = []
        sub = channel.receive()
        sub.setcallback(lambda item: seen.append((item, _thread.get_ident())))
        channel.send("ready")
        go = channel.receive()   # reads the stream itself until "go" came
        channel.send((go, [item for item, _ in seen],
                      [ident == main for _, ident in seen]))
    """)
    sub = gw.newchannel()
    ch.send(sub)
    assert ch.receive(TIMEOUT) == "ready"
    time.sleep(0.1)  # the execution waits in receive() by now
    sub.send(1)
    sub.send(2)
    ch.send("go")
    assert ch.receive(TIMEOUT) == ("go", [1, 2], [False, False])


def test_sigint_while_the_main_thread_reads_loses_no_message(gw):
    """SIGINTs rain on the worker while its main thread reads messages of
    up to 4 MiB itself: each KeyboardInterrupt comes between messages, so
    the stream stays whole and every item arrives, in order."""
    ch = gw.remote_exec("""
        import os, signal
        # (a worker started by an xdist worker inherits SIGINT ignored)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        got, interrupts, done = [], 0, False
        channel.send(("ready", os.getpid()))
        while not done:
            # (twice: a second SIGINT may come while the first is handled)
            try:
                while not done:
                    try:
                        while True:
                            item = channel.receive()
                            if item == "end":
                                done = True
                                break
                            got.append((item[0], len(item[1])))
                    except KeyboardInterrupt:
                        interrupts += 1
            except KeyboardInterrupt:
                interrupts += 1
        channel.send((got, interrupts))
    """)
    ready, pid = ch.receive(TIMEOUT)  # (the first execution: main thread)
    assert ready == "ready"
    stop = threading.Event()

    def rain():
        while not stop.wait(0.002):
            os.kill(pid, signal.SIGINT)

    sizes = [10, 100_000, 4 << 20, 0, 70_000]
    sent = []
    rainer = threading.Thread(target=rain)
    rainer.start()
    try:
        deadline = time.monotonic() + 1.5
        i = 0
        while time.monotonic() < deadline:
            size = sizes[i % len(sizes)]
            try:
                ch.send((i, b"x" * size))
            except OSError:
                ch.waitclose(TIMEOUT)  # raises what ended the remote code
                raise
            sent.append((i, size))
            i += 1
            time.sleep(0.001)
    finally:
        stop.set()
        rainer.join()
    time.sleep(0.1)  # the last SIGINT is handled
    ch.send("end")
    got, interrupts = ch.receive(TIMEOUT)
    # A KeyboardInterrupt between receive() returning and the append (in
    # the remote code, not in the worker) may drop an item; none may be
    # changed, duplicated or reordered, and the stream must stay whole.
    assert interrupts > 0
    assert set(got) <= set(sent)
    assert [n for n, _ in got] == sorted({n for n, _ in got})
    assert len(got) >= len(sent) - interrupts
    assert gw.remote_exec("channel.send(6 * 7)").receive(TIMEOUT) == 42


def test_threads_receive_side_by_side(gw):
    ch = gw.remote_exec("""
        import _thread
        def echo(sub):
            for item in sub:
                sub.send(item)
        subs = channel.receive()
        for sub in subs[1:]:
            _thread.start_new_thread(echo, (sub,))
        echo(subs[0])
    """)
    subs = [gw.newchannel() for _ in range(5)]
    ch.send(subs)
    for round in range(300):
        for sub in subs[: 1 + round % 5]:
            sub.send((round, id(sub)))
        for sub in subs[: 1 + round % 5]:
            assert sub.receive(TIMEOUT) == (round, id(sub))
    for sub in subs:
        sub.close()
    ch.waitclose(TIMEOUT)


def test_receive_timeout_while_reading(gw):
    ch = gw.remote_exec("""
        try:
            channel.receive(timeout=0.2)
        except channel.TimeoutError:
            channel.send("timed out")
        channel.send(channel.receive(timeout=5.0))
    """)
    assert ch.receive(TIMEOUT) == "timed out"
    time.sleep(0.3)
    ch.send("late")
    assert ch.receive(TIMEOUT) == "late"


def test_status_while_an_execution_reads(gw):
    ch = gw.remote_exec("channel.send(channel.receive())")
    time.sleep(0.1)  # it reads the stream itself by now
    t0 = time.monotonic()
    status = gw.remote_status()
    assert time.monotonic() - t0 < TIMEOUT / 2
    assert status.numexecuting == 1
    ch.send(1)
    assert ch.receive(TIMEOUT) == 1


def test_a_new_execution_while_another_reads(gw):
    ch = gw.remote_exec("channel.send(channel.receive())")
    time.sleep(0.1)
    other = gw.remote_exec("import _thread; channel.send(_thread.get_ident())")
    assert isinstance(other.receive(TIMEOUT), int)
    ch.send(2)
    assert ch.receive(TIMEOUT) == 2


def test_callback_channel_is_served_while_the_execution_sleeps(gw):
    """After the execution got its item and went on with something else,
    the receiver thread reads again (after LEAD_GRACE, not never)."""
    ch = gw.remote_exec("""
        import time
        seen = []
        sub = channel.receive()
        sub.setcallback(seen.append)
        channel.receive()            # read by the execution itself
        deadline = time.monotonic() + 5.0
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)         # not in receive(): someone else reads
        channel.send(seen)
    """)
    sub = gw.newchannel()
    ch.send(sub)
    ch.send("go on")
    time.sleep(0.2)
    sub.send("hello")
    assert ch.receive(TIMEOUT) == ["hello"]


def test_terminate_while_an_execution_reads(group, makegateway):
    gw = makegateway("popen")
    pid = remote_pid(gw)
    ch = gw.remote_exec("""
        try:
            channel.receive()
        except EOFError:
            pass
    """)
    time.sleep(0.1)
    t0 = time.monotonic()
    gw.exit()
    try:
        # (execnet's master may see the end of the connection before the
        # channel's close: then waitclose raises the EOFError)
        ch.waitclose(TIMEOUT)
    except EOFError:
        pass
    assert wait_pid_gone(pid, TIMEOUT), "the worker did not end"
    assert time.monotonic() - t0 < TIMEOUT
