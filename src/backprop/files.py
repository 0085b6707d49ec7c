"""Writing files so that nothing is ever half-written.

Every file the tool writes (a model, a picture, a graph) goes to a temporary
file in the target's folder and is renamed over the target only once complete:
an interrupted, failed or killed run leaves the previous file intact.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", *, durable: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it to ``path``.

    ``durable`` also syncs the data to disk before the rename (for models,
    which a crash must not lose). The file gets the usual permissions (umask),
    not mkstemp's private ones.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
