"""``chaos discover hadrill`` and ``chaos init`` see every hadrill action and probe with its arguments.

The oracle is independent of hadrill's discovery code: the public functions defined in
``hadrill.ctk.actions``/``probes`` (read with ``inspect``), every hadrill function the shipped
experiments call, and the signatures' own names and defaults. Chaos Toolkit runs as users run it
(the ``chaos`` command, in a scratch directory, its log sent to ``--log-file``).
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
CHAOS = Path(sys.executable).with_name("chaos")
MODULES = {
    "hadrill.ctk.actions": "action",
    "hadrill.ctk.probes": "probe",
    "hadrill.ctk.swarm_actions": "action",
    "hadrill.ctk.swarm_probes": "probe",
    "hadrill.ctk.kube_actions": "action",
    "hadrill.ctk.kube_probes": "probe",
}


def _public_functions() -> dict[str, inspect.Signature]:
    out = {}
    for name in MODULES:
        mod = importlib.import_module(name)
        for fname, fn in inspect.getmembers(mod, inspect.isfunction):
            if fn.__module__ == name and not fname.startswith("_"):
                out[f"{name}.{fname}"] = inspect.signature(fn)
    return out


def _used_by_experiments() -> set[str]:
    used = set()
    for path in (ROOT / "experiments").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        acts = list(data.get("method", [])) + list(data.get("rollbacks", []) or [])
        acts += list((data.get("steady-state-hypothesis") or {}).get("probes", []))
        for act in acts:
            prov = act.get("provider", {}) if isinstance(act, dict) else {}
            if str(prov.get("module", "")) in MODULES:
                used.add(f"{prov['module']}.{prov['func']}")
    return used


def _chaos(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    log = tmp_path / "state" / "chaostoolkit.log"
    log.parent.mkdir(exist_ok=True)
    return subprocess.run(
        [str(CHAOS), "--no-version-check", "--log-file", str(log), *args],
        cwd=tmp_path, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


# chaos init offers a None default as an empty answer, then converts it with the argument's type:
# "" is fine for strings, lists and mappings ([] and {}), but a number must be typed in.
_NONE_DEFAULT = {"number": ("1.5", 1.5), "list": ("", []), "mapping": ("", {}), "string": ("", None)}


def _answer(arg: dict[str, Any]) -> str:
    if "default" not in arg:
        return "demo"
    return _NONE_DEFAULT[arg["type"]][0] if arg["default"] is None else ""


def _expected(param: inspect.Parameter, portable: str) -> Any:
    if param.default is inspect.Parameter.empty:
        return "demo"
    return _NONE_DEFAULT[portable][1] if param.default is None else param.default


@pytest.fixture(scope="module")
def discovery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("discover")
    proc = _chaos(tmp, "discover", "--no-install", "--no-system-info", "hadrill")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp, json.loads((tmp / "discovery.json").read_text())


def test_discover_lists_every_activity_with_its_arguments(discovery: tuple[Path, dict[str, Any]]) -> None:
    tmp, doc = discovery
    expected = _public_functions()
    assert _used_by_experiments() <= set(expected), "an experiment calls a function that is not public"
    seen = {f"{a['mod']}.{a['name']}": a for a in doc["activities"]}
    assert set(seen) == set(expected)
    for key, sig in expected.items():
        act = seen[key]
        assert act["type"] == MODULES[act["mod"]]
        assert [a["name"] for a in act["arguments"]] == list(sig.parameters)
        for arg in act["arguments"]:
            param = sig.parameters[arg["name"]]
            if param.default is not inspect.Parameter.empty:
                assert arg["default"] == param.default
            assert arg["type"] != "object", f"{key}({arg['name']}): chaos init cannot prompt for type object"
        assert act["doc"], f"{key} has no docstring"
    # the log went where it was told, not into the working directory or the repository
    assert (tmp / "state" / "chaostoolkit.log").exists()
    assert not (tmp / "chaostoolkit.log").exists()


def test_chaos_init_builds_an_experiment_from_every_activity(discovery: tuple[Path, dict[str, Any]]) -> None:
    """Answer chaos init's prompts: every probe in the steady state, every action in the method."""
    tmp, doc = discovery
    activities = doc["activities"]
    probes = [a for a in activities if a["type"] == "probe"]
    actions = [a for a in activities if a["type"] == "action"]
    answers = ["hadrill everything", "y", "steady"]

    def pick(pool: list[dict[str, Any]], wanted: list[dict[str, Any]], tolerance: bool) -> None:
        for i, act in enumerate(wanted):
            # chaos init asks for a tolerance for the first probe only (its recursion drops with_tolerance)
            answers.extend([str(pool.index(act) + 1), "y"] + (["true"] if tolerance and i == 0 else []))
            for arg in act["arguments"]:
                if arg["name"] not in ("configuration", "secrets"):
                    answers.append(_answer(arg))
            answers.append("y" if i < len(wanted) - 1 else "n")

    pick(probes, probes, tolerance=True)
    answers.append("y")  # define a method
    pick(activities, actions, tolerance=False)
    answers.append("n")  # no rollbacks
    proc = _chaos(tmp, "init", "--experiment-path", "experiment.json", stdin="\n".join(answers) + "\n")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    exp = json.loads((tmp / "experiment.json").read_text())
    built = exp["steady-state-hypothesis"]["probes"] + exp["method"]
    expected = _public_functions()
    assert {f"{a['provider']['module']}.{a['provider']['func']}" for a in built} == set(expected)
    assert len(built) == len(activities)
    types = {f"{a['mod']}.{a['name']}": {g["name"]: g["type"] for g in a["arguments"]} for a in activities}
    for act in built:
        key = f"{act['provider']['module']}.{act['provider']['func']}"
        want = {n: _expected(p, types[key][n]) for n, p in expected[key].parameters.items() if n != "configuration"}
        assert act["provider"]["arguments"] == want, act["name"]


