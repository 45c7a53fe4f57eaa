"""The inventory of a running Docker Swarm hadrill did not build, read through one manager's engine.

The manager is reached by target URL (``docker://NAME`` for a swarm of containers, ``ssh://root@HOST``
for machines); every other node is named from what the swarm says about it: its hostname and the
address it advertises (``docker node inspect``: ``Status.Addr``), turned into a target URL with a
template (default: ``docker://{hostname}`` for a docker:// manager, ``ssh://root@{addr}`` for ssh://).
The cluster has type ``swarm``, its managers and workers in ``settings`` and a failure budget of a
minority of the managers. With ``service``, its published port (mode=host) becomes each node's ``http``
endpoint. No join token is read.
"""

from __future__ import annotations

import ipaddress
import json

from hadrill.clients.swarm import SwarmCli
from hadrill.errors import ConfigError, TargetError
from hadrill.inventory import Cluster, Inventory, Member, Network, Node

__all__ = ["inventory_from_swarm"]


def _template_for(manager_url: str) -> str:
    scheme, _, rest = manager_url.partition("://")
    if scheme == "ssh":
        user = rest.split("@", 1)[0] + "@" if "@" in rest else ""
        return f"ssh://{user}{{addr}}"
    return f"{scheme}://{{hostname}}"


def _published_port(cli: SwarmCli, service: str) -> int | None:
    out = cli.check(f"docker service inspect {service} --format '{{{{json .Endpoint.Spec.Ports}}}}'")
    ports = json.loads(out.strip() or "null") or []
    for p in ports:
        if p.get("PublishedPort"):
            return int(p["PublishedPort"])
    return None


def inventory_from_swarm(
    manager_url: str, *, name: str = "swarm", url_template: str | None = None, service: str | None = None,
    network: str = "swarm",
) -> Inventory:  # fmt: skip
    """Ask the manager at ``manager_url`` for its nodes and build the inventory (TargetError when unreachable)."""
    cli = SwarmCli(manager_url, timeout=15.0)
    if cli.local_state() != "active":
        raise TargetError(f"{manager_url}: the engine is not in a swarm")
    template = url_template or _template_for(manager_url)
    if "{hostname}" not in template and "{addr}" not in template:
        raise ConfigError("command line", "--node-url", "a template with {hostname} or {addr}", template)
    listed = cli.nodes()
    services = cli.services() if service else {}
    if service and service not in services:
        known = ", ".join(services) or "none"
        raise ConfigError("command line", "--service", f"a service of the swarm ({known})", service)
    port = _published_port(cli, service) if service else None
    nodes: list[Node] = []
    members: list[Member] = []
    managers: list[str] = []
    workers: list[str] = []
    for n in listed:
        data = cli.inspect_node(n.hostname)
        status = data.get("Status")
        addr = str(status.get("Addr", "")) if isinstance(status, dict) else ""
        role = f"swarm-{n.role}"
        nodes.append(
            Node(name=n.hostname, url=template.format(hostname=n.hostname, addr=addr), roles=[role],
                 addresses={network: addr} if addr else {})
        )  # fmt: skip
        endpoints = {"http": f"http://{addr}:{port}"} if port and addr else {}
        if n.role == "manager" and addr:
            endpoints["swarm"] = f"tcp://{addr}:2377"
        members.append(Member(name=n.hostname, node=n.hostname, endpoints=endpoints))
        (managers if n.role == "manager" else workers).append(n.hostname)
    settings: dict[str, object] = {"managers": managers, "workers": workers}
    if service:
        settings.update(service=service, replicas=services[service].desired, port=port)
    cluster = Cluster(
        name=name, type="swarm", members=members, failure_budget=(len(managers) - 1) // 2, settings=settings
    )
    subnet = _subnet_of([n.addresses.get(network, "") for n in nodes])
    nets = [Network(name=network, subnet=subnet)] if subnet else []
    return Inventory(platform=f"swarm:{name}", source="swarm", networks=nets, nodes=nodes, clusters=[cluster])


def _subnet_of(addresses: list[str]) -> str | None:
    """The smallest IPv4 network holding every address (at most a /16), for the inventory's networks."""
    ips = [ipaddress.ip_address(a) for a in addresses if a]
    if not ips or any(ip.version != 4 for ip in ips):
        return None
    for prefix in range(32, 15, -1):
        net = ipaddress.ip_network(f"{ips[0]}/{prefix}", strict=False)
        if all(ip in net for ip in ips):
            return str(net if prefix <= 24 else ipaddress.ip_network(f"{ips[0]}/24", strict=False))
    return None
