"""The lab's SSH trust: one key pair per lab, the nodes' host keys pinned, an ssh_config tying them.

Everything lives in the lab's state directory (``labs/<lab>/ssh/``, 0700): the private key (0600),
``known_hosts`` written from the keys each node made at first boot (strict checking, so a swapped node
is refused), and an ``ssh_config`` that names both. Inventories reference these files by path only: no
key material ever enters an inventory, a journal or a report.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from docker.models.containers import Container

from hadrill.errors import LabError
from hadrill.paths import state_dir

__all__ = ["LabSsh", "ssh_dir"]

_KEY_TYPE = "ed25519"
# The lab's parts come up in threads of their own and share one key and one known_hosts.
_LOCK = threading.Lock()


def ssh_dir(lab: str) -> Path:
    return state_dir() / "labs" / lab / "ssh"


class LabSsh:
    """The SSH material of one lab."""

    def __init__(self, lab: str) -> None:
        self.lab = lab
        self.dir = ssh_dir(lab)

    @property
    def key(self) -> Path:
        return self.dir / f"id_{_KEY_TYPE}"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def config(self) -> Path:
        return self.dir / "config"

    @property
    def control_prefix(self) -> str:
        return f"/tmp/hadrill-ssh-{hashlib.sha256(str(self.dir).encode()).hexdigest()[:8]}"

    def ensure_key(self) -> str:
        """Make the lab's key pair once (0600 private key); return the public key line."""
        with _LOCK:
            return self._ensure_key()

    def provision(self, nodes: Sequence[Container], addresses: Sequence[str]) -> None:
        """Install the lab's key on freshly booted host nodes and pin their host keys (by address)."""
        public = self.ensure_key()
        keys = {}
        for c, address in zip(nodes, addresses, strict=True):
            self.authorize(c, public)
            keys[address] = self.host_key(c)
        self.pin(keys)

    def check_hosts(self, nodes: Sequence[tuple[str, str, Sequence[str]]]) -> None:
        """Healthy over SSH too: each (name, address, units) answers with the lab's key and its pinned host
        key, and its units are active (``lab up`` fails here rather than the first experiment)."""
        from hadrill.clients.targets import target

        for name, address, units in nodes:
            command = f"systemctl is-active {' '.join(units)}" if units else "true"
            res = target(self.url(address)).run(command, timeout=15)
            if not res.ok:
                raise LabError(f"host {name} over ssh: {command}: {(res.stdout + res.stderr).strip()[-200:]}")

    def _ensure_key(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        if not self.key.exists():
            try:
                subprocess.run(
                    [
                        "ssh-keygen",
                        "-q",
                        "-t",
                        _KEY_TYPE,
                        "-N",
                        "",
                        "-C",
                        f"hadrill-lab-{self.lab}",
                        "-f",
                        str(self.key),
                    ],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
            except FileNotFoundError as e:
                raise LabError("ssh-keygen is missing: apt-get install -y openssh-client") from e
            except subprocess.CalledProcessError as e:
                raise LabError(f"ssh-keygen failed: {e.stderr.decode(errors='replace').strip()}") from e
        self.key.chmod(0o600)
        self._write_config()
        return self.key.with_suffix(".pub").read_text(encoding="utf-8").strip()

    def _write_config(self) -> None:
        # ControlPath stays short (a unix socket path is limited to 108 bytes; %C is a 40-char hash) and
        # names this lab's folder, so a new lab on a recycled address never reuses an old lab's master.
        text = "\n".join(
            [
                "# written by hadrill lab up: the lab's own key and pinned host keys",
                "Host *",
                f"  IdentityFile {self.key}",
                "  IdentitiesOnly yes",
                f"  UserKnownHostsFile {self.known_hosts}",
                "  GlobalKnownHostsFile /dev/null",
                "  StrictHostKeyChecking yes",
                "  BatchMode yes",
                "  LogLevel ERROR",
                "  ServerAliveInterval 5",
                "  ServerAliveCountMax 2",
                "  ControlMaster auto",
                f"  ControlPath {self.control_prefix}-%C",
                "  ControlPersist 60",
                "",
            ]
        )
        self.config.write_text(text, encoding="utf-8")
        self.config.chmod(0o600)

    def authorize(self, c: Container, public_key: str) -> None:
        """Install the lab's public key as root's only authorized key on a node (through the engine:
        this is provisioning, done once, like cloud-init on a real machine)."""
        script = f"umask 077 && mkdir -p /root/.ssh && printf '%s\\n' '{public_key}' > /root/.ssh/authorized_keys"
        rc, out = c.exec_run(["sh", "-c", script])
        if rc != 0:
            raise LabError(f"host {c.name}: cannot install the lab's SSH key: {out.decode(errors='replace')[-200:]}")

    def host_key(self, c: Container, timeout: float = 30.0) -> str:
        """The node's own ed25519 host key (``type base64``), made at its first boot by ssh.service
        (waited for: under load the key can appear after systemd first reports ``running``)."""
        deadline = time.monotonic() + timeout
        text, rc = "", None
        while time.monotonic() < deadline:
            cmd = f"systemctl is-active -q ssh && cat /etc/ssh/ssh_host_{_KEY_TYPE}_key.pub"
            rc, out = c.exec_run(["sh", "-c", cmd])
            text = out.decode(errors="replace").strip()
            if rc == 0 and text.startswith("ssh-"):
                return " ".join(text.split()[:2])
            time.sleep(0.3)
        raise LabError(f"host {c.name}: no SSH host key after {timeout:.0f} s (exit {rc}: {text[-200:]})")

    def pin(self, keys: dict[str, str]) -> None:
        """Write known_hosts: one line per node address and its host key. The lab's parts pin their
        own nodes: a key for an address already there replaces it, other addresses stay."""
        with _LOCK:
            pinned: dict[str, str] = {}
            if self.known_hosts.exists():
                for line in self.known_hosts.read_text(encoding="utf-8").splitlines():
                    addr, _, key = line.partition(" ")
                    if key:
                        pinned[addr] = key
            pinned.update(keys)
            lines = [f"{addr} {key}" for addr, key in sorted(pinned.items())]
            tmp = self.known_hosts.with_suffix(".tmp")
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            tmp.chmod(0o600)
            tmp.replace(self.known_hosts)

    def url(self, address: str, user: str = "root") -> str:
        """The node's target URL: testinfra's ssh backend with the lab's ssh_config and key, by path."""
        cfg = quote(str(self.config), safe="/")
        key = quote(str(self.key), safe="/")
        return f"ssh://{user}@{address}?ssh_config={cfg}&ssh_identity_file={key}"

    def remove(self) -> None:
        """Forget the lab's keys (``lab down``): a new lab gets new ones."""
        if self.known_hosts.exists():  # end the master connections (ControlPersist) to the lab's nodes
            for line in self.known_hosts.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    subprocess.run(
                        ["ssh", "-F", str(self.config), "-O", "exit", f"root@{line.split()[0]}"],
                        capture_output=True,
                        timeout=10,
                        check=False,
                    )
        shutil.rmtree(self.dir, ignore_errors=True)
