"""bootstrap/rsync_remote.py (the rsync receiver) driven in a thread through
a fake channel by a small pure-Python master that plays the protocol of the
module's docstring: walks a source tree, sends its entries, answers ``need``
with whole files and ``sig`` with a naive delta (blocks compared at block
boundaries) or ``touch``.
"""

import errno
import hashlib
import importlib.util
import math
import os
import queue
import stat
import subprocess
import textwrap
import threading
import zlib

import pytest

from conftest import ROOT, TIMEOUT, WORKER_PYTHON

_spec = importlib.util.spec_from_file_location(
    "execdeck_rsync_remote", ROOT / "bootstrap" / "rsync_remote.py")
rr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rr)

#: Put on the master's side of the channel: the receiver's next receive()
#: raises, as when the master goes away.
GONE = object()
#: Chunk size of the test master's data items (small: several per file).
CHUNK = 16 * 1024
MTIME = 1_600_000_000_123_456_789


class FakeChannel:
    def __init__(self):
        self.inbox = queue.Queue()  # master -> receiver
        self.outbox = queue.Queue()  # receiver -> master

    def receive(self):
        item = self.inbox.get(timeout=TIMEOUT)
        if item is GONE:
            raise EOFError("channel closed: the master went away")
        return item

    def send(self, item):
        self.outbox.put(item)


class Run:
    """``serve`` running in a thread; ``got`` is every item it sent."""

    def __init__(self, dest, **kwargs):
        self.channel = FakeChannel()
        self.error = None
        self.got = []
        self.thread = threading.Thread(
            target=self._main, args=(str(dest), kwargs), daemon=True)
        self.thread.start()

    def _main(self, dest, kwargs):
        try:
            rr.serve(self.channel, dest, **kwargs)
        except BaseException as e:  # checked by the tests
            self.error = e

    def send(self, item):
        self.channel.inbox.put(item)

    def recv(self):
        try:
            item = self.channel.outbox.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError("no answer; receiver error: %r"
                                 % (self.error,))
        self.got.append(item)
        return item

    def recv_until(self, kind):
        """Items up to one of ``kind``: (the others, that one)."""
        others = []
        while True:
            item = self.recv()
            if item[0] == kind:
                return others, item
            others.append(item)

    def join(self):
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()
        return self.error

    def kinds(self):
        return [item[0] for item in self.got]


def walk(src):
    """The master's entries for the tree at ``src``, in walk order."""
    src = str(src)
    entries = []

    def visit(directory, rel):
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            relpath = rel + "/" + name if rel else name
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                resolved = os.path.normpath(os.path.join(directory, target))
                if resolved == src:
                    entries.append(("l", relpath, "", True))
                elif resolved.startswith(src + "/"):
                    entries.append(("l", relpath,
                                    os.path.relpath(resolved, src), True))
                else:
                    entries.append(("l", relpath, target, False))
            elif stat.S_ISDIR(st.st_mode):
                entries.append(("d", relpath, stat.S_IMODE(st.st_mode),
                                st.st_mtime_ns))
                visit(path, relpath)
            else:
                entries.append(("f", relpath, stat.S_IMODE(st.st_mode),
                                st.st_mtime_ns, st.st_size))
    visit(src, "")
    return entries


def chunks(data, size=CHUNK):
    return [data[i:i + size] for i in range(0, len(data), size)]


def check_block_size(size, bs):
    if size < 64 * 1024:
        assert bs == 0
        return
    assert bs % 1024 == 0
    assert bs >= 2048 and bs >= math.isqrt(size) and bs * 32768 >= size
    smaller = bs - 1024
    assert (smaller < 2048 or smaller < math.isqrt(size)
            or smaller * 32768 < size)


def pack(entries):
    """The text of a ``packed`` item holding ``entries``."""
    fields = []
    for e in entries:
        if e[0] == "l":
            e = e[:3] + ("1" if e[3] else "0",)
        fields.extend(str(f) for f in e)
    return "".join(f + "\x00" for f in fields)


