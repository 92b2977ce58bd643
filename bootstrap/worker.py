"""execdeck worker: the remote half of an execdeck gateway.

This single file runs inside every remote Python interpreter (3.8 or newer,
standard library only). It speaks execnet 2.x's wire protocol exactly (see
PROTOCOL.md in the execdeck repository), so both execdeck's Rust master and
execnet's own master can drive it.

Three ways to start it
----------------------
1. Bootstrapped by the master (popen, ssh).  The master runs

       python -u [-B] -c "import sys;exec(eval(sys.stdin.readline()))"

   and writes ONE line, ``repr(source) + "\\n"``, where ``source`` is a first
   line ``EXECDECK_BOOT = {'id': 'gw0', 'execmodel': 'thread'}`` followed by
   the text of this file.  Seeing ``EXECDECK_BOOT`` the worker serves the
   protocol on its stdin/stdout.  Before the handshake byte ``b"1"`` it writes
   the marker ``b"\\x00EXECDECK\\x00"``: whatever arrives before the marker
   was printed by something else (a sitecustomize, a login banner), and the
   master can show it instead of failing on a corrupt handshake.  The optional
   key ``'marker': False`` leaves the marker out (needed when an execnet
   forwarder, which expects exactly ``b"1"``, sits in between).
   For popen gateways execdeck's master usually keeps this file in its cache
   directory and sends a short program instead that runs the file's code
   (compiled once, by CPython's pyc cache) in ``__main__`` the same way; if
   that fails, the program asks for the source (see bootstrap/README.md).

2. As a plain script: ``python3 -u worker.py [--id ID] [--execmodel MODEL]
   [--stdout discard|stderr]`` writes just ``b"1"`` and serves the protocol
   on stdin/stdout.  Without ``--stdout``, the environment variable
   ``EXECDECK_STDOUT`` (set by execdeck's master for ``cmd=`` gateways)
   chooses, else ``discard``.

3. Over a socket: ``serve_socket(sock, id=None, execmodel="thread")`` writes
   ``b"1"`` on the connected socket and serves the protocol over it.

In modes 1 and 2 the protocol gets private duplicates of fds 0 and 1; fd 0 is
then pointed at /dev/null.  fd 1 is pointed at fd 2 when execdeck's master
boots the worker, so ``print()`` and ``os.write(1, ...)`` in remote code end
up on the interpreter's stderr, which execdeck's master shows line by line;
for execnet's master, which leaves the worker's stderr on the user's terminal
(pytest-xdist: each worker's pytest report goes to fd 1), fd 1 is pointed at
/dev/null as in execnet's worker.  Boot config key ``'stdout'``:
``'stderr'`` (default) or ``'discard'``; plain script: ``--stdout``, default
``discard``.

Keep this file free of ``from __future__`` imports: in boot mode a line
precedes it.

Debugging: ``EXECDECK_DEBUG=1`` writes trace lines to
``<tempdir>/execdeck-debug-<pid>``, ``EXECDECK_DEBUG=2`` writes them to stderr.
execnet's ``EXECNET_DEBUG`` works as in execnet's worker (``1``: the file
``<tempdir>/execnet-debug-<pid>``, ``2``: stderr lines ``[<pid>] ...``).

Sections of this file: tracing - serializer - protocol IO - threads and
weak references - channels - execution model - gateway (receiver,
executions, shutdown) - start-up.
"""

import _queue
import _thread
import _weakref
import faulthandler
import gc
import io as _io  # loaded at every interpreter's start
import os
import sys
import time

try:  # the C module itself: struct.py only re-exports it (one import less)
    import _struct as struct
except ImportError:
    import struct

_perf_counter = time.perf_counter
_monotonic = time.monotonic
#: The worker's own sleep (a green one under execmodel=gevent/eventlet).
_sleep = time.sleep
#: The real _thread module (``_thread`` is rebound to a green one under
#: execmodel=gevent/eventlet, see _GreenKit.install).
_real_thread = _thread

# threading, queue, weakref, traceback and linecache are not imported at
# start-up (they cost several milliseconds per interpreter): the worker uses
# the C modules below them, and imports the rest only where it needs them.

__all__ = [
    "serve", "serve_stdio", "serve_socket", "main",
    "dumps", "loads", "dumps_internal", "loads_internal",
    "DataFormatError", "DumpError", "LoadError",
    "RemoteError", "TimeoutError", "Channel", "WorkerGateway",
    "ExecModel", "get_execmodel", "ProtocolIO", "Message", "Popen2IO",
]

#: What each trace line written to stderr (``EXECDECK_DEBUG=2``) starts with.
TRACE_PREFIX = "execdeck-trace: "

#: Bytes written right before the handshake byte in boot mode.
BOOT_MARKER = b"\x00EXECDECK\x00"

#: Seconds running executions get to finish after GATEWAY_TERMINATE before
#: the main thread is interrupted (SIGINT); after as long again the process
#: ends with os._exit.
TERMINATE_GRACE = 1.0
#: The same when the protocol stream hit EOF (the master is gone).
EOF_GRACE = 0.5
#: Upper bound for a normal interpreter exit (atexit handlers, non-daemon
#: threads of user code) after serving ended; then os._exit.
EXIT_WATCHDOG = 2.0

#: Sends closer together than this (seconds) are a burst: from the second
#: one on, a flusher thread writes them in batches while the sender goes on
#: (one system call, and one wake-up of the master, for many messages).
#: Sends further apart are written at once by the sending thread.
SEND_BURST = 10e-6
#: Most bytes that wait for the flusher before a sender waits for it.
SEND_PENDING_MAX = 4 << 20

#: Leader/follower reading (WorkerGateway._lf_receive): after an execution
#: that read the stream itself got its item, the receiver thread leaves the
#: reading to it this long (seconds), in case it comes back to receive();
#: and the longest the receiver sleeps while an execution reads.
LEAD_GRACE = 0.002
STANDBY_MAX = 1.0
#: How soon a SIGINT interrupts the main thread while it waits in receive()
#: for an item another thread reads (seconds).
MAIN_WAIT_STEP = 0.05

#: main_thread_only: how long a CHANNEL_EXEC waits for the main thread to
#: finish the previous execution before it is refused (its CLOSE may reach
#: the master a moment before the main thread is free again).
MAIN_THREAD_WAIT = 1.0

#: Text of the CHANNEL_CLOSE_ERROR sent for an execution interrupted by
#: KeyboardInterrupt (execnet's masters do not warn about this text).
INTERRUPT_TEXT = "keyboard-interrupted"
MAIN_THREAD_ONLY_DEADLOCK_TEXT = (
    "concurrent remote_exec would cause deadlock for main_thread_only execmodel"
)


# ---------------------------------------------------------------------------
# Tracing
# ---------------------------------------------------------------------------

_tracing = False  # checked at call sites so that tracing off costs nothing
_trace_lock = _thread.RLock()  # reentrant: gc may run Channel.__del__ here
_trace_outs = ()  # callables taking the words of a line, when tracing
_trace_path = None  # the EXECDECK_DEBUG=1 trace file
_execdeck_tracing = False  # EXECDECK_DEBUG (or the boot config) handled
_execnet_tracing = None  # EXECNET_DEBUG read (once per process)
_execnet_trace_path = None  # the EXECNET_DEBUG=1 trace file


def _trace(*args):
    """Write one trace line (the words ``args``) to every trace output."""
    outs = _trace_outs
    if not outs:
        return
    text = " ".join(map(str, args))
    try:
        with _trace_lock:
            for out in outs:
                out(text)
    except Exception:
        pass  # tracing must never break the worker (e.g. at shutdown)


def _execdeck_line(text):
    """Our own line format: timestamp, pid, words."""
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    return "%s.%06d [%d] %s\n" % (stamp, int((now % 1) * 1e6), os.getpid(),
                                   text)


def _trace_file(name, line):
    """Trace output appending ``line(text)`` to ``<tempdir>/<name>-<pid>``
    (emptied first); returns (output, path)."""
    import tempfile
    path = os.path.join(tempfile.gettempdir(), "%s-%d" % (name, os.getpid()))
    # O_APPEND: if remote code imports execnet, whose gateway_base opens the
    # same execnet-debug-<pid> with "w", both keep writing at the end
    f = open(path, "a", encoding="utf-8", errors="backslashreplace")
    f.truncate(0)

    def out(text):
        f.write(line(text))
        f.flush()
    return out, path


def _trace_stderr(line):
    def out(text):
        os.write(2, line(text).encode("utf-8", "backslashreplace"))
    return out


def setup_tracing(level=None):
    """Configure tracing from ``EXECDECK_DEBUG`` (or the given level) and
    from execnet's ``EXECNET_DEBUG``; each is set up once per process.

    EXECDECK_DEBUG "1" (or any other non-empty value except "0" and "2"):
    append to ``<tempdir>/execdeck-debug-<pid>``; "2": write to fd 2
    (stderr), each line starting with TRACE_PREFIX. Lines carry a timestamp
    and the pid.

    EXECNET_DEBUG as execnet's own worker reads it: "2": lines on stderr,
    each starting with ``[<pid>] ``; any other non-empty value: the file
    ``<tempdir>/execnet-debug-<pid>``, one line per trace with just its
    words. The words are the same in every output.

    Returns the EXECDECK_DEBUG trace file path, or None.
    """
    global _tracing, _trace_outs, _trace_path, _execdeck_tracing
    global _execnet_tracing, _execnet_trace_path
    outs = list(_trace_outs)
    if not _execdeck_tracing:
        if level is None:
            level = os.environ.get("EXECDECK_DEBUG", "")
        if level and level != "0":
            _execdeck_tracing = True
            if level == "2":
                # The prefix lets the master tell trace lines from other stderr.
                outs.append(_trace_stderr(
                    lambda text: TRACE_PREFIX + _execdeck_line(text)))
            else:
                out, _trace_path = _trace_file("execdeck-debug", _execdeck_line)
                outs.append(out)
    if _execnet_tracing is None:
        _execnet_tracing = os.environ.get("EXECNET_DEBUG") or ""
        if _execnet_tracing == "2":
            outs.append(_trace_stderr(
                lambda text: "[%d] %s\n" % (os.getpid(), text)))
        elif _execnet_tracing:
            out, _execnet_trace_path = _trace_file("execnet-debug",
                                                   lambda text: text + "\n")
            outs.append(out)
            if "execnet.gateway_base" not in sys.modules:
                _IMPORT_WATCH.watch("execnet.gateway_base",
                                    _execnet_base_imported,
                                    prepare=_execnet_base_importing)
    _trace_outs = tuple(outs)
    _tracing = bool(outs)
    return _trace_path


# Remote code may import execnet (pytest-xdist's remote side does). With
# EXECNET_DEBUG set, execnet's gateway_base would open execnet-debug-<pid> --
# the worker's own trace file -- with "w" at import and empty it. So while it
# is imported EXECNET_DEBUG is hidden, and afterwards its tracing names are
# pointed at the worker's: ``fn`` is the file, ``trace`` writes there (for
# gateways remote code makes itself).

def _execnet_base_importing(module):
    value = os.environ.pop("EXECNET_DEBUG", None)
    if value is None:
        return None

    def undo():
        os.environ["EXECNET_DEBUG"] = value
    return undo


def _execnet_base_imported(module):
    module.DEBUG = _execnet_tracing
    module.fn = _execnet_trace_path
    module.trace = _trace


# ---------------------------------------------------------------------------
# Serializer (format version 2, see PROTOCOL.md section 3)
# ---------------------------------------------------------------------------


class DataFormatError(Exception):
    """The data can't be serialized or unserialized."""


class DumpError(DataFormatError):
    """A value can't be serialized.

    The message names the type and where inside the value it sits, e.g.
    ``can't serialize <class 'object'> at [2]['key']``.
    """

    def __init__(self, what):
        DataFormatError.__init__(self, what)
        self.what = what
        self.path = []  # innermost first while the error travels outwards

    def _finish(self):
        if self.path:
            self.args = (self.what + " at " + "".join(reversed(self.path)),)
        return self


class LoadError(DataFormatError):
    """Bytes can't be unserialized (corrupt, truncated or hostile data)."""


DUMPFORMAT_VERSION = b"\x02"
INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1

_S_INT = struct.Struct("!i")
_S_OPINT = struct.Struct("!ci")      # opcode + int32 (INT, lengths, counts)
_S_OPFLOAT = struct.Struct("!cd")    # FLOAT
_S_OPCOMPLEX = struct.Struct("!cdd")  # COMPLEX
_S_FLOAT = struct.Struct("!d")
_S_COMPLEX = struct.Struct("!dd")
_pack_opint = _S_OPINT.pack
_pack_opfloat = _S_OPFLOAT.pack
_pack_opcomplex = _S_OPCOMPLEX.pack
_unpack_int = _S_INT.unpack_from
_unpack_float = _S_FLOAT.unpack_from
_unpack_complex = _S_COMPLEX.unpack_from
_unpack_int_op = struct.Struct("!iB").unpack_from    # int32, next opcode
_unpack_float_op = struct.Struct("!dB").unpack_from  # float, next opcode

# Several opcodes in one pack() call: the container dumpers write a whole
# common item with them (one call and one append instead of up to three).
_pack_int_set = struct.Struct("!cic").pack         # F value, P
_pack_float_set = struct.Struct("!cdc").pack       # D value, P
_pack_index_int = struct.Struct("!cicic").pack     # F index, F value, P
_pack_index_float = struct.Struct("!cicdc").pack   # F index, D value, P
_pack_index_const = struct.Struct("!ci2s").pack    # F index, L/R/C + P


def _int_to_ascii(i):
    """Decimal text of any int (not limited by sys.set_int_max_str_digits)."""
    try:
        return b"%d" % i
    except ValueError:
        import decimal
        return str(decimal.Decimal(i)).encode("ascii")


def _ascii_to_int(b):
    """Inverse of _int_to_ascii; only ``-?[0-9]+`` is accepted."""
    digits = b[1:] if b[:1] in (b"-", b"+") else b
    if not digits.isdigit():
        raise LoadError("invalid integer text %r" % bytes(b[:40]))
    try:
        return int(b)
    except ValueError:  # longer than the interpreter's int/str limit
        import decimal
        return int(decimal.Decimal(b.decode("ascii")))


