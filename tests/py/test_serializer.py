"""The worker's serializer against execnet's gateway_base, byte for byte."""

import enum
import math
import random
import struct
import time
from collections import OrderedDict

import pytest

from execnet import gateway_base


def corpus():
    big = list(range(1000))
    return [
        None, True, False,
        0, 1, -1, 7, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 63, 2 ** 200,
        0.0, -0.0, 1.5, -2.25e300, 5e-324, float("inf"), float("-inf"),
        1j, complex(-1.5, 2.5), complex(0, -0.0),
        b"", b"abc", bytes(range(256)), b"\x00" * 1000,
        "", "abc", "äöü€", "\U0001f600 emoji", "line\nbreak\x00nul",
        "x" * 100000,
        [], [None], [1, "two", 3.0, [4, [5, [6]]]], big,
        (), (1,), (1, (2, (3,))), ("a", b"b", None, True),
        {}, {"a": 1}, {1: "one", (1, 2): [3], None: {}, b"k": frozenset()},
        {"nested": {"deeper": {"deepest": [1, {2: 3}]}}},
        set(), {1, 2, 3}, {"a", "b"}, {(1, 2), (3, 4)},
        frozenset(), frozenset({1, "x", (2,)}),
        [{"k": (1, 2.0, "three", b"four", None, True, frozenset({5}))}] * 20,
        {i: str(i) for i in range(300)},
    ]


def test_dumps_byte_identical_to_execnet(worker):
    for value in corpus():
        ours = worker.dumps_internal(value)
        theirs = gateway_base.dumps_internal(value)
        assert ours == theirs, value
        assert worker.dumps(value) == gateway_base.dumps(value), value


def test_nan_byte_identical(worker):
    nan = float("nan")
    assert worker.dumps(nan) == gateway_base.dumps(nan)
    assert math.isnan(worker.loads(gateway_base.dumps(nan)))


def test_loads_execnet_bytes(worker):
    for value in corpus():
        assert worker.loads_internal(gateway_base.dumps_internal(value)) == value
        assert worker.loads(gateway_base.dumps(value)) == value


def test_execnet_loads_ours(worker):
    for value in corpus():
        assert gateway_base.loads(worker.dumps(value)) == value


def test_types_survive(worker):
    for value in corpus():
        back = worker.loads(worker.dumps(value))
        assert type(back) is type(value)


@pytest.mark.parametrize("value", [
    -(2 ** 31) - 1, -(2 ** 63), -(2 ** 1000), 2 ** 1000, -12345678901234567890,
])
def test_big_ints_use_longint_both_ways(worker, value):
    data = worker.dumps_internal(value)
    assert data[:1] == b"H"
    text = str(value).encode()
    assert data == b"H" + struct.pack("!i", len(text)) + text + b"Q"
    assert worker.loads_internal(data) == value
    # execnet loads LONGINT too (it only crashes when *dumping* such ints)
    assert gateway_base.loads_internal(data) == value


def test_ints_beyond_str_digit_limit(worker):
    value = -(10 ** 6000) + 7   # more digits than Python 3.11's default limit
    assert worker.loads(worker.dumps(value)) == value


def test_int32_boundaries(worker):
    assert worker.dumps_internal(2 ** 31 - 1)[:1] == b"F"
    assert worker.dumps_internal(-(2 ** 31))[:1] == b"F"
    assert worker.dumps_internal(2 ** 31)[:1] == b"H"
    assert worker.dumps_internal(-(2 ** 31) - 1)[:1] == b"H"


def test_legacy_opcodes(worker):
    i32 = lambda n: struct.pack("!i", n)
    assert worker.loads_internal(b"G" + i32(-5) + b"Q") == -5
    assert worker.loads_internal(b"I" + i32(3) + b"123Q") == 123
    assert worker.loads_internal(b"S" + i32(2) + "é".encode() + b"Q") == "é"
    py2 = b"M" + i32(2) + b"\xe9x" + b"Q"
    assert worker.loads_internal(py2) == "\xe9x"              # default (True, False)
    assert worker.loads_internal(py2, strconfig=(False, False)) == b"\xe9x"
    py3 = b"N" + i32(1) + b"aQ"
    assert worker.loads_internal(py3) == "a"
    assert worker.loads_internal(py3, strconfig=(True, True)) == b"a"
    # public loads() has execnet's defaults: py2 strings stay bytes
    assert worker.loads(b"\x02" + py2) == b"\xe9x"
    assert worker.loads(b"\x02" + py2, py2str_as_py3str=True) == "\xe9x"


