"""``mailrelay postconf``: Postfix's postconf(1) for main.cf and master.cf.

Shows parameters (``-n`` explicit ones, ``-d`` defaults, ``-x`` expanded, ``-h``/``-H`` values
or names only, ``-f`` folded, named ones), edits main.cf (``-e``, ``-X``, ``-#``) and shows
master.cf (``-M`` entries, ``-F`` fields, ``-P`` ``-o`` parameters), with Postfix 3.7's output,
warnings, option checks and exit statuses (compared with the real postconf: tests/golden).

Deliberate differences: messages start ``mailrelay/postconf:``; each "overriding earlier
entry" warning is printed once (Postfix 3.7 reads main.cf several times and repeats them);
warnings come in file order (Postfix: hash table order); no master.cf is not an error (it
means the default SMTP service, which ``-M`` shows); master.cf syntax that Postfix's master
would refuse is an error here, not a warning; ``-oNAME=VALUE`` in master.cf is read as the
daemon reads it, not split at a second ``o`` as postconf 3.7 does; main.cf edits keep the
file's permissions; the embedded default configuration cannot be edited; editing master.cf
and the SASL, map-type, lock-type, TLS and bounce-template displays are not implemented.
"""

from __future__ import annotations

import enum
import io
from collections.abc import Mapping
from dataclasses import dataclass, field

from mailrelay.cli.context import Context
from mailrelay.cli.postconf_output import (
    Expand,
    field_index,
    format_entry,
    format_field,
    format_line,
    matches,
    parse_pattern,
)
from mailrelay.config.edit import Mode, edit_main_cf, parse_requests
from mailrelay.config.expand import Lookup, MacroError, expand
from mailrelay.config.locate import ConfigSource
from mailrelay.config.maincf import MainCf, Setting, read_main_cf, split_nameval
from mailrelay.config.mastercf import (
    FIELD_NAMES,
    MasterCf,
    Service,
    read_master_or_default,
    service_config,
)
from mailrelay.config.model import RAW_PARAMETERS, READ_ONLY_PARAMETERS, Config
from mailrelay.config.params import PARAMETERS
from mailrelay.config.unused import analyse, expansion_error, service_parameters
from mailrelay.util.diagnostic import Fatal, Origin


class Opt(enum.Flag):
    NONE = 0
    DEFS = enum.auto()
    EDIT = enum.auto()
    FOLD = enum.auto()
    FIELDS = enum.auto()
    HIDE_NAME = enum.auto()
    HIDE_VALUE = enum.auto()
    ENTRIES = enum.auto()
    NONDEF = enum.auto()
    OVERRIDE = enum.auto()
    MAIN = enum.auto()
    PARAMS = enum.auto()
    EVAL = enum.auto()
    EXCLUDE = enum.auto()
    COMMENT = enum.auto()


#: Option letters in the order Postfix names them in its messages.
LETTERS = {
    "d": Opt.DEFS, "e": Opt.EDIT, "f": Opt.FOLD, "F": Opt.FIELDS, "h": Opt.HIDE_NAME,
    "H": Opt.HIDE_VALUE, "M": Opt.ENTRIES, "n": Opt.NONDEF, "o": Opt.OVERRIDE, "p": Opt.MAIN,
    "P": Opt.PARAMS, "x": Opt.EVAL, "X": Opt.EXCLUDE, "#": Opt.COMMENT,
}
#: Postfix's options that take a value, and those mailrelay does not implement.
WITH_VALUE = "cCoT"
UNSUPPORTED = "aAbClmtT"
MASTER = Opt.ENTRIES | Opt.FIELDS | Opt.PARAMS
EDITING = Opt.EDIT | Opt.EXCLUDE | Opt.COMMENT
#: postconf.c's pcf_incompat_options: at most one of each group.
EXCLUSIVE = (
    Opt.MAIN | MASTER,
    Opt.DEFS | Opt.EDIT | Opt.NONDEF | Opt.COMMENT | Opt.EXCLUDE,
    Opt.FOLD | EDITING,
    Opt.EVAL | EDITING,
    Opt.OVERRIDE | Opt.DEFS | EDITING,
    Opt.HIDE_NAME | EDITING | Opt.HIDE_VALUE,
)
#: postconf.c's pcf_compat_options: what each mode may be combined with.
COMPATIBLE = {
    Opt.MAIN: EDITING | Opt.FOLD | Opt.HIDE_NAME | Opt.EVAL | Opt.DEFS | Opt.NONDEF
    | Opt.OVERRIDE | Opt.HIDE_VALUE,
    Opt.ENTRIES: EDITING | Opt.FOLD | Opt.OVERRIDE | Opt.EVAL,
    Opt.FIELDS: Opt.EDIT | Opt.FOLD | Opt.HIDE_NAME | Opt.OVERRIDE | Opt.EVAL | Opt.HIDE_VALUE,
    Opt.PARAMS: Opt.EDIT | Opt.EXCLUDE | Opt.FOLD | Opt.HIDE_NAME | Opt.OVERRIDE | Opt.EVAL
    | Opt.HIDE_VALUE,
}

