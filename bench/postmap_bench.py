#!/usr/bin/env python3
"""Benchmark ``mailrelay postmap`` against Postfix's ``postmap``, and in-process lookups.

    python3 bench/postmap_bench.py [--entries 1000000] [--runs 3] [--keep DIR]

1. Writes a source of N ``user@host value`` lines (random order, as real tables are).
2. Builds it as hash: with ``mailrelay postmap`` and with Postfix's ``postmap -c DIR`` (a
   private configuration directory, so /etc/postfix is not needed), alternating the two, each
   on its own copy of the source; reports the median wall times and their ratio.
3. Opens the compiled table in this process and times lookups (half hits, half misses), and
   the full address lookup order (``address_lookup``) over the same keys.

The goals (bench/README.md): compile within 1.5x of Postfix, at least 200,000 lookups/s.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mailrelay.maps.lookup import Maps, address_lookup
from mailrelay.maps.registry import open_map


def write_source(path: Path, entries: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    keys = [f"user{i}@host{rnd.randrange(entries // 10 + 1)}.example.com"
            for i in range(entries)]
    rnd.shuffle(keys)
    with path.open("w") as f:
        f.writelines(f"{key} relay{i % 97}@corp.example.net\n" for i, key in enumerate(keys))
    return keys


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {done.stderr}")
    return elapsed


def compile_times(work: Path, runs: int) -> tuple[list[float], list[float]]:
    config = work / "postfix-etc"
    config.mkdir()
    (config / "main.cf").write_text("compatibility_level = 3.6\n")
    (config / "master.cf").write_text("")
    shutil.copy(work / "source", work / "postfix-source")
    mailrelay = shutil.which("mailrelay") or "mailrelay"
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(timed([mailrelay, "postmap", "hash:source"], work))
        theirs.append(timed(["postmap", "-c", str(config), "hash:postfix-source"], work))
    return ours, theirs


def lookup_rate(spec: str, keys: list[str]) -> tuple[float, float]:
    table = open_map(spec)
    lookup = table.lookup
    start = time.perf_counter()
    found = sum(1 for key in keys if lookup(key) is not None)
    plain = len(keys) / (time.perf_counter() - start)
    assert found == len(keys) // 2, found
    maps = Maps("smtp_generic_maps", (table,))
    start = time.perf_counter()
    for key in keys:
        address_lookup(maps, key, delimiter="+", local_domain=False)
    ordered = len(keys) / (time.perf_counter() - start)
    table.close()
    return plain, ordered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lookups", type=int, default=400_000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    if shutil.which("postmap") is None:
        sys.exit("Postfix's postmap is not installed (Debian: apt-get install postfix)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="postmap-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        keys = write_source(work / "source", args.entries)
        size = (work / "source").stat().st_size
        print(f"source: {args.entries:,} entries, {size / 1e6:.1f} MB")
        ours, theirs = compile_times(work, args.runs)
        mine, postfix = statistics.median(ours), statistics.median(theirs)
        print(f"compile hash: mailrelay {mine:.2f} s, Postfix {postfix:.2f} s "
              f"(medians of {args.runs}); ratio mailrelay/Postfix = {mine / postfix:.2f}")
        rnd = random.Random(2)
        half = args.lookups // 2
        sample = rnd.sample(keys, half) + [f"nobody{i}@nowhere.example" for i in range(half)]
        rnd.shuffle(sample)
        plain, ordered = lookup_rate(f"hash:{work}/source", sample)
        print(f"lookups: {plain:,.0f}/s (Map.lookup), {ordered:,.0f}/s (address_lookup, "
              f"every key of the canonical order), half hits, half misses")
    finally:
        if args.keep is None:
            shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
