"""execdeck's rsync receiver: runs in a worker through ``remote_exec`` and
makes a destination directory a mirror of a source tree that the master
(Rust, ``src/engine/rsync/``) walks and streams.

Python 3.8+, standard library only. The master calls ``serve`` with::

    serve(channel, dest, delete=False, dry_run=False)

``dest`` is the destination directory (str; ``~`` is expanded, it is made
with its parents when missing, unless ``dry_run``). Nothing is looked at
or made before the first item comes: the master starts this code while it
walks the source, and closes the channel instead when the walk fails.
Every item on the channel is a tuple whose first element names it.

Paths
-----
An entry's ``relpath`` is relative to the tree's root, ``/``-separated,
never empty. Each of its parts must be a non-empty name other than ``.``
and ``..`` without NUL or ``/``: a path breaking this rule is a protocol
error (the code raises, the channel closes with the error). Nothing is
ever written outside ``dest``: a symlink found in the destination where a
directory of the source goes is replaced by a directory, files are written
to a fresh temporary name and renamed over whatever is at their name, so
no symlink of the destination is ever followed for a write.

From the master
---------------
``("entries", [entry, ...])``
    The next entries of the source tree, in walk order (a directory before
    what is in it). Entries are numbered from 0 across all batches; the
    number (``index``) names a file in later messages. An entry is one of

    * ``("d", relpath, mode, mtime_ns)``: a directory;
    * ``("f", relpath, mode, mtime_ns, size)``: a regular file;
    * ``("l", relpath, target, inside)``: a symlink. With ``inside`` true
      the source link pointed into the source tree and ``target`` is that
      place relative to the root: the link is made to point at
      ``dest/target`` (absolute; ``target`` follows the rules of *Paths*,
      except that ``""`` is the root itself). Otherwise it is made with
      ``target`` as it is.

    ``mode`` is the permission bits (``st_mode & 0o7777``), ``mtime_ns``
    the modification time in nanoseconds.
``("packed", text)``
    The same as ``entries``, in less room and cheaper to read: each
    entry's fields, each followed by a NUL (which no path or link target
    holds), one entry after the other; numbers in decimal, ``inside`` as
    ``0`` or ``1``. The master sends this form; both may come, in any
    order, and are numbered together.
``("end_entries",)``
    No more entries.
``("file", index, size)``
    The contents of file ``index`` follow, as ``data`` and ``copy`` items,
    then ``end`` or ``abort``. ``size`` is what the master expects to
    send (a hint: the source may change while it is read). Only for a file
    this side asked for (``need``, ``sig``, ``retry``), and never in a dry
    run: anything else is a protocol error.
``("data", bytes)``
    Literal bytes of the current file (at most 1 MiB).
``("copy", block, count)``
    ``count`` blocks of the destination's existing copy, from block number
    ``block``, in the block size this side chose in its ``sig`` answer (the
    last block of a file may be short). Only blocks that ``sig`` listed,
    and never after ``retry`` or ``need``: anything else is a protocol
    error.
``("end", sha256)``
    The current file is complete; ``sha256`` (32 bytes) is the SHA-256 of
    its whole new contents. The receiver checks it, sets mode and mtime on
    the temporary file and renames it into place, and answers ``done``,
    ``retry`` (a delta that does not match) or ``failed`` (writing failed,
    or contents sent whole that do not match).
``("abort", reason)``
    The master could not read the current file: the temporary file is
    removed, the destination's copy stays as it was. No answer, unless
    writing the file had already failed (then ``failed``).
``("touch", index)``
    File ``index`` has the same contents as the destination's copy (the
    checksums of a ``sig`` answer matched): only mode and mtime are set.
``("finish",)``
    Every file is sent. With ``delete`` the receiver answers ``extra``,
    the master answers ``delete``; then (always) the receiver sets the
    directories' modes and mtimes, deepest first, answers ``report`` and
    the code ends.
``("delete", [relpath, ...])``
    Remove these entries of the destination (a directory with everything
    in it; a symlink itself, never what it points to). The master leaves
    out what its excludes protect, and sends an empty list in a dry run
    (a dry run ignores the list). Each must be an entry of an ``extra``
    answer; an entry that cannot be removed stops the target (there is no
    index to answer ``failed`` with).

To the master
-------------
A file whose destination copy is a regular file of the same size and
mtime is up to date: nothing is said about it (its mode is set if it
differs, except in a dry run).

``("need", index)``
    The destination has no regular file at the entry's place (or, in a
    dry run, its copy differs): send it whole.
``("sig", index, size, block_size, sha256, sigs)``
    The destination has a regular file of ``size`` bytes whose size or
    mtime differ from the entry's. ``sha256`` is its whole SHA-256 (32
    bytes): when it equals the source's the master answers ``touch``.
    ``sigs`` (bytes) has 20 bytes per block of ``block_size`` bytes (the
    last may be short): the block's ``zlib.adler32`` (4 bytes, big-endian)
    and the first 16 bytes of its SHA-256. ``block_size`` is the smallest
    multiple of 1024 that is at least 2048, at least ``isqrt(size)`` and at
    least ``size / 32768`` (so there are at most 32768 blocks). It is 0 and
    ``sigs`` empty when the copy is under 64 KiB (the master sends it
    whole). In a dry run the answer is ``need`` instead.
``("listed", count)``
    Every entry is handled; ``count`` entries were received. No ``need`` or
    ``sig`` follows.
``("ack", literal, written)``
    One ``data`` or ``copy`` item was written: ``literal`` bytes came on
    the wire, ``written`` bytes went to the file. Every item is
    acknowledged, also those of a file whose writing failed (then
    ``written`` is 0 and ``failed`` comes at its ``end`` or ``abort``).
``("done", index)``
    File ``index`` is in place (after ``end`` or ``touch``).
``("retry", index)``
    The file built from a delta did not match its ``sha256``: send it
    whole (no ``copy`` items).
``("failed", index, reason)``
    File ``index`` could not be written (the reason names the path and the
    OS error); the run goes on. Also the answer to an entry that cannot be
    made (a directory or link, or any entry whose directory is not a
    directory of the destination: its ``d`` entry failed or never came),
    with its index.
``("extra", [(relpath, is_dir), ...])``
    With ``delete``: the destination's entries the source lacks (a
    directory only, not what is in it), each once.
``("report", {...})``
    The last item: ``peak_rss_kib`` (this process's peak resident size:
    ``VmHWM`` of ``/proc/self/status`` where there is one, since Linux
    starts ``ru_maxrss`` from the parent's peak at the fork; else
    ``ru_maxrss``), ``deleted`` (entries removed), ``dirs``
    (directories made; 0 in a dry run). A directory whose mode or mtime cannot be set at ``finish`` is
    answered ``failed`` with its index before it.

Errors that stop the whole target (the destination cannot be made, a
disk is full, a protocol error) raise: the channel closes with the error.

Temporary files are named ``.NAME.RANDOM.execdeck-partial`` in the
directory of the file (``NAME`` cut short when the whole would be longer
than 255 bytes; ``RANDOM`` is 8 hex digits); the receiver removes those it
finds in each directory it visits, so a run that was killed leaves none
behind after the next one.
"""
import errno
import math
import os
import stat
import struct
import sys

