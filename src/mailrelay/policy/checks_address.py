"""Sender and recipient restrictions, relay authorisation, and unknown-user checks.

Relay authorisation (``permit_auth_destination``, ``reject_unauth_destination``,
``defer_unauth_destination``) asks :mod:`mailrelay.policy.resolve` where the recipient goes:
authorised when it resolves to a final destination (mydestination, inet_interfaces or
proxy_interfaces literals, virtual alias or mailbox domains) or to relay_domains, and its
local part has no routing operators left (``allow_untrusted_routing`` lifts that).

``reject_unlisted_recipient`` / ``reject_unlisted_sender`` (and the implicit check of
``smtpd_reject_unlisted_recipient``) look the resolved address up in the recipient tables of
its class: local_recipient_maps, virtual_mailbox_maps, relay_recipient_maps; an address in a
virtual alias domain must be in virtual_alias_maps.  A class whose table is not configured
(or could not be opened: see PolicySettings.warnings) accepts everything, as Postfix does
with an empty table parameter.
"""

from __future__ import annotations

from mailrelay.mail.hostname import dup_if_truncate, valid_utf8_hostname
from mailrelay.maps.base import MapLookupError
from mailrelay.maps.lookup import Maps, address_lookup
from mailrelay.policy import access
from mailrelay.policy.access import dsn_fix
from mailrelay.policy.checks_client import table_arg
from mailrelay.policy.evaluator import Context, ErrorClass, Handler, Run, Status
from mailrelay.policy.resolve import AddressClass, Resolved, resolve_local
from mailrelay.policy.steps import Step
from mailrelay.policy.tables import check_access, check_mail_access
from mailrelay.util.tokens import split_list


def _sender_ctx(run: Run, ctx: Context) -> Context:
    return Context(run.sender or "", access.SENDER, ctx.default_check)


def _recipient_ctx(run: Run, ctx: Context) -> Context:
    return Context(run.recipient or "", access.RECIPIENT, ctx.default_check)


def reject_non_fqdn_address(run: Run, address: str, ctx: Context) -> Status:
    at = address.rfind("@")
    domain = address[at + 1:] if at >= 0 else ""
    if domain.startswith("[") and domain.endswith("]"):
        return Status.DUNNO
    name = dup_if_truncate(domain)
    if name and valid_utf8_hostname(name, run.request.smtputf8) and "." in name:
        return Status.DUNNO
    return run.reject(ErrorClass.POLICY, run.settings.codes.non_fqdn_reject_code, "4.5.2",
                      f"<{ctx.reply_name}>: {ctx.reply_class} rejected: "
                      "need fully-qualified address")


# -- sender ---------------------------------------------------------------------------------


def check_sender_access(run: Run, step: Step, ctx: Context) -> Status:
    spec = table_arg(run, step)
    if run.sender is None:
        return Status.DUNNO
    sctx = _sender_ctx(run, ctx)
    if run.sender:
        return check_mail_access(run, spec, run.sender, sctx)
    status, _ = check_access(run, spec, run.settings.flags.null_access_lookup_key, False, sctx)
    return status


def reject_non_fqdn_sender(run: Run, step: Step, ctx: Context) -> Status:
    if not run.sender:
        return Status.DUNNO
    return reject_non_fqdn_address(run, run.sender, _sender_ctx(run, ctx))


def reject_unlisted_sender(run: Run, step: Step, ctx: Context) -> Status:
    if not run.sender:
        return Status.DUNNO
    return check_sender_rcpt_maps(run, run.sender)


def _login_owners(run: Run, maps: Maps, sender: str) -> str | None:
    resolved = run.resolve(sender)
    try:
        match = address_lookup(maps, resolved.recipient,
                               delimiter=run.settings.flags.recipient_delimiter,
                               local_domain=lambda d: _local_domain(run, d))
    except MapLookupError:
        run.dict_retry(sender)
    return match.value if match else None


