"""Writing the files the tool makes (a model, a picture, a graph): never half-written,
and never put in place of something that is not a regular file.

One rule for every output path, in :func:`open_output`:

* a regular file, or a path that does not exist yet: the bytes go to a temporary
  file in the same folder, renamed over the target only once complete, so an
  interrupted, failed or killed run leaves the previous file intact;
* a symbolic link: followed to its target (however many links), and the target
  is replaced as above; the link stays a link (a dangling link gets its target
  created);
* a character or block device (``/dev/null``), a FIFO or a Unix socket: opened and
  written directly; it is never replaced by a regular file. The bytes are made in
  memory first, so the device or the reader of the FIFO gets either all of them or
  none (and a FIFO is opened only once there is something to write).

:func:`check_output` makes the same choice before the work starts, so that a
path that cannot be written fails at once (exit 2) and not after minutes of
training. Every error names the path as the user gave it, never the temporary
file beside it.
"""

from __future__ import annotations

import io
import os
import socket
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

from backprop.errors import BackpropError, InputError

__all__ = ["OutputError", "check_output", "open_output", "write_output"]


class OutputError(BackpropError):
    """The output could not be written (exit 1); the message names the user's path."""


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _target(path: str | os.PathLike[str]) -> tuple[Path, os.stat_result | None]:
    """The file a write to ``path`` lands on (every symbolic link followed) and its status
    (None: it does not exist yet)."""
    real = Path(os.path.realpath(os.fspath(path)))
    try:
        return real, os.stat(real)
    except (FileNotFoundError, NotADirectoryError):  # (a file where its folder should be)
        return real, None


def _written_directly(st: os.stat_result | None) -> bool:
    """A device, a FIFO or a socket: written in place, never replaced."""
    if st is None:
        return False
    m = st.st_mode
    return stat.S_ISCHR(m) or stat.S_ISBLK(m) or stat.S_ISFIFO(m) or stat.S_ISSOCK(m)


_EXAMPLE_NAMES = {"--out": "model.npz", "output.model": "model.npz", "-o": "graph.svg"}


def is_written_directly(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is (or links to) a device, a FIFO or a socket: written in place."""
    try:
        return _written_directly(_target(path)[1])
    except OSError:
        return False


def check_output(path: str | os.PathLike[str], option: str, *, make_folder: bool = False) -> Path:
    """Before any work: ``path`` can be written as :func:`open_output` will write it.

    Raises :class:`~backprop.errors.InputError` (exit 2) naming ``option`` and
    ``path`` when it is a folder, when its folder does not exist (``make_folder``:
    the folder is made, as for a model's ``runs/``), or when nothing can be
    written there. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    p = Path(path)
    shown = os.fspath(path)
    if shown.endswith(("/", os.sep)) or p.is_dir():
        raise InputError(f"{option}: {shown} is a folder; give a file name, such as "
                         f"{p / _EXAMPLE_NAMES.get(option, 'out.png')}")
    try:
        real, st = _target(p)
    except OSError as exc:
        raise InputError(f"{option}: cannot write {shown} ({_why(exc)})") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError(f"{option}: {shown} leads to a folder ({real}); give a file name")
    if _written_directly(st):
        if not os.access(real, os.W_OK):
            raise InputError(f"{option}: cannot write {shown} (permission denied)")
        return p
    folder = real.parent
    if not folder.is_dir():
        if os.path.lexists(folder):
            raise InputError(f"{option}: cannot write {shown}: {folder} is a file, not a folder")
        if not make_folder:
            raise InputError(f"{option}: cannot write {shown}: the folder {folder} does not exist")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise InputError(f"{option}: cannot write {shown}: {folder} is a file, not a "
                             "folder") from None
        except OSError as exc:
            raise InputError(f"{option}: cannot write {shown}: cannot create its folder "
                             f"({_why(exc)})") from None
    try:
        # what open_output will do: a temporary file beside the target
        with tempfile.NamedTemporaryFile(prefix=f".{real.name}.", suffix=".tmp", dir=folder):
            pass
    except OSError as exc:
        raise InputError(f"{option}: cannot write {shown} ({_why(exc)})") from None
    return p


@contextmanager
def open_output(path: str | os.PathLike[str], mode: str = "wb", *,
                durable: bool = False) -> Iterator[IO[Any]]:
    """A file to write ``path``'s new content to, put in place when the block ends.

    A regular file (or a new path, or a link to one) is replaced atomically; a
    device, FIFO or socket receives the bytes directly (see the module's notes).
    ``durable`` syncs a replaced file to disk before the rename (for models, which
    a crash must not lose). A new file gets the usual permissions (umask); a
    replaced one keeps its own. An OSError becomes an :class:`OutputError` that
    names ``path``; if the block raises, nothing is written.
    """
    shown = os.fspath(path)
    try:
        real, st = _target(path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "it is a folder")
    except OSError as exc:
        raise OutputError(f"cannot write {shown} ({_why(exc)})") from None
    if _written_directly(st):
        assert st is not None
        buffer: Any = io.BytesIO() if "b" in mode else io.StringIO()
        try:
            yield buffer
            data = buffer.getvalue()
            _write_directly(real, st, data if isinstance(data, bytes) else data.encode("utf-8"))
        except OSError as exc:
            raise OutputError(f"cannot write {shown} ({_why(exc)})") from None
        return
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
        with os.fdopen(fd, mode) if "b" in mode else os.fdopen(fd, mode, encoding="utf-8") as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, real)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write {shown} ({_why(exc)})") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def write_output(path: str | os.PathLike[str], data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` by :func:`open_output`'s rule."""
    with open_output(path, durable=durable) as fh:
        fh.write(data)


def _write_directly(real: Path, st: os.stat_result, data: bytes) -> None:
    if stat.S_ISSOCK(st.st_mode):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(os.fspath(real))
            sock.sendall(data)
        return
    # no O_CREAT: it exists; no O_TRUNC: a device or a FIFO has nothing to truncate.
    # A FIFO's open waits for its reader, as a shell's redirection does.
    fd = os.open(real, os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
