"""What every command gets: its name for messages, the configuration it should use, its streams.

Messages go to stderr as ``mailrelay/COMMAND: warning: ...`` / ``mailrelay/COMMAND: fatal:
...``, Postfix's ``postconf: warning:`` with the suite's name in front (as Postfix's own syslog
lines say ``postfix/postconf``), so scripts that grep for Postfix's texts still match.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from mailrelay.config.locate import ConfigSource, locate
from mailrelay.util.diagnostic import Fatal


@dataclass(slots=True)
class Context:
    command: str
    config_option: str | None = None
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def program(self) -> str:
        return f"mailrelay/{self.command}"

    def source(self) -> ConfigSource:
        return locate(self.config_option, self.environ)

    def warn(self, text: str) -> None:
        print(f"{self.program}: warning: {text}", file=self.stderr)

    def fatal(self, error: Fatal | str) -> int:
        """Print a fatal error the Postfix way; returns the exit status (1)."""
        text = str(error)
        print(f"{self.program}: fatal: {text}", file=self.stderr)
        return 1
