"""A small Prometheus exporter baked into the lab's NFS and Gluster images, for what they expose none of.

keepalived, nfs-ganesha and glusterfsd serve no metrics, and Debian's exporters for them are not in
bookworm. This script (Python's standard library only: ``python3`` is already in both images) answers
``GET /metrics`` with one gauge per check, computed at each scrape::

    hadrill_lab_check{check="vip"} 1

Checks: ``NAME=proc:COMM`` (a process whose ``/proc/PID/comm`` is COMM runs) and ``NAME=addr:IP`` (IP is
on an interface of this node, from ``ip -o -4 addr``). A check that cannot be computed fails the scrape
(HTTP 500), so Prometheus sees the target down rather than a made-up 0 or 1. Usage::

    hadrill-exporter PORT NAME=KIND:ARG...
"""

from __future__ import annotations

import shlex

__all__ = ["EXPORTER", "EXPORTER_PATH", "EXPORTER_PORT", "EXPORTER_UNIT", "exporter_command", "exporter_unit"]

EXPORTER_PATH = "/usr/local/bin/hadrill-exporter"
EXPORTER_PORT = 9101  # next to the node exporter's 9100
EXPORTER_UNIT = "hadrill-exporter.service"  # on systemd hosts (lab/storage_host.py)

EXPORTER = '''\
#!/usr/bin/python3
"""hadrill lab exporter: hadrill_lab_check{check=NAME} 1|0 per check, computed at each scrape."""
import http.server
import os
import subprocess
import sys


def comms():
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    yield f.read().strip()
            except OSError:  # gone between listdir and open
                continue


def holds(kind, arg):
    if kind == "proc":
        return arg in set(comms())
    if kind == "addr":
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=2, check=True)
        return f" {arg}/" in out.stdout
    raise ValueError(f"unknown check kind {kind!r}")


CHECKS = []
for spec in sys.argv[2:]:
    name, _, rest = spec.partition("=")
    kind, _, arg = rest.partition(":")
    CHECKS.append((name, kind, arg))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        try:
            lines = [
                "# HELP hadrill_lab_check 1 when the check holds (a process runs, an address is here), else 0",
                "# TYPE hadrill_lab_check gauge",
            ]
            lines += [f'hadrill_lab_check{{check="{n}"}} {int(holds(k, a))}' for n, k, a in CHECKS]
        except Exception as e:  # the scrape fails: the target is down, not falsely healthy
            self.send_error(500, str(e)[:200])
            return
        body = ("\\n".join(lines) + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # one scrape a second: no log line for each
        pass


http.server.HTTPServer(("", int(sys.argv[1])), Handler).serve_forever()
'''


def exporter_command(checks: dict[str, str]) -> str:
    """The shell command that starts the exporter in the background with ``checks`` (name -> KIND:ARG)."""
    args = " ".join(shlex.quote(f"{name}={check}") for name, check in checks.items())
    return f"{EXPORTER_PATH} {EXPORTER_PORT} {args} &"


def exporter_unit(checks: dict[str, str], after: tuple[str, ...] = ()) -> str:
    """The systemd unit that runs the exporter with ``checks`` on a host node, started ``after`` the
    role's units as the container's start script starts it after its daemons (a node that boots must
    not report its daemons dead while systemd is still starting them), restarted if it dies."""
    args = [f"{name}={check}" for name, check in checks.items()]
    if any(not a.isprintable() or " " in a or "%" in a or '"' in a for a in args):
        raise ValueError(f"exporter checks must be single words without % or quotes: {args}")
    return f"""\
[Unit]
Description=hadrill lab exporter: hadrill_lab_check for what this node's daemons expose no metrics for
After=network.target {" ".join(after)}

[Service]
ExecStart={EXPORTER_PATH} {EXPORTER_PORT} {" ".join(args)}
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
"""
