"""Docker daemon hardening (CIS Docker Benchmark v1.6.0, section 2 and 3.17/3.18).

A daemon's settings come from two places that must agree: ``daemon.json`` and the ``dockerd`` command
line (docker refuses a setting given in both). Like docker-bench-security, hadrill reads both, and
asks the live daemon (``docker info``) where it can tell the truth itself: whether user namespaces are
in effect (``name=userns`` in SecurityOptions), live restore, the logging driver. Everything is read
through the node (``docker info --format '{{json .}}'`` on it), so ``ssh://`` hosts work as the local
one does; the Docker SDK is the fallback for a local node without the docker CLI.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from hadrill.clients.nodes import FileStat, Node, as_node, read_text, stat_file
from hadrill.compliance.policy import DockerPolicy
from hadrill.compliance.registry import Finding, Verdict, checks_in, register
from hadrill.errors import ConfigError, TargetError

__all__ = ["DaemonFacts", "check_docker", "gather_daemon", "parse_dockerd_args"]

SUITE = "docker"
_BOOL_FLAGS = {
    "icc", "live-restore", "no-new-privileges", "userland-proxy", "iptables", "ip6tables", "ip-forward",
    "ip-masq", "debug", "experimental", "selinux-enabled", "tls", "tlsverify", "init", "raw-logs",
}  # fmt: skip
_SHORT = {"-b": "bridge", "-p": "pidfile", "-s": "storage-driver", "-l": "log-level", "-H": "host", "-G": "group"}
_TRUE = {"1", "t", "true", "yes", "on"}
_FALSE = {"0", "f", "false", "no", "off"}


def parse_dockerd_args(argv: list[str]) -> dict[str, str]:
    """``dockerd`` flags as name → value (bare boolean flags read "true"; the last one given wins).

    >>> parse_dockerd_args(["dockerd", "--icc=false", "--live-restore", "--userns-remap", "default"])
    {'icc': 'false', 'live-restore': 'true', 'userns-remap': 'default'}
    """
    flags: dict[str, str] = {}
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg in ("-D", "--debug"):
            flags["debug"] = "true"
            continue
        if arg in _SHORT or (arg.startswith("--") and "=" not in arg and arg[2:] not in _BOOL_FLAGS):
            name = _SHORT.get(arg, arg[2:])
            if i < len(argv) and not argv[i].startswith("-"):
                flags[name] = argv[i]
                i += 1
            else:
                flags[name] = "true"
            continue
        if arg.startswith("--"):
            name, sep, value = arg[2:].partition("=")
            flags[name] = value if sep else "true"
        elif arg[:2] in _SHORT and len(arg) > 2:  # -Hunix:///... and -b=none
            flags[_SHORT[arg[:2]]] = arg[2:].removeprefix("=")
    return flags


@dataclass(frozen=True)
class DaemonFacts:
    """What hadrill learnt about one daemon."""

    node: str
    policy: DockerPolicy
    config_path: str
    config: dict[str, Any] | None  # daemon.json, None when absent
    config_stat: FileStat | None
    flags: dict[str, str]  # dockerd command line; empty when the process was not found
    info: dict[str, Any]  # docker info
    notes: list[str] = field(default_factory=list)

    def setting(self, key: str) -> tuple[Any, str]:
        """The effective value of a daemon setting and where it came from (flag, file or default)."""
        if key in self.flags:
            return self.flags[key], "command line"
        if self.config is not None and key in self.config:
            return self.config[key], "daemon.json"
        return None, "default"

    def flag_bool(self, key: str, default: bool) -> tuple[bool | None, str]:
        value, source = self.setting(key)
        if value is None:
            return default, source
        if isinstance(value, bool):
            return value, source
        text = str(value).strip().lower()
        return (True if text in _TRUE else False if text in _FALSE else None), source

    @property
    def security_options(self) -> list[str]:
        return [str(o) for o in self.info.get("SecurityOptions") or []]


def _docker_info(node: Node, docker_host: str | None) -> dict[str, Any]:
    host = f" -H {shlex.quote(docker_host)}" if docker_host else ""
    res = node.run(f"docker{host} info --format '{{{{json .}}}}'", timeout=30)
    if res.rc == 127 and node.url.startswith("local://"):
        import docker  # the SDK, for a local daemon when the CLI is missing

        try:
            client = docker.DockerClient(base_url=docker_host or "unix:///var/run/docker.sock", timeout=20)
            return dict(client.info())
        except docker.errors.DockerException as e:
            raise TargetError(f"{node.url}: docker daemon at {docker_host or 'the default socket'}: {e}") from e
    try:
        info = json.loads(res.stdout.strip() or "{}")
    except json.JSONDecodeError:
        info = {}
    errors = info.get("ServerErrors") or []
    if not res.ok or errors or not info.get("ID"):
        detail = "; ".join(map(str, errors)) or (res.stderr or res.stdout).strip()[-300:]
        raise TargetError(f"{node.url}: docker info{host} failed (exit {res.rc}): {detail}")
    return dict(info)


def _dockerd_argv(node: Node, pidfile: str) -> list[str]:
    """The command line of the dockerd whose pid is in ``pidfile`` (or the only dockerd running)."""
    q = shlex.quote(pidfile)
    script = (
        f"p=$(cat {q} 2>/dev/null); "
        '[ -n "$p" ] && [ "$(cat /proc/$p/comm 2>/dev/null)" = dockerd ] || p=$(pgrep -xo dockerd); '
        '[ -n "$p" ] && tr "\\000" "\\n" < /proc/$p/cmdline'
    )
    res = node.run(script, timeout=15)
    return [a for a in res.stdout.splitlines() if a] if res.ok else []


def gather_daemon(node_like: Any, policy: DockerPolicy, name: str = "") -> DaemonFacts:
    """Read daemon.json, its mode and owner, the dockerd command line and ``docker info``."""
    node = as_node(node_like)
    text = read_text(node, policy.daemon_json)
    config: dict[str, Any] | None = None
    if text is not None:
        try:
            loaded = json.loads(text or "{}")
        except json.JSONDecodeError as e:
            raise ConfigError(f"{name or node.url}:{policy.daemon_json}", f"line {e.lineno}", "valid JSON") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"{name or node.url}:{policy.daemon_json}", "", "a JSON object")
        config = loaded
    argv = _dockerd_argv(node, policy.pidfile)
    notes = [] if argv else [f"no dockerd process found through {policy.pidfile}: command-line flags not read"]
    return DaemonFacts(
        node=name or node.url,
        policy=policy,
        config_path=policy.daemon_json,
        config=config,
        config_stat=stat_file(node, policy.daemon_json) if text is not None else None,
        flags=parse_dockerd_args(argv) if argv else {},
        info=_docker_info(node, policy.docker_host),
        notes=notes,
    )


def check_docker(node_like: Any, policy: DockerPolicy | None = None, *, name: str = "") -> list[Finding]:
    """Every docker check against one node's daemon; unreachable daemons give error findings."""
    policy = policy or DockerPolicy()
    label = name or as_node(node_like).url
    try:
        facts = gather_daemon(node_like, policy, label)
    except (TargetError, ConfigError) as e:
        return [c.error(label, str(e), object=policy.daemon_json) for c in checks_in(SUITE)]
    findings: list[Finding] = []
    for chk in checks_in(SUITE):
        findings += chk.evaluate(label, facts)
    return findings


