"""The parameters cleanup reads, taken from a Config once (not per message)."""

from __future__ import annotations

from dataclasses import dataclass

from mailrelay.config.model import Config


@dataclass(frozen=True, slots=True)
class CleanupSettings:
    myhostname: str
    myorigin: str
    mydomain: str
    mail_name: str
    append_at_myorigin: bool
    append_dot_mydomain: bool
    always_add_missing_headers: bool
    #: message_drop_headers, lower case: removed from every message.
    drop_headers: frozenset[str] = frozenset(
        {"bcc", "content-length", "resent-bcc", "return-path"})

    @classmethod
    def from_config(cls, config: Config) -> CleanupSettings:
        return cls(
            myhostname=config.get_str("myhostname"),
            myorigin=config.get_str("myorigin"),
            mydomain=config.get_str("mydomain"),
            mail_name=config.get_str("mail_name"),
            append_at_myorigin=config.get_bool("append_at_myorigin"),
            append_dot_mydomain=config.get_bool("append_dot_mydomain"),
            always_add_missing_headers=config.get_bool("always_add_missing_headers"),
            drop_headers=frozenset(n.lower() for n in config.get_list("message_drop_headers")),
        )
