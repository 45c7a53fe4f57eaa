"""NFS clients: ``/etc/nfsmount.conf`` and the live mounts against the site's declared mount policy.

A soft mount returns EIO to applications when the server fails over for longer than its retries, and a
mount at the wrong version or protocol behaves differently across a failover; sites therefore declare
their mount options and hadrill compares both what the client will use (nfsmount.conf's global
section) and what it does use (``/proc/mounts``, types nfs and nfs4).

nfsmount.conf (nfs-utils' conffile format)::

    [ NFSMount_Global_Options ]      # [ Section ] or [ Section "argument" ]
    Defaultvers=3                    # Key=Value, case-insensitive keys; # or ; comments
    Proto=udp
    Hard=True                        # boolean options: True/False
    [ Server "nfs.example.com" ]
    rsize=32768
    [ MountPoint "/data" ]
    timeo=600

The ``vers3-udp-jumbo`` preset is the NFSv3-over-UDP policy some sites mandate on a 9000-byte storage
network: ``vers=3, proto=udp, hard, rsize=wsize=32768, timeo=11, retrans=3`` (the jumbo MTU itself is
the network suite's job). Policy ``options`` override the preset's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hadrill.clients.nodes import as_node, read_text
from hadrill.compliance.policy import NfsMountPolicy, OptionValue
from hadrill.compliance.registry import CHECKS, Finding, Verdict, register
from hadrill.errors import ConfigError, TargetError

__all__ = ["PRESETS", "NfsConfig", "check_nfs_mounts", "effective_options", "parse_mounts", "parse_nfsmount_conf"]

SUITE = "nfs_mounts"
PRESETS: dict[str, dict[str, OptionValue]] = {
    "vers3-udp-jumbo": {"vers": "3", "proto": "udp", "hard": True, "rsize": 32768, "wsize": 32768,
                        "timeo": 11, "retrans": 3},
}  # fmt: skip
GLOBAL = "nfsmount_global_options"
_ALIASES = {"nfsvers": "vers", "defaultvers": "vers", "defaultproto": "proto"}
_DEFAULTS: dict[str, OptionValue] = {"hard": True}  # what the kernel does when nothing is said
_BOOL = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


@dataclass(frozen=True)
class NfsConfig:
    """Sections of nfsmount.conf: (section, argument) → {lower-case key: value}."""

    sections: dict[tuple[str, str], dict[str, str]]

    @property
    def global_options(self) -> dict[str, str]:
        return self.sections.get((GLOBAL, ""), {})


def parse_nfsmount_conf(text: str, source: str = "nfsmount.conf") -> NfsConfig:
    """Parse nfsmount.conf as nfs-utils' conffile.c does, but fail where it would only warn.

    As nfs-utils: a backslash before a newline joins the lines; ``#`` or ``;`` starts a comment line,
    and ends an unquoted value; values may be quoted with ``"`` or ``'``; sections and keys compare
    case-insensitively; text after a section's ``]`` is ignored; a last line without a newline is
    ignored. Where nfs-utils logs "config error" and skips the line (an unmatched ``]`` or quote, a
    line that is not an assignment, an option outside any section, a missing key), this raises a
    ConfigError naming the file and the line.
    """
    sections: dict[tuple[str, str], dict[str, str]] = {}
    current: dict[str, str] | None = None
    physical = text.split("\n")[:-1]  # nfs-utils ignores a last line without its newline
    i = 0
    while i < len(physical):
        start, line = i + 1, physical[i]
        while line.endswith("\\") and i + 1 < len(physical):  # an escaped newline: both become spaces
            i += 1
            line = line[:-1] + "  " + physical[i]
        i += 1
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped[0] == "[":
            name, arg = _section_header(stripped[1:], source, start)
            current = sections.setdefault((name.lower(), arg.lower()), {})
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(source, f"line {start}", "Key=Value, a [ Section ] or a # comment", stripped[:60])
        if current is None:
            raise ConfigError(source, f"line {start}", "a [ Section ] header before the first option", key[:60])
        if not key:
            raise ConfigError(source, f"line {start}", "a key before '='", stripped[:60])
        current[key.lower()] = _value(value.strip(), source, start)
    return NfsConfig(sections)


def _value(value: str, source: str, line: int) -> str:
    if value[:1] in ('"', "'"):
        end = value.find(value[0], 1)
        if end < 0:
            raise ConfigError(source, f"line {line}", f"a closing {value[0]} for the quoted value", value[:60])
        return value[1:end]
    for mark in "#;":
        value = value.split(mark, 1)[0]
    return value.rstrip()


def _section_header(inner: str, source: str, line: int) -> tuple[str, str]:
    """``[ Name "argument" ]`` without its ``[``; whatever follows ``]`` is ignored, as nfs-utils does."""
    end = inner.find("]")
    if end < 0:
        raise ConfigError(source, f"line {line}", "a section header closed by ']'", inner[:60])
    inner = inner[:end].strip()
    name, quote, arg = inner.partition('"')
    name = name.strip()
    if not name:
        raise ConfigError(source, f"line {line}", "a section name such as NFSMount_Global_Options", inner[:60])
    if quote:
        close = arg.find('"')
        if close < 0:
            raise ConfigError(source, f"line {line}", 'a closing " for the section argument', inner[:60])
        arg = arg[:close]
    return name, arg


def _normalise(options: dict[str, str]) -> dict[str, OptionValue]:
    """nfsmount.conf keys/values or mount options → comparable options (vers, proto, hard, ints)."""
    out: dict[str, OptionValue] = {}
    for raw_key, raw in options.items():
        key = _ALIASES.get(raw_key.lower(), raw_key.lower())
        value = raw.strip()
        if key in ("hard", "soft"):
            flag = _BOOL.get(value.lower(), True) if value else True
            out["hard"] = flag if key == "hard" else not flag
        elif value.isdigit():
            out[key] = int(value)
        elif value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
        else:
            out[key] = value
    return out


def parse_mounts(text: str) -> list[tuple[str, str, str, dict[str, OptionValue]]]:
    """(device, mount point, type, options) of every nfs/nfs4 line of /proc/mounts."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("nfs", "nfs4"):
            opts: dict[str, str] = {}
            for opt in parts[3].split(","):
                k, sep, v = opt.partition("=")
                opts[k] = v if sep else ""
            mountpoint = parts[1].replace("\\040", " ")
            out.append((parts[0], mountpoint, parts[2], _normalise(opts)))
    return out


