"""The worker's fast paths for moving data: bulk bytes read and written
without serializer copies, and bursts of small sends batched by the flusher
thread. Every result is checked against what was sent, byte for byte and in
order, through execnet's own master and through raw messages."""

import struct

import pytest

from conftest import TIMEOUT

MIB = 1 << 20


def test_bulk_bytes_both_ways_arrive_intact(gw):
    ch = gw.remote_exec(
        "for item in channel:\n"
        "    channel.send(item)\n"
        "    channel.send(bytes(reversed(item)))\n")
    for size in (65535, 65536, 65537, MIB, 3 * MIB + 5):
        data = bytes(range(256)) * (size // 256) + b"\x07" * (size % 256)
        ch.send(data)
        assert ch.receive(TIMEOUT) == data
        assert ch.receive(TIMEOUT) == data[::-1]
    ch.close()
    ch.waitclose(TIMEOUT)


def test_large_payloads_that_are_not_one_bytes_value(gw):
    # Start like a lone bytes value (BYTES opcode first), but carry more.
    big = b"x" * (MIB + 3)
    ch = gw.remote_exec("channel.send(channel.receive())")
    value = (big, 1, [b"y" * 70000])
    ch.send(value)
    assert ch.receive(TIMEOUT) == value
    ch.waitclose(TIMEOUT)


def test_bulk_bytes_reach_a_callback(gw):
    ch = gw.remote_exec(
        "import queue\n"
        "got = queue.Queue()\n"
        "channel.setcallback(got.put)\n"
        "channel.send(len(got.get(timeout=10)))\n")
    ch.send(b"z" * (2 * MIB))
    assert ch.receive(TIMEOUT) == 2 * MIB


def test_a_burst_of_small_sends_arrives_whole_and_in_order(gw):
    n = 100000
    ch = gw.remote_exec(
        "n = channel.receive()\n"
        "for i in range(n):\n"
        "    channel.send(i)\n"
        "channel.send('done')\n")
    ch.send(n)
    got = [ch.receive(TIMEOUT) for _ in range(n + 1)]
    assert got == list(range(n)) + ["done"]
    ch.waitclose(TIMEOUT)


def test_bursts_on_several_channels_from_several_threads(gw):
    ch = gw.remote_exec(
        "import threading\n"
        "def run(sub, k):\n"
        "    for i in range(20000):\n"
        "        sub.send((k, i))\n"
        "    sub.close()\n"
        "subs = [channel.receive() for _ in range(3)]\n"
        "threads = [threading.Thread(target=run, args=(s, k))\n"
        "           for k, s in enumerate(subs)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n")
    subs = [gw.newchannel() for _ in range(3)]
    for sub in subs:
        ch.send(sub)
    for k, sub in enumerate(subs):
        assert [sub.receive(TIMEOUT) for _ in range(20000)] == [
            (k, i) for i in range(20000)]
        sub.waitclose(TIMEOUT)
    ch.waitclose(TIMEOUT)


def test_a_burst_then_exit_loses_nothing(raw_worker):
    # The execution ends (CLOSE) and the master terminates the gateway right
    # after a burst: every item comes before the CLOSE, the CLOSE before EOF.
    rw = raw_worker()
    rw.exec_(1, "for i in range(5000):\n    channel.send(i)\n")
    msgs = rw.recv_until_closed(1)
    assert [v for name, _, v in msgs if name == "CHANNEL_DATA"] == list(range(5000))
    assert msgs[-1][0] == "CHANNEL_CLOSE"
    rw.send("GATEWAY_TERMINATE")
    with pytest.raises(EOFError):
        rw.recv()


def test_bulk_bytes_with_a_corrupt_end_stop_the_gateway(raw_worker):
    rw = raw_worker()
    rw.exec_(1, "channel.send(channel.receive())")
    n = 70000
    payload = struct.pack("!ci", b"A", n) + b"\0" * n + b"X"  # not STOP
    rw.send("CHANNEL_DATA", 1, payload)
    # The worker treats the stream as broken: it ends instead of guessing.
    with pytest.raises(EOFError):
        while True:
            rw.recv()
    assert rw.proc.wait(TIMEOUT) is not None
