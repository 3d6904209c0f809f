"""THE parameter table: every main.cf parameter mailrelay knows, declared once.

Each entry gives the Postfix name, the default text exactly as Postfix 3.7's ``postconf -d``
prints it (unexpanded), the kind of value, and one line of documentation.  ``postconf -d``,
``postconf -n``'s unknown-parameter warnings, ``check`` and the typed :class:`Config` all come
from this table; nothing reads a parameter that is not here.

The defaults were taken from Postfix 3.7.11 (Debian 12) and are checked against its captured
``postconf -d`` output by ``tests/unit/config/test_params.py``.  Where mailrelay deliberately
differs, the entry says so in a ``DIFFERS FROM POSTFIX`` comment and the test lists it with the
reason.  Minimums and maximums are the ones Postfix enforces (its "invalid ... parameter value"
fatal errors), found by running Postfix's own programs with out-of-range values.

Defaults that Postfix computes at run time (``myhostname``, ``mydomain``, ``mynetworks``) carry
a ``compute`` function instead of a constant.  A compute function may be given a lookup of the
explicit settings (main.cf, master.cf ``-o``), because Postfix derives these from other
settings: ``mydomain`` from ``myhostname``, ``mynetworks`` from ``mynetworks_style``,
``inet_interfaces`` and ``inet_protocols``.  Called without one, it uses Postfix's defaults for
those.  This module reads ``/proc/net`` for the interface addresses and imports no socket code.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from mailrelay import __version__


class Kind(enum.Enum):
    STR = "string"
    LIST = "list"
    BOOL = "boolean"
    INT = "integer"
    TIME = "time"
    #: A byte count (``message_size_limit``); plain decimal, as in Postfix.
    SIZE = "size"


#: The explicit setting of a parameter (main.cf or ``-o``), unexpanded; None when not set.
ExplicitLookup = Callable[[str], "str | None"]


class Compute(Protocol):
    """Computes a run-time default; *explicit* gives the settings it depends on, if any."""

    def __call__(self, explicit: ExplicitLookup | None = None) -> str: ...


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: str
    kind: Kind
    doc: str
    #: Unit of a bare number, for TIME parameters (Postfix's per-parameter default unit).
    unit: str = "s"
    minimum: int | None = None
    maximum: int | None = None
    #: Computes the default when Postfix does so at run time (``postconf -d`` prints the result).
    compute: Compute | None = None
    #: Read only by mailrelay, not a Postfix parameter.
    mailrelay_only: bool = False
    #: Read without ``$name`` expansion (Postfix's CONFIG_RAW_TABLE): the daemon that uses the
    #: value fills in its own per-session ``$name``s (``default_rbl_reply``'s ``$rbl_code``).
    raw: bool = False


# -- computed defaults -----------------------------------------------------------------------

#: Postfix's DEF_MYDOMAIN: the domain of a host name without one.
LOCALDOMAIN = "localdomain"
#: What mynetworks falls back to when the interfaces cannot be read.
FALLBACK_MYNETWORKS = "127.0.0.0/8 [::1]/128"

_PROC_FIB_TRIE = "/proc/net/fib_trie"
_PROC_IF_INET6 = "/proc/net/if_inet6"

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_Iface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def _nothing_set(name: str) -> str | None:
    return None


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", text.lower()) if w]


def default_myhostname(explicit: ExplicitLookup | None = None) -> str:
    """The host name; without a dot, ``.$mydomain`` (or ``.localdomain``) is appended.

    As Postfix's check_myhostname(): the kernel's node name, no DNS lookup.
    """
    look = explicit or _nothing_set
    name = os.uname().nodename or "localhost"
    if "." in name:
        return name
    domain = look("mydomain")
    return f"{name}.{domain if domain else LOCALDOMAIN}"


def domain_of(hostname: str) -> str:
    """Postfix's check_mydomain(): *hostname* minus its first label when that leaves a dot."""
    _, dot, rest = hostname.partition(".")
    return rest if dot and "." in rest else LOCALDOMAIN


def default_mydomain(explicit: ExplicitLookup | None = None) -> str:
    """``myhostname`` minus its first label, or ``localdomain``."""
    look = explicit or _nothing_set
    hostname = look("myhostname")
    if hostname is None or "$" in hostname:
        hostname = default_myhostname(explicit)
    return domain_of(hostname.strip())


def ipv4_interfaces(fib_trie: str) -> list[ipaddress.IPv4Interface]:
    """This host's IPv4 addresses with their subnets, from /proc/net/fib_trie text.

    An address is a ``/32 host LOCAL`` leaf; its subnet is the longest ``link`` or ``host``
    route shorter than /32 that contains it (the interface route), else the address alone.
    """
    addresses: set[ipaddress.IPv4Address] = set()
    routes: set[ipaddress.IPv4Network] = set()
    leaf: str | None = None
    for line in fib_trie.splitlines():
        text = line.strip().lstrip("|-+ ")
        if not text.startswith("/"):
            leaf = text.split()[0] if line.lstrip().startswith("|--") and text else None
            continue
        fields = text.split()
        if leaf is None or len(fields) < 3:
            continue
        prefix, scope, kind = int(fields[0][1:]), fields[1], fields[2]
        if prefix == 32 and scope == "host" and kind == "LOCAL":
            addresses.add(ipaddress.IPv4Address(leaf))
        elif 0 < prefix < 32 and scope in ("link", "host") and kind in ("UNICAST", "LOCAL"):
            routes.add(ipaddress.IPv4Network(f"{leaf}/{prefix}", strict=False))
    found = []
    for addr in sorted(addresses):
        prefixes = [net.prefixlen for net in routes if addr in net]
        found.append(ipaddress.IPv4Interface(f"{addr}/{max(prefixes, default=32)}"))
    return found


def ipv6_interfaces(if_inet6: str) -> list[ipaddress.IPv6Interface]:
    """This host's IPv6 addresses with their prefix lengths, from /proc/net/if_inet6 text."""
    found = []
    for line in if_inet6.splitlines():
        fields = line.split()
        if len(fields) < 3 or len(fields[0]) != 32:
            continue
        hexaddr = fields[0]
        text = ":".join(hexaddr[i : i + 4] for i in range(0, 32, 4))
        found.append(ipaddress.IPv6Interface(f"{text}/{int(fields[2], 16)}"))
    return sorted(set(found))


def _network(iface: _Iface, style: str) -> _Net:
    if style == "host":
        return ipaddress.ip_network(iface.ip)
    if style == "class" and isinstance(iface, ipaddress.IPv4Interface):
        first = int(iface.ip) >> 24
        bits = 8 if first < 128 else 16 if first < 192 else 24 if first < 224 else 4
        return ipaddress.ip_network(f"{iface.ip}/{bits}", strict=False)
    return iface.network


def format_network(net: _Net) -> str:
    """Postfix's notation: ``10.0.0.0/8``, ``[fd00::]/64``."""
    if net.version == 6:
        return f"[{net.network_address}]/{net.prefixlen}"
    return str(net)


def networks_of(interfaces: Iterable[_Iface], style: str) -> str:
    """mynetworks for *interfaces* under mynetworks_style *style* (host, subnet or class).

    Like Postfix: addresses sorted IPv4 first, then by value; duplicate networks dropped.
    """
    nets: list[_Net] = []
    for iface in sorted(interfaces, key=lambda i: (i.version, i.ip.packed)):
        net = _network(iface, style)
        if net not in nets:
            nets.append(net)
    return " ".join(format_network(n) for n in nets)


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def host_interfaces() -> list[_Iface]:
    """The addresses of this host's interfaces, from /proc/net (empty when unreadable)."""
    v4: list[_Iface] = list(ipv4_interfaces(_read(_PROC_FIB_TRIE)))
    return v4 + list(ipv6_interfaces(_read(_PROC_IF_INET6)))


def compatibility_below(level: str, than: tuple[int, ...]) -> bool:
    """Postfix's ``<level`` comparison of a compatibility_level such as ``3.6``."""
    try:
        parts = tuple(int(p) for p in level.strip().split("."))
    except ValueError:
        return False
    return parts < than


def select_interfaces(
    interfaces: Iterable[_Iface], inet_interfaces: str, inet_protocols: str
) -> list[_Iface]:
    """The interfaces Postfix would call its own for these two settings."""
    protocols = set(_words(inet_protocols))
    versions = {4, 6} if protocols & {"all", "both"} or not protocols else set()
    versions |= {4} if "ipv4" in protocols else set()
    versions |= {6} if "ipv6" in protocols else set()
    wanted = set(_words(inet_interfaces) or ["all"])
    literals = {w.strip("[]") for w in wanted}
    loopback = bool(wanted & {"loopback-only", "localhost"})
    chosen = []
    for iface in interfaces:
        mine = "all" in wanted or str(iface.ip) in literals or (loopback and iface.ip.is_loopback)
        if iface.version in versions and mine:
            chosen.append(iface)
    return chosen


