"""Fixtures for the offline-lab integration tests: uniquely named labs that are always taken down.

Every lab a test makes is named ``hdt-<xdist worker>-<purpose>`` (worker ``main`` without xdist),
so two workers never share a lab, and is made with ``owner="pytest"`` (unless a test asks for
another owner) so ``hadrill lab prune --owner pytest`` removes what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from hadrill.errors import EngineError
from hadrill.faults.ledger import Ledger
from hadrill.lab.engine import docker_client
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import LabFile, default_lab_file, parse_lab_data

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
UP_TIMEOUT = 120.0  # seconds a lab may take to become healthy (cached images: ~5 s)


def lab_name(purpose: str) -> str:
    """``hdt-<worker>-<purpose>``: unique per xdist worker, valid as a lab name (at most 24 chars)."""
    name = f"hdt-{WORKER}-{purpose}"
    assert len(name) <= 24, f"lab name {name!r} is longer than 24 characters: shorten the purpose"
    return name


def lab_spec(purpose: str, *, members: int = 3) -> LabFile:
    """The default lab file's etcd part under a test's name, optionally with another member count."""
    data = {**default_lab_file().model_dump(), "name": lab_name(purpose)}
    data["etcd"] = {**(data.get("etcd") or {}), "members": members}
    data["nfs"] = None  # etcd-only test labs; the NFS pair has its own module (test_nfs.py)
    data["gluster"] = None  # the Gluster volume has its own module (test_gluster.py)
    data["kubernetes"] = None  # so has the Kubernetes control plane (test_kube*.py)
    data["monitoring"] = None  # and Prometheus (test_monitoring.py)
    return parse_lab_data(data, f"<test lab {purpose}>")


class LabFactory:
    """Makes labs for one test (or one module) and takes every one of them down at teardown."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.labs: list[Lab] = []

    def make(self, purpose: str, *, owner: str = "pytest", members: int = 3) -> Lab:
        """A lab object (not up yet); a leftover of this worker's killed run under its name is removed."""
        lab = Lab(lab_spec(purpose, members=members), owner=owner, client=self.client)
        self.labs.append(lab)
        lab.down()
        return lab

    def up(self, *labs: Lab, timeout: float = UP_TIMEOUT) -> None:
        """Bring labs up at the same time (one thread each); re-raise the first failure."""
        errors: list[BaseException] = []

        def run(lab: Lab) -> None:
            try:
                lab.up(timeout=timeout)
            except BaseException as e:  # handed to the calling thread below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(lab,), name=f"up-{lab.name}") for lab in labs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 60)
        if any(t.is_alive() for t in threads):
            raise TimeoutError(f"lab up did not return within {timeout + 60:.0f} s")
        if errors:
            raise errors[0]

    def down_all(self) -> None:
        problems = []
        for lab in reversed(self.labs):
            try:
                lab.down()
                with contextlib.suppress(OSError):  # down leaves the lab's empty state directory
                    lab.inventory_path.parent.rmdir()
            except Exception as e:
                problems.append(f"{lab.name}: {e}")
        self.labs.clear()
        assert not problems, f"could not take test labs down: {problems}"


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    """The local Docker engine; a lab test cannot run without one (deselect with -m 'not lab')."""
    try:
        return docker_client()
    except EngineError as e:
        pytest.fail(f"lab tests need a Docker engine: {e}")


@pytest.fixture
def lab_factory(engine: docker.DockerClient) -> Iterator[LabFactory]:
    """Labs for one test, taken down when it ends (pass or fail)."""
    factory = LabFactory(engine)
    try:
        yield factory
    finally:
        factory.down_all()


@pytest.fixture(scope="module")
def module_lab_factory(engine: docker.DockerClient) -> Iterator[LabFactory]:
    """Labs shared by a module's tests, taken down when the module ends."""
    factory = LabFactory(engine)
    try:
        yield factory
    finally:
        factory.down_all()


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An isolated state directory (ledger, lab inventory, PKI) for one module, restored after:
    a module's faults and labs never meet another module's, or the user's."""
    path = tmp_path_factory.mktemp("hadrill-state")
    before = os.environ.get("HADRILL_STATE_DIR")
    os.environ["HADRILL_STATE_DIR"] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop("HADRILL_STATE_DIR", None)
        else:
            os.environ["HADRILL_STATE_DIR"] = before


@pytest.fixture
def ledger(state_dir: Path) -> Ledger:
    """The module's own fault ledger."""
    return Ledger(state_dir / "ledger.jsonl")
