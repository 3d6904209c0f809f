"""mailrelay postmap reproduces Postfix 3.7's postmap, command by command (see README.md)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from postmap_transcript import CASES, as_mailrelay, transcript  # beside this file

from mailrelay.cli.context import Context
from mailrelay.cli.postmap import run


def mailrelay_postmap(args: list[str], data: bytes, work: Path) -> tuple[bytes, bytes, int]:
    stdout, stderr = io.StringIO(), io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    ctx = Context("postmap", stdin=stdin, stdout=stdout, stderr=stderr, environ={})
    status = run(args, ctx)
    return stdout.getvalue().encode(), stderr.getvalue().encode(), status


@pytest.mark.parametrize("case", sorted(CASES.glob("*.case")), ids=lambda p: p.stem)
def test_transcript_matches_postfix(case: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    expected = as_mailrelay(case.with_suffix(".ref").read_text(encoding="utf-8"))
    assert transcript(case, work, mailrelay_postmap) == expected
