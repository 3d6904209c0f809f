"""Golden cases for postmap: parse a ``.case`` file, run it, write or compare a transcript.

A ``.case`` file lists commands, one per line, run in a fresh copy of ``tables/``:

    postmap ARGS... [< FILE]     a command whose output is recorded
    sorted postmap ARGS...       the same, stdout lines sorted (an order Postfix leaves to
                                 its hash function: hash:/texthash:/inline: -s)
    ! SHELL COMMAND              set-up, not recorded (chmod, touch)
    # comment

``/WORK`` in a command stands for the work directory (for absolute paths) and replaces it in
the output.  The transcript of each command is::

    $ COMMAND
    STDOUT
    [stderr]
    STDERR
    [exit STATUS]

``capture.py`` writes ``.ref`` files from Postfix's postmap; ``test_postmap_golden.py``
runs the same commands through mailrelay's and compares, after :func:`as_mailrelay`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
TABLES = HERE / "tables"
CASES = HERE / "cases"

#: (stdout bytes, stderr bytes, exit status) of one postmap run.
Runner = Callable[[list[str], bytes, Path], tuple[bytes, bytes, int]]


@dataclass(frozen=True)
class Command:
    line: str
    args: list[str]
    stdin: str | None
    sorted: bool
    setup: bool


def parse_case(path: Path) -> Iterator[Command]:
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            yield Command(line, [], None, False, True)
            continue
        words = shlex.split(line)
        is_sorted = words[0] == "sorted"
        if is_sorted:
            words = words[1:]
        assert words[0] == "postmap", line
        stdin = None
        if len(words) >= 2 and words[-2] == "<":
            stdin = words[-1]
            words = words[:-2]
        yield Command(line, words[1:], stdin, is_sorted, False)


def prepare(work: Path) -> None:
    """A fresh copy of the tables, all last changed an hour ago.

    Old mtimes keep Postfix from re-reading a texthash file it thinks is being written, and
    make "database X.db is older than source file X" depend only on what a case does.
    """
    shutil.copytree(TABLES, work, dirs_exist_ok=True)
    old = time.time() - 3600
    for path in work.iterdir():
        os.utime(path, (old, old))


def transcript(case: Path, work: Path, run: Runner) -> str:
    prepare(work)
    out: list[str] = []
    for command in parse_case(case):
        if command.setup:
            subprocess.run(command.line[1:], shell=True, cwd=work, check=True)
            continue
        args = [a.replace("/WORK", str(work)) for a in command.args]
        data = (work / command.stdin).read_bytes() if command.stdin else b""
        stdout, stderr, status = run(args, data, work)
        text = stdout.decode("utf-8", "replace").replace(str(work), "/WORK")
        if command.sorted:
            text = "".join(sorted(text.splitlines(keepends=True)))
        out.append(f"$ {command.line}\n{text}[stderr]\n")
        out.append(stderr.decode("utf-8", "replace").replace(str(work), "/WORK"))
        out.append(f"[exit {status}]\n")
    return "".join(out)


def as_mailrelay(reference: str) -> str:
    """What mailrelay prints where Postfix printed *reference* (see README.md)."""
    text = re.sub(r"(?m)^postmap: ", "mailrelay/postmap: ", reference)
    text = text.replace("usage: postmap ", "usage: mailrelay postmap ")
    return re.sub(r"(unsupported dictionary type: \w+)\. Is the postfix-\w+ package installed\?",
                  r"\1", text)
