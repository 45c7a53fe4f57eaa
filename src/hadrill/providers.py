"""Providers: inventories of Kubernetes clusters hadrill did not build.

- :func:`inventory_from_kind`: a real kind cluster (``kind create cluster --name NAME --config
  kind-configs/ha.yaml``) found by its node containers' docker labels (``io.x-k8s.kind.cluster=NAME``,
  roles from ``io.x-k8s.kind.role``). Nodes are ``docker://<container>``, so container faults (kill a
  master) work on it as on the lab, which carries the same labels.
- :func:`inventory_from_kubeconfig`: any cluster reached by a kubeconfig context, its nodes by SSH.

The API endpoint and the credentials stay in the kubeconfig file: the inventory holds its path and the
context name only (``settings.kubeconfig``, ``settings.context``), never a certificate or a token.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import docker

from hadrill.errors import ConfigError, TargetError
from hadrill.inventory import Cluster, Inventory, Member, Node

__all__ = ["default_kubeconfig", "inventory_from_kind", "inventory_from_kubeconfig", "kind_containers"]

KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"
KIND_ROLE_LABEL = "io.x-k8s.kind.role"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
API_PORT = 6443


def default_kubeconfig() -> Path:
    """``$KUBECONFIG`` (its first file), else ``~/.kube/config``, as kubectl reads it."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return Path(first) if first else Path.home() / ".kube" / "config"


def _contexts(kubeconfig: Path) -> tuple[list[str], str]:
    from hadrill.config import load_yaml, read_text

    data = load_yaml(read_text(kubeconfig, "kubeconfig"), str(kubeconfig)) or {}
    if not isinstance(data, dict) or not isinstance(data.get("contexts") or [], list):
        raise ConfigError(str(kubeconfig), "contexts", "a kubeconfig: a mapping with a list of contexts")
    names = [str(c.get("name")) for c in data.get("contexts") or [] if isinstance(c, dict)]
    return names, str(data.get("current-context") or "")


def _pick_context(kubeconfig: Path, wanted: str | None, kind_name: str | None = None) -> str:
    """``wanted``, else ``kind-NAME``, else the only context of the file."""
    names, _current = _contexts(kubeconfig)
    for cand in (wanted, f"kind-{kind_name}" if kind_name else None):
        if cand and cand in names:
            return cand
    if wanted is None and len(names) == 1:
        return names[0]
    want = wanted or (f"kind-{kind_name}" if kind_name else "a context")
    raise ConfigError(str(kubeconfig), "contexts", f"a context named {want}", ", ".join(names) or "none")


def kind_containers(name: str, client: docker.DockerClient | None = None) -> list[Any]:
    """The node containers of kind cluster ``name`` (any state), sorted by name."""
    try:
        engine = client or docker.from_env(timeout=60)
        found = engine.containers.list(all=True, filters={"label": f"{KIND_CLUSTER_LABEL}={name}"})
    except docker.errors.DockerException as e:
        raise TargetError(f"cannot list the containers of kind cluster {name}: {e}") from e
    return sorted(found, key=lambda c: c.name)


