"""BMC emulators for the lab's nodes, so the power drivers ``ipmi`` and ``redfish`` are tested against
the protocols real BMCs speak, with a real effect on the lab's machines.

- IPMI 2.0 (lanplus): pyghmi's BMC server (``pyghmi.ipmi.bmc.Bmc``, what VirtualBMC is built on), one UDP
  port per node on 127.0.0.1; its power commands kill and start the node's container.
- Redfish: OpenStack's ``sushy-emulator`` as shipped, with its fake systems driver (one system per node,
  basic auth from a bcrypt htpasswd file). It reports every change of a system to an external URL; a
  small bridge here receives it and kills or starts the node's container. Like many real BMCs, the
  emulator applies a power change some seconds after it is asked, when the system is next read.

Run as ``python -m hadrill.lab.bmc DIR NODE... [--for SECONDS]``: it writes ``DIR/password`` (0600),
``DIR/bmcs.json`` (each node's ``ipmi`` and ``redfish`` BMC, as an inventory's ``bmc`` entry) and then
``DIR/ready``, and serves until ``--for`` seconds have passed (bounded) or it is terminated.
:class:`LabBmcs` starts and stops that process for tests and benches. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["LabBmcs", "with_bmc"]

USER = "hadrill"
_HOST = "127.0.0.1"


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((_HOST, 0))
        return int(s.getsockname()[1])


def _power(container: Any, on: bool) -> None:
    container.reload()
    if on and container.status != "running":
        container.start()
    elif not on and container.status in ("running", "paused"):
        container.kill()


def _ipmi_bmc_class() -> Any:
    import pyghmi.ipmi.bmc as bmc

    class LabIpmiBmc(bmc.Bmc):  # type: ignore[misc]
        """A node's IPMI BMC: chassis power is its container's state."""

        def __init__(self, authdata: dict[str, str], port: int, container: Any) -> None:
            super().__init__(authdata, port, address=_HOST)
            self.container = container

        def get_power_state(self) -> str:
            self.container.reload()
            return "on" if self.container.status in ("running", "paused") else "off"

        def power_off(self) -> None:
            _power(self.container, False)

        def power_on(self) -> None:
            _power(self.container, True)

        def power_shutdown(self) -> None:
            self.container.stop(timeout=10)

        def power_reset(self) -> None:
            _power(self.container, False)
            _power(self.container, True)

        power_cycle = power_reset

        def is_active(self) -> bool:
            return bool(self.get_power_state() == "on")

    return LabIpmiBmc


class _Bridge(BaseHTTPRequestHandler):
    """Receives sushy-emulator's system notifications (PUT, the system as JSON) and powers the node."""

    containers: ClassVar[dict[str, Any]] = {}

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        container = self.containers.get(str(body.get("name")))
        if container is not None and not body.get("pending_power"):
            _power(container, body.get("power_state") == "On")
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve(directory: Path, nodes: list[str], seconds: float) -> int:
    """Serve the nodes' BMCs until ``seconds`` have passed or SIGTERM; see the module's docstring."""
    import bcrypt
    import docker
    from pyghmi.ipmi.private.session import Session

    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)  # 16 characters: IPMI 2.0 allows at most 20 bytes
    pw_file = directory / "password"
    pw_file.touch(mode=0o600)
    pw_file.write_text(password + "\n")
    htpasswd = directory / "htpasswd"
    htpasswd.write_text(f"{USER}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
    client = docker.from_env(timeout=60)
    containers = {n: client.containers.get(n) for n in nodes}

    ipmi_class = _ipmi_bmc_class()
    bmcs: dict[str, dict[str, Any]] = {}
    servers = []
    for node in nodes:
        port = _free_port(socket.SOCK_DGRAM)
        servers.append(ipmi_class({USER: password}, port, containers[node]))
        bmcs[node] = {"ipmi": {"driver": "ipmi", "address": _HOST, "port": port, "username": USER,
                               "password_file": str(pw_file)}}  # fmt: skip

    _Bridge.containers = containers
    bridge = ThreadingHTTPServer((_HOST, 0), _Bridge)
    threading.Thread(target=bridge.serve_forever, name="bmc-bridge", daemon=True).start()
    redfish_port = _free_port(socket.SOCK_STREAM)
    systems: list[dict[str, Any]] = []
    for node in nodes:
        system = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node}.hadrill.lab"))
        running = containers[node].status in ("running", "paused")
        systems.append({"uuid": system, "name": node, "power_state": "On" if running else "Off",
                        "external_notifier": True, "nics": []})  # fmt: skip
        bmcs[node]["redfish"] = {"driver": "redfish", "address": f"http://{_HOST}:{redfish_port}", "username": USER,
                                 "password_file": str(pw_file), "system": system}  # fmt: skip
    config = directory / "sushy.conf"
    config.write_text(
        f"SUSHY_EMULATOR_LISTEN_IP = {_HOST!r}\nSUSHY_EMULATOR_LISTEN_PORT = {redfish_port}\n"
        f"SUSHY_EMULATOR_AUTH_FILE = {str(htpasswd)!r}\nSUSHY_EMULATOR_STATE_DIR = {str(directory / 'state')!r}\n"
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = {systems!r}\n"
        f"EXTERNAL_NOTIFICATION_URL = 'http://{_HOST}:{bridge.server_address[1]}/'\n"
    )
    sushy = Path(sys.executable).with_name("sushy-emulator")
    with (directory / "sushy.log").open("ab") as log:
        redfish = subprocess.Popen([str(sushy), "--fake", "--config", str(config)], stdout=log, stderr=log)
    try:
        _wait_http(redfish_port, redfish)
        (directory / "bmcs.json").write_text(json.dumps(bmcs, indent=2))
        (directory / "ready").touch()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline and redfish.poll() is None:
            Session.wait_for_rsp(timeout=0.5)
    finally:
        redfish.terminate()
        redfish.wait(timeout=10)
        bridge.shutdown()
    return 0


