"""The host-side deadman process: ``python .../hadrill/faults/hostdeadman.py TAG DEADLINE DIR READY ACTIONS``.

Run as a file, it imports nothing of hadrill (only the Docker SDK, and the BMC client by path), so it
starts fast and cannot be broken by an import-time side effect of the package.

Started by :func:`hadrill.faults.deadman.arm_on_host` in a session of its own. It reaches the Docker
engine (``GET /_ping`` on its Unix socket with the standard library: importing the Docker SDK costs
about 0.2 s of CPU, which the fault's injection would wait for; through the SDK when ``DOCKER_HOST``
is not a Unix socket), touches ``READY`` so the harness knows it is alive, sleeps until
``DEADLINE`` (epoch seconds), then loads the SDK (the harness's own client: no ``docker`` CLI
needed; loading it earlier would take the CPU from the fault being injected, and a disarmed deadman
never needs it), writes ``DIR/<id>.fired`` and
runs ``ACTIONS``, a JSON list of ``{"op": "start"|"unpause", "container": name}`` (a ``start`` may
name the instance the fault cut, ``"started_at"``: see :func:`power_on`),
``{"op": "exec", "container": name, "cmd": [argv...]}`` and ``{"op": "disconnect"|"connect",
"container": name, "network": net, "ip": address}`` (a node restarted cut off from the others, then
connected again at its fixed address), ``{"op": "bmc-on", "bmc": {...}}`` (power a machine on through
its BMC, :mod:`hadrill.clients.bmc` loaded by path: no Docker engine needed for it) and ``{"op":
"swarm_rejoin", "container"|"ssh": survivor, ...}`` (see :func:`swarm_rejoin`), each attempted even if an
earlier one failed. Its output is the log ``DIR/<id>.log``. ``TAG`` (``hadrill-deadman-<id>``) lets
disarm find it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["fire", "main", "swarm_rejoin"]


@functools.cache
def _load(relative: str, name: str) -> Any:
    """A hadrill module that imports only the standard library, loaded by path (not through the package),
    once per process."""
    path = Path(__file__).resolve().parents[1] / relative
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bmc_module() -> Any:
    """hadrill's BMC client (:mod:`hadrill.clients.bmc`)."""
    return _load("clients/bmc.py", "hadrill_deadman_bmc")


def _rejoin_module() -> Any:
    return _load("faults/swarm_rejoin.py", "hadrill_deadman_swarm_rejoin")


def swarm_rejoin(client: Any, action: dict[str, Any]) -> str:
    """ForceNewCluster's revert (:mod:`hadrill.faults.swarm_rejoin`, the harness's own), from this host;
    a lost host is powered on with :func:`power_on`."""
    return str(
        _rejoin_module().rejoin(
            client, action, say=lambda s: print(f"{time.strftime('%H:%M:%S')} {s}", flush=True),
            power_on=lambda op: power_on(client, op),
        )
    )  # fmt: skip


KILLED_TEARDOWN_S = 10.0  # how long the engine may take to tear down the instance a fault killed


def power_on(client: Any, op: dict[str, Any]) -> str:
    """A ``start`` (the lab's engine starts the node's container) or ``bmc-on`` action; what was done.
    Raises on failure.

    ``started_at`` (in a ``start``): the instance the fault cut. The engine still says it is running
    while it tears it down (a few tenths of a second), and a start then does nothing: wait until that
    instance is gone, at most ``KILLED_TEARDOWN_S`` (a deadman armed by a run that died before it cut
    anything finds it running on, and leaves it so)."""
    if op["op"] == "bmc-on":
        return _bmc_on(op["bmc"])
    c = client.containers.get(op["container"])
    c.reload()
    deadline = time.monotonic() + KILLED_TEARDOWN_S
    while (
        op.get("started_at") and c.status == "running" and c.attrs["State"].get("StartedAt") == op["started_at"]
        and time.monotonic() < deadline
    ):  # fmt: skip
        time.sleep(0.1)
        c.reload()
    was = c.status
    if was == "paused":
        c.unpause()
    elif was != "running":
        c.start()
    return f"{op['op']} {op['container']}: was {was}, now running"


def needs_engine(action: dict[str, Any]) -> bool:
    """Whether an action reaches the Docker engine (a BMC one does not)."""
    if action["op"] == "swarm_rejoin":
        return bool(_rejoin_module().needs_engine(action))
    return "container" in action


