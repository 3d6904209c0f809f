"""The check_*_access family: which keys are looked up, and what the answer does.

Lookup order, as access(5) and smtpd_check.c have it:

* host names (client, reverse client, HELO): the name, then its parent domains --
  ``example.com`` and ``com`` when smtpd_access_maps is in parent_domain_matches_subdomains,
  else ``.example.com`` and ``.com`` -- except for a numeric name, looked up once;
* client addresses: ``1.2.3.4``, ``1.2.3``, ``1.2``, ``1`` (IPv6: fields cut at ``:`` from
  the right);
* mail addresses, after resolving (``user%x@here`` is looked up as ``user@x``):
  ``user+ext@domain``, ``user@domain``, the domain and its parents, ``user+ext@``,
  ``user@``; the null sender as $smtpd_null_access_lookup_key.

Only the first key is shown to pattern tables (regexp, pcre, cidr); the partial keys are
for tables of fixed strings.  The first key found decides, even when its answer is DUNNO
("stop looking here").  A table that fails is Postfix's "451 4.3.5 Server configuration
error" for the thing being checked.
"""

from __future__ import annotations

import re

from mailrelay.mail.hostname import valid_hostaddr
from mailrelay.maps.base import Map, MapLookupError
from mailrelay.maps.lookup import Maps, Strategy, address_lookup
from mailrelay.policy import access, steps
from mailrelay.policy.access import Kind, TableValue, dsn_fix, dsn_split, parse_value
from mailrelay.policy.evaluator import Context, ErrorClass, Run, Status
from mailrelay.policy.request import Stage
from mailrelay.policy.verdict import Action, ActionKind

TABLE_ERROR = "451 4.3.5 Server configuration error"
_HEADER = re.compile(r"[!-9;-~]+:")
_MAX_RECURSION = 100


def _reply(run: Run, value: TableValue, code: int, default_dsn: str, ctx: Context,
           default_text: str = "Access denied") -> Status:
    dsn, text = dsn_split(default_dsn, value.text)
    return run.reject(ErrorClass.POLICY, code, _fixed(run, dsn, ctx),
                      f"<{ctx.reply_name}>: {ctx.reply_class} rejected: {text or default_text}")


def _fixed(run: Run, dsn: str, ctx: Context) -> str:
    status, note = dsn_fix(dsn, ctx.reply_class)
    if note:
        run.info(note)
    return status


def _can_delegate(run: Run, spec: str, action: str) -> bool:
    """HOLD, FILTER... need a mail transaction: not from client/HELO checks at their time."""
    if run.sender is None:
        run.warn(f"access table {spec}: with smtpd_delay_reject=no, action {action} is always "
                 "skipped in Client host or Helo command restrictions")
        return False
    return True


def _message_action(run: Run, spec: str, datum: str, value: TableValue,
                    ctx: Context) -> Status:
    """HOLD, DISCARD, FILTER, REDIRECT, BCC, PREPEND: remembered for the transaction."""
    kind = value.kind
    if not _can_delegate(run, spec, kind.value):
        return Status.DUNNO
    subject = f"<{ctx.reply_name}>: {ctx.reply_class}"
    if kind in (Kind.HOLD, Kind.DISCARD):
        if kind is Kind.HOLD and (run.request.hold
                                  or any(a.kind is ActionKind.HOLD for a in run.actions)):
            return Status.DUNNO
        run.whatsup(kind.value.lower(),
                    f"{subject} {value.text or f'triggers {kind.value} action'}")
        run.actions.append(Action(ActionKind(kind.value), value.text))
        if kind is Kind.HOLD:
            return Status.DUNNO
        run.discard = True
        return run.permit(value.word, ctx.reply_class, ctx.reply_name, f"from {spec}")
    if kind is Kind.PREPEND:
        if run.where == Stage.END_OF_DATA.value:
            run.warn(f"access table {spec}: action PREPEND must be used before "
                     "smtpd_end_of_data_restrictions")
        elif not _HEADER.match(value.text):
            run.warn(f'access table {spec} entry "{datum}" requires header: text')
        else:
            run.actions.append(Action(ActionKind.PREPEND, value.text))
        return Status.DUNNO
    need = ":" if kind is Kind.FILTER else "@"
    if not value.text or need not in value.text:
        what = "transport:destination" if kind is Kind.FILTER else "user@domain target"
        run.warn(f'access table {spec} entry "{datum}" requires {what}')
        return Status.DUNNO
    run.whatsup(kind.value.lower(), f"{subject} triggers {kind.value} {value.text}")
    run.actions.append(Action(ActionKind(kind.value), value.text))
    return Status.DUNNO


_MESSAGE_ACTIONS = (Kind.HOLD, Kind.DISCARD, Kind.FILTER, Kind.REDIRECT, Kind.BCC, Kind.PREPEND)


