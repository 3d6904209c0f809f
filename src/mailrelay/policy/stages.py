"""The stage functions the SMTP shell calls: one per point of the session where Postfix checks.

Theory of operation (smtpd_check.c's smtpd_check_client/helo/mail/rcpt/data/eod).

=================  ================================================================  ========
stage              evaluates                                                         when
=================  ================================================================  ========
client_stage       smtpd_client_restrictions                                         connect
helo_stage         smtpd_helo_restrictions                                           HELO
sender_stage       smtpd_helo_required, smtpd_sender_restrictions                    MAIL
recipient_stage    [client, helo, sender,] smtpd_relay_restrictions,                 RCPT
                   smtpd_recipient_restrictions, unknown-recipient check
data_stage         smtpd_data_restrictions                                           DATA
end_of_data_stage  smtpd_end_of_data_restrictions                                    after .
=================  ================================================================  ========

With ``smtpd_delay_reject = yes`` (the default) the client, HELO and sender restrictions are
not evaluated at their own command: the first three stages then return DUNNO at once, and
recipient_stage evaluates them, in that order, before the relay and recipient lists, for
every recipient.  So a client rejected by smtpd_client_restrictions is told so at RCPT
("554 5.7.1 <host[addr]>: Client host rejected: Access denied") and the log line has the
sender and recipient.  The relay and recipient lists are both evaluated (relay first, per
smtpd_relay_before_recipient_restrictions): a permit in one does not skip the other, a
reject in either refuses the recipient.  ``postmaster`` (no domain) is always accepted.

Every stage is a pure function ``(settings, request, answers) -> Verdict | NeedsDns``; see
:mod:`mailrelay.policy.dns` for NeedsDns.  Verdict.deferred carries a pending
defer_if_permit to the next stage (``Request.deferrals``); it matters only without
smtpd_delay_reject.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType

from mailrelay.mail.reply import Reply
from mailrelay.policy import access
from mailrelay.policy.checks_address import check_recipient_rcpt_maps, check_sender_rcpt_maps
from mailrelay.policy.dns import DnsAnswers, DnsNeeded, NeedsDns
from mailrelay.policy.evaluator import Abort, Context, ErrorClass, Pending, Run, Status
from mailrelay.policy.request import Request, Stage
from mailrelay.policy.restrictions import HANDLERS
from mailrelay.policy.settings import PolicySettings
from mailrelay.policy.verdict import Decision, Verdict

StageResult = Verdict | NeedsDns
NO_ANSWERS: DnsAnswers = MappingProxyType({})
#: What smtpd says to MAIL without HELO under smtpd_helo_required (no log line).
HELO_REQUIRED = Reply(503, "5.5.1", "Error: send HELO/EHLO first")


def _guarded(check: Callable[[], Status]) -> Status:
    """One setjmp() of smtpd_check.c: a configuration or lookup error ends in REJECT."""
    try:
        return check()
    except Abort:
        return Status.REJECT


def _pending(reply: Reply | None) -> Pending | None:
    return None if reply is None else Pending(ErrorClass.POLICY, reply)


def _reply_of(pending: Pending | None) -> Reply | None:
    return None if pending is None else pending.reply


def _evaluate(settings: PolicySettings, request: Request, answers: DnsAnswers, where: str,
              body: Callable[[Run], Status]) -> StageResult:
    run = Run(settings, request, answers, HANDLERS, request.command or where)
    try:
        status = body(run)
    except DnsNeeded as e:
        return NeedsDns(e.queries)
    reply = run.reply if status is Status.REJECT else None
    return Verdict.from_reply(reply, tuple(run.log), tuple(run.actions),
                              permit=status is Status.OK,
                              deferred=_reply_of(run.defer_if_permit) if reply is None else None)


def _deferred_instead(run: Run, status: Status) -> Status:
    """A stage that would accept defers when an earlier temporary error asked for it."""
    pending = run.defer_if_permit
    if status is Status.REJECT or pending is None:
        return status
    r = pending.reply
    return _guarded(lambda: run.reject(pending.error_class, r.code, r.enhanced, r.text))


# -- the checks, as smtpd_check.c has them --------------------------------------------------


def _check_client(run: Run) -> Status:
    run.defer_if_permit = None
    run.reset()
    steps = run.settings.list("client")
    status = _guarded(lambda: run.generic_checks(
        steps, Context(run.namaddr, access.CLIENT, "check_client_access")))
    run.after_client = run.defer_if_permit
    return status


def _check_helo(run: Run) -> Status:
    if run.helo is None:
        return Status.DUNNO
    run.defer_if_permit = run.after_client
    run.reset()
    helo = run.helo
    status = _guarded(lambda: run.generic_checks(
        run.settings.list("helo"), Context(helo, access.HELO, "check_helo_access")))
    run.after_helo = run.defer_if_permit
    return status


def _check_mail(run: Run) -> Status:
    sender = run.sender
    if sender is None:
        return Status.DUNNO
    run.defer_if_permit = run.after_client or run.after_helo
    run.sender_checked = False
    run.reset()
    status = _guarded(lambda: run.generic_checks(
        run.settings.list("sender"), Context(sender, access.SENDER, "check_sender_access")))
    run.after_sender = run.defer_if_permit
    if (run.settings.flags.reject_unlisted_sender and status is not Status.REJECT
            and not run.sender_checked and not run.discard and sender):
        status = _guarded(lambda: check_sender_rcpt_maps(run, sender))
    return status


def _check_rcpt(run: Run) -> Status:
    recipient = run.recipient
    if recipient is None or recipient.lower() == "postmaster":
        return Status.DUNNO
    run.recipient_checked = False
    if run.settings.flags.delay_reject:
        for check in (_check_client, _check_helo, _check_mail):
            if check(run) is Status.REJECT:
                return Status.REJECT
    run.defer_if_permit = run.after_sender
    run.reset()
    lists = ("relay", "recipient") if run.settings.flags.relay_before_recipient \
        else ("recipient", "relay")
    ctx = Context(recipient, access.RECIPIENT, "check_recipient_access")
    status = Status.DUNNO
    for name in lists:
        status = _guarded(_list_check(run, name, ctx))
        if status is Status.REJECT:
            break
    status = _deferred_instead(run, status)
    if (run.settings.flags.reject_unlisted_recipient and status is not Status.REJECT
            and not run.recipient_checked and not run.discard):
        status = _guarded(lambda: check_recipient_rcpt_maps(run, recipient))
    return status


def _list_check(run: Run, name: str, ctx: Context) -> Callable[[], Status]:
    steps = run.settings.list(name)
    return lambda: run.generic_checks(steps, ctx)


def _check_content(run: Run, name: str, reply_name: str, reply_class: str) -> Status:
    """smtpd_check_data / smtpd_check_eod: the recipient is hidden when there are several."""
    if run.request.rcpt_count > 1:
        run.recipient = None
    run.defer_if_permit = None
    run.reset()
    status = _guarded(lambda: run.generic_checks(
        run.settings.list(name), Context(reply_name, reply_class, None)))
    return _deferred_instead(run, status)


# -- the stages -----------------------------------------------------------------------------


def _delayed(settings: PolicySettings) -> Verdict | None:
    return Verdict(Decision.DUNNO) if settings.flags.delay_reject else None


def client_stage(settings: PolicySettings, request: Request,
                 answers: DnsAnswers = NO_ANSWERS) -> StageResult:
    return _delayed(settings) or _evaluate(settings, request, answers, Stage.CONNECT.value,
                                           _check_client)


def helo_stage(settings: PolicySettings, request: Request,
               answers: DnsAnswers = NO_ANSWERS) -> StageResult:
    def body(run: Run) -> Status:
        run.after_client = _pending(request.deferrals.client)
        return _check_helo(run)

    return _delayed(settings) or _evaluate(settings, request, answers, Stage.HELO.value, body)


def sender_stage(settings: PolicySettings, request: Request,
                 answers: DnsAnswers = NO_ANSWERS) -> StageResult:
    if settings.flags.helo_required and request.helo is None:
        return Verdict.from_reply(HELO_REQUIRED)

    def body(run: Run) -> Status:
        run.after_client = _pending(request.deferrals.client)
        run.after_helo = _pending(request.deferrals.helo)
        return _check_mail(run)

    return _delayed(settings) or _evaluate(settings, request, answers, Stage.MAIL.value, body)


def recipient_stage(settings: PolicySettings, request: Request,
                    answers: DnsAnswers = NO_ANSWERS) -> StageResult:
    def body(run: Run) -> Status:
        run.after_sender = _pending(request.deferrals.sender)
        return _check_rcpt(run)

    return _evaluate(settings, request, answers, Stage.RCPT.value, body)


def data_stage(settings: PolicySettings, request: Request,
               answers: DnsAnswers = NO_ANSWERS) -> StageResult:
    return _evaluate(settings, request, answers, Stage.DATA.value,
                     lambda run: _check_content(run, "data", "DATA", access.DATA))


def end_of_data_stage(settings: PolicySettings, request: Request,
                      answers: DnsAnswers = NO_ANSWERS) -> StageResult:
    # Postfix logs and answers as "END-OF-MESSAGE" whatever the command was.
    request = request if request.command is None else _without_command(request)
    return _evaluate(settings, request, answers, Stage.END_OF_DATA.value,
                     lambda run: _check_content(run, "end_of_data", "END-OF-MESSAGE",
                                                access.END_OF_DATA))


def _without_command(request: Request) -> Request:
    return replace(request, command=None)
