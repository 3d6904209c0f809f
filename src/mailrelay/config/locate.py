"""Which configuration a command uses.

``-c DIR`` wins, then ``MAILRELAY_CONFIG_DIR``, then ``/etc/mailrelay`` when it exists, else
the embedded default configuration shipped in the package (``config/embedded/``), which works
for an ordinary user from the current directory.

The directory is kept exactly as given, and files are named ``DIR/main.cf``, as Postfix does
(``postconf -c /x/`` says ``/x//main.cf`` and prints ``config_directory = /x/``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mailrelay.config.maincf import read_main_cf
from mailrelay.config.model import Config

SYSTEM_CONFIG_DIRECTORY = "/etc/mailrelay"
EMBEDDED_DIRECTORY = str(Path(__file__).parent / "embedded")
ENVIRONMENT_VARIABLE = "MAILRELAY_CONFIG_DIR"


@dataclass(frozen=True, slots=True)
class ConfigSource:
    directory: str
    embedded: bool
    #: Named by ``-c`` or the environment (Postfix's MAIL_CONFIG): ``postconf -n`` then shows
    #: ``config_directory = DIR``, as Postfix does.
    explicit: bool = False

    @property
    def main_cf(self) -> str:
        return f"{self.directory}/main.cf"

    @property
    def master_cf(self) -> str:
        return f"{self.directory}/master.cf"


def locate(option: str | None, environ: Mapping[str, str] | None = None) -> ConfigSource:
    environ = os.environ if environ is None else environ
    if option:
        return ConfigSource(option, embedded=False, explicit=True)
    if environ.get(ENVIRONMENT_VARIABLE):
        return ConfigSource(environ[ENVIRONMENT_VARIABLE], embedded=False, explicit=True)
    if os.path.isdir(SYSTEM_CONFIG_DIRECTORY):
        return ConfigSource(SYSTEM_CONFIG_DIRECTORY, embedded=False)
    return ConfigSource(EMBEDDED_DIRECTORY, embedded=True)


def load_main(source: ConfigSource) -> Config:
    """The Config of *source*'s main.cf; a missing main.cf is fatal, as in Postfix."""
    return Config(read_main_cf(source.main_cf), source.directory)
