"""The lab Swarm's stateful service: a key-value store whose data lives on the lab's Gluster volume.

When the lab has a Gluster part, every Swarm node mounts its replica 3 volume with the FUSE client
(the same volume, servers and options as the Gluster part's own client: no other storage image), and
the mount goes into the node's ``/etc/fstab`` once it worked, so a killed node mounts it again at
boot. The service ``store`` (one replica, on a worker, :mod:`hadrill.lab.swarm_store_app` in the app
image) binds ``/mnt/VOLUME/swarm-store``: that directory exists only on the volume, so a task started
on a node whose mount is missing fails to start (a bind source must exist) instead of writing to the
node's own disk.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import requests

from hadrill.clients.swarm import SwarmCli
from hadrill.errors import LabError, TargetError

__all__ = ["STORE_APP", "STORE_APP_PATH", "STORE_DIR", "STORE_PORT", "STORE_SERVICE", "mount_volume", "store_problem"]

STORE_SERVICE = "store"
STORE_PORT = 8081
STORE_DIR = "swarm-store"  # under the volume's root: the probe's keys are paths relative to it
STORE_APP_PATH = "/srv/store.py"
STORE_APP = resources.files("hadrill.lab").joinpath("swarm_store_app.py").read_text(encoding="utf-8")
_MOUNT_S = 180  # the Gluster part comes up beside the swarm: its volume may take this long to start


def mount_volume(nodes: list[str], servers: list[str], volume: str, mount: str) -> None:
    """Mount ``servers[0]:/volume`` on ``mount`` of every node (bounded retries while the volume is being
    created), then make it an fstab entry and create the store's directory on the volume."""
    m = shlex.quote(mount)
    options = f"_netdev,nofail,backup-volfile-servers={':'.join(servers[1:])}"
    fstab = f"{servers[0]}:/{volume} {mount} glusterfs {options} 0 0"
    script = (
        f"mkdir -p {m}; for i in $(seq {_MOUNT_S}); do mountpoint -q {m} && break; "
        f"mount -t glusterfs -o backup-volfile-servers={':'.join(servers[1:])} {servers[0]}:/{volume} {m} "
        f">/dev/null 2>&1; mountpoint -q {m} && break; sleep 1; done; mountpoint -q {m} && "
        f"{{ grep -qF {shlex.quote(fstab)} /etc/fstab || echo {shlex.quote(fstab)} >> /etc/fstab; }}"
    )

    def one(node: str) -> None:
        res = SwarmCli(f"docker://{node}", timeout=_MOUNT_S + 30).run(script)
        if not res.ok:
            raise LabError(f"swarm: {volume} not mounted on {node} after {_MOUNT_S} s: {res.stderr.strip()[-200:]}")

    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(one, nodes))
    SwarmCli(f"docker://{nodes[0]}", timeout=30).check(f"mkdir -p {shlex.quote(f'{mount}/{STORE_DIR}')}")


def create_store(cli: SwarmCli, image: str, mount: str) -> None:
    """The ``store`` service: one replica on a worker, its data directory bound from the volume."""
    if STORE_SERVICE in cli.services():
        return
    cli.check(
        f"docker service create --detach --name {STORE_SERVICE} --replicas 1 --constraint node.role==worker"
        f" --mount type=bind,src={mount}/{STORE_DIR},dst=/data --endpoint-mode dnsrr"
        f" --publish mode=host,target={STORE_PORT},published={STORE_PORT}"
        f" --restart-delay 1s --stop-grace-period 2s"
        f" {image} python3 {STORE_APP_PATH} --dir /data --port {STORE_PORT}"
    )


def store_problem(cli: SwarmCli, addresses: dict[str, str]) -> str | None:
    """None when the store runs one task and its node answers on the store's port."""
    try:
        svc = cli.services().get(STORE_SERVICE)
        tasks = cli.task_nodes(STORE_SERVICE)
    except TargetError as e:
        return str(e)
    if svc is None or svc.running < 1 or not tasks:
        return f"service {STORE_SERVICE}: {svc.running if svc else 0}/1 replicas running"
    for node in tasks:
        try:
            requests.get(f"http://{addresses[node]}:{STORE_PORT}/", timeout=2).raise_for_status()
        except (requests.RequestException, KeyError) as e:
            return f"{STORE_SERVICE} on {node}:{STORE_PORT}: {type(e).__name__}"
    return None
