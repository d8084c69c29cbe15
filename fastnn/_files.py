"""Files written whole or not at all, and ``.npy``/``.npz`` headers read
before any array is.

:func:`atomic_write` is how fastnn writes every file a user asked for (model
files, checkpoints, ``fastnn predict --output``, ``--plot``). It promises:

* The target holds either its old content or the new content, whole, after
  any failure: an exception in ``write`` (including ``KeyboardInterrupt``), a
  full disk, a kill -9 of the process, or (thanks to the two fsyncs) a power
  loss after ``atomic_write`` returned.
* The file's permission bits are those of the file it replaces; a new file
  gets 0o666 less the umask, as ``open(path, "w")`` would give it.
* A symbolic link is written through: the file it points to (all links
  resolved) gets the new content and the link stays a link.
* The temporary file is ``.<name>.<random>.fastnn-tmp`` beside the target:
  hidden, and not ending in ``.npz``, so that nothing takes it for a model.
  It is removed on every error path. Only a kill -9 (or a power loss) during
  the write can leave one behind; the next ``atomic_write`` of the same
  target removes such files once they are more than an hour old (younger
  ones may belong to a save still running in another process).

The readers below let ``fastnn.load`` and the data loaders check every
array's shape and dtype, and the sizes an archive declares, before they
allocate or decompress anything. This module imports nothing from fastnn.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time
import tokenize
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy_format

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: runs are not locked
    fcntl = None

__all__ = ["atomic_write", "fsync_directory", "DAMAGE", "RunLock", "check_output_path",
           "check_regular_file", "TEMPORARY_SUFFIX", "STALE_SECONDS", "NpyHeader",
           "read_npy_header", "npz_headers"]

TEMPORARY_SUFFIX = ".fastnn-tmp"
# What damage inside an archive can raise while it is read: zipfile raises
# NotImplementedError for an unknown compression method, RuntimeError for
# an encrypted member, and OSError for a directory pointing before the
# file's start.
DAMAGE = (ValueError, TypeError, KeyError, IndexError, OverflowError, EOFError, OSError,
          NotImplementedError, RuntimeError, zipfile.BadZipFile, zipfile.LargeZipFile,
          zlib.error)
# A temporary file of the same target older than this is taken to be left
# by a killed process, and removed by the next save of that target.
STALE_SECONDS = 3600
# File names are at most 255 bytes on common file systems; the temporary
# name adds a dot, 16 hex digits and the suffix to (a prefix of) the target's.
_NAME_BUDGET = 255 - 1 - 1 - 16 - len(TEMPORARY_SUFFIX)


def atomic_write(path, write) -> str:
    """Write the file ``path`` whole or not at all; returns ``path`` as a str.

    ``write(stream)`` writes the content to ``stream``, a binary file object
    open for writing (seekable, so ``numpy.savez`` and ``savefig`` work).
    It goes to a temporary file in the target's directory, which is flushed
    and fsynced, renamed over the target (``os.replace``, atomic on POSIX
    and Windows), and then the directory is fsynced so that the rename
    itself survives a power loss. Any exception from ``write`` or from the
    file system propagates after the temporary file has been removed; the
    target is then as it was. See the module docstring for permissions,
    symbolic links and what a kill -9 leaves.
    """
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    # Write through symbolic links: replace the file the link points to.
    target = os.path.realpath(path) if os.path.islink(path) else path
    directory, name = os.path.split(os.path.abspath(target))
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None  # a new file: os.open applies the umask to 0o666
    _remove_stale_temporaries(directory, name)

    temporary = None
    try:
        fd = None
        while fd is None:
            temporary = os.path.join(directory, _temporary_name(name))
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                             | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0),
                             0o600 if mode is not None else 0o666)
            except FileExistsError:  # 64 random bits collided: draw again
                continue
        with os.fdopen(fd, "wb") as stream:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(stream.fileno(), mode)
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
        temporary = None
    except BaseException:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass
        raise
    fsync_directory(directory)
    return path


_FILE_KINDS = ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
               (stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket"))


def check_regular_file(path, what) -> str:
    """``path`` as a str if it is a regular file (links followed), checked
    before it is opened: a device such as /dev/zero would be read forever,
    and opening a FIFO without a writer blocks forever. FileNotFoundError
    for a missing path and IsADirectoryError for a directory (as ``open``
    raises them); ValueError naming ``what`` for anything else."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path) from None
    if stat.S_ISREG(mode):
        return path
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "special file")
    raise ValueError(f"{path} is not a regular file (it is a {kind}); {what} must be a file")


