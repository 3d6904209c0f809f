"""Generic, client and HELO restrictions (the first part of smtpd_check.c's generic_checks).

Each handler takes the evaluation (:class:`~mailrelay.policy.evaluator.Run`), its step
(name and argument) and the context (what is being judged), and answers OK, REJECT or
DUNNO.  Reply texts are Postfix 3.7's, captured from a real Postfix where no DNS is needed
(tests/golden/policy/cases.json) and taken from smtpd_check.c otherwise.
"""

from __future__ import annotations

import ipaddress

from mailrelay.mail.hostname import (
    dup_if_truncate,
    valid_hostaddr,
    valid_hostname,
    valid_mailhost_addr,
    valid_utf8_hostname,
)
from mailrelay.policy import access
from mailrelay.policy.evaluator import Context, ErrorClass, Handler, Run, Status
from mailrelay.policy.request import PeerStatus
from mailrelay.policy.steps import Step
from mailrelay.policy.tables import check_access, check_domain_access, check_namadr_access


def _rejected(ctx: Context, text: str) -> str:
    return f"<{ctx.reply_name}>: {ctx.reply_class} rejected: {text}"


def table_arg(run: Run, step: Step) -> str:
    """The table of a check_*_access step; a missing or bad one is a configuration error."""
    if step.arg is None or ":" not in step.arg:
        run.warn(f'restriction {step.name}: bad argument "{step.arg or ""}": '
                 "need maptype:mapname")
        run.server_error()
    return step.arg or ""


# -- generic --------------------------------------------------------------------------------


def permit(run: Run, step: Step, ctx: Context) -> Status:
    return run.permit(step.name, ctx.reply_class, ctx.reply_name)


def reject(run: Run, step: Step, ctx: Context) -> Status:
    return run.reject(ErrorClass.POLICY, run.settings.codes.reject_code, "5.7.1",
                      _rejected(ctx, "Access denied"))


def defer(run: Run, step: Step, ctx: Context) -> Status:
    return run.reject(ErrorClass.POLICY, run.settings.codes.defer_code, "4.3.2",
                      _rejected(ctx, "Try again later"))


def defer_if_permit(run: Run, step: Step, ctx: Context) -> Status:
    return run.defer_if_permit_or_reject(True, ErrorClass.POLICY, 450, "4.7.0",
                                         _rejected(ctx, "defer_if_permit requested"))


def defer_if_reject(run: Run, step: Step, ctx: Context) -> Status:
    return run.defer_if("reject", ErrorClass.POLICY, 450, "4.7.0",
                        _rejected(ctx, "defer_if_reject requested"))


def reject_unauth_pipelining(run: Run, step: Step, ctx: Context) -> Status:
    if not run.request.improper_pipelining:
        return Status.DUNNO
    return run.reject(ErrorClass.PROTOCOL, 503, "5.5.0",
                      _rejected(ctx, "Improper use of SMTP command pipelining"))


def reject_plaintext_session(run: Run, step: Step, ctx: Context) -> Status:
    if run.request.tls:
        return Status.DUNNO
    return run.reject(ErrorClass.POLICY, run.settings.codes.plaintext_reject_code, "4.7.1",
                      "Session encryption is required")


def not_supported(run: Run, step: Step, ctx: Context) -> Status:
    """Known to Postfix, not (yet) to mailrelay: refuse to guess, defer like a bad config."""
    run.warn(f"restriction {step.name} is not supported by mailrelay")
    return run.server_error()


# -- client ---------------------------------------------------------------------------------


def reject_unknown_client_hostname(run: Run, step: Step, ctx: Context) -> Status:
    req = run.request
    if req.name_status is PeerStatus.OK:
        return Status.DUNNO
    code = run.settings.codes.unknown_client_reject_code \
        if req.name_status >= PeerStatus.PERM else 450
    return run.reject(ErrorClass.POLICY, code, "4.7.25",
                      f"Client host rejected: cannot find your hostname, [{req.client_address}]")


def reject_unknown_reverse_client_hostname(run: Run, step: Step, ctx: Context) -> Status:
    req = run.request
    if req.reverse_name_status is PeerStatus.OK:
        return Status.DUNNO
    code = run.settings.codes.unknown_client_reject_code \
        if req.reverse_name_status is PeerStatus.PERM else 450
    return run.reject(ErrorClass.POLICY, code, "4.7.1",
                      "Client host rejected: cannot find your reverse hostname, "
                      f"[{req.client_address}]")


def permit_mynetworks(run: Run, step: Step, ctx: Context) -> Status:
    req = run.request
    if run.settings.mynetworks.match_host(req.client_name, req.client_address):
        return run.permit(step.name, access.CLIENT, run.namaddr)
    return Status.DUNNO


def permit_inet_interfaces(run: Run, step: Step, ctx: Context) -> Status:
    try:
        address = ipaddress.ip_address(run.request.client_address)
    except ValueError:
        return Status.DUNNO
    if address in run.settings.site.own_addresses:
        return run.permit(step.name, access.CLIENT, run.namaddr)
    return Status.DUNNO


def permit_sasl_authenticated(run: Run, step: Step, ctx: Context) -> Status:
    if run.settings.flags.sasl_enabled and run.request.sasl_username:
        return run.permit(step.name, access.CLIENT, run.namaddr)
    return Status.DUNNO


def check_client_access(run: Run, step: Step, ctx: Context) -> Status:
    req = run.request
    spec = table_arg(run, step)
    return check_namadr_access(run, spec, req.client_name, req.client_address,
                               Context(run.namaddr, access.CLIENT, ctx.default_check))


