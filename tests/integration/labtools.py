"""Helpers the integration modules share (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from hadrill.lab.lab import Lab
from hadrill.lab.labfile import LabFile

__all__ = ["Harness", "assert_kube_scraped", "engine_exec", "fresh_lab", "one_node_lab", "wait_until"]


def fresh_lab(spec: LabFile) -> Iterator[Lab]:
    """A module's own lab (owner pytest): a killed earlier run's leftover is removed first, so paused
    containers or rules never leak in; always taken down after. Use with ``yield from``."""
    lab = Lab(spec, owner="pytest")
    try:
        lab.down()
        lab.up()
        yield lab
    finally:
        lab.down()


def one_node_lab(factory: Any, purpose: str) -> str:
    """A module's one-member etcd lab (``module_lab_factory``), brought up: its node's container name."""
    from hadrill.inventory import load_inventory

    lab = factory.make(purpose, members=1)
    factory.up(lab)
    [url] = [n.url for n in load_inventory(lab.inventory_path).nodes]
    return str(url.removeprefix("docker://"))


def engine_exec(node: str, command: str) -> str:
    """What a node says through the engine (``docker exec``): the oracle, independent of SSH."""
    _, out = docker.from_env().containers.get(node).exec_run(["sh", "-c", command])
    return str(out.decode(errors="replace").strip())


def wait_until(what: str, problem: Callable[[], str | None], *, timeout: float, interval: float = 0.3) -> float:
    """Poll ``problem`` (None when fine) until fine; bounded in time and attempts. Returns seconds waited."""
    start = time.monotonic()
    last: str | None = "never checked"
    for _ in range(int(timeout / interval) + 2):
        last = problem()
        if last is None:
            return time.monotonic() - start
        if time.monotonic() - start >= timeout:
            break
        time.sleep(interval)
    pytest.fail(f"{what}: not true after {timeout:.0f} s ({last})")


class Harness:
    """A separate process that injects one fault through hadrill, prints ``INJECTED <id> <deadline>``
    and sleeps, to be SIGKILLed: what the deadman and ``recover`` must clean up after."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log.open("w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=os.environ.copy(),  # HADRILL_STATE_DIR: the module's isolated ledger
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_injected(self, timeout: float = 30.0) -> tuple[str, float]:
        """Block until the harness says INJECTED (bounded); return the fault id and its deadline."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line.startswith("INJECTED"):
                _, fault_id, fault_deadline = line.split()
                return fault_id, float(fault_deadline)
        self.kill()
        pytest.fail(f"harness did not inject within {timeout:.0f} s: {self.stderr()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, and reap: a zombie still counts as alive to recover()."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        self.log.close()

    def stderr(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text()


def assert_kube_scraped(
    inv: Any, lab: str, job: str, addresses: set[str], metric: str, *, allowed: str, denied: str, ca: bool
) -> None:
    """Prometheus's own view: every address of ``job`` scraped up and ``metric`` stored per address;
    then the monitoring's certificate at one address, asked by hand: ``allowed`` answers 200, ``denied``
    403 (the component's own authorization: the certificate reads metrics, not the cluster)."""
    import requests
    import urllib3

    from hadrill.clients.prometheus import PrometheusClient
    from hadrill.lab.kube_pki import scrape_dir

    prom = PrometheusClient(inv.monitoring.prometheus, timeout=10.0)

    def scraped() -> str | None:
        up = {labels["instance"]: value for labels, value in prom.query(f'up{{job="{job}"}}')}
        stored = {labels["instance"] for labels, _ in prom.query(f'count by (instance) ({metric}{{job="{job}"}})')}
        return None if up == dict.fromkeys(addresses, 1.0) and stored == addresses else f"up {up}, {metric} {stored}"

    wait_until(f"Prometheus scrapes every {job}", scraped, timeout=60, interval=1.0)
    if job == "kube-apiserver":  # and its /readyz, probed with the same certificate, says ready

        def ready() -> str | None:
            seen = {labels["instance"]: v for labels, v in prom.query('probe_success{job="kube-apiserver-ready"}')}
            return None if seen == dict.fromkeys(addresses, 1.0) else f"probe_success {seen}"

        wait_until("every API server ready to the /readyz probe", ready, timeout=60, interval=1.0)
    tls = scrape_dir(lab)
    assert (tls / "client.key").stat().st_mode & 0o077 == 0 and tls.stat().st_mode & 0o077 == 0
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # a kubelet's self-signed certificate
    cert, verify = (str(tls / "client.crt"), str(tls / "client.key")), str(tls / "ca.crt") if ca else False
    address = sorted(addresses)[0]
    assert requests.get(f"https://{address}{allowed}", cert=cert, verify=verify, timeout=10).status_code == 200
    r = requests.get(f"https://{address}{denied}", cert=cert, verify=verify, timeout=10)
    assert r.status_code == 403, (r.status_code, r.text[:200])
