"""execdeck's rsync receiver: runs in a worker through ``remote_exec`` and
makes a destination directory a mirror of a source tree that the master
(Rust, ``src/engine/rsync/``) walks and streams.

Python 3.8+, standard library only. The master calls ``serve`` with::

    serve(channel, dest, delete=False, dry_run=False)

``dest`` is the destination directory (str; ``~`` is expanded, it is made
with its parents when missing, unless ``dry_run``). Every item on the
channel is a tuple whose first element names it.

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
      ``dest/target`` (absolute). Otherwise it is made with ``target`` as
      it is.

    ``mode`` is the permission bits (``st_mode & 0o7777``), ``mtime_ns``
    the modification time in nanoseconds.
``("end_entries",)``
    No more entries.
``("file", index, size)``
    The contents of file ``index`` follow, as ``data`` and ``copy`` items,
    then ``end`` or ``abort``. ``size`` is what the master expects to
    send (a hint: the source may change while it is read).
``("data", bytes)``
    Literal bytes of the current file (at most 1 MiB).
``("copy", block, count)``
    ``count`` blocks of the destination's existing copy, from block number
    ``block``, in the block size this side chose in its ``sig`` answer (the
    last block of a file may be short).
``("end", sha256)``
    The current file is complete; ``sha256`` (32 bytes) is the SHA-256 of
    its whole new contents. The receiver checks it, sets mode and mtime on
    the temporary file and renames it into place.
``("abort", reason)``
    The master could not read the current file: the temporary file is
    removed, the destination's copy stays as it was.
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
    out what its excludes protect, and sends an empty list in a dry run.

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
    the wire, ``written`` bytes went to the file.
``("done", index)``
    File ``index`` is in place (after ``end`` or ``touch``).
``("retry", index)``
    The file built from a delta did not match its ``sha256``: send it
    whole (no ``copy`` items).
``("failed", index, reason)``
    File ``index`` could not be written (the reason names the path and the
    OS error); the run goes on. Also the answer to an entry that cannot be
    made (a directory or link), with its index.
``("extra", [(relpath, is_dir), ...])``
    With ``delete``: the destination's entries the source lacks (a
    directory only, not what is in it), each once.
``("report", {...})``
    The last item: ``peak_rss_kib`` (this process's peak resident size),
    ``deleted`` (entries removed), ``dirs`` (directories made).

Errors that stop the whole target (the destination cannot be made, a
disk is full, a protocol error) raise: the channel closes with the error.

Temporary files are named ``.NAME.RANDOM.execdeck-partial`` in the
directory of the file; the receiver removes those it finds in each
directory it visits, so a run that was killed leaves none behind after the
next one.
"""
