"""The kubeadm lab's API endpoint: two haproxy load balancers and a keepalived virtual IP between them.

No single load balancer is a single point of failure (the seeds' HA cluster): ``<lab>-external-load-balancer``
and ``<lab>-external-load-balancer2`` (.108, .109) each run haproxy in front of every API server, and
keepalived (:mod:`hadrill.lab.keepalived`: VRRPv3 unicast, ``nopreempt``, a track script on haproxy) puts
the VIP, .100, on one of them. kubeadm's ``controlPlaneEndpoint``, the kubelets, kube-proxy and the
harness all reach the API at the VIP.

Both are hosts as on a real site (:mod:`hadrill.lab.hosts`: systemd as PID 1, sshd): haproxy and keepalived
are Debian's own units with the restart policies a production balancer carries (haproxy's packaged
``Restart=always``; keepalived, which Debian ships with none, ``Restart=on-failure``). Provisioning
writes ``/etc/haproxy/haproxy.cfg`` (haproxy's unit waits for it) and, once the node's interface is
known, ``/etc/keepalived/keepalived.conf`` (Debian's keepalived unit skips an empty one), as
configuration management would. The pair is the
inventory's ``kube-api-lb`` cluster (type ``keepalived``, ``settings.units`` naming both units), which
the VIP faults (:mod:`hadrill.faults.vip`, through the service manager on a host) aim at as they aim at
the NFS servers.
"""

from __future__ import annotations

import time

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from hadrill.errors import LabError
from hadrill.inventory import Cluster, Member
from hadrill.lab.hosts import host_image, host_run_options, interface_of, run_on, wait_system_running, write_if_changed
from hadrill.lab.keepalived import (
    KEEPALIVED_DROPIN,
    KEEPALIVED_DROPIN_PATH,
    NOTIFY_PATH,
    keepalived_conf,
    notify_script,
)
from hadrill.lab.runtime import LabContext

__all__ = ["ADVERT_S", "LB_CLUSTER", "LB_HOST_IMAGE", "LB_UNITS", "ApiLoadBalancers"]

LB_CLUSTER = "kube-api-lb"
ADVERT_S = 1.0  # VRRP advertisement interval: the backup declares the master dead after 3 of them + skew
LB_UNITS = ("haproxy.service", "keepalived.service")  # (the served unit, keepalived's): settings.units
_PRIORITIES = (110, 100)
_VIP_OFFSET = 100  # where the single load balancer was: the API's address does not change
_LB_OFFSETS = (108, 109)  # after the control planes (.101-.107), before the workers (.111...)
_ROUTER_ID = 51  # the NFS pair is 50 (another lab network, but one id per pair keeps logs unambiguous)
_STATE_FILE = "/run/hadrill-lb/vrrp.state"
_HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
_KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
_MARK = "/etc/hadrill/kube-lb"  # written by provisioning: haproxy starts once it has its configuration
# Debian's unit as shipped, but skipped until provisioning has written the configuration (a fresh node
# boots to "running" with nothing failed), and its syslog socket bind optional (this haproxy logs nothing).
_HAPROXY_DROPIN = f"""\
[Unit]
ConditionPathExists={_MARK}

[Service]
BindReadOnlyPaths=
BindReadOnlyPaths=-/dev/log:/var/lib/haproxy/dev/log
"""

LB_HOST_IMAGE = host_image(
    "kube-lb",
    packages=("haproxy", "keepalived"),
    files={
        NOTIFY_PATH: notify_script(_STATE_FILE),
        "/etc/systemd/system/haproxy.service.d/hadrill.conf": _HAPROXY_DROPIN,
        KEEPALIVED_DROPIN_PATH: KEEPALIVED_DROPIN,
    },
    dockerfile=(f"RUN chmod 0755 {NOTIFY_PATH} && rm -f {_KEEPALIVED_CONF} && systemctl enable {' '.join(LB_UNITS)}",),
)


