"""Corpus for tests/pyrepr_cpython.rs: what CPython says about many values.

Prints one JSON object per line:

* {"kind": "unicode", ...}: the interpreter's Unicode version and, as
  [start, end] ranges, the code points that str.isprintable() rejects and
  those that are unassigned (category Cn) in that version.
* {"kind": "value", "v": TAGGED, "repr": repr(v), "lit": ..., "pp": {...},
  "pps": {...}}: a value in a type-tagged JSON form, its repr, the repr of
  ast.literal_eval(repr(v)) (null when literal_eval refuses it),
  pprint.pformat(v, width=W, sort_dicts=False) per width W, and, where the
  order is deterministic, pprint.pformat(v, width=W) (sorted dicts).
* {"kind": "floats", "bits": [...], "reprs": [...]}: many more floats,
  by bit pattern, with their reprs.
* {"kind": "source", "src": S, "lit": ...}: repr(ast.literal_eval(S)), or
  null and the exception type name in "exc".

Usage: python3 repr_corpus.py [SEED]
"""

import ast
import json
import math
import pprint
import random
import struct
import sys
import unicodedata
import warnings

warnings.simplefilter("ignore")

SEED = int(sys.argv[1]) if len(sys.argv) > 1 else 20240611
rng = random.Random(SEED)
WIDTHS = (1, 8, 20, 40, 80)


def bits(x):
    return "%016x" % struct.unpack("<Q", struct.pack("<d", x))[0]


def from_bits(n):
    return struct.unpack("<d", struct.pack("<Q", n))[0]


def tag(v):
    if v is None:
        return ["none"]
    if isinstance(v, bool):
        return ["bool", v]
    if isinstance(v, int):
        return ["int", str(v)]
    if isinstance(v, float):
        return ["float", bits(v)]
    if isinstance(v, complex):
        return ["complex", bits(v.real), bits(v.imag)]
    if isinstance(v, str):
        return ["str", [ord(c) for c in v]]
    if isinstance(v, bytes):
        return ["bytes", v.hex()]
    if isinstance(v, dict):
        return ["dict", [[tag(k), tag(x)] for k, x in v.items()]]
    for typ in (list, tuple, set, frozenset):
        if isinstance(v, typ):
            return [typ.__name__, [tag(x) for x in v]]
    raise TypeError(type(v))


def family(v):
    """Which values compare with each other with `<`."""
    if isinstance(v, (bool, int, float)):
        return "num"
    if isinstance(v, (str, bytes)):
        return type(v).__name__
    return None


def deterministic(v, sort_dicts):
    """Whether pprint's order for v does not depend on object addresses."""
    if isinstance(v, (set, frozenset)):
        fams = {family(x) for x in v}
        if len(v) > 1 and (len(fams) != 1 or None in fams):
            return False
        return all(deterministic(x, sort_dicts) for x in v)
    if isinstance(v, dict):
        if sort_dicts and len(v) > 1:
            fams = {family(k) for k in v}
            if len(fams) != 1 or None in fams:
                return False
            if any(isinstance(k, float) and math.isnan(k) for k in v):
                return False
        return all(deterministic(k, sort_dicts) and deterministic(x, sort_dicts) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return all(deterministic(x, sort_dicts) for x in v)
    return True


def literal(src):
    try:
        return repr(ast.literal_eval(src)), None
    except BaseException as e:  # noqa: BLE001 - any refusal counts
        return None, type(e).__name__


def emit(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=True) + "\n")


def emit_value(v):
    r = repr(v)
    lit, _ = literal(r)
    out = {"kind": "value", "v": tag(v), "repr": r, "lit": lit}
    if deterministic(v, False):
        out["pp"] = {str(w): pprint.pformat(v, width=w, sort_dicts=False) for w in WIDTHS}
    if deterministic(v, True):
        out["pps"] = {str(w): pprint.pformat(v, width=w) for w in WIDTHS}
    emit(out)


def ranges(pred):
    out = []
    start = None
    for cp in range(0x110000):
        if pred(cp):
            if start is None:
                start = cp
        elif start is not None:
            out.append([start, cp - 1])
            start = None
    if start is not None:
        out.append([start, 0x10FFFF])
    return out


