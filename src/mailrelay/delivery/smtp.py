"""The smtp delivery agent: Postfix's smtp(8) for the ``smtp`` and ``relay`` transports.

SECURITY: connects to remote mail servers (the nexthop's, the fallback relays'), may
encrypt (STARTTLS, wrapper mode) and authenticate (SASL) to them; credentials are sent only
to the server they were looked up for and are never logged.

Theory of operation
-------------------
``deliver()`` takes one request (one message, the recipients for one nexthop) and returns
one result per recipient.  The nexthop may name several destinations (``[a]:587, [b]``);
``smtp_fallback_relay`` adds more after them.  Each destination gives a list of server
addresses: an IP literal itself, ``[name]`` its addresses, a bare domain its MX hosts (the
resolver's job).  Servers are tried in order until no recipient is left; what a failure
does to the recipients -- keep them for the next server, defer, bounce -- is
``smtp_attempt.py``'s business, following Postfix's rules.

One server session: connect (or take a cached connection and probe it with RSET), read the
greeting, EHLO (HELO as a fallback), STARTTLS and AUTH as the policies want, then one
transaction for the recipients still pending (``smtp/client.py`` does the protocol).  A
clean connection to a destination that caches connections is kept for the next request
(``connection_cache.py``), otherwise it is quit.  ``deliver()`` may run concurrently: each
call has its own connection.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mailrelay.cleanup.address_map import CleanupDefer
from mailrelay.config.model import Config
from mailrelay.delivery.connection_cache import CacheKey, ConnectionCache
from mailrelay.delivery.dns import LookupFailure, MxResolver
from mailrelay.delivery.smtp_attempt import Attempt, Failure
from mailrelay.delivery.smtp_connection import ConnectFailed, Endpoint, SmtpConnection
from mailrelay.delivery.smtp_rewrite import Outgoing, OutputRewrite
from mailrelay.delivery.smtp_security import SessionSecurity, SkipServer, secure_session
from mailrelay.delivery.smtp_settings import AgentSettings
from mailrelay.delivery.tls import TlsClient
from mailrelay.mail.mime8bit import MimeNestingError
from mailrelay.maps.base import MapLookupError
from mailrelay.qmgr.request import DeliveryRecipient, DeliveryRequest, RecipientResult
from mailrelay.route.nexthop import Nexthop, NexthopError, parse_nexthop
from mailrelay.sasl.settings import SaslClientSettings
from mailrelay.smtp.client import (
    Failed,
    ProbeDone,
    Ready,
    SendContent,
    SessionOptions,
    TransactionDone,
)
from mailrelay.smtp.client_commands import MailEnvelope, MailRecipient
from mailrelay.smtp.client_content import encode_content
from mailrelay.smtp.client_outcome import Outcome, local
from mailrelay.smtp.client_settings import ClientSettings
from mailrelay.tlspolicy.policy import Level, TlsPolicy, TlsPolicyError
from mailrelay.util.tokens import split_list


@dataclass(slots=True)
class _Site:
    """One destination of the request, as it is being tried."""

    nexthop: Nexthop
    #: As written in the nexthop (``[smtp.example.com]:587``): tables and caches use it.
    text: str
    #: The last destination to try: its last server decides.
    final: bool
    fallback: bool
    #: Sessions that got past the handshake (smtp_mx_session_limit counts these).
    sessions: int = 0


@dataclass(slots=True)
class _Content:
    """The message as sent: the queued bytes, encoded once per form."""

    raw: bytes
    settings: ClientSettings
    #: The envelope addresses as sent (smtp_generic_maps).
    outgoing: Outgoing
    _encoded: dict[bool, bytes] = field(default_factory=dict)

    def encoded(self, downgrade: bool) -> bytes:
        if downgrade not in self._encoded:
            self._encoded[downgrade] = encode_content(
                self.raw, line_limit=self.settings.content_line_limit, downgrade=downgrade,
                limits=self.settings.mime_limits)
        return self._encoded[downgrade]

    @property
    def headers_utf8(self) -> bool:
        end = self.raw.find(b"\r\n\r\n")
        return not self.raw[: end if end >= 0 else len(self.raw)].isascii()


class SmtpAgent:
    def __init__(self, settings: AgentSettings, log: Callable[[str], None], *,
                 resolver: MxResolver, security: SessionSecurity | None = None,
                 rewrite: OutputRewrite | None = None) -> None:
        self.settings = settings
        self._rewrite = rewrite or OutputRewrite()
        self._log = log
        self._resolver = resolver
        self._security = security or SessionSecurity()
        self._cache = ConnectionCache(settings.cache_time_limit)
        #: Deliveries in progress per nexthop: "mail backed up", for on-demand caching.
        self._active: Counter[str] = Counter()

    @classmethod
    def from_config(cls, config: Config, log: Callable[[str], None], *,
                    resolver: MxResolver, tls: TlsClient | None = None,
                    sasl: SaslClientSettings | None = None) -> SmtpAgent:
        return cls(AgentSettings.from_config(config), log, resolver=resolver,
                   security=SessionSecurity.from_config(config, tls=tls, sasl=sasl),
                   rewrite=OutputRewrite.from_config(config))

    async def close(self) -> None:
        """QUIT and close the cached connections."""
        await self._cache.close()

    # -- one request -------------------------------------------------------------------

    async def deliver(self, request: DeliveryRequest, content: bytes) -> list[RecipientResult]:
        attempt = Attempt(request, self._log, soft_bounce=self.settings.soft_bounce)
        try:
            sites = self._sites(request)
        except NexthopError as error:
            attempt.note(local("4.3.5", str(error)))
            attempt.finish()
            return attempt.result_list()
        try:  # smtp_generic_maps, smtp_header_checks: on the way out only
            outgoing = self._rewrite.apply(request.queue_id, request.sender,
                                           [r.address for r in request.recipients], content,
                                           self._log)
        except CleanupDefer as error:
            self._log(f"warning: {request.queue_id}: {error}")
            attempt.note(local("4.3.0", str(error)))
            attempt.finish()
            return attempt.result_list()
        message = _Content(outgoing.content, self.settings.client, outgoing)
        self._active[request.nexthop] += 1
        try:
            for site in sites:
                await self._deliver_site(attempt, site, message)
                if not attempt.pending:
                    break
            if attempt.last is not None and attempt.pending:
                attempt.last = _configuration(attempt.last, sites, self.settings.relayhost)
            attempt.finish()
        finally:
            self._active[request.nexthop] -= 1
        return attempt.result_list()

    def _sites(self, request: DeliveryRequest) -> list[_Site]:
        texts = split_list(request.nexthop)
        if not texts:
            raise NexthopError(f'null destination: "{request.nexthop}"')
        fallback = [t for item in request.fallback_relay for t in split_list(item)]
        everything = [(t, False) for t in texts] + [(t, True) for t in fallback]
        return [_Site(parse_nexthop(text), text, i == len(everything) - 1, is_fallback)
                for i, (text, is_fallback) in enumerate(everything)]

    async def _deliver_site(self, attempt: Attempt, site: _Site, message: _Content) -> None:
        try:
            endpoints = await self._endpoints(site.nexthop)
        except LookupFailure as failure:
            attempt.note(local(failure.dsn, failure.reason))
            return
        key = self._cache_key(site, attempt)
        cached = await self._reuse(key)
        if cached is not None:
            endpoints = [e for e in endpoints if e.address != cached.endpoint.address]
            site.sessions += 1
            final = site.final and (not endpoints or self._sessions_exhausted(site))
            await self._transaction(attempt, site, cached, message, final=final, key=key)
        limit = self.settings.mx_address_limit
        if limit > 0:
            endpoints = endpoints[:limit]
        for i, endpoint in enumerate(endpoints):
            if not attempt.pending or self._sessions_exhausted(site):
                return
            await self._session(attempt, site, endpoint, message,
                                last=i == len(endpoints) - 1, key=key)

    def _sessions_exhausted(self, site: _Site) -> bool:
        limit = self.settings.mx_session_limit
        return limit > 0 and site.sessions >= limit

    async def _endpoints(self, nexthop: Nexthop) -> list[Endpoint]:
        """The servers of a destination: an address literal needs no lookup."""
        port = nexthop.port or self.settings.default_port
        if not nexthop.mx:
            try:
                address = ipaddress.ip_address(nexthop.host)
            except ValueError:
                pass
            else:
                return [Endpoint(nexthop.host, str(address), port)]
        targets = await self._resolver.targets(nexthop, self.settings.default_port)
        best = min((t.preference for t in targets), default=0)
        return [Endpoint(t.hostname, t.address, t.port, t.preference == best)
                for t in targets]

    # -- one server --------------------------------------------------------------------

    async def _reuse(self, key: CacheKey) -> SmtpConnection | None:
        """A cached connection that passes the RSET probe, or None."""
        while (connection := self._cache.take(key)) is not None:
            connection.client.probe()
            event = await connection.next_event()
            if isinstance(event, ProbeDone) and event.ok:
                return connection
            await connection.close()
        return None

    async def _session(self, attempt: Attempt, site: _Site, endpoint: Endpoint,
                       message: _Content, *, last: bool, key: CacheKey) -> None:
        """Connect, handshake, secure; then the transaction.  A failed TLS handshake at
        ``may`` may be retried once in the clear."""
        policy = self._policy(attempt, site, endpoint)
        if policy is None:
            return
        plain = False
        while True:
            if plain:
                policy = replace(policy, level=Level.NONE)
            connection = await self._open(attempt, site, endpoint, policy, plain=plain,
                                          final=site.final and last)
            if connection is None:
                return
            failure = await self._handshake(attempt, site, connection, message, policy,
                                            plain=plain)
            if failure is None:
                break
            retry = not plain and self._security.retry_in_clear(site, endpoint)
            attempt.record(failure, final=site.final and last and not retry,
                           relay=endpoint.relay, hostname=endpoint.hostname)
            await connection.quit()
            attempt.session_over()
            if not retry:
                return
            plain = True
        site.sessions += 1
        final = site.final and (last or self._sessions_exhausted(site))
        await self._transaction(attempt, site, connection, message, final=final, key=key)

    def _policy(self, attempt: Attempt, site: _Site, endpoint: Endpoint) -> TlsPolicy | None:
        """The TLS policy for this server; None when it cannot be had (a bad policy entry,
        a table that fails): Postfix then skips the server, and the reason stays for the
        recipients left at the end."""
        domain = attempt.pending[0].address.rpartition("@")[2] if attempt.pending else ""
        try:
            policy = self._security.policy(site, domain)
        except TlsPolicyError as error:
            for line in error.warnings:
                self._log(line)
            outcome = local(error.dsn, error.reason)
        except MapLookupError:
            outcome = local("4.3.0", "TLS policy table lookup problem")
        else:
            for line in policy.warnings:
                self._log(line)
            return policy
        self._log(f"warning: TLS policy lookup for {site.text}/{endpoint.hostname}: "
                  f"{outcome.reason}")
        attempt.note(outcome)
        return None

    async def _open(self, attempt: Attempt, site: _Site, endpoint: Endpoint,
                    policy: TlsPolicy, *, plain: bool, final: bool) -> SmtpConnection | None:
        options = SessionOptions(nexthop=attempt.request.nexthop,
                                 loop_detect=endpoint.port == 25, best_mx=endpoint.best)
        try:
            return await self._security.connect(endpoint, site, self.settings, options,
                                                policy, plain=plain, log=self._log)
        except SkipServer as skip:
            self._log(f"warning: {skip}")
        except ConnectFailed as failure:
            if failure.in_session:
                attempt.record(failure.outcome, final=final, relay=endpoint.relay,
                               hostname=endpoint.hostname)
                attempt.session_over()
            else:
                self._log(failure.outcome.reason)
                attempt.note(failure.outcome)
        return None

    async def _handshake(self, attempt: Attempt, site: _Site, connection: SmtpConnection,
                         message: _Content, policy: TlsPolicy, *,
                         plain: bool) -> Outcome | None:
        """Greeting, EHLO/HELO, then SMTPUTF8, TLS and AUTH; a failure, or None."""
        event = await connection.next_event()
        self._log_notes(connection, attempt)
        if isinstance(event, Failed):
            return event.outcome
        if not isinstance(event, Ready):
            return local("4.4.2", f"lost connection with {connection.endpoint.peer} while "
                         "receiving the initial server greeting")
        problem = self._smtputf8_problem(attempt, message, connection)
        if problem is not None:
            return problem
        failure = await secure_session(self._security, connection, attempt, site, policy,
                                       self._log, plain=plain)
        self._log_notes(connection, attempt)
        return failure

    async def _transaction(self, attempt: Attempt, site: _Site, connection: SmtpConnection,
                           message: _Content, *, final: bool, key: CacheKey) -> None:
        client, endpoint = connection.client, connection.endpoint
        recipients = list(attempt.pending)
        envelope = _envelope(attempt.request, recipients, message.outgoing)
        downgrade = (not self.settings.client.disable_mime_output_conversion
                     and not client.features.eight_bit_mime and envelope.body_type != "7BIT")
        keep = self._keep(attempt, site, connection)
        attempt.setup_done()
        connection.decided.clear()
        client.begin(envelope, keep=keep, downgrade=downgrade)
        while True:
            event = await connection.next_event()
            if isinstance(event, TransactionDone):
                break
            if isinstance(event, SendContent):
                try:
                    data = message.encoded(downgrade)
                except MimeNestingError as error:
                    client.fail_content(local(error.dsn, error.text))
                    continue
                await connection.send_content(data)
        self._log_notes(connection, attempt)
        attempt.server_dsn = client.features.dsn
        attempt.conn_use = connection.reuse_count + 1
        attempt.record_each(event.outcomes, recipients, final=final, relay=endpoint.relay,
                            hostname=endpoint.hostname, decided=connection.decided)
        attempt.session_over()
        if event.reusable and keep:
            self._cache.put(key, connection)
        else:
            await connection.close()

    # -- policies ----------------------------------------------------------------------

    def _cache_key(self, site: _Site, attempt: Attempt) -> CacheKey:
        return (site.text.lower(), self._security.identity(site, attempt.request.sender))

    def _keep(self, attempt: Attempt, site: _Site, connection: SmtpConnection) -> bool:
        """Keep the connection open after this transaction (Postfix's connection cache:
        always for smtp_connection_cache_destinations, on demand while more mail for the
        same nexthop is being delivered), unless it has been used enough."""
        settings = self.settings
        wanted = site.nexthop.host.lower() in settings.cache_destinations or (
            settings.cache_on_demand and self._active[attempt.request.nexthop] > 1)
        if not wanted:
            return False
        if connection.ssl_object is not None and not settings.tls_connection_reuse:
            return False  # Postfix keeps TLS sessions only through tlsproxy(8)
        if time.monotonic() - connection.created > settings.reuse_time_limit:
            return False
        limit = settings.reuse_count_limit
        return not (limit > 0 and connection.reuse_count >= limit)

    def _smtputf8_problem(self, attempt: Attempt, message: _Content,
                          connection: SmtpConnection) -> Outcome | None:
        """SMTPUTF8 is needed (asked for, and some address or header is not ASCII) but the
        server does not offer it: Postfix bounces (5.6.7) before anything else."""
        request = attempt.request
        if not request.envelope.smtputf8 or connection.client.features.smtputf8:
            return None
        addresses = [request.sender, *(r.address for r in attempt.pending)]
        if all(a.isascii() for a in addresses) and not message.headers_utf8:
            return None
        return local("5.6.7", "SMTPUTF8 is required, but was not offered by host "
                     f"{connection.endpoint.peer}")

    def _log_notes(self, connection: SmtpConnection, attempt: Attempt) -> None:
        client = connection.client
        while client.notes:
            self._log(client.notes.pop(0))
        for line in client.garbage():
            if client.features.pipelining:
                self._log(f"warning: {attempt.request.queue_id}: non-ESMTP response from "
                          f"{connection.endpoint.relay}: {line[:100]}")
                self._log("warning: to prevent loss of mail, turn off command pipelining for "
                          f"{connection.endpoint.address} with the "
                          "smtp_discard_ehlo_keyword_address_maps parameter")


def _envelope(request: DeliveryRequest, recipients: list[DeliveryRecipient],
              outgoing: Outgoing) -> MailEnvelope:
    envelope = request.envelope
    return MailEnvelope(
        sender=outgoing.sender,
        recipients=tuple(MailRecipient(outgoing.recipients.get(r.address, r.address), r.orcpt,
                                       r.notify, r.original)
                         for r in recipients),
        size=request.size, body_type=envelope.body_type, smtputf8=envelope.smtputf8,
        dsn_ret=envelope.dsn_ret, dsn_envid=envelope.dsn_envid)


def _configuration(last: Failure, sites: list[_Site], relayhost: str) -> Failure:
    """Mark the last failure as a configuration problem where Postfix does (smtp_connect.c):
    the destination tried last is a fallback relay, or the nexthop is the relayhost."""
    if sites[-1].fallback:
        return replace(last, configuration="smtp_fallback_relay")
    if relayhost and sites[0].text == relayhost:
        return replace(last, configuration="relayhost")
    return last