class ApiLoadBalancers:
    """The pair's names, addresses, containers and VIP holder, for :class:`~hadrill.lab.kubeadm.KubeadmService`."""

    def __init__(self, ctx: LabContext) -> None:
        self.ctx = ctx

    @property
    def vip(self) -> str:
        return self.ctx.ip(_VIP_OFFSET)

    def names(self) -> list[str]:
        """The load balancers' containers (known without the lab's network: ``down`` needs them)."""
        base = f"{self.ctx.name}-external-load-balancer"
        return [base if i == 1 else f"{base}{i}" for i in range(1, len(_LB_OFFSETS) + 1)]

    def servers(self) -> list[tuple[str, str]]:
        """(container, address) of each load balancer."""
        return [(n, self.ctx.ip(off)) for n, off in zip(self.names(), _LB_OFFSETS, strict=True)]

    def ensure(self, image: str, labels: dict[str, str]) -> dict[str, Container]:
        """Create (or start) both hosts; they boot while the Kubernetes nodes do (:meth:`configure` next)."""
        out = {}
        for name, ip in self.servers():
            out[name] = self.ctx.ensure_container(
                name, image, "external-load-balancer", ip, labels=labels, **host_run_options()
            )
        return out

    def configure(self, c: Container, haproxy_cfg: str) -> None:
        """Boot to ``running``, write haproxy's and keepalived's configuration, (re)start what changed."""
        servers = dict(self.servers())
        names = list(servers)
        i = names.index(c.name)
        wait_system_running(c, timeout=120)
        ip, peer = servers[c.name], servers[names[1 - i]]
        prefix = self.ctx.subnets[self.ctx.network_name].prefixlen
        conf = keepalived_conf(
            c.name, interface_of(c, ip), ip, peer, f"{self.vip}/{prefix}", _PRIORITIES[i], ADVERT_S, track="haproxy",
            instance="VI_KUBE_API", router=_ROUTER_ID,
        )  # fmt: skip
        haproxy, keepalived = LB_UNITS
        script = (
            f"mkdir -p /etc/hadrill && touch {_MARK} && "
            f'if [ -n "$({write_if_changed(_HAPROXY_CFG, haproxy_cfg)})" ]; then systemctl restart {haproxy}; fi && '
            f'if [ -n "$({write_if_changed(_KEEPALIVED_CONF, conf)})" ]; then systemctl restart {keepalived}; fi && '
            f"systemctl start {haproxy} {keepalived}"
        )
        run_on(c, script, "configure haproxy and keepalived")

    def units_problem(self) -> str | None:
        """None when both units are active on both hosts, else which are not."""
        bad = []
        for name in self.names():
            try:
                res = self.ctx.client.containers.get(name).exec_run(["systemctl", "is-active", *LB_UNITS])
            except (APIError, NotFound) as e:
                bad.append(f"{name}: {e}")
                continue
            if res.exit_code != 0:
                bad.append(f"{name}: {' '.join(res.output.decode(errors='replace').split())}")
        return "; ".join(bad) or None

    def holders(self) -> list[str]:
        """The load balancers whose interfaces (up) carry the VIP."""
        found = []
        for name in self.names():
            try:
                res = self.ctx.client.containers.get(name).exec_run(["ip", "-o", "-4", "addr", "show", "up"])
            except (APIError, NotFound):
                continue
            if res.exit_code == 0 and f" {self.vip}/" in res.output.decode(errors="replace"):
                found.append(name)
        return found

    def wait_vip(self, timeout: float = 30.0) -> str:
        """Wait until exactly one load balancer holds the VIP (keepalived elects after 3 adverts + skew)."""
        deadline = time.monotonic() + timeout
        holders: list[str] = []
        for _ in range(int(timeout / 0.2) + 2):
            holders = self.holders()
            if len(holders) == 1:
                return holders[0]
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        raise LabError(
            f"lab {self.ctx.name}: API VIP {self.vip} held by {holders or 'no load balancer'} after {timeout:.0f} s"
        )

    def cluster(self) -> Cluster:
        """The inventory's view: a keepalived pair the VIP faults and recovery checks understand."""
        holders = self.holders()
        members = [Member(name=n, node=n, endpoints={"api": f"https://{ip}:6443"}) for n, ip in self.servers()]
        settings = {
            "vip": self.vip, "advert_int": ADVERT_S, "process": "haproxy", "port": 6443, "units": list(LB_UNITS),
            "state_file": _STATE_FILE, "holder": holders[0] if len(holders) == 1 else None,
        }  # fmt: skip
        return Cluster(name=LB_CLUSTER, type="keepalived", members=members, failure_budget=1, settings=settings)