def is_surrogate(cp):
    return 0xD800 <= cp <= 0xDFFF


# --- Unicode tables -------------------------------------------------------
emit(
    {
        "kind": "unicode",
        "unidata_version": unicodedata.unidata_version,
        "python": sys.version.split()[0],
        "nonprintable": ranges(lambda cp: not is_surrogate(cp) and not chr(cp).isprintable()),
        "unassigned": ranges(lambda cp: unicodedata.category(chr(cp)) == "Cn"),
    }
)

# Code points by category, for random strings.
by_cat = {}
for cp in range(0x110000):
    if is_surrogate(cp):
        continue
    by_cat.setdefault(unicodedata.category(chr(cp)), []).append(cp)

values = []

# --- Scalars ----------------------------------------------------------------
values += [None, True, False]
values += [0, 1, -1, 7, 2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**100, -(10**50), 3**200]
values += [rng.getrandbits(rng.randint(1, 300)) * rng.choice((1, -1)) for _ in range(20)]

INF = float("inf")
NAN = float("nan")
special_floats = [
    0.0, -0.0, 1.0, -1.0, 0.5, 1e16, 1e15, 9999999999999998.0, 1e17, 1e-5, 1e-4, 0.0001, 0.00012,
    123456789012345.6, 1.2345678901234568e16, INF, -INF, NAN, 5e-324, -5e-324, 1.7976931348623157e308,
    2.2250738585072014e-308, 2.225073858507201e-308, 0.1, 0.1 + 0.2, 1 / 3, 2 / 3, 1e22, 1e23, 100.0,
    1e-7, 12345678901234567890.0, 4.35, 0.3, 2.5e-05, 9.999999999999999e-05, 1e300 * 10, 123.456,
    1e-320, 6.02214076e23, 299792458.0, 1234567890123456.8, 999999999999999.9, 0.000123456789,
]
values += special_floats
for _ in range(60):
    values.append(rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30))
for _ in range(200):
    values.append(from_bits(rng.getrandbits(64)))
for _ in range(20):
    values.append(float(rng.randint(-(10**20), 10**20)))
# Doubles with short exact expansions: where shortest-digit ties happen.
for _ in range(300):
    values.append(math.ldexp(rng.getrandbits(53), rng.randint(-12, 30)))

parts = [0.0, -0.0, 1.0, -1.5, INF, -INF, NAN, 1e20, 1e-7, 5e-324, 2.0, 1e16]
for re_ in parts:
    for im in parts:
        values.append(complex(re_, im))
for _ in range(30):
    values.append(complex(from_bits(rng.getrandbits(64)), from_bits(rng.getrandbits(64))))

# --- Strings ---------------------------------------------------------------------
values += ["", "a", "'", '"', "'\"", "it's", 'say "hi"', "\\", "\\'", "a\\nb", "\n\r\t", " ", "  x  "]
values += ["".join(chr(c) for c in range(0, 0x21)), "".join(chr(c) for c in range(0x7E, 0xA2))]
values += [chr(c) for c in range(0, 0x100)]
values += ["é", "中文", "😀", "\u2028", "\u200b", "\ufeff", "\ue000", "\U0010ffff", "\U000e0001", "\u0378"]
values += ["\U0001f600\u0301", "a\u0300", "\u00ad", "\u3000", "\u1680", "\ufffd", "\uffff", "\U000f0000"]
for cat in sorted(by_cat):
    pool = by_cat[cat]
    values.append("".join(chr(rng.choice(pool)) for _ in range(8)))
    for _ in range(3):
        values.append(chr(rng.choice(pool)))
for _ in range(40):
    n = rng.randint(1, 20)
    values.append("".join(chr(rng.choice(by_cat[rng.choice(sorted(by_cat))])) for _ in range(n)))
for _ in range(20):
    values.append("".join(rng.choice("ab'\"\\ \n\t\x00\x7f\xa0é") for _ in range(rng.randint(1, 12))))

