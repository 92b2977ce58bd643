# execdeck's first stage for workers on other hosts (ssh, socket, via): it
# loads the worker from this host's cache, where CPython's pyc cache spares
# compiling it (about 20 ms), or asks the master for the source (it writes
# b"\x00EXECDECK\x00S" and reads one line holding a Python string literal)
# and keeps it there for the next boot. The cache directory is the one the
# master uses locally ($XDG_CACHE_HOME/execdeck/worker, ~/.cache/...,
# ~/Library/Caches/... on macOS, else <tmp>/execdeck-<uid>-worker); it must
# be ours and closed to others, every directory above it ours or root's and
# closed to other writers (or sticky). A file is used only when its SHA-256
# is the worker's. Standard library only; the master sends this text and one
# call of _execdeck_boot.


def _execdeck_boot(g, name, digest, write, readline, keep_bytecode):
    import os
    import stat
    import sys
    g.pop("_execdeck_boot", None)
    try:  # not hashlib: loading OpenSSL costs milliseconds
        if sys.version_info >= (3, 12):
            from _sha2 import sha256
        else:
            from _sha256 import sha256
    except ImportError:
        from hashlib import sha256
    uid = os.geteuid()

    def safe(path, ours):
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            return False
        if ours:
            return st.st_uid == uid and not st.st_mode & 0o022
        return st.st_uid in (0, uid) and (
            not st.st_mode & 0o022 or st.st_mode & stat.S_ISVTX)

    def usable(d):
        try:
            if not os.path.isdir(d):
                os.makedirs(d, 0o700)
            d = os.path.realpath(d)
            if not safe(d, True):
                return None
            up = os.path.dirname(d)
            while True:
                if not safe(up, False):
                    return None
                if os.path.dirname(up) == up:
                    return d
                up = os.path.dirname(up)
        except OSError:
            return None

    def load(path):
        try:
            import _frozen_importlib_external as m
        except ImportError:
            from importlib import _bootstrap_external as m
        before = sys.dont_write_bytecode
        if keep_bytecode:
            sys.dont_write_bytecode = False
        try:
            return m.SourceFileLoader(name, path).get_code(name)
        except Exception:
            try:  # a damaged pyc would fail every later boot as well
                os.remove(m.cache_from_source(path))
            except Exception:
                pass
            return None
        finally:
            sys.dont_write_bytecode = before

    def store(path, data):
        tmp = os.path.join(os.path.dirname(path),
                           ".%s.%d.tmp" % (name, os.getpid()))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
        except OSError:
            try:
                os.remove(tmp)
            except OSError:
                pass
            return False
        import time

        directory = os.path.dirname(path)
        drop_bytecode(directory, name)  # compiled from an earlier file
        # files of other versions not written for a day (a master still
        # using one writes it again), as the master prunes its own cache
        try:
            entries = os.listdir(directory)
        except OSError:
            entries = []
        for entry in entries:
            old = entry[:-3]
            if not (entry.startswith("execdeck_worker_")
                    and entry.endswith(".py") and old != name):
                continue
            try:
                other = os.path.join(directory, entry)
                if time.time() - os.lstat(other).st_mtime > 86400:
                    os.remove(other)
                    drop_bytecode(directory, old)
            except OSError:
                pass
        return True

    def drop_bytecode(directory, module):
        pycache = os.path.join(directory, "__pycache__")
        try:
            for entry in os.listdir(pycache):
                if entry.startswith(module + "."):
                    os.remove(os.path.join(pycache, entry))
        except OSError:
            pass

    home = os.path.expanduser("~")
    dirs = []
    if os.path.isabs(home):
        if sys.platform == "darwin":
            base = os.path.join(home, "Library", "Caches")
        else:
            base = os.environ.get("XDG_CACHE_HOME", "")
            if not os.path.isabs(base):
                base = os.path.join(home, ".cache")
        dirs.append(os.path.join(base, "execdeck", "worker"))
    dirs.append(os.path.join(os.environ.get("TMPDIR") or "/tmp",
                             "execdeck-%d-worker" % uid))
    path = code = None
    for d in dirs:
        d = usable(d)
        if d is None:
            continue
        path = os.path.join(d, name + ".py")
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                with open(path, "rb") as f:
                    if sha256(f.read()).hexdigest() == digest:
                        code = load(path)
        except OSError:
            pass
        break
    if code is None:
        write(b"\x00EXECDECK\x00S")
        source = eval(readline())
        data = source.encode("utf-8")
        if path is not None and sha256(data).hexdigest() == digest \
                and store(path, data):
            code = load(path)
        if code is None:
            code = compile(source, "<execdeck worker>", "exec")
    exec(code, g)
