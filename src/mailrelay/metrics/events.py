"""Which metric updates one log line means: the community postfix_exporter's rules, plus ours.

Pure: ``(daemon, text)`` in, a tuple of `Update` values out; nothing here knows
prometheus_client.  The kumina/postfix_exporter (the exporter most Postfix dashboards are
built on) counts events by matching Postfix's log lines per daemon; `parse` applies the same
rules, in the same order (read from its postfix_exporter.go, the version of commit 01f0d6c),
to the lines mailrelay writes, so that our ``postfix_*`` counters
and that exporter reading our maillog_file agree by construction.  A line that none of its
rules takes counts as ``postfix_unsupported_log_entries_total{service=daemon}``, as there.

The ``mailrelay_*`` updates come from the same lines and add what the exporter lacks: current
smtpd connections, TLS sessions by direction, and every delivery (any agent) by status with
its total delay, per relay.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

# The exporter's names (postfix_exporter.go), kept exactly, typos included.
SMTPD_CONNECTS = "postfix_smtpd_connects_total"
SMTPD_DISCONNECTS = "postfix_smtpd_disconnects_total"
SMTPD_FCRDNS_ERRORS = "postfix_smtpd_forward_confirmed_reverse_dns_errors_total"
SMTPD_LOST = "postfix_smtpd_connections_lost_total"
SMTPD_PROCESSED = "postfix_smtpd_messages_processed_total"
SMTPD_REJECTED = "postfix_smtpd_messages_rejected_total"
SMTPD_SASL_FAILURES = "postfix_smtpd_sasl_authentication_failures_total"
SMTPD_TLS = "postfix_smtpd_tls_connections_total"
SMTP_DELAYS = "postfix_smtp_delivery_delay_seconds"
SMTP_TLS = "postfix_smtp_tls_connections_total"
SMTP_DEFERRED = "postfix_smtp_deferred_messages_total"
SMTP_STATUS_DEFERRED = "postfix_smtp_status_deferred"
SMTP_TIMED_OUT = "postfix_smtp_connection_timed_out_total"
QMGR_INSERTED_RCPTS = "postfix_qmgr_messages_inserted_receipients"
QMGR_INSERTED_SIZE = "postfix_qmgr_messages_inserted_size_bytes"
QMGR_REMOVED = "postfix_qmgr_messages_removed_total"
CLEANUP_PROCESSED = "postfix_cleanup_messages_processed_total"
CLEANUP_REJECTED = "postfix_cleanup_messages_rejected_total"
UNSUPPORTED = "postfix_unsupported_log_entries_total"
# Ours.
CONNECTIONS = "mailrelay_smtpd_connections"
TLS_SESSIONS = "mailrelay_tls_sessions_total"
DELIVERIES = "mailrelay_deliveries_total"
DELIVERY_DELAY = "mailrelay_delivery_delay_seconds"

#: The exporter's delays= stage labels, in the order of the four numbers.
STAGES = ("before_queue_manager", "queue_manager", "connection_setup", "transmission")


class Op(enum.Enum):
    INC = "inc"
    DEC = "dec"
    OBSERVE = "observe"


@dataclass(frozen=True, slots=True)
class Update:
    metric: str
    labels: tuple[str, ...] = ()
    op: Op = Op.INC
    value: float = 1.0


# The exporter's patterns (its regular expressions, written again here).
_DELAYS = re.compile(r", relay=(\S+), .*, delays=([0-9.]+)/([0-9.]+)/([0-9.]+)/([0-9.]+), ")
_QMGR_INSERT = re.compile(r":.*, size=(\d+), nrcpt=(\d+) ")
_STATUS_DEFERRED = re.compile(r", status=deferred")
_TLS_TO = re.compile(r"^(\S+) TLS connection established to \S+: (\S+) with cipher (\S+) "
                     r"\((\d+)/(\d+) bits\)")
_TIMED_OUT = re.compile(r"^connect\s+to\s+(.*)\[(.*)\]:(\d+):\s+(Connection timed out)$")
_FCRDNS = re.compile(r"^warning: hostname \S+ does not resolve to address ")
_SASL_CLIENT = re.compile(r": client=.*, sasl_method=(\S+)")
_REJECT = re.compile(r"^NOQUEUE: reject: RCPT from \S+: ([0-9]+) ")
_LOST = re.compile(r"^lost connection after (\w+) from ")
_SASL_FAILED = re.compile(r"^warning: \S+: SASL \S+ authentication failed: ")
_TLS_FROM = re.compile(r"^(\S+) TLS connection established from \S+: (\S+) with cipher (\S+) "
                       r"\((\d+)/(\d+) bits\)")
# Ours: a delivery agent's (or qmgr's) ``to=<...>`` line, strictly.
_DELIVERY = re.compile(r"^\w+: to=<.*?>, (?:orig_to=<.*?>, )?relay=([^\s,]+), "
                       r"(?:conn_use=\d+, )?delay=([0-9.]+), .*?, status=(\w+)")


def parse(daemon: str, text: str) -> tuple[Update, ...]:
    """The updates that the line *text* logged by *daemon* means (often none)."""
    ours = _ours(daemon, text)
    rules = _EXPORTER.get(daemon)
    theirs = rules(text) if rules is not None else None
    if theirs is None:
        theirs = (Update(UNSUPPORTED, (daemon,)),)
    return theirs + ours


def _ours(daemon: str, text: str) -> tuple[Update, ...]:
    if daemon == "smtpd":
        if text.startswith("connect from "):
            return (Update(CONNECTIONS),)
        if text.startswith("disconnect from "):
            return (Update(CONNECTIONS, op=Op.DEC),)
        if m := _TLS_FROM.match(text):
            return (Update(TLS_SESSIONS, ("in", m.group(2))),)
    elif m := _TLS_TO.match(text):
        return (Update(TLS_SESSIONS, ("out", m.group(2))),)
    if m := _DELIVERY.match(text):
        relay, delay, status = m.group(1), float(m.group(2)), m.group(3)
        host = relay.split("[", 1)[0]  # "mx.example.com[192.0.2.1]:25" -> the host's name
        return (Update(DELIVERIES, (daemon, status)),
                Update(DELIVERY_DELAY, (host, status), Op.OBSERVE, delay))
    return ()


def _smtpd(text: str) -> tuple[Update, ...] | None:
    if text.startswith("connect from "):
        return (Update(SMTPD_CONNECTS),)
    if text.startswith("disconnect from "):
        return (Update(SMTPD_DISCONNECTS),)
    if _FCRDNS.match(text):
        return (Update(SMTPD_FCRDNS_ERRORS),)
    if m := _LOST.match(text):
        return (Update(SMTPD_LOST, (m.group(1),)),)
    if m := _SASL_CLIENT.search(text):
        return (Update(SMTPD_PROCESSED, (m.group(1),)),)
    if ": client=" in text:
        return (Update(SMTPD_PROCESSED, ("",)),)
    if m := _REJECT.match(text):
        return (Update(SMTPD_REJECTED, (m.group(1),)),)
    if _SASL_FAILED.match(text):
        return (Update(SMTPD_SASL_FAILURES),)
    if m := _TLS_FROM.match(text):
        return (Update(SMTPD_TLS, m.groups()),)
    return None


def _smtp(text: str) -> tuple[Update, ...] | None:
    if m := _DELAYS.search(text):
        found = [Update(SMTP_DELAYS, (stage,), Op.OBSERVE, float(value))
                 for stage, value in zip(STAGES, m.groups()[1:], strict=True)]
        if _STATUS_DEFERRED.search(text):
            # The exporter declares smtp_deferred_messages_total but never counts it; here
            # both count the same deferrals, so a dashboard on either name works.
            found += [Update(SMTP_STATUS_DEFERRED), Update(SMTP_DEFERRED)]
        return tuple(found)
    if m := _TLS_TO.match(text):
        return (Update(SMTP_TLS, m.groups()),)
    if _TIMED_OUT.match(text):
        return (Update(SMTP_TIMED_OUT),)
    return None


def _qmgr(text: str) -> tuple[Update, ...] | None:
    if m := _QMGR_INSERT.search(text):
        return (Update(QMGR_INSERTED_SIZE, (), Op.OBSERVE, float(m.group(1))),
                Update(QMGR_INSERTED_RCPTS, (), Op.OBSERVE, float(m.group(2))))
    if text.endswith(": removed"):
        return (Update(QMGR_REMOVED),)
    return None


def _cleanup(text: str) -> tuple[Update, ...] | None:
    if ": message-id=<" in text:
        return (Update(CLEANUP_PROCESSED),)
    if ": reject: " in text:
        return (Update(CLEANUP_REJECTED),)
    return None


_EXPORTER = {"smtpd": _smtpd, "smtp": _smtp, "qmgr": _qmgr, "cleanup": _cleanup}