class Master:
    """The master's half of one sync of ``src`` into ``dest``."""

    def __init__(self, src, dest, delete=False, dry_run=False, batch=3,
                 bad_delta_sha=False, before_files=None):
        self.src = str(src)
        self.dest = dest
        self.delete = delete
        self.dry_run = dry_run
        self.batch = batch
        self.bad_delta_sha = bad_delta_sha
        self.before_files = before_files
        self.copies = 0  # copy items sent
        self.copied_blocks = 0
        self.literal = 0  # bytes sent in data items
        self.extra = None
        self.failed = []
        self.entries = []

    def sync(self):
        run = self.run = Run(self.dest, delete=self.delete,
                             dry_run=self.dry_run)
        self.entries = entries = walk(self.src)
        for i in range(0, len(entries), self.batch):
            batch = entries[i:i + self.batch]
            # both forms, as the protocol allows either at any time
            if (i // self.batch) % 2:
                run.send(("packed", pack(batch)))
            else:
                run.send(("entries", batch))
        run.send(("end_entries",))
        answers, listed = run.recv_until("listed")
        assert listed == ("listed", len(entries))
        if self.before_files:
            self.before_files()
        for answer in answers:
            if answer[0] == "need":
                if not self.dry_run:
                    self.send_whole(answer[1])
            elif answer[0] == "sig":
                assert not self.dry_run
                self.answer_sig(*answer[1:])
            elif answer[0] == "failed":
                self.failed.append(answer)
            else:
                raise AssertionError("unexpected answer %r" % (answer,))
        run.send(("finish",))
        if self.delete:
            item = run.recv()
            assert item[0] == "extra"
            self.extra = item[1]
            run.send(("delete", [] if self.dry_run
                      else [relpath for relpath, _ in self.extra]))
        others, report = run.recv_until("report")
        self.failed += [item for item in others if item[0] == "failed"]
        assert [item for item in others if item[0] != "failed"] == []
        assert run.join() is None
        assert set(report[1]) >= {"peak_rss_kib", "deleted", "dirs"}
        return report[1]

    def source(self, index):
        return os.path.join(self.src, self.entries[index][1])

    def send_whole(self, index):
        with open(self.source(index), "rb") as f:
            data = f.read()
        self.run.send(("file", index, len(data)))
        for piece in chunks(data):
            self.run.send(("data", piece))
            ack = self.run.recv()
            # written is 0 once the file failed
            assert ack in [("ack", len(piece), len(piece)),
                           ("ack", len(piece), 0)]
            self.literal += len(piece)
        self.run.send(("end", hashlib.sha256(data).digest()))
        answer = self.run.recv()
        if answer[0] == "failed":
            self.failed.append(answer)
        else:
            assert answer == ("done", index)

    def answer_sig(self, index, size, bs, sha, sigs):
        check_block_size(size, bs)
        assert len(sigs) == (20 * -(-size // bs) if bs else 0)
        with open(self.source(index), "rb") as f:
            data = f.read()
        if hashlib.sha256(data).digest() == sha:
            self.run.send(("touch", index))
            assert self.run.recv() == ("done", index)
            return
        if bs == 0:
            return self.send_whole(index)
        known = {}
        for n in range(len(sigs) // 20):
            known.setdefault(sigs[20 * n:20 * n + 20], n)
        items = []
        for start in range(0, len(data), bs):
            block = data[start:start + bs]
            key = (zlib.adler32(block).to_bytes(4, "big")
                   + hashlib.sha256(block).digest()[:16])
            n = known.get(key)
            if n is None:
                items.append(("data", block))
            elif (items and items[-1][0] == "copy"
                  and items[-1][1] + items[-1][2] == n):
                items[-1] = ("copy", items[-1][1], items[-1][2] + 1)
            else:
                items.append(("copy", n, 1))
        self.run.send(("file", index, len(data)))
        for item in items:
            self.run.send(item)
            if item[0] == "data":
                assert self.run.recv() == ("ack", len(item[1]), len(item[1]))
                self.literal += len(item[1])
            else:
                self.copies += 1
                self.copied_blocks += item[2]
                ack = self.run.recv()
                assert ack[:2] == ("ack", 0) and ack[2] > 0
        sha = hashlib.sha256(data).digest()
        if self.bad_delta_sha:
            self.bad_delta_sha = False
            sha = bytes(32)
        self.run.send(("end", sha))
        answer = self.run.recv()
        if answer == ("retry", index):
            self.send_whole(index)
        else:
            assert answer == ("done", index)


# -- helpers ---------------------------------------------------------------

def write(path, data, mtime_ns=MTIME, mode=0o644):
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def snapshot(root):
    """relpath -> what the tree has there (kind, mode, mtime_ns, contents or
    link target); the root itself is left out."""
    root = str(root)
    tree = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = ("l", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = ("d", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                with open(path, "rb") as f:
                    tree[rel] = ("f", stat.S_IMODE(st.st_mode),
                                 st.st_mtime_ns, f.read())
    return tree


def partials(root):
    return [os.path.join(d, n) for d, dirs, files in os.walk(str(root))
            for n in dirs + files if n.endswith(".execdeck-partial")]


def payload(n, seed=0):
    """n bytes that do not repeat at any block size used here."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:n])


def make_tree(src):
    write(src / "top.txt", b"hello\n")
    write(src / "empty", b"", mode=0o600)
    write(src / "exe.sh", b"#!/bin/sh\n", mode=0o755, mtime_ns=MTIME + 7)
    write(src / "a" / "big.bin", payload(300 * 1024))
    write(src / "a" / "b" / "c" / "deep.txt", b"deep", mode=0o640)
    os.makedirs(str(src / "emptydir"))
    os.symlink("../../outside/x", str(src / "a" / "out_link"))
    os.utime(str(src / "a" / "b"), ns=(MTIME, MTIME + 1))
    os.utime(str(src / "a"), ns=(MTIME, MTIME + 2))
    os.chmod(str(src / "a" / "b" / "c"), 0o750)


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "src"
    path.mkdir()
    return path


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "dest"


def sync(src, dest, **kwargs):
    master = Master(src, dest, **kwargs)
    master.report = master.sync()
    return master


# -- tests -----------------------------------------------------------------

def test_first_sync_makes_an_identical_tree(src, dest):
    make_tree(src)
    m = sync(src, dest, batch=2)
    assert snapshot(dest) == snapshot(src)
    assert m.failed == []
    assert m.report["dirs"] == 4  # a, a/b, a/b/c, emptydir
    assert m.report["deleted"] == 0
    assert m.report["peak_rss_kib"] > 0
    kinds = m.run.kinds()
    assert kinds.count("need") == 5 and "sig" not in kinds
    assert partials(dest) == []


def test_second_sync_sends_nothing(src, dest):
    make_tree(src)
    sync(src, dest)
    m = sync(src, dest)
    assert m.run.kinds() == ["listed", "report"]
    assert m.report["dirs"] == 0
    assert snapshot(dest) == snapshot(src)


def test_mode_only_change_is_applied_without_transfer(src, dest):
    make_tree(src)
    sync(src, dest)
    os.chmod(str(src / "top.txt"), 0o600)
    m = sync(src, dest)
    assert m.run.kinds() == ["listed", "report"]
    assert snapshot(dest) == snapshot(src)


def test_modified_file_goes_as_a_delta(src, dest):
    make_tree(src)
    sync(src, dest)
    data = bytearray(payload(300 * 1024))
    data[100_000:100_010] = b"0123456789"
    write(src / "a" / "big.bin", bytes(data) + b"tail", mtime_ns=MTIME + 99)
    m = sync(src, dest)
    assert m.run.kinds().count("sig") == 1
    assert m.copies >= 2 and m.copied_blocks > 100
    assert m.literal < 10 * 1024  # one changed block and the short tail
    assert snapshot(dest) == snapshot(src)


def test_file_shorter_than_its_copy_with_a_copy_of_the_last_block(src, dest):
    # the destination's last block is short; copying it must not read on
    old = payload(200 * 1024 + 123)
    write(src / "f", old)
    sync(src, dest)
    write(src / "f", old[:100_000] + old[-123:], mtime_ns=MTIME + 1)
    m = sync(src, dest)
    assert m.copies >= 1
    assert snapshot(dest) == snapshot(src)


def test_mtime_only_change_is_a_touch(src, dest):
    make_tree(src)
    sync(src, dest)
    os.utime(str(src / "a" / "big.bin"), ns=(MTIME, MTIME + 5))
    os.utime(str(src / "top.txt"), ns=(MTIME, MTIME + 5))  # small: bs 0
    m = sync(src, dest)
    sigs = [item for item in m.run.got if item[0] == "sig"]
    assert sorted(item[3] for item in sigs) == [
        0, rr.block_size_for(300 * 1024)]
    assert m.literal == 0 and m.copies == 0
    assert m.run.kinds().count("done") == 2
    assert snapshot(dest) == snapshot(src)


def test_block_size_rule():
    for size in (0, 65535, 65536, 1 << 20, 256 << 20, 1 << 30, 100 << 30,
                 12345678901):
        check_block_size(size, rr.block_size_for(size))
    assert rr.block_size_for(256 << 20) == 16384


def test_signatures_are_adler32_and_sha256_prefixes(tmp_path):
    data = payload(3 * 4096 + 5)
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(str(path), os.O_RDONLY)
    try:
        # a block size that does not divide the 1 MiB read size
        sha, sigs = rr.file_signature(fd, 3072)
    finally:
        os.close(fd)
    assert sha == hashlib.sha256(data).digest()
    want = b"".join(
        zlib.adler32(b).to_bytes(4, "big") + hashlib.sha256(b).digest()[:16]
        for b in chunks(data, 3072))
    assert sigs == want


def test_signature_of_a_file_over_one_read(tmp_path):
    data = payload((1 << 20) + 5000)
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(str(path), os.O_RDONLY)
    try:
        sha, sigs = rr.file_signature(fd, 3072)
    finally:
        os.close(fd)
    assert sha == hashlib.sha256(data).digest()
    assert len(sigs) == 20 * -(-len(data) // 3072)
    assert sigs[-20:] == (zlib.adler32(data[-(len(data) % 3072):])
                          .to_bytes(4, "big")
                          + hashlib.sha256(data[-(len(data) % 3072):])
                          .digest()[:16])


def test_delete_lists_extras_and_never_follows_links(src, dest, tmp_path):
    make_tree(src)
    sync(src, dest)
    outside = tmp_path / "outside"
    write(outside / "keep.txt", b"keep")
    write(dest / "gone.txt", b"x")
    write(dest / "olddir" / "sub" / "x", b"x")
    os.chmod(str(dest / "olddir" / "sub"), 0o555)
    os.symlink(str(outside), str(dest / "a" / "linkdir"))
    os.symlink(str(outside / "keep.txt"), str(dest / "linkfile"))
    write(dest / ".stale.1234abcd.execdeck-partial", b"partial")
    m = sync(src, dest, delete=True)
    assert sorted(m.extra) == [("a/linkdir", False), ("gone.txt", False),
                               ("linkfile", False), ("olddir", True)]
    assert m.report["deleted"] == 4
    assert snapshot(dest) == snapshot(src)
    assert snapshot(outside) == {"keep.txt": ("f", 0o644, MTIME, b"keep")}


def test_without_delete_extras_stay(src, dest):
    make_tree(src)
    write(dest / "mine.txt", b"mine")
    m = sync(src, dest)
    assert m.extra is None and "extra" not in m.run.kinds()
    assert (dest / "mine.txt").read_bytes() == b"mine"


def test_read_only_directories_receive_their_files(src, dest):
    write(src / "ro" / "inner" / "f.txt", b"f")
    write(src / "ro" / "g.txt", b"g")
    os.chmod(str(src / "ro" / "inner"), 0o500)
    os.chmod(str(src / "ro"), 0o555)
    try:
        sync(src, dest)
        assert snapshot(dest) == snapshot(src)
        assert stat.S_IMODE(os.lstat(str(dest / "ro")).st_mode) == 0o555
        # and again, into the read-only copies, with a change
        os.chmod(str(src / "ro"), 0o755)
        write(src / "ro" / "g.txt", b"changed", mtime_ns=MTIME + 3)
        os.chmod(str(src / "ro"), 0o555)
        sync(src, dest)
        assert snapshot(dest) == snapshot(src)
    finally:
        for root in (src, dest):
            for d, _, _ in os.walk(str(root)):
                os.chmod(d, 0o755)


def test_symlinks_inside_and_outside(src, dest):
    write(src / "a" / "file", b"content")
    os.symlink("a/file", str(src / "rel_inside"))
    os.symlink(str(src / "a"), str(src / "abs_inside"))
    os.symlink("..", str(src / "a" / "to_root"))
    os.symlink("../elsewhere/x", str(src / "outside"))
    os.symlink("/nonexistent/abs", str(src / "abs_outside"))
    m = sync(src, dest)
    assert m.failed == []
    d = str(dest.resolve())
    assert os.readlink(str(dest / "rel_inside")) == d + "/a/file"
    assert os.readlink(str(dest / "abs_inside")) == d + "/a"
    assert os.readlink(str(dest / "a" / "to_root")) == d
    assert os.readlink(str(dest / "outside")) == "../elsewhere/x"
    assert os.readlink(str(dest / "abs_outside")) == "/nonexistent/abs"
    assert (dest / "rel_inside").read_bytes() == b"content"


def test_existing_links_kept_or_replaced(src, dest, tmp_path):
    write(src / "f", b"file")
    os.symlink("../target-same", str(src / "same"))
    os.symlink("../target-new", str(src / "changed"))
    os.symlink("../target-dir", str(src / "was_dir"))
    os.symlink("../target-file", str(src / "was_file"))
    os.makedirs(str(dest))
    os.symlink("../target-same", str(dest / "same"))
    os.symlink("../target-old", str(dest / "changed"))
    write(dest / "was_dir" / "inner", b"x")
    write(dest / "was_file", b"x")
    same_ino = os.lstat(str(dest / "same")).st_ino
    sync(src, dest)
    assert os.lstat(str(dest / "same")).st_ino == same_ino
    for name in ("same", "changed", "was_dir", "was_file"):
        assert os.readlink(str(dest / name)) == os.readlink(str(src / name))
    assert partials(dest) == []


@pytest.mark.parametrize("bad", ["../x", "a/../b", "a/./b", "./a", "a\x00b",
                                 "/etc/passwd", "", "a//b", "a/", ".."])
def test_bad_relpaths_are_rejected(tmp_path, bad):
    dest = tmp_path / "dest"
    run = Run(dest)
    run.send(("entries", [("d", "a", 0o755, MTIME),
                          ("f", bad, 0o644, MTIME, 1)]))
    error = run.join()
    assert isinstance(error, ValueError)
    assert repr(bad) in str(error)
    assert sorted(os.listdir(str(tmp_path))) == ["dest"]
    assert list(snapshot(dest)) == ["a"]  # made before the bad entry came


@pytest.mark.parametrize("entry", [("d", "../x", 0o755, MTIME),
                                   ("l", "x/../../y", "t", False),
                                   ("l", "y", "../../etc", True)])
def test_bad_paths_in_other_entries_are_rejected(tmp_path, entry):
    run = Run(tmp_path / "dest")
    run.send(("entries", [("d", "x", 0o755, MTIME), entry]))
    assert isinstance(run.join(), ValueError)
    assert not os.path.lexists(str(tmp_path / "y"))


def test_bad_relpath_in_delete_is_rejected(src, dest, tmp_path):
    write(tmp_path / "victim", b"v")
    run = Run(dest, delete=True)
    run.send(("end_entries",))
    run.send(("finish",))
    assert run.recv() == ("listed", 0)
    assert run.recv() == ("extra", [])
    run.send(("delete", ["../victim"]))
    assert isinstance(run.join(), ValueError)
    assert (tmp_path / "victim").read_bytes() == b"v"


def test_destination_symlink_where_a_directory_goes(src, dest, tmp_path):
    write(src / "sub" / "f.txt", b"new")
    write(src / "sub" / "deeper" / "g.txt", b"g")
    outside = tmp_path / "outside"
    write(outside / "f.txt", b"outside")
    os.makedirs(str(dest))
    os.symlink(str(outside), str(dest / "sub"))
    m = sync(src, dest)
    assert m.failed == []
    assert not os.path.islink(str(dest / "sub"))
    assert snapshot(dest) == snapshot(src)
    assert snapshot(outside) == {"f.txt": ("f", 0o644, MTIME, b"outside")}


def test_file_where_a_directory_goes_and_back(src, dest):
    write(src / "x" / "f", b"f")
    write(src / "y", b"y")
    os.makedirs(str(dest))
    write(dest / "x", b"a file")
    write(dest / "y" / "z", b"a dir")
    sync(src, dest)
    assert snapshot(dest) == snapshot(src)


def test_stale_partials_are_removed(src, dest):
    make_tree(src)
    write(dest / ".x.abcd.execdeck-partial", b"stale")
    write(dest / "a" / "b" / ".deep.bin.0a1b2c3d.execdeck-partial", b"stale")
    write(dest / "a" / "not-a-partial.execdeck-partial", b"mine")
    m = sync(src, dest)
    assert not os.path.lexists(str(dest / ".x.abcd.execdeck-partial"))
    assert partials(dest) == [str(dest / "a" / "not-a-partial.execdeck-partial")]
    assert m.extra is None


def test_long_names_are_written(src, dest):
    name = "n" * 250
    write(src / name, b"long")
    m = sync(src, dest)
    assert m.failed == []
    assert snapshot(dest) == snapshot(src)


def start_file(dest, old=b"old contents", new_size=100_000):
    """A run that received one entry, "f", whose copy is ``old``."""
    write(dest / "f", old)
    run = Run(dest)
    run.send(("entries", [("f", "f", 0o644, MTIME + 1, new_size)]))
    run.send(("end_entries",))
    answers, _ = run.recv_until("listed")
    assert [a[:2] for a in answers] == [("sig", 0)]
    return run


def test_data_is_written_as_it_arrives(dest):
    run = start_file(dest)
    run.send(("file", 0, 3 * CHUNK))
    run.send(("data", b"x" * CHUNK))
    assert run.recv() == ("ack", CHUNK, CHUNK)
    [tmp] = partials(dest)
    assert os.path.basename(tmp).startswith(".f.")
    assert os.path.getsize(tmp) == CHUNK
    assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o600
    run.send(("data", b"y" * CHUNK))
    assert run.recv() == ("ack", CHUNK, CHUNK)
    assert os.path.getsize(tmp) == 2 * CHUNK
    assert (dest / "f").read_bytes() == b"old contents"
    data = b"x" * CHUNK + b"y" * CHUNK
    run.send(("end", hashlib.sha256(data).digest()))
    assert run.recv() == ("done", 0)
    run.send(("finish",))
    assert run.recv()[0] == "report"
    assert run.join() is None
    assert (dest / "f").read_bytes() == data
    assert os.stat(str(dest / "f")).st_mtime_ns == MTIME + 1
    assert partials(dest) == []


def test_abort_leaves_the_old_file(dest):
    run = start_file(dest)
    run.send(("file", 0, 100_000))
    run.send(("data", b"new" * 1000))
    assert run.recv() == ("ack", 3000, 3000)
    assert len(partials(dest)) == 1
    run.send(("abort", "source: Input/output error"))
    run.send(("finish",))
    assert run.recv()[0] == "report"  # nothing said about the abort
    assert run.join() is None
    assert (dest / "f").read_bytes() == b"old contents"
    assert os.stat(str(dest / "f")).st_mtime_ns == MTIME
    assert partials(dest) == []


def test_master_going_away_leaves_the_old_file(dest):
    write(dest / "f", b"old contents")
    os.makedirs(str(dest / "ro"))
    run = Run(dest)
    run.send(("entries", [("d", "ro", 0o555, MTIME),
                          ("f", "f", 0o644, MTIME + 1, 100_000)]))
    assert run.recv()[:2] == ("sig", 1)
    run.send(("file", 1, 100_000))
    run.send(("data", b"new" * 1000))
    assert run.recv() == ("ack", 3000, 3000)
    assert len(partials(dest)) == 1
    run.send(GONE)
    assert isinstance(run.join(), EOFError)
    assert (dest / "f").read_bytes() == b"old contents"
    assert partials(dest) == []
    # the directory got its final mode although the run failed
    st = os.stat(str(dest / "ro"))
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o555, MTIME)


def test_retry_after_a_bad_delta_sha(src, dest):
    write(src / "f", payload(200 * 1024))
    sync(src, dest)
    data = bytearray(payload(200 * 1024))
    data[5000] ^= 1
    write(src / "f", bytes(data), mtime_ns=MTIME + 1)
    m = sync(src, dest, bad_delta_sha=True)
    assert "retry" in m.run.kinds()
    assert m.copies >= 1
    assert m.literal >= 200 * 1024  # sent whole the second time
    assert snapshot(dest) == snapshot(src)
    assert partials(dest) == []


def test_retry_refuses_copy_items(dest):
    write(dest / "f", payload(100 * 1024))
    run = Run(dest)
    run.send(("entries", [("f", "f", 0o644, MTIME + 1, 100 * 1024)]))
    sig = run.recv()
    assert sig[0] == "sig" and sig[3] > 0
    run.send(("file", 0, 100 * 1024))
    run.send(("copy", 0, 1))
    assert run.recv()[:2] == ("ack", 0)
    run.send(("end", bytes(32)))
    assert run.recv() == ("retry", 0)
    run.send(("file", 0, 100 * 1024))
    run.send(("copy", 0, 1))
    assert isinstance(run.join(), ValueError)
    assert (dest / "f").read_bytes() == payload(100 * 1024)
    assert partials(dest) == []


def test_bad_sha_of_a_whole_file_fails_that_file(dest):
    run = Run(dest)
    run.send(("entries", [("f", "f", 0o644, MTIME, 4), ("f", "g", 0o644,
                                                        MTIME, 1)]))
    assert run.recv() == ("need", 0)
    assert run.recv() == ("need", 1)
    run.send(("file", 0, 4))
    run.send(("data", b"abcd"))
    assert run.recv() == ("ack", 4, 4)
    run.send(("end", hashlib.sha256(b"abce").digest()))
    answer = run.recv()
    assert answer[:2] == ("failed", 0) and str(dest / "f") in answer[2]
    run.send(("file", 1, 1))
    run.send(("data", b"g"))
    assert run.recv() == ("ack", 1, 1)
    run.send(("end", hashlib.sha256(b"g").digest()))
    assert run.recv() == ("done", 1)
    run.send(("finish",))
    assert run.recv()[0] == "report"
    assert run.join() is None
    assert sorted(os.listdir(str(dest))) == ["g"]


def test_failed_entries_do_not_stop_the_run(src, dest):
    run = Run(dest)
    run.send(("entries", [
        ("f", "nodir/x", 0o644, MTIME, 1),
        ("d", "n" * 300, 0o755, MTIME),
        ("f", "n" * 300 + "/y", 0o644, MTIME, 1),
        ("d", "ok", 0o755, MTIME),
        ("f", "ok/z", 0o644, MTIME, 1),
    ]))
    run.send(("end_entries",))
    answers, listed = run.recv_until("listed")
    assert listed == ("listed", 5)
    assert [a[:2] for a in answers] == [("failed", 0), ("failed", 1),
                                        ("failed", 2), ("need", 4)]
    assert str(dest / "nodir" / "x") in answers[0][2]
    assert "File name too long" in answers[1][2]
    run.send(("file", 4, 1))
    run.send(("data", b"z"))
    assert run.recv() == ("ack", 1, 1)
    run.send(("end", hashlib.sha256(b"z").digest()))
    assert run.recv() == ("done", 4)
    run.send(("finish",))
    assert run.recv() == ("report", {"peak_rss_kib": run.got[-1][1]
                                     ["peak_rss_kib"], "deleted": 0,
                                     "dirs": 1})
    assert run.join() is None
    assert (dest / "ok" / "z").read_bytes() == b"z"


def test_a_file_that_cannot_be_written_is_skipped_to_its_end(src, dest):
    write(src / "sub" / "f", b"f" * (3 * CHUNK))
    write(src / "sub2" / "g", b"g")

    def break_sub():
        # its directory is now a file: the temporary cannot be made
        rr.remove_tree(str(dest / "sub"))
        write(dest / "sub", b"in the way")

    m = sync(src, dest, before_files=break_sub)
    [failed] = m.failed
    assert failed[:2] == ("failed", m.entries.index(
        ("f", "sub/f", 0o644, MTIME, 3 * CHUNK)))
    assert str(dest / "sub" / "f") in failed[2]
    assert (dest / "sub2" / "g").read_bytes() == b"g"
    # every data item of the failed file was still acknowledged
    acks = [item for item in m.run.got if item[0] == "ack"]
    assert acks[:3] == [("ack", CHUNK, 0)] * 3


def test_dry_run_writes_nothing(src, dest):
    make_tree(src)
    m = sync(src, dest, dry_run=True, delete=True)
    assert not os.path.lexists(str(dest))
    assert sorted(i[1] for i in m.run.got if i[0] == "need") == [
        i for i, e in enumerate(m.entries) if e[0] == "f"]
    assert m.extra == []
    assert m.report["dirs"] == 0


def test_dry_run_on_an_existing_tree(src, dest, tmp_path):
    make_tree(src)
    sync(src, dest)
    write(src / "top.txt", b"changed", mtime_ns=MTIME + 1)
    write(src / "a" / "b" / "new.txt", b"new")
    os.chmod(str(src / "exe.sh"), 0o700)  # mode only: nothing said
    os.symlink("/new/link", str(src / "a" / "b" / "new_link"))
    os.unlink(str(src / "a" / "out_link"))
    os.symlink("/changed/link", str(src / "a" / "out_link"))
    write(dest / "extra.txt", b"extra")
    os.makedirs(str(dest / "extradir" / "inside"))
    os.symlink(str(tmp_path), str(dest / "a" / "link"))
    write(dest / "a" / ".old.12345678.execdeck-partial", b"stale")
    before = snapshot(dest)
    m = sync(src, dest, dry_run=True, delete=True)
    assert snapshot(dest) == before
    needed = sorted(m.entries[i[1]][1] for i in m.run.got if i[0] == "need")
    assert needed == ["a/b/new.txt", "top.txt"]
    assert sorted(m.extra) == [("a/link", False), ("extra.txt", False),
                               ("extradir", True)]


def test_dest_that_is_a_file_is_an_error(tmp_path):
    write(tmp_path / "file", b"x")
    run = Run(tmp_path / "file")
    # the destination is looked at when the first item comes
    run.send(("entries", []))
    error = run.join()
    assert isinstance(error, OSError)
    assert "not a directory" in str(error) and str(tmp_path / "file") in str(
        error)


@pytest.mark.parametrize("text", [
    "f\x00a\x00420\x001\x00",  # cut short
    "f\x00a\x00420\x001\x004",  # no NUL at the end
    "f\x00a\x00x\x001\x004\x00",  # mode not a number
    "l\x00a\x00t\x002\x00",  # inside neither 0 nor 1
    "q\x00a\x00",  # no such kind
    "f\x00../a\x00420\x001\x004\x00",  # bad relpath
])
def test_bad_packed_entries_are_an_error(tmp_path, text):
    run = Run(tmp_path / "dest")
    run.send(("packed", text))
    assert isinstance(run.join(), ValueError)


def test_packed_entries_are_numbered_with_the_others(tmp_path):
    run = Run(tmp_path / "dest")
    run.send(("entries", [("d", "a", 0o755, MTIME)]))
    run.send(("packed", pack([("f", "a/x", 0o644, MTIME, 3),
                              ("l", "a/l", "a/x", True)])))
    run.send(("end_entries",))
    assert run.recv() == ("need", 1)
    assert run.recv() == ("listed", 3)
    assert os.readlink(str(tmp_path / "dest" / "a" / "l")) == str(
        tmp_path / "dest" / "a" / "x")
    run.send(("finish",))
    assert run.recv()[0] == "report"
    assert run.join() is None


def test_nothing_is_made_before_the_first_item(tmp_path):
    # the master starts the receiver while it walks the source, and closes
    # the channel when the walk fails: the destination must not appear
    dest = tmp_path / "new" / "dest"
    run = Run(dest)
    run.send(GONE)
    assert isinstance(run.join(), EOFError)
    assert not (tmp_path / "new").exists()


def test_dest_with_tilde_is_expanded(src, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(src / "f", b"f")
    sync(src, "~/deep/dest")
    assert (tmp_path / "home" / "deep" / "dest" / "f").read_bytes() == b"f"


def test_unexpected_items_are_protocol_errors(dest):
    run = Run(dest)
    run.send(("file", 3, 10))  # never asked for
    assert isinstance(run.join(), ValueError)
    run = Run(dest)
    run.send(("bogus",))
    assert isinstance(run.join(), ValueError)


def test_copy_beyond_the_signed_blocks_is_a_protocol_error(dest):
    write(dest / "f", payload(100 * 1024))
    run = Run(dest)
    run.send(("entries", [("f", "f", 0o644, MTIME + 1, 100 * 1024)]))
    sig = run.recv()
    blocks = len(sig[5]) // 20
    run.send(("file", 0, 100 * 1024))
    run.send(("copy", blocks - 1, 2))
    assert isinstance(run.join(), ValueError)
    assert partials(dest) == []


BIG_SYNC = textwrap.dedent("""
    import hashlib, importlib.util, os, queue, sys, threading
    spec = importlib.util.spec_from_file_location("rr", sys.argv[1])
    rr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rr)
    dest, size = sys.argv[2], int(sys.argv[3])
    MIB = 1 << 20
    inbox, outbox = queue.Queue(), queue.Queue()

    class Channel:
        receive = staticmethod(lambda: inbox.get(timeout=60))
        send = staticmethod(outbox.put)

    def run(entry, feed):
        t = threading.Thread(target=rr.serve, args=(Channel, dest))
        t.start()
        inbox.put(("entries", [entry]))
        inbox.put(("end_entries",))
        answer = outbox.get(timeout=60)
        assert outbox.get(timeout=60)[0] == "listed"
        feed(answer)
        inbox.put(("finish",))
        report = outbox.get(timeout=60)
        t.join()
        return report

    def piece(k):
        return bytes([k % 251]) * MIB

    def whole(answer):
        # streamed like the Rust master: at most a few MiB in flight
        assert answer == ("need", 0), answer
        inbox.put(("file", 0, size))
        sha = hashlib.sha256()
        for k in range(size // MIB):
            inbox.put(("data", piece(k)))
            sha.update(piece(k))
            assert outbox.get(timeout=60) == ("ack", MIB, MIB)
        inbox.put(("end", sha.digest()))
        assert outbox.get(timeout=60) == ("done", 0)

    def delta(answer):
        # every block of the old copy in one copy item, then a tail
        kind, index, old_size, bs, old_sha, sigs = answer
        assert (kind, old_size) == ("sig", size), answer[:4]
        inbox.put(("file", 0, size + 4))
        inbox.put(("copy", 0, len(sigs) // 20))
        assert outbox.get(timeout=60) == ("ack", 0, size)
        inbox.put(("data", b"tail"))
        assert outbox.get(timeout=60) == ("ack", 4, 4)
        sha = hashlib.sha256()
        for k in range(size // MIB):
            sha.update(piece(k))
        sha.update(b"tail")
        inbox.put(("end", sha.digest()))
        assert outbox.get(timeout=60) == ("done", 0)

    run(("f", "big", 0o644, 1, size), whole)
    report = run(("f", "big", 0o644, 2, size + 4), delta)
    # the report's figure is VmHWM when it was sent; read it again after
    with open("/proc/self/status") as f:
        hwm = [int(line.split()[1]) for line in f
               if line.startswith("VmHWM:")][0]
    print(report[1]["peak_rss_kib"], hwm)
""")


def test_big_file_with_bounded_memory(tmp_path):
    """A 128 MiB file, whole then as one copy of all its blocks: the
    receiver's process never holds much of it."""
    size = 128 << 20
    dest = tmp_path / "dest"
    out = subprocess.run(
        [WORKER_PYTHON, "-c", BIG_SYNC, str(ROOT / "bootstrap" /
                                             "rsync_remote.py"),
         str(dest), str(size)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    reported, own_peak = map(int, out.stdout.split())
    assert own_peak < 48 * 1024
    assert 0 < reported < 48 * 1024
    assert os.path.getsize(str(dest / "big")) == size + 4
    with open(str(dest / "big"), "rb") as f:
        f.seek(size - 1)
        assert f.read() == bytes([(size // (1 << 20) - 1) % 251]) + b"tail"
    assert partials(dest) == []


def test_full_disk_stops_the_target_and_leaves_no_temporary(dest,
                                                           monkeypatch):
    real_write = os.write

    def write_enospc(fd, data):
        if os.readlink("/proc/self/fd/%d" % fd).endswith(".execdeck-partial"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    run = start_file(dest)
    monkeypatch.setattr(rr.os, "write", write_enospc)
    run.send(("file", 0, 10))
    run.send(("data", b"0123456789"))
    error = run.join()
    monkeypatch.undo()
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    assert str(dest / "f") in str(error)
    assert (dest / "f").read_bytes() == b"old contents"
    assert partials(dest) == []


def test_dry_run_does_not_look_into_a_directory_a_file_replaces(src, dest):
    write(src / "x", b"file")
    write(dest / "x" / "inner", b"inner")
    m = sync(src, dest, dry_run=True, delete=True)
    assert [item[:2] for item in m.run.got if item[0] == "need"] == [
        ("need", 0)]
    assert m.extra == []
    assert (dest / "x" / "inner").read_bytes() == b"inner"
