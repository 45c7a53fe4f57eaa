"""The NFS and Gluster roles on host nodes: Debian's own units, run by systemd as on a real storage host.

One image for both roles (one build, shared by every storage node): nfs-ganesha + keepalived + rpcbind
(NFS servers), glusterd (Gluster servers), the userspace libnfs tools and the FUSE client (clients).
Each role's unit waits for a marker file (``ConditionPathExists``) that provisioning writes, so a node
runs only the daemons of its role and a fresh node boots to ``running`` with nothing failed.

Restart policies are what a production host carries: nfs-ganesha and keepalived get a drop-in with
``Restart=on-failure`` (Debian ships none); glusterd keeps Debian's ``Restart=on-abnormal`` with its
60 s back-off (the packaged policy a real Gluster host runs). The units stay in /lib/systemd/system so a
runtime mask (/run) can hold them down during a fault. keepalived's configuration is written at
provisioning, once the node's storage interface is known (Debian's unit skips an empty config).
"""

from __future__ import annotations

from docker.models.containers import Container

from hadrill.lab.exporter_files import EXPORTER, EXPORTER_PATH, EXPORTER_UNIT, exporter_unit
from hadrill.lab.hosts import host_image, interface_of, run_on, write_if_changed
from hadrill.lab.keepalived import KEEPALIVED_DROPIN, KEEPALIVED_DROPIN_PATH, NOTIFY_PATH, keepalived_conf
from hadrill.lab.nfs_files import GANESHA_CONF, NOTIFY

BOOT_TIMEOUT = 180.0  # seconds for systemd to reach "running": a host node boots slowly on a loaded machine

__all__ = [
    "BOOT_TIMEOUT",
    "GLUSTER_MARK",
    "GLUSTER_UNIT",
    "NFS_MARK",
    "NFS_UNITS",
    "STORAGE_HOST_IMAGE",
    "configure_nfs_server",
    "install_exporter",
    "keepalived_conf",
    "start_glusterd",
]

NFS_MARK = "/etc/hadrill/nfs-server"
GLUSTER_MARK = "/etc/hadrill/gluster-server"
NFS_UNITS = ("nfs-ganesha.service", "keepalived.service")
GLUSTER_UNIT = "glusterd.service"

_GANESHA_DROPIN = f"""\
[Unit]
ConditionPathExists={NFS_MARK}

[Service]
ExecStartPre=/bin/mkdir -p /var/log/ganesha /var/lib/nfs/ganesha
Restart=on-failure
RestartSec=1
"""
_GLUSTERD_DROPIN = f"""\
[Unit]
ConditionPathExists={GLUSTER_MARK}
"""

STORAGE_HOST_IMAGE = host_image(
    "storage",
    packages=(
        "nfs-ganesha", "nfs-ganesha-vfs", "keepalived", "rpcbind", "libnfs-utils", "python3",
        "glusterfs-server", "glusterfs-client", "attr", "psmisc",
    ),
    files={
        "/etc/ganesha/ganesha.conf": GANESHA_CONF,
        NOTIFY_PATH: NOTIFY,
        "/etc/systemd/system/nfs-ganesha.service.d/hadrill.conf": _GANESHA_DROPIN,
        KEEPALIVED_DROPIN_PATH: KEEPALIVED_DROPIN,
        f"/etc/systemd/system/{GLUSTER_UNIT}.d/hadrill.conf": _GLUSTERD_DROPIN,
    },
    # NLM is off in ganesha.conf, so its lock unit (no ExecStart of its own) and the kernel NFS client's
    # helpers have nothing to do; glustereventsd is Gluster's optional event API. The password-agent
    # path units watch with inotify, whose instances (fs.inotify.max_user_instances, 128) every systemd
    # node on the engine shares: they failed a lab up with many host nodes running (a console-less
    # server has no use for them).
    dockerfile=(
        f"RUN chmod 0755 {NOTIFY_PATH} && rm -f /etc/keepalived/keepalived.conf"
        " && systemctl mask nfs-ganesha-lock.service glustereventsd.service nfs-client.target"
        " systemd-ask-password-console.path systemd-ask-password-wall.path"
        " && systemctl enable nfs-ganesha.service keepalived.service glusterd.service",
    ),
)  # fmt: skip


def configure_nfs_server(c: Container, *, self_ip: str, peer_ip: str, vip: str, priority: int, advert: float) -> None:
    """Find the storage interface by its address, write keepalived's config, start the NFS units."""
    iface = interface_of(c, self_ip)
    conf = keepalived_conf(c.name, iface, self_ip, peer_ip, vip, priority, advert)
    script = (
        f"{write_if_changed('/etc/keepalived/keepalived.conf', conf)} && mkdir -p /etc/hadrill && touch {NFS_MARK} && "
        f"systemctl start --no-block rpcbind.service {' '.join(NFS_UNITS)}"
    )
    run_on(c, script, "configure nfs-ganesha and keepalived")


def install_exporter(c: Container, checks: dict[str, str], after: tuple[str, ...]) -> None:
    """Install and start the lab exporter as a unit (``checks``: name -> KIND:ARG, per role; ``after``:
    the role's units), so the monitoring scrapes a host node as it scrapes a container one (same port,
    same series)."""
    unit = f"/etc/systemd/system/{EXPORTER_UNIT}"
    text = exporter_unit(checks, after)
    script = (
        f"{write_if_changed(EXPORTER_PATH, EXPORTER)} && chmod 0755 {EXPORTER_PATH} && {write_if_changed(unit, text)}"
        f" && systemctl daemon-reload && systemctl enable {EXPORTER_UNIT} && systemctl restart {EXPORTER_UNIT}"
    )
    run_on(c, script, "install the lab exporter")


def start_glusterd(c: Container) -> None:
    """Mark the node a Gluster server and start glusterd (its state is on the node's own volume)."""
    run_on(c, f"mkdir -p /etc/hadrill && touch {GLUSTER_MARK} && systemctl start {GLUSTER_UNIT}", "start glusterd")
