"""What the partition and freeze proofs read: iptables' DROP counters and /proc/PID/stat states.

Inputs are what iptables 1.8.9 (nf_tables) and Linux print, copied from a lab container; the expected
values are read off them by hand.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from hadrill.errors import InjectionFailed
from hadrill.faults.gluster import _find_brick, clear_stale_pidfiles
from hadrill.faults.ledger import FaultRecord
from hadrill.faults.network import Partition, dropped_packets
from hadrill.faults.process import ProcessFault, process_states

LISTING = """\
Chain HDO-0f3a (1 references)
    pkts      bytes target     prot opt in     out     source               destination
       2      120 DROP       6    --  *      *       0.0.0.0/0            172.28.0.3           tcp dpt:2380
       1       60 DROP       6    --  *      *       0.0.0.0/0            172.28.0.3           tcp spt:2380
       0        0 DROP       6    --  *      *       0.0.0.0/0            172.28.0.4           tcp dpt:2380
       0        0 DROP       6    --  *      *       0.0.0.0/0            172.28.0.4           tcp spt:2380
"""


def test_dropped_packets_sums_each_destination() -> None:
    assert dropped_packets(LISTING) == {"172.28.0.3": 3, "172.28.0.4": 0}


def test_an_empty_or_foreign_chain_counts_nothing() -> None:
    assert dropped_packets("Chain HDO-x (1 references)\n    pkts      bytes target     prot opt in     out     "
                           "source               destination\n") == {}  # fmt: skip
    accept = "       9      540 ACCEPT     0    --  *      *       0.0.0.0/0            172.28.0.3\n"
    assert dropped_packets(accept) == {}  # only DROP rules are this fault's evidence
    assert dropped_packets("iptables: No chain/target/match by that name.\n") == {}


def _partition(peers: tuple[str, ...] = ("172.28.0.3", "172.28.0.4")) -> tuple[Partition, FaultRecord]:
    fault = Partition(target="local://", peers=peers, check_port=2380, time_limit=30)
    record = fault.record(None)
    record.params["reachable_before"] = list(peers)
    return fault, record


def test_the_partition_is_proven_only_by_drops_counted_for_every_peer() -> None:
    fault, record = _partition()
    both = LISTING.replace("       0        0 DROP       6    --  *      *       0.0.0.0/0            172.28.0.4"
                           "           tcp dpt:2380", "       1       60 DROP       6    --  *      *       "
                           "0.0.0.0/0            172.28.0.4           tcp dpt:2380")  # fmt: skip
    seen = fault._judge(record, 2380, 0, both)
    assert seen is not None and "172.28.0.3: 3, 172.28.0.4: 1" in seen, seen
    assert fault._judge(record, 2380, 0, LISTING) is None  # 172.28.0.4: its rule dropped nothing: not shown cut
    assert fault._judge(record, 2380, 0, both + "reachable 172.28.0.4\n") is None  # a peer answered
    assert fault._judge(record, 2380, 1, both) is None  # the chain is gone (iptables -S failed)
    other, rec = _partition(("172.28.0.3", "172.28.0.9"))
    assert other._judge(rec, 2380, 0, both) is None  # no rule at all for .9


def test_the_partition_proof_without_a_port_needs_a_rule_per_peer() -> None:
    fault, record = _partition()
    assert fault._judge(record, None, 0, LISTING) is not None  # both peers have DROP rules
    assert fault._judge(record, None, 0, LISTING.split("       0        0")[0]) is None  # .4's rules missing


def test_process_states_reads_the_field_after_the_name() -> None:
    stats = (
        "812 (etcd) T 1 812 812 0 -1 1077936192 2280 0 0 0 35 11 0 0 20 0 9 0 4223 11814912 3620\n"
        "813 (etcd) S 1 812 812 0 -1 1077936192 12 0 0 0 1 0 0 0 20 0 1 0 4224 0 0\n"
        "900 (a (b) c) R 1 900 900 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0\n"  # a name with parentheses
    )
    assert process_states(stats) == {"812": "T", "813": "S", "900": "R"}


def test_process_states_of_nothing_is_empty() -> None:
    assert process_states("") == {}
    assert process_states("cat: /proc/99999/stat: No such file or directory\n") == {}


# A brick process's command line, copied from the lab (glusterfs 11), and the shell that looks for it.
BRICK_ARGV = (
    "/usr/sbin/glusterfsd -s hdt-x-gluster-2 --volfile-id gv0.hdt-x-gluster-2.bricks-b -p "
    "/var/run/gluster/vols/gv0/hdt-x-gluster-2-bricks-b.pid -S /var/run/gluster/9267401be890a5d5.socket "
    "--brick-name /bricks/b -l /var/log/glusterfs/bricks/bricks-b.log --process-name brick --brick-port 55728"
)


def _pattern(shell: str) -> str:
    return shell.split("pgrep -f '", 1)[1].split("'", 1)[0]


def test_find_brick_matches_its_brick_process_and_not_its_own_shell_nor_a_longer_path() -> None:
    shell = _find_brick("hdt-x-gluster-2:/bricks/b")
    pattern = _pattern(shell)
    assert re.search(pattern, BRICK_ARGV)
    assert not re.search(pattern, f"timeout -k 2 10 sh -c {shell}")  # the shell that runs pgrep
    assert not re.search(pattern, BRICK_ARGV.replace("--brick-name /bricks/b ", "--brick-name /bricks/b2 "))
    assert re.search(pattern, BRICK_ARGV.replace(" -l /var/log/glusterfs/bricks/bricks-b.log --process-name "
                                                 "brick --brick-port 55728", ""))  # fmt: skip


def test_find_brick_escapes_regex_characters_of_the_path() -> None:
    pattern = _pattern(_find_brick("h:/data/b.1+x"))
    assert re.search(pattern, "glusterfsd -s h --brick-name /data/b.1+x -l log")
    assert not re.search(pattern, "glusterfsd -s h --brick-name /data/bX1+x -l log")


def test_stale_brick_pidfiles_are_removed_and_a_running_bricks_is_kept(tmp_path: Path) -> None:
    # glusterd takes a pidfile whose pid is alive for a running brick: after a container restart that pid
    # may be any process; only a pidfile naming a live glusterfsd may stay
    vols = tmp_path / "vols" / "gv0"
    vols.mkdir(parents=True)
    brick = subprocess.Popen(["bash", "-c", "exec -a glusterfsd sleep 30"])
    other = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.2)  # bash has exec'ed
        (vols / "live.pid").write_text(f"{brick.pid}\n")
        (vols / "reused.pid").write_text(f"{other.pid}\n")
        (vols / "dead.pid").write_text("4194303\n")
        (vols / "empty.pid").write_text("")
        res = subprocess.run(["sh", "-c", clear_stale_pidfiles("gv0", str(tmp_path))], capture_output=True, text=True)
    finally:
        brick.kill()
        other.kill()
    assert res.returncode == 0 and res.stderr == ""
    assert sorted(p.name for p in vols.iterdir()) == ["live.pid"]
    assert sorted(Path(line).name for line in res.stdout.split()) == ["dead.pid", "empty.pid", "reused.pid"]


def test_a_freeze_is_proven_from_the_states_read_right_after_the_signal_and_only_when_all_are_t() -> None:
    fault = ProcessFault(target="local://", process="etcd", signal="STOP", time_limit=30)
    record = fault.record(None)
    gone = "4194399"  # above Linux's largest pid_max: no such process, so the fallback reads nothing
    record.params.update(pids=[gone], states_after_signal={gone: "T"})
    assert "read right after the signal" in fault.prove(record)
    record.params["states_after_signal"] = {gone: "S"}  # signalled but still running when read: not proof
    with pytest.raises(InjectionFailed, match="etcd stopped"):
        fault.prove(record)  # the fallback reads /proc again: nothing there, never a false "stopped"
