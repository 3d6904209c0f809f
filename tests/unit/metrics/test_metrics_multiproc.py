"""Multiprocess mode: forked children's counts summed, dead children's live gauges dropped.

Each test runs in a fresh interpreter: prometheus_client chooses its mode when it is imported,
and this test process has imported it already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, os, sys
from pathlib import Path
from mailrelay.metrics import multiproc, endpoint
from mailrelay.queue.store import QueueStore

directory = Path(sys.argv[1]) / "pid" / "metrics"
directory.mkdir(parents=True)
(directory / "stale.db").write_bytes(b"from an earlier run")
tap = multiproc.enable(directory)
from prometheus_client.parser import text_string_to_metric_families  # only after enable
stale_gone = not (directory / "stale.db").exists()
pids = []
for n in range(2):
    pid = os.fork()
    if pid == 0:
        tap("smtpd", "connect from a[192.0.2.1]")
        tap("smtpd", "connect from b[192.0.2.2]")
        tap("smtpd", "disconnect from b[192.0.2.2] quit=1 commands=1")
        os._exit(0)
    os.waitpid(pid, 0)
    pids.append(pid)
render = endpoint.renderer(QueueStore(Path(sys.argv[1])))

def values():
    text = render()[0].decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if not s.labels}

before = values()
multiproc.process_dead(directory, pids[0])
after = values()
print(json.dumps({"stale_gone": stale_gone, "before": before, "after": after}))
"""


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_children_counts_are_summed_and_a_dead_childs_connections_no_longer_count(
        tmp_path: Path) -> None:
    found = json.loads(run(SCRIPT, str(tmp_path)))
    assert found["stale_gone"]
    assert found["before"]["postfix_smtpd_connects_total"] == 4
    assert found["before"]["mailrelay_smtpd_connections"] == 2
    assert found["after"]["postfix_smtpd_connects_total"] == 4  # history stays
    assert found["after"]["mailrelay_smtpd_connections"] == 1


def test_the_master_and_the_endpoint_do_not_load_prometheus_client_until_enabled() -> None:
    out = run("import sys, mailrelay.master.process, mailrelay.metrics.endpoint\n"
              "print('prometheus_client' in sys.modules)")
    assert out.strip() == "False"
