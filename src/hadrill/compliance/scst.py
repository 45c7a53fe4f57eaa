"""SCST iSCSI targets: every vdisk is write-through with no NV cache, in scst.conf and live in sysfs.

An iSCSI target that acknowledges writes from a volatile cache loses acknowledged data when it dies,
which is exactly the failure an HA storage pair exists to survive. SCST's vdisk handlers
(``vdisk_fileio``, ``vdisk_blockio``) must therefore run with ``write_through 1`` and ``nv_cache 0``.

``scst.conf`` (what scstadmin reads and writes) is a tree of blocks and attributes::

    HANDLER vdisk_fileio {            # KIND [args...] { ... }
        DEVICE disk01 {
            filename "/srv/disk 01.img"   # key value..., values may be quoted
            write_through 1
            nv_cache 0
        }
    }
    TARGET_DRIVER iscsi {
        enabled 1
        TARGET iqn.2024-01.lab:tgt { LUN 0 disk01; GROUP hosts { INITIATOR iqn... } }
    }

:func:`parse_scst_conf` reads any such tree (HANDLER, DEVICE, TARGET_DRIVER, TARGET, LUN, GROUP,
DEVICE_GROUP, TARGET_GROUP...), with ``#`` comments, double or single quotes and backslash escapes,
and ``;`` or newlines between statements; a mistake is a ConfigError naming the file and the line.
When ``/sys/kernel/scst_tgt`` exists on a host the live attributes are read too
(``handlers/<handler>/<device>/{write_through,nv_cache}``: the value on the first line).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hadrill.clients.nodes import as_node, read_text
from hadrill.compliance.policy import ScstPolicy
from hadrill.compliance.registry import CHECKS, Finding, Verdict, register
from hadrill.errors import ConfigError, TargetError

__all__ = ["Block", "ScstDevice", "check_scst", "parse_scst_conf", "vdisk_devices"]

SUITE = "scst"
VDISK_HANDLERS = ("vdisk_fileio", "vdisk_blockio")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]*")


@dataclass
class Block:
    """A ``KIND args { ... }`` block: attributes (``key value``) and child blocks, in file order."""

    kind: str
    args: list[str]
    line: int
    attrs: dict[str, str] = field(default_factory=dict)
    statements: list[tuple[str, str, int]] = field(default_factory=list)  # every `key value`, repeats kept
    children: list[Block] = field(default_factory=list)

    @property
    def name(self) -> str:
        return " ".join(self.args)

    def blocks(self, kind: str) -> Iterator[Block]:
        return (b for b in self.children if b.kind == kind)


Token = tuple[str, int, bool]  # (text, line, quoted)


def _tokens(text: str, source: str) -> Iterator[Token]:
    """Words, quoted strings, ``{``, ``}`` and statement ends (``\\n`` or ``;``), with line numbers."""
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n" or c == ";":
            yield ("\n", line, False)
            line += c == "\n"
            i += 1
        elif c in " \t\r\f\v":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{}":
            yield (c, line, False)
            i += 1
        elif c in "\"'":
            start, i, buf = line, i + 1, []
            while i < n and text[i] != c:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                line += text[i] == "\n"
                buf.append(text[i])
                i += 1
            if i >= n:
                raise ConfigError(source, f"line {start}", f"a closing {c} for the quote opened here")
            i += 1
            yield ("".join(buf), start, True)
        else:
            j = i
            while j < n and text[j] not in " \t\r\f\v\n;#{}\"'":
                j += 1
            yield (text[i:j], line, False)
            i = j


def parse_scst_conf(text: str, source: str = "scst.conf") -> Block:
    """Parse scst.conf text into a root :class:`Block` (kind ``ROOT``); errors name file and line."""
    root = Block("ROOT", [], 0)
    stack = [root]
    words: list[Token] = []
    for tok, line, quoted in _tokens(text, source):
        if tok == "{" and not quoted:
            if not words:
                raise ConfigError(source, f"line {line}", "a block kind (such as DEVICE name) before '{'")
            kind, kline, kquoted = words[0]
            if kquoted or not _WORD.fullmatch(kind):
                raise ConfigError(source, f"line {kline}", "a block kind such as HANDLER or DEVICE", kind)
            block = Block(kind, [w for w, _, _ in words[1:]], kline)
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif tok == "}" and not quoted:
            if words:
                _attribute(stack[-1], words, source)
                words = []
            if len(stack) == 1:
                raise ConfigError(source, f"line {line}", "no '}' without an open block")
            stack.pop()
        elif tok == "\n" and not quoted:
            if words:
                _attribute(stack[-1], words, source)
                words = []
        else:
            words.append((tok, line, quoted))
    if words:
        _attribute(stack[-1], words, source)
    if len(stack) > 1:
        raise ConfigError(source, f"line {stack[-1].line}", f"a '}}' closing {stack[-1].kind} {stack[-1].name}".strip())
    return root


def _attribute(block: Block, words: list[Token], source: str) -> None:
    key, line, quoted = words[0]
    if quoted or not _WORD.fullmatch(key):
        raise ConfigError(source, f"line {line}", "an attribute name such as write_through", key)
    value = " ".join(w for w, _, _ in words[1:])
    block.attrs[key] = value  # the last one wins, as in scstadmin
    block.statements.append((key, value, line))


@dataclass(frozen=True)
class ScstDevice:
    """One vdisk and its caching attributes (None: not set; SCST's default is 0 for both)."""

    handler: str
    name: str
    write_through: str | None
    nv_cache: str | None
    source: str  # "scst.conf line N" or "sysfs"


def vdisk_devices(root: Block, source: str = "scst.conf") -> list[ScstDevice]:
    out = []
    for handler in root.blocks("HANDLER"):
        if handler.name not in VDISK_HANDLERS:
            continue
        for dev in handler.blocks("DEVICE"):
            wt, nv = dev.attrs.get("write_through"), dev.attrs.get("nv_cache")
            out.append(ScstDevice(handler.name, dev.name, wt, nv, f"{source} line {dev.line}"))
    return out


def _live_devices(node: Any, sysfs_root: str) -> list[ScstDevice] | None:
    """Devices from ``<sysfs_root>/handlers``; None when the SCST sysfs tree does not exist."""
    q = shlex.quote(sysfs_root)
    script = (
        f"[ -d {q}/handlers ] || exit 44; for h in {' '.join(VDISK_HANDLERS)}; do "
        f'for d in {q}/handlers/$h/*; do [ -d "$d" ] || continue; '
        'printf "%s\\t%s\\t%s\\t%s\\n" "$h" "${d##*/}" "$(head -n1 "$d/write_through" 2>/dev/null)" '
        '"$(head -n1 "$d/nv_cache" 2>/dev/null)"; done; done'
    )
    res = node.run(script, timeout=15)
    if res.rc == 44:
        return None
    if not res.ok:
        raise TargetError(f"{node.url}: cannot read {sysfs_root}: {res.stderr.strip()[-200:]}")
    devices = []
    for line in res.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            h, d, wt, nv = parts
            devices.append(ScstDevice(h, d, wt.strip() or None, nv.strip() or None, f"sysfs {sysfs_root}"))
    return devices


def check_scst(node_like: Any, policy: ScstPolicy | None = None, *, name: str = "") -> list[Finding]:
    """scst.conf's vdisks, and the live ones when SCST's sysfs tree exists on the node."""
    policy = policy or ScstPolicy()
    node = as_node(node_like)
    label = name or node.url
    wt, nv = CHECKS["HD-SCST-001"], CHECKS["HD-SCST-002"]
    devices: list[ScstDevice] = []
    try:
        text = read_text(node, policy.config)
        live = _live_devices(node, policy.sysfs_root)
    except TargetError as e:
        return [wt.error(label, str(e), object=policy.config), nv.error(label, str(e), object=policy.config)]
    if text is not None:
        try:
            devices += vdisk_devices(parse_scst_conf(text, f"{label}:{policy.config}"), policy.config)
        except ConfigError as e:
            return [wt.error(label, str(e), object=policy.config), nv.error(label, str(e), object=policy.config)]
    devices += live or []
    if text is None and live is None:
        msg = f"neither {policy.config} nor {policy.sysfs_root} exists: no SCST configuration to check"
        return [wt.error(label, msg, object=policy.config), nv.error(label, msg, object=policy.config)]
    findings: list[Finding] = []
    for dev in devices:
        findings += wt.evaluate(label, dev) + nv.evaluate(label, dev)
    return findings


def _obj(d: ScstDevice) -> str:
    return f"{d.handler}/{d.name} ({d.source.split(' line ')[0]})"


@register(
    "HD-SCST-001", suite=SUITE, severity="critical",
    reference="platform rule: iSCSI targets acknowledge only stable writes (SCST vdisk write_through)",
    title="Every SCST vdisk device is write-through",
    remediation="Set `write_through 1` in the DEVICE block of scst.conf (and live: echo 1 > "
    "/sys/kernel/scst_tgt/handlers/<handler>/<device>/write_through), then scstadmin -write_config.",
)  # fmt: skip
def write_through(d: ScstDevice) -> Verdict:
    value = d.write_through if d.write_through is not None else "unset (SCST default 0)"
    msg = f"{d.handler} {d.name} ({d.source}): write_through {value}"
    return Verdict(d.write_through == "1", value, "1", msg, object=_obj(d))


@register(
    "HD-SCST-002", suite=SUITE, severity="critical",
    reference="platform rule: iSCSI targets acknowledge only stable writes (SCST vdisk nv_cache)",
    title="No SCST vdisk device trusts a non-volatile cache",
    remediation="Set `nv_cache 0` (or remove it) in the DEVICE block of scst.conf; nv_cache 1 makes SCST ignore "
    "SYNCHRONIZE CACHE and FUA, so a crash loses acknowledged writes.",
)  # fmt: skip
def nv_cache(d: ScstDevice) -> Verdict:
    value = d.nv_cache if d.nv_cache is not None else "unset (SCST default 0)"
    msg = f"{d.handler} {d.name} ({d.source}): nv_cache {value}"
    return Verdict(d.nv_cache in (None, "0"), value, "0", msg, object=_obj(d))
