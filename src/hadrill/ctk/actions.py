"""Chaos Toolkit actions (method steps and rollbacks). Each is a plain function: the signature is
the schema Chaos Toolkit's discovery reads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hadrill.ctk import current_run, steady_state
from hadrill.errors import ConfigError
from hadrill.faults.container import Action
from hadrill.faults.etcd import kill_member as _kill_member
from hadrill.faults.etcd import partition_member as _partition_member
from hadrill.faults.etcd import pick_member
from hadrill.faults.gluster import Mode as BrickMode
from hadrill.faults.gluster import pick_servers
from hadrill.faults.gluster import stop_brick as _stop_brick
from hadrill.faults.power import Driver
from hadrill.faults.power import power_off as _power_off
from hadrill.faults.vip import Mode
from hadrill.faults.vip import fail_vip as _fail_vip
from hadrill.probes.gluster import gluster_read_back_for, gluster_write_probe
from hadrill.probes.nfs import nfs_read_back_for, nfs_write_probe

__all__ = [
    "arm_guards",
    "etcd_restore_drill",
    "fail_vip",
    "heal",
    "kill_control_plane_node",
    "kill_member",
    "lose_quorum",
    "partition_member",
    "power_off_node",
    "start_app_probe",
    "start_gluster_probes",
    "start_kube_probes",
    "start_kube_ready_probe",
    "start_nfs_probes",
    "start_probes",
    "start_promql_probe",
    "stop_brick",
    "stop_probes",
    "verify_acked_writes",
    "watch_deployment",
]


def start_probes(
    cluster: str = "etcd", probes: list[str] | None = None, configuration: dict[str, Any] | None = None
) -> list[str]:
    """Start the cluster's probes (etcd: ``write`` and ``read``) sampling in the background."""
    run = current_run(configuration)
    run.start_etcd_probes(cluster, tuple(probes or ("write", "read")))
    return steady_state(run)


def start_nfs_probes(
    cluster: str = "nfs", duration: float = 120.0, configuration: dict[str, Any] | None = None
) -> list[str]:
    """Start the NFS write probe on the client node (stops by itself after ``duration`` s)."""
    run = current_run(configuration)
    probe = nfs_write_probe(run.inventory, cluster, interval=run.interval, duration=duration)
    run.add_probe(probe.name, probe.start(), read_back=nfs_read_back_for(run.inventory, cluster))
    return steady_state(run, 2.0)  # longer: the script starts and mounts first


