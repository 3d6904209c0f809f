#!/usr/bin/env python3
"""Capture the ``.ref`` transcripts of the postmap golden cases from Postfix's postmap.

    python3 tests/golden/postmap/capture.py [CASE...]

Needs Postfix's ``postmap`` on PATH (Debian: postfix, postfix-pcre, postfix-lmdb).  It runs
with a private configuration directory holding only ``compatibility_level = 3.6`` (as
Debian's main.cf), so /etc/postfix is never read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from postmap_transcript import CASES, transcript  # beside this script: on sys.path


def main(names: list[str]) -> int:
    with tempfile.TemporaryDirectory() as top:
        config = Path(top, "etc")
        config.mkdir()
        (config / "main.cf").write_text("compatibility_level = 3.6\n")
        (config / "master.cf").write_text("")
        env = dict(os.environ, LC_ALL="C.UTF-8")

        def postfix(args: list[str], data: bytes, work: Path) -> tuple[bytes, bytes, int]:
            done = subprocess.run(["postmap", "-c", str(config), *args], input=data,
                                  capture_output=True, cwd=work, env=env)
            return done.stdout, done.stderr, done.returncode

        cases = [CASES / f"{n}.case" for n in names] if names else sorted(CASES.glob("*.case"))
        for case in cases:
            work = Path(top, case.stem)
            work.mkdir()
            case.with_suffix(".ref").write_text(transcript(case, work, postfix),
                                                 encoding="utf-8")
            print(f"captured {case.with_suffix('.ref').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
