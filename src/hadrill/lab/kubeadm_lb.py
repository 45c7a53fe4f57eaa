"""The kubeadm lab's API endpoint: two haproxy load balancers and a keepalived virtual IP between them.

No single load balancer is a single point of failure (the seeds' HA cluster): ``<lab>-external-load-balancer``
and ``<lab>-external-load-balancer2`` (.108, .109) each run haproxy in front of every API server, and
keepalived (:mod:`hadrill.lab.keepalived`: VRRPv3 unicast, ``nopreempt``, a track script on haproxy) puts
the VIP, .100, on one of them. kubeadm's ``controlPlaneEndpoint``, the kubelets, kube-proxy and the
harness all reach the API at the VIP.

Each container's main process is keepalived; its start script finds the interface by ``SELF``, fills it
into the configuration the lab wrote (mounted read-only), removes the pid files a ``docker kill`` leaves,
and starts haproxy daemonised (the command the ``stop-service`` fault's revert also runs). The pair is the
inventory's ``kube-api-lb`` cluster (type ``keepalived``), which the VIP faults (:mod:`hadrill.faults.vip`)
aim at as they aim at the NFS servers.
"""

from __future__ import annotations

import time
from pathlib import Path

from docker.errors import APIError, NotFound

from hadrill.errors import LabError
from hadrill.inventory import Cluster, Member
from hadrill.lab.images import ImageSpec
from hadrill.lab.keepalived import NOTIFY_PATH, keepalived_conf, notify_script
from hadrill.lab.runtime import LabContext

__all__ = ["ADVERT_S", "LB_CLUSTER", "LB_IMAGE", "ApiLoadBalancers"]

LB_CLUSTER = "kube-api-lb"
ADVERT_S = 1.0  # VRRP advertisement interval: the backup declares the master dead after 3 of them + skew
_PRIORITIES = (110, 100)
_VIP_OFFSET = 100  # where the single load balancer was: the API's address does not change
_LB_OFFSETS = (108, 109)  # after the control planes (.101-.107), before the workers (.111...)
_ROUTER_ID = 51  # the NFS pair is 50 (another lab network, but one id per pair keeps logs unambiguous)
_STATE_FILE = "/run/hadrill-lb/vrrp.state"
_CONF_IN = "/etc/hadrill/keepalived.conf.in"
_HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
HAPROXY_START = "/usr/local/bin/hadrill-haproxy-start"
_START = "/usr/local/bin/hadrill-lb-start"

_HAPROXY_START_SH = f"""\
#!/bin/sh
# Starts haproxy (daemonised) once: the start script and the stop-service fault's revert both use it.
pgrep -x haproxy >/dev/null && exit 0
rm -f /run/haproxy.pid
exec haproxy -D -p /run/haproxy.pid -f {_HAPROXY_CFG}
"""

_START_SH = f"""\
#!/bin/sh
set -eu
: "${{SELF:?}}"
IFACE=""
for _ in $(seq 1 50); do  # bounded: docker attaches the network before start, but be patient
    IFACE=$(ip -o -4 addr show | awk -v ip="$SELF" '{{split($4, a, "/"); if (a[1] == ip) print $2}}' | head -1)
    [ -n "$IFACE" ] && break
    sleep 0.1
done
[ -n "$IFACE" ] || {{ echo "no interface with address $SELF" >&2; exit 1; }}
mkdir -p /etc/keepalived
sed "s/@IFACE@/$IFACE/g" {_CONF_IN} > /etc/keepalived/keepalived.conf
# stale pid files survive 'docker kill' + 'docker start' and make the daemons refuse to start
rm -f /run/keepalived.pid /run/vrrp.pid /run/checkers.pid {_STATE_FILE}
{HAPROXY_START}
exec keepalived --dont-fork --log-console
"""

# One load-balancer image for both Kubernetes modes (the binaries mode runs haproxy alone in it): a cold
# machine builds one image, keepalived's few packages more.
LB_IMAGE = ImageSpec(
    name="kube-lb",
    packages=("ca-certificates", "iproute2", "procps", "iptables", "netbase", "haproxy", "keepalived"),
    files={_START: _START_SH, HAPROXY_START: _HAPROXY_START_SH, NOTIFY_PATH: notify_script(_STATE_FILE)},
    dockerfile=(f'CMD ["{_START}"]',),
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

    def ensure(self, state: Path, haproxy_cfg: str, labels: dict[str, str]) -> None:
        """Write each one's haproxy and keepalived configuration under ``state`` and start the containers."""
        prefix = self.ctx.subnets[self.ctx.network_name].prefixlen
        haproxy = state / "haproxy.cfg"
        haproxy.write_text(haproxy_cfg)
        servers = self.servers()
        for i, (name, ip) in enumerate(servers):
            conf = state / f"keepalived-{name}.conf"
            peer, vip = servers[1 - i][1], f"{self.vip}/{prefix}"
            text = keepalived_conf(
                name, "@IFACE@", ip, peer, vip, _PRIORITIES[i], ADVERT_S, track="haproxy", instance="VI_KUBE_API",
                router=_ROUTER_ID,
            )  # fmt: skip
            conf.write_text(text)
            self.ctx.ensure_container(
                name, LB_IMAGE.ref, "external-load-balancer", ip, init=True, cap_add=["NET_ADMIN"],
                environment={"SELF": ip}, labels=labels,
                volumes={
                    str(haproxy): {"bind": _HAPROXY_CFG, "mode": "ro"}, str(conf): {"bind": _CONF_IN, "mode": "ro"},
                },
            )  # fmt: skip

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
            "vip": self.vip, "advert_int": ADVERT_S, "process": "haproxy", "port": 6443, "restart": HAPROXY_START,
            "state_file": _STATE_FILE, "holder": holders[0] if len(holders) == 1 else None,
        }  # fmt: skip
        return Cluster(name=LB_CLUSTER, type="keepalived", members=members, failure_budget=1, settings=settings)