# hashlib, zlib, shutil and resource are imported where they are used: a
# sync where nothing changed needs none of them, and on a fresh worker their
# imports (OpenSSL's among them) cost more than comparing a few thousand
# entries.

PARTIAL_SUFFIX = ".execdeck-partial"
#: Copies under this size get no block signatures (the master sends them
#: whole); their SHA-256 still lets the master answer ``touch``.
SMALL_FILE = 64 * 1024
#: Read and write in pieces of at most this size (bounded memory).
PIECE = 1 << 20
MAX_BLOCKS = 32768
#: OS errors that stop the whole target instead of one entry.
FATAL_ERRNOS = frozenset(
    e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e is not None)
ADLER = struct.Struct(">I")
#: Fields of each kind of entry.
ENTRY_SHAPES = {"d": 4, "f": 5, "l": 4}


def check_relpath(relpath, what="relpath"):
    """Raise ValueError unless ``relpath`` follows the rules of *Paths*."""
    if (type(relpath) is str and relpath and "." not in relpath
            and "//" not in relpath and "\x00" not in relpath
            and relpath[0] != "/" and relpath[-1] != "/"):
        return relpath  # the usual case, without splitting
    if not isinstance(relpath, str) or not relpath:
        raise ValueError("bad %s %r: not a non-empty str" % (what, relpath))
    if "\x00" in relpath:
        raise ValueError("bad %s %r: contains NUL" % (what, relpath))
    if relpath.startswith("/"):
        raise ValueError("bad %s %r: absolute" % (what, relpath))
    for part in relpath.split("/"):
        if part in ("", ".", ".."):
            raise ValueError("bad %s %r: part %r is not a name"
                             % (what, relpath, part))
    return relpath