def default_mynetworks(explicit: ExplicitLookup | None = None) -> str:
    """Postfix's computed mynetworks: the networks of this host's interfaces, per style.

    The style is ``mynetworks_style``, whose default depends on ``compatibility_level``
    (subnet below level 2, host from it on).  Only ``inet_interfaces`` addresses of
    ``inet_protocols`` families count.  When nothing can be read: ``127.0.0.0/8 [::1]/128``.
    """
    look = explicit or _nothing_set
    style = look("mynetworks_style")
    if style is None or "$" in style:
        level = look("compatibility_level") or "0"
        style = "subnet" if compatibility_below(level, (2,)) else "host"
    interfaces = select_interfaces(
        host_interfaces(), look("inet_interfaces") or "all", look("inet_protocols") or "all"
    )
    return networks_of(interfaces, style.strip().lower()) or FALLBACK_MYNETWORKS


#: Obsolete parameter names that Postfix's defaults still refer to (``virtual_alias_maps =
#: $virtual_maps``).  They may be set in main.cf; ``postconf -d`` does not list them.
LEGACY_NAMES: frozenset[str] = frozenset({
    "fallback_relay", "smtp_per_record_deadline", "smtpd_client_connection_limit_exceptions",
    "smtpd_per_record_deadline", "virtual_maps",
})


# -- the table -------------------------------------------------------------------------------

