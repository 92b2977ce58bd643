"""Corpus of values for checking execdeck's serializer against real execnet.

Used by tests/execnet_serializer.rs. Modes (argv[1]):

  dump    print one JSON line per corpus value:
          {"i": index, "hex": execnet dumps() as hex, "desc": describe(value)}
  check   read JSON lines from stdin, each {"hex": ..., } plus one of
          "i" (a corpus index: the bytes must load to that corpus value) or
          "int" (decimal text: the bytes must load to that int), load the
          bytes with execnet and print one JSON line per input:
          {"n": line number, "ok": bool, "detail": text}
  legacy  print JSON lines {"hex": versioned bytes, "flags": [py2str_as_py3str,
          py3str_as_py2str], "desc": describe(loaded)} or {..., "error": text}
          for hand-written programs, loaded by execnet with those flags

describe() is a canonical text form that the Rust test computes too:
wire order for sets unless sort_sets is true.
"""

import json
import math
import random
import struct
import sys

import execnet.gateway_base as gb


def _f(x):
    return struct.pack(">d", x).hex()


def describe(v, sort_sets=False):
    t = type(v)
    if v is None:
        return "None"
    if t is bool:
        return "True" if v else "False"
    if t is int:
        return "i:" + str(v)
    if t is float:
        return "f:" + _f(v)
    if t is complex:
        return "c:" + _f(v.real) + ":" + _f(v.imag)
    if t is bytes:
        return "y:" + v.hex()
    if t is str:
        return "s:" + v.encode("utf-8").hex()
    if t is list:
        return "[" + ",".join(describe(x, sort_sets) for x in v) + "]"
    if t is tuple:
        return "(" + ",".join(describe(x, sort_sets) for x in v) + ")"
    if t is dict:
        return (
            "{"
            + ",".join(
                describe(k, sort_sets) + "=>" + describe(x, sort_sets)
                for k, x in v.items()
            )
            + "}"
        )
    if t is set or t is frozenset:
        parts = [describe(x, sort_sets) for x in v]
        if sort_sets:
            parts.sort()
        return ("set{" if t is set else "frozenset{") + ",".join(parts) + "}"
    raise TypeError("no description for %r" % (t,))


def scalars():
    ints = [0, 1, -1, 7, -7, 127, 128, 255, 256, 65535, 65536, -65536]
    for b in (31, 32, 53, 62, 63, 64, 65):
        ints += [2**b - 1, 2**b, 2**b + 1]
    ints += [-(2**31), -(2**31) + 1, 10**18, 10**19, 10**100 + 7]
    ints += [2**1000, 2**1000 - 1, 3**500, int("9" * 4000)]
    floats = [
        0.0,
        -0.0,
        1.0,
        -1.5,
        0.1,
        1 / 3,
        math.inf,
        -math.inf,
        math.nan,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        sys.float_info.max,
        -sys.float_info.max,
        1e16,
        1e-5,
        1e22,
        123456789.123,
        math.pi,
        float(2**53),
        float(2**53 + 1),
    ]
    complexes = [
        0j,
        1 + 2j,
        complex(-1.5, -0.0),
        complex(math.inf, math.nan),
        complex(-0.0, -0.0),
        1e300j,
        complex(5e-324, sys.float_info.max),
    ]
    bytess = [
        b"",
        b"\x00",
        b"abc",
        bytes(range(256)),
        b"\xff" * 1000,
        b"\x00" * 10000,
        "é".encode("latin-1"),
    ]
    strs = [
        "",
        "a",
        "hello world",
        "é",
        "日本語テキスト",
        "\U0001F600",
        "\U0010FFFF",
        "\U00010000",
        "e\u0301",
        "Z\u0351\u0307\u0310a\u0308\u0301l\u0303g\u0352o",
        "a\x00b",
        "\x00",
        "\n\r\t",
        "'\"\\",
        "x" * 100000,
        "\u200b\ufeff",
        "\x7f\x80\x9f\xa0",
        "\ud7ff\ue000\ufffd\uffff",
        "mixed \U0001F469\u200d\U0001F4BB and ascii",
        "Ω≈ç√∫˜µ≤≥÷",
        "ﬀ\u0130\u0131ß",
    ]
    return [None, True, False] + ints + floats + complexes + bytess + strs


