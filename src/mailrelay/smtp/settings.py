"""What the SMTP server state machine needs from the configuration, as one frozen value.

Built once per service from its :class:`~mailrelay.config.model.Config` (main.cf plus the
service's ``-o`` overrides) by :meth:`ServerSettings.from_config`; the state machine never
reads configuration itself.  These are the parameters Postfix's smtpd reads for the protocol;
the policy parameters (restrictions, maps, rate limits) belong to the shell that answers the
machine's questions.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Protocol

from mailrelay.smtp.framing import BareNewline


class TlsLevel(enum.Enum):
    """``smtpd_tls_security_level``."""

    NONE = "none"
    MAY = "may"
    ENCRYPT = "encrypt"


class ConfigReader(Protocol):
    """The typed getters of :class:`mailrelay.config.model.Config` that this module uses."""

    def get_str(self, name: str) -> str: ...
    def get_int(self, name: str) -> int: ...
    def get_bool(self, name: str) -> bool: ...
    def get_list(self, name: str) -> list[str]: ...
    def get_time(self, name: str) -> int: ...


#: Postfix's default ``smtpd_forbidden_commands`` ends in ``regexp:{{/^[^A-Z]/ Bogus}}``: a
#: command that does not start with a letter (regexp tables ignore case by default).
_INLINE_REGEXP = re.compile(r"^(?:regexp|pcre):\{\{\s*/(.*)/([a-zA-Z]*)\s+.*\}\}$")


@dataclass(frozen=True, slots=True)
class ForbiddenCommands:
    """``smtpd_forbidden_commands``: words, and the patterns of inline regexp tables."""

    words: frozenset[str] = frozenset({"CONNECT", "GET", "POST"})
    patterns: tuple[re.Pattern[str], ...] = (re.compile("^[^A-Z]", re.IGNORECASE),)

    def match(self, word: str) -> bool:
        return word.upper() in self.words or any(p.search(word) for p in self.patterns)

    @classmethod
    def parse(cls, items: list[str]) -> ForbiddenCommands:
        words: set[str] = set()
        patterns: list[re.Pattern[str]] = []
        for item in items:
            m = _INLINE_REGEXP.match(item)
            if m:
                flags = 0 if "i" in m.group(2) else re.IGNORECASE  # "i" toggles, as Postfix
                patterns.append(re.compile(m.group(1), flags))
            elif ":" not in item:
                words.add(item.upper())
            # Other table types would need the maps layer; a relay's configuration has none.
        return cls(frozenset(words), tuple(patterns))


@dataclass(frozen=True, slots=True)
class ServerSettings:
    #: ``myhostname``: in the HELO reply and the 421 replies.
    myhostname: str = "localhost"
    #: ``smtpd_banner``, expanded: the text after ``220``.
    banner: str = "localhost ESMTP Postfix"
    #: ``message_size_limit`` (0: none).
    message_size_limit: int = 10240000
    #: ``smtpd_recipient_limit`` (0: none).
    recipient_limit: int = 1000
    #: ``smtpd_recipient_overshoot_limit``: excess RCPTs before they count as errors.
    recipient_overshoot_limit: int = 1000
    #: ``line_length_limit``.
    line_length_limit: int = 2048
    #: ``smtpd_hard_error_limit``.
    hard_error_limit: int = 20
    #: ``smtpd_soft_error_limit``.
    soft_error_limit: int = 10
    #: ``smtpd_error_sleep_time``, seconds.
    error_sleep_time: float = 1.0
    #: ``smtpd_junk_command_limit``.
    junk_command_limit: int = 100
    #: ``disable_vrfy_command``.
    disable_vrfy_command: bool = False
    #: ``smtpd_helo_required``.
    helo_required: bool = False
    #: ``smtpd_discard_ehlo_keywords``, lower case (``silent-discard`` included when set).
    discard_ehlo_keywords: frozenset[str] = frozenset()
    #: ``smtpd_forbid_bare_newline`` (after ``smtpd_forbid_bare_newline_exclusions``: the shell
    #: builds the settings with ``NO`` for an excluded client).
    bare_newline: BareNewline = BareNewline.NORMALIZE
    #: ``smtpd_forbid_bare_newline_reject_code``.
    bare_newline_reject_code: int = 550
    #: ``smtpd_forbid_unauth_pipelining``.
    forbid_unauth_pipelining: bool = True
    #: ``smtputf8_enable``.
    smtputf8_enable: bool = True
    #: ``smtpd_tls_security_level`` (``none`` when no certificate could be loaded).
    tls_level: TlsLevel = TlsLevel.NONE
    #: ``smtpd_tls_wrappermode``: the session is in TLS from the start (port 465).
    tls_wrapper: bool = False
    #: ``smtpd_forbidden_commands``.
    forbidden_commands: ForbiddenCommands = field(default_factory=ForbiddenCommands)

    def discards(self, keyword: str) -> bool:
        return keyword.lower() in self.discard_ehlo_keywords

    @classmethod
    def from_config(cls, config: ConfigReader) -> ServerSettings:
        """The settings of one smtpd service (pass the service's view of the configuration)."""
        level = _tls_level(config)
        return cls(
            myhostname=config.get_str("myhostname"),
            banner=config.get_str("smtpd_banner"),
            message_size_limit=config.get_int("message_size_limit"),
            recipient_limit=config.get_int("smtpd_recipient_limit"),
            recipient_overshoot_limit=config.get_int("smtpd_recipient_overshoot_limit"),
            line_length_limit=config.get_int("line_length_limit"),
            hard_error_limit=config.get_int("smtpd_hard_error_limit"),
            soft_error_limit=config.get_int("smtpd_soft_error_limit"),
            error_sleep_time=float(config.get_time("smtpd_error_sleep_time")),
            junk_command_limit=config.get_int("smtpd_junk_command_limit"),
            disable_vrfy_command=config.get_bool("disable_vrfy_command"),
            helo_required=config.get_bool("smtpd_helo_required"),
            discard_ehlo_keywords=frozenset(
                k.lower() for k in config.get_list("smtpd_discard_ehlo_keywords")
            ),
            bare_newline=BareNewline.parse(config.get_str("smtpd_forbid_bare_newline")),
            bare_newline_reject_code=config.get_int("smtpd_forbid_bare_newline_reject_code"),
            forbid_unauth_pipelining=config.get_bool("smtpd_forbid_unauth_pipelining"),
            smtputf8_enable=config.get_bool("smtputf8_enable"),
            tls_level=level,
            tls_wrapper=config.get_bool("smtpd_tls_wrappermode"),
            forbidden_commands=ForbiddenCommands.parse(config.get_list("smtpd_forbidden_commands")),
        )


def _tls_level(config: ConfigReader) -> TlsLevel:
    """``smtpd_tls_security_level``, or when it is empty the legacy booleans, as Postfix."""
    text = config.get_str("smtpd_tls_security_level").strip().lower()
    if text:
        return TlsLevel(text)
    if config.get_bool("smtpd_enforce_tls"):
        return TlsLevel.ENCRYPT
    return TlsLevel.MAY if config.get_bool("smtpd_use_tls") else TlsLevel.NONE
