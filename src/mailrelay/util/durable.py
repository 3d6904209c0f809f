"""Durable file primitives: the one way this project replaces a file.

A reader (a running relay, a concurrent ``postconf``) must see either the old file or the new
one, never a half-written one, and after a crash the new content must be there if we said it
was.  So: write a temporary file in the same directory, fsync it, rename it over the target,
fsync the directory.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def fsync_directory(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacement(target: str | os.PathLike[str], mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside *target*; on success it atomically becomes *target*.

    The temporary file keeps *target*'s permission bits (or *mode*), so replacing a private
    file never makes it readable to others, even for a moment.
    """
    target = Path(target)
    directory = target.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if mode is None:
            with contextlib.suppress(FileNotFoundError):
                mode = os.stat(target).st_mode & 0o7777
        if mode is not None:
            os.chmod(tmp, mode)
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        fsync_directory(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_atomically(target: str | os.PathLike[str], data: bytes, mode: int | None = None) -> None:
    """Replace *target* with *data*: all or nothing, durable when this returns."""
    with replacement(target, mode) as tmp:
        tmp.write_bytes(data)


def build_atomically(
    target: str | os.PathLike[str], build: Callable[[Path], None], mode: int | None = None
) -> None:
    """Let *build* create the new content at a temporary path, then install it atomically."""
    with replacement(target, mode) as tmp:
        build(tmp)
