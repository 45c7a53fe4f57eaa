"""Fuzzing every file type hadrill reads, through its loader and through the CLI commands that read it.

Each example starts from a valid file and mutates it: a key deleted, a value changed to another type
(huge and negative numbers, NaN and infinities, unicode and control characters), a key written twice,
an alias bomb, broken syntax, an empty file, binary garbage; or the path is a directory, a FIFO, a
missing file or a name too long for the OS. The rules asserted (the README's promise):

- a loader returns a value or raises :class:`ConfigError` whose message is one line naming the file;
  never another exception, never a hang (a 10 s alarm per example);
- a command exits 2 with one line naming the file, or gives a valid result (0 or 1); never a traceback;
- input that breaks a stated rule (a key twice, an alias bomb, not a regular UTF-8 file, an MTU out
  of range, a ratio outside [0, 1], a non-finite duration, a pod whose containers is not a list) is
  never accepted.

Examples per test: 25 in CI (the tier stays well under a minute); ``HADRILL_FUZZ_EXAMPLES=10000`` for the
long run (``bench/fuzz_inputs.py`` runs it and prints the counts).
"""

from __future__ import annotations

import json
import math
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hadrill.cli import main
from hadrill.compare import load_report
from hadrill.compliance.baseline import load_baseline
from hadrill.compliance.policy import load_policy
from hadrill.compliance.pss_scan import scan_manifest_files
from hadrill.compliance.waivers import load_waivers
from hadrill.errors import ConfigError, printable
from hadrill.experiment import load_experiment_file
from hadrill.inventory import load_inventory
from hadrill.journal import load_journal
from hadrill.lab.kindconfig import load_kind_config
from hadrill.lab.labfile import load_lab_file
from hadrill.plan import load_plan
from hadrill.report.model import load_preflight

EXAMPLES = int(os.environ.get("HADRILL_FUZZ_EXAMPLES", "25"))
CLI_EXAMPLES = max(10, EXAMPLES // 10)
COUNTS: Counter[str] = Counter()  # examples run, per file type and outcome (the bench prints them)
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
CLI_FUZZ = settings(FUZZ, max_examples=CLI_EXAMPLES)

INVENTORY = {
    "api_version": "hadrill/v1", "kind": "Inventory", "platform": "manual",
    "networks": [{"name": "net", "subnet": "10.0.0.0/24", "storage": True, "mtu": 9000}],
    "nodes": [{"name": f"n{i}", "url": f"ssh://root@n{i}", "roles": ["etcd"], "addresses": {"net": f"10.0.0.{i}"}}
              for i in (1, 2, 3)],
    "clusters": [{"name": "etcd", "type": "etcd", "failure_budget": 1,
                  "members": [{"name": f"m{i}", "node": f"n{i}", "endpoints": {"client": f"http://10.0.0.{i}:2379"}}
                              for i in (1, 2, 3)],
                  "objectives": {"rto_s": 5.0, "rpo_writes": 0, "availability": 0.99},
                  "settings": {"quota_bytes": 2147483648}}],
}  # fmt: skip
POLICY = {
    "api_version": "hadrill/v1", "kind": "CompliancePolicy",
    "compliance": {"etcd_backup": {"max_age_hours": 25, "cronjob_max_age_hours": 7},
                   "storage_network": {"mtu": 9000}, "pki": {"min_days": 30},
                   "nfs_mounts": {"options": {"hard": True, "timeo": 600}}},
}  # fmt: skip
WAIVERS = {"api_version": "hadrill/v1", "kind": "Waivers", "waivers": [
    {"check": "HD-PSS-*", "selector": {"namespace": "monitoring"}, "owner": "sre@example.com",
     "reason": "node-exporter", "expires": "2026-12-31"}]}  # fmt: skip
BASELINE = {"api_version": "hadrill/v1", "kind": "ComplianceBaseline",
            "findings": [{"fingerprint": "a" * 32, "check_id": "HD-PSS-003", "target": "Pod/p"}]}  # fmt: skip
MANIFEST = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"},
    "spec": {"template": {"metadata": {"annotations": {"a": "b"}}, "spec": {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "v", "emptyDir": {}}],
        "containers": [{"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
    }}},
}  # fmt: skip
EXPERIMENT = {
    "title": "Kill the etcd leader", "description": "d", "tags": ["etcd"],
    "configuration": {"hadrill_inventory": {"type": "env", "key": "HADRILL_INVENTORY", "default": ""}},
    "steady-state-hypothesis": {"title": "healthy", "probes": [
        {"type": "probe", "name": "ok", "tolerance": True,
         "provider": {"type": "python", "module": "hadrill.ctk.probes", "func": "cluster_healthy",
                      "arguments": {"cluster": "etcd"}}}]},
    "method": [{"type": "action", "name": "heal", "provider": {"type": "python", "module": "hadrill.ctk.actions",
                                                              "func": "heal"}}],
    "rollbacks": [{"type": "action", "name": "heal-again",
                   "provider": {"type": "python", "module": "hadrill.ctk.actions", "func": "heal"}}],
    "extensions": [{"name": "hadrill", "requires": ["etcd"]}],
}  # fmt: skip
PLAN = {"title": "PRA", "platform": "prod", "date": "2026-11-23", "coordinator": "Alice",
        "participants": [{"name": "Bob", "role": "on-call"}],
        "scenarios": [{"experiment": "exp.yaml", "name": "kill", "objectives": {"max_outage_s": 3.0,
                                                                               "availability": 0.8}}]}  # fmt: skip
