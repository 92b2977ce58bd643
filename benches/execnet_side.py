"""execnet's half of `cargo bench --bench compare`: runs one workload with
execnet 2.1.2 (the real package from PyPI) and prints its measurements as one
line of JSON on stdout.

    python benches/execnet_side.py WORKLOAD --python PY [--reps N] [--n N]

Each workload mirrors the execdeck one in benches/compare/workloads.rs: same
remote code, same sizes, same start and stop of the clock.
"""

import argparse
import json
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
    """Master RSS growth per idle gateway, KiB."""
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


WORKLOADS = {f.__name__: f for f in
             (startup, group, memory, echo, bulk_out, bulk_in, small)}

ARGS = None


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--n", type=int, default=1)
    ARGS = parser.parse_args()
    samples = WORKLOADS[ARGS.workload](ARGS)
    print(json.dumps({"execnet": execnet.__version__, "samples": samples}))


if __name__ == "__main__":
    main()
