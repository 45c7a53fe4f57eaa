"""What the operators promised: which checks apply to which nodes, and with which settings.

Defaults live here, in code. An inventory may carry a ``compliance:`` section, and ``hadrill check
--policy FILE`` (or ``pytest compliance --hadrill-policy FILE``) reads a policy file; both have the
same shape, and the file's values win, suite by suite::

    api_version: hadrill/v1
    kind: CompliancePolicy
    compliance:
      docker:                      # CIS Docker daemon settings
        roles: [docker-host]       # nodes with any of these roles...
        nodes: []                  # ...and these nodes by name
        daemon_json: /etc/docker/daemon.json
        docker_host: null          # the daemon's socket for `docker -H` (default: the CLI's default)
        pidfile: /var/run/docker.pid
        remote_log_required: false
      network:                     # every network the inventory marks storage: true
        mtu: 9000                  # expected when the network declares no mtu
        probe: true                # don't-fragment ping of (mtu - 28) bytes between peers
      scst: {roles: [scst, iscsi-target], config: /etc/scst.conf, sysfs_root: /sys/kernel/scst_tgt}
      nfs_mounts:
        roles: [nfs-client]
        preset: vers3-udp-jumbo    # or null; options below override the preset's
        options: {hard: true}      # vers, proto, hard, timeo, retrans, rsize, wsize, ...
        config: /etc/nfsmount.conf
      pki: {roles: [control-plane], dir: /etc/kubernetes/pki, min_days: 30}
      etcd_backup: {roles: [etcd-backup], dir: /var/backups/etcd, pattern: "*.db", max_age_hours: 25,
                    cronjob: kube-system/etcd-backup, schedule: "0 */6 * * *", cronjob_max_age_hours: 7}
      swarm: {roles: [swarm-manager], data_root: /var/lib/docker, drain_managers: false, cert_min_days: 30}
      pss: {cluster: kubernetes, level: restricted, exclude_namespaces: [kube-system]}   # the kube API
      workloads:                   # resilience of Deployments, StatefulSets, DaemonSets... (the kube API)
        cluster: kubernetes
        system_namespaces: [kube-system, kube-public, kube-node-lease]
        min_replicas: 2
        slow_start_seconds: 30     # a probe's initialDelaySeconds above this needs a startupProbe
        critical_namespaces: []    # workloads here (or labelled as below) need a priorityClassName
        critical_labels: {hadrill.dev/critical: "true"}

A mistake reads ``policy.yaml: compliance.pki.min_days: expected an integer, got 'x'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hadrill.config import load_yaml, parse_model, read_text
from hadrill.errors import ConfigError
from hadrill.inventory import Inventory, Node

__all__ = [
    "CLUSTER_SUITES",
    "SUITES",
    "CompliancePolicy",
    "DockerPolicy",
    "EtcdBackupPolicy",
    "NetworkPolicy",
    "NfsMountPolicy",
    "PkiPolicy",
    "PssPolicy",
    "ScstPolicy",
    "SwarmPolicy",
    "WorkloadsPolicy",
    "load_policy",
    "select_nodes",
]

SUITES = ("docker", "network", "scst", "nfs_mounts", "pki", "etcd_backup", "swarm")
CLUSTER_SUITES = ("pss", "workloads")  # checked through a Kubernetes cluster's API when named (--suite pss,...)
_SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
OptionValue = bool | int | str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _NodeSuite(_Strict):
    roles: list[str] = Field(default_factory=list)
    nodes: list[str] = Field(default_factory=list)


class DockerPolicy(_NodeSuite):
    roles: list[str] = Field(default_factory=lambda: ["docker", "docker-host"])
    daemon_json: str = "/etc/docker/daemon.json"
    docker_host: str | None = None
    pidfile: str = "/var/run/docker.pid"
    remote_log_required: bool = False
    remote_log_drivers: list[str] = Field(
        default_factory=lambda: ["syslog", "gelf", "fluentd", "awslogs", "splunk", "gcplogs", "logentries"]
    )


class NetworkPolicy(_Strict):
    mtu: int = Field(9000, ge=576, le=65535)
    probe: bool = True
    networks: list[str] = Field(default_factory=list)  # default: every network marked storage


class ScstPolicy(_NodeSuite):
    roles: list[str] = Field(default_factory=lambda: ["scst", "iscsi-target"])
    config: str = "/etc/scst.conf"
    sysfs_root: str = "/sys/kernel/scst_tgt"


class NfsMountPolicy(_NodeSuite):
    roles: list[str] = Field(default_factory=lambda: ["nfs-client"])
    preset: Literal["vers3-udp-jumbo"] | None = None
    options: dict[str, OptionValue] = Field(default_factory=lambda: dict[str, OptionValue](hard=True))
    config: str = "/etc/nfsmount.conf"
    check_config: bool = True
    mounts_file: str = "/proc/mounts"


class PkiPolicy(_NodeSuite):
    roles: list[str] = Field(default_factory=lambda: ["control-plane"])
    dir: str = "/etc/kubernetes/pki"
    min_days: int = Field(30, ge=0)


class EtcdBackupPolicy(_NodeSuite):
    roles: list[str] = Field(default_factory=lambda: ["etcd-backup"])
    dir: str = "/var/backups/etcd"
    pattern: str = "*.db"
    max_age_hours: float = Field(25.0, gt=0, allow_inf_nan=False)  # a finite age: .inf would switch the check off
    # the CronJob part (checked through the kube API of ``cluster`` when ``cronjob`` is set)
    cluster: str = "kubernetes"
    cronjob: str | None = None  # namespace/name
    schedule: str | None = None  # the declared schedule; None: any
    cronjob_max_age_hours: float | None = Field(None, gt=0, allow_inf_nan=False)  # default: max_age_hours


class SwarmPolicy(_NodeSuite):
    roles: list[str] = Field(default_factory=lambda: ["swarm-manager"])
    data_root: str = "/var/lib/docker"
    drain_managers: bool = False  # managers run no workloads: each must be drained
    cert_min_days: int = Field(30, ge=0)
    # where each manager keeps its backups of data_root/swarm (the Raft log and keys): a tar named
    # backup_pattern, the newest not older than backup_max_age_hours
    backup_dir: str = "/var/backups/docker-swarm"
    backup_pattern: str = "*.tar*"
    backup_max_age_hours: float = Field(24.0, gt=0)


class PssPolicy(_Strict):
    cluster: str = "kubernetes"
    level: Literal["baseline", "restricted"] = "restricted"
    exclude_namespaces: list[str] = Field(default_factory=lambda: ["kube-system"])
    version: str | None = None  # the policy version manifests are judged at (``1.N``; default 1.34)


class WorkloadsPolicy(_Strict):
    cluster: str = "kubernetes"
    system_namespaces: list[str] = Field(default_factory=lambda: list(_SYSTEM_NAMESPACES))
    min_replicas: int = Field(2, ge=1)
    slow_start_seconds: int = Field(30, ge=0)
    critical_namespaces: list[str] = Field(default_factory=list)
    critical_labels: dict[str, str] = Field(default_factory=lambda: {"hadrill.dev/critical": "true"})
    topology_key: str = "kubernetes.io/hostname"


class CompliancePolicy(_Strict):
    docker: DockerPolicy = Field(default_factory=DockerPolicy)
    network: NetworkPolicy = Field(default_factory=NetworkPolicy)
    scst: ScstPolicy = Field(default_factory=ScstPolicy)
    nfs_mounts: NfsMountPolicy = Field(default_factory=NfsMountPolicy)
    pki: PkiPolicy = Field(default_factory=PkiPolicy)
    etcd_backup: EtcdBackupPolicy = Field(default_factory=EtcdBackupPolicy)
    swarm: SwarmPolicy = Field(default_factory=SwarmPolicy)
    pss: PssPolicy = Field(default_factory=PssPolicy)
    workloads: WorkloadsPolicy = Field(default_factory=WorkloadsPolicy)


class _PolicyFile(_Strict):
    api_version: Literal["hadrill/v1"] = "hadrill/v1"
    kind: Literal["CompliancePolicy"] = "CompliancePolicy"
    compliance: CompliancePolicy = Field(default_factory=CompliancePolicy)


def _section(data: Any, source: str) -> dict[str, Any]:
    doc = parse_model(_PolicyFile, data, source)  # validates and names file and field
    return doc.compliance.model_dump(exclude_unset=True)


def load_policy(
    path: Path | None = None, inventory: Inventory | None = None, inventory_source: str = "inventory"
) -> CompliancePolicy:
    """Defaults, then the inventory's ``compliance:`` section, then the policy file, suite by suite."""
    merged: dict[str, dict[str, Any]] = {}
    section = getattr(inventory, "compliance", None) if inventory is not None else None
    if section:
        for suite, values in _section({"compliance": section}, inventory_source).items():
            merged.setdefault(suite, {}).update(values)
    if path is not None:
        text = read_text(path, "policy file")
        for suite, values in _section(load_yaml(text, str(path)), str(path)).items():
            merged.setdefault(suite, {}).update(values)
    return parse_model(CompliancePolicy, merged, str(path) if path else inventory_source)


def select_nodes(inventory: Inventory, suite: _NodeSuite, suite_name: str, source: str = "policy") -> list[Node]:
    """Nodes named in the suite's ``nodes`` plus nodes having one of its ``roles``, in inventory order."""
    names = {n.name for n in inventory.nodes}
    for name in suite.nodes:
        if name not in names:
            raise ConfigError(source, f"compliance.{suite_name}.nodes", "names of inventory nodes", name)
    wanted = set(suite.roles)
    return [n for n in inventory.nodes if n.name in suite.nodes or wanted.intersection(n.roles)]