USAGE = (
    "usage: mailrelay postconf [-c config_dir] [-d (parameter defaults)]"
    " [-e (edit configuration)] [-f (fold lines)] [-F (master.cf fields)] [-h (no names)]"
    " [-H (no values)] [-M (master.cf)] [-n (non-default parameters)]"
    " [-o name=value (override parameter value)] [-p (main.cf, default)]"
    " [-P (master.cf parameters)] [-x (expand parameter values)] [-X (exclude)]"
    " [-# (comment-out)] [name...]"
)


class UsageError(Exception):
    """A command line getopt() rejects: its message, then the usage line."""


@dataclass(slots=True)
class Request:
    opts: Opt = Opt.NONE
    overrides: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _names(opts: Opt) -> str:
    return " ".join(f"-{letter}" for letter, flag in LETTERS.items() if flag in opts)


def parse_args(args: list[str], ctx: Context) -> Request:
    """getopt("+aAbc:C:defFhHlmMno:pPtT:vxX#"), then Postfix's option compatibility checks."""
    request = Request()
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        arg = args[i]
        i += 1
        if arg == "--":
            break
        k = 1
        while k < len(arg):
            letter = arg[k]
            k += 1
            if letter in WITH_VALUE:
                if k < len(arg):
                    value, k = arg[k:], len(arg)
                elif i < len(args):
                    value, i = args[i], i + 1
                else:
                    raise UsageError(f"option requires an argument -- '{letter}'")
                if letter == "c":
                    ctx.config_option = value
                elif letter == "o":
                    request.opts |= Opt.OVERRIDE
                    request.overrides.append(value)
                else:
                    raise Fatal(f"option -{letter} is not supported by mailrelay")
            elif letter in LETTERS:
                request.opts |= LETTERS[letter]
            elif letter in UNSUPPORTED:
                raise Fatal(f"option -{letter} is not supported by mailrelay")
            elif letter != "v":
                raise UsageError(f"invalid option -- '{letter}'")
    request.names = args[i:]
    opts = request.opts
    if not opts & (Opt.MAIN | MASTER):
        opts |= Opt.MAIN
    if opts & (Opt.MAIN | MASTER) and request.names and "=" in request.names[0]:
        opts |= Opt.EDIT
    for group in EXCLUSIVE:
        if len(opts & group) > 1:
            raise Fatal(f"specify one of {_names(opts & group)}")
    for mode, allowed in COMPATIBLE.items():
        if mode in opts and opts & ~(mode | allowed):
            excess = _names(opts & ~(mode | allowed))
            raise Fatal(f"with option {_names(mode)}, do not specify {excess}")
    if Opt.EDIT in opts and not request.names:
        raise Fatal("-e requires name=value argument")
    request.opts = opts
    return request


def run(args: list[str], ctx: Context) -> int:
    # Values are shown byte for byte, as Postfix does, even when not UTF-8 (read as
    # surrogate escapes): no UnicodeEncodeError whatever PYTHONIOENCODING says.
    for stream in (ctx.stdout, ctx.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="surrogateescape")
    try:
        request = parse_args(list(args), ctx)
    except UsageError as e:
        print(f"{ctx.program}: {e}", file=ctx.stderr)
        return ctx.fatal(USAGE)
    opts = request.opts
    if opts & MASTER and not opts & EDITING:
        return _show_master(request, ctx)
    if opts & EDITING:
        return _edit(request, ctx)
    return _show_main(request, ctx)


# -- reading ----------------------------------------------------------------------------------


def _warn(ctx: Context, text: str) -> None:
    """Postfix's msg_warn() shows each byte that is not printable ASCII as ``?``."""
    data = text.encode("utf-8", "surrogateescape")
    ctx.warn("".join(chr(b) if 0x20 <= b <= 0x7E else "?" for b in data))