def fail_vip(
    cluster: str = "nfs",
    mode: Mode = "kill",
    time_limit: float = 120.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Take down the server holding the VIP (``kill``, ``stop-service``/``stop-nfs`` or ``link-down``); returns
    its name."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    fault = _fail_vip(run.inventory, c, mode=mode, time_limit=time_limit, force=force)
    run.inject(fault)
    return fault.members[0]


def partition_member(
    cluster: str = "etcd",
    member: str = "follower",
    time_limit: float = 120.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Cut one member (``leader``, ``follower``, ``random`` or a name) from its peers; returns it."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    m = pick_member(run.inventory, c, member, ledger=run.ledger)
    run.inject(_partition_member(run.inventory, c, m, time_limit=time_limit, force=force))
    return m.name


def kill_member(
    cluster: str = "etcd",
    member: str = "leader",
    action: Action = "kill",
    time_limit: float = 120.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Kill (or stop, pause) the node of one member; returns the member's name."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    m = pick_member(run.inventory, c, member, ledger=run.ledger)
    run.inject(_kill_member(run.inventory, c, m, action=action, time_limit=time_limit, force=force))
    return m.name


def power_off_node(
    node: str,
    off: Driver | None = None,
    on: Driver | None = None,
    time_limit: float = 120.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Cut a node's power (``off``: lab, ssh, ipmi or redfish; ``on``: lab, ipmi or redfish; default: the
    node's BMC when the inventory names one); the revert powers it on. Returns the node."""
    run = current_run(configuration)
    run.inject(_power_off(run.inventory, node, off=off, on=on, time_limit=time_limit, force=force))
    return node


def arm_guards(guards: list[dict[str, Any]] | None = None, configuration: dict[str, Any] | None = None) -> list[str]:
    """Arm stop conditions (``promql``, ``alert`` or ``probe`` + ``availability``; see
    :mod:`hadrill.probes.guards`): when one trips, every fault is reverted at once and the run stops."""
    watch = current_run(configuration).arm_guards(guards or [])
    return [g.name for g in watch.guards]


def start_promql_probe(
    expr: str, name: str = "promql", interval: float = 1.0, configuration: dict[str, Any] | None = None
) -> list[str]:
    """Sample a PromQL expression every ``interval`` s into the probes' stream: a sample is good when it
    returns something and nothing it returns is 0 (``sum(up{service="etcd"}) >= 2``)."""
    from hadrill.probes.promql import PromqlProbe

    run = current_run(configuration)
    client = run.prometheus()
    if client is None:
        raise ConfigError("inventory", "monitoring", "the platform's Prometheus URL (a PromQL probe reads it)")
    run.start_probe(PromqlProbe(client, expr, name=name), interval=interval, timeout=min(interval, 2.0))
    return sorted(run.samplers)


def heal(configuration: dict[str, Any] | None = None) -> None:
    """Revert every fault of the run (idempotent: also the experiment's rollback)."""
    current_run(configuration).heal()


def stop_probes(
    settle: float = 2.0, until_answered_s: float = 30.0, configuration: dict[str, Any] | None = None
) -> dict[str, int]:
    """Keep sampling ``settle`` seconds after healing, then stop; returns sample counts. After the heal,
    a probe whose last sample failed samples up to ``until_answered_s`` more, so that outage's end is
    measured (and judged against ``max_outage_s``) instead of cut off."""
    run = current_run(configuration)
    run.stop_probes(settle, until_answered_s)
    return {n: len(s.history) for n, s in run.samplers.items()}


def verify_acked_writes(configuration: dict[str, Any] | None = None) -> dict[str, int]:
    """Read back every acknowledged write; returns lost counts per write probe."""
    lost = current_run(configuration).verify_writes()
    return {n: len(k) for n, k in lost.items()}


def start_gluster_probes(
    cluster: str = "gluster", duration: float = 180.0, configuration: dict[str, Any] | None = None
) -> list[str]:
    """Start the Gluster write probe on the client node: one fsync'd file per interval, for at most ``duration`` s."""
    run = current_run(configuration)
    probe = gluster_write_probe(run.inventory, cluster, interval=run.interval, duration=duration).start()
    run.add_probe(probe.name, probe, read_back=gluster_read_back_for(run.inventory, cluster))
    return steady_state(run)


def stop_brick(
    cluster: str = "gluster",
    server: str = "random",
    mode: BrickMode = "kill-brick",
    time_limit: float = 120.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Take one server's brick away (``kill-brick``, ``kill-node`` or ``pause-node``); returns the server."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    servers = pick_servers(c, server, ledger=run.ledger)
    run.inject(_stop_brick(run.inventory, c, servers, mode=mode, time_limit=time_limit, force=force))
    return servers[0]


def lose_quorum(
    cluster: str = "gluster",
    mode: BrickMode = "kill-brick",
    time_limit: float = 120.0,
    configuration: dict[str, Any] | None = None,
) -> list[str]:
    """Take a majority of the bricks away (2 of 3), forced past the failure budget; returns the servers."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    servers = pick_servers(c, "random", count=len(c.members) // 2 + 1, ledger=run.ledger)
    run.inject(_stop_brick(run.inventory, c, servers, mode=mode, time_limit=time_limit, force=True))
    return servers


def start_kube_probes(
    cluster: str = "kubernetes", app_entry: str = "first-worker", configuration: dict[str, Any] | None = None
) -> list[str]:
    """Start the API readiness probe and the ConfigMap write probe, through the cluster's API address, and
    when the cluster runs an application (``settings.app_url``: the kubeadm lab's) an HTTP probe of it
    through its Service, so every objective is also judged on what users see. ``app_entry``: the Service's
    NodePort on the first worker (``first-worker``), or on every worker (``every-worker``,
    ``settings.app_urls``), failing over between them as a load balancer in front of the nodes does: for
    faults that take a worker away (:mod:`hadrill.probes.kube_app`)."""
    from hadrill.clients.kube import kube_api
    from hadrill.probes.kube import KubeReadyProbe, KubeWriteProbe
    from hadrill.probes.kube_app import ServiceHttpProbe
    from hadrill.probes.net import HTTPProbe
    from hadrill.probes.sampler import Sampler

    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    if app_entry not in ("first-worker", "every-worker"):
        raise ConfigError("experiment", "app_entry", "first-worker or every-worker", app_entry)
    if app_entry == "every-worker" and not c.settings.get("app_urls"):
        raise ConfigError("inventory", f"clusters[{c.name}].settings.app_urls", "the app's URL on every worker")
    run.start_probe(KubeReadyProbe(kube_api(c, timeout=1.0), name=f"{c.name}-ready"))
    if app_entry == "every-worker":
        urls = [str(u) for u in c.settings["app_urls"]]
        run.start_probe(ServiceHttpProbe(urls, timeout=1.0, name=f"{c.name}-app"))
    elif c.settings.get("app_url"):
        run.start_probe(HTTPProbe(str(c.settings["app_url"]), timeout=1.0, name=f"{c.name}-app"))
    write = KubeWriteProbe(kube_api(c, timeout=1.0), prefix=f"w-{run.id.rsplit('-', 1)[1]}", name=f"{c.name}-write")
    write.prepare()
    sampler = Sampler(write, interval=run.interval, timeout=1.0).start()
    run.add_probe(write.name, sampler, read_back=lambda details: write.read_back())
    return steady_state(run)


def start_app_probe(cluster: str = "kubernetes", configuration: dict[str, Any] | None = None) -> list[str]:
    """Start only the HTTP probe of the cluster's application through its Service (``settings.app_url``):
    for faults aimed at the application, whose question is its SLO, not the API's."""
    from hadrill.probes.net import HTTPProbe

    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    if not c.settings.get("app_url"):
        raise ConfigError("inventory", f"clusters[{c.name}].settings.app_url", "the application's URL (kubeadm lab)")
    run.start_probe(HTTPProbe(str(c.settings["app_url"]), timeout=1.0, name=f"{c.name}-app"))
    return steady_state(run)


def kill_control_plane_node(
    cluster: str = "kubernetes",
    which: str = "etcd-leader",
    action: Action = "kill",
    time_limit: float = 120.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Kill (or stop, pause) a master: ``etcd-leader``, ``controller-manager``, ``scheduler``, ``random`` or a
    name; its revert restarts it and waits for its etcd member and API server. Returns the node's name."""
    from hadrill.faults.kube import kill_control_plane_node as _kill

    run = current_run(configuration)
    fault = _kill(run.inventory, cluster, which, action=action, time_limit=time_limit, force=force, ledger=run.ledger)
    run.inject(fault)
    return fault.members[0]


def start_kube_ready_probe(
    cluster: str = "kubernetes", app: bool = False, configuration: dict[str, Any] | None = None
) -> list[str]:
    """Start only the API readiness probe (/readyz through the cluster's load balancer), in the background;
    with ``app``, also the HTTP probe of the cluster's application when it runs one (``settings.app_url``)."""
    from hadrill.clients.kube import kube_api
    from hadrill.probes.kube import KubeReadyProbe
    from hadrill.probes.net import HTTPProbe

    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    run.start_probe(KubeReadyProbe(kube_api(c, timeout=1.0), name=f"{cluster}-ready"), timeout=1.0)
    if app and c.settings.get("app_url"):
        run.start_probe(HTTPProbe(str(c.settings["app_url"]), timeout=1.0, name=f"{c.name}-app"))
    return steady_state(run)


def etcd_restore_drill(
    cluster: str = "kubernetes",
    etcd_cluster: str = "k8s-etcd",
    writes_before: int = 20,
    writes_after: int = 10,
    rto_objective_s: float = 180.0,
    time_limit: float = 600.0,
    keep_snapshot: str = "",
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The etcd backup/restore drill (:mod:`hadrill.restore`): its verdicts become the run's checks.
    Its snapshots (every Secret of the cluster) are deleted at the end unless ``keep_snapshot`` names a
    directory to keep the host's copy in (else the configuration's ``hadrill_keep_snapshot``, which
    ``--keep-snapshot DIR`` sets, else ``$HADRILL_KEEP_SNAPSHOT``)."""
    from hadrill.restore import run_restore_drill

    run = current_run(configuration)
    keep_snapshot = keep_snapshot or str(
        (configuration or {}).get("hadrill_keep_snapshot") or os.environ.get("HADRILL_KEEP_SNAPSHOT") or ""
    )
    result = run_restore_drill(
        run.inventory, cluster=cluster, etcd_cluster=etcd_cluster, writes_before=writes_before,
        writes_after=writes_after, rto_objective_s=rto_objective_s, time_limit=time_limit,
        fault_context=run.fault, log=lambda text: run.event("restore", text),
        keep_snapshot=Path(keep_snapshot) if keep_snapshot else None, ledger=run.ledger,
    )  # fmt: skip
    for verdict in result.verdicts:
        run.check(verdict)
    return result.to_dict()


def watch_deployment(
    namespace: str,
    name: str,
    min_available: int = 1,
    cluster: str = "kubernetes",
    configuration: dict[str, Any] | None = None,
) -> list[str]:
    """Sample the Deployment's available replicas in the background: a sample fails below ``min_available``."""
    from hadrill.clients.kube import kube_api
    from hadrill.probes.kube import DeploymentAvailableProbe

    run = current_run(configuration)
    api = kube_api(run.inventory.cluster(cluster), timeout=1.0)
    run.start_probe(DeploymentAvailableProbe(api, namespace, name, min_available))
    return steady_state(run)
