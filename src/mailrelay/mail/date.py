"""Postfix's mail_date(): the Date: format of the headers Postfix writes."""

from __future__ import annotations

import time


def mail_date(when: float) -> str:
    """Local time with its numeric offset and zone name, a one-digit day padded with a space:
    ``Wed, 25 Nov 2026 00:08:14 +0000 (UTC)``."""
    return time.strftime("%a, %e %b %Y %H:%M:%S %z (%Z)", time.localtime(when))