def _bmc_on(bmc: dict[str, Any]) -> str:
    client = _bmc_module()
    if client.power_state(bmc) != "on":
        client.set_power(bmc, True)
    client.wait_power(bmc, True, timeout=60.0)
    return f"bmc-on {bmc.get('driver')} {bmc.get('address')}: powered on"


def fire(client: Any, actions: list[dict[str, Any]]) -> list[str]:
    """Run the actions; return one line per action (what happened)."""
    out = []
    for a in actions:
        try:
            if a["op"] == "swarm_rejoin":
                out.append(swarm_rejoin(client, a))
                continue
            if a["op"] in ("start", "unpause", "bmc-on"):
                out.append(power_on(client, a))
                continue
            c = client.containers.get(a["container"])
            if a["op"] == "exec":
                rc, text = c.exec_run(a["cmd"])
                out.append(f"exec in {a['container']}: rc {rc} {(text or b'').decode(errors='replace')[-200:]}")
                continue
            if a["op"] in ("disconnect", "connect"):
                net = client.networks.get(a["network"])
                if a["op"] == "disconnect":
                    net.disconnect(c, force=True)
                else:
                    net.connect(c, ipv4_address=a.get("ip") or None)
                out.append(f"{a['op']} {a['container']} {a['network']}: done")
                continue
            raise ValueError(f"unknown deadman action {a['op']!r}")
        except Exception as e:  # one failed action must not stop the others
            out.append(f"{a['op']} {a.get('container') or ''}: FAILED {type(e).__name__}: {e}")
    return out


def unix_socket(docker_host: str | None) -> str | None:
    """The engine's Unix socket path for ``DOCKER_HOST`` (unset: the default socket), None for tcp/ssh."""
    if not docker_host:
        return "/var/run/docker.sock"
    if docker_host.startswith("unix://"):
        return docker_host.removeprefix("unix://") or "/var/run/docker.sock"
    return None


def ping_unix(path: str, timeout: float = 10.0) -> bool:
    """Whether the engine on this socket answers ``GET /_ping`` with 200 OK."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        answer = b""
        while len(answer) < 65536:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].split(b" ")[1:2] == [b"200"] and body.strip() == b"OK"


def _client() -> Any:
    import docker

    return docker.from_env(timeout=150)  # longer than a swarm join or force-new-cluster (swarm_rejoin)


def main(argv: list[str]) -> int:
    tag, deadline_s, directory, ready, actions_json = argv
    actions = json.loads(actions_json)
    record_id = tag.removeprefix("hadrill-deadman-")
    engine = any(needs_engine(a) for a in actions)
    client: Any = None
    path = unix_socket(os.environ.get("DOCKER_HOST"))
    if not engine:
        _bmc_module()  # proof the BMC client loads before saying ready
    elif path is not None:  # proof the engine answers before saying ready; the SDK is loaded when it acts
        if not ping_unix(path) or importlib.util.find_spec("docker") is None:
            print(f"{time.strftime('%H:%M:%S')} no engine answering on {path}, or no Docker SDK", flush=True)
            return 1
    else:
        client = _client()
        client.ping()
    Path(ready).touch()
    print(f"{time.strftime('%H:%M:%S')} armed for {float(deadline_s):.1f} ({actions_json})", flush=True)
    for _ in range(100_000):  # bounded: at most ~28 h of one-second naps
        left = float(deadline_s) - time.time()
        if left <= 0:
            break
        time.sleep(min(left, 1.0))
    (Path(directory) / f"{record_id}.fired").write_text(f"{time.time():.3f}\n")
    for attempt in range(5):  # the engine may hiccup: retry the whole (idempotent) list
        try:
            client = client or (_client() if engine else None)
        except Exception as e:  # the SDK is there (checked before ready): an engine that hiccups
            print(f"{time.strftime('%H:%M:%S')} no Docker client: {type(e).__name__}: {e}", flush=True)
            time.sleep(2**attempt)
            continue
        lines = fire(client, actions)
        print("\n".join(f"{time.strftime('%H:%M:%S')} {line}" for line in lines), flush=True)
        if not any("FAILED" in line for line in lines):
            return 0
        time.sleep(2**attempt)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
