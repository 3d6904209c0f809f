"""Which version of a file a table was read from, to notice when it is replaced or edited.

``postmap`` installs a new compiled table by renaming a new file over the old one, and an
administrator edits a regexp table in place or by an editor's rename: either way the device,
inode, size or modification time changes.  A table remembers the stamp it was opened with
(taken *before* opening, so that a replacement racing with the open makes the table look
stale, never fresh) and compares it with the file's current stamp in ``is_stale()``.
:class:`FileTable` does this for the tables read whole at open time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mailrelay.maps.base import MapError, Table


@dataclass(frozen=True, slots=True)
class Stamp:
    device: int
    inode: int
    size: int
    mtime_ns: int


def stamp(path: str) -> Stamp | None:
    """The current stamp of *path*, or None when it cannot be examined (gone, no access)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return Stamp(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def changed(path: str, opened: Stamp | None) -> bool:
    return stamp(path) != opened


class FileTable(Table):
    """A table read whole from its file when opened (texthash, regexp, pcre, cidr)."""

    __slots__ = ("_stamp",)

    def read(self, words: str = "open") -> bytes:
        """The file's content; MapError "WORDS FILE: reason" (Postfix's words differ by type:
        "open" or "open database") when it cannot be read."""
        self._stamp = stamp(self.name)
        try:
            with open(self.name, "rb") as f:
                return f.read()
        except OSError as e:
            raise MapError(f"{words} {self.name}: {e.strerror}") from e

    def is_stale(self) -> bool:
        return changed(self.name, self._stamp)
