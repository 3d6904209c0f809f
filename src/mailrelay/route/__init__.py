"""Routing: recipient -> transport and nexthop, as Postfix's trivial-rewrite resolves it."""

from mailrelay.route.nexthop import Nexthop, NexthopError, parse_nexthop, parse_nexthops
from mailrelay.route.resolve import Classify, Reason, Route, RouteError, Routes

__all__ = ["Classify", "Nexthop", "NexthopError", "Reason", "Route", "RouteError", "Routes",
           "parse_nexthop", "parse_nexthops"]
