"""Power a machine off and on through its baseboard management controller: IPMI or Redfish.

A BMC is the only thing that can power a machine on once it is off, so it is what lets a power fault
revert itself on a real fleet. Two drivers, as BMCs speak them:

- ``ipmi``: Debian's ``ipmitool -I lanplus`` (IPMI 2.0 over UDP 623), ``chassis power off|on|status``;
- ``redfish``: HTTP(S) with basic auth, ``ComputerSystem.Reset`` with ``ForceOff`` / ``On`` and the
  system's ``PowerState``.

The password is read from a file named in the inventory (``password_file``, owner-only, mode 0600 or
stricter); it is handed to ipmitool as that file (``-f``) and to Redfish as an Authorization header, so it
is never in an argv, an environment, a ledger record or a log.

This module imports only the standard library: the host deadman (:mod:`hadrill.faults.hostdeadman`)
loads it by path to power a node on at its deadline, without importing hadrill.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

__all__ = ["BmcError", "ipmitool_argv", "power_state", "set_power", "wait_power"]

_TIMEOUT = 10.0  # seconds for one BMC request (BMCs are slow, but a hung one must not hang the harness)


class BmcError(Exception):
    """The BMC could not be reached, refused, or answered something unexpected (the message says which)."""


def _password(spec: Mapping[str, Any]) -> str:
    path = str(spec.get("password_file") or "")
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise BmcError(f"BMC password file {path} is not a regular file")
        if st.st_mode & 0o077:
            mode = f"{st.st_mode & 0o777:o}"
            raise BmcError(f"BMC password file {path} is readable by others (mode {mode}): chmod 600 it")
        with open(path, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except OSError as e:
        raise BmcError(f"BMC password file {path!r}: {e.strerror or e}") from e


def _name(spec: Mapping[str, Any]) -> str:
    port = f":{spec['port']}" if spec.get("port") else ""
    return f"{spec.get('driver')} BMC {spec.get('address')}{port}"


# -- IPMI ------------------------------------------------------------------------------------------------
def ipmitool_argv(spec: Mapping[str, Any], *command: str) -> list[str]:
    """The ipmitool command line for ``command`` (the password goes by file, never in the argv)."""
    argv = ["ipmitool", "-I", "lanplus", "-H", str(spec["address"]), "-U", str(spec["username"])]
    argv += ["-f", str(spec["password_file"]), "-N", "2", "-R", "2"]  # 2 s per try, 2 tries (ipmitool's own)
    argv += ["-C", str(spec.get("cipher_suite", 3))]  # ipmitool's default, 17, is refused by many BMCs
    if spec.get("port"):
        argv += ["-p", str(spec["port"])]
    return [*argv, *command]


def _ipmitool(spec: Mapping[str, Any], *command: str) -> str:
    _password(spec)  # the same permission check as Redfish, before ipmitool reads the file
    if shutil.which("ipmitool") is None:
        raise BmcError("ipmitool is not installed (Debian: apt-get install ipmitool)")
    try:
        proc = subprocess.run(
            ipmitool_argv(spec, *command), capture_output=True, text=True, timeout=_TIMEOUT * 2, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise BmcError(f"{_name(spec)}: ipmitool {' '.join(command)} did not return in {e.timeout:.0f} s") from e
    if proc.returncode != 0:
        raise BmcError(f"{_name(spec)}: ipmitool {' '.join(command)}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc.stdout


def parse_ipmi_power(text: str) -> str:
    """``on`` or ``off`` from ipmitool's ``Chassis Power is on``."""
    for line in text.splitlines():
        if line.strip().lower().startswith("chassis power is "):
            state = line.strip().rsplit(" ", 1)[-1].lower()
            if state in ("on", "off"):
                return state
    raise BmcError(f"unexpected ipmitool power status: {text.strip()[:200]!r}")


# -- Redfish ---------------------------------------------------------------------------------------------
def _redfish(spec: Mapping[str, Any], method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    base = str(spec["address"]).rstrip("/")
    auth = base64.b64encode(f"{spec['username']}:{_password(spec)}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Basic {auth}")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    context = None
    if base.startswith("https://"):
        context = ssl.create_default_context(cafile=spec.get("ca_file") or None)
        if spec.get("insecure"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, timeout=_TIMEOUT, context=context) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raise BmcError(f"{_name(spec)}: {method} {path}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise BmcError(f"{_name(spec)}: {method} {path}: {getattr(e, 'reason', e)}") from e
    try:
        return json.loads(raw) if raw else {}
    except json.JSONDecodeError as e:
        raise BmcError(f"{_name(spec)}: {method} {path}: not JSON") from e


def _system(spec: Mapping[str, Any]) -> str:
    """The system's path: the one named, else the only member of the Systems collection."""
    if spec.get("system"):
        return f"/redfish/v1/Systems/{spec['system']}"
    members = _redfish(spec, "GET", "/redfish/v1/Systems").get("Members") or []
    if len(members) != 1:
        raise BmcError(f"{_name(spec)} manages {len(members)} systems: name one (bmc.system)")
    return str(members[0]["@odata.id"])


# -- the two operations ----------------------------------------------------------------------------------
def power_state(spec: Mapping[str, Any]) -> str:
    """``on`` or ``off``, as the BMC sees the machine (a Redfish ``PoweringOn``/``PoweringOff`` is neither)."""
    if spec.get("driver") == "ipmi":
        return parse_ipmi_power(_ipmitool(spec, "chassis", "power", "status"))
    if spec.get("driver") == "redfish":
        state = str(_redfish(spec, "GET", _system(spec)).get("PowerState", ""))
        return {"On": "on", "Off": "off"}.get(state, state.lower() or "unknown")
    raise BmcError(f"unknown BMC driver {spec.get('driver')!r} (ipmi or redfish)")


def set_power(spec: Mapping[str, Any], on: bool) -> None:
    """Ask the BMC to power the machine on, or off at once (no clean shutdown: a pulled plug)."""
    if spec.get("driver") == "ipmi":
        _ipmitool(spec, "chassis", "power", "on" if on else "off")
    elif spec.get("driver") == "redfish":
        reset = {"ResetType": "On" if on else "ForceOff"}
        _redfish(spec, "POST", _system(spec) + "/Actions/ComputerSystem.Reset", reset)
    else:
        raise BmcError(f"unknown BMC driver {spec.get('driver')!r} (ipmi or redfish)")


def wait_power(spec: Mapping[str, Any], on: bool, timeout: float = 60.0, interval: float = 0.5) -> float:
    """Wait (bounded) until the BMC reports the machine ``on`` (or ``off``); the time it was seen."""
    want = "on" if on else "off"
    deadline = time.monotonic() + timeout
    seen = "not asked"
    while True:
        try:
            seen = power_state(spec)
        except BmcError as e:  # a BMC busy with the change may not answer for a moment
            seen = str(e)
        if seen == want:
            return time.time()
        if time.monotonic() >= deadline:
            raise BmcError(f"{_name(spec)} did not report power {want} within {timeout:.0f} s (last: {seen})")
        time.sleep(interval)
