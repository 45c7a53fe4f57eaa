"""hadrill's pytest plugin (registered through the ``pytest11`` entry point).

- Markers: ``chaos``, ``compliance``, ``slo``, ``upgrade``, ``lab``.
- Options: ``--hadrill-inventory`` (a platform's inventory), ``--hadrill-lab`` (bring an offline lab up
  for the session and use its inventory), ``--hadrill-journal-dir``, ``--hadrill-interval``.
- Chaos Toolkit experiment files in an ``experiments/`` directory are collected as tests marked
  ``chaos``: the same files ``chaos run`` runs.
- Fixtures: ``hadrill_inventory``, ``hadrill_run`` (probes, faults that always revert, objectives),
  ``hadrill_objectives`` (override it in your conftest to change default objectives).
- At session start faults left open by dead runs are reverted (``hadrill recover``).

Under pytest-xdist every worker brings up its own lab (``--hadrill-lab auto`` names it after the
worker), so workers never fault each other's platform; the fault ledger is shared and locked.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hadrill.inventory import Inventory, load_inventory

__all__ = ["ExperimentItem", "pytest_addoption", "pytest_configure"]

MARKERS = {
    "chaos": "runs a fault against a real platform",
    "compliance": "checks a platform's configuration",
    "slo": "asserts service-level objectives",
    "upgrade": "pre-upgrade validation",
    "lab": "needs the offline lab (a Docker engine and built images)",
}
_platform_key = pytest.StashKey["_Platform"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("hadrill", "hadrill: chaos experiments and SLOs")
    g.addoption("--hadrill-inventory", help="Inventory file of the platform under test.")
    g.addoption(
        "--hadrill-lab",
        metavar="NAME",
        help="Bring an offline lab up for the session and test it; 'auto' names it per xdist worker.",
    )
    g.addoption("--hadrill-lab-file", help="Lab file for --hadrill-lab (default: the one shipped with hadrill).")
    g.addoption("--hadrill-keep-lab", action="store_true", help="Leave the session's lab up at the end.")
    g.addoption("--hadrill-journal-dir", help="Where run journals go (default: $HADRILL_JOURNAL_DIR or state dir).")
    g.addoption("--hadrill-interval", type=float, default=0.1, help="Probe interval in seconds (default 0.1).")


# The lab-file part that brings each cluster an experiment may require.
_LAB_PART_OF = {
    "etcd": "etcd", "nfs": "nfs", "gluster": "gluster", "k8s-etcd": "kubernetes", "kubernetes": "kubernetes",
    "monitoring": "monitoring", "swarm": "swarm",
}  # fmt: skip


class _Platform:
    """The session's target: a given inventory, or a lab brought up on first use."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.lab: Any = None
        self.lab_failed: BaseException | None = None

    @property
    def journal_dir(self) -> Path | None:
        d = self.config.getoption("--hadrill-journal-dir")
        return Path(d) if d else None

    def inventory_path(self) -> Path:
        given = self.config.getoption("--hadrill-inventory") or os.environ.get("HADRILL_INVENTORY")
        if given:
            return Path(given)
        name = self.config.getoption("--hadrill-lab")
        if not name:
            raise pytest.UsageError(
                "hadrill: no platform to test: pass --hadrill-inventory FILE, or --hadrill-lab NAME "
                "(or 'auto') to bring the offline lab up"
            )
        if self.lab_failed is not None:  # one attempt per session: every test that needs it says why
            pytest.fail(f"hadrill: the session's lab did not come up: {self.lab_failed}", pytrace=False)
        if self.lab is None:
            from hadrill.lab.lab import Lab

            try:
                lab = Lab(self.lab_spec(), owner="pytest", base_dir=self._lab_base())
                lab.up()
            except Exception as e:
                self.lab_failed = e
                raise
            self.lab = lab
        return Path(self.lab.inventory_path)

    def lab_spec(self) -> Any:
        """The lab file ``--hadrill-lab`` brings up, under the session's name (None without a lab)."""
        from hadrill.lab.labfile import default_lab_file, load_lab_file

        name = self.config.getoption("--hadrill-lab")
        if not name or self.config.getoption("--hadrill-inventory") or os.environ.get("HADRILL_INVENTORY"):
            return None
        if name == "auto":
            name = f"hdt-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
        lab_file = self.config.getoption("--hadrill-lab-file")
        return (load_lab_file(Path(lab_file)) if lab_file else default_lab_file()).with_name(name)

    def _lab_base(self) -> Path | None:
        lab_file = self.config.getoption("--hadrill-lab-file")
        return Path(lab_file).parent if lab_file else None

    def missing(self, experiment: Path) -> list[str]:
        """The clusters ``experiment`` requires that the platform lacks. A part the session's lab file
        does not have is known missing without bringing the lab up (a worker whose tests all need
        other clusters never starts one)."""
        from hadrill.experiment import missing_clusters

        spec = self.lab_spec()
        if spec is not None:
            lab_has = {c for c, part in _LAB_PART_OF.items() if getattr(spec, part, None) is not None}
            lacking = [c for c in missing_clusters(experiment, lab_has) if c in _LAB_PART_OF]
            if lacking:
                return lacking
        return missing_clusters(experiment, load_inventory(self.inventory_path()).provides)

    def excluding(self, experiment: Path) -> list[str]:
        """What the platform has that ``experiment`` excludes."""
        from hadrill.experiment import excluding_clusters

        return excluding_clusters(experiment, load_inventory(self.inventory_path()).provides)

    def close(self) -> None:
        if self.lab is not None and not self.config.getoption("--hadrill-keep-lab"):
            self.lab.down()