# --- Bytes -------------------------------------------------------------------
values += [b"", b"a", b"'", b'"', b"'\"", b"it's", b"\\", bytes(range(256)), bytes(range(0, 256, 7))]
for _ in range(20):
    values.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40))))

# --- Containers ----------------------------------------------------------------
values += [[], (), {}, set(), frozenset(), [1], (1,), (1, 2), [1, 2], {"a": 1}, {1, 2}, frozenset({1})]
values += [frozenset({"a", "b"}), {(1, 2), (3,)}, {None}, {1.5, 2, True}, {NAN, 1.0, 0.5}]
values += [[[[]]], ((),), ([], {}), {"k": [1, {"x": (2, 3)}]}, {(1, "a"): frozenset({b"x"})}]
values += [{1: "a", "b": 2, None: 3, 2.5: 4, (1,): 5, b"x": 6, 1j: 7}]
values += [[INF, -INF, NAN], {"nan": NAN}, (1j, -1j, complex(1, -0.0))]
values += [{frozenset({1, 2}): frozenset({frozenset({3})})}]

# Values that pprint breaks over lines.
words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
values.append(list(range(30)))
values.append({w: list(range(i)) for i, w in enumerate(words)})
values.append([{w: i} for i, w in enumerate(words)])
values.append({w: {"nested": [w * 3, i, (i, w)], "more": {w: i}} for i, w in enumerate(words[:4])})
values.append(tuple(words))
values.append(("only",))
values.append(set(range(40)))
values.append(frozenset(words))
values.append(set(range(100, 0, -3)))
values.append(" ".join(words * 5))
values.append("line one\nline two is longer\r\nthird\x0bfourth\u2028fifth")
values.append([" ".join(words * 3), b"x" * 50, "nospaceatallinthisverylongwordthatgoesonandon"])
values.append(bytes(range(60)))
values.append({"text": " ".join(words * 4), "data": bytes(range(100)), "list": list(range(25))})
values.append([[i] * i for i in range(12)])
values.append({"é" * 10: "ü " * 20, "中": ["文字 " * 8]})
values.append([[[["deep"] * 3] * 3] * 3])
values.append({3: "c", 1: "a", 2: "b", 10: "j", -1: "z"})
values.append({"b": 1, "a": 2, "c": {"z": 1, "y": 2}})
values.append([1.5, 2.25, 1e100, -0.0, NAN, INF] * 3)

for _ in range(40):
    # Random nested values.
    def gen(depth):
        choice = rng.randint(0, 9 if depth < 3 else 4)
        if choice == 0:
            return rng.randint(-1000, 1000)
        if choice == 1:
            return rng.choice(special_floats)
        if choice == 2:
            return "".join(rng.choice("abc 'x\"\n") for _ in range(rng.randint(0, 6)))
        if choice == 3:
            return rng.choice([None, True, False, b"\x00by", 2j])
        if choice == 4:
            return rng.getrandbits(100)
        if choice == 5:
            return [gen(depth + 1) for _ in range(rng.randint(0, 5))]
        if choice == 6:
            return tuple(gen(depth + 1) for _ in range(rng.randint(0, 4)))
        if choice == 7:
            return {rng.choice(words): gen(depth + 1) for _ in range(rng.randint(0, 4))}
        if choice == 8:
            return {rng.randint(0, 50) for _ in range(rng.randint(0, 6))}
        return frozenset(rng.choice(words) for _ in range(rng.randint(0, 4)))

    values.append(gen(0))

for v in values:
    emit_value(v)

# --- Bulk floats: repr only ---------------------------------------------------
bulk = [from_bits(rng.getrandbits(64)) for _ in range(5000)]
bulk += [math.ldexp(rng.getrandbits(rng.randint(1, 53)), rng.randint(-60, 60)) for _ in range(5000)]
bulk += [rng.randint(1, 10**6) / 10 ** rng.randint(0, 20) for _ in range(2000)]
emit({"kind": "floats", "bits": [bits(x) for x in bulk], "reprs": [repr(x) for x in bulk]})

