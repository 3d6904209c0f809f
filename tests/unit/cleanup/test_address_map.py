"""mail_addr_map(): canonical and generic lookups, as captured in tests/golden/rewriting."""

from __future__ import annotations

from pathlib import Path

import pytest
from rewriting_support import config

from mailrelay.cleanup.address_map import AddressMap, CleanupDefer, local_domains
from mailrelay.maps.registry import MapCache

GOLDEN = Path(__file__).parents[2] / "golden" / "rewriting"


def canonical(table: str, extra: str = "") -> AddressMap:
    found = AddressMap.from_config(config(f"canonical_maps = {table}\n{extra}"),
                                   "canonical_maps", MapCache(), "canonical")
    assert found is not None
    return found


def lookup(amap: AddressMap, address: str) -> str | None:
    found = amap.lookup(amap.tables(), address)
    return None if found is None else found.address


def test_an_empty_parameter_gives_no_map() -> None:
    assert AddressMap.from_config(config(), "canonical_maps", MapCache(), "canonical") is None


def test_the_local_part_alone_matches_only_for_a_local_domain() -> None:
    amap = canonical("inline:{ www-data=webmaster@corp.com }")
    assert lookup(amap, "www-data@corp.local") == "webmaster@corp.com"
    assert lookup(amap, "www-data@relay.corp.local") == "webmaster@corp.com"
    assert lookup(amap, "www-data@[127.0.0.1]") == "webmaster@corp.com"
    assert lookup(amap, "www-data@example.com") is None


def test_an_at_domain_value_keeps_the_local_part() -> None:
    amap = canonical("inline:{ @old.example=@new.example }")
    assert lookup(amap, "alice@old.example") == "alice@new.example"


def test_an_unmatched_extension_is_put_back_only_when_the_class_propagates() -> None:
    table = "inline:{ bob@x.example=robert@y.example }"
    propagating = canonical(table, "recipient_delimiter = +\n")
    assert lookup(propagating, "bob+tag@x.example") == "robert+tag@y.example"
    quiet = canonical(table, "recipient_delimiter = +\npropagate_unmatched_extensions =\n")
    assert lookup(quiet, "bob+tag@x.example") == "robert@y.example"


def test_a_regexp_table_substitutes_its_groups_and_sees_only_the_full_address() -> None:
    amap = canonical(f"regexp:{GOLDEN}/generic_regexp")
    assert lookup(amap, "svc@srv7.corp.local") == "svc@corp.com"
    assert lookup(amap, "root@srv1.corp.local") == "root@corp.com"
    assert lookup(amap, "root@anywhere.example") == "admin@corp.com"
    assert lookup(amap, "bob@example.com") is None


def test_a_quoted_value_is_made_internal() -> None:
    amap = canonical('inline:{ {a@x.example="john smith"@y.example} }')
    assert lookup(amap, "a@x.example") == "john smith@y.example"


def test_nested_mapping_follows_the_chain_and_stops_on_a_loop() -> None:
    amap = canonical("inline:{ a@x.example=b@x.example, b@x.example=c@x.example }")
    warnings: list[str] = []
    assert amap.map_nested(amap.tables(), "a@x.example", warnings.append) == "c@x.example"
    looping = canonical("inline:{ a@x.example=b@x.example, b@x.example=a@x.example }")
    looping.map_nested(looping.tables(), "a@x.example", warnings.append)
    assert warnings == ["unreasonable canonical_maps map nesting for a@x.example"]


def test_a_missing_table_defers_with_the_parameter_named(tmp_path: Path) -> None:
    amap = canonical(f"hash:{tmp_path}/missing")
    with pytest.raises(CleanupDefer, match=r"canonical_maps map lookup problem.*missing"):
        amap.tables()


def test_local_domains_include_myorigin_mydestination_and_interface_literals() -> None:
    local = local_domains(config())
    assert local("corp.local") and local("LOCALHOST") and local("[127.0.0.1]")
    assert not local("example.com")
