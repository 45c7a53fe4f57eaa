"""The Swarm lab's stateful service and its acknowledged-writes probe, for real on this machine.

The store (``lab/swarm_store_app.py``) runs as a local process on a temporary directory; the probe
writes through it; the RPO is counted by the Gluster read-back's own verifier (``fs_writer.py
--verify``, on ``local://``) and :func:`hadrill.slo.acked_writes_lost`, the code the experiments use.
Oracles: files on disk read here with hashlib, and loss counts worked out by hand.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hadrill import slo
from hadrill.errors import ProbeFailed
from hadrill.lab import swarm_store_app
from hadrill.probes.gluster import _verify, acked_files
from hadrill.probes.swarm import SwarmStoreProbe

APP = str(Path(swarm_store_app.__file__).resolve())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(URL, root) of a store serving ``ROOT/swarm-store`` on a free local port."""
    data = tmp_path / "swarm-store"
    data.mkdir()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, APP, "--dir", str(data), "--port", str(port), "--bind", "127.0.0.1"])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(url + "/", timeout=0.5)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield url, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_put_is_acknowledged_with_the_content_sha256_and_is_on_disk(store: tuple[str, Path]) -> None:
    url, root = store
    body = b"hello swarm\n"
    r = requests.put(f"{url}/k1", data=body, timeout=5)
    assert r.status_code == 201
    assert r.json() == {"key": "k1", "sha256": hashlib.sha256(body).hexdigest()}
    assert (root / "swarm-store" / "k1").read_bytes() == body
    assert requests.get(f"{url}/k1", timeout=5).content == body
    # a key is written once: a second PUT is refused and the first content stays
    assert requests.put(f"{url}/k1", data=b"other", timeout=5).status_code == 409
    assert (root / "swarm-store" / "k1").read_bytes() == body
    assert requests.put(f"{url}/..%2Fescape", data=b"x", timeout=5).status_code == 400
    assert requests.put(f"{url}/a/b", data=b"x", timeout=5).status_code == 400
    assert requests.get(f"{url}/missing", timeout=5).status_code == 404
    assert sorted(p.name for p in (root / "swarm-store").iterdir()) == ["k1"]


def test_the_probe_fails_over_to_the_store_and_a_lost_write_is_counted(store: tuple[str, Path]) -> None:
    url, root = store
    closed = f"http://127.0.0.1:{_free_port()}"  # a node without the task: connection refused
    probe = SwarmStoreProbe([closed, url], folder="swarm-store", size=512, timeout=2.0)
    details = [probe.sample() for _ in range(5)]
    assert all(d is not None for d in details)
    acked = acked_files([d for d in details if d])
    assert len(acked) == 5 and all(k.startswith("swarm-store/") for k in acked)
    # the oracle: the files themselves, hashed here
    for key, digest in acked.items():
        assert hashlib.sha256((root / key).read_bytes()).hexdigest() == digest
    assert details[0] is not None and details[0]["tried"] == 2  # the refused node first, then the store
    assert details[1] is not None and details[1]["tried"] == 1  # it sticks to the node that answered

    # nothing lost: every acknowledged key is read back with its content
    present = _verify("local://", str(root), acked)
    assert slo.acked_writes_lost(acked, present) == []
    # planted: one file deleted, one overwritten with other bytes -> 2 of the 5 acknowledged writes lost
    keys = sorted(acked)
    (root / keys[1]).unlink()
    (root / keys[3]).write_bytes(b"not what was acknowledged")
    present = _verify("local://", str(root), acked)
    assert sorted(slo.acked_writes_lost(acked, present)) == [keys[1], keys[3]]
    verdict = slo.check_acked_writes_lost(slo.acked_writes_lost(acked, present), 0, acked_before=3, acked_after=2)
    assert not verdict.ok and verdict.measured == 2


def test_an_unanswered_or_refused_write_is_not_acknowledged(store: tuple[str, Path]) -> None:
    url, _ = store
    closed = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ProbeFailed, match="no node's store answered"):
        SwarmStoreProbe([closed], folder="swarm-store", timeout=1.0).sample()
    probe = SwarmStoreProbe([url], folder="swarm-store", size=16, timeout=2.0)
    d = probe.sample()
    assert d is not None
    requests.put(f"{url}/{d['key'].split('/', 1)[1].replace('000001', '000002')}", data=b"x", timeout=5)
    with pytest.raises(ProbeFailed, match="HTTP 409"):  # the next key was taken: an error, never an ack
        probe.sample()
