"""The lab's monitoring: Prometheus, Alertmanager, Pushgateway, node and blackbox exporters in one container.

All five come from Debian's packages (Prometheus 2.42 in bookworm). Prometheus scrapes every lab part
that exposes metrics (a part says which through ``metrics_targets(ctx)``: etcd's members, the NFS and
Gluster servers' lab exporters) or can be probed (``probe_targets(ctx)``: the API servers) and
evaluates the alert rules shipped in :mod:`hadrill.lab.monitoring_files`, with lab-sized intervals
(1 s scrapes and evaluations, ``for: 2s``). The inventory names the Prometheus and Alertmanager URLs,
as a real platform's inventory names its own.

Address: .90 of the lab's main network. ``--init`` reaps the daemons; ``--web.enable-lifecycle`` lets
a test reload a changed rule file (``POST /-/reload``).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from hadrill.errors import LabError
from hadrill.inventory import Cluster, Monitoring, Node
from hadrill.lab.images import ImageSpec
from hadrill.lab.kube_pki import scrape_dir
from hadrill.lab.labfile import MonitoringPart
from hadrill.lab.monitoring_files import (
    ALERTMANAGER_YML,
    BLACKBOX_KUBE_YML,
    BLACKBOX_YML,
    ENTRYPOINT,
    KUBE_JOBS_YML,
    KUBE_TLS_DIR,
    LAB_RULES,
    PROMETHEUS_YML,
    RESULTS_RULES,
)
from hadrill.lab.runtime import LabContext, StatusRow

__all__ = ["MONITORING_IMAGE", "RULES_DIR", "TEXTFILE_DIR", "MetricsTarget", "MonitoringService"]

_ENTRYPOINT_PATH = "/usr/local/bin/hadrill-monitoring.sh"
RULES_DIR = "/etc/prometheus/rules"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"  # the node exporter's textfile collector reads it
MONITORING_IMAGE = ImageSpec(
    name="monitoring",
    packages=(
        "prometheus", "prometheus-alertmanager", "prometheus-pushgateway", "prometheus-node-exporter",
        "prometheus-blackbox-exporter", "ca-certificates", "procps",
    ),
    files={
        "/etc/prometheus/prometheus.yml": PROMETHEUS_YML,
        "/etc/prometheus/alertmanager.yml": ALERTMANAGER_YML,
        "/etc/prometheus/hadrill-blackbox.yml": BLACKBOX_YML,
        "/etc/prometheus/hadrill-kube-jobs.yml": KUBE_JOBS_YML,
        "/etc/prometheus/hadrill-blackbox-kube.yml": BLACKBOX_KUBE_YML,
        f"{RULES_DIR}/lab.yml": LAB_RULES,
        f"{RULES_DIR}/hadrill-results.yml": RESULTS_RULES,
        _ENTRYPOINT_PATH: ENTRYPOINT,
    },
    dockerfile=(f'CMD ["{_ENTRYPOINT_PATH}"]',),
)  # fmt: skip
_OFFSET = 90
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
PUSHGATEWAY_PORT = 9091

# (service, "host:port") pairs a lab part exposes metrics on.
MetricsTarget = tuple[str, str]


def _get_json(url: str, timeout: float = 2.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


class MonitoringService:
    """Starts the monitoring container, waits until Prometheus scrapes every target, describes it."""

    name = "monitoring"

    def __init__(
        self,
        part: MonitoringPart,
        targets: Callable[[LabContext], Sequence[MetricsTarget]],
        probes: Callable[[LabContext], Sequence[MetricsTarget]] = lambda _ctx: [],
        kube: Callable[[LabContext], Sequence[MetricsTarget]] = lambda _ctx: [],
        *,
        listed: bool = True,
    ) -> None:
        """``targets``: every (service, host:port) the other parts expose metrics on; ``probes``: every
        (service, host:port) whose only sign of life is accepting a TCP connection (blackbox probed);
        ``kube``: every (job: ``kube-apiserver`` or ``kubelet``, host:port) scraped over TLS with the lab's client
        certificate (:func:`hadrill.lab.kube_pki.scrape_dir`, written by the Kubernetes part);
        ``listed``: the container is an inventory node (not in a lab reached over ssh://, whose nodes
        are all hosts: the inventory names the monitoring by its URLs, as a real fleet's does)."""
        self.part = part
        self.targets = targets
        self.probes = probes
        self.kube = kube
        self.listed = listed

    def images(self) -> list[ImageSpec]:
        return [MONITORING_IMAGE]

    def container(self, ctx: LabContext) -> tuple[str, str]:
        return f"{ctx.name}-monitoring", ctx.ip(_OFFSET)

    def urls(self, ctx: LabContext) -> dict[str, str]:
        _, ip = self.container(ctx)
        return {
            "prometheus": f"http://{ip}:{PROMETHEUS_PORT}",
            "alertmanager": f"http://{ip}:{ALERTMANAGER_PORT}",
            "pushgateway": f"http://{ip}:{PUSHGATEWAY_PORT}",
        }

    @staticmethod
    def file_sd(targets: Sequence[MetricsTarget]) -> str:
        """``targets`` as a Prometheus file_sd document (one group per service)."""
        groups: dict[str, list[str]] = {}
        for service, address in targets:
            groups.setdefault(service, []).append(address)
        return json.dumps([{"targets": t, "labels": {"service": s}} for s, t in sorted(groups.items())])

    def up(self, ctx: LabContext) -> None:
        name, ip = self.container(ctx)
        env = {
            "HADRILL_SCRAPE_TARGETS": self.file_sd(self.targets(ctx)),
            "HADRILL_PROBE_TARGETS": self.file_sd(self.probes(ctx)),
        }
        volumes = {f"{name}-data": {"bind": "/var/lib/prometheus", "mode": "rw"}}
        kube = self.kube(ctx)
        if kube:  # the Kubernetes part writes the client certificate there (maybe after this starts)
            env["HADRILL_APISERVER_TARGETS"] = self.file_sd([t for t in kube if t[0] == "kube-apiserver"])
            env["HADRILL_KUBELET_TARGETS"] = self.file_sd([t for t in kube if t[0] == "kubelet"])
            tls = scrape_dir(ctx.name)
            tls.mkdir(parents=True, exist_ok=True, mode=0o700)
            volumes[str(tls)] = {"bind": KUBE_TLS_DIR, "mode": "ro"}
        ctx.ensure_container(
            name, MONITORING_IMAGE.ref, "monitoring", ip, init=True, environment=env, volumes=volumes
        )  # fmt: skip

    def _problem(self, ctx: LabContext) -> str | None:
        """Why the monitoring is not ready yet (None when every lab target has been scraped up)."""
        urls = self.urls(ctx)
        try:
            _get_json(f"{urls['alertmanager']}/api/v2/status")
            data = _get_json(f"{urls['prometheus']}/api/v1/targets?state=active")
            rules = _get_json(f"{urls['prometheus']}/api/v1/rules")
            up = _get_json(f"{urls['prometheus']}/api/v1/query?query=up%3D%3D1")
        except (OSError, urllib.error.URLError, ValueError) as e:
            return f"not answering: {e}"
        active = data.get("data", {}).get("activeTargets", []) if isinstance(data, dict) else []
        kube = self.kube(ctx)
        wanted = set(kube) | {("kube-apiserver-ready", address) for job, address in kube if job == "kube-apiserver"}
        wanted |= {("lab", address) for _, address in self.targets(ctx)}
        wanted |= {("lab-probe", address) for _, address in self.probes(ctx)}
        seen = {
            (t.get("labels", {}).get("job"), t.get("labels", {}).get("instance")): t.get("health")
            for t in active if isinstance(t, dict)
        }  # fmt: skip
        # A target reads "up" as soon as its scrape answers, before the scrape's samples are committed:
        # the ``up`` series the rules and the tests query must be there too.
        series = up.get("data", {}).get("result", []) if isinstance(up, dict) else []
        metrics = [r.get("metric", {}) for r in series if isinstance(r, dict)]
        queried = {(m.get("job"), m.get("instance")) for m in metrics}
        missing = sorted(f"{a} ({job})" for job, a in wanted if seen.get((job, a)) != "up" or (job, a) not in queried)
        groups = rules.get("data", {}).get("groups", []) if isinstance(rules, dict) else []
        if not groups:
            return "no rule group loaded"
        return f"targets not up yet: {', '.join(missing)}" if missing else None

    def wait_healthy(self, ctx: LabContext, timeout: float = 90.0) -> None:
        """Prometheus and Alertmanager answer, the rules are loaded, every lab target is scraped up.

        The parts start at the same time as this one: etcd may come up after Prometheus, so this waits
        for its targets rather than reporting them down.
        """
        deadline = time.monotonic() + timeout
        problem: str | None = "not checked"
        while time.monotonic() < deadline:
            problem = self._problem(ctx)
            if problem is None:
                return
            time.sleep(0.5)
        raise LabError(f"monitoring of lab {ctx.name} not healthy after {timeout:.0f} s: {problem}")

    def inventory(self, ctx: LabContext) -> tuple[list[Node], list[Cluster]]:
        name, ip = self.container(ctx)
        if not self.listed:
            return [], []
        return [Node(name=name, url=f"docker://{name}", roles=["monitoring"], addresses={ctx.network_name: ip})], []

    def monitoring(self, ctx: LabContext) -> Monitoring:
        urls = self.urls(ctx)
        return Monitoring(
            prometheus=urls["prometheus"], alertmanager=urls["alertmanager"], pushgateway=urls["pushgateway"]
        )

    def status(self, ctx: LabContext) -> list[StatusRow]:
        name, ip = self.container(ctx)
        states = {c.name: c.status for c in ctx.containers("monitoring")}
        problem = self._problem(ctx) if states.get(name) == "running" else "not running"
        health = "healthy" if problem is None else "unhealthy"
        return [StatusRow(name, "prometheus+alertmanager", ip, states.get(name, "missing"), health, problem or "")]