def test_installed_chaos_toolkit_is_the_pinned_pair() -> None:
    """pyproject.toml pins a Chaos Toolkit pair per Python; the one installed here must match it."""
    import tomllib
    from importlib.metadata import version

    from packaging.requirements import Requirement

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = [Requirement(d) for d in deps]
    for name in ("chaostoolkit", "chaostoolkit-lib"):
        mine = [r for r in reqs if r.name == name and (r.marker is None or r.marker.evaluate())]
        assert len(mine) == 1, f"{name}: exactly one requirement applies to this Python, found {mine}"
        assert mine[0].specifier.contains(version(name)), f"{name} {version(name)} not in {mine[0].specifier}"
        assert mine[0].marker is not None, f"{name} is pinned per Python version"


def test_chaos_toolkit_log_stays_out_of_the_tree() -> None:
    """No Chaos Toolkit log in the repository, ignored if one appears, and every documented ``chaos``
    command sends its log elsewhere (``--log-file``)."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert not [p for p in tracked.splitlines() if p.endswith("chaostoolkit.log")]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "experiments/chaostoolkit.log", "chaostoolkit.log"],
        cwd=ROOT, capture_output=True, check=False,
    )  # fmt: skip
    assert ignored.returncode == 0, "chaostoolkit.log is not in .gitignore"
    docs = [ROOT / "README.md", *sorted((ROOT / "examples").rglob("*") if (ROOT / "examples").exists() else [])]
    for doc in docs:
        if not doc.is_file():
            continue
        for line in doc.read_text(errors="replace").splitlines():
            words = line.split()
            if "chaos" in words and words.index("chaos") + 1 < len(words):
                cmd = words[words.index("chaos") :]
                if cmd[1] in ("run", "discover", "init", "validate") or cmd[1].startswith("--"):
                    assert "--log-file" in cmd, f"{doc.name}: {line.strip()!r} writes chaostoolkit.log into cwd"
