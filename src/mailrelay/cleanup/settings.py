"""The parameters cleanup reads, taken from a Config once (not per message)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mailrelay.config.model import Config

if TYPE_CHECKING:  # canonical's header code needs these settings: imported when used
    from mailrelay.cleanup.canonical import Canonical
    from mailrelay.cleanup.content_checks import InputChecks
    from mailrelay.cleanup.masquerade import Masquerade
    from mailrelay.cleanup.mime import MimeLimits
    from mailrelay.cleanup.virtual import VirtualAlias
    from mailrelay.maps.registry import MapCache


REMOTE_CONTEXT = object()  # memo key of the remote header context


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
    header_size_limit: int = 102400
    #: trivial-rewrite: ``site!user`` is ``user@site``; ``user%domain`` is ``user@domain``.
    swap_bangpath: bool = True
    allow_percent_hack: bool = True
    #: Header addresses of clients outside local_header_rewrite_clients are qualified with
    #: this domain (the "remote" context); empty: their headers are not rewritten at all.
    remote_header_rewrite_domain: str = ""
    #: canonical_maps and friends; None when none is set.
    canonical: Canonical | None = None
    #: header_checks, mime_header_checks, body_checks; None when none is set.
    checks: InputChecks | None = None
    #: masquerade_domains; None when empty.
    masquerade: Masquerade | None = None
    #: virtual_alias_maps; None when empty.
    virtual: VirtualAlias | None = None
    #: content_filter of the receiving service (``transport:destination``; "" for none),
    #: stored with each message; a FILTER action overrides it.
    content_filter: str = ""
    #: disable_mime_input_processing and the MIME limits (None: Postfix's defaults):
    #: header_size_limit applies to the headers of MIME parts too.
    mime: MimeLimits | None = None
    #: Memos of pure functions of these settings, per object (not copied by replace()):
    #: the remote header context, and header fields as qualified in this context (cron and
    #: monitoring mail repeats the same From: and To: all day).
    memo: dict[object, object] = field(default_factory=dict, init=False, repr=False,
                                       compare=False, hash=False)

    def header_context(self, local_context: bool) -> CleanupSettings | None:
        """The settings header addresses are rewritten with: these for the local context;
        for a remote client, remote_header_rewrite_domain as both myorigin and mydomain
        (postconf(5); captured: tests/golden/cleanup-rewrite-context); None when a remote
        client's headers are left alone."""
        if local_context:
            return self
        domain = self.remote_header_rewrite_domain
        if not domain:
            return None
        remote = self.memo.get(REMOTE_CONTEXT)
        if remote is None:
            remote = self.memo[REMOTE_CONTEXT] = replace(self, myorigin=domain, mydomain=domain)
        assert isinstance(remote, CleanupSettings)
        return remote

    @classmethod
    def from_config(cls, config: Config, cache: MapCache | None = None) -> CleanupSettings:
        """*cache* keeps the tables open across messages (one is made when not given)."""
        from mailrelay.cleanup.canonical import Canonical
        from mailrelay.cleanup.content_checks import InputChecks
        from mailrelay.cleanup.masquerade import Masquerade
        from mailrelay.cleanup.mime import MimeLimits
        from mailrelay.cleanup.virtual import VirtualAlias
        from mailrelay.maps.registry import MapCache  # (lmdb: not for sendmail's imports)

        cache = cache or MapCache()
        overrides = receive_overrides(config)
        mappings = NO_ADDRESS_MAPPINGS not in overrides
        return cls(
            myhostname=config.get_str("myhostname"),
            myorigin=config.get_str("myorigin"),
            mydomain=config.get_str("mydomain"),
            mail_name=config.get_str("mail_name"),
            append_at_myorigin=config.get_bool("append_at_myorigin"),
            append_dot_mydomain=config.get_bool("append_dot_mydomain"),
            always_add_missing_headers=config.get_bool("always_add_missing_headers"),
            drop_headers=frozenset(n.lower() for n in config.get_list("message_drop_headers")),
            header_size_limit=config.get_int("header_size_limit"),
            swap_bangpath=config.get_bool("swap_bangpath"),
            allow_percent_hack=config.get_bool("allow_percent_hack"),
            remote_header_rewrite_domain=config.get_str("remote_header_rewrite_domain"),
            canonical=Canonical.from_config(config, cache) if mappings else None,
            checks=(InputChecks.from_config(config, cache)
                    if NO_HEADER_BODY_CHECKS not in overrides else None),
            masquerade=Masquerade.from_config(config) if mappings else None,
            virtual=VirtualAlias.from_config(config, cache) if mappings else None,
            content_filter=config.get_str("content_filter").strip(),
            mime=MimeLimits.from_config(config),
        )


#: receive_override_options that cleanup acts on.  The others Postfix knows are accepted
#: and have nothing to act on here: no_unknown_recipient_checks (cleanup has no recipient
#: validation), no_milters (no milters), no_address_mappings' automatic BCC (no
#: always_bcc/sender_bcc_maps yet).
NO_HEADER_BODY_CHECKS = "no_header_body_checks"
NO_ADDRESS_MAPPINGS = "no_address_mappings"
RECEIVE_OVERRIDES = frozenset({NO_HEADER_BODY_CHECKS, NO_ADDRESS_MAPPINGS,
                               "no_unknown_recipient_checks", "no_milters"})


def receive_overrides(config: Config) -> frozenset[str]:
    """receive_override_options of this service (a master.cf ``-o`` is the usual place:
    the reinjection smtpd after a content filter), lower case; unknown words are kept, for
    the caller's warning."""
    return frozenset(o.lower() for o in config.get_list("receive_override_options"))
