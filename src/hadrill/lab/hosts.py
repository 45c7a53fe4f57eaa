"""Lab nodes that look like real hosts: systemd as PID 1, sshd, services as systemd units.

One base image (Debian with systemd, dbus, sshd, iproute2), roles layered on it by adding their
packages and unit files. The container runs unprivileged with the flags measured in LAB-NOTES ("Hosts
that look real"): every capability but CAP_SYS_RESOURCE (which the engine itself lacks, so
``--privileged`` fails), seccomp and AppArmor unconfined, the host's cgroup namespace with
/sys/fs/cgroup writable, tmpfs on /run and /run/lock. Each node makes its own SSH host keys at its first
boot, as a freshly installed machine does, so the lab can pin them.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from hadrill.errors import LabError
from hadrill.lab.images import ImageSpec

__all__ = [
    "HOST_PACKAGES", "host_image", "host_run_options", "interface_of", "run_on", "wait_system_running",
    "write_if_changed",
]  # fmt: skip

HOST_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "iptables",
    "procps",
    "netbase",
    "ca-certificates",
)

# Host keys are made at first boot, not baked into the image: two nodes never share one, and the lab
# pins the keys each node really has.
_SSH_KEYGEN_DROPIN = """\
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
"""

_SSHD_CONFIG = """\
# hadrill lab host: root logs in with the lab's key only.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
"""

_BASE_DOCKERFILE = (
    "RUN rm -f /etc/ssh/ssh_host_* && : > /etc/machine-id && mkdir -m 0700 -p /root/.ssh"
    " && systemctl enable ssh.service"
    " && systemctl mask getty@tty1.service console-getty.service systemd-logind.service",
    "STOPSIGNAL SIGRTMIN+3",
    'CMD ["/sbin/init"]',
)


def host_image(
    role: str, packages: tuple[str, ...] = (), files: dict[str, str] | None = None, dockerfile: tuple[str, ...] = ()
) -> ImageSpec:
    """The base host image plus a role's packages, files (unit files, drop-ins) and build lines."""
    return ImageSpec(
        name=f"host-{role}",
        packages=HOST_PACKAGES + packages,
        files={
            "/etc/systemd/system/ssh.service.d/hadrill-hostkeys.conf": _SSH_KEYGEN_DROPIN,
            "/etc/ssh/sshd_config.d/hadrill.conf": _SSHD_CONFIG,
            **(files or {}),
        },
        dockerfile=_BASE_DOCKERFILE + dockerfile,
    )


def host_run_options() -> dict[str, Any]:
    """``containers.create`` arguments that let systemd run as PID 1 without ``--privileged``."""
    return {
        "cap_add": ["ALL"],
        "cap_drop": ["SYS_RESOURCE"],
        "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
        "cgroupns": "host",
        "tmpfs": {"/run": "rw,exec,mode=755", "/run/lock": "rw,mode=1777"},
        "environment": {"container": "docker"},
        "volumes": {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
        "command": ["/sbin/init"],
        "stop_signal": "SIGRTMIN+3",
    }


def _exec(c: Container, cmd: list[str]) -> tuple[int, str]:
    try:
        rc, out = c.exec_run(cmd, demux=False)
    except (APIError, NotFound) as e:
        raise LabError(f"host {c.name}: cannot run {cmd[0]}: {e}") from e
    return int(rc), (out or b"").decode("utf-8", "replace").strip()


def wait_system_running(c: Container, timeout: float = 90.0) -> str:
    """Wait until systemd says ``running``; ``degraded`` is an error naming the failed units.

    Returns the final state. ``starting`` and ``initializing`` are waited out; anything else past the
    deadline is reported with the units still queued.
    """
    deadline = time.monotonic() + timeout
    state = "not asked"
    while time.monotonic() < deadline:
        _, state = _exec(c, ["systemctl", "is-system-running"])
        if state == "running":
            return state
        if state == "degraded":
            _, failed = _exec(c, ["systemctl", "--failed", "--no-legend", "--plain"])
            units = ", ".join(line.split()[0] for line in failed.splitlines() if line.strip()) or "none listed"
            raise LabError(f"host {c.name}: systemd is degraded; failed units: {units}")
        time.sleep(0.3)
    _, jobs = _exec(c, ["systemctl", "list-jobs", "--no-legend", "--plain"])
    raise LabError(f"host {c.name}: systemd not running after {timeout:.0f} s (state {state!r}; jobs: {jobs[-300:]})")


def run_on(c: Container, script: str, what: str) -> str:
    """Provisioning through the engine (as cloud-init would on a real machine): ``script`` in a shell on
    the node; its output, or a LabError saying what could not be done."""
    rc, out = c.exec_run(["sh", "-c", script])
    text = (out or b"").decode(errors="replace").strip()
    if rc != 0:
        raise LabError(f"host {c.name}: cannot {what}: {text[-300:]}")
    return text


def write_if_changed(path: str, text: str) -> str:
    """Shell that replaces ``path`` only when its content changed (``up`` twice restarts nothing); it
    prints ``changed`` when it wrote."""
    encoded = base64.b64encode(text.encode()).decode()
    return (
        f"mkdir -p $(dirname {path}) && echo {encoded} | base64 -d > {path}.new && "
        f"if cmp -s {path}.new {path}; then rm {path}.new; else mv {path}.new {path} && echo changed; fi"
    )


def interface_of(c: Container, ip: str) -> str:
    """The node's interface carrying ``ip`` (bounded wait: the engine may add the address a moment late)."""
    find = (
        "for i in $(seq 1 100); do "
        f"f=$(ip -o -4 addr show | awk -v ip={ip} '{{split($4, a, \"/\"); if (a[1] == ip) print $2}}' | head -1); "
        '[ -n "$f" ] && { echo "$f"; exit 0; }; sleep 0.1; done; ip -o -4 addr show; exit 1'
    )
    return run_on(c, find, f"find the interface carrying {ip}")