def pytest_configure(config: pytest.Config) -> None:
    for name, help_ in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_}")
    config.stash[_platform_key] = _Platform(config)
    if not hasattr(config, "workerinput") and (
        config.getoption("--hadrill-lab") or config.getoption("--hadrill-inventory")
    ):
        from hadrill.faults.base import recover

        for record, outcome in recover():
            print(f"hadrill: fault {record.id} ({record.description}) left by {record.run}: {outcome}")


def pytest_unconfigure(config: pytest.Config) -> None:
    platform = config.stash.get(_platform_key, None)
    if platform is not None:
        platform.close()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Leave Hypothesis unimported when the session never used it.

    Hypothesis's pytest plugin (installed with hadrill) takes care not to import Hypothesis unless a test
    uses it, except in its terminal summary, which imports it (about 0.6 s of a 2-core machine's CPU,
    a sixth of a short chaos test's wall time) only to print what Hypothesis tests left. When Hypothesis
    was never imported here and no report carries its statistics or failing examples (under xdist they
    come from the workers), that summary has nothing to print, and its plugin is unregistered before
    the summary runs. Its other hooks have all run by now.
    """
    manager = session.config.pluginmanager
    plugin = manager.get_plugin("hypothesispytest")
    if plugin is None or "hypothesis" in sys.modules:
        return
    reporter = manager.get_plugin("terminalreporter")
    keys = ("_hypothesis_stats", "_hypothesis_failing_examples")
    reports = (r for rs in getattr(reporter, "stats", {}).values() for r in rs)
    if any(k in getattr(r, "__dict__", {}) for r in reports for k in keys):
        return
    manager.unregister(plugin)


# -- experiment files --------------------------------------------------------------------------------
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    from hadrill.experiment import looks_like_experiment

    if file_path.parent.name == "experiments" and looks_like_experiment(file_path):
        return ExperimentFile.from_parent(parent, path=file_path)
    return None


class ExperimentFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield ExperimentItem.from_parent(self, name=self.path.stem)


class ExperimentItem(pytest.Item):
    """A Chaos Toolkit experiment file run as a test; it fails when the steady state deviates."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker("chaos")
        self.add_marker("slo")

    def runtest(self) -> None:
        from hadrill.experiment import failure_report, run_experiment_file

        platform = self.config.stash[_platform_key]
        missing = platform.missing(self.path)
        if missing:
            parts = sorted({_LAB_PART_OF.get(m, m) for m in missing})
            pytest.skip(
                f"needs cluster(s) {', '.join(missing)} in the inventory "
                f"(a lab file with {', '.join(p + ': {}' for p in parts)})"
            )
        excluding = platform.excluding(self.path)
        if excluding:
            pytest.skip(f"excludes {', '.join(excluding)}, which the inventory has (see the experiment's file)")
        result = run_experiment_file(
            self.path,
            inventory=platform.inventory_path(),
            journal_dir=platform.journal_dir,
            interval=self.config.getoption("--hadrill-interval"),
        )
        self.user_properties.append(("journal", str(result.hadrill.get("journal", ""))))
        for v in result.hadrill.get("verdicts", []):
            self.user_properties.append((v["name"], v.get("measured")))
        if not result.ok:
            raise ExperimentFailed(failure_report(result.journal))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ExperimentFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"experiment: {self.name}"


class ExperimentFailed(Exception):
    """The experiment deviated from its steady state or missed an objective."""


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def hadrill_inventory_path(pytestconfig: pytest.Config) -> Path:
    """The inventory file of the platform under test (a lab's, when ``--hadrill-lab``)."""
    return pytestconfig.stash[_platform_key].inventory_path()


@pytest.fixture(scope="session")
def hadrill_inventory(hadrill_inventory_path: Path) -> Inventory:
    return load_inventory(hadrill_inventory_path)


@pytest.fixture
def hadrill_objectives() -> dict[str, Any]:
    """Default objectives for :meth:`Run.assert_objectives`; override in your conftest."""
    return {"max_outage_s": 5.0, "availability": 0.8, "acked_writes_lost": 0}


@pytest.fixture
def hadrill_run(request: pytest.FixtureRequest, hadrill_inventory: Inventory, pytestconfig: pytest.Config) -> Any:
    """A run for this test: start probes, inject faults (``with hadrill_run.fault(...)``), assert.

    Whatever happens, its faults are reverted and its probes stopped at teardown, and its journal is
    written (the path is in the test's user properties).
    """
    from hadrill.run import Run

    platform = pytestconfig.stash[_platform_key]
    run = Run(
        hadrill_inventory,
        title=request.node.nodeid,
        interval=pytestconfig.getoption("--hadrill-interval"),
        journal_dir=platform.journal_dir,
    )
    try:
        yield run
    finally:
        run.close()
        request.node.user_properties.append(("journal", str(run.write())))
