"""qmgr's scheduling decisions, pure: retry times, lifetimes, warnings, per-destination windows.

Theory of operation
-------------------
Everything here is arithmetic over times passed in (no clock is read), so the shell
(:mod:`mailrelay.qmgr.service`) and ``trace`` ask the same questions and get the same answers.

* **Retry time.**  A deferred message is tried again after a delay equal to its age (time
  since arrival), clipped to [``minimal_backoff_time``, ``maximal_backoff_time``], as Postfix's
  qmgr computes it: the delay doubles from one attempt to the next, from the minimum to the
  maximum.  The store writes it as the file's mtime.
* **Lifetime.**  A recipient that fails temporarily is returned to the sender once the message
  has been queued for ``maximal_queue_lifetime`` (``bounce_queue_lifetime`` for a message with
  the null sender: a notification).  The check is made after a failed attempt, never
  instead of one: the last chance is always taken, as in Postfix 2.x and later.
* **Delay warning.**  One warning per message, once its age reaches ``delay_warning_time``
  (0 disables), after a failed attempt; the status log remembers it was sent.
* **Destination windows.**  Each (transport, nexthop) pair has a concurrency window that
  starts at ``initial_destination_concurrency`` and moves between 1 and the transport's
  ``destination_concurrency_limit``: +positive feedback per delivery that reached the
  destination, -negative feedback per one that did not.  Feedback is Postfix's ``1/concurrency``
  by default (or a constant).  After ``destination_concurrency_failed_cohort_limit``
  consecutive failed pseudo-cohorts (a cohort: as many deliveries as the window is wide), the
  destination is *dead*: for
  ``minimal_backoff_time`` its mail is deferred without an attempt ("delivery temporarily
  suspended: REASON"), as Postfix's qmgr does with an unreachable site.
* **Request size.**  The recipients of one message for one destination go in batches of at
  most the transport's ``destination_recipient_limit`` (local: 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailrelay.config.model import Config
from mailrelay.util.units import UnitError, parse_int, parse_time


def transport_value(config: Config, transport: str, suffix: str, default_name: str,
                    *, time: bool = False) -> int:
    """``<transport>_<suffix>`` if the table knows it or main.cf sets it, else the default.

    A master.cf service may be any name (``smtp-o365``): its per-transport parameters are not
    in the table, but Postfix honours them when main.cf sets them, and so do we.
    """
    name = f"{transport}_{suffix}"
    try:
        config.param(name)
    except AttributeError:
        setting = config.setting(name)
        if setting is None:
            return config.get_time(default_name) if time else config.get_int(default_name)
        try:
            return parse_time(setting.value, "s") if time else parse_int(setting.value)
        except UnitError:
            return config.get_time(default_name) if time else config.get_int(default_name)
    return config.get_time(name) if time else config.get_int(name)


def _feedback(text: str, window: float) -> float:
    """Postfix's feedback values: ``1/concurrency`` or a number (``1``, ``0.5``)."""
    text = text.strip().lower()
    if text in ("1/concurrency", "1 / concurrency"):
        return 1.0 / max(window, 1.0)
    try:
        numerator, _, denominator = text.partition("/")
        value = float(numerator) / float(denominator or 1)
    except (ValueError, ZeroDivisionError):
        return 1.0 / max(window, 1.0)
    return value


@dataclass(frozen=True, slots=True)
class TransportLimits:
    concurrency: int
    initial_concurrency: int
    recipients: int
    failed_cohorts: int
    positive_feedback: str
    negative_feedback: str

    @classmethod
    def from_config(cls, config: Config, transport: str) -> TransportLimits:
        def get(suffix: str, default: str) -> int:
            return transport_value(config, transport, suffix, default)

        def text(suffix: str, default: str) -> str:
            name = f"{transport}_{suffix}"
            try:
                return config.get_str(name)
            except AttributeError:
                setting = config.setting(name)
                return setting.value if setting is not None else config.get_str(default)

        initial = get("initial_destination_concurrency", "initial_destination_concurrency")
        limit = get("destination_concurrency_limit", "default_destination_concurrency_limit")
        return cls(
            concurrency=limit,
            initial_concurrency=max(1, min(initial, limit) if limit > 0 else initial),
            recipients=get("destination_recipient_limit", "default_destination_recipient_limit"),
            failed_cohorts=get("destination_concurrency_failed_cohort_limit",
                               "default_destination_concurrency_failed_cohort_limit"),
            positive_feedback=text("destination_concurrency_positive_feedback",
                                   "default_destination_concurrency_positive_feedback"),
            negative_feedback=text("destination_concurrency_negative_feedback",
                                   "default_destination_concurrency_negative_feedback"),
        )


