"""Fleets described the way their teams already keep them: Ansible hosts files and SSH node maps.

- :func:`inventory_from_ansible`: an Ansible inventory (INI or YAML) becomes hadrill nodes reached as
  ``ssh://USER@HOST[:PORT]``, their groups as roles. ``ansible_host``, ``ansible_user``, ``ansible_port``
  and ``ansible_ssh_private_key_file`` are read (host vars over group vars over ``all`` vars, a child
  group's over its parent's); the key is referenced by path, never read. A host's BMC, for power faults,
  comes from ``hadrill_bmc_driver`` (ipmi or redfish), ``hadrill_bmc_address``, ``hadrill_bmc_port``,
  ``hadrill_bmc_username`` and ``hadrill_bmc_password_file`` (a path: an inline password is refused).
  Numeric host ranges (``node[01:03]``) expand as Ansible does. Dynamic inventories (scripts, plugins)
  are not read.
- :func:`load_ssh_map`: a YAML map ``node name: ssh://...`` (or an Ansible hosts file) for
  :func:`hadrill.providers.inventory_from_kubeconfig`.

Bad input is a :class:`~hadrill.errors.ConfigError` naming the file, the line or key, and what was expected.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from hadrill.config import load_yaml, read_text
from hadrill.errors import ConfigError
from hadrill.inventory import Bmc, Inventory, Node

__all__ = ["inventory_from_ansible", "load_ssh_map", "parse_ansible"]

_RANGE = re.compile(r"^(?P<head>[^\[\]]*)\[(?P<lo>\d+):(?P<hi>\d+)\](?P<tail>[^\[\]]*)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SKIP_GROUPS = ("all", "ungrouped")


class _Groups:
    """Groups with their hosts, vars and children, as both formats describe them."""

    def __init__(self) -> None:
        self.hosts: dict[str, dict[str, str]] = {}  # host -> its own vars
        self.members: dict[str, list[str]] = {"all": [], "ungrouped": []}
        self.vars: dict[str, dict[str, str]] = {}
        self.children: dict[str, list[str]] = {}

    def add_host(self, group: str, host: str, hvars: dict[str, str]) -> None:
        self.hosts.setdefault(host, {}).update(hvars)
        self.members.setdefault(group, []).append(host)


def _expand(pattern: str, source: str, where: str) -> list[str]:
    m = _RANGE.match(pattern)
    if m is None:
        if "[" in pattern or not _NAME.match(pattern):
            raise ConfigError(source, where, "a host name or a numeric range such as node[01:03]", pattern)
        return [pattern]
    lo, hi = m["lo"], m["hi"]
    if int(lo) > int(hi):
        raise ConfigError(source, where, "a range whose start is not after its end", pattern)
    width = len(lo) if lo.startswith("0") else 0
    return [f"{m['head']}{str(i).zfill(width)}{m['tail']}" for i in range(int(lo), int(hi) + 1)]


def _kv(words: list[str], source: str, where: str) -> dict[str, str]:
    out = {}
    for w in words:
        key, sep, value = w.partition("=")
        if not sep or not key:
            raise ConfigError(source, where, "key=value host variables", w)
        out[key] = value.strip("'\"")
    return out


def _parse_ini(text: str, source: str) -> _Groups:
    g = _Groups()
    section, kind = "ungrouped", "hosts"
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        where = f"line {n}"
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            m = re.fullmatch(r"\[([A-Za-z0-9_.-]+)(?::(vars|children))?\]", line)
            if m is None:
                raise ConfigError(source, where, "a section [group], [group:vars] or [group:children]", line)
            section, kind = m[1], m[2] or "hosts"
            g.members.setdefault(section, [])
            continue
        if kind == "vars":
            g.vars.setdefault(section, {}).update(_kv([line.replace(" = ", "=")], source, where))
        elif kind == "children":
            g.children.setdefault(section, []).append(line)
        else:
            words = line.split()
            for host in _expand(words[0], source, where):
                g.add_host(section, host, _kv(words[1:], source, where))
    return g


def _yaml_group(g: _Groups, name: str, body: Any, source: str, path: str) -> None:
    if body is None:
        body = {}
    if not isinstance(body, dict) or set(body) - {"hosts", "vars", "children"}:
        raise ConfigError(source, path, "a group: a map with hosts, vars and children")
    g.members.setdefault(name, [])
    for pattern, hvars in (body.get("hosts") or {}).items():
        if hvars is not None and not isinstance(hvars, dict):
            raise ConfigError(source, f"{path}.hosts.{pattern}", "a map of host variables (or nothing)")
        for host in _expand(str(pattern), source, f"{path}.hosts"):
            g.add_host(name, host, {str(k): str(v) for k, v in (hvars or {}).items()})
    g.vars.setdefault(name, {}).update({str(k): str(v) for k, v in (body.get("vars") or {}).items()})
    for child, child_body in (body.get("children") or {}).items():
        g.children.setdefault(name, []).append(str(child))
        _yaml_group(g, str(child), child_body, source, f"{path}.children.{child}")


def _parse_yaml(data: Any, source: str) -> _Groups:
    if not isinstance(data, dict) or not data:
        raise ConfigError(source, "", "an Ansible YAML inventory: a map of groups (all: {hosts, vars, children})")
    g = _Groups()
    for name, body in data.items():
        _yaml_group(g, str(name), body, source, str(name))
    return g


def _ancestors(g: _Groups, group: str, source: str) -> list[str]:
    """``group``'s parents from the farthest to itself (for vars precedence)."""
    parents = {child: parent for parent, kids in g.children.items() for child in kids}
    chain, seen = [group], {group}
    while chain[0] in parents:
        parent = parents[chain[0]]
        if parent in seen:
            raise ConfigError(source, f"{parent}:children", "groups that do not contain themselves", group)
        chain.insert(0, parent)
        seen.add(parent)
    return chain