def sender_login_mismatch(run: Run, step: Step, ctx: Context) -> Status:
    """reject_{authenticated,known,unauthenticated}_sender_login_mismatch."""
    if not run.settings.flags.sasl_enabled:
        run.warn(f"restriction `{step.name}' ignored: no SASL support")
        return Status.DUNNO
    maps, sender, user = run.settings.sender_login_maps, run.sender, run.request.sasl_username
    if not sender or maps is None:
        return Status.DUNNO
    which = step.key.split("_")[1]
    if user and which in ("authenticated", "known"):
        owners = _login_owners(run, maps, sender)
        if owners is None and which == "known":
            return Status.DUNNO
        names = split_list(owners or "")
        if any(name.casefold() == user.casefold() for name in names):
            return Status.DUNNO
        return run.reject(ErrorClass.POLICY, 553, "5.7.1",
                          f"<{sender}>: Sender address rejected: not owned by user {user}")
    if not user and which in ("unauthenticated", "known") \
            and _login_owners(run, maps, sender) is not None:
        return run.reject(ErrorClass.POLICY, 553, "5.7.1",
                          f"<{sender}>: Sender address rejected: not logged in")
    return Status.DUNNO


# -- recipient and relaying -----------------------------------------------------------------


def auth_destination(run: Run, recipient: str) -> bool:
    """permit_auth_destination()'s test: a final or relay destination, not routed."""
    resolved = run.resolve(recipient)
    if "@" not in resolved.recipient:
        return True
    if resolved.routed and not run.settings.flags.allow_untrusted_routing:
        return False
    return resolved.address_class.final or resolved.address_class is AddressClass.RELAY


def permit_auth_destination(run: Run, step: Step, ctx: Context) -> Status:
    recipient = run.recipient
    if recipient is None or not auth_destination(run, recipient):
        return Status.DUNNO
    return run.permit(step.name, access.RECIPIENT, recipient)


def _unauth_destination(run: Run, code: int, dsn: str) -> Status:
    recipient = run.recipient
    if recipient is None or auth_destination(run, recipient):
        return Status.DUNNO
    return run.reject(ErrorClass.POLICY, code, dsn, f"<{recipient}>: Relay access denied")


def reject_unauth_destination(run: Run, step: Step, ctx: Context) -> Status:
    return _unauth_destination(run, run.settings.codes.relay_domains_reject_code, "5.7.1")


def defer_unauth_destination(run: Run, step: Step, ctx: Context) -> Status:
    return _unauth_destination(run, run.settings.codes.relay_domains_reject_code - 100,
                               "4.7.1")


def check_recipient_access(run: Run, step: Step, ctx: Context) -> Status:
    spec = table_arg(run, step)
    if run.recipient is None:
        return Status.DUNNO
    return check_mail_access(run, spec, run.recipient, _recipient_ctx(run, ctx))


def reject_non_fqdn_recipient(run: Run, step: Step, ctx: Context) -> Status:
    if run.recipient is None:
        return Status.DUNNO
    return reject_non_fqdn_address(run, run.recipient, _recipient_ctx(run, ctx))


def reject_unlisted_recipient(run: Run, step: Step, ctx: Context) -> Status:
    if not run.recipient:
        return Status.DUNNO
    return check_recipient_rcpt_maps(run, run.recipient)


def reject_multi_recipient_bounce(run: Run, step: Step, ctx: Context) -> Status:
    limit = 0 if run.where == "RCPT" else 1
    if run.sender != "" or run.request.rcpt_count <= limit:
        return Status.DUNNO
    return run.reject(ErrorClass.POLICY, run.settings.codes.multi_recipient_bounce_reject_code,
                      "5.5.3", f"<{ctx.reply_name}>: {ctx.reply_class} rejected: "
                      "Multi-recipient bounce")


# -- known recipients -----------------------------------------------------------------------


def _local_domain(run: Run, domain: str) -> bool:
    site = run.settings.site
    return domain.lower() == site.myorigin.lower() or resolve_local(site, domain)


def _known(run: Run, maps: Maps | None, address: str, reply_name: str) -> bool:
    if maps is None:
        return False
    try:
        return address_lookup(maps, address, delimiter=run.settings.flags.recipient_delimiter,
                              local_domain=lambda d: _local_domain(run, d)) is not None
    except MapLookupError:
        run.dict_retry(reply_name)
        return False


