"""Swarm pure logic: the compliance verdicts on gathered facts, the lab file's swarm part, the HTTP
probe's failover between published ports (real HTTP servers on loopback), and the control probe's
commands. Expected values are worked out by hand in each test."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hadrill.clients.nodes import FileStat
from hadrill.compliance.registry import CHECKS
from hadrill.compliance.swarm import SwarmBackupFacts, SwarmFacts, parse_backup_listing, raft_entries
from hadrill.errors import ConfigError, ProbeFailed
from hadrill.lab.labfile import parse_lab_data
from hadrill.probes.swarm import SwarmControlProbe, SwarmHttpProbe

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def facts(**changes: object) -> SwarmFacts:
    base: dict[str, object] = {
        "node": "m1", "leader": True, "managers": 3, "autolock": True,
        "engines": {"m1": "20.10.24", "m2": "20.10.24", "w1": "20.10.24"}, "availability": "Active",
        "drain_managers": False, "cert_not_after": NOW + timedelta(days=90), "min_days": 30, "now": NOW,
    }  # fmt: skip
    return SwarmFacts(**{**base, **changes})  # type: ignore[arg-type]


def statuses(check_id: str, f: SwarmFacts) -> list[str]:
    return [x.status for x in CHECKS[check_id].evaluate("m1", f)]


# -- compliance ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("managers", "want"), [(3, "pass"), (5, "pass"), (4, "fail"), (2, "fail"), (1, "fail")])
def test_odd_manager_count_of_at_least_three(managers: int, want: str) -> None:
    assert statuses("HD-SWARM-001", facts(managers=managers)) == [want]


def test_even_manager_count_is_reported_with_its_tolerance() -> None:
    [finding] = CHECKS["HD-SWARM-001"].evaluate("m1", facts(managers=4))
    assert finding.observed == "4 managers (tolerates 1 lost)"  # (4-1)//2 = 1: no better than 3


def test_autolock_off_fails_and_on_passes() -> None:
    assert statuses("HD-SWARM-002", facts(autolock=False)) == ["fail"]
    assert statuses("HD-SWARM-002", facts(autolock=True)) == ["pass"]


def test_cluster_checks_are_reported_by_the_leader_only() -> None:
    follower = facts(leader=False, managers=4, autolock=False)
    assert statuses("HD-SWARM-001", follower) == statuses("HD-SWARM-002", follower) == []
    assert statuses("HD-SWARM-003", follower) == []


def test_mixed_engine_versions_name_the_odd_node() -> None:
    [finding] = CHECKS["HD-SWARM-003"].evaluate("m1", facts(engines={"m1": "20.10.24", "w1": "24.0.7"}))
    assert finding.status == "fail" and finding.observed == "20.10.24: m1; 24.0.7: w1"


def test_managers_drained_only_when_the_policy_says_so() -> None:
    assert statuses("HD-SWARM-004", facts(drain_managers=False, availability="Active")) == []
    assert statuses("HD-SWARM-004", facts(drain_managers=True, availability="Active")) == ["fail"]
    assert statuses("HD-SWARM-004", facts(drain_managers=True, availability="Drain")) == ["pass"]


@pytest.mark.parametrize(("days", "want"), [(90, "pass"), (30, "pass"), (29.5, "fail"), (-1, "fail")])
def test_node_certificate_window(days: float, want: str) -> None:
    assert statuses("HD-SWARM-005", facts(cert_not_after=NOW + timedelta(days=days))) == [want]


def test_unreadable_certificate_fails_with_the_reason() -> None:
    [finding] = CHECKS["HD-SWARM-005"].evaluate("m1", facts(cert_not_after=None, cert_problem="no PEM"))
    assert finding.status == "fail" and finding.observed == "no PEM"


# the listing a tar of /var/lib/docker/swarm gives (tar -czf B -C /var/lib/docker swarm): 4 entries under raft/
SWARM_TAR = """swarm/
swarm/certificates/
swarm/certificates/swarm-node.crt
swarm/raft/
swarm/raft/wal-v3-encrypted/
swarm/raft/wal-v3-encrypted/0000000000000000-0000000000000000.wal
swarm/raft/snap-v3-encrypted/
swarm/docker-state.json
"""


def test_raft_entries_counts_what_sits_under_a_raft_directory() -> None:
    assert raft_entries(SWARM_TAR) == 4  # raft/, wal-v3-encrypted/, its .wal, snap-v3-encrypted/
    assert raft_entries("./\n./raft/\n./raft/snap-v3-encrypted/\n./state.json\n") == 2  # tar -C swarm .
    assert raft_entries("etc/raft\nhome/x/draft/notes\n") == 0  # a file named raft, a dir named draft
    assert raft_entries("") == 0


def test_backup_listing_gives_the_node_time_and_the_files() -> None:
    text = (
        "1764763200\n"
        "644|0|root|10240|1764756000|/var/backups/docker-swarm/swarm-a.tar.gz\n"
        "600|0|root|20480|1764676800|/var/backups/docker-swarm/swarm b.tar\n"
    )
    now, files = parse_backup_listing(text)
    assert now == 1764763200.0
    assert [(f.path, f.size, f.mtime, f.mode) for f in files] == [
        ("/var/backups/docker-swarm/swarm-a.tar.gz", 10240, 1764756000.0, 0o644),
        ("/var/backups/docker-swarm/swarm b.tar", 20480, 1764676800.0, 0o600),
    ]
    with pytest.raises(ValueError, match="no output"):
        parse_backup_listing("\n")


def backup(age_s: float | None, raft: int = 4, max_h: float = 24.0, problem: str = "") -> SwarmBackupFacts:
    now = 1764763200.0
    newest = None if age_s is None else FileStat("/b/swarm.tar.gz", 0o600, 0, "root", 10240, now - age_s)
    return SwarmBackupFacts("/b", "*.tar*", newest, now, max_h, raft_entries=raft, problem=problem)


@pytest.mark.parametrize(
    ("age_s", "want", "observed"),
    [
        (7200, "pass", "2.0 h old, 10240 bytes, 4 raft/ entries"),  # 7200 s = 2 h
        (86400, "pass", "24.0 h old, 10240 bytes, 4 raft/ entries"),  # exactly the 24 h allowed
        (90000, "fail", "25.0 h old, 10240 bytes, 4 raft/ entries"),  # 90000 s = 25 h
    ],
)
def test_raft_backup_age_against_the_window(age_s: float, want: str, observed: str) -> None:
    [finding] = CHECKS["HD-SWARM-006"].evaluate("m1", backup(age_s))
    assert (finding.status, finding.observed, finding.object) == (want, observed, "/b/swarm.tar.gz")


def test_missing_backup_or_one_without_raft_state_fails_saying_so() -> None:
    [none] = CHECKS["HD-SWARM-006"].evaluate("m1", backup(None))
    assert (none.status, none.observed) == ("fail", "no backup (no file matching *.tar* in /b)")
    [gone] = CHECKS["HD-SWARM-006"].evaluate("m1", backup(None, problem="/b does not exist"))
    assert (gone.status, gone.observed) == ("fail", "/b does not exist")
    [empty] = CHECKS["HD-SWARM-006"].evaluate("m1", backup(60, raft=0))
    assert empty.status == "fail" and empty.observed.startswith("0.0 h old, no raft/ directory")


# -- lab file --------------------------------------------------------------------------------------
def test_swarm_part_defaults_and_bounds() -> None:
    spec = parse_lab_data({"name": "x", "swarm": {}}, "<t>")
    assert spec.swarm is not None and (spec.swarm.managers, spec.swarm.workers, spec.swarm.replicas) == (3, 2, 3)
    assert parse_lab_data({"name": "x"}, "<t>").swarm is None  # off unless asked for
    with pytest.raises(ConfigError, match="replicas"):  # one host-mode port per node: 1 + 1 nodes < 3
        parse_lab_data({"name": "x", "swarm": {"managers": 1, "workers": 1, "replicas": 3}}, "<t>")
    with pytest.raises(ConfigError, match="managers"):
        parse_lab_data({"name": "x", "swarm": {"managers": 2}}, "<t>")


# -- probes ----------------------------------------------------------------------------------------
class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.server_address[1].to_bytes(2, "big").hex().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.HTTPServer]:
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()  # nothing listens there now: connection refused
    return port


def test_http_probe_fails_over_and_sticks_to_the_node_that_answered(server: http.server.HTTPServer) -> None:
    good = f"http://127.0.0.1:{server.server_address[1]}/"
    dead = f"http://127.0.0.1:{_closed_port()}/"
    probe = SwarmHttpProbe([dead, good], timeout=1.0)
    first = probe.sample()
    assert first is not None and first["node"] == good and first["tried"] == 2  # refused, then answered
    second = probe.sample()
    assert second is not None and second["tried"] == 1  # sticks to the node that answered


def test_http_probe_fails_when_no_node_answers() -> None:
    probe = SwarmHttpProbe([f"http://127.0.0.1:{_closed_port()}/", f"http://127.0.0.1:{_closed_port()}/"])
    with pytest.raises(ProbeFailed, match="no node answered"):
        probe.sample()


def test_control_probe_updates_are_distinct_no_op_label_changes() -> None:
    probe = SwarmControlProbe(["docker://m1"], op="update", service="web")
    assert probe.command() == "docker service update --detach --quiet --label-add hadrill.control-probe=1 web"
    assert probe.command().endswith("hadrill.control-probe=2 web")
    assert SwarmControlProbe(["docker://m1"], op="node-ls").command() == "docker node ls -q"
    with pytest.raises(ConfigError):
        SwarmControlProbe(["docker://m1"], op="scale")


# -- upgrade preflight -----------------------------------------------------------------------------
def _node(name: str, role: str = "manager", status: str = "Ready", ms: str = "Reachable", engine: str = "20.10.24"):
    from hadrill.clients.swarm import SwarmNode

    return SwarmNode(name, role, status, "Active", ms if role == "manager" else "", engine)


def _by_name(checks: list) -> dict[str, tuple[bool, bool]]:
    return {c.name: (c.ok, c.blocking) for c in checks}


def test_preflight_goes_on_a_healthy_three_manager_swarm() -> None:
    from hadrill.clients.swarm import SwarmService
    from hadrill.preflight import PreflightResult
    from hadrill.preflight_swarm import swarm_checks

    nodes = [_node("m1", ms="Leader"), _node("m2"), _node("m3"), _node("w1", role="worker")]
    checks = swarm_checks(nodes, {"web": SwarmService("web", "replicated", 3, 3)}, "24.0")
    assert all(ok for ok, _ in _by_name(checks).values()), checks
    assert PreflightResult("24.0", "20.10.24", 0.0, checks).go


def test_preflight_refuses_a_swarm_that_loses_quorum_with_one_manager_down() -> None:
    from hadrill.clients.swarm import SwarmService
    from hadrill.preflight import PreflightResult
    from hadrill.preflight_swarm import swarm_checks

    # 3 managers, one already Unreachable: 2 reachable, one restarting leaves 1 < majority 2
    nodes = [_node("m1", ms="Leader"), _node("m2"), _node("m3", status="Down", ms="Unreachable")]
    checks = swarm_checks(nodes, {"web": SwarmService("web", "replicated", 2, 3)}, "24.0")
    verdicts = _by_name(checks)
    assert verdicts["quorum"] == (False, True) and verdicts["nodes Ready"] == (False, True)
    assert verdicts["services at replicas"] == (False, True)  # 2/3
    quorum = next(c for c in checks if c.name == "quorum")
    assert "1 of 3 left < majority 2" in " ".join(quorum.details)
    assert not PreflightResult("24.0", "20.10.24", 0.0, checks).go

    # two managers: a restart leaves 1 of 2, no majority (2), whatever their health
    two = swarm_checks([_node("m1", ms="Leader"), _node("m2")], {}, "24.0")
    assert _by_name(two)["quorum"] == (False, True)


def test_preflight_skew_warns_and_a_downgrade_blocks() -> None:
    from hadrill.preflight_swarm import engine_version, swarm_checks

    assert engine_version("20.10.24+dfsg1") == (20, 10, 24) and engine_version("v24.0") == (24, 0)
    nodes = [_node("m1", ms="Leader"), _node("m2", engine="24.0.7"), _node("m3")]
    verdicts = _by_name(swarm_checks(nodes, {}, "24.0"))
    assert verdicts["version skew"] == (False, False)  # a warning: the upgrade may be finishing it
    assert verdicts["target version"] == (True, True)  # 24.0.7 is 24.0 at the precision asked
    assert _by_name(swarm_checks(nodes, {}, "20.10"))["target version"] == (False, True)  # m2 would go back


def test_inventory_from_swarm_names_nodes_like_their_manager() -> None:
    from hadrill.providers_swarm import _subnet_of, _template_for

    assert _template_for("docker://lab-m1") == "docker://{hostname}"
    assert _template_for("ssh://root@10.0.0.1") == "ssh://root@{addr}"
    assert _subnet_of(["10.213.7.81", "10.213.7.87"]) == "10.213.7.0/24"  # inside one /24: that /24
    assert _subnet_of(["10.1.0.5", "10.1.3.9"]) == "10.1.0.0/22"  # 0..3 in the third octet: a /22
    assert _subnet_of(["10.0.0.1", "192.168.0.1"]) is None  # no /16 or smaller holds both


# -- the refusal of changes without quorum ---------------------------------------------------------
# dockerd's own answer to a change when Raft has no leader (moby daemon/cluster/errors.go, errNoLeader),
# as the CLI prints it: its last 120 characters begin after "does", the marker's first word
NO_LEADER_ANSWER = (
    "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's "
    "possible that too few managers are online. Make sure more than half of the managers are online.\n"
)


@pytest.mark.parametrize(
    ("rc", "stderr", "ok", "said"),
    [
        (1, NO_LEADER_ANSWER, True, "changes refused without quorum: m1 ("),
        (124, "", True, "changes refused without quorum: m1 (no answer within 10 s)"),
        (0, "", False, "m1 ACCEPTED a service update without quorum"),
        (1, "Error response from daemon: service web not found\n", False, "not measured: m1 failed the update"),
    ],
)
def test_a_refusal_is_read_from_the_whole_answer(
    rc: int, stderr: str, ok: bool, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hadrill.clients.targets import Result
    from hadrill.inventory import Cluster, Inventory, Member, Node
    from hadrill.recovery import swarm as recovery

    class Cli:
        def __init__(self, url: str, timeout: float) -> None: ...

        def run(self, command: str) -> Result:
            return Result(rc, "", stderr)

    monkeypatch.setattr(recovery, "SwarmCli", Cli)
    members = [Member(name="m1", node="m1")]
    swarm = Cluster(name="swarm", type="swarm", members=members, failure_budget=0, settings={"service": "web"})
    inv = Inventory(platform="lab:s", source="lab", nodes=[Node(name="m1", url="docker://m1")], clusters=[swarm])
    verdict = recovery.control_plane_refuses_changes(inv, swarm, ["m1"], bound_s=10)
    assert (verdict.ok, verdict.detail.startswith(said)) == (ok, True), verdict.detail