def _override_settings(
    request: Request, source: ConfigSource, main: MainCf, ctx: Context
) -> dict[str, Setting]:
    """``-o`` settings, and ``config_directory`` when it was named (Postfix's MAIL_CONFIG,
    which main.cf can still override)."""
    origin = Origin(source.main_cf)
    settings: dict[str, Setting] = {}
    if source.explicit:
        written = main.get("config_directory")
        if written is None:
            settings["config_directory"] = Setting("config_directory", source.directory, origin)
        else:
            _warn(ctx, f"{written.origin}: overriding earlier entry: "
                       f"config_directory={source.directory}")
    for text in request.overrides:
        try:
            name, value = split_nameval(text)
        except ValueError as e:
            raise Fatal(f"invalid parameter override: {text}: {e}") from None
        settings[name] = Setting(name, value, origin)
    return settings


@dataclass(slots=True)
class Loaded:
    config: Config
    master: MasterCf
    #: Names of user-defined parameters that are used (shown like the table's).
    user: frozenset[str]
    unused: tuple[Setting, ...]


def _load(request: Request, ctx: Context, source: ConfigSource) -> Loaded:
    """main.cf, master.cf and Postfix's diagnostics about them, as postconf prints them."""
    main = read_main_cf(source.main_cf)
    for text in main.warnings:
        _warn(ctx, text)
    master = read_master_or_default(source.master_cf)
    for text in master.warnings:
        _warn(ctx, text)
    config = Config(main, source.directory, _override_settings(request, source, main, ctx))
    usage = analyse(config, master)
    for setting in usage.read_only:
        _warn(ctx, f"{setting.origin.file}: read-only parameter assignment: "
                   f"{setting.name}={setting.value}")
    for text in usage.syntax:
        _warn(ctx, text)
    for ref in usage.undefined:
        _warn(ctx, f"{ref.origin.file}: undefined parameter: {ref.name}")
    error = expansion_error(config, master)
    if error is not None:
        _warn(ctx, error.text)
        raise Fatal("macro processing error")
    return Loaded(config, master, usage.user, usage.unused)


def _report_unused(ctx: Context, loaded: Loaded, master_only: bool) -> None:
    ctx.stdout.flush()
    for s in loaded.unused:
        if not master_only or s.origin.file == loaded.master.path:
            _warn(ctx, f"{s.origin.file}: unused parameter: {s.name}={s.value}")


# -- main.cf ----------------------------------------------------------------------------------


def _show_main(request: Request, ctx: Context) -> int:
    opts = request.opts
    source = ctx.source()
    if Opt.DEFS in opts:
        master = read_master_or_default(source.master_cf)
        default_dir = PARAMETERS["config_directory"].default
        config = Config(MainCf(source.main_cf), default_dir)
        loaded = Loaded(config, master, frozenset(), ())
        explicit: Mapping[str, Setting] = {}
    else:
        loaded = _load(request, ctx, source)
        explicit = {n: s for n, s in loaded.config.settings().items()
                    if n not in READ_ONLY_PARAMETERS}
    service = service_parameters(loaded.master)
    known = set(PARAMETERS) | set(service) | loaded.user

    def lookup(name: str) -> str | None:
        """The value in use (explicit, else the default), as -x expands it."""
        value = loaded.config.raw(name)
        return service.get(name) if value is None else value

    names = request.names or sorted(known)
    for name in names:
        if name not in known:
            _warn(ctx, f"{name}: unknown parameter")
            continue
        value = None if Opt.NONDEF in opts and name not in explicit else lookup(name)
        if value is None:
            continue
        if Opt.EVAL in opts and name not in RAW_PARAMETERS:
            value = _expand(value, lookup, ctx)
        ctx.stdout.write(_parameter_line(name, value, opts))
    if Opt.DEFS not in opts:
        _report_unused(ctx, loaded, master_only=False)
    return 0


def _expand(value: str, lookup: Lookup, ctx: Context) -> str:
    """-x: Postfix prints the expansion's warning, then stops with "macro processing error"."""
    try:
        return expand(value, lookup)
    except MacroError as e:
        _warn(ctx, e.text)
        raise Fatal("macro processing error") from None


def _parameter_line(name: str, value: str, opts: Opt) -> str:
    if Opt.HIDE_VALUE in opts:
        text = name
    elif Opt.HIDE_NAME in opts:
        text = value
    else:
        text = f"{name} = {value}"
    return format_line(text, Opt.FOLD in opts)