def test_version_byte(worker):
    assert worker.dumps(1)[:1] == b"\x02"
    with pytest.raises(worker.LoadError, match="version"):
        worker.loads(b"\x03LQ")
    with pytest.raises(worker.LoadError):
        worker.loads(b"")


class _Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize("value, message", [
    (object(), "can't serialize <class 'object'>"),
    ([0, 1, object()], "can't serialize <class 'object'> at [2]"),
    ([0, 1, {"key": object()}], "can't serialize <class 'object'> at [2]['key']"),
    ({"a": [1, (2, ValueError("x"))]},
     "can't serialize <class 'ValueError'> at ['a'][1][1]"),
    ((1, {3: _Color.RED}), "can't serialize <enum '_Color'> at [1][3]"),
    ({"s": OrderedDict()},
     "can't serialize <class 'collections.OrderedDict'> at ['s']"),
    ([bytearray(b"x")], "can't serialize <class 'bytearray'> at [0]"),
])
def test_dump_error_names_type_and_path(worker, value, message):
    with pytest.raises(worker.DumpError) as excinfo:
        worker.dumps_internal(value)
    assert str(excinfo.value) == message
    with pytest.raises(worker.DumpError):
        worker.dumps(value)


def test_dump_error_in_dict_key_and_set(worker):
    class Key:
        def __hash__(self):
            return 1

        def __repr__(self):
            return "Key()"
    with pytest.raises(worker.DumpError) as excinfo:
        worker.dumps_internal([{Key(): 1}])
    assert str(excinfo.value) == "can't serialize %s at [0]{key Key()}" % (Key,)
    with pytest.raises(worker.DumpError) as excinfo:
        worker.dumps_internal({"s": {Key()}})
    assert str(excinfo.value) == "can't serialize %s at ['s']{item Key()}" % (Key,)


def test_dump_error_strings_and_recursion(worker):
    with pytest.raises(worker.DumpError, match="utf-8"):
        worker.dumps_internal(["\ud800"])
    loop = []
    loop.append(loop)
    with pytest.raises(worker.DumpError, match="nested too deeply"):
        worker.dumps_internal(loop)
    assert issubclass(worker.DumpError, worker.DataFormatError)
    assert issubclass(worker.LoadError, worker.DataFormatError)


I32 = lambda n: struct.pack("!i", n)  # noqa: E731

HOSTILE = [
    b"",                                   # no STOP
    b"L",                                  # no STOP
    b"Q",                                  # empty stack at STOP
    b"LLQ",                                # two items at STOP
    b"Z" + b"Q",                           # unknown opcode
    b"\xffQ",                              # unknown opcode
    b"F\x00\x00",                          # truncated int
    b"D\x00\x00\x00",                      # truncated float
    b"T" + b"\x00" * 10,                   # truncated complex
    b"A" + I32(-1) + b"Q",                 # negative length
    b"A" + I32(2 ** 31 - 1) + b"abcQ",     # absurd length
    b"N" + I32(10) + b"abcQ",              # truncated string
    b"N" + I32(2) + b"\xff\xfeQ",          # bad UTF-8
    b"K" + I32(2 ** 31 - 1) + b"Q",        # absurd list: no allocation
    b"K" + I32(-3) + b"Q",                 # negative list
    b"P" + b"Q",                           # setitem on empty stack
    b"LLLPQ",                              # setitem on a non-container
    b"K" + I32(1) + b"F" + I32(5) + b"LPQ",   # list index out of range
    b"K" + I32(1) + b"LLPQ",               # list index not an int
    b"JK" + I32(0) + b"LPQ",               # unhashable dict key
    b"K" + I32(0) + b"O" + I32(1) + b"Q",  # unhashable set item
    b"L@" + I32(5) + b"Q",                 # tuple of more items than stacked
    b"L@" + I32(-1) + b"Q",                # negative count
    b"H" + I32(5) + b"1e999Q",             # not decimal digits
    b"H" + I32(3) + b"abcQ",
    b"H" + I32(-7) + b"Q",
    b"B" + I32(3) + b"Q",                  # channel without gateway
]


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_bytes_raise_load_error(worker, data):
    start = time.monotonic()
    with pytest.raises(worker.LoadError):
        worker.loads_internal(data)
    with pytest.raises(worker.LoadError):
        worker.loads(b"\x02" + data)
    assert time.monotonic() - start < 5.0  # bounded work, not a speed target