def _wait_http(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sushy-emulator exited with {proc.returncode}")
        try:
            socket.create_connection((_HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sushy-emulator did not listen on {port} within {timeout:.0f} s")


class LabBmcs:
    """The BMC emulators for a lab's node containers, in a process of their own (they outlive a killed
    harness, as a real BMC does). Use as a context manager; ``specs[node][driver]`` is the node's BMC."""

    def __init__(self, directory: Path, nodes: list[str], seconds: float = 3600.0) -> None:
        self.directory = directory
        self.nodes = nodes
        self.seconds = seconds
        self.proc: subprocess.Popen[bytes] | None = None
        self.specs: dict[str, dict[str, dict[str, Any]]] = {}

    def __enter__(self) -> LabBmcs:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "ready").unlink(missing_ok=True)
        argv = [sys.executable, "-m", "hadrill.lab.bmc", str(self.directory), *self.nodes, "--for", str(self.seconds)]
        with (self.directory / "bmc.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while not (self.directory / "ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                tail = (self.directory / "bmc.log").read_text(errors="replace")[-600:]
                raise RuntimeError(f"the lab's BMC emulators did not start: {tail}")
            time.sleep(0.1)
        self.specs = json.loads((self.directory / "bmcs.json").read_text())
        return self

    def __exit__(self, *_: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def with_bmc(inventory: Any, specs: dict[str, dict[str, dict[str, Any]]], driver: str) -> Any:
    """The inventory with each node that has a lab BMC given its ``driver`` BMC."""
    data = inventory.model_dump(mode="json")
    for node in data["nodes"]:
        if node["name"] in specs:
            node["bmc"] = specs[node["name"]][driver]
    return type(inventory).model_validate(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hadrill.lab.bmc", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("nodes", nargs="+")
    parser.add_argument("--for", dest="seconds", type=float, default=3600.0, help="serve this long at most")
    args = parser.parse_args(argv)
    os.umask(0o077)
    return serve(args.directory, args.nodes, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