# -- dumping: one function per exact type, each called as f(obj, write) ----
#
# ``write`` appends one bytes object to the output list, which dumps() joins
# once at the end (a big bytes or str value is copied only by that join).
#
# The container dumpers (list, dict, tuple, set) write the common scalars
# (str, int32, None, bool, float) themselves instead of calling a dumper per
# item: the Python function call costs more than writing such an item, and
# most data is made of them.  Everything else, and every edge case (LONGINT,
# string errors), goes through the _DUMPERS table.  The fast paths test
# ``type(x) is T`` exactly like the table does, so subclasses (IntEnum, str
# subclasses, ...) still reach _dump_fail and are refused.

#: Encoded PY3STRING items (opcode, length, UTF-8) of short str values, by
#: value: dict keys and enum-like values repeat, and one dict lookup is much
#: cheaper than encoding and packing.  Bounded: emptied when it reaches
#: _STR_CACHE_MAX entries, so unique strings cost memory only for a while.
#: Looked up only after ``type(s) is str``: a str subclass compares equal to
#: its value and must not be served from here.  Dict operations are atomic,
#: so threads sharing it only ever lose an entry.
_str_cache = {}
_STR_CACHE_MAX = 4096
_STR_CACHE_CHARS = 64   # longer strings are never cached
_cached_str = _str_cache.get  # bound once: the dumpers call it per item


def _dump_fail(obj, w):
    raise DumpError("can't serialize %s" % (type(obj),))


def _dump_none(obj, w):
    w(b"L")


def _dump_bool(obj, w):
    w(b"R" if obj else b"C")


def _dump_int(obj, w):
    if INT32_MIN <= obj <= INT32_MAX:
        w(_pack_opint(b"F", obj))
    else:
        _dump_longint(obj, w)


def _dump_longint(obj, w):
    # LONGINT (decimal text): how execnet writes ints beyond int32
    text = _int_to_ascii(obj)
    w(_pack_opint(b"H", len(text)))
    w(text)


def _dump_float(obj, w):
    w(_pack_opfloat(b"D", obj))


def _dump_complex(obj, w):
    w(_pack_opcomplex(b"T", obj.real, obj.imag))


def _dump_bytes(obj, w):
    n = len(obj)
    if n > INT32_MAX:
        raise DumpError("bytes too long for the wire (%d bytes)" % n)
    w(_pack_opint(b"A", n))
    w(obj)


def _encode_str(obj):
    try:
        b = obj.encode("utf-8")
    except UnicodeEncodeError:
        raise DumpError("strings must be utf-8 encodable") from None
    n = len(b)
    if n > INT32_MAX:
        raise DumpError("string too long for the wire (%d bytes)" % n)
    return _pack_opint(b"N", n), b


def _dump_str(obj, w):
    """Write a str; short ones through (and into) _str_cache."""
    head, b = _encode_str(obj)
    if len(obj) > _STR_CACHE_CHARS:
        w(head)
        w(b)    # not concatenated: a long string is copied once, by the join
        return
    item = head + b
    if len(_str_cache) >= _STR_CACHE_MAX:
        _str_cache.clear()
    _str_cache[obj] = item
    w(item)


def _dump_list(obj, w):
    # wire form: K n, then "F index, item, P" for every item (execnet's)
    n = len(obj)
    if n < 256:  # most lists are short: their header is ready-made
        w(_LIST_HEADS[n])
    elif n > INT32_MAX:
        raise DumpError("list too long for the wire (%d items)" % n)
    else:
        w(_pack_opint(b"K", n))
    get = _dumper_for
    cached = _cached_str
    i = -1  # a counter: cheaper than enumerate() for short lists
    try:
        for item in obj:
            i += 1
            t = type(item)
            if t is int:
                if -2147483648 <= item <= 2147483647:  # int32
                    w(_pack_index_int(b"F", i, b"F", item, b"P"))
                else:
                    w(_pack_opint(b"F", i))
                    _dump_longint(item, w)
                    w(b"P")
            elif t is str:
                w(_pack_opint(b"F", i))
                b = cached(item)
                if b is None:
                    _dump_str(item, w)
                else:
                    w(b)
                w(b"P")
            elif item is None:
                w(_pack_index_const(b"F", i, b"LP"))
            elif t is float:
                w(_pack_index_float(b"F", i, b"D", item, b"P"))
            elif t is bool:
                w(_pack_index_const(b"F", i, b"RP" if item else b"CP"))
            else:
                w(_pack_opint(b"F", i))
                get(t, _dump_fail)(item, w)
                w(b"P")
    except DumpError as e:
        e.path.append("[%d]" % i)
        raise


_LIST_HEADS = tuple(_pack_opint(b"K", n) for n in range(256))


def _short_repr(key):
    try:
        r = repr(key)
    except Exception:
        r = "<%s object>" % type(key).__name__
    return r if len(r) <= 60 else r[:57] + "..."


def _dump_dict(obj, w):
    # wire form: J, then "key, value, P" for every item
    w(b"J")
    get = _dumper_for
    cached = _cached_str
    for key, value in obj.items():
        try:
            b = cached(key) if type(key) is str else None
            if b is None:
                get(type(key), _dump_fail)(key, w)
            else:
                w(b)
        except DumpError as e:
            e.path.append("{key %s}" % _short_repr(key))
            raise
        try:
            t = type(value)
            if t is str:
                b = cached(value)
                if b is None:
                    _dump_str(value, w)
                else:
                    w(b)
                w(b"P")
            elif t is int:
                if -2147483648 <= value <= 2147483647:  # int32
                    w(_pack_int_set(b"F", value, b"P"))
                else:
                    _dump_longint(value, w)
                    w(b"P")
            elif value is None:
                w(b"LP")
            elif t is bool:
                w(b"RP" if value else b"CP")
            elif t is float:
                w(_pack_float_set(b"D", value, b"P"))
            else:
                get(t, _dump_fail)(value, w)
                w(b"P")
        except DumpError as e:
            e.path.append("[%s]" % _short_repr(key))
            raise


def _dump_items(obj, w, op=b"@"):
    """Write the items of a tuple (op @), set (O) or frozenset (E), then op
    and the count.  The tuple dumper itself: tuples are frequent."""
    get = _dumper_for
    cached = _cached_str
    i = -1  # a counter: cheaper than enumerate() for short tuples
    item = None
    try:
        for item in obj:
            i += 1
            t = type(item)
            if t is str:
                b = cached(item)
                if b is None:
                    _dump_str(item, w)
                else:
                    w(b)
            elif t is int:
                if -2147483648 <= item <= 2147483647:  # int32
                    w(_pack_opint(b"F", item))
                else:
                    _dump_longint(item, w)
            elif item is None:
                w(b"L")
            elif t is float:
                w(_pack_opfloat(b"D", item))
            elif t is bool:
                w(b"R" if item else b"C")
            else:
                get(t, _dump_fail)(item, w)
    except DumpError as e:
        e.path.append("[%d]" % i if op == b"@"
                      else "{item %s}" % _short_repr(item))
        raise
    n = len(obj)
    if n > INT32_MAX:
        raise DumpError("%s too long for the wire (%d items)"
                        % ("tuple" if op == b"@" else "set", n))
    w(_pack_opint(op, n))


_dump_tuple = _dump_items


def _dump_set(obj, w):
    _dump_items(obj, w, b"O")


def _dump_frozenset(obj, w):
    _dump_items(obj, w, b"E")


def _dump_channel(obj, w):
    w(_pack_opint(b"B", obj.id))


# Exact types only, like execnet: subclasses (IntEnum, OrderedDict, ...) are
# refused so that the other side never gets a silently different type.
_DUMPERS = {
    type(None): _dump_none,
    bool: _dump_bool,
    int: _dump_int,
    float: _dump_float,
    complex: _dump_complex,
    bytes: _dump_bytes,
    str: _dump_str,
    list: _dump_list,
    dict: _dump_dict,
    tuple: _dump_tuple,
    set: _dump_set,
    frozenset: _dump_frozenset,
}
_dumper_for = _DUMPERS.get  # bound once: the dumpers call it per item


def _dump_error(e):
    """The DumpError to raise for an exception that ended a dump."""
    if isinstance(e, RecursionError):
        return DumpError("can't serialize: value nested too deeply "
                         "(or contains itself)")
    return e._finish()


# dumps() and dumps_internal() repeat these few lines rather than sharing a
# helper: for small values the extra call would be a noticeable part of the
# cost.

def dumps_internal(obj):
    """Serialize ``obj`` for a message payload (no version byte)."""
    parts = []
    try:
        _dumper_for(type(obj), _dump_fail)(obj, parts.append)
    except (DumpError, RecursionError) as e:
        raise _dump_error(e) from None
    parts.append(b"Q")
    return b"".join(parts)


def dumps(obj):
    """Serialize ``obj``: version byte, program, STOP."""
    parts = [DUMPFORMAT_VERSION]  # joined once with the rest, not prepended
    try:
        _dumper_for(type(obj), _dump_fail)(obj, parts.append)
    except (DumpError, RecursionError) as e:
        raise _dump_error(e) from None
    parts.append(b"Q")
    return b"".join(parts)


# -- loading: _load runs the stack program; the frequent opcodes are inline,
# the rare ones go through a 256-entry dispatch list of loaders
# f(data, pos, stack, ctx) returning the new position; ctx =
# (py2str_as_py3str, py3str_as_py2str, gateway or None).

def _take(data, pos):
    """Read an int32 length at pos; return (start, end) of the bytes."""
    n = _unpack_int(data, pos)[0]
    start = pos + 4
    end = start + n
    if n < 0 or end > len(data):
        raise LoadError("bad length %d at offset %d (data has %d bytes)"
                        % (n, pos, len(data)))
    return start, end


def _load_int(data, pos, stack, ctx):
    stack.append(_unpack_int(data, pos)[0])
    return pos + 4


def _load_longint(data, pos, stack, ctx):
    start, end = _take(data, pos)
    stack.append(_ascii_to_int(data[start:end]))
    return end


def _load_complex(data, pos, stack, ctx):
    re_, im = _unpack_complex(data, pos)
    stack.append(complex(re_, im))
    return pos + 16


def _load_py2string(data, pos, stack, ctx):
    start, end = _take(data, pos)
    b = data[start:end]
    stack.append(b.decode("latin-1") if ctx[0] else b)
    return end


def _load_unicode(data, pos, stack, ctx):
    start, end = _take(data, pos)
    stack.append(data[start:end].decode("utf-8"))
    return end


def _load_channel(data, pos, stack, ctx):
    chid = _unpack_int(data, pos)[0]
    gateway = ctx[2]
    if gateway is None:
        raise LoadError("channel %d in data but no gateway to attach it" % chid)
    stack.append(gateway._channelfactory.new(chid))
    return pos + 4


# The opcodes that _load does not handle inline (rare or legacy ones).
_LOADERS = [None] * 256
for _op, _fn in (
        (b"B", _load_channel), (b"G", _load_int), (b"H", _load_longint),
        (b"I", _load_longint), (b"M", _load_py2string),
        (b"S", _load_unicode), (b"T", _load_complex)):
    _LOADERS[_op[0]] = _fn
del _op, _fn