def test_fuzzed_bytes_never_crash(worker):
    rng = random.Random(1234)
    seeds = [worker.dumps_internal(v) for v in corpus()[:40]]
    deadline = time.monotonic() + 20
    for i in range(4000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.4 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif kind < 0.7:
                del data[rng.randrange(len(data) + 1):]
            else:
                pos = rng.randrange(len(data) + 1)
                data[pos:pos] = bytes(rng.randrange(256)
                                      for _ in range(rng.randint(1, 5)))
        try:
            worker.loads_internal(bytes(data))
        except worker.LoadError:
            pass
        assert time.monotonic() < deadline


# -- fast paths: the container dumpers write common scalars inline and keep
# a bounded cache of encoded short strings; _load stores "key, scalar,
# SETITEM" items straight into dicts and lists.  They must not change a byte
# or a result.

class _Str(str):
    pass


def test_scalars_inside_containers_byte_identical(worker):
    values = [
        [2 ** 40, 2 ** 31, -(2 ** 31), 2 ** 31 - 1, 2 ** 200],
        {"a": 2 ** 40, "b": -(2 ** 31), 2 ** 40: "c", "d": 1j, "e": b"x"},
        (2 ** 40, 2 ** 31, 0.5, True, False, None, "s", b"b", 1j),
        {2 ** 40, 7, "x", None, True, 0.25},
        [True, False, None, 0.0, -0.0, float("inf"), "é", b"", 1j, [], {}],
        {"k": True, "l": False, "m": None, "n": 0.5, "o": "v" * 65},
        ["x" * 64, "x" * 65, "€" * 64, "€" * 65],
    ]
    for value in values:
        assert worker.dumps_internal(value) == \
            gateway_base.dumps_internal(value), value
        assert worker.loads(worker.dumps(value)) == value


def test_string_cache_is_bounded(worker):
    worker._str_cache.clear()
    strings = ["s%d" % i for i in range(worker._STR_CACHE_MAX * 2 + 10)]
    for chunk in (strings[:1000], strings, strings[::-1]):
        assert worker.dumps_internal(chunk) == \
            gateway_base.dumps_internal(chunk)
        assert len(worker._str_cache) <= worker._STR_CACHE_MAX
    # long strings are never cached
    worker._str_cache.clear()
    worker.dumps_internal(["y" * (worker._STR_CACHE_CHARS + 1)])
    assert not worker._str_cache
    worker.dumps_internal({"short": 1})
    assert set(worker._str_cache) == {"short"}


@pytest.mark.parametrize("wrap, path", [
    (lambda s: s, ""),
    (lambda s: [s], " at [0]"),
    (lambda s: {"k": s}, " at ['k']"),
    (lambda s: {s: 1}, " at {key 'abc'}"),
    (lambda s: (1, s), " at [1]"),
    (lambda s: {s}, " at {item 'abc'}"),
])
def test_cached_string_does_not_admit_str_subclass(worker, wrap, path):
    # "abc" is in the cache, and _Str("abc") is equal to it with the same
    # hash: the type check must come first
    worker.dumps_internal(["abc", {"abc": "abc"}, ("abc",)])
    assert "abc" in worker._str_cache
    with pytest.raises(worker.DumpError) as excinfo:
        worker.dumps_internal(wrap(_Str("abc")))
    assert str(excinfo.value) == "can't serialize %s%s" % (_Str, path)


def test_string_errors_inside_containers(worker):
    for value, path in ((["\ud800"], "[0]"), ({"k": "\ud800"}, "['k']"),
                        ({"\ud800": 1}, "{key '\\ud800'}"),
                        (("a", "\ud800"), "[1]"),
                        ({"\ud800"}, "{item '\\ud800'}")):
        with pytest.raises(worker.DumpError) as excinfo:
            worker.dumps_internal(value)
        assert str(excinfo.value) == \
            "strings must be utf-8 encodable at " + path


def _n(s):
    b = s.encode()
    return b"N" + I32(len(b)) + b


def _f(n):
    return b"F" + I32(n)


# Programs execnet never writes itself but loads: the shortcut must give
# the same result as execnet's plain stack machine.
ODD_PROGRAMS = [
    # list items out of order
    b"K" + I32(3) + _f(2) + _f(7) + b"P" + _f(0) + _n("a") + b"P"
    + _f(1) + b"LP" + b"Q",
    # int keys in a dict, float value
    b"J" + _f(1) + _n("one") + b"P" + _f(2) + b"D" + struct.pack("!d", 2.5)
    + b"P" + b"Q",
    # a scalar not followed by SETITEM (a tuple's first items)
    b"K" + I32(2) + _f(0) + _f(1) + _n("x") + b"@" + I32(2) + b"P"
    + _f(1) + b"RP" + b"Q",
    # LONGINT and BYTES values
    b"J" + _n("k") + b"H" + I32(3) + b"123" + b"P" + _n("b") + b"A" + I32(2)
    + b"xy" + b"P" + b"Q",
    # duplicate key
    b"J" + _n("k") + _f(5) + b"P" + _n("k") + _f(6) + b"P" + b"Q",
    # items after a nested container
    b"J" + _n("a") + b"J" + _n("b") + b"CP" + b"P" + _n("c") + b"LP" + b"Q",
    # an empty key and an empty value
    b"J" + _n("") + _n("") + b"P" + b"Q",
    # SETITEM into the list under a key that was already on the stack
    b"L" + b"K" + I32(1) + _f(0) + _f(9) + b"P" + b"@" + I32(2) + b"Q",
]


@pytest.mark.parametrize("data", ODD_PROGRAMS)
@pytest.mark.parametrize("strconfig", [(True, False), (False, True)])
def test_odd_programs_load_like_execnet(worker, data, strconfig):
    theirs = gateway_base.loads_internal(data, strconfig=strconfig)
    assert worker.loads_internal(data, strconfig=strconfig) == theirs
    assert worker.loads(b"\x02" + data, *strconfig) == theirs


@pytest.mark.parametrize("data", [
    b"K" + I32(1) + _f(1) + _f(5) + b"PQ",         # index out of range
    b"K" + I32(1) + _n("a") + _f(5) + b"PQ",       # str index into a list
    b"J" + _n("a") + _f(5),                        # truncated before SETITEM
    b"J" + _n("a") + b"F\x00",                     # truncated value
    b"J" + b"N" + I32(9) + b"ab",                  # truncated key
    b"J" + _n("a") + b"N" + I32(-2) + b"PQ",       # negative value length
    b"J" + _n("a") + b"A" + I32(99) + b"PQ",       # value beyond the end
    b"J" + _n("a") + b"H" + I32(2) + b"xyPQ",      # bad LONGINT text
    b"J" + b"N" + I32(2) + b"\xff\xfe" + b"LPQ",   # bad UTF-8 key
    b"L" + _n("a") + b"LPQ",                       # SETITEM on None
])
def test_odd_programs_raise_load_error(worker, data):
    with pytest.raises(worker.LoadError):
        worker.loads_internal(data)


def test_big_bytes_are_copied_once(worker):
    import tracemalloc
    big = b"\x01" * (8 << 20)
    tracemalloc.start()
    try:
        data = worker.dumps(big)   # the join is the only copy
        _, peak = tracemalloc.get_traced_memory()
        assert peak < 1.5 * len(big)
        tracemalloc.reset_peak()
        back = worker.loads(data)  # one slice
        _, peak = tracemalloc.get_traced_memory()
        assert peak < 2.5 * len(big)  # data itself is traced too
    finally:
        tracemalloc.stop()
    assert back == big
