"""Serializer speed: the worker's (bootstrap/worker.py) against execnet's and
pickle, in this interpreter.

    python benches/serializer.py [--worker PATH] [-n N] [--repeat R]

prints a table of several data shapes; ``--worker`` times another copy of
worker.py (e.g. an older one) instead of this checkout's.  ``run()`` is the
entry point of the project's benchmark command.

Every figure is the median over ``repeat`` runs of "dumps every value, then
loads every result" (dumps + loads, in seconds).  The implementations take
turns within each repeat, each after a gc.collect(), so that a slow moment
of the machine or garbage left by the previous run does not favour one.
execnet is optional: without it its figures are None.
"""

import argparse
import gc
import importlib.util
import os
import pickle
import statistics
import sys
import time

WORKER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           os.pardir, "bootstrap", "worker.py")


def load_worker(path=WORKER_PATH):
    """Import a worker.py as a module (it is not a package)."""
    spec = importlib.util.spec_from_file_location("execdeck_worker_bench",
                                                  path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _execnet():
    try:
        from execnet import gateway_base
    except ImportError:
        return None
    return gateway_base


def _time_pair(dumps, loads, values):
    """Seconds for dumps of every value and loads of every result."""
    t0 = time.perf_counter()
    blobs = [dumps(v) for v in values]
    t1 = time.perf_counter()
    for b in blobs:
        loads(b)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def measure(impls, values, repeat):
    """{name: (median dumps seconds, median loads seconds)} for the
    (name, dumps, loads) triples in impls, taking turns."""
    runs = {name: [] for name, _, _ in impls}
    for _ in range(repeat):
        for name, dumps, loads in impls:
            gc.collect()
            runs[name].append(_time_pair(dumps, loads, values))
    return {name: (statistics.median(r[0] for r in rs),
                   statistics.median(r[1] for r in rs))
            for name, rs in runs.items()}


def dict_rows(n):
    """The main workload: many small records, each serialized on its own
    (like channel.send() of one record at a time)."""
    return [{"id": i, "name": "x", "ok": True, "v": [1.5, None]}
            for i in range(n)]


def shapes(n):
    """(name, values) pairs for the table; every value is one dumps()."""
    nested = {
        "k%d" % i: {"t": (i, "s%d" % i, 1.5, None),
                    "s": {i, i + 1, "x"},
                    "f": frozenset({(i, "y")}),
                    "d": {"a": [i, {"b": (True, False)}], i: b"z"}}
        for i in range(200)
    }
    text = ("".join(chr(0x20 + i % 90) for i in range(99000))
            + "äöü€" * 250)
    return [
        ("dicts: %d small dicts" % n, dict_rows(n)),
        ("ints: list of %d ints" % n, [list(range(n))]),
        ("bytes: 1 MiB value x200", [os.urandom(1 << 20)] * 200),
        ("nested dicts/tuples/sets x50", [nested] * 50),
        ("long str: 100k chars x500", [text] * 500),
        ("LONGINT: 10k big ints x5",
         [[2 ** 40 + i for i in range(9990)] + [3 ** 300] * 10] * 5),
    ]


def _impls(worker, internal=False):
    impls = []
    if internal:
        impls.append(("execdeck", worker.dumps_internal,
                      worker.loads_internal))
    else:
        impls.append(("execdeck", worker.dumps, worker.loads))
    gb = _execnet()
    if gb is not None:
        if internal:
            impls.append(("execnet", gb.dumps_internal, gb.loads_internal))
        else:
            impls.append(("execnet", gb.dumps, gb.loads))
    impls.append(("pickle", pickle.dumps, pickle.loads))
    return impls


def run(n=100000, repeat=5, worker=None):
    """Seconds (median dumps + loads total) for n small dicts, each
    serialized on its own: {"execdeck": s, "execnet": s, "pickle": s}
    (execnet None when it is not installed)."""
    worker = worker or load_worker()
    result = measure(_impls(worker), dict_rows(n), repeat)
    return {name: (sum(result[name]) if name in result else None)
            for name in ("execdeck", "execnet", "pickle")}


def _fmt(x):
    return "%8.3f" % x if x is not None else "%8s" % "-"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", default=WORKER_PATH,
                        help="worker.py to time (default: this checkout's)")
    parser.add_argument("-n", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    worker = load_worker(args.worker)
    print("Python %s; seconds, median of %d (dumps + loads = total)"
          % (sys.version.split()[0], args.repeat))
    print("%-30s %8s %8s %8s | %8s %8s %8s | %7s | %8s"
          % ("shape", "ours d", "ours l", "total", "execnet d", "l",
             "total", "speedup", "pickle"))
    rows = shapes(args.n)
    rows.insert(1, ("dicts, dumps/loads_internal", rows[0][1]))
    for name, values in rows:
        impls = _impls(worker, internal="internal" in name)
        r = measure(impls, values, args.repeat)
        ours = r["execdeck"]
        theirs = r.get("execnet")
        total = ours[0] + ours[1]
        if theirs is None:
            theirs_cols = (None, None, None)
            speedup = "-"
        else:
            theirs_cols = (theirs[0], theirs[1], theirs[0] + theirs[1])
            speedup = "%6.2fx" % (theirs_cols[2] / total)
        print("%-30s %s %s %s | %s %s %s | %7s | %s"
              % ((name, _fmt(ours[0]), _fmt(ours[1]), _fmt(total))
                 + tuple(_fmt(x) for x in theirs_cols)
                 + (speedup, _fmt(sum(r["pickle"])))))


if __name__ == "__main__":
    main()