def check_recipient_rcpt_maps(run: Run, recipient: str) -> Status:
    if run.recipient_checked:
        return Status.DUNNO
    if not run.warn_if_reject:
        run.recipient_checked = True
    return check_rcpt_maps(run, recipient, access.RECIPIENT)


def check_sender_rcpt_maps(run: Run, sender: str) -> Status:
    if run.sender_checked:
        return Status.DUNNO
    if not run.warn_if_reject:
        run.sender_checked = True
    return check_rcpt_maps(run, sender, access.SENDER)


_ALWAYS_KNOWN = ("postmaster", "mailer-daemon")


def check_rcpt_maps(run: Run, address: str, reply_class: str) -> Status:
    """Is *address* a known user of its domain class? (smtpd_check.c check_rcpt_maps)"""
    tables = run.settings.recipients
    resolved = run.resolve(address)
    rcpt = resolved.recipient
    if (_known(run, tables.recipient_canonical, rcpt, address)
            or (reply_class == access.SENDER
                and _known(run, tables.sender_canonical, rcpt, address))
            or _known(run, tables.canonical, rcpt, address)
            or _known(run, tables.virtual_alias, rcpt, address)):
        return Status.DUNNO
    table = _unknown_table(run, resolved)
    if table is None:
        return Status.DUNNO
    code, name = table
    dsn, note = dsn_fix("5.1.0" if reply_class == access.SENDER else "5.1.1", reply_class)
    if note:
        run.info(note)
    suffix = f" in {name}" if run.settings.flags.show_unknown_table_name else ""
    return run.reject(ErrorClass.BOUNCE, code, dsn,
                      f"<{address}>: {reply_class} rejected: User unknown{suffix}")


def _unknown_table(run: Run, resolved: Resolved) -> tuple[int, str] | None:
    """(reply code, table description) when the address is unknown in its class."""
    codes, tables = run.settings.codes, run.settings.recipients
    rcpt, cls = resolved.recipient, resolved.address_class
    if cls is AddressClass.ALIAS:
        return codes.unknown_virtual_alias_reject_code, "virtual alias table"
    if cls is AddressClass.LOCAL and tables.local is not None:
        local = rcpt[:rcpt.rfind("@")].lower()
        exempt = (*_ALWAYS_KNOWN, run.settings.flags.double_bounce_sender.lower())
        if local not in exempt and not _known(run, tables.local, rcpt, rcpt):
            return codes.unknown_local_recipient_reject_code, "local recipient table"
    if cls is AddressClass.VIRTUAL and tables.virtual_mailbox is not None \
            and not _known(run, tables.virtual_mailbox, rcpt, rcpt):
        return codes.unknown_virtual_mailbox_reject_code, "virtual mailbox table"
    if cls is AddressClass.RELAY and tables.relay is not None \
            and not _known(run, tables.relay, rcpt, rcpt):
        return codes.unknown_relay_recipient_reject_code, "relay recipient table"
    return None


HANDLERS: dict[str, Handler] = {
    "check_sender_access": check_sender_access,
    "reject_non_fqdn_sender": reject_non_fqdn_sender,
    "reject_unlisted_sender": reject_unlisted_sender,
    "reject_authenticated_sender_login_mismatch": sender_login_mismatch,
    "reject_known_sender_login_mismatch": sender_login_mismatch,
    "reject_unauthenticated_sender_login_mismatch": sender_login_mismatch,
    "check_recipient_access": check_recipient_access,
    "permit_auth_destination": permit_auth_destination,
    "reject_unauth_destination": reject_unauth_destination,
    "defer_unauth_destination": defer_unauth_destination,
    "reject_non_fqdn_recipient": reject_non_fqdn_recipient,
    "reject_unlisted_recipient": reject_unlisted_recipient,
    "check_recipient_maps": reject_unlisted_recipient,
    "reject_multi_recipient_bounce": reject_multi_recipient_bounce,
}