_TABLE: tuple[Param, ...] = (
    # -- General: identity, networks, directories --
    Param("config_directory", "/etc/postfix", Kind.STR,
          "The directory with main.cf and master.cf."),
    Param("compatibility_level", "0", Kind.STR,
          "Which Postfix release's defaults apply where a default changed over time."),
    Param("myhostname", "", Kind.STR,
          "The fully-qualified domain name of this host.", compute=default_myhostname),
    Param("mydomain", "", Kind.STR,
          "The internet domain name of this host.", compute=default_mydomain),
    Param("myorigin", "$myhostname", Kind.STR,
          "The domain that locally-posted mail appears to come from."),
    Param("mydestination", "$myhostname, localhost.$mydomain, localhost", Kind.LIST,
          "The domains this machine delivers locally instead of relaying."),
    Param("mynetworks", "", Kind.LIST,
          "The trusted clients (networks and tables) that may relay through this host.",
          compute=default_mynetworks),
    Param("mynetworks_style", "${{$compatibility_level} <level {2} ? {subnet} : {host}}", Kind.STR,
          "How mynetworks is computed when not set: host, subnet or class."),
    Param("inet_interfaces", "all", Kind.LIST,
          "The addresses the SMTP server listens on (all, loopback-only or a list)."),
    Param("inet_protocols", "all", Kind.LIST,
          "The IP protocols used: ipv4, ipv6 or all."),
    Param("proxy_interfaces", "", Kind.LIST,
          "Addresses at which mail arrives through a proxy or NAT, treated as our own."),
    Param("mail_name", "Postfix", Kind.STR,
          "The mail system name shown in the SMTP greeting and in bounces."),
    # DIFFERS FROM POSTFIX, whose default is "3.7.11":
    # mailrelay's own version, not the Postfix release it imitates.
    Param("mail_version", __version__, Kind.STR,
          "The version of the mail system."),
    Param("multi_instance_name", "", Kind.STR,
          "An optional instance name, used in syslog_name."),
    Param("stress", "", Kind.STR,
          "Set to yes by the master when the SMTP server is overloaded."),
    Param("queue_directory", "/var/spool/postfix", Kind.STR,
          "The directory with the mail queues."),
    Param("data_directory", "/var/lib/postfix", Kind.STR,
          "The directory with writable non-queue data (caches, TLS sessions)."),
    Param("command_directory", "/usr/sbin", Kind.STR,
          "The directory with the administrative commands."),
    Param("daemon_directory", "/usr/lib/postfix/sbin", Kind.STR,
          "The directory with the server programs."),
    Param("mail_owner", "postfix", Kind.STR,
          "The unprivileged account that owns the queue and runs the servers."),
    Param("setgid_group", "postdrop", Kind.STR,
          "The group used by the local submission and queue-listing commands."),
    Param("sendmail_path", "/usr/sbin/sendmail", Kind.STR,
          "The full path of the sendmail-compatible submission command."),
    Param("mailq_path", "/usr/bin/mailq", Kind.STR,
          "The full path of the mailq command."),
    Param("default_database_type", "hash", Kind.STR,
          "The table type used when a command is given a map file without a type."),
    Param("known_tcp_ports", "lmtp=24, smtp=25, smtps=submissions=465, submission=587", Kind.LIST,
          "Service names and the TCP ports they stand for."),
    Param("default_process_limit", "100", Kind.INT,
          "The default maximal number of processes per master.cf service.", minimum=1),
    Param("max_idle", "100s", Kind.TIME,
          "How long an idle server process waits for a new request before exiting.", minimum=1),
    Param("max_use", "100", Kind.INT,
          "How many requests a server process handles before it exits.", minimum=1),
    Param("daemon_timeout", "18000s", Kind.TIME,
          "How long a server process may take for one request before it is killed.", minimum=1),
    Param("ipc_timeout", "3600s", Kind.TIME,
          "The time limit for one exchange with an internal server.", minimum=1),
    Param("authorized_submit_users", "static:anyone", Kind.LIST,
          "The local users allowed to submit mail with the sendmail command."),
    Param("authorized_mailq_users", "static:anyone", Kind.LIST,
          "The local users allowed to list the queue."),
    Param("authorized_flush_users", "static:anyone", Kind.LIST,
          "The local users allowed to flush the queue."),
    Param("helpful_warnings", "yes", Kind.BOOL,
          "Log warnings about problematic configuration settings."),
    Param("soft_bounce", "no", Kind.BOOL,
          "Turn permanent delivery and reject errors into temporary ones, for testing."),
    Param("disable_dns_lookups", "no", Kind.BOOL,
          "Obsolete: disable DNS lookups in the SMTP client (use smtp_dns_support_level)."),
    Param("parent_domain_matches_subdomains",
          "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,"
          "qmqpd_authorized_clients,relay_domains,smtpd_access_maps",
          Kind.LIST,
          "The features where a table entry for example.com also matches its subdomains."),
    Param("recipient_delimiter", "", Kind.STR,
          "The characters that separate a user name from an address extension."),
    # -- Limits and message format --
    Param("message_size_limit", "10240000", Kind.SIZE,
          "The maximal size in bytes of a message, envelope included."),
    Param("line_length_limit", "2048", Kind.SIZE,
          "Longer lines are split into pieces of at most this many bytes.", minimum=512),
    Param("header_size_limit", "102400", Kind.SIZE,
          "The maximal size in bytes of one message header.", minimum=1),
    Param("header_address_token_limit", "10240", Kind.INT,
          "The maximal number of address tokens allowed in one header.", minimum=1),
    Param("hopcount_limit", "50", Kind.INT,
          "The maximal number of Received: headers before mail is bounced as looping.", minimum=1),
    Param("mime_nesting_limit", "100", Kind.INT,
          "The maximal nesting depth of MIME multipart or message/rfc822 parts.", minimum=1),
    Param("mime_boundary_length_limit", "2048", Kind.INT,
          "The maximal length of a MIME multipart boundary string.", minimum=1),
    Param("body_checks_size_limit", "51200", Kind.SIZE,
          "How much of each body part body_checks inspects, in bytes."),
    Param("queue_minfree", "0", Kind.SIZE,
          "The free space in bytes the queue file system needs before mail is accepted."),
    Param("smtputf8_enable", "${{$compatibility_level} <level {1} ? {no} : {yes}}", Kind.BOOL,
          "Support the SMTPUTF8 extension for UTF-8 addresses and headers."),
    Param("smtputf8_autodetect_classes", "sendmail, verify", Kind.LIST,
          "The kinds of mail for which the SMTPUTF8 requirement is detected."),
    Param("strict_smtputf8", "no", Kind.BOOL,
          "Reject UTF-8 in envelope addresses unless the client asked for SMTPUTF8."),
    Param("strict_rfc821_envelopes", "no", Kind.BOOL,
          "Require <> around MAIL FROM and RCPT TO addresses, with nothing else."),
    Param("strict_7bit_headers", "no", Kind.BOOL,
          "Reject mail with 8-bit text in message headers."),
    Param("strict_8bitmime", "no", Kind.BOOL,
          "Enable both strict_7bit_headers and strict_8bitmime_body."),
    Param("strict_8bitmime_body", "no", Kind.BOOL,
          "Reject 8-bit message bodies that were not announced as 8BITMIME."),
    Param("disable_mime_input_processing", "no", Kind.BOOL,
          "Do not parse MIME structure on input; header checks then see only the top headers."),
    Param("disable_mime_output_conversion", "no", Kind.BOOL,
          "Do not convert 8BITMIME mail to 7-bit for servers without 8BITMIME."),
    Param("message_reject_characters", "", Kind.STR,
          "Characters that make the server reject a message that contains them."),
    Param("message_strip_characters", "", Kind.STR,
          "Characters removed from message content."),
    Param("message_drop_headers", "bcc, content-length, resent-bcc, return-path", Kind.LIST,
          "Headers removed from every message before it is queued."),
    Param("cleanup_replace_stray_cr_lf", "yes", Kind.BOOL,
          "Replace each stray CR or LF in message content with a space."),
    # -- Logging --
    Param("maillog_file", "", Kind.STR,
          "The file that receives the log when logging to a file instead of syslog."),
    Param("maillog_file_prefixes", "/var, /dev/stdout", Kind.LIST,
          "The path prefixes allowed for maillog_file."),
    Param("maillog_file_compressor", "gzip", Kind.STR,
          "The program that compresses a rotated maillog_file."),
    Param("maillog_file_rotate_suffix", "%Y%m%d-%H%M%S", Kind.STR,
          "The strftime format appended to a rotated maillog_file name."),
    Param("syslog_name", "${multi_instance_name?{$multi_instance_name}:{postfix}}", Kind.STR,
          "The program name at the start of each log line (postfix/smtpd[pid])."),
    Param("syslog_facility", "mail", Kind.STR,
          "The syslog facility of mail log records."),
    Param("debug_peer_list", "", Kind.LIST,
          "Hosts and networks whose SMTP dialogues are logged in detail."),
    Param("debug_peer_level", "2", Kind.INT,
          "How much the verbose logging level goes up for a debug_peer_list peer.", minimum=1),
    Param("metrics_http_address", "", Kind.STR,
          "Where the Prometheus metrics endpoint listens (host:port); empty: off.",
          mailrelay_only=True),
    Param("delay_logging_resolution_limit", "2", Kind.INT,
          "The number of decimals in the delay and delays= fields of log lines.", maximum=6),
    Param("info_log_address_format", "external", Kind.STR,
          "Whether addresses are logged in their external (quoted) or internal form."),
    Param("smtpd_client_port_logging", "no", Kind.BOOL,
          "Log the client's TCP port along with its name and address."),
    Param("show_user_unknown_table_name", "yes", Kind.BOOL,
          "Name the table that did not know the recipient in the reject reply."),
    # -- SMTP server: session --
    Param("smtpd_banner", "$myhostname ESMTP $mail_name", Kind.STR,
          "The text that follows 220 in the SMTP greeting."),
    Param("smtpd_helo_required", "no", Kind.BOOL,
          "Require a HELO or EHLO command before MAIL FROM."),
    Param("smtpd_delay_reject", "yes", Kind.BOOL,
          "Apply client, HELO and sender restrictions at RCPT TO rather than right away."),
    Param("smtpd_timeout", "${stress?{10}:{300}}s", Kind.TIME,
          "How long the server waits for a client command or data before hanging up.", minimum=1),
    Param("smtpd_starttls_timeout", "${stress?{10}:{300}}s", Kind.TIME,
          "The time limit for the server's TLS handshake.", minimum=1),
    Param("smtpd_per_request_deadline",
          "${smtpd_per_record_deadline?{$smtpd_per_record_deadline}:{${stress?{yes}:{no}}}}",
          Kind.BOOL,
          "Make smtpd_timeout a deadline for each whole command rather than each read."),
    Param("smtpd_min_data_rate", "500", Kind.INT,
          "The minimal bytes per second of DATA that keep extending a per-request deadline.",
          minimum=1),
    Param("smtpd_recipient_limit", "1000", Kind.INT,
          "The maximal number of recipients accepted per message.", minimum=1),
    Param("smtpd_recipient_overshoot_limit", "1000", Kind.INT,
          "Recipients over smtpd_recipient_limit a client may send before they count as errors.",
          minimum=1),
    Param("smtpd_error_sleep_time", "1s", Kind.TIME,
          "The delay before replying to a client that made errors."),
    Param("smtpd_soft_error_limit", "10", Kind.INT,
          "After this many errors the server waits before each reply.", minimum=1),
    Param("smtpd_hard_error_limit", "${stress?{1}:{20}}", Kind.INT,
          "After this many errors the server disconnects.", minimum=1),
    Param("smtpd_junk_command_limit", "${stress?{1}:{100}}", Kind.INT,
          "The number of NOOP, VRFY, ETRN or RSET commands allowed before they count as errors.",
          minimum=1),
    Param("smtpd_history_flush_threshold", "100", Kind.INT,
          "The command history length at which it is flushed (at EHLO, RSET or end of DATA).",
          minimum=1),
    Param("smtpd_noop_commands", "", Kind.LIST,
          "Commands the server replies 250 to without doing anything."),
    Param("smtpd_forbidden_commands", "CONNECT GET POST regexp:{{/^[^A-Z]/ Bogus}}", Kind.LIST,
          "Commands that make the server disconnect at once (proxy abuse such as POST)."),
    Param("smtpd_command_filter", "", Kind.STR,
          "A table that rewrites client commands before they are parsed."),
    Param("smtpd_discard_ehlo_keywords", "", Kind.LIST,
          "EHLO keywords that the server does not announce."),
    Param("smtpd_discard_ehlo_keyword_address_maps", "", Kind.LIST,
          "Tables of EHLO keywords not announced, by client address."),
    Param("smtpd_peername_lookup", "yes", Kind.BOOL,
          "Look up the client's host name in DNS."),
    Param("smtpd_delay_open_until_valid_rcpt", "yes", Kind.BOOL,
          "Create the queue file only after the first accepted recipient."),
    Param("smtpd_reject_footer", "", Kind.STR,
          "Text appended to each reject reply.", raw=True),
    Param("smtpd_reject_footer_maps", "", Kind.LIST,
          "Tables of text appended to reject replies, by reply text."),
    Param("smtpd_expansion_filter",
          "\\t\\40!\"#$%&'()*+,"
          "-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
          Kind.STR,
          "The characters allowed in client data substituted into reply text.", raw=True),
    # DIFFERS FROM POSTFIX, whose default is "no":
    # SPEC: only <CR><LF>.<CR><LF> ends DATA (no SMTP smuggling).
    Param("smtpd_forbid_bare_newline", "normalize", Kind.STR,
          "What to do with a line ending in bare LF: no, normalize or reject (SMTP smuggling)."),
    # DIFFERS FROM POSTFIX, whose default is "$mynetworks":
    # SPEC: no client is exempt from the smuggling defence.
    Param("smtpd_forbid_bare_newline_exclusions", "", Kind.LIST,
          "Clients exempt from smtpd_forbid_bare_newline."),
    Param("smtpd_forbid_bare_newline_reject_code", "550", Kind.INT,
          "The reply code for a bare LF refused by smtpd_forbid_bare_newline.",
          minimum=500, maximum=599),
    # DIFFERS FROM POSTFIX, whose default is "no":
    # SPEC: clients that pipeline too early are disconnected.
    Param("smtpd_forbid_unauth_pipelining", "yes", Kind.BOOL,
          "Disconnect clients that pipeline commands before the server allowed it."),
    Param("disable_vrfy_command", "no", Kind.BOOL,
          "Refuse the VRFY command."),
    Param("broken_sasl_auth_clients", "no", Kind.BOOL,
          "Also announce AUTH in the obsolete AUTH= form for old clients."),
    # -- SMTP server: access restrictions --
    Param("smtpd_client_restrictions", "", Kind.LIST,
          "Restrictions applied to the client's name and address."),
    Param("smtpd_helo_restrictions", "", Kind.LIST,
          "Restrictions applied to the HELO or EHLO name."),
    Param("smtpd_sender_restrictions", "", Kind.LIST,
          "Restrictions applied to the MAIL FROM address."),
    Param("smtpd_relay_restrictions",
          "${{$compatibility_level} <level {1} ? {} : {permit_mynetworks, "
          "permit_sasl_authenticated, defer_unauth_destination}}",
          Kind.LIST,
          "Relay restrictions applied at RCPT TO, before smtpd_recipient_restrictions."),
    Param("smtpd_recipient_restrictions", "", Kind.LIST,
          "Restrictions applied to each RCPT TO address."),
    Param("smtpd_data_restrictions", "", Kind.LIST,
          "Restrictions applied to the DATA command."),
    Param("smtpd_end_of_data_restrictions", "", Kind.LIST,
          "Restrictions applied after the message content was received."),
    Param("smtpd_etrn_restrictions", "", Kind.LIST,
          "Restrictions applied to the ETRN command."),
    Param("smtpd_relay_before_recipient_restrictions",
          "${{$compatibility_level} <level {3.6} ? {no} : {yes}}",
          Kind.BOOL,
          "Evaluate smtpd_relay_restrictions before smtpd_recipient_restrictions."),
    Param("smtpd_restriction_classes", "", Kind.LIST,
          "Names of user-defined restriction lists usable in access tables."),
    Param("smtpd_null_access_lookup_key", "<>", Kind.STR,
          "The key that stands for the null sender <> in access tables."),
    Param("smtpd_reject_unlisted_recipient", "yes", Kind.BOOL,
          "Reject recipients in our own domains that are not known."),
    Param("smtpd_reject_unlisted_sender", "no", Kind.BOOL,
          "Reject senders in our own domains that are not known."),
    Param("smtpd_sender_login_maps", "", Kind.LIST,
          "Tables of the SASL login names that own each sender address."),
    Param("smtpd_log_access_permit_actions", "", Kind.LIST,
          "Access table PERMIT-like actions that are logged."),
    Param("relay_domains",
          "${{$compatibility_level} <level {2} ? {$mydestination} : {}}",
          Kind.LIST,
          "Domains this host relays mail to from anyone, besides mydestination."),
    Param("relay_recipient_maps", "", Kind.LIST,
          "Tables of the valid recipients in relay_domains."),
    Param("local_recipient_maps", "proxy:unix:passwd.byname $alias_maps", Kind.LIST,
          "Tables of the valid local recipients; empty accepts any."),
    Param("permit_mx_backup_networks", "", Kind.LIST,
          "Networks whose MX hosts permit_mx_backup accepts mail for."),
    Param("relay_clientcerts", "", Kind.LIST,
          "Tables of TLS client certificate fingerprints allowed to relay."),
    Param("virtual_alias_domains", "$virtual_alias_maps", Kind.LIST,
          "Domains that exist only as virtual_alias_maps entries."),
    Param("virtual_mailbox_domains", "$virtual_mailbox_maps", Kind.LIST,
          "Domains delivered to mailboxes by the virtual transport."),
    Param("virtual_mailbox_maps", "", Kind.LIST,
          "Tables of the valid mailboxes in virtual_mailbox_domains."),
    Param("access_map_defer_code", "450", Kind.INT,
          "The reply code of a DEFER action in an access table."),
    Param("access_map_reject_code", "554", Kind.INT,
          "The reply code of a REJECT action in an access table."),
    Param("defer_code", "450", Kind.INT,
          "The reply code of the defer restriction."),
    Param("reject_code", "554", Kind.INT,
          "The reply code of the reject restriction."),
    Param("invalid_hostname_reject_code", "501", Kind.INT,
          "The reply code for a malformed HELO name (reject_invalid_helo_hostname)."),
    Param("non_fqdn_reject_code", "504", Kind.INT,
          "The reply code for a name that is not fully qualified (reject_non_fqdn_*)."),
    Param("relay_domains_reject_code", "554", Kind.INT,
          "The reply code of reject_unauth_destination (Relay access denied)."),
    Param("unknown_address_reject_code", "450", Kind.INT,
          "The reply code for an address whose domain does not exist."),
    Param("unknown_address_tempfail_action", "$reject_tempfail_action", Kind.STR,
          "What to do when the domain lookup of an address fails temporarily."),
    Param("unknown_client_reject_code", "450", Kind.INT,
          "The reply code of reject_unknown_client_hostname."),
    Param("unknown_hostname_reject_code", "450", Kind.INT,
          "The reply code for a HELO name with no address or MX record."),
    Param("unknown_helo_hostname_tempfail_action", "$reject_tempfail_action", Kind.STR,
          "What to do when the HELO name lookup fails temporarily."),
    Param("unknown_local_recipient_reject_code", "550", Kind.INT,
          "The reply code for a local recipient not in local_recipient_maps."),
    Param("unknown_relay_recipient_reject_code", "550", Kind.INT,
          "The reply code for a relay recipient not in relay_recipient_maps."),
    Param("unknown_virtual_alias_reject_code", "550", Kind.INT,
          "The reply code for an unknown address in a virtual alias domain."),
    Param("unknown_virtual_mailbox_reject_code", "550", Kind.INT,
          "The reply code for an unknown address in a virtual mailbox domain."),
    Param("reject_tempfail_action", "defer_if_permit", Kind.STR,
          "What to do when a restriction cannot decide because of a temporary error."),
    Param("multi_recipient_bounce_reject_code", "550", Kind.INT,
          "The reply code of reject_multi_recipient_bounce."),
    Param("plaintext_reject_code", "450", Kind.INT,
          "The reply code of reject_plaintext_session."),
    Param("maps_rbl_reject_code", "554", Kind.INT,
          "The reply code when a client is found in a DNS blocklist."),
    Param("default_rbl_reply",
          "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using "
          "$rbl_domain${rbl_reason?; $rbl_reason}",
          Kind.STR,
          "The template of the reply to a client found in a DNS blocklist.", raw=True),
    Param("rbl_reply_maps", "", Kind.LIST,
          "Tables of reply templates by DNS blocklist domain."),
    # -- SMTP server: client rate and connection limits (anvil) --
    Param("smtpd_client_connection_count_limit", "50", Kind.INT,
          "The maximal number of simultaneous connections from one client."),
    Param("smtpd_client_connection_rate_limit", "0", Kind.INT,
          "The maximal number of connections a client may make per time unit."),
    Param("smtpd_client_message_rate_limit", "0", Kind.INT,
          "The maximal number of messages a client may send per time unit."),
    Param("smtpd_client_recipient_rate_limit", "0", Kind.INT,
          "The maximal number of recipients a client may send per time unit."),
    Param("smtpd_client_new_tls_session_rate_limit", "0", Kind.INT,
          "The maximal number of new TLS sessions a client may start per time unit."),
    Param("smtpd_client_auth_rate_limit", "0", Kind.INT,
          "The maximal number of AUTH commands a client may send per time unit."),
    Param("smtpd_client_event_limit_exceptions",
          "${smtpd_client_connection_limit_exceptions:$mynetworks}",
          Kind.LIST,
          "Clients exempt from the connection and rate limits."),
    Param("anvil_rate_time_unit", "60s", Kind.TIME,
          "The time unit of the client rate limits.", minimum=1),
    Param("anvil_status_update_time", "600s", Kind.TIME,
          "How often the peak connection and rate figures are logged.", minimum=1),
    # -- SMTP server: SASL authentication --
    Param("smtpd_sasl_auth_enable", "no", Kind.BOOL,
          "Offer SASL authentication (AUTH) to clients."),
    Param("smtpd_sasl_authenticated_header", "no", Kind.BOOL,
          "Record the SASL login name in the Received: header."),
    Param("smtpd_sasl_exceptions_networks", "", Kind.LIST,
          "Clients to which AUTH is not offered."),
    Param("smtpd_sasl_local_domain", "", Kind.STR,
          "The realm appended to SASL login names."),
    Param("smtpd_sasl_mechanism_filter", "!external, static:rest", Kind.LIST,
          "Which of the available SASL mechanisms are offered."),
    Param("smtpd_sasl_path", "smtpd", Kind.STR,
          "The SASL implementation's configuration name or socket path."),
    Param("smtpd_sasl_response_limit", "12288", Kind.INT,
          "The maximal length of a client's AUTH response.", minimum=12288),
    Param("smtpd_sasl_security_options", "noanonymous", Kind.LIST,
          "Which kinds of SASL mechanism may be offered (noanonymous, noplaintext...)."),
    Param("smtpd_sasl_service", "smtp", Kind.STR,
          "The service name given to the SASL implementation."),
    Param("smtpd_sasl_tls_security_options", "$smtpd_sasl_security_options", Kind.LIST,
          "smtpd_sasl_security_options for sessions protected by TLS."),
    Param("smtpd_sasl_type", "cyrus", Kind.STR,
          "The SASL implementation used by the server."),
    # -- SMTP server: TLS --
    Param("smtpd_tls_security_level", "", Kind.STR,
          "TLS for incoming sessions: none, may (offer STARTTLS) or encrypt (require it)."),
    Param("smtpd_use_tls", "no", Kind.BOOL,
          "Obsolete: offer STARTTLS (smtpd_tls_security_level = may)."),
    Param("smtpd_enforce_tls", "no", Kind.BOOL,
          "Obsolete: require STARTTLS (smtpd_tls_security_level = encrypt)."),
    Param("smtpd_tls_wrappermode", "no", Kind.BOOL,
          "Speak TLS from the first byte, as on port 465 (submissions)."),
    Param("smtpd_tls_cert_file", "", Kind.STR,
          "The server's PEM certificate file."),
    Param("smtpd_tls_key_file", "$smtpd_tls_cert_file", Kind.STR,
          "The server's PEM private key file."),
    Param("smtpd_tls_chain_files", "", Kind.LIST,
          "PEM files with the server's keys and certificate chains."),
    Param("smtpd_tls_eccert_file", "", Kind.STR,
          "The server's ECDSA certificate file."),
    Param("smtpd_tls_eckey_file", "$smtpd_tls_eccert_file", Kind.STR,
          "The server's ECDSA private key file."),
    Param("smtpd_tls_dcert_file", "", Kind.STR,
          "The server's DSA certificate file (obsolete)."),
    Param("smtpd_tls_dkey_file", "$smtpd_tls_dcert_file", Kind.STR,
          "The server's DSA private key file (obsolete)."),
    Param("smtpd_tls_dh1024_param_file", "", Kind.STR,
          "A file with Diffie-Hellman parameters for the server."),
    Param("smtpd_tls_CAfile", "", Kind.STR,
          "A file of CA certificates used to verify client certificates."),
    Param("smtpd_tls_CApath", "", Kind.STR,
          "A directory of CA certificates used to verify client certificates."),
    Param("smtpd_tls_protocols", ">=TLSv1", Kind.LIST,
          "The TLS protocols accepted with opportunistic TLS."),
    Param("smtpd_tls_mandatory_protocols", ">=TLSv1", Kind.LIST,
          "The TLS protocols accepted when TLS is required."),
    Param("tls_high_cipherlist", "aNULL:-aNULL:HIGH:@STRENGTH", Kind.STR,
          "The OpenSSL cipher list of the \"high\" grade (TLS 1.2 and below)."),
    Param("tls_medium_cipherlist", "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH", Kind.STR,
          "The OpenSSL cipher list of the \"medium\" grade (TLS 1.2 and below)."),
    Param("tls_low_cipherlist", "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH", Kind.STR,
          "The OpenSSL cipher list of the \"low\" grade (TLS 1.2 and below)."),
    Param("tls_export_cipherlist", "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH",
          Kind.STR, "The OpenSSL cipher list of the \"export\" grade (TLS 1.2 and below)."),
    Param("tls_null_cipherlist", "eNULL:!aNULL", Kind.STR,
          "The OpenSSL cipher list of the \"null\" grade (no encryption)."),
    Param("smtpd_tls_ciphers", "medium", Kind.STR,
          "The cipher grade used with opportunistic TLS."),
    Param("smtpd_tls_mandatory_ciphers", "medium", Kind.STR,
          "The cipher grade used when TLS is required."),
    Param("smtpd_tls_exclude_ciphers", "", Kind.LIST,
          "Ciphers never used by the server."),
    Param("smtpd_tls_mandatory_exclude_ciphers", "", Kind.LIST,
          "Ciphers never used by the server when TLS is required."),
    Param("smtpd_tls_eecdh_grade", "auto", Kind.STR,
          "The elliptic-curve key exchange setting of the server."),
    Param("smtpd_tls_loglevel", "0", Kind.INT,
          "How much the server logs about TLS: 0 none, 1 a summary, more is debug."),
    Param("smtpd_tls_received_header", "no", Kind.BOOL,
          "Record the TLS protocol and cipher in the Received: header."),
    Param("smtpd_tls_auth_only", "no", Kind.BOOL,
          "Offer AUTH only after STARTTLS."),
    Param("smtpd_tls_ask_ccert", "no", Kind.BOOL,
          "Ask TLS clients for a certificate."),
    Param("smtpd_tls_req_ccert", "no", Kind.BOOL,
          "Require a verified client certificate (implies encryption)."),
    Param("smtpd_tls_ccert_verifydepth", "9", Kind.INT,
          "The maximal length of a client certificate chain."),
    Param("smtpd_tls_fingerprint_digest",
          "${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}",
          Kind.STR,
          "The digest used for client certificate fingerprints."),
    Param("smtpd_tls_always_issue_session_ids", "yes", Kind.BOOL,
          "Issue a TLS session id even when no session cache is configured."),
    Param("smtpd_tls_session_cache_database", "", Kind.STR,
          "The table that caches server TLS sessions."),
    Param("smtpd_tls_session_cache_timeout", "3600s", Kind.TIME,
          "How long a server TLS session stays in the cache."),
    Param("tls_append_default_CA", "no", Kind.BOOL,
          "Also trust the system's default CA certificates besides the CAfile/CApath ones."),
    # -- Cleanup: address rewriting --
    Param("append_at_myorigin", "yes", Kind.BOOL,
          "Qualify bare local names with @$myorigin."),
    Param("append_dot_mydomain", "${{$compatibility_level} <level {1} ? {yes} : {no}}", Kind.BOOL,
          "Append .$mydomain to user@host addresses without a dot in the domain."),
    Param("swap_bangpath", "yes", Kind.BOOL,
          "Rewrite site!user addresses as user@site."),
    Param("allow_percent_hack", "yes", Kind.BOOL,
          "Rewrite user%domain as user@domain."),
    Param("resolve_dequoted_address", "yes", Kind.BOOL,
          "Resolve the address after removing quotes, as Sendmail does."),
    Param("resolve_null_domain", "no", Kind.BOOL,
          "Treat user@ as an address in the local domain rather than refusing it."),
    Param("resolve_numeric_domain", "no", Kind.BOOL,
          "Accept user@ipaddress as if it were user@[ipaddress]."),
    Param("allow_untrusted_routing", "no", Kind.BOOL,
          "Let untrusted clients relay with user@domain@domain routing addresses."),
    Param("canonical_maps", "", Kind.LIST,
          "Tables that rewrite sender and recipient addresses, envelope and headers."),
    Param("canonical_classes",
          "envelope_sender, envelope_recipient, header_sender, header_recipient",
          Kind.LIST,
          "Which addresses canonical_maps applies to."),
    Param("sender_canonical_maps", "", Kind.LIST,
          "Tables that rewrite sender addresses."),
    Param("sender_canonical_classes", "envelope_sender, header_sender", Kind.LIST,
          "Which sender addresses sender_canonical_maps applies to."),
    Param("recipient_canonical_maps", "", Kind.LIST,
          "Tables that rewrite recipient addresses."),
    Param("recipient_canonical_classes", "envelope_recipient, header_recipient", Kind.LIST,
          "Which recipient addresses recipient_canonical_maps applies to."),
    Param("masquerade_domains", "", Kind.LIST,
          "Domains whose subdomains are hidden: user@host.example.com becomes user@example.com."),
    Param("masquerade_classes", "envelope_sender, header_sender, header_recipient", Kind.LIST,
          "Which addresses address masquerading applies to."),
    Param("masquerade_exceptions", "", Kind.LIST,
          "Local user names exempt from address masquerading."),
    Param("virtual_alias_maps", "$virtual_maps", Kind.LIST,
          "Tables that redirect recipient addresses to other addresses."),
    Param("virtual_alias_expansion_limit", "1000", Kind.INT,
          "The maximal number of addresses one virtual alias expansion may produce.", minimum=1),
    Param("virtual_alias_recursion_limit", "1000", Kind.INT,
          "The maximal nesting depth of virtual alias expansion.", minimum=1),
    Param("virtual_alias_address_length_limit", "1000", Kind.INT,
          "The maximal length of an address produced by virtual alias expansion.", minimum=1),
    Param("local_header_rewrite_clients", "permit_inet_interfaces", Kind.LIST,
          "Clients whose message header addresses are qualified with $myorigin or $mydomain."),
    Param("remote_header_rewrite_domain", "", Kind.STR,
          "The domain appended to unqualified header addresses from other clients."),
    Param("propagate_unmatched_extensions", "canonical, virtual", Kind.LIST,
          "Where an address extension is carried over when the address is rewritten."),
    Param("empty_address_recipient", "MAILER-DAEMON", Kind.STR,
          "The recipient of mail addressed to the null address."),
    Param("double_bounce_sender", "double-bounce", Kind.STR,
          "The sender of notices that must not bounce back, and the sink for them."),
    Param("enable_long_queue_ids", "no", Kind.BOOL,
          "Use long, non-repeating queue IDs (time and inode in base 52/51)."),
    Param("enable_original_recipient", "yes", Kind.BOOL,
          "Keep each recipient's original address for delivery status notifications."),
    Param("duplicate_filter_limit", "1000", Kind.INT,
          "The number of recipient addresses remembered to remove duplicates."),
    Param("receive_override_options", "", Kind.LIST,
          "Switch off address mapping, checks or milters for mail received by a service."),
    Param("sender_bcc_maps", "", Kind.LIST,
          "Tables of blind copy recipients by sender address."),
    Param("recipient_bcc_maps", "", Kind.LIST,
          "Tables of blind copy recipients by recipient address."),
    Param("always_bcc", "", Kind.STR,
          "An address that gets a blind copy of every message."),
    # -- Cleanup: headers and content --
    Param("always_add_missing_headers", "no", Kind.BOOL,
          "Add missing From:, To:, Date: and Message-ID: headers to all mail, not only local."),
    Param("undisclosed_recipients_header", "", Kind.STR,
          "The header added when a message has no recipient headers."),
    Param("header_from_format", "standard", Kind.STR,
          "The form of the From: header that Postfix generates: standard or obsolete."),
    Param("header_checks", "", Kind.LIST,
          "Pattern tables applied to each primary message header."),
    Param("mime_header_checks", "$header_checks", Kind.LIST,
          "Pattern tables applied to MIME-related headers."),
    Param("nested_header_checks", "$header_checks", Kind.LIST,
          "Pattern tables applied to the headers of attached messages."),
    Param("body_checks", "", Kind.LIST,
          "Pattern tables applied to each line of the message body."),
    Param("content_filter", "", Kind.STR,
          "The transport:destination to which all mail is sent for content filtering."),
    Param("default_filter_nexthop", "", Kind.STR,
          "The nexthop of a content filter that names none (empty: the recipient domain)."),
    # -- Bounces and notices --
    Param("notify_classes", "resource, software", Kind.LIST,
          "The kinds of problem reported to the postmaster."),
    Param("bounce_notice_recipient", "postmaster", Kind.STR,
          "The recipient of postmaster notices about bounced mail."),
    Param("2bounce_notice_recipient", "postmaster", Kind.STR,
          "The recipient of undeliverable bounces (double bounces)."),
    Param("delay_notice_recipient", "postmaster", Kind.STR,
          "The recipient of postmaster notices about delayed mail."),
    Param("error_notice_recipient", "postmaster", Kind.STR,
          "The recipient of postmaster notices about errors."),
    Param("bounce_size_limit", "50000", Kind.SIZE,
          "How much of the original message a bounce returns, in bytes.", minimum=1),
    Param("bounce_template_file", "", Kind.STR,
          "A file with templates for bounce and delay messages."),
    # -- Queue manager --
    Param("queue_run_delay", "300s", Kind.TIME,
          "How often the deferred queue is scanned.", minimum=1),
    Param("minimal_backoff_time", "300s", Kind.TIME,
          "The shortest time a deferred message waits before its next attempt.", minimum=1),
    Param("maximal_backoff_time", "4000s", Kind.TIME,
          "The longest time a deferred message waits before its next attempt.", minimum=1),
    Param("maximal_queue_lifetime", "5d", Kind.TIME,
          "How long a message stays in the queue before it is sent back as undeliverable.",
          unit="d", maximum=8640000),
    Param("bounce_queue_lifetime", "5d", Kind.TIME,
          "How long a bounce stays in the queue before it is given up.", unit="d", maximum=8640000),
    Param("delay_warning_time", "0h", Kind.TIME,
          "After this long in the queue the sender is told that mail is delayed; 0 never tells.",
          unit="h"),
    Param("transport_retry_time", "60s", Kind.TIME,
          "How long a transport marked unusable is left alone.", minimum=1),
    Param("defer_transports", "", Kind.LIST,
          "Transports whose deliveries are postponed until the queue is flushed."),
    Param("master_service_disable", "", Kind.LIST,
          "master.cf services not to run: types (unix, fifo) or name/type (qmgr/unix)."),
    Param("qmgr_message_active_limit", "20000", Kind.INT,
          "The maximal number of messages in the active queue.", minimum=1),
    Param("qmgr_message_recipient_limit", "20000", Kind.INT,
          "The maximal number of recipients held in memory by the queue manager.", minimum=1),
    Param("qmgr_message_recipient_minimum", "10", Kind.INT,
          "The minimal number of in-memory recipients of any message.", minimum=1),
    Param("qmgr_clog_warn_time", "300s", Kind.TIME,
          "The minimal time between warnings that the active queue is full."),
    Param("qmgr_fudge_factor", "100", Kind.INT,
          "The share (percent) of delivery resources a big mailing list may take when busy."),
    Param("initial_destination_concurrency", "5", Kind.INT,
          "The number of parallel deliveries to a new destination.", minimum=1),
    Param("default_destination_concurrency_limit", "20", Kind.INT,
          "The default maximal number of parallel deliveries to one destination."),
    Param("default_destination_recipient_limit", "50", Kind.INT,
          "The default maximal number of recipients per delivery."),
    Param("default_destination_rate_delay", "0s", Kind.TIME,
          "The default delay between deliveries to the same destination."),
    Param("default_destination_concurrency_failed_cohort_limit", "1", Kind.INT,
          "The default number of failed connections after which a destination is marked down."),
    Param("default_destination_concurrency_negative_feedback", "1", Kind.STR,
          "The default concurrency decrease after a failed connection."),
    Param("default_destination_concurrency_positive_feedback", "1", Kind.STR,
          "The default concurrency increase after a successful delivery."),
    Param("default_transport_rate_delay", "0s", Kind.TIME,
          "The default delay between deliveries over the same transport."),
    Param("default_recipient_limit", "20000", Kind.INT,
          "The default maximal number of in-memory recipients per transport."),
    Param("default_extra_recipient_limit", "1000", Kind.INT,
          "The default number of extra in-memory recipients per transport."),
    Param("default_recipient_refill_limit", "100", Kind.INT,
          "The default number of recipients read from a queue file at a time.", minimum=1),
    Param("default_recipient_refill_delay", "5s", Kind.TIME,
          "The default delay before more recipients are read from a queue file.", minimum=1),
    Param("default_delivery_slot_cost", "5", Kind.INT,
          "By default, a message earns a preemption slot every this many delivered recipients."),
    Param("default_delivery_slot_discount", "50", Kind.INT,
          "By default, preemption may start while this percent of the needed slots is missing.",
          maximum=100),
    Param("default_delivery_slot_loan", "3", Kind.INT,
          "By default, slots that may still be missing, beyond the discount, when preempting."),
    Param("default_minimum_delivery_slots", "3", Kind.INT,
          "The default number of recipients a message needs before it may preempt others."),
    Param("destination_concurrency_feedback_debug", "no", Kind.BOOL,
          "Log the destination concurrency changes."),
    Param("default_delivery_status_filter", "", Kind.LIST,
          "Tables that rewrite the delivery status of every delivery agent."),
    # -- Routing --
    Param("default_transport", "smtp", Kind.STR,
          "The transport for mail that no other rule routes (normally smtp)."),
    Param("relay_transport", "relay", Kind.STR,
          "The transport for mail to relay_domains."),
    Param("local_transport", "local:$myhostname", Kind.STR,
          "The transport for mail to mydestination domains."),
    Param("virtual_transport", "virtual", Kind.STR,
          "The transport for mail to virtual_mailbox_domains."),
    Param("transport_maps", "", Kind.LIST,
          "Tables of transport:nexthop by recipient domain or address."),
    Param("relayhost", "", Kind.STR,
          "The next-hop destination(s) of non-local mail; overrides the MX lookup."),
    Param("sender_dependent_relayhost_maps", "", Kind.LIST,
          "Tables of relayhost by sender address or domain."),
    Param("sender_dependent_default_transport_maps", "", Kind.LIST,
          "Tables of default_transport by sender address or domain."),
    Param("empty_address_relayhost_maps_lookup_key", "<>", Kind.STR,
          "The key that stands for the null sender in sender_dependent_relayhost_maps."),
    Param("empty_address_default_transport_maps_lookup_key", "<>", Kind.STR,
          "The key that stands for the null sender in sender_dependent_default_transport_maps."),
    Param("fallback_transport", "", Kind.STR,
          "The transport for local recipients that are not found."),
    # -- Local delivery --
    Param("alias_maps", "hash:/etc/aliases, nis:mail.aliases", Kind.LIST,
          "Tables of aliases for local recipients."),
    Param("alias_database", "hash:/etc/aliases", Kind.LIST,
          "The alias tables that newaliases rebuilds."),
    Param("mail_spool_directory", "/var/mail", Kind.STR,
          "The directory of local mailboxes (Maildir when the name ends in /)."),
    Param("home_mailbox", "", Kind.STR,
          "The mailbox path under the user's home directory; empty uses mail_spool_directory."),
    Param("mailbox_size_limit", "51200000", Kind.SIZE,
          "The maximal size in bytes of a local mailbox or maildir file."),
    # -- SMTP client: session --
    Param("smtp_helo_name", "$myhostname", Kind.STR,
          "The name sent in HELO or EHLO."),
    Param("smtp_bind_address", "", Kind.STR,
          "The local IPv4 address of outgoing connections."),
    Param("smtp_bind_address6", "", Kind.STR,
          "The local IPv6 address of outgoing connections."),
    Param("smtp_bind_address_enforce", "no", Kind.BOOL,
          "Defer delivery when smtp_bind_address cannot be used."),
    Param("smtp_tcp_port", "smtp", Kind.STR,
          "The default port of outgoing SMTP connections."),
    Param("smtp_host_lookup", "dns", Kind.LIST,
          "How host addresses are found: dns, native or both."),
    Param("smtp_dns_support_level", "", Kind.STR,
          "How the client uses DNS: disabled, enabled or dnssec."),
    Param("smtp_address_preference", "any", Kind.STR,
          "Which address family is tried first: ipv4, ipv6 or any."),
    Param("smtp_balance_inet_protocols", "yes", Kind.BOOL,
          "Alternate IPv4 and IPv6 addresses when trying a destination."),
    Param("smtp_mx_address_limit", "5", Kind.INT,
          "The maximal number of MX addresses tried per delivery; 0 for no limit."),
    Param("smtp_mx_session_limit", "2", Kind.INT,
          "The maximal number of SMTP sessions tried per delivery; 0 for no limit."),
    Param("smtp_randomize_addresses", "yes", Kind.BOOL,
          "Shuffle the addresses of equal preference."),
    Param("smtp_defer_if_no_mx_address_found", "no", Kind.BOOL,
          "Defer rather than bounce when no MX host has an address."),
    Param("smtp_cname_overrides_servername", "no", Kind.BOOL,
          "Use a CNAME target as the server name for TLS and SASL."),
    Param("smtp_fallback_relay", "$fallback_relay", Kind.LIST,
          "Destinations tried when the normal next hop is not reachable."),
    Param("smtp_always_send_ehlo", "yes", Kind.BOOL,
          "Always send EHLO first."),
    Param("smtp_never_send_ehlo", "no", Kind.BOOL,
          "Never send EHLO, only HELO."),
    Param("smtp_skip_5xx_greeting", "yes", Kind.BOOL,
          "Try the next server when a server greets with 5xx."),
    Param("smtp_skip_quit_response", "yes", Kind.BOOL,
          "Do not wait for the reply to QUIT."),
    Param("smtp_quote_rfc821_envelope", "yes", Kind.BOOL,
          "Quote envelope addresses as RFC 5321 requires."),
    Param("smtp_line_length_limit", "998", Kind.INT,
          "Longer lines are folded when sent; 0 for no limit."),
    Param("smtp_discard_ehlo_keywords", "", Kind.LIST,
          "Server EHLO keywords that the client ignores."),
    Param("smtp_discard_ehlo_keyword_address_maps", "", Kind.LIST,
          "Tables of ignored EHLO keywords by server address."),
    Param("smtp_reply_filter", "", Kind.STR,
          "A table that rewrites server replies before they are parsed."),
    Param("smtp_delivery_status_filter", "$default_delivery_status_filter", Kind.LIST,
          "Tables that rewrite the delivery status of the client's deliveries."),
    Param("smtp_send_dummy_mail_auth", "no", Kind.BOOL,
          "Send AUTH=<> with MAIL FROM when the server offers AUTH."),
    Param("smtp_connect_timeout", "30s", Kind.TIME,
          "The time limit for connecting to a server."),
    Param("smtp_helo_timeout", "300s", Kind.TIME,
          "The time limit for the greeting and the reply to HELO/EHLO.", minimum=1),
    Param("smtp_mail_timeout", "300s", Kind.TIME,
          "The time limit for the reply to MAIL FROM.", minimum=1),
    Param("smtp_rcpt_timeout", "300s", Kind.TIME,
          "The time limit for the reply to RCPT TO.", minimum=1),
    Param("smtp_data_init_timeout", "120s", Kind.TIME,
          "The time limit for the reply to DATA.", minimum=1),
    Param("smtp_data_xfer_timeout", "180s", Kind.TIME,
          "The time limit for sending the message content.", minimum=1),
    Param("smtp_data_done_timeout", "600s", Kind.TIME,
          "The time limit for the reply to the final dot.", minimum=1),
    Param("smtp_rset_timeout", "20s", Kind.TIME,
          "The time limit for the reply to RSET.", minimum=1),
    Param("smtp_quit_timeout", "300s", Kind.TIME,
          "The time limit for the reply to QUIT.", minimum=1),
    Param("smtp_starttls_timeout", "300s", Kind.TIME,
          "The time limit for the client's TLS handshake and shutdown.", minimum=1),
    Param("smtp_per_request_deadline",
          "${smtp_per_record_deadline?{$smtp_per_record_deadline}:{no}}",
          Kind.BOOL,
          "Make the timeouts deadlines for whole requests rather than each read or write."),
    Param("smtp_min_data_rate", "500", Kind.INT,
          "The minimal bytes per second that keep extending a per-request deadline.", minimum=1),
    # -- SMTP client: connection cache --
    Param("smtp_connection_cache_on_demand", "yes", Kind.BOOL,
          "Reuse connections to destinations that have mail backed up."),
    Param("smtp_connection_cache_destinations", "", Kind.LIST,
          "Destinations whose connections are always reused."),
    Param("smtp_connection_cache_time_limit", "2s", Kind.TIME,
          "How long an unused connection is kept open for reuse.", minimum=1),
    Param("smtp_connection_reuse_count_limit", "0", Kind.INT,
          "How many times a connection may be reused; 0 for no limit."),
    Param("smtp_connection_reuse_time_limit", "300s", Kind.TIME,
          "How long a connection may be reused after it was opened.", minimum=1),
    # -- SMTP client: output rewriting and checks --
    Param("smtp_generic_maps", "", Kind.LIST,
          "Tables that rewrite addresses in outgoing mail (envelope and headers)."),
    Param("smtp_header_checks", "", Kind.LIST,
          "Pattern tables applied to primary headers of outgoing mail."),
    Param("smtp_mime_header_checks", "", Kind.LIST,
          "Pattern tables applied to MIME headers of outgoing mail."),
    Param("smtp_nested_header_checks", "", Kind.LIST,
          "Pattern tables applied to attached-message headers of outgoing mail."),
    Param("smtp_body_checks", "", Kind.LIST,
          "Pattern tables applied to body lines of outgoing mail."),
    # -- SMTP client: SASL authentication --
    Param("smtp_sasl_auth_enable", "no", Kind.BOOL,
          "Authenticate to servers that offer AUTH."),
    Param("smtp_sasl_password_maps", "", Kind.LIST,
          "Tables of username:password by next hop (and by sender)."),
    Param("smtp_sender_dependent_authentication", "no", Kind.BOOL,
          "Look up credentials by sender address before the next hop."),
    Param("smtp_sasl_security_options", "noplaintext, noanonymous", Kind.LIST,
          "Which kinds of SASL mechanism the client may use without TLS."),
    Param("smtp_sasl_tls_security_options", "$smtp_sasl_security_options", Kind.LIST,
          "Which kinds of SASL mechanism the client may use over TLS."),
    Param("smtp_sasl_tls_verified_security_options", "$smtp_sasl_tls_security_options", Kind.LIST,
          "Which kinds of SASL mechanism the client may use over verified TLS."),
    Param("smtp_sasl_mechanism_filter", "", Kind.LIST,
          "Which of the server's SASL mechanisms the client may use."),
    Param("smtp_sasl_type", "cyrus", Kind.STR,
          "The SASL implementation used by the client."),
    Param("smtp_sasl_path", "", Kind.STR,
          "The client SASL implementation's configuration name."),
    Param("smtp_sasl_auth_soft_bounce", "yes", Kind.BOOL,
          "Defer rather than bounce when authentication fails."),
    Param("smtp_sasl_auth_cache_name", "", Kind.STR,
          "A table that remembers failed authentications."),
    Param("smtp_sasl_auth_cache_time", "90d", Kind.TIME,
          "How long a failed authentication is remembered.", unit="d"),
    # -- SMTP client: TLS --
    Param("smtp_tls_security_level", "", Kind.STR,
          "TLS towards servers: none, may, encrypt, verify, secure, dane, fingerprint."),
    Param("smtp_use_tls", "no", Kind.BOOL,
          "Obsolete: use TLS when the server offers it (smtp_tls_security_level = may)."),
    Param("smtp_enforce_tls", "no", Kind.BOOL,
          "Obsolete: require TLS (smtp_tls_security_level = encrypt or verify)."),
    Param("smtp_tls_enforce_peername", "yes", Kind.BOOL,
          "Obsolete: with smtp_enforce_tls, also verify the server's name."),
    Param("smtp_tls_wrappermode", "no", Kind.BOOL,
          "Speak TLS from the first byte, for servers on port 465."),
    Param("smtp_tls_policy_maps", "", Kind.LIST,
          "Tables of TLS security level by next hop."),
    Param("smtp_tls_per_site", "", Kind.LIST,
          "Obsolete tables of TLS policy by next hop or server name."),
    Param("smtp_tls_CAfile", "", Kind.STR,
          "A file of CA certificates used to verify servers."),
    Param("smtp_tls_CApath", "", Kind.STR,
          "A directory of CA certificates used to verify servers."),
    Param("smtp_tls_cert_file", "", Kind.STR,
          "The client's PEM certificate file."),
    Param("smtp_tls_key_file", "$smtp_tls_cert_file", Kind.STR,
          "The client's PEM private key file."),
    Param("smtp_tls_chain_files", "", Kind.LIST,
          "PEM files with the client's keys and certificate chains."),
    Param("smtp_tls_eccert_file", "", Kind.STR,
          "The client's ECDSA certificate file."),
    Param("smtp_tls_eckey_file", "$smtp_tls_eccert_file", Kind.STR,
          "The client's ECDSA private key file."),
    Param("smtp_tls_dcert_file", "", Kind.STR,
          "The client's DSA certificate file (obsolete)."),
    Param("smtp_tls_dkey_file", "$smtp_tls_dcert_file", Kind.STR,
          "The client's DSA private key file (obsolete)."),
    Param("smtp_tls_verify_cert_match", "hostname", Kind.LIST,
          "The names a server certificate must match at level verify."),
    Param("smtp_tls_secure_cert_match", "nexthop, dot-nexthop", Kind.LIST,
          "The names a server certificate must match at level secure."),
    Param("smtp_tls_fingerprint_cert_match", "", Kind.LIST,
          "The certificate fingerprints accepted at level fingerprint."),
    Param("smtp_tls_fingerprint_digest",
          "${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}",
          Kind.STR,
          "The digest used for server certificate fingerprints."),
    Param("smtp_tls_protocols", ">=TLSv1", Kind.LIST,
          "The TLS protocols used with opportunistic TLS."),
    Param("smtp_tls_mandatory_protocols", ">=TLSv1", Kind.LIST,
          "The TLS protocols used when TLS is required."),
    Param("smtp_tls_ciphers", "medium", Kind.STR,
          "The cipher grade used with opportunistic TLS."),
    Param("smtp_tls_mandatory_ciphers", "medium", Kind.STR,
          "The cipher grade used when TLS is required."),
    Param("smtp_tls_exclude_ciphers", "", Kind.LIST,
          "Ciphers never used by the client."),
    Param("smtp_tls_mandatory_exclude_ciphers", "", Kind.LIST,
          "Ciphers never used by the client when TLS is required."),
    Param("smtp_tls_loglevel", "0", Kind.INT,
          "How much the client logs about TLS: 0 none, 1 a summary, more is debug."),
    Param("smtp_tls_note_starttls_offer", "no", Kind.BOOL,
          "Log the servers that offer STARTTLS when TLS is not in use."),
    Param("smtp_tls_scert_verifydepth", "9", Kind.INT,
          "The maximal length of a server certificate chain."),
    Param("smtp_tls_servername", "", Kind.STR,
          "The SNI name sent to the server, if any."),
    Param("smtp_tls_session_cache_database", "", Kind.STR,
          "The table that caches client TLS sessions."),
    Param("smtp_tls_session_cache_timeout", "3600s", Kind.TIME,
          "How long a client TLS session stays in the cache."),
    Param("smtp_tls_connection_reuse", "no", Kind.BOOL,
          "Reuse TLS connections through the TLS proxy."),
    Param("smtp_tls_block_early_mail_reply", "no", Kind.BOOL,
          "Guard against a server reply injected before TLS started."),
    # -- Per-transport overrides of the queue manager defaults --
    # Their bounds are those of the default_* parameters they override: the queue manager
    # reads them only when a transport is first used, so they were not probed one by one.

)