LAB = {"api_version": "hadrill/v1", "kind": "Lab", "name": "fuzz", "network": {"subnet": "auto", "storage_mtu": 9000},
       "etcd": {"members": 3, "failure_budget": 1}, "nfs": {"advert_int": 1.0, "priorities": [150, 100]},
       "gluster": {"volume": "gv0", "ping_timeout": 5}}  # fmt: skip
KIND = {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [{"role": "control-plane"}, {"role": "control-plane"}, {"role": "worker"}],
        "networking": {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/16",
                       "apiServerPort": 6443}}  # fmt: skip
JOURNAL = {"experiment": {"title": "t"}, "status": "completed", "deviated": False, "run": [], "rollbacks": [],
           "steady_states": {},
           "hadrill": {"run": "r1", "verdicts": [{"name": "rto", "ok": True, "detail": "1 s"}]}}  # fmt: skip
REPORT = {"format": "hadrill/report/v1", "scenarios": [{"name": "kill", "status": "passed", "measured": {
    "max_outage_s": {"measured": 1.2, "objective": 3.0}}}]}  # fmt: skip
PREFLIGHT = {"target": "1.35", "go": True, "checks": []}


def _experiment_dir(path: Path) -> None:
    (path.parent / "exp.yaml").write_text(yaml.safe_dump(EXPERIMENT), encoding="utf-8")


# file type -> (valid document, JSON or YAML, loader)
TYPES: dict[str, tuple[Any, bool, Callable[[Path], Any]]] = {
    "inventory": (INVENTORY, False, load_inventory),
    "policy": (POLICY, False, load_policy),
    "waivers": (WAIVERS, False, load_waivers),
    "baseline": (BASELINE, True, load_baseline),
    "manifest": (MANIFEST, False, lambda p: scan_manifest_files([p])),
    "experiment": (EXPERIMENT, False, load_experiment_file),
    "plan": (PLAN, False, lambda p: (_experiment_dir(p), load_plan(p))[1]),
    "lab": (LAB, False, load_lab_file),
    "kind": (KIND, False, load_kind_config),
    "journal": (JOURNAL, True, load_journal),
    "report": (REPORT, True, load_report),
    "preflight": (PREFLIGHT, True, load_preflight),
}

# -- mutations -----------------------------------------------------------------------------------------
_NASTY_TEXT = ["", " ", "\x00", "\x07\x1b[31m", "\n", "a\nb", "[red]x[/red]", "é", "\u202e", "🙂", "x" * 5000,
               "2020-02-30", "://", "yes", "~", "-1", "1e999", ".nan", "*a", "&a", "!!int x", "{", "'"]  # fmt: skip