def _edit(request: Request, ctx: Context) -> int:
    opts = request.opts
    if not request.names:
        raise Fatal("missing service argument")
    if opts & MASTER:
        raise Fatal("editing master.cf (-Me, -Fe, -Pe, -X, -#) is not supported by mailrelay; "
                    "edit master.cf with a text editor")
    source = ctx.source()
    if source.embedded:
        raise Fatal(f"{source.main_cf} is mailrelay's embedded default configuration and "
                    "cannot be edited: copy it into a directory of your own and use "
                    "'mailrelay -c DIR postconf -e ...' (or MAILRELAY_CONFIG_DIR=DIR)")
    mode = Mode.SET if Opt.EDIT in opts else Mode.REMOVE if Opt.EXCLUDE in opts else Mode.COMMENT
    edits = parse_requests(mode, request.names)
    warned = len(edits.warnings)
    for text in edits.warnings:
        _warn(ctx, text)
    edit_main_cf(source.main_cf, edits)
    for text in edits.warnings[warned:]:
        _warn(ctx, text)
    return 0


# -- master.cf --------------------------------------------------------------------------------


def _service_expander(config: Config, ctx: Context) -> Expand:
    """-x for master.cf: a ``-o`` value as its service sees it (its own -o first)."""
    def expand_value(service: Service, value: str) -> str:
        return _expand(value, service_config(config, service).raw, ctx)
    return expand_value


def _show_master(request: Request, ctx: Context) -> int:
    opts = request.opts
    loaded = _load(request, ctx, ctx.source())
    master = loaded.master
    fold = Opt.FOLD in opts
    expander = _service_expander(loaded.config, ctx) if Opt.EVAL in opts else None
    if Opt.FIELDS in opts:
        _show_fields(request, ctx, master, expander)
    elif Opt.PARAMS in opts:
        _show_params(request, ctx, master, loaded.config)
    else:
        patterns = [parse_pattern(p, 1, 2, "-M option requires service_name[/type]")
                    for p in request.names]
        hits = [0] * len(patterns)
        for service in master.services:
            if not patterns:
                ctx.stdout.write(format_entry(service, fold, expander))
            for k, pattern in enumerate(patterns):
                if matches(pattern, service):
                    hits[k] += 1
                    ctx.stdout.write(format_entry(service, fold, expander))
        _unmatched(ctx, request.names, hits)
    _report_unused(ctx, loaded, master_only=True)
    return 0


def _unmatched(ctx: Context, names: list[str], hits: list[int]) -> None:
    for name, count in zip(names, hits, strict=True):
        if not count:
            _warn(ctx, f'unmatched request: "{name}"')


def _show_fields(
    request: Request, ctx: Context, master: MasterCf, expander: Expand | None
) -> None:
    opts = request.opts
    usage = "-F option requires service_name[/type[/field]]"
    patterns = [parse_pattern(p, 1, 3, usage) for p in request.names]
    indexes = [field_index(p[2]) for p in patterns]
    hits = [0] * len(patterns)
    every = list(range(len(FIELD_NAMES)))

    def show(service: Service, index: int) -> None:
        if Opt.HIDE_VALUE in opts:
            ctx.stdout.write(f"{service.key}/{FIELD_NAMES[index]}\n")
        else:
            ctx.stdout.write(format_field(service, index, Opt.FOLD in opts,
                                          Opt.HIDE_NAME in opts, expander))

    for service in master.services:
        if not patterns:
            for index in every:
                show(service, index)
        for k, pattern in enumerate(patterns):
            if matches(pattern, service):
                hits[k] += 1
                wanted = indexes[k]
                for index in every if wanted is None else [wanted]:
                    show(service, index)
    _unmatched(ctx, request.names, hits)


def _show_params(request: Request, ctx: Context, master: MasterCf, config: Config) -> None:
    opts = request.opts
    usage = "-P option requires service_name[/type[/parameter]]"
    patterns = [parse_pattern(p, 1, 3, usage) for p in request.names]
    hits = [0] * len(patterns)

    def show(service: Service, name: str) -> None:
        value = service.overrides[name].value
        if Opt.EVAL in opts:
            value = _expand(value, service_config(config, service).raw, ctx)
        if Opt.HIDE_VALUE in opts:
            ctx.stdout.write(f"{service.key}/{name}\n")
        else:
            text = value if Opt.HIDE_NAME in opts else f"{service.key}/{name} = {value}"
            ctx.stdout.write(format_line(text, Opt.FOLD in opts))

    for service in master.services:
        if not service.overrides:
            continue
        if not patterns:
            for name in sorted(service.overrides):
                show(service, name)
        for k, pattern in enumerate(patterns):
            if not matches(pattern, service):
                continue
            if pattern[2] == "*":
                hits[k] += 1
                for name in sorted(service.overrides):
                    show(service, name)
            elif pattern[2] in service.overrides:
                hits[k] += 1
                show(service, pattern[2])
    _unmatched(ctx, request.names, hits)