def table_result(run: Run, spec: str, raw: str, datum: str, ctx: Context) -> Status:
    """check_table_result(): act on one access table answer."""
    value = parse_value(raw)
    codes = run.settings.codes
    kind = value.kind
    if kind is Kind.DUNNO:
        return Status.DUNNO
    if kind is Kind.REJECT:
        return _reply(run, value, codes.access_map_reject_code, "5.7.1", ctx)
    if kind is Kind.DEFER:
        return _reply(run, value, codes.access_map_defer_code, "4.7.1", ctx)
    if kind in (Kind.INFO, Kind.WARN):
        run.whatsup(kind.value.lower(), value.text)
        return Status.DUNNO
    if kind is Kind.HANGUP:
        run.warn(f"access table {spec}: action HANGUP is not supported; ignored")
        return Status.DUNNO
    if kind in _MESSAGE_ACTIONS:
        return _message_action(run, spec, datum, value, ctx)
    if kind in (Kind.DEFER_IF_PERMIT, Kind.DEFER_IF_REJECT):
        dsn, text = dsn_split("4.7.1", value.text)
        args = (ErrorClass.POLICY, codes.access_map_defer_code, _fixed(run, dsn, ctx),
                f"<{ctx.reply_name}>: {ctx.reply_class} rejected: "
                f"{text or 'Service unavailable'}")
        if kind is Kind.DEFER_IF_PERMIT:
            return run.defer_if_permit_or_reject(True, *args)
        return run.defer_if("reject", *args)
    if kind is Kind.OK:
        return run.permit(value.word, ctx.reply_class, ctx.reply_name, f"from {spec}")
    if kind is Kind.NUMERIC:
        return _reply(run, value, value.code, f"{value.word[0]}.7.1", ctx)
    return _restrictions(run, spec, value, ctx)


def _restrictions(run: Run, spec: str, value: TableValue, ctx: Context) -> Status:
    """A table answer that names restrictions: evaluate them here (recursively)."""
    if ":" in value.text:
        run.warn(f"access table {spec} has entry with lookup table: {value.text}")
        run.warn("do not specify lookup tables inside SMTPD access maps")
        run.warn("define a restriction class and specify its name instead.")
        return run.server_error()
    if run.recursion > _MAX_RECURSION:
        run.warn(f"access table {spec} entry {value.text} causes unreasonable recursion")
        return run.server_error()
    words = value.restrictions()
    if not words:
        run.warn(f"access table {spec} entry {value.text} has empty value")
        return Status.OK
    return run.generic_checks(steps.parse(words), ctx)


def _table(run: Run, spec: str) -> Map | None:
    table = run.settings.tables.get(spec)
    if table is None:
        run.warn(f"unexpected dictionary: {spec}")
    return table


def check_access(run: Run, spec: str, key: str, partial: bool,
                 ctx: Context) -> tuple[Status, bool]:
    """One key in one table: (status, found)."""
    table = _table(run, spec)
    if table is None:
        return table_result(run, spec, TABLE_ERROR, key, ctx), True
    if partial and table.is_pattern:
        return Status.DUNNO, False
    try:
        value = table.lookup(key)
    except MapLookupError:
        run.warn(f"{spec}: table lookup problem")
        return table_result(run, spec, TABLE_ERROR, key, ctx), True
    if value is None:
        return Status.DUNNO, False
    return table_result(run, spec, value, key, ctx), True


def check_domain_access(run: Run, spec: str, domain: str, ctx: Context,
                        partial: bool = False) -> tuple[Status, bool]:
    """The name, then its parent domains (not for a numeric name)."""
    name = domain
    while name:
        status, found = check_access(run, spec, name, partial, ctx)
        if status is not Status.DUNNO or found:
            return status, found
        if valid_hostaddr(domain):
            break
        dot = name.find(".", 1)
        if dot < 0:
            break
        name = name[dot + 1:] if run.settings.flags.access_parent_style else name[dot:]
        partial = True
    return Status.DUNNO, False


def check_addr_access(run: Run, spec: str, address: str, ctx: Context) -> tuple[Status, bool]:
    """The address, then shorter networks: ``1.2.3.4``, ``1.2.3``, ``1.2``, ``1``."""
    delimiter = ":" if ":" in address else "."
    key = address
    partial = False
    while True:
        status, found = check_access(run, spec, key, partial, ctx)
        if status is not Status.DUNNO or found:
            return status, found
        cut = key.rfind(delimiter)
        if cut < 0:
            return Status.DUNNO, False
        key = key[:cut]
        partial = True


def check_namadr_access(run: Run, spec: str, name: str, address: str,
                        ctx: Context) -> Status:
    """Host name lookups first (a domain entry may pre-empt an address entry), then address."""
    status, found = check_domain_access(run, spec, name, ctx)
    if status is not Status.DUNNO or found:
        return status
    status, found = check_addr_access(run, spec, address, ctx)
    return status


def check_mail_access(run: Run, spec: str, address: str, ctx: Context) -> Status:
    """An envelope address, resolved, in access(5)'s "EMAIL ADDRESS PATTERNS" order."""
    resolved = run.resolve(address)
    key = resolved.recipient
    if "@" not in key:
        run.warn(f"check_mail_access: no @domain in address: {key}")
        return Status.DUNNO
    table = _table(run, spec)
    if table is None:
        return table_result(run, spec, TABLE_ERROR, key, ctx)
    parent = run.settings.flags.access_parent_style
    strategy = (Strategy.FULL | Strategy.NOEXT | Strategy.DOMAIN | Strategy.LOCALPART_AT
                | (Strategy.PDMS if parent else Strategy.PDDMDS))
    try:
        match = address_lookup(Maps(spec, (table,)), key,
                               delimiter=run.settings.flags.recipient_delimiter,
                               strategy=strategy)
    except MapLookupError:
        run.warn(f"{spec}: table lookup problem")
        return table_result(run, spec, TABLE_ERROR, key, ctx)
    if match is None:
        return Status.DUNNO
    status = table_result(run, spec, match.value, key, ctx)
    # A routed recipient must not be let through by an OK (it would open the relay).
    suspicious = (not run.settings.flags.allow_untrusted_routing and resolved.routed
                  and ctx.reply_class == access.RECIPIENT)
    return Status.DUNNO if status is Status.OK and suspicious else status
