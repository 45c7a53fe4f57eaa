"""Chaos Toolkit experiment files: validated with errors that name the file and the field, and run.

Chaos Toolkit's own validation says what is wrong but not where; hadrill adds the where, and checks
that every activity calling hadrill names a function that exists with arguments it accepts.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from hadrill.config import MAX_FILE_BYTES, load_yaml, read_text
from hadrill.errors import ConfigError
from hadrill.journal import load_journal
from hadrill.judge import Judgement, judge

__all__ = [
    "ExperimentResult",
    "cluster_fit",
    "failure_report",
    "load_experiment_file",
    "looks_like_experiment",
    "missing_clusters",
    "required_clusters",
    "run_experiment_file",
]

_ACTIVITY_TYPES = ("action", "probe")


def looks_like_experiment(path: Path) -> bool:
    """Cheap check used by pytest collection: a YAML/JSON file with a title and a method."""
    if path.suffix not in (".yaml", ".yml", ".json"):
        return False
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:  # never open a FIFO: it blocks
            return False
        text = read_text(path, "experiment file")
    except (OSError, ValueError, ConfigError):
        return False
    return "method" in text and "title" in text


def _check_activity(src: str, where: str, act: Any) -> None:
    if not isinstance(act, dict):
        raise ConfigError(src, where, "an activity mapping (type, name, provider)", act)
    if "ref" in act:
        return
    if act.get("type") not in _ACTIVITY_TYPES:
        raise ConfigError(src, f"{where}.type", "action or probe", act.get("type"))
    if not isinstance(act.get("name"), str) or not act["name"]:
        raise ConfigError(src, f"{where}.name", "a non-empty string", act.get("name"))
    prov = act.get("provider")
    if not isinstance(prov, dict):
        raise ConfigError(src, f"{where}.provider", "a provider mapping (type: python, module, func)", prov)
    if prov.get("type") != "python" or not str(prov.get("module", "")).startswith("hadrill."):
        return  # other providers are Chaos Toolkit's to check
    module, func = str(prov["module"]), prov.get("func")
    if not isinstance(func, str) or not func.isidentifier():
        raise ConfigError(src, f"{where}.provider.func", f"the name of a function of {module}", func)
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError):
        raise ConfigError(src, f"{where}.provider.func", f"a function of {module}", func) from None
    if not callable(fn) or isinstance(fn, type):
        raise ConfigError(src, f"{where}.provider.func", f"a function of {module} ({func} is not one)", func)
    args = prov.get("arguments", {}) or {}
    if not isinstance(args, dict):
        raise ConfigError(src, f"{where}.provider.arguments", "a mapping of argument names to values", args)
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        raise ConfigError(src, f"{where}.provider.func", f"a function of {module} with a signature", func) from None
    for name in args:
        if name not in params or name == "configuration":
            known = ", ".join(p for p in params if p != "configuration")
            raise ConfigError(src, f"{where}.provider.arguments.{name}", f"an argument of {module}.{func}: {known}")


def load_experiment_file(path: Path) -> dict[str, Any]:
    """Read and validate an experiment; ConfigError names the file and the field."""
    src = str(path)
    data = load_yaml(read_text(path, "experiment file"), src)
    if not isinstance(data, dict):
        raise ConfigError(src, "", "a mapping with title, method and steady-state-hypothesis", type(data).__name__)
    if not isinstance(data.get("title"), str) or not data["title"]:
        raise ConfigError(src, "title", "a non-empty string", data.get("title"))
    method = data.get("method")
    if not isinstance(method, list) or not method:
        raise ConfigError(src, "method", "a non-empty list of activities", method)
    for i, act in enumerate(method):
        _check_activity(src, f"method[{i}]", act)
    ssh = data.get("steady-state-hypothesis")
    if ssh is not None:
        if not isinstance(ssh, dict) or not isinstance(ssh.get("probes", []), list):
            raise ConfigError(src, "steady-state-hypothesis", "a mapping with title and a list of probes", ssh)
        for i, act in enumerate(ssh.get("probes", [])):
            _check_activity(src, f"steady-state-hypothesis.probes[{i}]", act)
            if isinstance(act, dict) and "tolerance" not in act:
                raise ConfigError(src, f"steady-state-hypothesis.probes[{i}].tolerance", "a tolerance")
    rollbacks = data.get("rollbacks") or []
    if not isinstance(rollbacks, list):
        raise ConfigError(src, "rollbacks", "a list of activities", rollbacks)
    for i, act in enumerate(rollbacks):
        _check_activity(src, f"rollbacks[{i}]", act)
    _check_structure(src, data)
    return data


def _check_structure(src: str, data: dict[str, Any]) -> None:
    """The parts Chaos Toolkit and hadrill iterate over have the shape they iterate over."""
    for key in ("configuration", "secrets"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ConfigError(src, key, "a mapping", data[key])
    for key in ("controls", "tags", "contributions"):
        if data.get(key) is not None and not isinstance(data[key], list | dict if key == "contributions" else list):
            raise ConfigError(src, key, "a mapping" if key == "contributions" else "a list", data[key])
    extensions = data.get("extensions")
    if extensions is None:
        return
    if not isinstance(extensions, list):
        raise ConfigError(src, "extensions", "a list of mappings (name: hadrill, requires: [...])", extensions)
    for i, ext in enumerate(extensions):
        if not isinstance(ext, dict) or not isinstance(ext.get("name"), str):
            raise ConfigError(src, f"extensions[{i}]", "a mapping with a name", ext)
        if ext["name"] != "hadrill":
            continue
        for key in ("requires", "excludes"):
            names = ext.get(key)
            if names is not None and not (isinstance(names, list) and all(isinstance(c, str) and c for c in names)):
                raise ConfigError(src, f"extensions[{i}].{key}", "a list of cluster names (or CLUSTER:SETTING)", names)


def required_clusters(experiment: dict[str, Any], key: str = "requires") -> list[str]:
    """The inventory clusters an experiment declares it needs (``excludes``: where it does not apply), in
    Chaos Toolkit's ``extensions`` block::

    extensions:
      - name: hadrill
        requires: [kubernetes, k8s-etcd]
        excludes: [kubernetes:app_url]
    """
    out: list[str] = []
    for ext in experiment.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == "hadrill":
            out += [str(c) for c in ext.get(key) or []]
    return out


def cluster_fit(path: Path, clusters: set[str]) -> tuple[list[str], list[str]]:
    """(missing, excluding), from one read of experiment ``path``: what it requires that ``clusters`` (an
    inventory's :attr:`~hadrill.inventory.Inventory.provides`) lacks, and what ``clusters`` has that it
    excludes (it is not run there: its file says why)."""
    experiment = load_experiment_file(path)
    return (
        [c for c in required_clusters(experiment) if c not in clusters],
        [c for c in required_clusters(experiment, "excludes") if c in clusters],
    )


def missing_clusters(path: Path, clusters: set[str]) -> list[str]:
    """The clusters experiment ``path`` requires that are not among ``clusters`` (an inventory's names)."""
    return cluster_fit(path, clusters)[0]


def excluding_clusters(path: Path, clusters: set[str]) -> list[str]:
    """What ``clusters`` has that experiment ``path`` excludes (:func:`cluster_fit`)."""
    return cluster_fit(path, clusters)[1]


class ExperimentResult:
    """Chaos Toolkit's journal with hadrill's part, and what the verdict is."""

    def __init__(self, journal: dict[str, Any]) -> None:
        self.journal = journal
        self.hadrill: dict[str, Any] = journal.get("hadrill", {})

    @property
    def judgement(self) -> Judgement:
        """The one judge's result (:func:`hadrill.judge.judge`): the same under every runner."""
        return judge(self.journal)

    @property
    def ok(self) -> bool:
        return self.judgement.ok

    @property
    def journal_path(self) -> Path | None:
        run = self.hadrill.get("run")
        return Path(self.hadrill["journal"]) if run and "journal" in self.hadrill else None


def failure_report(journal: dict[str, Any], error: str | None = None) -> str:
    """What went wrong, in an operator's words: every reason the judge gives, one a line."""
    judgement = judge(journal, error)
    title = (journal.get("experiment") or {}).get("title") or (journal.get("hadrill") or {}).get("title") or "?"
    lines = [f"experiment {title!r}: {judgement.status}"]
    return "\n".join(lines + [f"  {r}" for r in judgement.reasons])


def run_experiment_file(
    path: Path,
    *,
    inventory: Path,
    journal_dir: Path | None = None,
    interval: float = 0.1,
    objectives: dict[str, Any] | None = None,
    keep_snapshot: Path | None = None,
) -> ExperimentResult:
    """Run one experiment file in this process, as ``chaos run`` would, against ``inventory``;
    ``keep_snapshot``: where the restore drill keeps its etcd snapshot (else it is deleted)."""
    from chaoslib.experiment import run_experiment

    experiment = load_experiment_file(path)
    config: dict[str, Any] = {"hadrill_inventory": str(inventory), "hadrill_interval": interval}
    if journal_dir is not None:
        config["hadrill_journal_dir"] = str(journal_dir)
    if objectives:
        config["hadrill_objectives"] = objectives
    if keep_snapshot is not None:
        config["hadrill_keep_snapshot"] = str(keep_snapshot)
    # Chaos Toolkit only lets run-time variables override keys an experiment declares: set ours
    # in the configuration itself (they win over the file's values).
    experiment["configuration"] = {**(experiment.get("configuration") or {}), **config}
    journal: dict[str, Any] = run_experiment(experiment, settings={})
    result = ExperimentResult(journal)
    run = result.hadrill.get("run")
    if run:
        from hadrill.journal import default_journal_dir

        written = (journal_dir or default_journal_dir()) / run / "journal.json"
        if written.exists():  # the control wrote it before Chaos Toolkit finished: rewrite it whole
            from hadrill.journal import write_journal

            stored = load_journal(written)
            write_journal(written, {**journal, "hadrill": stored.get("hadrill", result.hadrill)})
            result.hadrill["journal"] = str(written)
    return result
