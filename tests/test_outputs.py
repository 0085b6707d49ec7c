"""Every file a command writes follows one rule (backprop.files, issue 25 part 2).

* a regular file or a new path: replaced atomically (no temporary file left);
* a symbolic link: followed, its target replaced, the link still a link (a dangling
  link gets its target);
* /dev/null, another character device, a FIFO, a Unix socket: written directly, and
  still what it was afterwards (as root, the devices are nodes made here with the
  system's numbers, so that a broken writer cannot replace the machine's /dev/null);
* a path that cannot be written fails before the work (exit 2), an error while
  writing names the path the user gave, never the temporary file.

Each kind of path is tried with every command that writes a file: the model of
`train --out`, the pictures of `train --plot`, `compare --sweep --plot` and
`descend --plot`, and `graph -o` (a DOT file and the HTML lesson page). What a
special file receives is compared with what the same command writes to a regular
file (the model and the graph are the same bytes run after run; a picture is
checked by its header).
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path
from typing import Callable

import pytest
import yaml

from clikit import run_inprocess

Argv = Callable[[Path, str], list[str]]


def _config(folder: Path) -> Path:
    cfg = {"data": {"synthetic": {"expr": "sin(3*x)", "ranges": {"x": [-1, 1]}, "n": 60}},
           "model": {"hidden": 4},
           "training": {"epochs": 2, "batch_size": 16, "seed": 1},
           "output": {"model": str(folder / "unused.npz")}}
    p = folder / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def train_model(folder: Path, out: str) -> list[str]:
    return ["train", str(_config(folder)), "--quiet", "--out", out]


def train_plot(folder: Path, out: str) -> list[str]:
    return ["train", str(_config(folder)), "--quiet", "--out", str(folder / "m.npz"),
            "--plot", out]


def sweep_plot(folder: Path, out: str) -> list[str]:
    return ["compare", "exp(x)", "--at", "1", "--sweep", "--plot", out, "--format", "json"]


def descend_plot(folder: Path, out: str) -> list[str]:
    return ["descend", "x^2", "--from", "1", "--steps", "5", "--plot", out]


def graph_dot(folder: Path, out: str) -> list[str]:
    return ["graph", "2/sin(exp(-x))", "--at", "-4.499", "-o", out, "--format", "dot"]


def graph_html(folder: Path, out: str) -> list[str]:
    return ["graph", "2/sin(exp(-x))", "--at", "-4.499", "-o", out, "--format", "html"]


# (name, argv, the file name a regular output gets, the same bytes every run?)
COMMANDS: list[tuple[str, Argv, str, bool]] = [
    ("train --out", train_model, "m.npz", True),
    ("train --plot", train_plot, "p.png", False),
    ("compare --sweep --plot", sweep_plot, "s.svg", False),
    ("descend --plot", descend_plot, "d.png", False),
    ("graph -o (dot)", graph_dot, "g.dot", True),
    ("graph -o (html)", graph_html, "g.html", True),
]
PLOTS = {"train --plot", "compare --sweep --plot", "descend --plot"}
IDS = [c[0] for c in COMMANDS]


def _needs(name: str) -> None:
    if name in PLOTS:
        pytest.importorskip("matplotlib")


def _looks_right(name: str, data: bytes, reference: bytes, same_bytes: bool) -> None:
    """What a special file received is the command's output."""
    if data.startswith(b"PK\x03\x04"):  # a model: the same arrays; its config names its path
        import io

        import numpy as np

        with np.load(io.BytesIO(data)) as got, np.load(io.BytesIO(reference)) as want:
            assert got.files == want.files
            for k in want.files:
                if k != "config":
                    assert np.array_equal(got[k], want[k]), k
    elif same_bytes:
        assert data == reference
    elif reference.startswith(b"\x89PNG"):
        assert data.startswith(b"\x89PNG") and len(data) > 1000
    else:
        assert b"<svg" in data[:2000] and data.rstrip().endswith(b"</svg>")


def _run(argv: list[str]) -> tuple[int, str, str]:
    r = run_inprocess(argv)
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    return r.code, r.out, r.err


def _no_temporaries(*folders: Path) -> None:
    for folder in folders:
        assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


