"""virtual_alias_maps expansion, as captured in tests/golden/rewriting/virtual."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rewriting_support import config

from mailrelay.cleanup.address_map import CleanupDefer
from mailrelay.cleanup.virtual import VirtualAlias
from mailrelay.maps.registry import MapCache

GOLDEN = Path(__file__).parents[2] / "golden" / "rewriting" / "virtual"


def virtual(table: str, extra: str = "recipient_delimiter = +\n") -> VirtualAlias:
    found = VirtualAlias.from_config(config(f"virtual_alias_maps = {table}\n{extra}"),
                                     MapCache())
    assert found is not None
    return found


@pytest.fixture
def guide(tmp_path: Path) -> VirtualAlias:
    shutil.copy(GOLDEN / "virtual", tmp_path / "virtual")
    mailrelay = str(Path(sys.executable).with_name("mailrelay"))
    subprocess.run([mailrelay, "postmap", f"hash:{tmp_path}/virtual"], check=True, timeout=60)
    return virtual(f"hash:{tmp_path}/virtual")


def expand(v: VirtualAlias, address: str) -> list[str]:
    return v.expand(v.tables(), address)


def test_aliases_expand_recursively_in_list_order(guide: VirtualAlias) -> None:
    assert expand(guide, "sales@example.com") == ["alice@elsewhere.net", "bob@example.org"]


def test_an_address_that_maps_to_itself_is_kept_once(guide: VirtualAlias) -> None:
    assert expand(guide, "loop@example.com") == ["loop@example.com", "x@example.org"]


def test_a_catch_all_and_an_extension_are_handled_as_postfix(guide: VirtualAlias) -> None:
    assert expand(guide, "any@vdomain.example") == ["catch@example.org"]
    assert expand(guide, "ext+tag@example.com") == ["target+tag@example.org"]
    assert expand(guide, "plain@example.net") == ["plain@example.net"]


def test_an_alias_loop_hits_the_recursion_limit_and_defers() -> None:
    v = virtual("inline:{ a@x.example=b@x.example, b@x.example=a@x.example }",
                "virtual_alias_recursion_limit = 5\n")
    with pytest.raises(CleanupDefer, match="unreasonable virtual_alias_maps map nesting"):
        expand(v, "a@x.example")


def test_too_many_aliases_hit_the_expansion_limit_and_defer() -> None:
    v = virtual("inline:{ {list@x.example=a@y, b@y, c@y, d@y} }",
                "virtual_alias_expansion_limit = 3\n")
    with pytest.raises(CleanupDefer, match="unreasonable virtual_alias_maps map expansion"):
        expand(v, "list@x.example")


def test_a_too_long_result_defers() -> None:
    v = virtual("inline:{ {a@x.example=" + "b" * 40 + "@y.example} }",
                "virtual_alias_address_length_limit = 20\n")
    with pytest.raises(CleanupDefer, match="unreasonable virtual_alias_maps result"):
        expand(v, "a@x.example")