def _load(data, pos, py2str_as_py3str, py3str_as_py2str, gateway):
    """Run the stack program in data from pos; return the single result.

    The loop runs once per opcode, so its cost is the cost of loading: the
    frequent opcodes are handled inline, most frequent first (a comparison
    is much cheaper than a function call), all others through the _LOADERS
    dispatch list.  On top of that, the items of dicts and lists take a
    shortcut (see below).
    """
    stack = []
    append = stack.append
    pop = stack.pop
    unpack_int = _unpack_int
    unpack_float = _unpack_float
    unpack_int_op = _unpack_int_op
    unpack_float_op = _unpack_float_op
    decode_str = not py3str_as_py2str
    end = len(data)
    try:
        while True:
            op = data[pos]
            pos += 1
            if op == 70:    # F: INT
                append(unpack_int(data, pos)[0])
                pos += 4
            elif op == 80 or op == 74 or op == 75:
                if op == 80:    # P: SETITEM; only dicts and lists support it
                    value = pop()
                    key = pop()
                    container = stack[-1]
                    container[key] = value
                elif op == 74:  # J: NEWDICT
                    container = {}
                    append(container)
                else:           # K: NEWLIST
                    n = unpack_int(data, pos)[0]
                    pos += 4
                    # every element costs at least one byte of input: refuse
                    # absurd counts before allocating anything
                    if n < 0 or n > end - pos:
                        raise LoadError("bad list length %d" % n)
                    container = [None] * n
                    append(container)
                # Shortcut for the items of the dict or list on top of the
                # stack (new, or just given an item by SETITEM): they mostly
                # come as "key, scalar value, SETITEM" (a str key in a dict,
                # an F index in a list), and such items go straight into the
                # container, without three loop rounds and the pushes and
                # pops.  Whatever it reads and does not store (a key before a
                # container value, a key and value not followed by SETITEM)
                # it pushes, so the loop carries on in exactly the state it
                # would have reached by itself.  On odd data (bad length,
                # truncation) it stops before the item, and the loop reports
                # the error.  ``.decode()`` is UTF-8, and quicker to call
                # than ``.decode("utf-8")``.
                try:
                    while True:
                        keyop = data[pos]
                        if keyop == 78 and decode_str:  # N: str key
                            n = unpack_int(data, pos + 1)[0]
                            start = pos + 5
                            vpos = start + n
                            if n < 0 or vpos > end:
                                break
                            key = data[start:vpos].decode()
                        elif keyop == 70:               # F: int key
                            key = unpack_int(data, pos + 1)[0]
                            vpos = pos + 5
                        else:
                            break
                        op = data[vpos]
                        if op == 70:    # F: INT, read with the next opcode
                            value, op = unpack_int_op(data, vpos + 1)
                            if op != 80:  # P: SETITEM
                                append(key)
                                append(value)
                                pos = vpos + 5
                                break
                            container[key] = value
                            pos = vpos + 6
                            continue
                        elif op == 78 and decode_str:  # N: PY3STRING
                            n = unpack_int(data, vpos + 1)[0]
                            start = vpos + 5
                            stop = start + n
                            if n < 0 or stop > end:
                                break
                            value = data[start:stop].decode()
                        elif op == 76:  # L: NONE
                            value = None
                            stop = vpos + 1
                        elif op == 68:  # D: FLOAT, with the next opcode
                            value, op = unpack_float_op(data, vpos + 1)
                            if op != 80:  # P: SETITEM
                                append(key)
                                append(value)
                                pos = vpos + 9
                                break
                            container[key] = value
                            pos = vpos + 10
                            continue
                        elif op == 82:  # R: TRUE
                            value = True
                            stop = vpos + 1
                        elif op == 67:  # C: FALSE
                            value = False
                            stop = vpos + 1
                        elif op == 72:  # H: LONGINT
                            n = unpack_int(data, vpos + 1)[0]
                            stop = vpos + 5 + n
                            if n < 0 or stop > end:
                                break
                            value = _ascii_to_int(data[vpos + 5:stop])
                        elif op == 65:  # A: BYTES
                            n = unpack_int(data, vpos + 1)[0]
                            stop = vpos + 5 + n
                            if n < 0 or stop > end:
                                break
                            value = data[vpos + 5:stop]  # the one copy
                        else:  # a container or rarer value: the loop's job
                            append(key)
                            pos = vpos
                            break
                        if data[stop] != 80:  # P: SETITEM
                            append(key)
                            append(value)
                            pos = stop
                            break
                        container[key] = value
                        pos = stop + 1
                except (IndexError, struct.error):
                    pass  # truncated data: the loop reports it from pos
            elif op == 81:  # Q: STOP (once, but it ends every program)
                break
            elif op == 78:  # N: PY3STRING
                n = unpack_int(data, pos)[0]
                pos += 4
                stop = pos + n
                if n < 0 or stop > end:
                    raise LoadError("bad string length %d at offset %d"
                                    % (n, pos - 4))
                if decode_str:
                    append(data[pos:stop].decode())  # UTF-8
                else:
                    append(data[pos:stop])
                pos = stop
            elif op == 76:  # L: NONE
                append(None)
            elif op == 68:  # D: FLOAT
                append(unpack_float(data, pos)[0])
                pos += 8
            elif op == 82:  # R: TRUE
                append(True)
            elif op == 67:  # C: FALSE
                append(False)
            elif op == 64 or op == 79 or op == 69:
                # @: BUILDTUPLE, O: SET, E: FROZENSET of the top n items
                n = unpack_int(data, pos)[0]
                pos += 4
                if 0 < n <= len(stack):
                    items = stack[-n:]
                    del stack[-n:]
                elif n == 0:
                    items = ()
                else:
                    raise LoadError("bad item count %d (stack holds %d)"
                                    % (n, len(stack)))
                if op == 64:
                    append(tuple(items))
                elif op == 79:
                    append(set(items))
                else:
                    append(frozenset(items))
            elif op == 65:  # A: BYTES
                n = unpack_int(data, pos)[0]
                pos += 4
                stop = pos + n
                if n < 0 or stop > end:
                    raise LoadError("bad length %d at offset %d (data has %d "
                                    "bytes)" % (n, pos - 4, end))
                append(data[pos:stop])  # the one copy of a big BYTES value
                pos = stop
            else:
                loader = _LOADERS[op]
                if loader is None:
                    raise LoadError("unknown opcode %r - wire protocol "
                                    "corruption?" % bytes((op,)))
                pos = loader(data, pos, stack,
                             (py2str_as_py3str, py3str_as_py2str, gateway))
    except LoadError:
        raise
    except IndexError:
        if pos >= end:
            raise LoadError("didn't get STOP (data truncated)") from None
        raise LoadError("corrupt data at offset %d: not enough items on "
                        "the stack or bad list index" % pos) from None
    except struct.error:
        raise LoadError("data truncated at offset %d" % pos) from None
    except Exception as e:  # unhashable key, bad UTF-8, MemoryError, ...
        raise LoadError("corrupt data at offset %d: %s: %s"
                        % (pos, type(e).__name__, e)) from None
    if len(stack) != 1:
        raise LoadError("internal unserialization error: %d items on the "
                        "stack at STOP" % len(stack))
    return stack[0]


def loads_internal(data, gateway=None, strconfig=None):
    """Unserialize a message payload (no version byte).

    ``gateway`` (a WorkerGateway) is needed for channels inside the data;
    ``strconfig`` is ``(py2str_as_py3str, py3str_as_py2str)``, by default the
    gateway's or ``(True, False)``.
    """
    if strconfig is None:
        strconfig = gateway._strconfig if gateway is not None else (True, False)
    if type(data) is not bytes:
        data = bytes(data)
    return _load(data, 0, strconfig[0], strconfig[1], gateway)


def loads(data, py2str_as_py3str=False, py3str_as_py2str=False):
    """Unserialize bytes written by ``dumps`` (version byte first)."""
    if type(data) is not bytes:
        data = bytes(data)
    if not data or data[0] != 2:  # DUMPFORMAT_VERSION (no slice: faster)
        raise LoadError("wrong dumpformat version %r" % data[:1])
    return _load(data, 1, py2str_as_py3str, py3str_as_py2str, None)


# ---------------------------------------------------------------------------
# Protocol IO: messages over a read-file / write-file pair
# ---------------------------------------------------------------------------

STATUS = 0
RECONFIGURE = 1
GATEWAY_TERMINATE = 2
CHANNEL_EXEC = 3
CHANNEL_DATA = 4
CHANNEL_CLOSE = 5
CHANNEL_CLOSE_ERROR = 6
CHANNEL_LAST_MESSAGE = 7
MESSAGE_NAMES = ("STATUS", "RECONFIGURE", "GATEWAY_TERMINATE", "CHANNEL_EXEC",
                 "CHANNEL_DATA", "CHANNEL_CLOSE", "CHANNEL_CLOSE_ERROR",
                 "CHANNEL_LAST_MESSAGE")
_S_HEADER = struct.Struct("!bii")
_pack_header = _S_HEADER.pack
_unpack_header = _S_HEADER.unpack
_READ_CHUNK = 1 << 20       # payloads above this are read piecewise
_SMALL_WRITE = 1 << 16      # header and payload below this go in one write
_BULK = 1 << 16             # CHANNEL_DATA this large may be one bytes value
_BYTES_OP = b"A"[0]
_STOP_BYTE = b"Q"
_S_OPLEN = struct.Struct("!ci")


class _Decoded:
    """A CHANNEL_DATA payload that was one large bytes value, read straight
    into that value (no copy through the serializer); see read_message."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __len__(self):
        return len(self.value) + 6   # the payload length on the wire


def _load_payload(data, gateway, strconfig):
    """A received CHANNEL_DATA payload's value (see ProtocolIO.read_message)."""
    if type(data) is _Decoded:
        return data.value
    return loads_internal(data, gateway, strconfig)


def bytes_payload_parts(data):
    """The CHANNEL_DATA payload of one bytes value, as parts to write one
    after the other: the same bytes as dumps_internal(data), no copy."""
    return (_S_OPLEN.pack(b"A", len(data)), data, _STOP_BYTE)


def _msgname(code):
    if 0 <= code < len(MESSAGE_NAMES):
        return MESSAGE_NAMES[code]
    return "UNKNOWN(%d)" % code


class _CountingRaw(_io.RawIOBase):
    """A raw reader over ``readinto`` (of fd ``fd``) that counts the bytes
    it read, for ProtocolIO.buffered()."""

    def __init__(self, readinto, fd, close=None):
        self._readinto = readinto
        self._close = close
        self.fd = fd
        self.total = 0

    def close(self):
        if self._close is not None and not self.closed:
            self._close()
        super().close()

    def readable(self):
        return True

    def fileno(self):
        return self.fd

    def readinto(self, buffer):
        n = self._readinto(buffer)
        self.total += n
        return n


class ProtocolError(EOFError):
    """The peer sent something that is not the protocol (unknown message
    code, negative length). The gateway ends as on EOF."""


class ProtocolIO:
    """The protocol byte stream: a binary read file plus a binary write file.

    ``rfile`` needs ``read(n)`` that returns fewer bytes only at EOF (a
    BufferedReader); ``wfile`` needs ``write`` (partial writes are
    completed here) and optionally ``flush``. stdio pipes and sockets both
    come down to such a pair.
    """

    def __init__(self, rfile, wfile, close_write_hook=None, name="io"):
        self._rfile = rfile
        self._wfile = wfile
        self._read = rfile.read
        self._write = wfile.write
        self._flush = getattr(wfile, "flush", None)
        self._close_write_hook = close_write_hook
        self.name = name
        self.write_closed = False
        raw = getattr(rfile, "raw", None)
        #: Over a _CountingRaw the stream can be polled (see buffered()):
        #: the fd to poll, else None.
        self._counted = raw if isinstance(raw, _CountingRaw) else None
        self.poll_fd = raw.fd if self._counted is not None else None
        self._consumed = 0  # bytes of the messages read_message returned

    def buffered(self):
        """Bytes already read from the fd but not yet returned as messages
        (only with ``poll_fd``): while there are none, polling the fd tells
        whether a message is coming."""
        return self._counted.total - self._consumed

    def __repr__(self):
        return "<ProtocolIO %s>" % self.name

    def read(self, n):
        """Read exactly n bytes; EOFError when the stream ends first."""
        if n <= _READ_CHUNK:
            data = self._read(n)
            if len(data) != n:
                raise EOFError("expected %d bytes, got %d" % (n, len(data)))
            return data
        parts = []
        left = n
        while left:
            chunk = self._read(min(left, _READ_CHUNK))
            if not chunk:
                raise EOFError("expected %d bytes, got %d" % (n, n - left))
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def read_message(self):
        """Return (code, channel id, payload bytes) of the next message."""
        header = self._read(9)
        if len(header) != 9:
            raise EOFError("couldn't load message header, expected 9 bytes, "
                           "got %d" % len(header))
        code, chid, n = _unpack_header(header)
        if n < 0:
            raise ProtocolError("negative payload length %d in message code "
                                "%d" % (n, code))
        if code == CHANNEL_DATA and n >= _BULK:
            data = self._read_bulk(n)
        else:
            data = self.read(n) if n else b""
        self._consumed += 9 + n
        return code, chid, data

    def _read_bulk(self, n):
        """A large CHANNEL_DATA payload: when it is one bytes value (BYTES,
        length n-6, data, STOP), the data is read as that value itself."""
        head = self.read(5)
        if head[0] == _BYTES_OP and _S_OPLEN.unpack(head)[1] == n - 6:
            value = self.read(n - 6)
            stop = self.read(1)
            if stop != _STOP_BYTE:
                raise ProtocolError("a CHANNEL_DATA message holding bytes "
                                    "ends with %r, not STOP" % stop)
            return _Decoded(value)
        return head + self.read(n - 5)

    def write(self, data):
        """Write all of data (bytes-like) and flush."""
        n = self._write(data)
        if n is not None and n < len(data):
            view = memoryview(data)[n:]
            while view:
                k = self._write(view)
                if k is None:  # non-blocking file: wait a moment
                    _sleep(0.001)
                    continue
                view = view[k:]
        if self._flush is not None:
            self._flush()

    def write_message(self, code, chid, payload=b""):
        """Write one message; ``payload`` is bytes or a tuple of parts."""
        if type(payload) is tuple:
            self.write(_pack_header(code, chid, sum(map(len, payload))))
            for part in payload:
                self.write(part)
            return
        header = _pack_header(code, chid, len(payload))
        if len(payload) < _SMALL_WRITE:
            self.write(header + payload)
        else:
            self.write(header)
            self.write(payload)

    def close_read(self):
        try:
            self._rfile.close()
        except Exception:
            pass

    def close_write(self):
        if self.write_closed:
            return
        self.write_closed = True
        try:
            self._wfile.close()
        except Exception:
            pass
        if self._close_write_hook is not None:
            try:
                self._close_write_hook()
            except Exception:
                pass


#: What fd 1 of remote code becomes (``stdout=`` of init_popen_io):
#: "stderr" -- a duplicate of fd 2, shown by execdeck's master per gateway;
#: "discard" -- /dev/null, as in execnet's worker (execnet's master leaves
#: the worker's stderr on its own terminal: under pytest-xdist fd 1 carries
#: each worker's whole pytest report).
STDOUT_MODES = ("stderr", "discard")


def init_popen_io(stdout="stderr", execmodel=None):
    """Protect fds 0/1 and return the ProtocolIO over private duplicates.

    fd 0 becomes /dev/null; fd 1 becomes a duplicate of fd 2 (``stdout=
    "stderr"``), so that ``print()`` and ``os.write(1, ...)`` in remote
    code go to stderr, or /dev/null (``"discard"``).
    ``sys.stdin``/``sys.stdout`` are rebound to match (line buffered).
    Under a green ``execmodel`` the protocol files are its cooperative ones.
    """
    import io
    if stdout not in STDOUT_MODES:
        raise ValueError("unknown stdout mode %r (not one of %s)"
                         % (stdout, ", ".join(STDOUT_MODES)))
    proto_in = os.dup(0)    # os.dup gives non-inheritable fds: children of
    proto_out = os.dup(1)   # remote code never hold the protocol pipes
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        if stdout != "stderr":
            raise OSError("discard")
        os.dup2(2, 1)
    except OSError:  # discarded, or no stderr: /dev/null as execnet does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    encoding = getattr(sys.__stderr__, "encoding", None) or "utf-8"

    def text(fd, mode):
        if mode == "r":
            buffered = io.BufferedReader(io.FileIO(fd, "r", closefd=False))
            return io.TextIOWrapper(buffered, encoding=encoding)
        buffered = io.BufferedWriter(io.FileIO(fd, "w", closefd=False))
        return io.TextIOWrapper(buffered, encoding=encoding,
                                errors="backslashreplace",
                                line_buffering=True, write_through=True)

    try:
        sys.stdout.flush()
    except Exception:
        pass
    sys.stdin = text(0, "r")
    sys.stdout = text(1, "w")
    sys.stderr = text(2, "w")
    green = getattr(execmodel, "_green", None)
    if green is not None:
        rfile = green.read_file(proto_in)
        wfile = green.write_file(proto_out)
        _start_hangup_watch(proto_in)
    else:
        fileio = io.FileIO(proto_in, "r")
        rfile = io.BufferedReader(
            _CountingRaw(fileio.readinto, proto_in, fileio.close), 1 << 16)
        wfile = io.FileIO(proto_out, "w")
    return ProtocolIO(rfile, wfile, name="stdio")