values = st.recursive(
    st.none() | st.booleans()
    | st.integers(-(10**30), 10**30) | st.sampled_from([0, -1, 1, 2**63, -(2**63), 10**4000, 65537, 67, 68])
    | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([math.nan, math.inf, -math.inf, 1.5, -0.0])
    | st.text(max_size=20) | st.sampled_from(_NASTY_TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in items:
        out += _paths(value, (*prefix, key))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    new = dict(doc) if isinstance(doc, dict) else list(doc)
    if delete and len(path) == 1:
        new.pop(path[0])
    else:
        new[path[0]] = _set(doc[path[0]], path[1:], value, delete)
    return new


def _dump(doc: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(doc, allow_nan=True, ensure_ascii=False)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdef", "bcdefg", strict=True)
)


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> tuple[str, str | bytes]:
    """(mutation, file content)."""
    doc, as_json, _ = TYPES[kind]
    how = draw(st.sampled_from(["change", "change", "change", "delete", "duplicate", "bomb", "syntax", "empty",
                                "binary", "unicode"]))  # fmt: skip
    if how in ("change", "delete"):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths if how == "change" else paths[1:]))
        return how, _dump(_set(doc, path, draw(values), how == "delete"), as_json)
    text = _dump(doc, as_json)
    if how == "duplicate":  # the first top-level key once more, with another value
        key = next(iter(doc))
        return how, (text[:-1] + f', "{key}": 1}}') if as_json else text + f"{key}: 1\n"
    if how == "bomb":
        return how, BOMB if not as_json else "[" * 200 + "]" * 200
    if how == "syntax":
        cut = draw(st.integers(0, max(len(text) - 1, 0)))
        return how, text[:cut] + draw(st.sampled_from(["{", "[", ": :", "\t", '"', "- a\nb: c", "\x00", "&x *y"]))
    if how == "empty":
        return how, ""
    if how == "binary":
        return how, draw(st.binary(min_size=1, max_size=64)) + b"\xff"
    cut = draw(st.integers(0, max(len(text) - 1, 0)))
    return how, text[:cut] + draw(st.sampled_from(_NASTY_TEXT)) + text[cut:]


