"""execnet's half of `cargo bench --bench compare`: runs one workload with
execnet 2.1.2 (the real package from PyPI) and prints its measurements as one
line of JSON on stdout.

    python benches/execnet_side.py WORKLOAD --python PY [--reps N] [--n N]
        [--spec SPEC] [--src DIR --dest DIR[,DIR...]]

``--spec`` replaces the popen spec (ssh and socket gateways); the rsync
workloads take a source and one destination per target.

Each workload mirrors the execdeck one in benches/compare/workloads.rs: same
remote code, same sizes, same start and stop of the clock.
"""

import argparse
import json
import resource
import sys
import time

import execnet

NOOP_EXEC = "channel.send(1)"
ECHO = "for item in channel:\n    channel.send(item)\n"
BULK_OUT = ("data = bytes(channel.receive())\n"
            "for _ in range(channel.receive()):\n"
            "    channel.send(data)\n")
BULK_IN = ("total = 0\n"
           "for item in iter(channel.receive, None):\n"
           "    total += len(item)\n"
           "channel.send(total)\n")
SMALL = "for i in range(channel.receive()):\n    channel.send(i)\n"


def spec(python):
    if ARGS is not None and ARGS.spec:
        return ARGS.spec
    return "popen//python=" + python


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def startup(args):
    """One gateway: start, first remote_exec result, exit; ms."""
    def once():
        group = execnet.Group()
        gw = group.makegateway(spec(args.python))
        ch = gw.remote_exec(NOOP_EXEC)
        assert ch.receive(timeout=30) == 1
        group.terminate(timeout=10)
    return [timed(once) * 1e3 for _ in range(args.reps)]


def group(args):
    """args.n gateways ready + one exec each, then terminate; ms in all."""
    def once():
        group = execnet.Group()
        for _ in range(args.n):
            group.makegateway(spec(args.python))
        mch = group.remote_exec(NOOP_EXEC)
        assert mch.receive_each() == [1] * args.n
        group.terminate(timeout=30)
    return [timed(once) * 1e3 for _ in range(args.reps)]


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def memory(args):
    """Master RSS growth per idle gateway, KiB (after one gateway was
    started, used and terminated, as on execdeck's side)."""
    with_gateway(lambda gw: gw.remote_exec(NOOP_EXEC).receive())
    group = execnet.Group()
    before = rss_kib()
    for _ in range(args.n):
        group.makegateway(spec(args.python))
    mch = group.remote_exec(NOOP_EXEC)
    assert mch.receive_each() == [1] * args.n
    time.sleep(0.2)
    after = rss_kib()
    group.terminate(timeout=30)
    return [(after - before) / args.n]


def with_gateway(fn):
    group = execnet.Group()
    try:
        return fn(group.makegateway(spec(ARGS.python)))
    finally:
        group.terminate(timeout=10)


def echo(args):
    """Round trip of an int; µs."""
    def run(gw):
        ch = gw.remote_exec(ECHO)
        samples = []
        for _ in range(args.reps):
            start = time.perf_counter()
            for i in range(args.n):
                ch.send(i)
                ch.receive()
            samples.append((time.perf_counter() - start) / args.n * 1e6)
        ch.close()
        return samples
    return with_gateway(run)


def bulk_out(args):
    """args.n items of 1 MiB, remote -> local; GB/s."""
    item = 1 << 20

    def run(gw):
        samples = []
        for _ in range(args.reps):
            start = time.perf_counter()
            ch = gw.remote_exec(BULK_OUT)
            ch.send(item)
            ch.send(args.n)
            for _ in range(args.n):
                got = ch.receive()
            assert len(got) == item
            samples.append(args.n * item / (time.perf_counter() - start) / 1e9)
            ch.waitclose(10)
        return samples

    return with_gateway(run)


def bulk_in(args):
    """args.n items of 1 MiB, local -> remote; GB/s."""
    data = bytes(1 << 20)

    def run(gw):
        samples = []
        for _ in range(args.reps):
            start = time.perf_counter()
            ch = gw.remote_exec(BULK_IN)
            for _ in range(args.n):
                ch.send(data)
            ch.send(None)
            assert ch.receive() == args.n * len(data)
            samples.append(args.n * len(data) / (time.perf_counter() - start) / 1e9)
        return samples
    return with_gateway(run)


def small(args):
    """args.n ints, remote -> local; items/s."""
    def run(gw):
        samples = []
        for _ in range(args.reps):
            start = time.perf_counter()
            ch = gw.remote_exec(SMALL)
            ch.send(args.n)
            for _ in range(args.n):
                last = ch.receive()
            assert last == args.n - 1
            samples.append(args.n / (time.perf_counter() - start))
            ch.waitclose(10)
        return samples
    return with_gateway(run)


def via_startup(args):
    """A gateway through a running popen gateway (via=): start, first
    result; ms. The via gateway is started and everything terminated
    outside the clock."""
    def once():
        group = execnet.Group()
        group.makegateway(spec(args.python) + "//id=proxy")
        start = time.perf_counter()
        gw = group.makegateway(spec(args.python) + "//via=proxy")
        ch = gw.remote_exec(NOOP_EXEC)
        assert ch.receive(timeout=30) == 1
        elapsed = time.perf_counter() - start
        group.terminate(timeout=10)
        return elapsed * 1e3
    return [once() for _ in range(args.reps)]


class CountingIO:
    """Counts the bytes a gateway's IO reads and writes (both ways on the
    wire, frames with their headers)."""

    def __init__(self, gw):
        self.total = 0
        io = gw._io
        read, write = io.read, io.write

        def counted_read(n):
            data = read(n)
            self.total += len(data)
            return data

        def counted_write(data):
            self.total += len(data)
            return write(data)

        io.read, io.write = counted_read, counted_write


PEAK_RSS = "import resource\nchannel.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"


def rsync(args):
    """execnet.RSync of args.src to each destination in args.dest (one
    popen gateway each, all in one send()), args.reps times; seconds of
    send(). The destinations are left as they are (the caller passes fresh
    ones for a first sync). Also reports the bytes on the wire of the last
    rep (all gateways), this process's peak RSS and each worker's (KiB)."""
    dests = args.dest.split(",")
    group = execnet.Group()
    gws = [group.makegateway(spec(args.python)) for _ in dests]
    counters = [CountingIO(gw) for gw in gws]
    samples = []
    try:
        for _ in range(args.reps):
            rs = execnet.RSync(args.src, verbose=False)
            for gw, d in zip(gws, dests):
                rs.add_target(gw, d)
            before = sum(c.total for c in counters)
            start = time.perf_counter()
            rs.send()
            samples.append(time.perf_counter() - start)
            wire = sum(c.total for c in counters) - before
        remote = []
        for gw in gws:
            ch = gw.remote_exec(PEAK_RSS)
            remote.append(ch.receive(timeout=30))
        return {
            "samples": samples,
            "bytes_on_wire": wire,
            "master_peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "remote_peak_rss_kib": remote,
        }
    finally:
        group.terminate(timeout=10)


WORKLOADS = {f.__name__: f for f in
             (startup, group, memory, echo, bulk_out, bulk_in, small,
              via_startup, rsync)}

ARGS = None


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--spec", default=None)
    parser.add_argument("--src", default=None)
    parser.add_argument("--dest", default=None)
    ARGS = parser.parse_args()
    result = WORKLOADS[ARGS.workload](ARGS)
    if not isinstance(result, dict):
        result = {"samples": result}
    result["execnet"] = execnet.__version__
    print(json.dumps(result))


if __name__ == "__main__":
    main()