def parent_of(relpath):
    return relpath.rpartition("/")[0]


def is_partial(name):
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


def block_size_for(size):
    """The ``block_size`` of a ``sig`` answer for a copy of ``size`` bytes."""
    if size < SMALL_FILE:
        return 0
    want = max(2048, math.isqrt(size), -(-size // MAX_BLOCKS))
    return -(-want // 1024) * 1024


def file_signature(fd, block_size):
    """(sha256, sigs) of the open file ``fd`` in one streaming pass."""
    import hashlib
    import zlib
    whole = hashlib.sha256()
    sigs = bytearray()
    # whole blocks per read, so no block straddles two reads
    chunk = max(1, PIECE // block_size) * block_size if block_size else PIECE
    with open(fd, "rb", closefd=False) as f:
        while True:
            data = f.read(chunk)
            if not data:
                break
            whole.update(data)
            if block_size:
                view = memoryview(data)
                for start in range(0, len(data), block_size):
                    block = view[start:start + block_size]
                    sigs += ADLER.pack(zlib.adler32(block))
                    sigs += hashlib.sha256(block).digest()[:16]
    return whole.digest(), bytes(sigs)


def remove_tree(path):
    """rmtree ``path`` (a real directory; links in it are unlinked, never
    followed), making read-only directories in it writable when needed."""
    import shutil

    def onexc(func, failed, exc):
        parent = os.path.dirname(failed)
        try:
            os.chmod(parent, stat.S_IMODE(os.lstat(parent).st_mode) | 0o700)
            if func is os.rmdir or func is os.unlink:
                func(failed)
                return
        except OSError:
            pass
        raise exc
    if sys.version_info >= (3, 12):  # onerror is deprecated there
        shutil.rmtree(path, onexc=onexc)
    else:
        shutil.rmtree(path, onerror=lambda func, failed, exc_info:
                      onexc(func, failed, exc_info[1]))


def remove_any(path):
    """Remove whatever is at ``path``, never following a symlink."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        remove_tree(path)
    else:
        os.unlink(path)


class EntryFailed(Exception):
    """One entry could not be made; the reason names its path."""


class Transfer:
    """The file being received: its temporary file and running checksum."""

    def __init__(self, index, relpath, path, mode, mtime_ns, block_size,
                 blocks, delta_allowed):
        self.index = index
        self.relpath = relpath
        self.path = path
        self.mode = mode
        self.mtime_ns = mtime_ns
        self.block_size = block_size
        self.blocks = blocks
        self.delta_allowed = delta_allowed
        self.used_copy = False
        self.fd = None
        self.tmp = None
        self.old_fd = None
        self.error = None  # "PATH: reason" once writing failed
        import hashlib
        self.sha = hashlib.sha256()


def peak_rss_kib():
    """This process's own peak resident size in KiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Receiver:
    """The receiving side of one run; ``serve`` drives it."""

    def __init__(self, channel, dest, delete=False, dry_run=False):
        self.channel = channel
        self.dest = os.path.abspath(os.path.expanduser(dest))
        self.prefix = os.path.join(self.dest, "")  # dest ending in "/"
        self.delete = delete
        self.dry_run = dry_run
        self.count = 0  # entries received
        self.listed = False
        # relpath -> True for a real directory of the destination (written
        # into), False for one that is missing in a dry run; "" is dest
        self.dirs = {}
        self.source_paths = set()  # with delete: every relpath of the source
        self.dir_modes = []  # (index, relpath, mode, mtime_ns), set at finish
        self.dir_modes_set = False
        # index -> [relpath, mode, mtime_ns, kind, block_size, blocks] of a
        # file we answered need (kind "need"), sig ("sig") or retry ("retry")
        self.asked = {}
        self.transfer = None
        self.made_dirs = 0
        self.deleted = 0

    # -- helpers ----------------------------------------------------------

    def path(self, relpath):
        # relpath has no leading "/" (check_relpath), so this is os.path.join
        return self.prefix + relpath if relpath else self.dest

    def oserror(self, path, err):
        """The "PATH: reason" of ``err``; raises for a full disk."""
        reason = "%s: %s" % (path, err.strerror or err)
        if err.errno in FATAL_ERRNOS:
            raise OSError(err.errno, reason) from err
        return reason

    def fail(self, index, reason):
        self.channel.send(("failed", index, reason))

    def receive(self):
        item = self.channel.receive()
        if not isinstance(item, (tuple, list)) or not item:
            raise ValueError("rsync: unexpected item %r" % (item,))
        return item

    # -- main loop --------------------------------------------------------

    def prepare_dest(self):
        try:
            st = os.stat(self.dest)
        except FileNotFoundError:
            if not self.dry_run:
                os.makedirs(self.dest)
                self.dirs[""] = True
            else:
                self.dirs[""] = False
            return
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(
                "rsync: destination %s exists and is not a directory"
                % self.dest)
        self.dirs[""] = True
        if not self.dry_run:
            self.remove_partials("")

    def run(self):
        # the master starts this code while it walks the source: nothing is
        # made before its first item (none comes when the walk fails)
        item = self.receive()
        self.prepare_dest()
        while True:
            kind = item[0]
            if kind == "entries" and not self.listed:
                for entry in item[1]:
                    self.entry(entry)
            elif kind == "packed" and not self.listed:
                self.packed(item[1])
            elif kind == "end_entries" and not self.listed:
                self.listed = True
                self.channel.send(("listed", self.count))
            elif kind == "file":
                self.receive_file(item[1])
            elif kind == "touch":
                self.touch(item[1])
            elif kind == "finish":
                self.finish()
                return
            else:
                raise ValueError("rsync: unexpected item %r" % (item[:1],))
            item = self.receive()

    def finish(self):
        if self.delete:
            self.channel.send(("extra", self.extra()))
            item = self.receive()
            if item[0] != "delete":
                raise ValueError("rsync: expected delete, got %r" % (item[0],))
            if not self.dry_run:
                for relpath in item[1]:
                    self.remove(relpath)
        self.set_dir_modes(report=True)
        self.channel.send(("report", {
            "peak_rss_kib": peak_rss_kib(),
            "deleted": self.deleted,
            "dirs": self.made_dirs,
        }))

    def close(self):
        """After the run, whichever way it ended: no temporary file stays,
        every directory gets its final mode and mtime."""
        try:
            if self.transfer is not None:
                self.discard(self.transfer)
        finally:
            if not self.dir_modes_set:
                self.set_dir_modes(report=False)

    # -- entries ----------------------------------------------------------

    def packed(self, text):
        """The entries of a ``packed`` item."""
        if type(text) is not str or text[-1:] != "\x00":
            raise ValueError("rsync: bad packed entries %r" % (text[:80],))
        fields = text.split("\x00")
        fields.pop()  # after the last NUL
        n = len(fields)
        i = 0
        entry = self.entry
        try:
            while i < n:
                kind = fields[i]
                width = ENTRY_SHAPES.get(kind, 0)
                if not width or i + width > n:
                    raise ValueError("no entry")
                if kind == "f":
                    entry((kind, fields[i + 1], int(fields[i + 2]),
                           int(fields[i + 3]), int(fields[i + 4])))
                elif kind == "d":
                    entry((kind, fields[i + 1], int(fields[i + 2]),
                           int(fields[i + 3])))
                else:
                    inside = fields[i + 3]
                    if inside not in ("0", "1"):
                        raise ValueError("no entry")
                    entry((kind, fields[i + 1], fields[i + 2],
                           inside == "1"))
                i += width
        except ValueError as e:
            if str(e).startswith("rsync:"):
                raise
            raise ValueError("rsync: bad packed entry %r (%s)"
                             % (fields[i:i + 5], e)) from None

    def entry(self, entry):
        index = self.count
        self.count += 1
        if not isinstance(entry, (tuple, list)) or not entry:
            raise ValueError("rsync: bad entry %d: %r" % (index, entry))
        kind = entry[0]
        if ENTRY_SHAPES.get(kind) != len(entry):
            raise ValueError("rsync: bad entry %d: %r" % (index, entry))
        relpath = check_relpath(entry[1])
        if kind != "l" and not (
                isinstance(entry[2], int) and isinstance(entry[3], int)
                and (kind == "d" or isinstance(entry[4], int))):
            raise ValueError("rsync: bad entry %d: %r" % (index, entry))
        if self.delete:
            self.source_paths.add(relpath)
        parent = parent_of(relpath)
        if parent not in self.dirs:
            self.fail(index, "%s: its directory %r is not in the destination"
                      % (self.path(relpath), parent or "."))
            return
        try:
            if kind == "d":
                self.directory(index, relpath, entry[2], entry[3])
            elif kind == "f":
                self.file_entry(index, relpath, entry[2], entry[3], entry[4])
            else:
                self.symlink(relpath, entry[2], entry[3])
        except EntryFailed as e:
            self.fail(index, str(e))
        except OSError as e:
            self.fail(index, self.oserror(self.path(relpath), e))

    def directory(self, index, relpath, mode, mtime_ns):
        path = self.path(relpath)
        real = self.dirs[parent_of(relpath)]
        if self.dry_run:
            # a directory still to make (or not a real one) has nothing in it
            try:
                real = real and stat.S_ISDIR(os.lstat(path).st_mode)
            except FileNotFoundError:
                real = False
            self.dirs[relpath] = real
            return
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            # a symlink (never followed) or a file where a directory goes
            os.unlink(path)
            st = None
        if st is None:
            os.mkdir(path, 0o700)
            self.made_dirs += 1
        elif st.st_mode & 0o700 != 0o700:
            # read-only source directories must still receive their files:
            # writable for us while working, the final mode comes at finish
            os.chmod(path, stat.S_IMODE(st.st_mode) | 0o700)
        self.dir_modes.append((index, relpath, mode & 0o7777, mtime_ns))
        self.dirs[relpath] = True
        self.remove_partials(relpath)

    def remove_partials(self, relpath):
        """Remove temporary files a killed run left in this directory (best
        effort: a directory that cannot be listed keeps them)."""
        current = self.transfer.tmp if self.transfer is not None else None
        directory = self.path(relpath)
        try:
            names = os.listdir(directory)
        except OSError:
            return
        for name in names:
            if not name.endswith(PARTIAL_SUFFIX) or not is_partial(name):
                continue
            path = os.path.join(directory, name)
            if path != current:
                try:
                    if not stat.S_ISDIR(os.lstat(path).st_mode):
                        os.unlink(path)
                except OSError:
                    pass

    def file_entry(self, index, relpath, mode, mtime_ns, size):
        path = self.path(relpath)
        if not self.dirs[parent_of(relpath)]:
            st = None  # dry run: its directory is still to make
        else:
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            self.ask(index, relpath, mode, mtime_ns, "need")
            return
        if st.st_size == size and st.st_mtime_ns == mtime_ns:
            # up to date: only the mode, when it differs
            if not self.dry_run and stat.S_IMODE(st.st_mode) != mode & 0o7777:
                os.chmod(path, mode & 0o7777)
            return
        if self.dry_run:
            self.ask(index, relpath, mode, mtime_ns, "need")
            return
        block_size = block_size_for(st.st_size)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                sha, sigs = file_signature(fd, block_size)
            finally:
                os.close(fd)
        except OSError:
            # an unreadable copy can still be replaced: send it whole
            self.ask(index, relpath, mode, mtime_ns, "need")
            return
        blocks = len(sigs) // 20
        self.asked[index] = [relpath, mode, mtime_ns, "sig", block_size,
                             blocks]
        self.channel.send(("sig", index, st.st_size, block_size, sha, sigs))

    def ask(self, index, relpath, mode, mtime_ns, kind):
        if not self.dry_run:  # a dry run sends nothing after need
            self.asked[index] = [relpath, mode, mtime_ns, kind, 0, 0]
        self.channel.send((kind, index))

    def symlink(self, relpath, target, inside):
        if not isinstance(target, str) or "\x00" in target or (
                not target and not inside):
            raise ValueError("rsync: bad symlink target %r for %r"
                             % (target, relpath))
        if inside:
            # "" is the root itself
            if target:
                check_relpath(target, "symlink target")
            target = self.path(target)
        if self.dry_run:
            return
        path = self.path(relpath)
        try:
            if os.readlink(path) == target:
                return  # the same link: left alone
        except FileNotFoundError:
            pass
        except OSError as e:
            if e.errno != errno.EINVAL:  # EINVAL: there, but not a link
                raise
        # made at a temporary name and renamed over what is there
        tmp = self.temp_name(path)
        os.symlink(target, tmp)
        try:
            self.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    # -- files ------------------------------------------------------------

    @staticmethod
    def temp_name(path):
        """A fresh ``.NAME.RANDOM.execdeck-partial`` next to ``path`` (NAME
        cut short when the whole would be longer than 255 bytes)."""
        directory, name = os.path.split(path)
        room = 255 - len(".") - len(".12345678") - len(PARTIAL_SUFFIX)
        raw = os.fsencode(name)
        if len(raw) > room:
            name = os.fsdecode(raw[:room])
        return os.path.join(directory, ".%s.%s%s" % (
            name, os.urandom(4).hex(), PARTIAL_SUFFIX))

    @staticmethod
    def replace(tmp, path):
        """Rename ``tmp`` to ``path``; a directory there is removed first."""
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                remove_tree(path)
        except FileNotFoundError:
            pass
        os.replace(tmp, path)

    def receive_file(self, index):
        if self.dry_run:
            raise ValueError("rsync: file %r sent in a dry run" % (index,))
        info = self.asked.get(index)
        if info is None:
            raise ValueError("rsync: file %r was not asked for" % (index,))
        relpath, mode, mtime_ns, kind, block_size, blocks = info
        t = Transfer(index, relpath, self.path(relpath), mode, mtime_ns,
                     block_size, blocks, delta_allowed=kind == "sig")
        self.transfer = t
        try:
            self.open_temp(t)
            ok = self.receive_items(t)
        finally:
            self.transfer = None
            self.discard(t)  # closes; removes the temporary unless renamed
        if ok is False and t.error is None and t.used_copy:
            info[3] = "retry"  # next time whole, without copy items
            self.channel.send(("retry", index))
            return
        del self.asked[index]
        if t.error is not None:  # also after abort
            self.fail(index, t.error)
        elif ok:
            self.channel.send(("done", index))
        elif ok is False:  # sent whole, yet not what the master read
            self.fail(index, "%s: the contents do not match their SHA-256"
                      % t.path)
        # aborted without an error of ours: nothing to say

    def open_temp(self, t):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            while True:
                tmp = self.temp_name(t.path)
                try:
                    t.fd = os.open(tmp, flags, 0o600)
                    t.tmp = tmp
                    return
                except FileExistsError:
                    continue
        except OSError as e:
            t.error = self.oserror(t.path, e)

    def receive_items(self, t):
        """Write the items of one file; True when it is in place, False when
        its SHA-256 did not match, None after ``abort``."""
        while True:
            item = self.receive()
            kind = item[0]
            if kind == "data":
                data = item[1]
                if not isinstance(data, (bytes, bytearray)):
                    raise ValueError("rsync: data of %r is not bytes"
                                     % t.relpath)
                written = self.write(t, data)
                self.channel.send(("ack", len(data), written))
            elif kind == "copy":
                written = self.copy(t, item[1], item[2])
                self.channel.send(("ack", 0, written))
            elif kind == "end":
                if t.error is not None:
                    return False
                if t.sha.digest() != item[1]:
                    return False
                return self.commit(t)
            elif kind == "abort":
                return None
            else:
                raise ValueError("rsync: unexpected item %r while receiving %r"
                                 % (kind, t.relpath))

    def write(self, t, data):
        """Write ``data`` to the temporary file; the bytes written (0 once
        the file failed)."""
        if t.error is not None:
            return 0
        t.sha.update(data)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(t.fd, view):]
        except OSError as e:
            t.error = self.oserror(t.path, e)
            self.discard(t)
            return 0
        return len(data)

    def copy(self, t, block, count):
        """Copy ``count`` blocks of the destination's copy, in pieces."""
        if not t.delta_allowed:
            raise ValueError("rsync: copy items for %r, which has no "
                             "signature" % t.relpath)
        if (not isinstance(block, int) or not isinstance(count, int)
                or block < 0 or count < 0 or block + count > t.blocks):
            raise ValueError("rsync: copy of blocks %r+%r of %r, which has %d"
                             % (block, count, t.relpath, t.blocks))
        t.used_copy = True
        if t.error is not None:
            return 0
        try:
            if t.old_fd is None:
                t.old_fd = os.open(t.path, os.O_RDONLY | os.O_NOFOLLOW)
            offset = block * t.block_size
            end = offset + count * t.block_size
            written = 0
            while offset < end:
                data = os.pread(t.old_fd, min(PIECE, end - offset), offset)
                if not data:
                    break  # the last block is short
                offset += len(data)
                written += self.write(t, data)
                if t.error is not None:
                    return 0
            return written
        except OSError as e:
            t.error = self.oserror(t.path, e)
            self.discard(t)
            return 0

    def commit(self, t):
        try:
            os.fchmod(t.fd, t.mode & 0o7777)
            os.utime(t.fd, ns=(t.mtime_ns, t.mtime_ns))
            os.close(t.fd)
            t.fd = None
            self.replace(t.tmp, t.path)
            t.tmp = None
        except OSError as e:
            t.error = self.oserror(t.path, e)
        return True

    def discard(self, t):
        """Close the files of ``t`` and remove its temporary file."""
        for name in ("fd", "old_fd"):
            fd = getattr(t, name)
            if fd is not None:
                setattr(t, name, None)
                try:
                    os.close(fd)
                except OSError:
                    pass
        if t.tmp is not None:
            tmp, t.tmp = t.tmp, None
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    def touch(self, index):
        info = self.asked.get(index)
        if info is None or info[3] != "sig":
            raise ValueError("rsync: touch of %r, which was not signed"
                             % (index,))
        del self.asked[index]
        relpath, mode, mtime_ns = info[:3]
        path = self.path(relpath)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise EntryFailed("%s: no longer a regular file" % path)
            os.chmod(path, mode & 0o7777)
            os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
        except EntryFailed as e:
            self.fail(index, str(e))
        except OSError as e:
            self.fail(index, self.oserror(path, e))
        else:
            self.channel.send(("done", index))

    # -- finish -----------------------------------------------------------

    def extra(self):
        """(relpath, is_dir) of what the destination has and the source
        lacks; never descends into an extra directory or through a link."""
        extra = []
        if not self.dirs.get(""):
            return extra
        stack = [""]
        while stack:
            relpath = stack.pop()
            directory = self.path(relpath)
            for name in sorted(os.listdir(directory)):
                if is_partial(name):
                    continue
                child = relpath + "/" + name if relpath else name
                is_dir = stat.S_ISDIR(
                    os.lstat(os.path.join(directory, name)).st_mode)
                if child not in self.source_paths:
                    extra.append((child, is_dir))
                elif is_dir and self.dirs.get(child):
                    stack.append(child)
        return extra

    def remove(self, relpath):
        check_relpath(relpath)
        if not self.dirs.get(parent_of(relpath)):
            raise ValueError("rsync: delete of %r, which is not in a directory"
                             " of the tree" % relpath)
        if relpath in self.source_paths:
            raise ValueError("rsync: delete of %r, which the source has"
                             % relpath)
        path = self.path(relpath)
        try:
            remove_any(path)
        except FileNotFoundError:
            return
        except OSError as e:
            raise OSError(e.errno, "%s: %s" % (path, e.strerror)) from e
        self.deleted += 1

    def set_dir_modes(self, report):
        """Final mode and mtime of every directory, deepest first."""
        self.dir_modes_set = True
        for index, relpath, mode, mtime_ns in sorted(
                self.dir_modes, key=lambda d: d[1].count("/"), reverse=True):
            path = self.path(relpath)
            try:
                os.chmod(path, mode)
                os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
            except OSError as e:
                if report:
                    self.fail(index, "%s: %s" % (path, e.strerror))


def serve(channel, dest, delete=False, dry_run=False):
    """Receive one tree into ``dest`` (see the module's docstring)."""
    receiver = Receiver(channel, dest, delete, dry_run)
    try:
        receiver.run()
    finally:
        receiver.close()