def inventory_from_kind(
    name: str,
    *,
    kubeconfig: Path | None = None,
    context: str | None = None,
    client: docker.DockerClient | None = None,
) -> Inventory:
    """The inventory of kind cluster ``name``: its node containers and its ``kubernetes`` cluster.

    The context is ``context``, else ``kind-NAME``, else the kubeconfig's only context.
    """
    containers = kind_containers(name, client)
    if not containers:
        raise TargetError(f"no container carries the label {KIND_CLUSTER_LABEL}={name}: is kind cluster {name} up?")
    path = (kubeconfig or default_kubeconfig()).expanduser().resolve()
    ctx = _pick_context(path, context, name)
    nodes: list[Node] = []
    masters: list[Member] = []
    workers: list[str] = []
    lb = ""
    for c in containers:
        role = str(c.labels.get(KIND_ROLE_LABEL, "node"))
        nets = (c.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        addresses = {n: str(v.get("IPAddress")) for n, v in nets.items() if v.get("IPAddress")}
        roles = [role, "etcd"] if role == "control-plane" else [role]
        nodes.append(Node(name=c.name, url=f"docker://{c.name}", roles=roles, addresses=addresses))
        ip = next(iter(addresses.values()), "")
        if role == "control-plane":
            endpoints = {"api": f"https://{ip}:{API_PORT}"} if ip else {}
            masters.append(Member(name=c.name, node=c.name, endpoints=endpoints))
        elif role == "worker":
            workers.append(c.name)
        elif role == "external-load-balancer":
            lb = c.name
    if not masters:
        raise TargetError(f"kind cluster {name}: no container with {KIND_ROLE_LABEL}=control-plane")
    settings: dict[str, Any] = {"kubeconfig": str(path), "context": ctx, "workers": workers, "provider": "kind"}
    if lb:
        settings["load_balancer"] = lb
    cluster = Cluster(
        name="kubernetes",
        type="kubernetes",
        members=masters,
        failure_budget=(len(masters) - 1) // 2,
        settings=settings,
    )
    return Inventory(platform=f"kind:{name}", source="kind", nodes=nodes, clusters=[cluster])


def inventory_from_kubeconfig(
    context: str,
    ssh_hosts: dict[str, str],
    *,
    kubeconfig: Path | None = None,
    control_planes: list[str] | None = None,
    platform: str | None = None,
) -> Inventory:
    """The inventory of a real cluster: the API through kubeconfig ``context``, nodes reached by SSH.

    ``ssh_hosts`` maps node names to target URLs (``ssh://root@10.0.0.11``); only those nodes are
    described. The masters are ``control_planes``, else the Nodes labelled
    ``node-role.kubernetes.io/control-plane`` (read from the API).
    """
    from hadrill.clients.kube import kube_api

    path = (kubeconfig or default_kubeconfig()).expanduser().resolve()
    _pick_context(path, context)
    settings: dict[str, Any] = {"kubeconfig": str(path), "context": context, "provider": "kubeconfig"}
    probe = Cluster(
        name="kubernetes", type="kubernetes", members=[Member(name="x", node="x")], failure_budget=0, settings=settings
    )
    api_nodes = {str(n["metadata"]["name"]): n for n in kube_api(probe, timeout=10.0).list_all("/api/v1/nodes")}
    if control_planes is None:
        control_planes = [
            n for n, obj in api_nodes.items() if CONTROL_PLANE_LABEL in (obj["metadata"].get("labels") or {})
        ]
    nodes, masters = [], []
    for name, url in sorted(ssh_hosts.items()):
        obj = api_nodes.get(name, {})
        addrs = {a.get("type"): a.get("address") for a in (obj.get("status") or {}).get("addresses") or []}
        ip = addrs.get("InternalIP") or url.rsplit("@", 1)[-1].split(":")[0].removeprefix("ssh://")
        role = "control-plane" if name in control_planes else "worker"
        nodes.append(Node(name=name, url=url, roles=[role], addresses={"mgmt": str(ip)}))
        if role == "control-plane":
            masters.append(Member(name=name, node=name, endpoints={"api": f"https://{ip}:{API_PORT}"}))
    missing = sorted(set(control_planes) - set(ssh_hosts))
    if missing or not masters:
        raise ConfigError("ssh_hosts", "", f"an SSH URL for every control-plane node ({', '.join(control_planes)})")
    settings["workers"] = sorted(set(api_nodes) - set(control_planes))
    cluster = Cluster(
        name="kubernetes", type="kubernetes", members=masters, failure_budget=(len(masters) - 1) // 2, settings=settings
    )
    return Inventory(platform=platform or context, source="kubeconfig", nodes=nodes, clusters=[cluster])
