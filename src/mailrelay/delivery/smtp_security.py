"""TLS and SASL for one smtp client session, as Postfix's smtp_helo() does them.

SECURITY: decides whether mail may go in the clear, starts TLS, judges the server's
certificate, and sends SASL credentials -- only over a session the policy accepts, only to
the server they were looked up for; passwords are never logged.

After the EHLO reply (``smtp_tls_security_level`` and ``smtp_tls_policy_maps`` give the
level of the nexthop):

* ``may`` and stronger: STARTTLS when offered.  A refused STARTTLS is fatal only when TLS is
  required (``TLS is required, but host h[a] refused to start TLS: <reply>``); a failed
  handshake defers (``Cannot start TLS: handshake failure``, 4.7.5) -- at ``may``, mail that
  has waited at least ``minimal_backoff_time`` is retried in the clear on the same server
  instead, unless SASL credentials exist for it;
* after the handshake, ``fingerprint``/``verify``/``secure`` need the certificate to pass
  (``Server certificate not verified``); then EHLO again;
* ``encrypt`` and stronger without STARTTLS on offer: ``TLS is required, but was not offered
  by host h[a]`` (4.7.4);
* then AUTH, when ``smtp_sasl_auth_enable`` is set, the server offers AUTH, and credentials
  exist for the server: the first usable mechanism; a failure defers (``SASL authentication
  failed; server h[a] said: 535 ...``, soft even for 5xx by ``smtp_sasl_auth_soft_bounce``).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailrelay.config.model import Config
from mailrelay.delivery.smtp_connection import ConnectFailed, Endpoint, SmtpConnection
from mailrelay.delivery.tls import HANDSHAKE_FAILURE, TlsClient, TlsSetupError
from mailrelay.maps.base import MapLookupError
from mailrelay.maps.registry import MapCache
from mailrelay.sasl.mechanisms import SaslError, client_mechanism
from mailrelay.sasl.settings import Credentials, SaslClientSettings
from mailrelay.smtp.client import (
    AuthChallenge,
    Failed,
    Ready,
    SessionOptions,
    StartTls,
    StartTlsRefused,
)
from mailrelay.smtp.client_outcome import Outcome, local, server_reply
from mailrelay.tlspolicy.policy import Level, TlsPolicies, TlsPolicy

if TYPE_CHECKING:
    from mailrelay.delivery.smtp import _Site
    from mailrelay.delivery.smtp_attempt import Attempt
    from mailrelay.delivery.smtp_settings import AgentSettings

NO_TLS = TlsPolicy(Level.NONE, "", "", "", (), "no TLS support")


class SkipServer(Exception):
    """This server cannot be used under the policy (wrapper mode below ``encrypt``)."""


@dataclass(slots=True)
class SessionSecurity:
    """The TLS and SASL side of the agent: policies, contexts, credentials."""

    tls: TlsClient | None = None
    policies: TlsPolicies | None = None
    sasl: SaslClientSettings | None = None
    wrappermode: bool = False
    servername: str = ""
    note_starttls_offer: bool = False
    minimal_backoff_time: int = 300
    #: Per (nexthop, address): the last try failed the handshake, retry in the clear.
    _plain: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def from_config(cls, config: Config, *, tls: TlsClient | None,
                    sasl: SaslClientSettings | None) -> SessionSecurity:
        cache = MapCache()
        return cls(
            tls=tls,
            policies=TlsPolicies.from_config(config, cache) if tls is not None else None,
            sasl=sasl if sasl is not None and sasl.enabled else None,
            wrappermode=config.get_bool("smtp_tls_wrappermode"),
            servername=config.get_str("smtp_tls_servername").strip(),
            note_starttls_offer=config.get_bool("smtp_tls_note_starttls_offer"),
            minimal_backoff_time=config.get_time("minimal_backoff_time"),
        )

    # -- per session -------------------------------------------------------------------

    def policy(self, site: _Site, domain: str) -> TlsPolicy:
        """TlsPolicyError (defer with its reason) or MapLookupError (try the next server)."""
        if self.policies is None:
            return NO_TLS
        return self.policies.lookup(site.text, domain)

    def identity(self, site: _Site, sender: str) -> str:
        """What else a cached connection is keyed by: the sender, when credentials depend
        on it (so one sender's authenticated session never carries another's mail)."""
        if self.sasl is not None and self.sasl.sender_dependent:
            return sender
        return ""

    async def connect(self, endpoint: Endpoint, site: _Site, settings: AgentSettings,
                      options: SessionOptions, policy: TlsPolicy, *,
                      plain: bool = False, log: Callable[[str], None] | None = None,
                      ) -> SmtpConnection:
        """ConnectFailed; SkipServer when wrapper mode cannot be used under *policy*.
        *plain*: the clear-text retry after a failed handshake.  *log*: the agent's logger,
        which carries debug_peer_list."""
        wrapper: ssl.SSLContext | None = None
        if self.wrappermode and self.tls is not None and not plain:
            if not policy.required:
                raise SkipServer('smtp_tls_wrappermode requires "smtp_tls_security_level '
                                 '= encrypt" (or stronger)')
            wrapper = self.tls.context(policy)
            options = SessionOptions(options.nexthop, options.loop_detect, options.best_mx,
                                     tls_active=True)
        bind = settings.bind_address6 if ":" in endpoint.address else settings.bind_address
        return await SmtpConnection.open(
            endpoint, settings.client, bind_address=bind, options=options, wrapper=wrapper,
            server_hostname=self.sni(policy, endpoint, site) or "", log=log)

    def sni(self, policy: TlsPolicy, endpoint: Endpoint, site: _Site) -> str | None:
        """The name to send in the TLS handshake (SNI): none unless configured, as Postfix
        (``smtp_tls_servername``, or the policy's ``servername=``)."""
        name = policy.servername or self.servername
        if name == "hostname":
            return endpoint.hostname
        if name == "nexthop":
            return site.nexthop.host
        return name or None

    def mark_retry_in_clear(self, site: _Site, endpoint: Endpoint) -> None:
        self._plain.add((site.text, endpoint.address))

    def retry_in_clear(self, site: _Site, endpoint: Endpoint) -> bool:
        """Consume the "retry this server without TLS" mark set by a failed handshake."""
        key = (site.text, endpoint.address)
        if key in self._plain:
            self._plain.discard(key)
            return True
        return False


async def secure_session(security: SessionSecurity, connection: SmtpConnection,
                         attempt: Attempt, site: _Site, policy: TlsPolicy,
                         log: Callable[[str], None], *, plain: bool = False) -> Outcome | None:
    """STARTTLS and AUTH after the first EHLO; None when the session may carry mail.

    *plain*: this is the clear-text retry after a failed handshake (no STARTTLS)."""
    client = connection.client
    if connection.ssl_object is not None:
        failure = _judge(security, connection, site, policy, log)
        if failure is not None:
            return failure
    elif not plain and policy.level is not Level.NONE and security.tls is not None:
        outcome = await _starttls(security, connection, attempt, site, policy, log)
        if outcome is not None:
            return outcome
    elif client.features.starttls and security.note_starttls_offer:
        log(f"Host offered STARTTLS: [{connection.endpoint.hostname}]")
    if policy.required and connection.ssl_object is None:
        return local("4.7.4", "TLS is required, but was not offered by host "
                     f"{connection.endpoint.peer}")
    if security.sasl is not None and client.features.auth:
        return await _authenticate(security.sasl, connection, attempt, site, policy, log)
    return None


async def _starttls(security: SessionSecurity, connection: SmtpConnection, attempt: Attempt,
                    site: _Site, policy: TlsPolicy, log: Callable[[str], None],
                    ) -> Outcome | None:
    client = connection.client
    if not client.features.starttls:
        return None
    assert security.tls is not None
    client.start_tls()
    event = await connection.next_event()
    if isinstance(event, StartTlsRefused):
        if policy.required:
            return server_reply(event.reply, "TLS is required, but host "
                                f"{connection.endpoint.peer} refused to start TLS: "
                                f"{event.reply.flat}")
        return None
    if isinstance(event, Failed):
        return event.outcome
    if not isinstance(event, StartTls):
        return local("4.4.2", f"lost connection with {connection.endpoint.peer} while "
                     "receiving the STARTTLS response")
    try:
        context = security.tls.context(policy)
    except TlsSetupError as error:
        log(f"warning: {connection.endpoint.relay}: {error.detail}")
        return local(error.dsn, error.reason)
    problem = await connection.start_tls(context, security.sni(policy, connection.endpoint,
                                                                site))
    if problem:
        log(f"SSL_connect error to {connection.endpoint.relay}: {problem}")
        if _may_retry_in_clear(security, attempt, site, connection.endpoint, policy):
            security.mark_retry_in_clear(site, connection.endpoint)
        return local("4.7.5", HANDSHAKE_FAILURE)
    failure = _judge(security, connection, site, policy, log)
    if failure is not None:
        return failure
    event = await connection.next_event()  # EHLO again, over TLS
    if isinstance(event, Ready):
        return None
    if isinstance(event, Failed):
        return event.outcome
    return local("4.4.2", f"lost connection with {connection.endpoint.peer} while "
                 "performing the EHLO handshake")


def _judge(security: SessionSecurity, connection: SmtpConnection, site: _Site,
           policy: TlsPolicy, log: Callable[[str], None]) -> Outcome | None:
    """The certificate against the policy, and the TLS log lines."""
    tls, ssl_object, endpoint = security.tls, connection.ssl_object, connection.endpoint
    if tls is None or ssl_object is None:
        return None
    reason = tls.check(ssl_object, policy, endpoint.hostname, site.nexthop.host)
    for line in tls.verification_log(ssl_object, policy, endpoint.hostname,
                                     site.nexthop.host, endpoint.address, endpoint.port):
        log(line)
    if tls.loglevel >= 1:
        log(tls.established(ssl_object, policy, endpoint.hostname, endpoint.address,
                            endpoint.port))
    return None if reason is None else local("4.7.5", reason)


def _may_retry_in_clear(security: SessionSecurity, attempt: Attempt, site: _Site,
                        endpoint: Endpoint, policy: TlsPolicy) -> bool:
    """Postfix's PLAINTEXT_FALLBACK_OK_AFTER_STARTTLS_FAILURE."""
    if policy.level is not Level.MAY:
        return False
    waited = time.time() - attempt.request.envelope.arrival_time
    if waited < security.minimal_backoff_time:
        return False
    try:
        return _credentials(security, endpoint, site, attempt.request.sender) is None
    except MapLookupError:
        return False


def _credentials(security: SessionSecurity, endpoint: Endpoint, site: _Site,
                 sender: str) -> Credentials | None:
    if security.sasl is None:
        return None
    return security.sasl.credentials(endpoint.hostname, endpoint.port, not site.nexthop.mx,
                                     sender, nexthop=site.text)


async def _authenticate(sasl: SaslClientSettings, connection: SmtpConnection,
                        attempt: Attempt, site: _Site, policy: TlsPolicy,
                        log: Callable[[str], None]) -> Outcome | None:
    client, endpoint = connection.client, connection.endpoint
    try:
        credentials = sasl.credentials(endpoint.hostname, endpoint.port, not site.nexthop.mx,
                                       attempt.request.sender, nexthop=site.text)
    except MapLookupError:
        return local("4.3.0", f"local data error while talking to {endpoint.peer}")
    if credentials is None:
        return None  # no credentials for this server: talk like strangers
    offered = client.features.auth
    usable = [m for m in offered if m in ("PLAIN", "LOGIN")]
    if not usable:
        log(f"warning: {endpoint.relay} offered no supported AUTH mechanisms: "
            f"'{' '.join(offered)}'")
        return local("4.7.0", f"SASL authentication failed: server {endpoint.peer} offered "
                     "no compatible authentication mechanisms for this type of connection "
                     "security")
    mechanisms = sasl.allowed_mechanisms(offered, client.tls_active,
                                         tls_verified=client.tls_active and policy.verified)
    if not mechanisms:
        log("warning: SASL authentication failure: No worthy mechs found")
        return local("4.7.0", f"SASL authentication failed; cannot authenticate to server "
                     f"{endpoint.peer}: no mechanism available")
    mechanism = client_mechanism(mechanisms[0], credentials.username, credentials.password)
    client.authenticate(mechanism.name, mechanism.initial_response())
    while True:
        event = await connection.next_event()
        if isinstance(event, Ready):
            return None
        if isinstance(event, Failed):
            return event.outcome
        if not isinstance(event, AuthChallenge):
            return local("4.4.2", f"lost connection with {endpoint.peer} while performing "
                         "the EHLO handshake")
        try:
            client.respond(mechanism.step(event.challenge))
        except SaslError as error:
            client.respond("*")
            return local("4.7.0", f"SASL authentication failed; cannot authenticate to "
                         f"server {endpoint.peer}: {error}")


__all__ = ["ConnectFailed", "SessionSecurity", "SkipServer", "secure_session"]