def hashable_scalars():
    # No two of these are equal in Python (1 == 1.0 == True would merge).
    return [
        None,
        True,
        0,
        -5,
        2**31,
        2**70,
        2.5,
        -0.5,
        1 + 1j,
        "",
        "key",
        "\U0001F600",
        b"",
        b"k",
        (1, "a"),
        (),
        frozenset([3, 4]),
        frozenset(),
    ]


def nested(depth):
    v = "leaf"
    for k in range(depth):
        v = [v] if k % 3 == 0 else ((v, k) if k % 3 == 1 else {k: v})
    return v


def random_value(rng, depth):
    r = rng.random()
    if depth <= 0 or r < 0.45:
        return random_scalar(rng)
    n = rng.randrange(0, 6)
    kind = rng.randrange(5)
    if kind == 0:
        return [random_value(rng, depth - 1) for _ in range(n)]
    if kind == 1:
        return tuple(random_value(rng, depth - 1) for _ in range(n))
    if kind == 2:
        return {random_key(rng): random_value(rng, depth - 1) for _ in range(n)}
    if kind == 3:
        return {random_key(rng) for _ in range(n)}
    return frozenset(random_key(rng) for _ in range(n))


def random_scalar(rng):
    k = rng.randrange(9)
    if k == 0:
        return None
    if k == 1:
        return rng.random() < 0.5
    if k == 2:
        return rng.randrange(-(2**31), 2**31)
    if k == 3:
        return rng.randrange(0, 2 ** rng.randrange(1, 300))
    if k == 4:
        return struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0]
    if k == 5:
        return complex(rng.uniform(-1e9, 1e9), rng.uniform(-1, 1))
    if k == 6:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 20)))
    if k == 7:
        return "".join(chr(rng.choice(_CODEPOINTS)) for _ in range(rng.randrange(0, 12)))
    return rng.choice(hashable_scalars())


_CODEPOINTS = (
    list(range(0, 128))
    + list(range(0xA0, 0x250))
    + list(range(0x300, 0x370))
    + [0x4E2D, 0x6587, 0xFFFD, 0x1F600, 0x1F4A9, 0x10FFFF, 0xE000]
)


def random_key(rng):
    k = rng.randrange(6)
    if k == 0:
        return rng.randrange(-(2**31), 2**40)
    if k == 1:
        return "".join(chr(rng.choice(_CODEPOINTS)) for _ in range(rng.randrange(0, 8)))
    if k == 2:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 8)))
    if k == 3:
        return (rng.randrange(100), "t", (None, rng.random() < 0.5))
    if k == 4:
        return frozenset(rng.randrange(-50, 50) for _ in range(rng.randrange(0, 5)))
    return rng.uniform(-1e6, 1e6)


def corpus():
    values = []
    sc = scalars()
    values += sc
    values += [[], (), {}, set(), frozenset()]
    values += [[x] for x in sc[:40]]
    values += [(x,) for x in sc[40:80]]
    values.append(list(sc))
    values.append(tuple(sc))
    values.append({i: x for i, x in enumerate(sc)})
    hs = hashable_scalars()
    values.append({k: i for i, k in enumerate(hs)})
    values.append(set(hs))
    values.append(frozenset(hs))
    values.append([set(hs), frozenset(hs), {frozenset(hs): set()}])
    values += [{k: [k, i]} for i, k in enumerate(hs)]
    values += [
        [[], [[]], [[], [[]]]],
        ((), ((),), ([], {})),
        {"a": {"b": {"c": {"d": [1, (2, {3: frozenset({4})})]}}}},
        nested(10),
        nested(100),
        [None] * 1000,
        list(range(-5000, 5000)),
        tuple(range(2**31 - 1000, 2**31 + 1000, 7)),
        {str(i): i * i for i in range(2000)},
        {i: str(i) for i in range(-1000, 1000)},
        set(range(1000)),
        frozenset("s%d" % i for i in range(500)),
        {(i, str(i)) for i in range(300)},
        {"nan": math.nan, "inf": [math.inf, -math.inf], "neg0": (-0.0, 0.0)},
        [b"", "", 0, 0.0, False, None, [], (), {}],
        {"execnet": {"numchannels": 3, "numexecuting": 1, "execmodel": "thread"}},
        ("source code\nprint(1)\n", "<remote exec>", None, {"kw": 1}),
        (True, False),
    ]
    rng = random.Random(20240611)
    values += [random_value(rng, 4) for _ in range(150)]
    return values