def effective_options(policy: NfsMountPolicy) -> dict[str, OptionValue]:
    """The policy's required options: its preset, overridden by its own options."""
    required = dict(PRESETS[policy.preset]) if policy.preset else {}
    required.update({_ALIASES.get(k.lower(), k.lower()): v for k, v in policy.options.items()})
    return required


def _matches(key: str, want: OptionValue, have: OptionValue | None) -> bool:
    if have is None:
        return False
    if key == "vers":  # policy "4" accepts 4.0/4.1/4.2; "3" accepts "3"
        return str(have) == str(want) or str(have).startswith(f"{want}.")
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    return str(want).lower() == str(have).lower()


def _compare(required: dict[str, OptionValue], have: dict[str, OptionValue], defaults: bool) -> dict[str, Any]:
    """{option: observed} for every option that does not match."""
    wrong: dict[str, Any] = {}
    for key, want in required.items():
        value = have.get(key, _DEFAULTS.get(key) if defaults else None)
        if not _matches(key, want, value):
            wrong[key] = value if value is not None else "unset"
    return wrong


@dataclass(frozen=True)
class _Subject:
    what: str
    required: dict[str, OptionValue]
    wrong: dict[str, Any]
    object: str


def check_nfs_mounts(node_like: Any, policy: NfsMountPolicy | None = None, *, name: str = "") -> list[Finding]:
    """nfsmount.conf's global options and every live nfs/nfs4 mount against the policy."""
    policy = policy or NfsMountPolicy()
    node = as_node(node_like)
    label = name or node.url
    conf_check, mount_check = CHECKS["HD-NFS-001"], CHECKS["HD-NFS-002"]
    required = effective_options(policy)
    findings: list[Finding] = []
    if policy.check_config:
        try:
            text = read_text(node, policy.config)
            if text is None:
                findings.append(conf_check.error(label, f"{policy.config} does not exist", object=policy.config))
            else:
                conf = parse_nfsmount_conf(text, f"{label}:{policy.config}")
                have = _normalise(conf.global_options)
                subject = _Subject(f"{policy.config} [NFSMount_Global_Options]", required,
                                   _compare(required, have, defaults=True), policy.config)  # fmt: skip
                findings += conf_check.evaluate(label, subject)
        except (TargetError, ConfigError) as e:
            findings.append(conf_check.error(label, str(e), object=policy.config))
    try:
        mounts_text = read_text(node, policy.mounts_file) or ""
    except TargetError as e:
        return [*findings, mount_check.error(label, str(e), object=policy.mounts_file)]
    for device, mountpoint, fstype, opts in parse_mounts(mounts_text):
        subject = _Subject(f"{fstype} mount {device} on {mountpoint}", required,
                           _compare(required, opts, defaults=False), mountpoint)  # fmt: skip
        findings += mount_check.evaluate(label, subject)
    return findings


def _verdict(s: _Subject) -> Verdict:
    expected = ",".join(
        f"{k}={v}" if not isinstance(v, bool) else (k if v else f"no {k}") for k, v in s.required.items()
    )
    if not s.wrong:
        return Verdict(True, "as required", expected, f"{s.what}: {expected}", object=s.object)
    shown = ", ".join(f"{k}={v}" for k, v in s.wrong.items())
    return Verdict(False, s.wrong, expected, f"{s.what}: {shown} (required {expected})", object=s.object)


@register(
    "HD-NFS-001", suite=SUITE, severity="medium",
    reference="platform rule: NFS clients mount with the declared options (nfsmount(5) global section)",
    title="nfsmount.conf's global options match the NFS mount policy",
    remediation="Set the required options in [ NFSMount_Global_Options ] of /etc/nfsmount.conf "
    "(e.g. Defaultvers=3, Proto=udp, Hard=True, Timeo=11, Retrans=3, Rsize=32768, Wsize=32768).",
)  # fmt: skip
def nfsmount_conf(s: _Subject) -> Verdict:
    return _verdict(s)


@register(
    "HD-NFS-002", suite=SUITE, severity="high",
    reference="platform rule: NFS clients mount with the declared options (live /proc/mounts)",
    title="Live NFS mounts use the policy's version, protocol and options",
    remediation="Remount with the required options (umount, then mount -o vers=3,proto=udp,hard,...), and fix "
    "fstab or the automounter map so the next mount is right too.",
)  # fmt: skip
def live_mount(s: _Subject) -> Verdict:
    return _verdict(s)
