"""The frozen ``Config``: Postfix's parameters by name, typed, with their provenance.

Values come, highest priority first, from a service's ``-o name=value`` overrides (master.cf),
main.cf, then the table's default.  Values are expanded (``$name``) on first use and cached:
the hot path never re-parses configuration.  A parameter that is not in the table cannot be
read (``AttributeError``), which is how "nothing reads a parameter that is not in the table"
is enforced.

Type errors are reported with Postfix's wording plus the file and line that set the value:
``main.cf, line 7: bad numerical configuration: message_size_limit = 10x``.

Postfix's "raw" parameters are never expanded here: their ``$name``s are filled in later, per
session, by the daemon that reads them (``smtpd_reject_footer``'s ``$client_address``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailrelay.config.expand import expand
from mailrelay.config.maincf import MainCf, Setting
from mailrelay.config.params import PARAMETERS, Kind, Param
from mailrelay.util.diagnostic import Fatal, Origin
from mailrelay.util.tokens import TokenError, split_list
from mailrelay.util.units import UnitError, parse_bool, parse_int, parse_time

_DEFAULT_ORIGIN = Origin("(default)")

#: Postfix's CONFIG_RAW_TABLE parameters: read without $name expansion (found with postconf:
#: set every parameter to ``$config_directory`` and see which ``postconf -nx`` leaves alone).
#: Belongs in the parameter table as a flag of each entry.
RAW_PARAMETERS = frozenset({
    "command_execution_directory", "default_rbl_reply", "forward_path", "luser_relay",
    "mailbox_command", "postscreen_expansion_filter", "postscreen_reject_footer",
    "smtpd_expansion_filter", "smtpd_reject_footer",
})
#: Set by each program itself; an assignment in main.cf is ignored with a warning.
READ_ONLY_PARAMETERS = frozenset({"process_id", "process_name", "service_name"})


class Config:
    """An immutable view of one configuration (main.cf plus, optionally, a service's -o)."""

    __slots__ = ("_cache", "_main", "_overrides", "_table", "config_directory")

    def __init__(
        self,
        main: MainCf,
        config_directory: str,
        overrides: Mapping[str, Setting] | None = None,
        table: Mapping[str, Param] = PARAMETERS,
    ):
        self._main = main
        self._overrides: dict[str, Setting] = dict(overrides or {})
        self._table = table
        self._cache: dict[str, Any] = {}
        self.config_directory = config_directory

    # -- raw access -------------------------------------------------------------------------

    @property
    def main(self) -> MainCf:
        return self._main

    def setting(self, name: str) -> Setting | None:
        """The explicit assignment of *name* (override or main.cf), if any."""
        return self._overrides.get(name) or self._main.settings.get(name)

    def settings(self) -> dict[str, Setting]:
        """Every explicit assignment: main.cf's, then the overrides that replace or add to them."""
        merged = dict(self._main.settings)
        merged.update(self._overrides)
        return merged

    def _explicit(self, name: str) -> str | None:
        s = self.setting(name)
        return s.value if s is not None else None

    def raw(self, name: str) -> str | None:
        """The value as written (unexpanded), the table default, or None if unknown."""
        s = self.setting(name)
        if s is not None:
            return s.value
        if name == "config_directory":
            return self.config_directory
        p = self._table.get(name)
        if p is None:
            return None
        return p.compute(self._explicit) if p.compute is not None else p.default

    def origin(self, name: str) -> Origin:
        s = self.setting(name)
        return s.origin if s is not None else _DEFAULT_ORIGIN

    def is_explicit(self, name: str) -> bool:
        return self.setting(name) is not None

    def expanded(self, name: str) -> str:
        """The value with ``$name`` references expanded (cached); raw parameters as written."""
        key = "$" + name
        if key not in self._cache:
            raw = self.raw(name)
            if raw is None:
                raise KeyError(name)
            try:
                self._cache[key] = raw if name in RAW_PARAMETERS else expand(raw, self.raw)
            except Fatal as e:
                raise Fatal(f"parameter {name}: {e.text}", self.origin(name), name) from None
        value: str = self._cache[key]
        return value

    def with_overrides(self, overrides: Mapping[str, Setting]) -> Config:
        """This configuration as a master.cf service sees it (``-o`` settings on top)."""
        merged = dict(self._overrides)
        merged.update(overrides)
        return Config(self._main, self.config_directory, merged, self._table)

    # -- typed access -----------------------------------------------------------------------

    def param(self, name: str) -> Param:
        p = self._table.get(name)
        if p is None:
            raise AttributeError(f"{name} is not a parameter in mailrelay's table")
        return p

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        p = self.param(name)
        if name not in self._cache:
            self._cache[name] = self._convert(p)
        return self._cache[name]

    def get_str(self, name: str) -> str:
        self.param(name)
        return self.expanded(name)

    def get_list(self, name: str) -> list[str]:
        self.param(name)
        try:
            return split_list(self.expanded(name))
        except TokenError as e:
            raise Fatal(f"parameter {name}: {e}", self.origin(name), name) from None

    def get_int(self, name: str) -> int:
        value: int = self._typed(name, (Kind.INT, Kind.SIZE))
        return value

    def get_bool(self, name: str) -> bool:
        value: bool = self._typed(name, (Kind.BOOL,))
        return value

    def get_time(self, name: str) -> int:
        """Seconds."""
        value: int = self._typed(name, (Kind.TIME,))
        return value

    def _typed(self, name: str, kinds: tuple[Kind, ...]) -> Any:
        p = self.param(name)
        if p.kind not in kinds:
            raise TypeError(f"{name} is a {p.kind.value} parameter")
        return getattr(self, name)

    def _convert(self, p: Param) -> Any:
        if p.kind is Kind.LIST:
            return self.get_list(p.name)
        text = self.expanded(p.name)
        if p.kind is Kind.STR:
            return text
        try:
            if p.kind is Kind.BOOL:
                return parse_bool(text)
            value = parse_time(text, p.unit) if p.kind is Kind.TIME else parse_int(text)
        except UnitError:
            # Postfix's own wording for each kind (mail_conf_*.c).
            if p.kind is Kind.TIME:
                message = f"parameter {p.name}: bad time value or unit: {text}"
            else:
                what = "boolean" if p.kind is Kind.BOOL else "numerical"
                message = f"bad {what} configuration: {p.name} = {text}"
            raise Fatal(message, self.origin(p.name), p.name) from None
        if p.minimum is not None and value < p.minimum:
            raise Fatal(
                f"invalid {p.name} parameter value {value} < {p.minimum}",
                self.origin(p.name), p.name,
            )
        if p.maximum is not None and value > p.maximum:
            raise Fatal(
                f"invalid {p.name} parameter value {value} > {p.maximum}",
                self.origin(p.name), p.name,
            )
        return value