_served_all = False  # a gateway's shutdown ended (for the hangup watch)


def _start_hangup_watch(fd):
    """Green models: a real thread that ends the process when the master is
    gone (``fd``, the protocol's read end, hangs up) and the worker has not
    finished shortly after. Under threads the receiver sees the EOF even
    while remote code spins; a greenlet that never yields keeps the
    receiver greenlet from ever running, so this thread takes its place."""
    def watch():
        try:
            import select
            poller = select.poll()
            poller.register(fd, 0)  # HUP/ERR/NVAL only, never data
            while not poller.poll():
                pass
        except Exception:
            return
        time.sleep(EOF_GRACE * 2 + EXIT_WATCHDOG)  # a real sleep: own thread
        if _served_all:
            _hard_exit(0)  # served, but the interpreter's exit is slow
        _log("the master is gone and the worker did not end (remote code"
             " that never yields to the hub?): exiting")
        _hard_exit(1)
    try:
        _real_thread.start_new_thread(watch, ())
    except Exception:
        pass


def socket_io(sock, execmodel=None):
    """Return a ProtocolIO over a connected socket (a cooperative duplicate
    of it under a green ``execmodel``)."""
    import socket
    sock.setblocking(True)
    try:
        # Small frames go out at once (no Nagle delay in round trips).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not TCP (a Unix socket, a socketpair)
    green = getattr(execmodel, "_green", None)
    if green is not None:
        sock = green.green_socket(sock)
        rfile = sock.makefile("rb")
    else:
        rfile = _io.BufferedReader(
            _CountingRaw(sock.recv_into, sock.fileno()), 1 << 16)
    wfile = sock.makefile("wb", buffering=0)

    def shutdown_write():
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    return ProtocolIO(rfile, wfile, close_write_hook=shutdown_write,
                      name="socket")


class Message:
    """execnet-compatible message object.

    execnet's proxy helper (``gateway_io.serve_proxy_io``, run through
    ``remote_exec`` for ``via=`` specs) imports ``Message`` and ``Popen2IO``
    from ``__main__`` when execnet itself is not importable remotely; this
    class and Popen2IO below provide what it uses.
    """

    STATUS = STATUS
    RECONFIGURE = RECONFIGURE
    GATEWAY_TERMINATE = GATEWAY_TERMINATE
    CHANNEL_EXEC = CHANNEL_EXEC
    CHANNEL_DATA = CHANNEL_DATA
    CHANNEL_CLOSE = CHANNEL_CLOSE
    CHANNEL_CLOSE_ERROR = CHANNEL_CLOSE_ERROR
    CHANNEL_LAST_MESSAGE = CHANNEL_LAST_MESSAGE

    def __init__(self, msgcode, channelid=0, data=b""):
        self.msgcode = msgcode
        self.channelid = channelid
        self.data = data

    @staticmethod
    def from_io(io):
        """Read one message from an object with ``read(n)``."""
        try:
            header = io.read(9)
            if not header:
                raise EOFError("empty read")
        except EOFError as e:
            raise EOFError("couldn't load message header, %s" % (e,)) from None
        code, chid, n = _unpack_header(header)
        return Message(code, chid, io.read(n))

    def to_io(self, io):
        """Write this message to an object with ``write(bytes)``."""
        io.write(_pack_header(self.msgcode, self.channelid, len(self.data))
                 + self.data)

    def __repr__(self):
        return "<Message %s channel=%d lendata=%d>" % (
            _msgname(self.msgcode), self.channelid, len(self.data))


class Popen2IO:
    """execnet-compatible IO over a pair of binary files (see Message)."""

    error = (IOError, OSError, EOFError)

    def __init__(self, outfile, infile, execmodel=None):
        self.outfile, self.infile = outfile, infile
        self._read = getattr(infile, "buffer", infile).read
        self._write = getattr(outfile, "buffer", outfile).write
        self.execmodel = execmodel

    def read(self, numbytes):
        parts = []
        left = numbytes
        while left > 0:
            data = self._read(left)
            if not data:
                raise EOFError("expected %d bytes, got %d"
                               % (numbytes, numbytes - left))
            parts.append(data)
            left -= len(data)
        return b"".join(parts)

    def write(self, data):
        self._write(data)
        self.outfile.flush()

    def close_read(self):
        self.infile.close()

    def close_write(self):
        self.outfile.close()


# ---------------------------------------------------------------------------
# Threads, events and weak references on the C modules
# ---------------------------------------------------------------------------


def _main_thread_ident():
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            return threading.main_thread().ident
        except Exception:
            pass
    return _thread.get_ident()


#: The interpreter's main thread: the thread that runs this file, unless
#: threading (already imported) knows better.
_MAIN_IDENT = _main_thread_ident()
_MAIN_NATIVE_ID = (_thread.get_native_id()
                   if hasattr(_thread, "get_native_id")
                   and _MAIN_IDENT == _thread.get_ident() else None)


try:
    from _signal import SIGINT as _SIGINT, default_int_handler as _default_int
    from _signal import getsignal as _getsignal, signal as _setsignal
except ImportError:  # no signals: the main thread never reads the stream
    _SIGINT = _default_int = _setsignal = None
    _getsignal = lambda signum: "none"  # noqa: E731  (never _default_int)

#: While the main thread waits in receive() (see WorkerGateway._lf_receive)
#: SIGINT has the handler below: ``_main_sigint`` notes that one came, and
#: ``_main_waits`` is true while it polls the stream.
_main_sigint = False
_main_waits = False


class _Interrupted(BaseException):
    """A SIGINT interrupted the main thread's wait in receive()."""


def _sigint(signum, frame):
    """SIGINT's handler while the main thread is in receive(): Python's
    default one would raise KeyboardInterrupt anywhere, also between
    reading a message and dispatching it, and the message would be lost.
    This one only interrupts a wait; the KeyboardInterrupt is raised once
    receive() put everything in order."""
    global _main_sigint
    _main_sigint = True
    if _main_waits:
        raise _Interrupted


class _Wakeup:
    """A binary semaphore: ``set`` wakes one ``wait`` (now or later)."""

    __slots__ = ("_lock",)

    def __init__(self):
        self._lock = _thread.allocate_lock()
        self._lock.acquire()

    def set(self):
        try:
            self._lock.release()
        except RuntimeError:  # already set
            pass

    def wait(self, timeout=-1):
        """True when woken, False after ``timeout`` seconds (-1: forever)."""
        return self._lock.acquire(True, timeout)


class _Event:
    """threading.Event (set, clear, is_set, wait) on _thread locks."""

    __slots__ = ("_flag", "_lock", "_waiters")

    def __init__(self):
        self._flag = False
        self._lock = _thread.allocate_lock()
        self._waiters = []

    def is_set(self):
        return self._flag

    def set(self):
        with self._lock:
            self._flag = True
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.release()

    def clear(self):
        with self._lock:
            self._flag = False

    def wait(self, timeout=None):
        """True once set; False when ``timeout`` seconds passed first."""
        with self._lock:
            if self._flag:
                return True
            waiter = _thread.allocate_lock()
            waiter.acquire()
            self._waiters.append(waiter)
        got = False
        try:
            if timeout is None:
                got = waiter.acquire()
            elif timeout > 0:
                got = waiter.acquire(True, timeout)
            else:
                got = waiter.acquire(False)
            return got or self._flag
        finally:
            if not got:  # timed out or interrupted: stop waiting
                with self._lock:
                    try:
                        self._waiters.remove(waiter)
                    except ValueError:
                        pass  # set() released it meanwhile


class _WeakValueDict:
    """What the worker (and remote code looking at
    ``gateway._channelfactory._channels``) uses of
    weakref.WeakValueDictionary."""

    __slots__ = ("_refs",)

    def __init__(self):
        self._refs = {}

    def __setitem__(self, key, value):
        refs = self._refs
        remove = _weakref._remove_dead_weakref  # only if still dead: atomic
        refs[key] = _weakref.ref(value, lambda ref, key=key: remove(refs, key))

    def get(self, key, default=None):
        ref = self._refs.get(key)
        value = None if ref is None else ref()
        return default if value is None else value

    def __getitem__(self, key):
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __delitem__(self, key):
        del self._refs[key]

    def __contains__(self, key):
        return self.get(key) is not None

    def __len__(self):
        return len(self._refs)

    def pop(self, key, *default):
        ref = self._refs.pop(key, None)
        value = None if ref is None else ref()
        if value is not None:
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def items(self):
        return [(k, v) for k, v in [(k, r()) for k, r in list(self._refs.items())]
                if v is not None]

    def keys(self):
        return [k for k, _ in self.items()]

    def values(self):
        return [v for _, v in self.items()]

    def __iter__(self):
        return iter(self.keys())


# ---------------------------------------------------------------------------
# Channels
# ---------------------------------------------------------------------------


class RemoteError(Exception):
    """An error text from the other side (usually a formatted traceback)."""

    def __init__(self, formatted):
        Exception.__init__(self)
        self.formatted = formatted

    def __str__(self):
        return self.formatted

    def __repr__(self):
        return "%s: %s" % (self.__class__.__name__, self.formatted)

    def warn(self):
        if self.formatted != INTERRUPT_TEXT:
            try:
                sys.stderr.write("[%d] Warning: unhandled %r\n"
                                 % (os.getpid(), self))
            except Exception:
                pass


class TimeoutError(IOError):
    """A receive or waitclose timed out."""


#: Default for setcallback's endmarker: no end marker wanted.
NO_ENDMARKER_WANTED = object()
NO_ENDMARKER = NO_ENDMARKER_WANTED
_ENDMARKER = object()  # queue sentinel: nothing more will arrive


class Channel:
    """One end of a channel: send/receive items to/from the other side.

    Life cycle: open -> closed (close() here, or CLOSE/CLOSE_ERROR arrived),
    open -> send-only (CHANNEL_LAST_MESSAGE arrived: nothing more will come,
    but sending is still allowed).
    """

    RemoteError = RemoteError
    TimeoutError = TimeoutError
    _executing = False  # True while the remote_exec owning it runs

    def __init__(self, gateway, id):
        self.gateway = gateway
        self.id = id
        self._items = _queue.SimpleQueue()  # None once a callback is set
        self._closed = False
        self._peer_closed = False  # CLOSE/CLOSE_ERROR arrived (or we failed it)
        self._receiveclosed = _Event()  # nothing more will arrive
        self._remoteerrors = []
        self._strconfig = gateway._channelfactory._strconfig_for(id)

    def _trace(self, *msg):
        self.gateway._trace(self.id, *msg)

    def __repr__(self):
        return "<Channel id=%d %s>" % (self.id,
                                       "closed" if self._closed else "open")

    # -- sending and closing -------------------------------------------------

    def send(self, item):
        """Send item (a builtin value, channels allowed) to the other side.

        IOError (OSError) when this channel is closed or the connection is
        gone; DumpError when the value can't be serialized.
        """
        if self._closed:
            raise IOError("cannot send to %r" % (self,))
        if type(item) is bytes and len(item) >= _BULK:
            # bulk data goes out as it is, not copied into a payload
            self.gateway._send(CHANNEL_DATA, self.id, bytes_payload_parts(item))
            return
        self.gateway._send(CHANNEL_DATA, self.id, dumps_internal(item))

    def close(self, error=None):
        """Close this channel, optionally with an error text for the other
        side (it becomes a RemoteError there).

        The channel of a running remote_exec closes when its code ends and
        can't be closed explicitly (IOError).
        """
        if self._executing:
            raise IOError("cannot explicitly close channel within remote_exec:"
                          " explicit close is not allowed, it closes when the"
                          " code finishes")
        if self._closed:
            return
        # Unlike execnet, a close is also sent when the other side only said
        # LAST_MESSAGE (its callback then gets its end marker) and after the
        # receive side ended (executions report their end after TERMINATE).
        if isinstance(error, RemoteError):
            self._remoteerrors.append(error)
        self._closed = True
        self._receiveclosed.set()
        items = self._items
        if items is not None:
            items.put(_ENDMARKER)
        # Forget the channel before the other side can hear of its close, so
        # a STATUS that follows the CLOSE never counts it.
        self.gateway._channelfactory._no_longer_opened(self.id)
        if not self._peer_closed:
            if error is not None:
                code, data = CHANNEL_CLOSE_ERROR, dumps_internal(str(error))
            else:
                code, data = CHANNEL_CLOSE, b""
            try:
                self.gateway._send(code, self.id, data)
            except OSError:
                pass  # connection gone: closed is closed

    def isclosed(self):
        """True when this channel is closed (it may still hold items)."""
        return self._closed

    def reconfigure(self, py2str_as_py3str=True, py3str_as_py2str=False):
        """Set this channel's string coercion, here and on the other side."""
        self._strconfig = (py2str_as_py3str, py3str_as_py2str)
        self.gateway._send(RECONFIGURE, self.id,
                           dumps_internal(self._strconfig))

    # -- receiving -----------------------------------------------------------

    def _getremoteerror(self):
        try:
            return self._remoteerrors.pop(0)
        except IndexError:
            return self.gateway._error

    def receive(self, timeout=None):
        """Return the next item from the other side.

        channel.TimeoutError after ``timeout`` seconds without an item;
        RemoteError when the other side closed with an error; EOFError when
        the channel is closed and drained (again on every later call).
        """
        items = self._items
        if items is None:
            raise IOError("cannot receive(), channel has receiver callback")
        gateway = self.gateway
        try:
            if gateway._lf_on:
                item = gateway._lf_receive(self.id, items, timeout)
            else:
                item = items.get(timeout=timeout)
        except _queue.Empty:
            raise self.TimeoutError("no item after %r seconds" % (timeout,)) \
                from None
        if item is _ENDMARKER:
            items.put(item)  # for the next receive, and other receivers
            raise self._getremoteerror() or EOFError()
        return item

    def waitclose(self, timeout=None):
        """Wait until nothing more can arrive; re-raise a recorded
        RemoteError; channel.TimeoutError when ``timeout`` passes first."""
        if not self._receiveclosed.is_set():
            self.gateway._lf_kick()  # someone must read while we wait
        if not self._receiveclosed.wait(timeout):
            raise self.TimeoutError("Timeout after %r seconds" % (timeout,))
        error = self._getremoteerror()
        if error:
            raise error

    def __iter__(self):
        return self

    def next(self):
        try:
            return self.receive()
        except EOFError:
            raise StopIteration from None

    __next__ = next

    def setcallback(self, callback, endmarker=NO_ENDMARKER_WANTED):
        """Deliver items to ``callback`` (in the receiver thread) instead of
        the queue: queued items first, in order, then items as they arrive,
        and ``endmarker`` (if given) once when the channel ends.
        receive() raises IOError afterwards.
        """
        gw = self.gateway
        with gw._receivelock:
            items = self._items
            if items is None:
                raise IOError("%r has callback already registered" % (self,))
            self._items = None
            while True:
                try:
                    item = items.get(block=False)
                except _queue.Empty:
                    if not (self._closed or self._receiveclosed.is_set()):
                        gw._channelfactory._callbacks[self.id] = (
                            callback, endmarker, self._strconfig)
                    break
                if item is _ENDMARKER:
                    if endmarker is not NO_ENDMARKER_WANTED:
                        callback(endmarker)
                    break
                callback(item)

    def makefile(self, mode="w", proxyclose=False):
        """A file-like object over this channel: mode 'w' sends each write
        as an item, mode 'r' reads from received str/bytes items."""
        if mode == "w":
            return ChannelFileWrite(self, proxyclose)
        if mode == "r":
            return ChannelFileRead(self, proxyclose)
        raise ValueError("mode %r not available" % (mode,))

    def __del__(self):
        # A dropped channel tells the other side: CLOSE, or LAST_MESSAGE when
        # a callback keeps receiving for it.
        try:
            gateway = self.gateway
            if self._closed:
                for error in self._remoteerrors:
                    if isinstance(error, RemoteError):
                        error.warn()
            elif not self._peer_closed:
                if self._items is None and not self._receiveclosed.is_set():
                    # the callback goes on receiving: "I send nothing more"
                    code = CHANNEL_LAST_MESSAGE
                else:
                    code = CHANNEL_CLOSE
                gateway._send_from_del(code, self.id)
        except Exception:
            pass  # e.g. during interpreter shutdown