def check_reverse_client_hostname_access(run: Run, step: Step, ctx: Context) -> Status:
    req = run.request
    spec = table_arg(run, step)
    status = check_namadr_access(
        run, spec, req.reverse_client_name, req.client_address,
        Context(req.reverse_client_name, access.REVERSE_CLIENT, ctx.default_check))
    return forbid_allowlist(run, step, status, req.reverse_client_name)


def forbid_allowlist(run: Run, step: Step, status: Status, target: str) -> Status:
    """An unverified name must not be able to permit anything."""
    if not run.discard and status is Status.OK:
        run.warn(f"restriction {step.name} returns OK for {target}")
        run.warn("this is not allowed for security reasons")
        run.warn("use DUNNO instead of OK if you want to make an exception")
        return run.server_error()
    return status


def check_sasl_access(run: Run, step: Step, ctx: Context) -> Status:
    spec = table_arg(run, step)
    user = run.request.sasl_username
    if not run.settings.flags.sasl_enabled:
        run.warn(f"restriction `{step.name}' ignored: no SASL support")
        return Status.DUNNO
    if not user:
        return Status.DUNNO
    printable = "".join(c if c.isprintable() else "_" for c in user)
    status, _ = check_access(run, spec, user, False,
                             Context(printable, access.SASL_USER, ctx.default_check))
    return status


# -- HELO -----------------------------------------------------------------------------------


def _helo_context(run: Run, ctx: Context) -> Context:
    return Context(run.helo or "", access.HELO, ctx.default_check)


def invalid_hostaddr(run: Run, name: str, ctx: Context) -> Status:
    """A ``[literal]`` that is not an IPv4 or ``IPv6:`` address."""
    inner = name[1:-1] if len(name) > 2 and name.endswith("]") else name
    if valid_mailhost_addr(inner) is not None:
        return Status.DUNNO
    return run.reject(ErrorClass.POLICY, run.settings.codes.invalid_hostname_reject_code,
                      "5.5.2", _rejected(ctx, "invalid ip address"))


def check_helo_access(run: Run, step: Step, ctx: Context) -> Status:
    spec = table_arg(run, step)
    if run.helo is None:
        return Status.DUNNO
    status, _ = check_domain_access(run, spec, run.helo, _helo_context(run, ctx))
    return status


def reject_invalid_helo_hostname(run: Run, step: Step, ctx: Context) -> Status:
    helo = run.helo
    if helo is None:
        return Status.DUNNO
    hctx = _helo_context(run, ctx)
    if helo.startswith("["):
        return invalid_hostaddr(run, helo, hctx)
    name = dup_if_truncate(helo)
    if valid_hostname(name) or valid_hostaddr(name):
        return Status.DUNNO
    return run.reject(ErrorClass.POLICY, run.settings.codes.invalid_hostname_reject_code,
                      "5.5.2", _rejected(hctx, "Invalid name"))


def reject_non_fqdn_helo_hostname(run: Run, step: Step, ctx: Context) -> Status:
    helo = run.helo
    if helo is None:
        return Status.DUNNO
    hctx = _helo_context(run, ctx)
    if helo.startswith("["):
        return invalid_hostaddr(run, helo, hctx)
    name = dup_if_truncate(helo)
    if valid_utf8_hostname(name, run.request.smtputf8) and "." in name:
        return Status.DUNNO
    return run.reject(ErrorClass.POLICY, run.settings.codes.non_fqdn_reject_code, "5.5.2",
                      _rejected(hctx, "need fully-qualified hostname"))


HANDLERS: dict[str, Handler] = {
    "permit": permit,
    "reject": reject,
    "defer": defer,
    "defer_if_permit": defer_if_permit,
    "defer_if_reject": defer_if_reject,
    "reject_unauth_pipelining": reject_unauth_pipelining,
    "reject_plaintext_session": reject_plaintext_session,
    "reject_unknown_client_hostname": reject_unknown_client_hostname,
    "reject_unknown_client": reject_unknown_client_hostname,
    "reject_unknown_reverse_client_hostname": reject_unknown_reverse_client_hostname,
    "permit_mynetworks": permit_mynetworks,
    "permit_inet_interfaces": permit_inet_interfaces,
    "permit_sasl_authenticated": permit_sasl_authenticated,
    "check_client_access": check_client_access,
    "check_reverse_client_hostname_access": check_reverse_client_hostname_access,
    "check_sasl_access": check_sasl_access,
    "check_helo_access": check_helo_access,
    "reject_invalid_helo_hostname": reject_invalid_helo_hostname,
    "reject_invalid_hostname": reject_invalid_helo_hostname,
    "reject_non_fqdn_helo_hostname": reject_non_fqdn_helo_hostname,
    "reject_non_fqdn_hostname": reject_non_fqdn_helo_hostname,
}

#: Postfix restrictions mailrelay knows by name but does not implement.
NOT_SUPPORTED = (
    "check_policy_service", "check_ccert_access", "permit_tls_clientcerts",
    "permit_tls_all_clientcerts", "permit_mx_backup", "reject_unverified_sender",
    "reject_unverified_recipient", "check_relay_domains", "reject_maps_rbl",
    "check_etrn_access", "permit_naked_ip_address", "sleep",
    *(f"check_{who}_{rr}_access"
      for who in ("client", "reverse_client_hostname", "helo", "sender", "recipient")
      for rr in ("ns", "mx", "a")),
)
HANDLERS.update({name: not_supported for name in NOT_SUPPORTED})