def legacy_cases():
    def ln(op, payload):
        return op + struct.pack(">i", len(payload)) + payload

    progs = [
        b"G" + struct.pack(">i", 5),
        b"G" + struct.pack(">i", -(2**31)),
        ln(b"I", b"12"),
        ln(b"I", b"-99999999999999999999999"),
        ln(b"H", b"+42"),
        ln(b"H", b"0000000000000000000000000000000000000000012"),
        ln(b"H", b"-0"),
        ln(b"S", "hé\U0001F600".encode()),
        ln(b"M", b"h\xe9llo"),
        ln(b"M", bytes(range(256))),
        ln(b"N", "hé".encode()),
        ln(b"N", b"\xff\xfe"),
        ln(b"M", b"k") + ln(b"N", b"v") + ln(b"S", b"u") + b"@" + struct.pack(">i", 3),
        b"J" + ln(b"M", b"key") + ln(b"N", b"val") + b"P",
        # a list with an unfilled slot, negative and bool indices
        b"K" + struct.pack(">i", 3) + b"F" + struct.pack(">i", -1) + b"RP" + b"RCP",
        # a repeated dict key keeps its place and takes the new value
        b"J" + b"F\x00\x00\x00\x01RP" + b"F\x00\x00\x00\x02RP" + b"F\x00\x00\x00\x01CP",
        # duplicate set members collapse
        b"F\x00\x00\x00\x01F\x00\x00\x00\x02F\x00\x00\x00\x01O\x00\x00\x00\x03",
        # programs execnet rejects too
        b"Z",
        b"F\x00\x00\x00\x01F\x00\x00\x00\x01P",
        b"LF\x00\x00\x00\x01F\x00\x00\x00\x01P",
        b"JK\x00\x00\x00\x00RP",
        b"O\x00\x00\x00\x00O\x00\x00\x00\x01",
        b"K\x00\x00\x00\x02F\x00\x00\x00\x05RP",
        ln(b"N", b"\xff"),
        ln(b"H", b""),
        b"LL",
        b"",
    ]
    out = []
    for prog in progs:
        data = b"\x02" + prog + b"Q"
        for flags in ((False, False), (True, False), (False, True), (True, True)):
            rec = {"hex": data.hex(), "flags": list(flags)}
            try:
                rec["desc"] = describe(gb.loads(data, *flags))
            except Exception as e:  # noqa: BLE001 - any rejection counts
                rec["error"] = "%s: %s" % (type(e).__name__, e)
            out.append(rec)
    return out


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "dump"
    out = sys.stdout
    if mode == "dump":
        for i, v in enumerate(corpus()):
            rec = {"i": i, "hex": gb.dumps(v).hex(), "desc": describe(v)}
            out.write(json.dumps(rec) + "\n")
    elif mode == "check":
        values = corpus()
        for n, line in enumerate(sys.stdin):
            if not line.strip():
                continue
            req = json.loads(line)
            try:
                got = gb.loads(bytes.fromhex(req["hex"]))
            except Exception as e:  # noqa: BLE001
                res = {"ok": False, "detail": "execnet cannot load: %s: %s" % (type(e).__name__, e)}
            else:
                if "i" in req:
                    want = describe(values[req["i"]], sort_sets=True)
                    have = describe(got, sort_sets=True)
                else:
                    want = "i:" + req["int"]
                    have = describe(got)
                ok = want == have
                res = {"ok": ok, "detail": "" if ok else "want %s, have %s" % (want[:300], have[:300])}
            res["n"] = n
            out.write(json.dumps(res) + "\n")
    elif mode == "legacy":
        for rec in legacy_cases():
            out.write(json.dumps(rec) + "\n")
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