_DUMPERS[Channel] = _dump_channel


class ChannelFile:
    def __init__(self, channel, proxyclose=True):
        self.channel = channel
        self._proxyclose = proxyclose

    def isatty(self):
        return False

    def close(self):
        if self._proxyclose:
            self.channel.close()

    def __repr__(self):
        state = "closed" if self.channel.isclosed() else "open"
        return "<ChannelFile %d %s>" % (self.channel.id, state)


class ChannelFileWrite(ChannelFile):
    def write(self, out):
        self.channel.send(out)

    def flush(self):
        pass


class ChannelFileRead(ChannelFile):
    """Reads over received text (or bytes) items."""

    def __init__(self, channel, proxyclose=True):
        ChannelFile.__init__(self, channel, proxyclose)
        self._buffer = None  # leftover of the last item(s), str or bytes

    def read(self, n):
        """Return n characters (fewer at EOF; "" when nothing at all)."""
        parts = [] if self._buffer is None else [self._buffer]
        have = 0 if self._buffer is None else len(self._buffer)
        try:
            while have < n:
                item = self.channel.receive()
                parts.append(item)
                have += len(item)
        except EOFError:
            self.close()
        if not parts:
            return ""
        data = parts[0] if len(parts) == 1 else parts[0][:0].join(parts)
        self._buffer = data[n:]
        return data[:n]

    def readline(self):
        """Return the next line including its newline (less at EOF)."""
        parts = []
        buf = self._buffer
        while True:
            if buf is not None:
                i = buf.find("\n" if isinstance(buf, str) else b"\n")
                if i >= 0:
                    parts.append(buf[:i + 1])
                    self._buffer = buf[i + 1:]
                    break
                parts.append(buf)
            try:
                buf = self.channel.receive()
            except EOFError:
                self._buffer = None
                self.close()
                break
        if not parts:
            return ""
        return parts[0][:0].join(parts)


class ChannelFactory:
    """The gateway's channels by id: creation, and the state changes that
    messages from the other side cause (called in the receiver thread)."""

    def __init__(self, gateway, startcount=2):
        self.gateway = gateway
        self._channels = _WeakValueDict()
        self._callbacks = {}    # id -> (callback, endmarker, strconfig)
        self._strconfigs = {}   # id -> strconfig from RECONFIGURE
        self._lock = _thread.allocate_lock()
        self.count = startcount
        self.finished = False
        self._list = list  # usable during interpreter shutdown

    def _strconfig_for(self, id):
        return self._strconfigs.get(id, self.gateway._strconfig)

    def new(self, id=None):
        """Return the channel ``id`` (a new id of our parity if None)."""
        with self._lock:
            if self.finished:
                raise IOError("connection already closed: %r" % (self.gateway,))
            if id is None:
                id = self.count
                self.count += 2
            channel = self._channels.get(id)
            if channel is None:
                channel = self._channels[id] = Channel(self.gateway, id)
            return channel

    def channels(self):
        return self._list(self._channels.values())

    def _no_longer_opened(self, id):
        self._channels.pop(id, None)
        self._strconfigs.pop(id, None)
        entry = self._callbacks.pop(id, None)
        if entry is not None and entry[1] is not NO_ENDMARKER_WANTED:
            try:
                entry[0](entry[1])
            except Exception as exc:
                self.gateway._trace("exception in endmarker callback", id,
                                    repr(exc))

    def _local_close(self, id, remoteerror=None, sendonly=False):
        channel = self._channels.get(id)
        if channel is None:
            if isinstance(remoteerror, RemoteError):
                remoteerror.warn()
            self._no_longer_opened(id)
            return
        if remoteerror is not None:
            channel._remoteerrors.append(remoteerror)
        items = channel._items
        if items is not None:
            items.put(_ENDMARKER)
        self._no_longer_opened(id)
        if not sendonly:
            channel._closed = True
            channel._peer_closed = True
        channel._receiveclosed.set()

    def _local_receive(self, id, data):
        gw = self.gateway
        entry = self._callbacks.get(id)
        if entry is None:
            channel = self._channels.get(id)
            items = channel._items if channel is not None else None
            if items is None:
                if _tracing:
                    _trace(gw.id, "dropping data for channel", id)
                return
            try:
                item = _load_payload(data, gw, channel._strconfig)
            except LoadError as exc:
                self._channel_failed(id, exc, "LoadError: %s" % (exc,))
                return
            items.put(item)
            return
        callback, _endmarker, strconfig = entry
        try:
            callback(_load_payload(data, gw, strconfig))
        except Exception as exc:
            gw._trace("exception in callback of channel", id, repr(exc))
            self._channel_failed(id, None, gw._geterrortext(exc))

    def _channel_failed(self, id, local_error, text):
        """Close channel id on both sides with an error text."""
        try:
            self.gateway._send(CHANNEL_CLOSE_ERROR, id, dumps_internal(text))
        except OSError:
            pass
        self._local_close(id, local_error)

    def _finished_receiving(self):
        """The connection ended: wake every receiver, end every callback."""
        with self._lock:
            self.finished = True
        for id in self._list(self._channels.keys()):
            self._local_close(id, sendonly=True)
        for id in self._list(self._callbacks):
            self._no_longer_opened(id)


# ---------------------------------------------------------------------------
# Execution model (execnet's ExecModel surface: threads or greenlets)
# ---------------------------------------------------------------------------

#: The models the worker knows. "gevent" and "eventlet" need that library
#: on the remote Python; they are imported only when asked for.
EXECMODELS = ("thread", "main_thread_only", "gevent", "eventlet")


class ExecModelUnavailable(ValueError):
    """A known execution model whose library the remote Python lacks."""


class _Namespace:
    def __init__(self, **attrs):
        self.__dict__.update(attrs)


class _GreenKit:
    """What the worker itself runs on under a green model: the parts of
    ``_thread``, ``_queue`` and ``time.sleep`` it uses, and cooperative
    files for the protocol stream. ``install`` rebinds this module's
    globals to them (nothing is monkey-patched: remote code sees the
    standard library as it is, and the green library through
    ``channel.gateway.execmodel``)."""

    name = None

    def install(self):
        g = globals()
        g["_thread"] = self.thread
        g["_queue"] = self.queue
        g["_sleep"] = self.sleep
        g["_trace_lock"] = self.thread.RLock()


class _GeventKit(_GreenKit):
    name = "gevent"

    def __init__(self):
        import gevent
        import gevent.event
        import gevent.fileobject
        import gevent.lock
        import gevent.queue
        import gevent.thread
        self.gevent = gevent
        self.thread = gevent.thread  # has RLock too
        self.queue = _Namespace(SimpleQueue=gevent.queue.SimpleQueue,
                                Empty=gevent.queue.Empty)
        self.sleep = gevent.sleep
        self.queue_module = gevent.queue
        self.event = gevent.event.Event
        self.rlock = gevent.lock.RLock

    def spawn(self, func, args):
        self.gevent.spawn(func, *args)

    def get_ident(self):
        return self.thread.get_ident()

    def read_file(self, fd):
        from gevent.fileobject import FileObjectPosix
        return FileObjectPosix(fd, "rb", 1 << 16)

    def write_file(self, fd):
        from gevent.fileobject import FileObjectPosix
        return FileObjectPosix(fd, "wb", 0)

    def green_socket(self, sock):
        import gevent.socket
        return gevent.socket.socket(fileno=os.dup(sock.fileno()))

    def fdopen(self, fd, mode, bufsize=1, closefd=True):
        # execnet's choice: the work is done in gevent's thread pool
        from gevent.fileobject import FileObjectThread
        return FileObjectThread(fd, mode, bufsize, closefd=closefd)

    def subprocess(self):
        import gevent.subprocess
        return gevent.subprocess

    def socket(self):
        import gevent.socket
        return gevent.socket


class _EventletKit(_GreenKit):
    name = "eventlet"

    def __init__(self):
        import warnings
        with warnings.catch_warnings():  # "Eventlet is deprecated" (0.36+)
            warnings.simplefilter("ignore")
            import eventlet
            import eventlet.green.thread
            import eventlet.green.threading
            import eventlet.greenio
            import eventlet.queue
        self.eventlet = eventlet
        green_threading = eventlet.green.threading
        thread = eventlet.green.thread
        self.thread = _Namespace(
            start_new_thread=thread.start_new_thread,
            allocate_lock=thread.allocate_lock, get_ident=thread.get_ident,
            RLock=green_threading.RLock, interrupt_main=thread.interrupt_main)
        self.queue = _Namespace(SimpleQueue=eventlet.queue.LightQueue,
                                Empty=eventlet.queue.Empty)
        self.sleep = eventlet.sleep
        self.queue_module = eventlet.queue
        self.event = green_threading.Event
        self.rlock = green_threading.RLock

    def spawn(self, func, args):
        self.eventlet.spawn_n(func, *args)

    def get_ident(self):
        return self.thread.get_ident()

    def read_file(self, fd):
        import io
        return io.BufferedReader(self._raw(fd, "rb"), 1 << 16)

    def write_file(self, fd):
        return self._raw(fd, "wb")

    @staticmethod
    def _raw(fd, mode):
        from eventlet.greenio import GreenPipe
        pipe = GreenPipe(fd, mode, 0)  # unbuffered: eventlet's raw file
        return getattr(pipe, "raw", pipe)

    def green_socket(self, sock):
        from eventlet.greenio import GreenSocket
        import socket
        return GreenSocket(socket.socket(fileno=os.dup(sock.fileno())))

    def fdopen(self, fd, mode, bufsize=1, closefd=True):
        import eventlet.green.os
        return eventlet.green.os.fdopen(fd, mode, bufsize, closefd=closefd)

    def subprocess(self):
        import eventlet.green.subprocess
        return eventlet.green.subprocess

    def socket(self):
        import eventlet.green.socket
        return eventlet.green.socket


_GREEN_KITS = {"gevent": _GeventKit, "eventlet": _EventletKit}


class ExecModel:
    """What remote code finds as ``channel.gateway.execmodel``.

    ``backend`` is "thread" (executions run in the main thread when it is
    free, else in new threads), "main_thread_only" (one execution at a
    time, in the main thread), "gevent" or "eventlet" (the worker's I/O and
    executions run in greenlets of that library: the main greenlet takes an
    execution when it is free, else a new greenlet does). A green model
    imports its library here: ExecModelUnavailable when it cannot.
    """

    def __init__(self, backend="thread"):
        if backend not in EXECMODELS:
            raise ValueError("unknown execmodel %r (execdeck's worker supports"
                             " %s)" % (backend, ", ".join(EXECMODELS)))
        self.backend = backend
        self._green = None
        kit = _GREEN_KITS.get(backend)
        if kit is not None:
            try:
                self._green = kit()
            except ImportError as exc:
                raise ExecModelUnavailable(
                    "execmodel %r is not available on this Python (%s %s):"
                    " %s" % (backend, sys.executable,
                             sys.version.split()[0], exc)) from None

    def __repr__(self):
        return "<ExecModel %r>" % (self.backend,)

    @property
    def queue(self):
        if self._green is not None:
            return self._green.queue_module
        import queue
        return queue

    @property
    def subprocess(self):
        if self._green is not None:
            return self._green.subprocess()
        import subprocess
        return subprocess

    @property
    def socket(self):
        if self._green is not None:
            return self._green.socket()
        import socket
        return socket

    def start(self, func, args=()):
        if self._green is not None:
            self._green.spawn(func, tuple(args))
        else:
            _real_thread.start_new_thread(func, tuple(args))

    def get_ident(self):
        if self._green is not None:
            return self._green.get_ident()
        return _real_thread.get_ident()

    def sleep(self, delay):
        if self._green is not None:
            self._green.sleep(delay)
        else:
            time.sleep(delay)

    def fdopen(self, fd, mode, bufsize=1, closefd=True):
        if self._green is not None:
            return self._green.fdopen(fd, mode, bufsize, closefd)
        if "b" in mode:
            return os.fdopen(fd, mode, bufsize, closefd=closefd)
        return os.fdopen(fd, mode, bufsize, encoding="utf-8", closefd=closefd)

    def Lock(self):
        return self.RLock()  # as execnet: its Lock() is reentrant

    def RLock(self):
        if self._green is not None:
            return self._green.rlock()
        return _real_thread.RLock()  # what threading.RLock() returns

    def Event(self):
        if self._green is not None:
            return self._green.event()
        import threading
        return threading.Event()