# -- the oracle: rules the input breaks, judged from the data, not by hadrill's code ---------------------
def _walk(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, doc
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in items:
        yield from _walk(v, (*path, k))


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def breaks_a_rule(kind: str, how: str, data: Any) -> str | None:
    """Why this input must not be accepted (None: it may be, or may not be)."""
    if how in ("duplicate", "bomb", "binary"):
        return how
    if not isinstance(data, dict):
        return None
    for path, v in _walk(data):
        last = path[-1] if path else None
        if kind == "inventory" and last == "mtu" and v is not None and not (type(v) is int and 68 <= v <= 65536):
            return f"mtu {v!r}"
        if kind == "inventory" and last == "availability" and path[-2:-1] == ("objectives",) and v is not None \
                and not (_number(v) and 0 <= v <= 1):  # fmt: skip
            return f"availability {v!r}"
        if kind == "policy" and last in ("max_age_hours", "cronjob_max_age_hours") and _number(v) \
                and not (math.isfinite(v) and v > 0):  # fmt: skip
            return f"{last} {v!r}"
        if kind == "manifest" and last in ("containers", "initContainers") and path[-2:-1] == ("spec",) \
                and v is not None and not isinstance(v, list):  # fmt: skip
            return f"{last} is not a list"
    return None


def _parse_back(text: str | bytes, as_json: bool) -> Any:
    try:
        raw = text.decode() if isinstance(text, bytes) else text
        return json.loads(raw) if as_json else yaml.safe_load(raw)
    except Exception:  # the oracle only judges what a lenient parser can read
        return None


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


@pytest.fixture(autouse=True)
def _counts() -> Iterator[None]:
    """After every test, the counts so far (a long run shows its progress, and a stopped one its part)."""
    yield
    out = os.environ.get("HADRILL_FUZZ_COUNTS")
    if out:
        Path(out).write_text(json.dumps(dict(COUNTS), indent=1, sort_keys=True), encoding="utf-8")


def _load(kind: str, path: Path) -> tuple[str, Any]:
    """("ok", value) or ("error", ConfigError); anything else fails the test."""
    loader = TYPES[kind][2]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        return "ok", loader(path)
    except ConfigError as e:
        return "error", e
    except _Hang:
        pytest.fail(f"{kind}: the loader hung on {path}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _one_line_naming(message: str, path: Path) -> None:
    assert "\n" not in message and "\r" not in message, message
    assert printable(str(path), 200)[:60] in message, message


# -- loaders -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(TYPES))
def test_loaders_give_a_value_or_one_line_naming_the_file(kind: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp(kind)

    @FUZZ
    @given(case=mutated(kind))
    def run(case: tuple[str, str | bytes]) -> None:
        how, content = case
        path = base / ("input.json" if TYPES[kind][1] else "input.yaml")
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        outcome, value = _load(kind, path)
        COUNTS[f"{kind} {outcome}"] += 1
        if outcome == "error":
            _one_line_naming(str(value), path)
            return
        rule = breaks_a_rule(kind, how, _parse_back(content, TYPES[kind][1]))
        if kind == "manifest" and rule:
            assert any(f.status != "pass" for f in value), f"{rule}: judged compliant"
        else:
            assert rule is None, f"{kind} accepted input that breaks a rule ({rule}): {content!r:.300}"

    run()


@pytest.mark.parametrize("kind", sorted(TYPES))
@pytest.mark.parametrize("special", ["directory", "fifo", "missing", "long-name", "dev/zero", "nul"])
def test_loaders_refuse_what_is_not_a_regular_file(kind: str, special: str, tmp_path: Path) -> None:
    path = {
        "directory": tmp_path, "fifo": tmp_path / "fifo.yaml", "missing": tmp_path / "missing.yaml",
        "long-name": tmp_path / ("x" * 300), "dev/zero": Path("/dev/zero"), "nul": tmp_path / "a\x00b",
    }[special]  # fmt: skip
    if special == "fifo":
        os.mkfifo(path)
    outcome, value = _load(kind, path)
    COUNTS[f"{kind} {special}"] += 1
    assert outcome == "error"
    _one_line_naming(str(value), path)


# -- the CLI -------------------------------------------------------------------------------------------
def _check_args(kind: str, path: Path, good_inventory: Path, empty: Path, out: Path) -> list[str]:
    base = ["check", "--inventory", str(good_inventory), "--out", str(out), "--manifests", str(empty)]
    if kind == "inventory":
        return ["check", "--inventory", str(path), "--out", str(out), "--manifests", str(empty)]
    if kind == "manifest":
        return ["check", "--inventory", str(good_inventory), "--out", str(out), "--manifests", str(path)]
    return [*base, f"--{kind}", str(path)]


CLI_KINDS = ["inventory", "policy", "waivers", "baseline", "manifest", "experiment", "report"]


def _cli_args(kind: str, path: Path, base: Path) -> list[str]:
    if kind == "experiment":
        return ["validate", str(path)]
    if kind == "report":
        good = base / "good-report.json"
        good.write_text(json.dumps(REPORT), encoding="utf-8")
        return ["compare", str(good), str(path)]
    inv = base / "good-inventory.yaml"
    inv.write_text(yaml.safe_dump(INVENTORY), encoding="utf-8")
    (base / "empty").mkdir(exist_ok=True)
    return _check_args(kind, path, inv, base / "empty", base / "out")


def _invoke(args: list[str], path: Path, kind: str, rule: str | None) -> str:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    try:
        result = CliRunner().invoke(main, args)
    except _Hang:
        pytest.fail(f"hung: {args}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: {type(result.exception).__name__}: {result.exception}"
    )
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    if result.exit_code == 2:
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        _one_line_naming(lines[0], path)
    elif rule is not None and kind != "manifest":
        pytest.fail(f"{args} exit {result.exit_code} on input that breaks a rule ({rule})")
    elif rule is not None:
        assert result.exit_code == 1, f"{rule}: exit {result.exit_code}"
    return f"exit {result.exit_code}"


@pytest.mark.parametrize("kind", CLI_KINDS)
def test_commands_exit_2_with_one_line_or_give_a_result(kind: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp(f"cli-{kind}")

    @CLI_FUZZ
    @given(case=mutated(kind))
    def run(case: tuple[str, str | bytes]) -> None:
        how, content = case
        path = base / ("input.json" if TYPES[kind][1] else "input.yaml")
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        rule = breaks_a_rule(kind, how, _parse_back(content, TYPES[kind][1]))
        COUNTS[f"cli {kind} {_invoke(_cli_args(kind, path, base), path, kind, rule)}"] += 1

    run()


@pytest.mark.parametrize("kind", CLI_KINDS)
@pytest.mark.parametrize("special", ["directory", "fifo", "missing", "long-name"])
def test_commands_refuse_what_is_not_a_regular_file(kind: str, special: str, tmp_path: Path) -> None:
    path = {"directory": tmp_path / "d", "fifo": tmp_path / "fifo.yaml", "missing": tmp_path / "missing.yaml",
            "long-name": tmp_path / ("x" * 300)}[special]  # fmt: skip
    if special == "directory" and kind != "manifest":  # a directory of manifests is a valid --manifests
        path.mkdir()
    if special == "fifo":
        os.mkfifo(path)
    args = _cli_args(kind, path, tmp_path)
    outcome = _invoke(args, path, kind, None)
    COUNTS[f"cli {kind} {special}"] += 1
    if not (kind == "manifest" and special == "directory"):
        assert outcome == "exit 2", args