def check_output_path(path, what) -> str:
    """``path`` as a str if a file can be written there: ValueError if it is
    a directory, its directory does not exist or is not writable. For
    files written during a long run, checked before it starts."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if os.path.isdir(path):
        raise ValueError(f"{what} {path} is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"{what} {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"{what} {path}: directory {directory} is not writable")
    return path


class RunLock:
    """The right to write ``path`` for the length of a run (a context manager).

    The constructor checks that ``path`` can be written (``check_output_path``);
    entering takes an exclusive ``fcntl.flock`` on a hidden file beside it,
    ``.<name>.fastnn-lock``, and raises RuntimeError at once if another run
    (in this process or another) holds it, instead of letting two runs
    overwrite each other's checkpoints in turn. The lock file is removed on
    exit; a lock whose file was removed meanwhile is taken again on the new
    file. Without ``fcntl`` (Windows) nothing is locked.
    """

    def __init__(self, path, what):
        self.path = check_output_path(path, what)
        self.what = what
        directory, name = os.path.split(os.path.abspath(self.path))
        self.lock_path = os.path.join(directory, f".{name[:_NAME_BUDGET]}.fastnn-lock")
        self._fd = None

    def __enter__(self):
        if fcntl is None:
            return self
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                         0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RuntimeError(
                    f"{self.what} {self.path} is being written by another training run (it "
                    f"holds {self.lock_path}); give this run another path, or wait for that "
                    "one to end") from None
            except OSError:  # a file system without locks: go on unlocked
                os.close(fd)
                return self
            try:  # the file locked must still be the one at lock_path
                if os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino:
                    self._fd = fd
                    return self
            except FileNotFoundError:
                pass
            os.close(fd)

    def __exit__(self, *exc_info):
        if self._fd is not None:
            try:
                os.unlink(self.lock_path)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
        return False


def _temporary_name(name: str) -> str:
    return f".{name[:_NAME_BUDGET]}.{secrets.token_hex(8)}{TEMPORARY_SUFFIX}"


def _remove_stale_temporaries(directory: str, name: str) -> None:
    """Remove ``.<name>.<16 hex>.fastnn-tmp`` files older than STALE_SECONDS."""
    pattern = re.compile(re.escape(f".{name[:_NAME_BUDGET]}.") + r"[0-9a-f]{16}"
                         + re.escape(TEMPORARY_SUFFIX) + r"\Z")
    cutoff = time.time() - STALE_SECONDS
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if not pattern.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and \
                    entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
        except OSError:
            pass  # gone already, or not ours to remove


def fsync_directory(directory: str) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return  # Windows: directories cannot be opened, and NTFS journals renames
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and /proc-like ones) refuse fsync on directories
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# .npy headers, read before the data
# ---------------------------------------------------------------------------
class NpyHeader:
    """What a ``.npy`` header declares, and what the file around it holds.

    shape, dtype, fortran_order: from the header.
    nbytes: bytes of array data the header implies (a Python int: no
        overflow whatever the shape).
    data_offset: bytes before the data (magic + header).
    stored_bytes: bytes after the header the file (or zip member) holds.
    """

    __slots__ = ("shape", "dtype", "fortran_order", "nbytes", "data_offset", "stored_bytes")

    def __init__(self, shape, dtype, fortran_order, data_offset, stored_bytes):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        self.fortran_order = bool(fortran_order)
        count = 1
        for s in self.shape:
            count *= s
        self.nbytes = count * dtype.itemsize
        self.data_offset = data_offset
        self.stored_bytes = stored_bytes

    def __repr__(self):
        return f"NpyHeader(shape={self.shape}, dtype={self.dtype})"


def read_npy_header(stream, total_bytes: int) -> NpyHeader:
    """The header of the ``.npy`` content at the start of ``stream``.

    ``total_bytes``: the length of that content (the file's size, or a zip
    member's uncompressed size). Reads a few hundred bytes at most; raises
    ValueError for a bad magic string or header, an object dtype, or data
    whose length is not what the header declares.
    """
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    except (SyntaxError, TypeError, KeyError, OverflowError, RecursionError, EOFError,
            tokenize.TokenError) as error:
        # numpy parses the header with ast and tokenize: damage shows as these
        raise ValueError(f"its .npy header is damaged ({type(error).__name__}: {error})") from None
    if dtype.hasobject:
        raise ValueError(f"it holds Python objects (dtype {dtype}), which fastnn does not read")
    offset = stream.tell()
    header = NpyHeader(shape, dtype, fortran_order, offset, total_bytes - offset)
    if header.stored_bytes != header.nbytes:
        raise ValueError(
            f"its header declares shape {header.shape} of {dtype} ({header.nbytes:,} bytes) "
            f"but it holds {max(header.stored_bytes, 0):,} bytes of data"
        )
    return header


# deflate cannot shrink data more than 1032 to 1; a zip member claiming a
# larger ratio lies about its size (a zip bomb's directory).
_MAX_DEFLATE_RATIO = 1032


def npz_headers(archive: zipfile.ZipFile) -> dict:
    """``{array name: NpyHeader}`` of every ``.npy`` member of an open npz.

    Decompresses only the first bytes of each member. A member whose
    declared sizes are inconsistent (header against the zip directory, or
    the directory's sizes against what compression can achieve) raises
    ValueError naming it. Members not ending in ``.npy`` are left out.
    """
    headers = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy") or info.is_dir():
            continue
        key = info.filename[:-len(".npy")]
        if info.compress_type == zipfile.ZIP_STORED:
            plausible = info.file_size == info.compress_size
        else:
            plausible = info.file_size <= _MAX_DEFLATE_RATIO * info.compress_size + 1024
        if not plausible:
            raise ValueError(
                f"'{key}' claims {info.file_size:,} bytes from {info.compress_size:,} "
                "compressed bytes, more than compression can give"
            )
        try:
            with archive.open(info) as member:
                headers[key] = read_npy_header(member, info.file_size)
        except ValueError as error:
            raise ValueError(f"'{key}': {error}") from None
    return headers


def read_npz_member(archive: zipfile.ZipFile, key: str, header: NpyHeader, out=None):
    """The array ``key`` of an open npz whose header was checked.

    With ``out`` (a C-contiguous array of the header's shape), the data is
    read straight into it in chunks, converted to ``out``'s dtype if
    needed: no second copy of the array is made. Raises ValueError if the
    member turns out shorter than its header said, or fails its CRC.
    """
    with archive.open(key + ".npy") as member:
        member.read(header.data_offset)  # the header, checked already
        if (out is not None and not header.fortran_order and header.dtype == out.dtype
                and out.flags.c_contiguous and out.shape == header.shape):
            target = out
        else:
            order = "F" if header.fortran_order else "C"
            target = np.empty(header.shape, dtype=header.dtype, order=order)
        # the array's bytes in memory order (a view: target is contiguous)
        view = memoryview(target.reshape(-1, order="A").view(np.uint8))
        filled = 0
        chunk = 1 << 22
        while filled < header.nbytes:
            got = member.readinto(view[filled:filled + chunk])
            if not got:
                raise ValueError(
                    f"'{key}' ends after {filled:,} of {header.nbytes:,} bytes of data"
                )
            filled += got
        if member.read(1):  # also makes zipfile check the member's CRC
            raise ValueError(f"'{key}' holds more data than its header declares")
    if out is None:
        return target
    if target is not out:
        out[...] = target
    return out


_KIND_NAMES = {"iu": "integer", "U": "string", "f": "number", "b": "bool"}


def read_npz_scalar(archive: zipfile.ZipFile, headers: dict, key: str, kinds: str):
    """The 0-d entry ``key`` of an open npz (headers from ``npz_headers``),
    of a dtype kind in ``kinds``, as a Python value; ValueError naming the
    entry if it is missing or not a single value of that kind."""
    header = headers.get(key)
    if header is None:
        raise ValueError(f"it has no '{key}' entry")
    if header.shape != () or header.dtype.kind not in kinds or header.dtype.itemsize > 256:
        raise ValueError(f"'{key}' is an array of shape {header.shape} and dtype "
                         f"{header.dtype}, not a single {_KIND_NAMES.get(kinds, 'value')}")
    return read_npz_member(archive, key, header).item()


def open_npz(path: str, what: str) -> zipfile.ZipFile:
    """``path`` opened as a zip archive, or ValueError saying that it is not
    a fastnn ``what`` and why. A missing, unreadable or directory path
    raises its OSError as it is; anything but a regular file (a device, a
    FIFO) ValueError, before it is opened."""
    check_regular_file(path, f"a fastnn {what}")
    try:
        return zipfile.ZipFile(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, OSError) as error:
        # (a damaged directory can make zipfile seek before the file's
        # start, an OSError, or name an unknown zip version)
        with open(path, "rb") as stream:
            single = stream.read(6) == b"\x93NUMPY"
        reason = "it holds a single array (a .npy file)" if single else (
            f"not a .npz (zip) archive ({error})")
        raise ValueError(f"{path} is not a fastnn {what}: {reason}") from None