def get_execmodel(backend):
    """ExecModel for a name in EXECMODELS or any object with a ``backend``
    attribute (e.g. an execnet ExecModel); ExecModels pass. ValueError for
    an unknown name, ExecModelUnavailable (a ValueError) when its library
    cannot be imported."""
    if isinstance(backend, ExecModel):
        return backend
    return ExecModel(getattr(backend, "backend", backend))


# ---------------------------------------------------------------------------
# The worker gateway: receiver thread, executions, termination
# ---------------------------------------------------------------------------


class _Terminate(Exception):
    """GATEWAY_TERMINATE arrived."""


class _ExecPool:
    """Runs executions: in the serving ("main") thread when it is free,
    otherwise in new threads ("thread" model) or not at all
    ("main_thread_only": the caller gets False and refuses the execution)."""

    def __init__(self, main_thread_only):
        self._lock = _thread.allocate_lock()
        self._mainq = _queue.SimpleQueue()
        self._main_free = True
        self._main_free_event = _Event()  # for main_thread_only
        self._main_free_event.set()
        self._main_only = main_thread_only
        self.main_ident = None          # thread running run_main_loop
        self.main_in_user_code = False  # an execution runs in it right now
        self.active = 0                 # executions not yet finished
        self._inflight = 0              # ... or still sending their close
        self._idle = _Event()
        self._idle.set()
        self.shutting_down = False

    def spawn(self, func, args):
        """Run func(*args) somewhere; False if main_thread_only and busy.

        Only the receiver thread calls this.
        """
        if self._main_only and not self._main_free_event.wait(MAIN_THREAD_WAIT):
            return False
        with self._lock:
            if self._main_free:
                self._main_free = False
                self._main_free_event.clear()
                in_main = True
            elif self._main_only:
                return False
            else:
                in_main = False
            self.active += 1
            self._inflight += 1
            self._idle.clear()
        if in_main:
            self._mainq.put((func, args))
        else:
            # like a daemon thread: the interpreter's exit does not wait for it
            _thread.start_new_thread(self._run, (func, args, False))
        return True

    def _run(self, func, args, in_main):
        try:
            func(*args, self._finished_running if in_main
                 else self._finished_thread)
        finally:
            with self._lock:
                self._inflight -= 1
                if not self._inflight:
                    self._idle.set()

    def _finished_running(self):
        """Called by the execution in the main thread before it sends its
        close: the next execution may go to the main thread."""
        with self._lock:
            self._main_free = True
            self._main_free_event.set()
            self.active -= 1

    def _finished_thread(self):
        with self._lock:
            self.active -= 1

    def run_main_loop(self):
        """Serve executions in the calling thread until shutdown()."""
        self.main_ident = _thread.get_ident()
        mainq = self._mainq
        while True:
            try:
                job = mainq.get()
                if job is None:
                    break
                self._run(job[0], job[1], True)
            except KeyboardInterrupt:
                # an interrupt meant for user code that arrived late
                if self.shutting_down:
                    break

    def shutdown(self):
        with self._lock:
            self.shutting_down = True
            self._main_free = False
        self._mainq.put(None)

    def wait_idle(self, timeout):
        return self._idle.wait(timeout)