# -- the checks ----------------------------------------------------------------------------------
_CIS = "CIS Docker Benchmark v1.6.0"


@register(
    "HD-DOCKER-001", suite=SUITE, severity="high", reference=f"{_CIS} 2.9",
    title="User namespace remapping is configured and in effect",
    remediation='Set "userns-remap": "default" in daemon.json (or dockerd --userns-remap=default) and restart '
    "dockerd; docker info must list name=userns under Security Options.",
)  # fmt: skip
def userns_remap(d: DaemonFacts) -> Verdict:
    value, source = d.setting("userns-remap")
    effective = any(o.startswith("name=userns") for o in d.security_options)
    configured = bool(value) and str(value).lower() not in _FALSE
    observed = {"configured": value, "source": source, "daemon_reports_userns": effective}
    if configured and effective:
        return Verdict(True, observed, "set and effective", f"userns-remap {value} ({source}), in effect")
    if configured:
        msg = f"userns-remap {value} is configured ({source}) but the daemon does not report name=userns"
    else:
        msg = "userns-remap is not set: container root is root on the host"
    return Verdict(False, observed, "set and effective", msg, object=d.config_path)


def _bool_check(d: DaemonFacts, key: str, default: bool, want: bool, live: bool | None = None) -> Verdict:
    value, source = d.flag_bool(key, default)
    if live is not None:
        value, source = live, "docker info"
    ok = value is want
    shown = "invalid" if value is None else str(value).lower()
    msg = f"{key} is {shown} ({source}), expected {str(want).lower()}"
    return Verdict(ok, shown, str(want).lower(), msg, object=d.config_path)