# --- Sources: literal_eval's accepted syntax --------------------------------
sources = [
    "None", "True", "False", "none", "x", "0", "00", "0_0", "01", "0_7", "1_000", "1__0", "1_", "0x_1f",
    "0XfF", "0o17", "0b1010", "0x", "0b", "0o8", "0b2", "0xg", "-9223372036854775808", "9223372036854775808",
    "+5", "-0", "1e5", ".5", "5.", "1_000.5", "1e1_0", "1.e5", "09.5", "00.5", "0e0", "0.0_1", "1.5e400",
    "-0.0", "1E-5", "1e", "1e+", "1._5", "1_.5", "1e_5", ".e5", "inf", "nan", "-inf", "1j", "01j", "1J",
    "1+2j", "-1-2j", "-1j", "-0j", "0-0j", "-0.0-0j", "-0.0+1j", "(-1)-2j", "1e309+1j", "1e400j",
    "1+-2j", "1+2j+3j", "1j+2", "True+1j", "1+2", "--1", "-True", "-(1)", "-(1,)", "1j_", "1_j",
    "1" + "0" * 400 + "+1j", "1" + "0" * 400, "'a'", '"a\'b"', "'''a\nb'''", '"""a"b"""', "''''a'''",
    "'\\n\\x41\\u1234\\U0001F600\\101\\0\\777'", "'\\a\\b\\f\\v\\'\\\"\\\\'", "'\\d'", "'a\\\nb'",
    "'''a\\\nb'''", "r'\\n'", "R'\\''", "r'\\\n'", "u'x'", "U'x'", "'''a\r\nb'''", "'''a\rb'''",
    "'a' 'b' \"c\"", "('a'\n 'b')", "'a' \\\n 'b'", "'\\x4'", "'\\U00110000'", "'a", "'''a''", "'a\nb'",
    "f'a'", "ur'a'", "'a' b'b'", "b'a'", "B\"it's\"", "b'\\x00\\xff\\777\\u1234'", "br'\\n'", "Rb'\\n'",
    "bR'x'", "b'a' b'b'", "b'\\xé'", "b'\\x'", "[1, 2]", "[1, 2,]", "[]", "()", "(1,)", "(1)", "1, 2",
    "1,", "{}", "{'a': 1,}", "{1,}", "set()", "[\n  1,  # one\n  2,\n]", "{1, 1.0, True}",
    "{1: 'a', 1.0: 'b', True: 'c'}", "{-0.0, 0.0}", "{0.0, -0.0}", "{(1,), (1.0,)}", "{1, 2j, 1+0j}",
    "(,)", "[,]", "[1,,2]", "{,}", "{1:}", "{:1}", "{1:1, 2}", "{1, 2:3}", "set([])", "{1:2, **x}",
    "[*a]", "(1)(2)", "[1][0]", "1 2", "{[1]}", "{(1,[2])}", "{{}: 1}", "{{}}", "\n1", "  1", "\t1",
    "# c\n1", "1 # c", "1\n\n", "1 +\\\n 2j", "\\\n1", "[1,\r2]", "\x0c1", "1 \x0c", "\n  1", "1\n2",
    "1 \\\n", "", "   ", "...", "[1, 2, x]", "[1, 2", "(1))", "(1]", "1 if 1 else 2", "not 1",
    "lambda: 1", "1.real", "'a'.upper()", "{'a': [1, (2, {3: {4, 5}})]}", "((((((1))))))",
    "[" * 150 + "]" * 150, "1 + 2j", "- 1", "-\t1", "1 -2j", "set( )", "[1\n,2]", "{\n'a'\n:\n1\n}",
    "0b_1", "0_b1", "0x1_f_f", "0o_7_7", "1_2.3_4e5_6j", "1e-0_5", "0j", "0.j", "0e5j", "1E+5J",
    "-0x10", "+0b1", "- 0o7", "+1.5", "+-1", "1 + +2j", "(1+2j)", "-(1+2j)", "(1+2j)+3j",
]
for src in sources:
    lit, exc = literal(src)
    emit({"kind": "source", "src": src, "lit": lit, "exc": exc})
