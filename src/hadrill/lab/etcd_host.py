"""The etcd role on host nodes: Debian's etcd-server run by systemd, configured like a real host.

Debian's unit (``Type=notify``, the ``etcd`` user) gets a drop-in setting what a production host sets:
``Restart=on-failure`` with a one-second back-off. Its
configuration is an environment file written by the lab once the node has booted; until then the unit
is skipped (``ConditionPathExists``), so a fresh node boots to ``running`` with no failed unit.
"""

from __future__ import annotations

import base64

from docker.models.containers import Container

from hadrill.errors import LabError
from hadrill.lab.hosts import host_image

__all__ = ["ETCD_ENV", "ETCD_HOST_IMAGE", "ETCD_UNIT", "configure_member"]

ETCD_ENV = "/etc/hadrill/etcd.env"
ETCD_UNIT = "etcd.service"

# A drop-in on Debian's own unit, as an operator would write it: the package's unit stays in
# /lib/systemd/system, so `systemctl mask --runtime` (a link in /run, which outranks /lib but not /etc)
# can hold it down during a fault.
_DROPIN = f"""\
[Unit]
ConditionPathExists={ETCD_ENV}

[Service]
EnvironmentFile={ETCD_ENV}
ExecStartPre=+/bin/sh -c 'mkdir -p /var/lib/etcd && chown etcd:etcd /var/lib/etcd'
Restart=on-failure
RestartSec=1
TimeoutStartSec=60
"""

ETCD_HOST_IMAGE = host_image(
    "etcd",
    packages=("etcd-server", "etcd-client"),
    files={f"/etc/systemd/system/{ETCD_UNIT}.d/hadrill.conf": _DROPIN},
    dockerfile=("RUN systemctl enable etcd.service",),
)


def member_env(name: str, ip: str, initial_cluster: str, token: str, client_port: int, peer_port: int) -> str:
    """The member's settings as etcd reads them from its environment (the same flags as the container lab)."""
    settings = {
        "ETCD_NAME": name,
        "ETCD_DATA_DIR": "/var/lib/etcd/lab",
        "ETCD_LISTEN_CLIENT_URLS": f"http://0.0.0.0:{client_port}",
        "ETCD_ADVERTISE_CLIENT_URLS": f"http://{ip}:{client_port}",
        "ETCD_LISTEN_PEER_URLS": f"http://0.0.0.0:{peer_port}",
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": f"http://{ip}:{peer_port}",
        "ETCD_INITIAL_CLUSTER": initial_cluster,
        "ETCD_INITIAL_CLUSTER_STATE": "new",
        "ETCD_INITIAL_CLUSTER_TOKEN": token,
        "ETCD_HEARTBEAT_INTERVAL": "100",
        "ETCD_ELECTION_TIMEOUT": "1000",
        "ETCD_PRE_VOTE": "true",
    }
    return "".join(f"{k}={v}\n" for k, v in settings.items())


def configure_member(c: Container, env: str) -> None:
    """Write the member's environment file and start the unit without waiting for it: a member is
    ready only once a quorum is up, so every member is started before any is waited for."""
    encoded = base64.b64encode(env.encode()).decode()
    script = (
        f"mkdir -p /etc/hadrill && echo {encoded} | base64 -d > {ETCD_ENV}.new && "
        f"if ! cmp -s {ETCD_ENV}.new {ETCD_ENV}; then mv {ETCD_ENV}.new {ETCD_ENV}; else rm {ETCD_ENV}.new; fi && "
        f"systemctl start --no-block {ETCD_UNIT}"
    )
    rc, out = c.exec_run(["sh", "-c", script])
    if rc != 0:
        raise LabError(f"host {c.name}: cannot configure etcd: {out.decode(errors='replace')[-300:]}")