@register(
    "HD-DOCKER-002", suite=SUITE, severity="medium", reference=f"{_CIS} 2.2",
    title="Inter-container communication on the default bridge is disabled",
    remediation='Set "icc": false in daemon.json (or dockerd --icc=false) and restart dockerd.',
)  # fmt: skip
def icc_disabled(d: DaemonFacts) -> Verdict:
    return _bool_check(d, "icc", True, False)


@register(
    "HD-DOCKER-003", suite=SUITE, severity="medium", reference=f"{_CIS} 2.15",
    title="Live restore is enabled",
    remediation='Set "live-restore": true in daemon.json (or dockerd --live-restore) and restart dockerd.',
)  # fmt: skip
def live_restore(d: DaemonFacts) -> Verdict:
    live = d.info.get("LiveRestoreEnabled")
    return _bool_check(d, "live-restore", False, True, live if isinstance(live, bool) else None)


@register(
    "HD-DOCKER-004", suite=SUITE, severity="high", reference=f"{_CIS} 2.14",
    title="Containers are restricted from acquiring new privileges",
    remediation='Set "no-new-privileges": true in daemon.json (or dockerd --no-new-privileges) and restart dockerd.',
)  # fmt: skip
def no_new_privileges(d: DaemonFacts) -> Verdict:
    if any(o.startswith("name=no-new-privileges") for o in d.security_options):
        return Verdict(True, "true", "true", "no-new-privileges reported by the daemon")
    return _bool_check(d, "no-new-privileges", False, True)


@register(
    "HD-DOCKER-005", suite=SUITE, severity="medium", reference=f"{_CIS} 2.16",
    title="The userland proxy is disabled",
    remediation='Set "userland-proxy": false in daemon.json (or dockerd --userland-proxy=false) and restart dockerd.',
)  # fmt: skip
def userland_proxy(d: DaemonFacts) -> Verdict:
    return _bool_check(d, "userland-proxy", True, False)


@register(
    "HD-DOCKER-006", suite=SUITE, severity="medium", reference=f"{_CIS} 2.13",
    title="Container logs go to a remote logging driver (when the policy requires it)",
    remediation='Set "log-driver" (syslog, gelf, fluentd...) and its "log-opts" address in daemon.json, then '
    "restart dockerd.",
)  # fmt: skip
def remote_logging(d: DaemonFacts) -> Verdict:
    driver = str(d.info.get("LoggingDriver") or d.setting("log-driver")[0] or "json-file")
    allowed = d.policy.remote_log_drivers
    if not d.policy.remote_log_required:
        return Verdict(
            True, driver, "any (not required by policy)", f"log driver {driver}; remote logging not required"
        )
    ok = driver in allowed
    return Verdict(ok, driver, f"one of {', '.join(allowed)}", f"log driver is {driver}", object=d.config_path)


@register(
    "HD-DOCKER-007", suite=SUITE, severity="high", reference=f"{_CIS} 3.17",
    title="daemon.json is owned by root",
    remediation="chown root:root /etc/docker/daemon.json",
)  # fmt: skip
def daemon_json_owner(d: DaemonFacts) -> Verdict:
    st = d.config_stat
    if st is None:
        return Verdict(True, "absent", "owner root", f"{d.config_path} does not exist", object=d.config_path)
    return Verdict(st.uid == 0, f"owner {st.owner} (uid {st.uid})", "owner root", object=d.config_path)


@register(
    "HD-DOCKER-008", suite=SUITE, severity="high", reference=f"{_CIS} 3.18",
    title="daemon.json is not world-writable",
    remediation="chmod 0644 /etc/docker/daemon.json (or stricter)",
)  # fmt: skip
def daemon_json_mode(d: DaemonFacts) -> Verdict:
    st = d.config_stat
    if st is None:
        return Verdict(True, "absent", "not world-writable", f"{d.config_path} does not exist", object=d.config_path)
    ok = not st.mode & 0o002
    return Verdict(ok, f"mode {st.mode_text}", "not world-writable (0644 or stricter)", object=d.config_path)
