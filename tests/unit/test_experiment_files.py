"""Experiment file validation: every bad file gets an error naming the file and the field."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hadrill.errors import ConfigError
from hadrill.experiment import failure_report, load_experiment_file

EXPERIMENTS = sorted((Path(__file__).parents[2] / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_shipped_experiments_are_valid(path: Path) -> None:
    data = load_experiment_file(path)
    assert data["title"]
    assert any(c["provider"]["module"] == "hadrill.ctk.control" for c in data["controls"])


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _base() -> dict:
    return yaml.safe_load(EXPERIMENTS[0].read_text())


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("title"), "title"),
        (lambda d: d.__setitem__("method", []), "method"),
        (lambda d: d["method"][0].__setitem__("type", "acton"), "method[0].type"),
        (lambda d: d["method"][1]["provider"].__setitem__("func", "nope"), "method[1].provider.func"),
        (
            lambda d: d["method"][1]["provider"]["arguments"].__setitem__("membr", "x"),
            "method[1].provider.arguments.membr",
        ),
        (lambda d: d["steady-state-hypothesis"]["probes"][0].pop("tolerance"), "steady-state-hypothesis.probes[0]"),
        (lambda d: d["rollbacks"][0].pop("provider"), "rollbacks[0].provider"),
    ],
)
def test_bad_files_name_file_and_field(tmp_path: Path, mutate, field: str) -> None:
    data = _base()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as e:
        load_experiment_file(path)
    assert str(path) in str(e.value)
    assert e.value.field.startswith(field)


def test_unknown_argument_lists_known_ones(tmp_path: Path) -> None:
    data = _base()
    data["method"][1]["provider"]["arguments"]["membr"] = "x"
    with pytest.raises(ConfigError, match="time_limit"):
        load_experiment_file(_write(tmp_path, data))


@given(st.text(max_size=300))
def test_arbitrary_text_gives_only_config_errors(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "e.yaml"
        p.write_text(text)
        with contextlib.suppress(ConfigError):
            load_experiment_file(p)


_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
_data = st.recursive(_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3))


@given(st.dictionaries(st.sampled_from(["title", "method", "rollbacks", "steady-state-hypothesis"]), _data))
def test_arbitrary_structures_give_only_config_errors(data: dict) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "e.yaml"
        p.write_text(yaml.safe_dump(data))
        with contextlib.suppress(ConfigError):
            load_experiment_file(p)


def test_failure_report_lists_failing_verdicts_and_activities() -> None:
    journal = {
        "experiment": {"title": "t"},
        "status": "completed",
        "deviated": True,
        "hadrill": {
            "verdicts": [
                {"name": "etcd-write max_outage", "ok": False, "detail": "longest outage 4.80 s > objective 3.00 s"},
                {"name": "etcd-write availability", "ok": True, "detail": "fine"},
            ]
        },
        "run": [{"status": "failed", "activity": {"name": "kill"}, "exception": ["boom"]}],
        "rollbacks": [],
    }
    text = failure_report(journal)
    assert "deviated" in text
    assert "longest outage 4.80 s > objective 3.00 s" in text
    assert "fine" not in text
    assert "activity kill failed" in text


def _clusters_used(data: dict) -> set[str]:
    """Every cluster an experiment's hadrill activities act on: explicit arguments and defaults."""
    import importlib
    import inspect

    used: set[str] = set()
    acts = [
        *data.get("method", []),
        *data.get("rollbacks", []),
        *data.get("steady-state-hypothesis", {}).get("probes", []),
    ]
    for act in acts:
        prov = act.get("provider", {})
        if not str(prov.get("module", "")).startswith("hadrill.ctk"):
            continue
        fn = getattr(importlib.import_module(prov["module"]), prov["func"])
        param = inspect.signature(fn).parameters.get("cluster")
        cluster = (prov.get("arguments") or {}).get("cluster", param.default if param else None)
        if cluster:
            used.add(cluster)
    return used


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiments_declare_clusters_the_test_lab_lacks(path: Path) -> None:
    """The suite's session lab (tests/lab.yaml) has etcd, nfs and gluster: an experiment that needs any
    other cluster must say so in ``requires``, or it would fail there instead of being skipped."""
    from hadrill.experiment import required_clusters

    data = load_experiment_file(path)
    missing = _clusters_used(data) - {"etcd", "nfs", "gluster"} - set(required_clusters(data))
    assert not missing, f"{path.name} acts on {sorted(missing)} without `requires` in its hadrill extension"