def _is_yaml(text: str) -> bool:
    """The first meaningful line decides: a YAML inventory opens with a group key (``all:``), an INI one
    with a section or a host line."""
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith(("#", ";", "---")):
            return not s.startswith("[") and (s.endswith(":") or ": " in s)
    return False


def parse_ansible(text: str, source: str) -> list[Node]:
    """The hosts of an Ansible inventory as hadrill nodes (roles: their groups, all and ungrouped aside)."""
    g = _parse_yaml(load_yaml(text, source), source) if _is_yaml(text) else _parse_ini(text, source)
    for parent, kids in g.children.items():
        for kid in kids:
            if kid not in g.members:
                raise ConfigError(source, f"{parent}:children", "a group defined in the file", kid)
    if not g.hosts:
        raise ConfigError(source, "", "at least one host")
    nodes = []
    for host, own in g.hosts.items():
        groups: list[str] = [grp for grp, hosts in g.members.items() if host in hosts]
        for grp in list(groups):  # a host of a child group belongs to its parents too
            groups += [a for a in _ancestors(g, grp, source) if a not in groups]
        hv: dict[str, str] = dict(g.vars.get("all", {}))
        for grp in sorted(groups, key=lambda x: len(_ancestors(g, x, source))):
            hv.update(g.vars.get(grp, {}))
        hv.update(own)
        nodes.append(_node(host, hv, [x for x in groups if x not in _SKIP_GROUPS], source))
    return nodes


def _node(host: str, hv: dict[str, str], roles: list[str], source: str) -> Node:
    address = hv.get("ansible_host", host)
    user = hv.get("ansible_user", "root")
    port = hv.get("ansible_port", "")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(source, f"{host}.ansible_port", "a TCP port (1-65535)", port)
    if not _NAME.match(address) or not re.fullmatch(r"[A-Za-z0-9._-]+", user):
        raise ConfigError(source, f"{host}.ansible_host", "a host name or address and a plain user name", address)
    url = f"ssh://{user}@{address}{':' + port if port else ''}"
    key = hv.get("ansible_ssh_private_key_file") or hv.get("ansible_private_key_file")
    if key:
        url += f"?ssh_identity_file={quote(str(Path(key).expanduser()), safe='/')}"
    addresses = {"mgmt": address} if re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", address) else {}
    return Node(name=host, url=url, roles=sorted(set(roles)), addresses=addresses, bmc=_bmc(host, hv, source))


def _bmc(host: str, hv: dict[str, str], source: str) -> Bmc | None:
    """The host's BMC from its ``hadrill_bmc_*`` vars, if it names one."""
    if "hadrill_bmc_password" in hv:
        raise ConfigError(source, f"{host}.hadrill_bmc_password", "no inline password: hadrill_bmc_password_file, "
                          "the path of a file only its owner reads", "a password")  # fmt: skip
    fields: dict[str, Any] = {k.removeprefix("hadrill_bmc_"): v for k, v in hv.items() if k.startswith("hadrill_bmc_")}
    if not fields:
        return None
    for key in ("port", "cipher_suite"):  # Ansible's vars are strings
        if str(fields.get(key, "")).isdigit():
            fields[key] = int(fields[key])
    if "insecure" in fields:
        fields["insecure"] = {"true": True, "yes": True, "false": False, "no": False}.get(fields["insecure"].lower())
    try:
        return Bmc.model_validate(fields)
    except ValidationError as e:
        err = sorted(e.errors(), key=lambda x: x["type"] != "extra_forbidden")[0]  # a misspelt var first
        where = f"{host}.hadrill_bmc_{err['loc'][0]}" if err["loc"] else f"{host}.hadrill_bmc_*"
        expected = {
            "missing": "a value: the host's other hadrill_bmc_* vars name a BMC",
            "extra_forbidden": "one of hadrill_bmc_" + ", hadrill_bmc_".join(Bmc.model_fields),
        }.get(err["type"], err["msg"].removeprefix("Value error, "))
        raise ConfigError(source, where, expected) from None


def inventory_from_ansible(path: Path, platform: str | None = None) -> Inventory:
    """Read an Ansible hosts file (INI or YAML) into an inventory of ``ssh://`` nodes (no clusters)."""
    nodes = parse_ansible(read_text(path, "Ansible hosts file"), str(path))
    return Inventory(platform=platform or path.stem, source="ansible", nodes=nodes)


def load_ssh_map(path: Path) -> dict[str, str]:
    """Node name → ``ssh://`` URL, from a YAML map or an Ansible hosts file."""
    text = read_text(path, "SSH node map")
    data = None
    with contextlib.suppress(ConfigError):
        data = load_yaml(text, str(path))
    if isinstance(data, dict) and data and all(isinstance(v, str) for v in data.values()):
        for name, url in data.items():
            if not str(url).startswith("ssh://"):
                raise ConfigError(str(path), str(name), "an ssh:// URL such as ssh://root@10.0.0.11", url)
        return {str(k): str(v) for k, v in data.items()}
    return {n.name: n.url for n in parse_ansible(text, str(path))}