_references: dict[str, bytes] = {}


def _reference(name: str, argv: Argv, filename: str, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes the command writes to a new regular file (once per command)."""
    if name not in _references:
        folder = tmp_path_factory.mktemp("reference")
        target = folder / filename
        code, _, err = _run(argv(folder, str(target)))
        assert code == 0, err
        _references[name] = target.read_bytes()
    return _references[name]


# ---- regular files, new paths and symbolic links ----------------------------------------

@pytest.mark.parametrize("name,argv,filename,same", COMMANDS, ids=IDS)
@pytest.mark.parametrize("kind", ["new", "regular", "symlink", "dangling symlink"])
def test_files_and_links(kind: str, name: str, argv: Argv, filename: str, same: bool,
                         tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    _needs(name)
    reference = _reference(name, argv, filename, tmp_path_factory)
    real = tmp_path / "real" / filename
    real.parent.mkdir()
    given = tmp_path / filename
    if kind == "regular":
        given = real
        real.write_bytes(b"the previous content")
        real.chmod(0o640)
    elif kind == "symlink":
        real.write_bytes(b"the previous content")
        given.symlink_to(real)
    elif kind == "dangling symlink":
        given.symlink_to(real)  # real does not exist yet
    else:
        given = real
    code, _, err = _run(argv(tmp_path, str(given)))
    assert code == 0, err
    _looks_right(name, real.read_bytes(), reference, same)
    assert stat.S_ISREG(os.stat(real).st_mode)
    if kind == "regular":
        assert stat.S_IMODE(os.stat(real).st_mode) == 0o640  # a replaced file keeps its mode
    if "symlink" in kind:
        assert given.is_symlink() and os.readlink(given) == str(real)
    _no_temporaries(tmp_path, real.parent)


# ---- special files: written through, never replaced ---------------------------------------

class FifoReader:
    """A thread that reads a FIFO to its end, as `cat fifo` would."""

    def __init__(self, path: Path) -> None:
        self.data = b""
        self.thread = threading.Thread(target=self._read, args=(path,), daemon=True)
        self.thread.start()

    def _read(self, path: Path) -> None:
        with open(path, "rb") as fh:
            self.data = fh.read()

    def result(self) -> bytes:
        self.thread.join(60)
        assert not self.thread.is_alive()
        return self.data


class SocketReader:
    """A Unix socket server that accepts one connection and reads it to its end."""

    def __init__(self, path: Path) -> None:
        self.data = b""
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        self.data = b"".join(chunks)

    def result(self) -> bytes:
        self.thread.join(60)
        assert not self.thread.is_alive()
        self.server.close()
        return self.data


DEVICES = {"/dev/null": (1, 3), "/dev/zero": (1, 5), "/dev/full": (1, 7)}


def _device(system: str, folder: Path) -> Path:
    """The character device ``system`` (/dev/null, ...) to write to, without risking it.

    As root, a broken writer would replace the machine's own /dev/null with a regular
    file; so root gets a node of its own with the same numbers, made with mknod in
    ``folder`` (the same kind of file to the writer). Anyone else cannot replace a file
    in /dev and writes to the real one.
    """
    if os.geteuid() != 0:
        if not os.path.exists(system):
            pytest.skip(f"no {system} here")
        return Path(system)
    node = folder / f"dev-{Path(system).name}"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(*DEVICES[system]))
    except (AttributeError, OSError) as exc:
        pytest.skip(f"cannot make a device node here ({exc})")
    return node


@pytest.mark.parametrize("name,argv,filename,same", COMMANDS, ids=IDS)
@pytest.mark.parametrize("kind", ["/dev/null", "/dev/zero", "symlink to /dev/null", "fifo",
                                  "socket"])
def test_special_files_are_written_through(kind: str, name: str, argv: Argv, filename: str,
                                           same: bool, tmp_path: Path,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    _needs(name)
    reference = _reference(name, argv, filename, tmp_path_factory)
    reader: FifoReader | SocketReader | None = None
    if kind == "/dev/null":
        given, is_kind = _device("/dev/null", tmp_path), stat.S_ISCHR
    elif kind == "/dev/zero":
        given, is_kind = _device("/dev/zero", tmp_path), stat.S_ISCHR
    elif kind == "symlink to /dev/null":
        given, is_kind = tmp_path / filename, stat.S_ISCHR
        given.symlink_to(_device("/dev/null", tmp_path))
    elif kind == "fifo":
        given, is_kind = tmp_path / filename, stat.S_ISFIFO
        os.mkfifo(given)
        reader = FifoReader(given)
    else:
        given, is_kind = tmp_path / filename, stat.S_ISSOCK
        reader = SocketReader(given)
    before = os.stat(given)
    code, _, err = _run(argv(tmp_path, str(given)))
    assert code == 0, err
    after = os.stat(given)
    assert is_kind(after.st_mode) and after.st_ino == before.st_ino  # the same file, not replaced
    if kind == "symlink to /dev/null":
        assert given.is_symlink()
    if reader is not None:
        _looks_right(name, reader.result(), reference, same)
    _no_temporaries(tmp_path)


# ---- errors: before the work, and naming the user's path ------------------------------------

@pytest.mark.parametrize("name,argv,filename,same", COMMANDS, ids=IDS)
def test_an_error_while_writing_names_the_path_given(name: str, argv: Argv, filename: str,
                                                    same: bool, tmp_path: Path) -> None:
    """/dev/full takes no byte: exit 1, and the message names the path given."""
    _needs(name)
    link = tmp_path / filename
    link.symlink_to(_device("/dev/full", tmp_path))
    code, _, err = _run(argv(tmp_path, str(link)))
    assert code == 1
    assert f"cannot write {link} (No space left on device)" in err
    assert ".tmp" not in err and err.count("\n") == 1
    assert stat.S_ISCHR(os.stat(link).st_mode) and link.is_symlink()


@pytest.mark.parametrize("name,argv,filename,same", COMMANDS, ids=IDS)
@pytest.mark.parametrize("where", ["/proc/{name}", "{tmp}/missing/{name}", "{tmp}"])
def test_an_output_that_cannot_be_written_fails_before_the_work(
        where: str, name: str, argv: Argv, filename: str, same: bool, tmp_path: Path) -> None:
    """Exit 2 at once, naming the path given: no model trained, no result printed."""
    _needs(name)
    path = where.format(name=filename, tmp=tmp_path)
    code, out, err = _run(argv(tmp_path, path))
    if name == "train --out" and "missing" in where:  # the model's folder is made (runs/)
        assert code == 0 and os.path.isfile(path), err
        return
    assert code == 2, err
    assert path in err and ".tmp" not in err and err.count("\n") == 1, err
    assert out == ""
    assert not (tmp_path / "m.npz").exists()  # train --plot: the model was not trained either
    _no_temporaries(tmp_path)


# ---- the rule itself, in the library -------------------------------------------------------

def test_a_failed_rename_leaves_the_file_and_no_temporary(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop import files

    target = tmp_path / "out.dot"
    target.write_bytes(b"before")

    def refuse(src: str, dst: str) -> None:
        raise OSError(18, "Invalid cross-device link", src)

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(files.OutputError) as caught:
        files.write_output(target, b"after")
    assert str(caught.value) == f"cannot write {target} (Invalid cross-device link)"
    assert target.read_bytes() == b"before"
    _no_temporaries(tmp_path)


def test_an_error_in_the_block_writes_nothing_to_a_fifo(tmp_path: Path) -> None:
    """The bytes are made before the FIFO is opened: a failure sends its reader nothing."""
    from backprop import files

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError):
        with files.open_output(fifo) as fh:
            fh.write(b"half")
            raise ValueError("the picture failed")
    # nobody opened the FIFO for writing: a reader opening it now would wait, so open
    # it without waiting and see that no writer is there
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert os.read(fd, 10) == b""
    finally:
        os.close(fd)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_graph_to_a_fifo_without_an_extension_is_dot(tmp_path: Path) -> None:
    """As on stdout: no extension to tell the format, a FIFO or device gets the DOT text."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    code, _, err = _run(["graph", "sin(x)", "-o", str(fifo)])
    assert code == 0, err
    assert reader.result().startswith(b"digraph")