class WorkerGateway:
    """The worker side of one connection.

    Remote code reaches it as ``channel.gateway``: ``id``, ``execmodel``,
    ``newchannel()``, ``_trace(*args)``, ``_channelfactory``, ``_send(...)``
    and ``join()`` behave like execnet's.
    """

    def __init__(self, io, id="<worker>", execmodel="thread"):
        self._io = io
        self.id = id
        self.execmodel = get_execmodel(execmodel)
        self._strconfig = (True, False)
        self._channelfactory = ChannelFactory(self, startcount=2)
        self._receivelock = _thread.RLock()
        # reentrant: a Channel.__del__ run by gc right after we acquired it
        # may send a whole message before ours starts (see _send)
        self._sendlock = _thread.RLock()
        self._send_owner = None
        self._deferred = []  # messages from __del__ during our own send
        # bursts of sends are written by a flusher thread (see SEND_BURST)
        self._last_send = 0.0
        self._pending = []        # frames for the flusher, oldest first
        self._pending_bytes = 0
        self._flushing = False    # the flusher owns the write side
        self._flusher = None      # its _Wakeup once started
        self._flush_stop = False
        self._writelock = _thread.allocate_lock()  # held while it writes
        self._room = _Wakeup()    # it took a batch: waiting senders go on
        self._send_error = None
        self._error = None   # EOFError once the connection dropped
        self._pool = _ExecPool(self.execmodel.backend == "main_thread_only")
        self._receiving = False  # the receiver thread runs
        # Leader/follower reading (see _lf_receive); all under _lf_lock.
        self._lf_on = (getattr(io, "poll_fd", None) is not None and
                       self.execmodel.backend in ("thread", "main_thread_only"))
        self._lf_lock = _thread.allocate_lock()
        self._leader = None       # ident of the thread that reads, or None
        self._lf_epoch = 0        # counts the leads of executions
        self._lf_released = 0.0   # when an execution last stopped reading
        self._lf_urgent = False   # nobody reads and someone waits: receiver!
        self._lf_closed = False   # the stream ended (outcome below)
        self._lf_outcome = None   # what ended it, for the receiver thread
        self._lf_followers = 0    # threads waiting in receive() for a leader
        self._lf_waiting = {}     # ... per channel id
        self._lf_excluded = set()  # threads that must not read (runner runs)
        self._rx_ident = None     # the receiver thread
        self._lf_pending = None   # a message an execution read, for it
        self._rx_standby = _Wakeup()  # wakes the receiver thread
        self._rx_deep = False     # it sleeps longer than LEAD_GRACE
        self._poller = None
        self._done = _Event()
        self._exit_process = False
        self._handlers = (self._on_status, self._on_reconfigure,
                          self._on_terminate, self._on_channel_exec,
                          self._on_channel_data, self._on_channel_close,
                          self._on_channel_close_error,
                          self._on_channel_last_message)

    def __repr__(self):
        return "<WorkerGateway id=%r %s, %d active channels>" % (
            self.id, self.execmodel.backend,
            len(self._channelfactory._channels))

    # -- public surface for remote code --------------------------------------

    def _trace(self, *msg):
        if _tracing:
            _trace(self.id, *msg)

    def newchannel(self):
        """Return a new channel (even id) to pass to the other side."""
        return self._channelfactory.new()

    def hasreceiver(self):
        return self._receiving

    def join(self, timeout=None):
        """Wait until the gateway finished shutting down."""
        self._done.wait(timeout)

    @staticmethod
    def _geterrortext(exc):
        return _format_exception(exc, trim=True)

    # -- sending -------------------------------------------------------------

    def _send(self, code, chid=0, data=b""):
        """Write one message (``data`` is bytes or a tuple of parts);
        OSError when the connection is gone."""
        me = _thread.get_ident()
        if self._send_owner == me:
            # re-entered from Channel.__del__ (garbage collection) in the
            # middle of our own write: send after the current message
            self._deferred.append((code, chid, data))
            return
        now = _perf_counter()
        full = False
        with self._sendlock:
            self._send_owner = me
            try:
                if self._send_error is not None:
                    raise IOError("cannot send (already closed?)") \
                        from self._send_error
                burst = now - self._last_send < SEND_BURST
                self._last_send = now
                if self._flushing or (burst and not self._io.write_closed):
                    self._queue(code, chid, data)
                    full = self._pending_bytes > SEND_PENDING_MAX
                else:
                    self._write_now(code, chid, data)
            finally:
                self._send_owner = None
        if full:
            self._wait_for_room()
        if _tracing:
            _trace(self.id, "sent", _msgname(code), "channel=%d" % chid,
                   "len=%d" % (sum(map(len, data)) if type(data) is tuple
                               else len(data)))

    def _write_now(self, code, chid, data):
        """Write a message in this thread (holding _sendlock, not flushing)."""
        # once shutting down, the main thread may get a SIGINT: keep it
        # from interrupting a half-written message (delivered after it)
        oldmask = self._block_sigint() if self._pool.shutting_down else None
        try:
            self._io.write_message(code, chid, data)
            while self._deferred:
                dcode, dchid, ddata = self._deferred.pop(0)
                self._io.write_message(dcode, dchid, ddata)
        except (OSError, ValueError) as exc:
            self._deferred[:] = []
            if _tracing:
                _trace(self.id, "failed to send", _msgname(code), chid,
                       repr(exc))
            raise IOError("cannot send (already closed?)") from exc
        finally:
            if oldmask is not None:
                import _signal as signal  # signal.py would import enum
                signal.pthread_sigmask(signal.SIG_SETMASK, oldmask)

    def _queue(self, code, chid, data):
        """Queue a message for the flusher (holding _sendlock), waking or
        starting it."""
        for code, chid, data in [(code, chid, data)] + self._deferred:
            if type(data) is tuple:
                data = b"".join(data)
            frame = _pack_header(code, chid, len(data)) + data
            self._pending.append(frame)
            self._pending_bytes += len(frame)
        self._deferred[:] = []
        if self._flushing:
            return
        self._flushing = True
        if self._flusher is None:
            self._flusher = _Wakeup()
            _thread.start_new_thread(self._flush_loop, (self._flusher,))
        self._flusher.set()

    def _flush_loop(self, wakeup):
        """Flusher thread: writes queued messages in batches, in order,
        until the queue is empty; then waits for the next burst."""
        while True:
            wakeup.wait()
            if self._flush_stop:
                return
            while True:
                with self._sendlock:
                    batch = self._pending
                    if not batch or self._send_error is not None:
                        self._pending = []
                        self._pending_bytes = 0
                        self._flushing = False
                        break
                    self._pending = []
                    self._pending_bytes = 0
                    self._writelock.acquire()
                self._room.set()
                try:
                    self._io.write(batch[0] if len(batch) == 1
                                   else b"".join(batch))
                except (OSError, ValueError) as exc:
                    self._send_error = exc
                    if _tracing:
                        _trace(self.id, "flusher failed to send", repr(exc))
                finally:
                    self._writelock.release()
            self._room.set()

    def _wait_for_room(self):
        """Wait while more than SEND_PENDING_MAX bytes are queued."""
        while True:
            with self._sendlock:
                if (self._pending_bytes <= SEND_PENDING_MAX
                        or not self._flushing or self._send_error is not None):
                    return
            self._room.wait(0.05)

    @staticmethod
    def _block_sigint():
        """Block SIGINT in the main thread; return the old mask or None."""
        if _thread.get_ident() != _MAIN_IDENT:
            return None
        try:
            import _signal as signal  # signal.py would import enum
            return signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
        except (AttributeError, ImportError, OSError, ValueError):
            return None  # no pthread_sigmask (Windows)

    def _close_write(self):
        """Close the protocol's write side, not in the middle of a message
        (waits a moment for a sender that holds the lock, and writes what
        waits for the flusher first)."""
        got = self._sendlock.acquire(timeout=1.0)
        try:
            if got and self._flushing and self._writelock.acquire(timeout=1.0):
                try:
                    if self._pending and not self._io.write_closed:
                        self._io.write(b"".join(self._pending))
                except (OSError, ValueError):
                    pass
                finally:
                    self._pending = []
                    self._pending_bytes = 0
                    self._writelock.release()
            self._io.close_write()
            self._flush_stop = True
            if self._flusher is not None:
                self._flusher.set()
        finally:
            if got:
                self._sendlock.release()

    def _send_from_del(self, code, chid):
        if self._channelfactory.finished or self._io.write_closed:
            return
        self._send(code, chid)

    # -- receiving -----------------------------------------------------------

    def _receive_loop(self):
        """Receiver thread: dispatch messages until TERMINATE or EOF, then
        shut the gateway down."""
        self._trace("[receiver-thread] RECEIVERTHREAD: starting to run")
        reason = "eof"
        try:
            if self._lf_on:
                self._standby_loop()  # (ends by raising, as the loop below)
            read_one = self._read_one
            while True:
                read_one()
        except _Terminate:
            reason = "terminate"
        except ProtocolError as exc:
            reason = "protocol error"
            self._error = exc
            _log("protocol error: %s; shutting down" % (exc,))
        except EOFError as exc:
            self._error = exc
            self._trace("[receiver-thread] EOF without prior gateway"
                        " termination message")
        except BaseException as exc:
            reason = "receiver error"
            self._error = EOFError("receiver failed: %r" % (exc,))
            _log("receiver failed, shutting down:\n" + _format_exception(exc))
        try:
            self._shutdown(reason)
        except BaseException as exc:  # never leave a process behind
            _log("shutdown failed: %r" % (exc,))
            if self._exit_process:
                _hard_exit(1)
        self._receiving = False

    def _read_one(self):
        """Read one message and dispatch it (by the one thread that reads);
        return its code and channel id."""
        code, chid, data = self._read()
        with self._receivelock:
            self._handlers[code](chid, data)
        return code, chid

    def _read(self):
        """Read one message: (code, channel id, payload)."""
        code, chid, data = self._io.read_message()
        if _tracing:
            _trace(self.id, "received", _msgname(code),
                   "channel=%d" % chid, "len=%d" % len(data))
        if not 0 <= code < len(self._handlers):
            raise ProtocolError("unknown message code %d (channel %d, %d "
                                "bytes)" % (code, chid, len(data)))
        return code, chid, data

    # Leader/follower reading. Handing each item from the receiver thread
    # to the execution waiting for it costs a thread wake-up per message
    # (most of a round trip's time when it wakes an idle CPU). So a thread
    # that waits in receive() while nobody reads reads the stream itself
    # (it leads) until its item is there; its next receive() usually finds
    # the stream free again. Threads that find another reading wait for
    # their item (they follow). The receiver thread reads whenever no
    # execution does: at once when someone waits for a leader, else after
    # LEAD_GRACE. Messages are read and dispatched by one thread at a
    # time, in order, as by the receiver thread alone; a leader dispatches
    # only items and closes for channels without a callback, STATUS and
    # RECONFIGURE, and hands any other message (callbacks, CHANNEL_EXEC,
    # TERMINATE) to the receiver thread together with the reading, so
    # callbacks and executions start where they always did.

    def _lf_receive(self, chid, items, timeout):
        """Channel.receive's wait: the next item of ``items`` (the queue of
        channel ``chid``); _queue.Empty after ``timeout`` seconds."""
        if timeout is not None and timeout <= 0:
            return items.get(timeout=timeout)  # (ValueError when negative)
        try:
            return items.get(False)
        except _queue.Empty:
            pass
        me = _thread.get_ident()
        may_lead = me not in self._lf_excluded
        if me != _MAIN_IDENT or not may_lead:
            return self._lf_wait(chid, items, timeout, me, may_lead, False)
        if _getsignal(_SIGINT) is not _default_int:
            # a handler of the remote code's own may raise anywhere
            return self._lf_wait(chid, items, timeout, me, False, False)
        # The main thread: a SIGINT must not land in the middle of our
        # bookkeeping or of a message. Our handler only notes it, and
        # interrupts just the waits (_Interrupted, see _sigint); it becomes
        # the KeyboardInterrupt of Python's default handler here.
        global _main_sigint
        _setsignal(_SIGINT, _sigint)
        interrupted = False
        try:
            return self._lf_wait(chid, items, timeout, me, True, True)
        except _Interrupted:
            interrupted = True
        finally:
            _setsignal(_SIGINT, _default_int)
            late = _main_sigint and not interrupted
            _main_sigint = False
            if late:  # it came as the item was taken: as if right after
                _thread.interrupt_main()
        raise KeyboardInterrupt

    def _lf_wait(self, chid, items, timeout, me, may_lead, in_main):
        """_lf_receive's loop: lead while nobody reads, else follow."""
        deadline = None if timeout is None else _monotonic() + timeout
        lock = self._lf_lock
        while True:
            with lock:
                lead = (may_lead and self._leader is None
                        and not self._lf_closed)
                if lead:
                    self._leader = me
                    self._lf_epoch += 1
                else:
                    self._lf_followers += 1
                    waiting = self._lf_waiting
                    waiting[chid] = waiting.get(chid, 0) + 1
                    if self._leader is None:  # nobody reads: the receiver
                        self._lf_urgent = True
                        self._rx_standby.set()
            if lead:
                try:
                    self._lead(items, deadline, in_main)
                finally:
                    self._step_down()
                if in_main and _main_sigint:
                    raise _Interrupted  # the item stays for the next receive
            else:
                try:
                    return self._wait_item(items, deadline, in_main)
                finally:
                    with lock:
                        self._lf_followers -= 1
                        if waiting[chid] == 1:
                            del waiting[chid]
                        else:
                            waiting[chid] -= 1
            try:
                return items.get(False)
            except _queue.Empty:
                if deadline is not None and _monotonic() >= deadline:
                    raise

    @staticmethod
    def _wait_item(items, deadline, in_main):
        """A follower's wait for its item. The main thread's wait is not
        interrupted (the item could be lost on the way out): it looks for
        a noted SIGINT every MAIN_WAIT_STEP seconds instead."""
        if not in_main:
            return items.get(timeout=None if deadline is None else
                             max(0.0, deadline - _monotonic()))
        while True:
            if _main_sigint:
                raise _Interrupted  # the item stays for the next receive
            step = MAIN_WAIT_STEP
            if deadline is not None:
                step = min(step, max(0.0, deadline - _monotonic()))
            try:
                return items.get(timeout=step)
            except _queue.Empty:
                if deadline is not None and _monotonic() >= deadline:
                    raise

    def _lead(self, items, deadline, in_main):
        """Read and dispatch messages until ``items`` holds one, the
        deadline passed or the stream ended (or, in the main thread, a
        SIGINT came)."""
        io = self._io
        poll = self._poller
        if poll is None:
            import select
            poller = select.poll()
            poller.register(io.poll_fd, select.POLLIN)
            poll = self._poller = poller.poll
        global _main_waits
        while items.empty():
            if in_main and _main_sigint:
                return
            if not io.buffered():
                if deadline is None:
                    wait = None
                else:
                    left = deadline - _monotonic()
                    if left <= 0:
                        return
                    wait = left * 1000.0 + 1.0
                if in_main:  # a SIGINT interrupts the wait (_sigint)
                    _main_waits = True
                try:
                    ready = poll(wait)
                finally:
                    if in_main:
                        _main_waits = False
                if not ready:
                    continue
            try:
                code, chid, data = self._read()
                if not self._dispatch_as_leader(code, chid, data):
                    with self._lf_lock:  # the receiver reads on from here
                        self._lf_pending = (code, chid, data)
                        self._leader = self._rx_ident
                        self._rx_standby.set()
                    return
            except BaseException as exc:
                with self._lf_lock:
                    self._lf_closed = True
                    self._lf_outcome = exc  # the receiver thread handles it
                return

    def _dispatch_as_leader(self, code, chid, data):
        """Dispatch a message read by an execution; False (nothing done)
        for those the receiver thread dispatches (see above)."""
        if code > CHANNEL_LAST_MESSAGE or code in (GATEWAY_TERMINATE,
                                                   CHANNEL_EXEC):
            return False
        with self._receivelock:
            if code >= CHANNEL_DATA and chid in self._channelfactory._callbacks:
                return False
            self._handlers[code](chid, data)
        return True

    def _step_down(self):
        """An execution stops reading: the receiver takes over at once when
        someone waits for a leader or more messages are buffered (reading
        them while the execution works on its item keeps a stream flowing),
        else after LEAD_GRACE (see _standby_loop)."""
        with self._lf_lock:
            if self._leader != _thread.get_ident():
                return  # handed to the receiver thread
            self._leader = None
            self._lf_released = _monotonic()
            if (self._lf_followers or self._lf_closed
                    or self._io.buffered()):
                self._lf_urgent = True
            if self._lf_urgent or self._rx_deep:
                self._rx_standby.set()

    def _lf_kick(self):
        """A thread is about to wait for something other than its item
        (waitclose, the end of an execution): if nobody reads, the receiver
        thread does so now."""
        if not self._lf_on:
            return
        with self._lf_lock:
            if self._leader is None:
                self._lf_urgent = True
                self._rx_standby.set()

    def _standby_loop(self):
        """The receiver thread's part in leader/follower reading; raises
        what ended the stream."""
        me = self._rx_ident = _thread.get_ident()
        lock = self._lf_lock
        sleep = LEAD_GRACE
        seen = -1
        while True:
            with lock:
                if self._lf_closed:
                    raise self._lf_outcome
                leader = self._leader
                if leader == me:  # handed over by an execution
                    take, wait = True, 0.0
                elif leader is None:
                    idle = _monotonic() - self._lf_released
                    take = self._lf_urgent or idle >= LEAD_GRACE
                    if take:
                        self._leader = me
                        self._lf_urgent = False
                    wait = LEAD_GRACE - idle
                else:
                    take = False
                    # an execution reads: sleep longer while it goes on
                    if self._lf_epoch == seen:
                        sleep = min(sleep * 2, STANDBY_MAX)
                    else:
                        sleep, seen = LEAD_GRACE, self._lf_epoch
                    wait = sleep
                self._rx_deep = wait > LEAD_GRACE
            if take:
                try:
                    self._lead_as_receiver()
                except BaseException as exc:
                    with lock:
                        self._lf_closed = True
                        self._lf_outcome = exc
                        self._leader = None
                    raise
                sleep = LEAD_GRACE
            else:
                self._rx_standby.wait(wait)

    def _lead_as_receiver(self):
        """Read until the one thread waiting in receive() got its item (it
        will likely come back and read itself)."""
        read_one = self._read_one
        lock = self._lf_lock
        io = self._io
        pending, self._lf_pending = self._lf_pending, None
        if pending is not None:  # read by an execution, for us
            code, chid, data = pending
            with self._receivelock:
                self._handlers[code](chid, data)
        while True:
            code, chid = read_one()
            if (code == CHANNEL_DATA and self._lf_followers == 1
                    and chid in self._lf_waiting and not io.buffered()):
                with lock:
                    if self._lf_followers == 1 and chid in self._lf_waiting:
                        self._leader = None
                        self._lf_released = _monotonic()
                        return

    def _on_status(self, chid, data):
        status = {
            "numchannels": len(self._channelfactory._channels),
            "numexecuting": self._pool.active,
            "execmodel": self.execmodel.backend,
        }
        try:
            self._send(CHANNEL_DATA, chid, dumps_internal(status))
            self._send(CHANNEL_CLOSE, chid)
        except OSError:
            pass

    def _on_reconfigure(self, chid, data):
        try:
            config = loads_internal(data, self)
            strconfig = (bool(config[0]), bool(config[1]))
        except Exception as exc:
            _log("ignoring bad RECONFIGURE payload: %s" % (exc,))
            return
        if chid == 0:
            self._strconfig = strconfig
        else:
            factory = self._channelfactory
            factory._strconfigs[chid] = strconfig
            channel = factory._channels.get(chid)
            if channel is not None:
                channel._strconfig = strconfig

    def _on_terminate(self, chid, data):
        raise _Terminate()

    def _on_channel_exec(self, chid, data):
        channel = self._channelfactory.new(chid)
        try:
            # always the default coercion: source, names and kwargs keys
            # must be str whatever RECONFIGURE said (as in execnet)
            task = loads_internal(data, self, (True, False))
            source, file_name, call_name, kwargs = task
        except Exception as exc:
            channel.close("execdeck worker: bad CHANNEL_EXEC payload: %s" % exc)
            return
        if not self._pool.spawn(self._execute, (channel, source, file_name,
                                                call_name, kwargs)):
            channel.close(MAIN_THREAD_ONLY_DEADLOCK_TEXT)

    def _on_channel_data(self, chid, data):
        self._channelfactory._local_receive(chid, data)

    def _on_channel_close(self, chid, data):
        self._channelfactory._local_close(chid)

    def _on_channel_close_error(self, chid, data):
        try:
            text = loads_internal(data, self, (True, False))
        except LoadError as exc:
            text = "undecodable error text: %s" % exc
        self._channelfactory._local_close(chid, RemoteError(str(text)))

    def _on_channel_last_message(self, chid, data):
        self._channelfactory._local_close(chid, sendonly=True)

    # -- executions ----------------------------------------------------------

    def _execute(self, channel, source, file_name, call_name, kwargs,
                 finished_running):
        """Run one CHANNEL_EXEC; close its channel (with the traceback text
        on error). ``finished_running`` is called before the close."""
        filename = file_name or "<remote exec>"
        if isinstance(source, bytes):
            source = source.decode("utf-8")
        if _tracing:   # execnet's words
            _trace(self.id, "execution starts[%d]: %s"
                   % (channel.id, repr(source)[:50]))
        namespace = {"channel": channel, "__name__": "__channelexec__"}
        error = None
        pool = self._pool
        in_main = _thread.get_ident() == pool.main_ident
        channel._executing = True
        try:
            try:
                _register_source(filename, source)
                code = compile(source, filename, "exec")
                if in_main:
                    pool.main_in_user_code = True
                exec(code, namespace)
                if call_name:
                    if _tracing:
                        _trace(self.id, "calling %s(channel, **%r)"
                               % (call_name, kwargs))
                    namespace[call_name](channel, **(kwargs or {}))
            finally:
                if in_main:
                    pool.main_in_user_code = False
                channel._executing = False
        except KeyboardInterrupt:
            error = INTERRUPT_TEXT
        except BaseException as exc:
            if isinstance(exc, EOFError) and self._channelfactory.finished:
                pass  # the connection ended under it: not an error
            else:
                _register_source(filename, source)  # ours, not a rival's
                error = _format_exception(exc, trim=True)
                if _tracing:
                    _trace(self.id, "got exception: %r" % (exc,),
                           "channel=%d" % channel.id)
        # (the namespace is not cleared: threads started by the code may
        # still use its globals)
        del namespace
        finished_running()
        self._lf_kick()
        if _tracing:
            _trace(self.id, "execution finished channel=%d" % channel.id)
        try:
            channel.close(error)
        except Exception:
            pass

    # -- serving and shutdown --------------------------------------------------

    def serve(self, exit_process=False):
        """Serve until the connection ends. Executions run in the calling
        thread (and new threads); messages are read in a receiver thread.

        With ``exit_process`` the process ends when serving is over (the
        calling thread returns so the interpreter can exit normally; a
        watchdog uses os._exit when that takes too long).
        """
        self._exit_process = exit_process
        self._trace("worker gateway serves", repr(self._io),
                    "execmodel=%s" % self.execmodel.backend,
                    "python=%s" % sys.version.split()[0])
        self._receiving = True
        self._trace("[serve] spawning receiver thread")
        # like a daemon thread: the interpreter's exit does not wait for it
        _thread.start_new_thread(self._receive_loop, ())
        self._trace("[serve] integrating as primary thread")
        self._pool.run_main_loop()
        self._trace("main loop ended")
        deadline = time.monotonic() + TERMINATE_GRACE * 2 + 1.0
        while not self._done.is_set() and time.monotonic() < deadline:
            try:
                self._done.wait(deadline - time.monotonic())
            except KeyboardInterrupt:
                pass  # a late interrupt meant for user code
        self._trace("serve() returns")

    def _shutdown(self, reason):
        """Stop everything after TERMINATE/EOF (runs in the receiver)."""
        self._trace("shutdown:", reason)
        pool = self._pool
        if reason != "terminate":
            # the master is gone (or confused): nothing we write is read
            self._close_write()
        self._channelfactory._finished_receiving()
        self._trace("shutting down execution pool")
        pool.shutdown()
        grace = TERMINATE_GRACE if reason == "terminate" else EOF_GRACE
        if not pool.wait_idle(grace):
            self._interrupt_main()
            if not pool.wait_idle(grace):
                self._trace("executions still running after %.1fs" % (grace * 2))
        idle = pool.wait_idle(0)
        self._trace("closing the protocol stream")
        self._close_write()
        self._io.close_read()
        self._done.set()
        global _served_all
        _served_all = True
        if not self._exit_process:
            return
        _flush_std()
        if not idle:
            self._trace("os._exit: executions did not end")
            _hard_exit(0)
        # the serving thread returns and the interpreter exits normally;
        # if that hangs (non-daemon threads, atexit handlers), end it here
        _sleep(EXIT_WATCHDOG)
        self._trace("os._exit: interpreter exit took too long")
        _hard_exit(0)

    def _interrupt_main(self):
        """KeyboardInterrupt into an execution running in the main thread."""
        pool = self._pool
        main = _MAIN_IDENT
        if pool.main_ident != main or not pool.main_in_user_code:
            return
        self._trace("interrupting the main thread")
        try:
            import _signal as signal  # signal.py would import enum
            handler = signal.getsignal(signal.SIGINT)
            if hasattr(signal, "pthread_kill") and callable(handler):
                # a real signal also wakes blocking calls such as sleep()
                self._trace("sending ourselves a SIGINT")
                signal.pthread_kill(main, signal.SIGINT)
            else:
                self._trace("calling interrupt_main()")
                _thread.interrupt_main()
        except Exception as exc:
            self._trace("interrupt failed", repr(exc))


