"""Killing a worker that runs the application: which worker is picked from the API's pod list, what the
rescheduling check reads from pods and EndpointSlices, and the Service probe's fail-over between nodes.

Inputs are hand-written API objects; the expected answers are counted by hand in each test. The probe
test uses real HTTP servers on loopback.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from hadrill.errors import ProbeFailed, TargetError
from hadrill.faults.kinds import fault_class
from hadrill.faults.kube_worker import WorkerPowerOff, app_pods_by_worker, pick_app_worker
from hadrill.probes.kube_app import ServiceHttpProbe
from hadrill.recovery.kube_app import ready_elsewhere, routed_to

W1, W2, W3, M1 = "lab-worker", "lab-worker2", "lab-worker3", "lab-control-plane"
WORKERS = [W1, W2, W3]


def pod(name: str, node: str, *, ready: bool = True, phase: str = "Running", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-03T22:00:00Z"
    return {
        "metadata": meta,
        "spec": {"nodeName": node},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_counts_only_ready_pods_not_being_deleted_on_workers() -> None:
    pods = [
        pod("a", W1),
        pod("b", W2),
        pod("c", W2),
        pod("d", W2, deleting=True),  # evicted: not counted
        pod("e", W3, ready=False),  # not Ready yet: not counted
        pod("f", W3, phase="Pending"),
        pod("g", M1),  # not a worker
        {"metadata": {"name": "h"}, "spec": {}, "status": {"phase": "Pending"}},  # not scheduled
    ]
    assert app_pods_by_worker(pods, WORKERS) == {W1: 1, W2: 2, W3: 0}


def test_picks_the_worker_running_the_most_pods() -> None:
    pods = [pod("a", W1), pod("b", W2), pod("c", W2)]
    assert pick_app_worker(pods, WORKERS) == W2


def test_a_tie_goes_to_the_first_worker_by_name() -> None:
    pods = [pod("a", W3), pod("b", W2), pod("c", W3), pod("d", W2)]  # 2 and 2
    assert pick_app_worker(pods, WORKERS) == W2


def test_a_worker_held_by_an_open_fault_is_skipped() -> None:
    pods = [pod("a", W1), pod("b", W2), pod("c", W2)]
    assert pick_app_worker(pods, WORKERS, held=[W2]) == W1


def test_no_worker_running_a_ready_pod_is_an_error_that_says_so() -> None:
    pods = [pod("a", W1, ready=False), pod("b", M1)]
    with pytest.raises(TargetError, match=r"no worker to kill that runs a pod of web: none of lab-worker, "):
        pick_app_worker(pods, WORKERS, app="web")


def test_every_running_worker_held_is_an_error_that_names_them() -> None:
    with pytest.raises(TargetError, match=r"those that do \(lab-worker\) are already held by open faults"):
        pick_app_worker([pod("a", W1)], WORKERS, held=[W1])


def test_ready_elsewhere_counts_ready_pods_off_the_lost_node() -> None:
    pods = [
        pod("old-1", W1, ready=False, deleting=True),  # on the dead node, evicted
        pod("old-2", W1, ready=False),  # on the dead node, marked not Ready
        pod("kept", W2),
        pod("new-1", W2),
        pod("new-2", W2, ready=False),  # started, readiness probe not passed yet
        pod("unscheduled", "", phase="Pending", ready=False),
    ]
    assert ready_elsewhere(pods, W1) == ["kept", "new-1"]


def test_routed_to_lists_the_endpoints_kube_proxy_still_uses_on_a_node() -> None:
    slices = [
        {
            "endpoints": [
                {"addresses": ["10.244.2.2"], "nodeName": W1, "conditions": {"ready": True}},
                {"addresses": ["10.244.2.3"], "nodeName": W1, "conditions": {"ready": False}},  # dropped
                {"addresses": ["10.244.1.2"], "nodeName": W2, "conditions": {"ready": True}},
            ]
        },
        {"endpoints": [{"addresses": ["10.244.2.9"], "nodeName": W1, "conditions": {}}]},  # unset = ready
        {"endpoints": None},
    ]
    assert routed_to(slices, W1) == ["10.244.2.2", "10.244.2.9"]
    assert routed_to(slices, W3) == []


def test_the_worker_fault_kind_is_registered_for_recovery() -> None:
    assert fault_class("kube.worker_power_off") is WorkerPowerOff


# -- the Service probe's fail-over, against real servers on loopback ------------------------------------
def _serve(status: int, body: bytes) -> tuple[http.server.HTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture
def closed_url() -> str:
    """A loopback port nothing listens on: the connection is refused (a node not accepting)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def pod_url() -> Iterator[str]:
    server, url = _serve(200, b"web-abc\n")
    yield url
    server.shutdown()


def test_probe_fails_over_to_the_next_node_and_sticks_to_it(closed_url: str, pod_url: str) -> None:
    probe = ServiceHttpProbe([closed_url, pod_url], timeout=2.0)
    assert probe.sample() == {"node": pod_url, "pod": "web-abc", "tried": 2}
    assert probe.sample() == {"node": pod_url, "pod": "web-abc", "tried": 1}  # starts where it answered


def test_probe_does_not_retry_an_answer_it_got(pod_url: str) -> None:
    failing, url = _serve(503, b"")
    try:
        probe = ServiceHttpProbe([url, pod_url], timeout=2.0)
        with pytest.raises(ProbeFailed, match=r"HTTP 503"):
            probe.sample()  # the node answered: the client saw an error, no other node is asked
    finally:
        failing.shutdown()


def test_probe_fails_when_no_node_accepts(closed_url: str) -> None:
    with pytest.raises(ProbeFailed, match=r"no node accepted the connection"):
        ServiceHttpProbe([closed_url, closed_url], timeout=2.0).sample()