#: Postfix's transport-specific parameters (``<transport>_<suffix>``), for the master.cf
#: transports a relay uses: (suffix, default, kind, doc with {t} for the transport, bounds).
#: The default of each is the matching ``default_*`` parameter, as in ``postconf -d``.
_PER_TRANSPORT: tuple[tuple[str, str, Kind, str, int | None, int | None], ...] = (
    ("destination_concurrency_limit", "$default_destination_concurrency_limit", Kind.INT,
     "The maximal number of parallel deliveries to one destination over the {t} transport.",
     None, None),
    ("destination_recipient_limit", "$default_destination_recipient_limit", Kind.INT,
     "The maximal number of recipients per delivery over the {t} transport.", None, None),
    ("initial_destination_concurrency", "$initial_destination_concurrency", Kind.INT,
     "The number of parallel deliveries to a new destination over the {t} transport.", 1, None),
    ("destination_rate_delay", "$default_destination_rate_delay", Kind.TIME,
     "The delay between deliveries to the same destination over the {t} transport.",
     None, None),
    ("destination_concurrency_failed_cohort_limit",
     "$default_destination_concurrency_failed_cohort_limit", Kind.INT,
     "Failed connections after which a {t} destination is marked down.", None, None),
    ("destination_concurrency_negative_feedback",
     "$default_destination_concurrency_negative_feedback", Kind.STR,
     "The concurrency decrease after a failed {t} connection.", None, None),
    ("destination_concurrency_positive_feedback",
     "$default_destination_concurrency_positive_feedback", Kind.STR,
     "The concurrency increase after a successful {t} delivery.", None, None),
    ("transport_rate_delay", "$default_transport_rate_delay", Kind.TIME,
     "The delay between deliveries over the {t} transport.", None, None),
    ("recipient_limit", "$default_recipient_limit", Kind.INT,
     "The maximal number of in-memory recipients of the {t} transport.", None, None),
    ("extra_recipient_limit", "$default_extra_recipient_limit", Kind.INT,
     "Extra in-memory recipients of the {t} transport.", None, None),
    ("recipient_refill_limit", "$default_recipient_refill_limit", Kind.INT,
     "Recipients read from a queue file at a time for the {t} transport.", 1, None),
    ("recipient_refill_delay", "$default_recipient_refill_delay", Kind.TIME,
     "The delay before more recipients are read for the {t} transport.", 1, None),
    ("delivery_slot_cost", "$default_delivery_slot_cost", Kind.INT,
     "A message earns a preemption slot every this many {t} recipients delivered.", None, None),
    ("delivery_slot_discount", "$default_delivery_slot_discount", Kind.INT,
     "Preemption on {t} may start when this percent of the needed slots is still missing.",
     None, 100),
    ("delivery_slot_loan", "$default_delivery_slot_loan", Kind.INT,
     "Slots that may still be missing, beyond the discount, when preempting on {t}.",
     None, None),
    ("minimum_delivery_slots", "$default_minimum_delivery_slots", Kind.INT,
     "Recipients a message needs before it may preempt others on the {t} transport.",
     None, None),
)

#: Transport-specific defaults that Postfix sets otherwise (local delivers one at a time).
_TRANSPORT_DEFAULTS = {"local_destination_concurrency_limit": "2",
                       "local_destination_recipient_limit": "1"}


def _transport_parameters(transport: str) -> tuple[Param, ...]:
    return tuple(
        Param(f"{transport}_{suffix}",
              _TRANSPORT_DEFAULTS.get(f"{transport}_{suffix}", default), kind,
              doc.format(t=transport), minimum=minimum, maximum=maximum)
        for suffix, default, kind, doc, minimum, maximum in _PER_TRANSPORT
    )


_TABLE += tuple(p for t in ("smtp", "relay", "local", "error") for p in _transport_parameters(t))

PARAMETERS: dict[str, Param] = {p.name: p for p in _TABLE}