def _format_exception(exc, trim=False):
    """Formatted traceback text of exc (``Traceback (most recent call
    last): ...``).

    With ``trim``, the frames of our own code -- this worker and
    bootstrap/runner.py -- are left out wherever they are (above the remote
    code, or below it when it called into the worker, e.g. ``send`` raising
    DumpError), also in chained exceptions: what remains reads as CPython's
    traceback of the remote code alone. The header stays even when no frame
    is left (a SyntaxError of the remote source).
    """
    import traceback
    try:
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        if not trim:
            return "".join(te.format())
        had_frames = bool(te.stack)
        _hide_our_frames(te, exc, _our_namespaces(), set())
        lines = list(te.format())
        if had_frames and not te.stack:
            # te.format() ends with the outermost exception's own lines
            own = len(list(te.format(chain=False)))
            lines.insert(len(lines) - own,
                         "Traceback (most recent call last):\n")
        return "".join(lines)
    except Exception:
        return "%s: %s" % (type(exc).__name__, exc)


_OWN_FILENAME = _format_exception.__code__.co_filename
_OWN_GLOBALS = globals()


def _our_namespaces():
    """The global namespaces whose frames are ours: this worker's (with
    its code's file name, which varies: ``<string>`` or a cached file) and
    that of bootstrap/runner.py's shared state, if a run made it."""
    ours = [(_OWN_GLOBALS, _OWN_FILENAME)]
    state = getattr(sys.modules.get("_execdeck_runner"), "state", None)
    run = getattr(type(state), "run", None)
    runner_globals = getattr(run, "__globals__", None)
    if runner_globals is not None:
        ours.append((runner_globals, run.__code__.co_filename))
    return ours


def _hide_our_frames(te, exc, ours, seen):
    """Remove the frames of ``ours`` from the TracebackException ``te`` of
    ``exc`` and from its causes, contexts and grouped exceptions."""
    if te is None or exc is None or id(te) in seen:
        return
    seen.add(id(te))
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    stack = te.stack
    if len(frames) == len(stack):   # else sys.tracebacklimit cut it: leave it
        for i in range(len(frames) - 1, -1, -1):
            frame = frames[i]
            for namespace, filename in ours:
                if (frame.f_globals is namespace
                        and frame.f_code.co_filename == filename):
                    del stack[i]
                    break
    _hide_our_frames(te.__cause__, exc.__cause__, ours, seen)
    _hide_our_frames(te.__context__, exc.__context__, ours, seen)
    for sub_te, sub in zip(getattr(te, "exceptions", None) or (),
                           getattr(exc, "exceptions", None) or ()):
        _hide_our_frames(sub_te, sub, ours, seen)


def _register_source(filename, source):
    """Make linecache return ``source`` for ``filename`` so that tracebacks
    (and ``inspect.getsource``) show the lines of remote_exec code.

    linecache (with tokenize and re, milliseconds to import) is not imported
    for this: until something imports it, the sources wait in
    ``_pending_sources`` and the import watch hands them over the moment it
    is imported.
    """
    _pending_sources[filename] = source
    linecache = sys.modules.get("linecache")
    if linecache is None:
        _IMPORT_WATCH.watch("linecache", _flush_sources)
    elif getattr(linecache, "cache", None) is not None:
        _flush_sources(linecache)
    # else: linecache is being imported right now; the watch flushes after


_pending_sources = {}  # filename -> source, for linecache


def _flush_sources(linecache):
    cache = linecache.cache
    while _pending_sources:
        try:
            filename, source = _pending_sources.popitem()
        except KeyError:  # another thread took the last one
            break
        cache[filename] = (len(source), None, source.splitlines(True),
                           filename)


def _threading_imported(threading):
    """Remote code imported threading. Python before 3.13 takes the thread
    that first imports it for the main thread; when that was another thread,
    put the real main thread in its place (``main_thread()``,
    ``current_thread()`` in the main thread, the join of non-daemon threads
    at exit), as if the worker had imported threading at start-up."""
    try:
        main = threading._main_thread
        wrong = main.ident
        if wrong == _MAIN_IDENT:
            return
        alive = _real_thread.allocate_lock()  # held while main runs,
        alive.acquire()                  # as its thread-state lock would be
        with threading._active_limbo_lock:
            if threading._active.get(wrong) is main:
                del threading._active[wrong]  # that thread becomes a dummy
            main._ident = _MAIN_IDENT
            if _MAIN_NATIVE_ID is not None and hasattr(main, "_native_id"):
                main._native_id = _MAIN_NATIVE_ID
            main._tstate_lock = alive
            threading._active[_MAIN_IDENT] = main
    except Exception as exc:  # another Python: leave it as it is
        if _tracing:
            _trace("cannot fix threading's main thread: %r" % (exc,))


class _ImportWatch:
    """A finder at the front of ``sys.meta_path`` while the worker waits for
    a module that it does not import itself but must know about (linecache,
    threading): the module is found and loaded by the finders behind it as
    always, then the worker's hook runs on it. Once nothing is awaited the
    finder leaves ``sys.meta_path``."""

    def __init__(self):
        self._hooks = {}  # module name -> hook(module)
        self._prepares = {}  # module name -> prepare(module) -> undo or None
        self._lock = _thread.allocate_lock()

    def __repr__(self):
        return "<execdeck import watch>"

    def watch(self, name, hook, prepare=None):
        """Run ``hook(module)`` once ``name`` is imported; ``prepare(module)``
        runs right before its code does and may return a function to run
        right after it (even if it fails)."""
        with self._lock:
            self._hooks[name] = hook
            if prepare is not None:
                self._prepares[name] = prepare
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def _prepare(self, name):
        return self._prepares.get(name)

    def _take(self, name):
        with self._lock:
            self._prepares.pop(name, None)
            hook = self._hooks.pop(name, None)
            if not self._hooks:
                while self in sys.meta_path:
                    sys.meta_path.remove(self)
            return hook

    def find_spec(self, name, path=None, target=None):
        if name not in self._hooks:
            return None
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if hasattr(spec.loader, "exec_module"):
            spec.loader = _WatchedLoader(self, spec.loader)
        return spec


class _WatchedLoader:
    """Loads with the real loader (which the module then shows), then runs
    the watch's hook for the module."""

    def __init__(self, watch, loader):
        self._watch = watch
        self._loader = loader

    def create_module(self, spec):
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        loader = self._loader
        module.__loader__ = loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = loader
        prepare = self._watch._prepare(module.__name__)
        undo = None
        if prepare is not None:
            try:
                undo = prepare(module)
            except Exception:
                pass
        try:
            loader.exec_module(module)
        finally:
            if undo is not None:
                try:
                    undo()
                except Exception:
                    pass
        hook = self._watch._take(module.__name__)
        if hook is not None:
            try:
                hook(module)
            except Exception:
                pass  # never break an import of remote code


_IMPORT_WATCH = _ImportWatch()


def _log(text):
    """A worker message on stderr (the master shows it)."""
    try:
        os.write(2, ("[execdeck worker %d] %s\n" % (os.getpid(), text))
                 .encode("utf-8", "backslashreplace"))
    except Exception:
        pass
    if _tracing:
        _trace(text)


def _flush_std():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass


def _hard_exit(code):
    _flush_std()
    os._exit(code)


# ---------------------------------------------------------------------------
# Start-up
# ---------------------------------------------------------------------------


def serve(io, id=None, execmodel="thread", exit_process=False):
    """Serve the protocol over ``io`` (a ProtocolIO) in the calling thread
    until the connection ends. The handshake byte must already be written.
    """
    setup_tracing()
    execmodel = get_execmodel(execmodel)
    if execmodel._green is not None:
        execmodel._green.install()
    if sys.version_info < (3, 13) and "threading" not in sys.modules:
        _IMPORT_WATCH.watch("threading", _threading_imported)
    if not faulthandler.is_enabled():
        try:
            faulthandler.enable(file=sys.__stderr__ or sys.stderr,
                                all_threads=True)
        except Exception:
            pass
    if _tracing:   # execnet's words for this moment
        _trace("creating workergateway on %r" % (io,))
    gateway = WorkerGateway(io, id or "<worker>", execmodel)
    gateway.serve(exit_process=exit_process)
    return gateway


def serve_stdio(id=None, execmodel="thread", marker=False, stdout="stderr"):
    """Modes 1 and 2: protect fds 0/1 (fd 1 of remote code goes to
    ``stdout``, see STDOUT_MODES), write [marker+] ``b"1"`` on the protocol
    stdout, serve, and end the process when the connection ends."""
    execmodel = get_execmodel(execmodel)  # fail before the handshake
    if execmodel._green is not None:
        execmodel._green.install()
    io = init_popen_io(stdout, execmodel)
    setup_tracing()
    if _tracing:
        _trace(id, "worker starts (stdio) pid=%d" % os.getpid(),
               sys.executable, "marker=%s" % bool(marker))
    io.write((BOOT_MARKER if marker else b"") + b"1")
    _freeze_start_up()
    serve(io, id, execmodel, exit_process=True)


def _freeze_start_up():
    """Modes 1 and 2, where the process is the worker's: what the
    interpreter and this module made so far lives until the process ends,
    so it goes to the collector's permanent generation (``gc.freeze``) and
    no collection walks it again, the three at the interpreter's exit
    included (about a tenth of a worker's start-up CPU). Objects made later,
    by remote code among others, are collected and finalized as before."""
    freeze = getattr(gc, "freeze", None)  # CPython 3.7+
    if freeze is not None:
        freeze()


def serve_socket(sock, id=None, execmodel="thread", exit_process=False,
                 marker=False):
    """Mode 3: write ``b"1"`` (after ``BOOT_MARKER`` with ``marker``, as
    execdeck's master asks when it booted a cached worker) on the connected
    socket and serve over it. Returns when the connection ended (or ends the
    process when ``exit_process``)."""
    execmodel = get_execmodel(execmodel)
    if execmodel._green is not None:
        execmodel._green.install()
    io = socket_io(sock, execmodel)
    io.write(BOOT_MARKER + b"1" if marker else b"1")
    try:
        serve(io, id, execmodel, exit_process=exit_process)
    finally:
        try:
            import socket
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


_USAGE = ("usage: worker.py [--id ID] [--execmodel %s]"
          " [--stdout discard|stderr]\n"
          "Serves the execnet/execdeck protocol on stdin/stdout after writing"
          " b'1'.\nWhat remote code writes to fd 1 is discarded as in"
          " execnet's worker, or\nwith --stdout stderr written to stderr.\n"
          % "|".join(EXECMODELS))


def main(argv=None):
    """Plain-script mode (2)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # execdeck's master sets EXECDECK_STDOUT=stderr for the `cmd=` gateways
    # it starts (it shows fd 1 per gateway); execnet's master never does.
    # Taken out of the environment so processes that remote code starts
    # do not inherit it.
    default_stdout = os.environ.pop("EXECDECK_STDOUT", "") or "discard"
    options = {"--id": None, "--execmodel": "thread", "--stdout": default_stdout}
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            sys.stdout.write(_USAGE)
            return 0
        key, eq, value = arg.partition("=")
        if key not in options:
            sys.stderr.write("worker.py: unknown argument %r\n%s" % (arg, _USAGE))
            return 2
        if not eq:
            if not args:
                sys.stderr.write("worker.py: %s needs a value\n" % key)
                return 2
            value = args.pop(0)
        options[key] = value
    try:
        execmodel = get_execmodel(options["--execmodel"])
        if options["--stdout"] not in STDOUT_MODES:
            raise ValueError("--stdout must be one of %s, not %r"
                             % (", ".join(STDOUT_MODES), options["--stdout"]))
    except ValueError as exc:
        sys.stderr.write("worker.py: %s\n" % exc)
        return 2
    serve_stdio(options["--id"], execmodel, marker=False,
                stdout=options["--stdout"])
    return 0


def _boot(config):
    """Boot mode (1): config is the EXECDECK_BOOT dict."""
    if config.get("debug"):
        setup_tracing(config["debug"])
    try:
        execmodel = get_execmodel(config.get("execmodel") or "thread")
    except ValueError as exc:
        # the message names the model; no handshake, so the master sees
        # the worker end before it and shows this stderr
        _log(str(exc))
        _hard_exit(1)
    serve_stdio(config.get("id"), execmodel,
                marker=config.get("marker", True),
                stdout=config.get("stdout") or "stderr")


if __name__ == "__main__":
    if "EXECDECK_BOOT" in globals():
        _boot(globals()["EXECDECK_BOOT"])
    else:
        sys.exit(main())
