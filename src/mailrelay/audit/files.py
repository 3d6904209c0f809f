"""Facts about files that ``check`` judges: secrets readable by others, stale compiled tables."""

from __future__ import annotations

import os
import stat

from mailrelay.audit.finding import Finding, warning
from mailrelay.util.diagnostic import Origin


def readable_by_others(path: str) -> int | None:
    """The file's permission bits when group or others may read it, else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return stat.S_IMODE(mode) if mode & (stat.S_IRGRP | stat.S_IROTH) else None


def secret_file_findings(paths: list[str], parameter: str, origin: Origin) -> list[Finding]:
    findings: list[Finding] = []
    for path in paths:
        mode = readable_by_others(path)
        if mode is not None:
            findings.append(warning(
                f"{parameter}: {path} holds secrets but is readable by group or others "
                f"(mode {mode:04o}): chmod 600 {path}",
                origin, parameter,
            ))
    return findings


def stale_finding(source: str, compiled: str, origin: Origin, parameter: str) -> Finding | None:
    """Postfix's "database X is older than source file Y", with who uses the table."""
    try:
        if os.stat(compiled).st_mtime >= os.stat(source).st_mtime:
            return None
    except OSError:
        return None
    return warning(
        f"{parameter}: database {compiled} is older than source file {source}: "
        f"run mailrelay postmap on {source}",
        origin, parameter,
    )