@dataclass(frozen=True, slots=True)
class QmgrSettings:
    queue_run_delay: float
    minimal_backoff_time: float
    maximal_backoff_time: float
    maximal_queue_lifetime: float
    bounce_queue_lifetime: float
    delay_warning_time: float
    message_active_limit: int

    @classmethod
    def from_config(cls, config: Config) -> QmgrSettings:
        return cls(
            queue_run_delay=float(config.get_time("queue_run_delay")),
            minimal_backoff_time=float(config.get_time("minimal_backoff_time")),
            maximal_backoff_time=float(config.get_time("maximal_backoff_time")),
            maximal_queue_lifetime=float(config.get_time("maximal_queue_lifetime")),
            bounce_queue_lifetime=float(config.get_time("bounce_queue_lifetime")),
            delay_warning_time=float(config.get_time("delay_warning_time")),
            message_active_limit=max(1, config.get_int("qmgr_message_active_limit")),
        )

    def next_attempt(self, arrival: float, now: float) -> float:
        """When a message deferred *now* is tried again."""
        delay = min(max(now - arrival, self.minimal_backoff_time), self.maximal_backoff_time)
        return now + delay

    def expired(self, arrival: float, now: float, sender: str) -> bool:
        """Has a message that just failed temporarily outlived its queue lifetime?"""
        lifetime = self.maximal_queue_lifetime if sender else self.bounce_queue_lifetime
        return now - arrival >= lifetime

    def warning_due(self, arrival: float, now: float, already_sent: bool) -> bool:
        return (self.delay_warning_time > 0 and not already_sent
                and now - arrival >= self.delay_warning_time)


class Window:
    """One destination's concurrency window and its dead-site state (see the module doc)."""

    __slots__ = ("_cohort_failures", "_limits", "active", "dead_reason", "dead_until",
                 "window")

    def __init__(self, limits: TransportLimits) -> None:
        self._limits = limits
        self.window = float(limits.initial_concurrency)
        self.active = 0
        self._cohort_failures = 0.0
        self.dead_until = 0.0
        self.dead_reason = ""

    @property
    def limit(self) -> int:
        """Deliveries that may run now: the window, within the transport's limit (0: none)."""
        window = int(self.window)
        return min(window, self._limits.concurrency) if self._limits.concurrency > 0 else window

    def may_start(self) -> bool:
        return self.active < max(1, self.limit)

    def is_dead(self, now: float) -> bool:
        return now < self.dead_until

    def succeeded(self) -> None:
        self._cohort_failures = 0.0
        self.window += _feedback(self._limits.positive_feedback, self.window)
        ceiling = self._limits.concurrency if self._limits.concurrency > 0 else 1 << 20
        self.window = min(self.window, float(ceiling))

    def failed(self, now: float, reason: str, backoff: float) -> None:
        """A delivery that never reached the destination (connection or site failure).

        A pseudo-cohort is as many deliveries as the window is wide: each failure counts
        1/window of one, and after ``failed_cohorts`` of them in a row the site is dead.
        """
        width = max(self.window, 1.0)
        self._cohort_failures += 1.0 / width
        self.window = max(1.0, self.window - _feedback(self._limits.negative_feedback, width))
        if self._cohort_failures >= max(1, self._limits.failed_cohorts):
            self.dead_until = now + backoff
            self.dead_reason = reason
            self._cohort_failures = 0.0
            self.window = float(self._limits.initial_concurrency)


def batches(items: list[int], limit: int) -> list[list[int]]:
    """Split recipient indices into requests of at most *limit* (0 or less: one request)."""
    if limit <= 0 or len(items) <= limit:
        return [items]
    return [items[i:i + limit] for i in range(0, len(items), limit)]


def pretty_delay(seconds: float) -> str:
    """Postfix's ``delay=``/``delays=`` figures: 2 significant digits, at most 2 decimals."""
    if seconds < 0.005:
        return "0"
    if seconds < 1:
        return f"{seconds:.2f}".rstrip("0").rstrip(".")
    if seconds < 10:
        return f"{seconds:.1f}".rstrip("0").rstrip(".")
    return str(int(seconds))
