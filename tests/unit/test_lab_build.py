"""Lab.build builds independent images at once, each once, and reports every failure."""

from __future__ import annotations

import io
import re
import threading
import time
from typing import Any

import pytest
from rich.console import Console

from hadrill.errors import ImageBuildError
from hadrill.lab import lab as lab_module
from hadrill.lab.images import ImageSpec
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data
from hadrill.progress import Progress


class _Service:
    def __init__(self, name: str, specs: list[ImageSpec], delay: float = 0.0) -> None:
        self.name, self.specs, self.delay = name, specs, delay

    def images(self) -> list[ImageSpec]:
        time.sleep(self.delay)  # the Kubernetes part compiles Go here
        return self.specs


def _lab(services: list[_Service]) -> Lab:
    spec = parse_lab_data({"api_version": "hadrill/v1", "kind": "Lab", "name": "t", "etcd": {"members": 1}}, "t")
    lab = Lab(spec, client=object())  # type: ignore[arg-type]  # never called: ensure_image is replaced
    lab.services = services  # type: ignore[assignment]
    return lab


def _img(name: str) -> ImageSpec:
    return ImageSpec(name=name, packages=("p",))


def test_images_build_at_once_while_a_service_is_still_describing(monkeypatch: pytest.MonkeyPatch) -> None:
    lock = threading.Lock()
    running: list[str] = []
    peak = 0
    calls: list[str] = []

    def fake_ensure(client: Any, img: ImageSpec, **_: Any) -> str:
        nonlocal peak
        with lock:
            running.append(img.name)
            calls.append(img.name)
            peak = max(peak, len(running))
        time.sleep(0.2)
        with lock:
            running.remove(img.name)
        return img.ref

    monkeypatch.setattr(lab_module, "ensure_image", fake_ensure)
    shared = _img("base")
    slow = _Service("kube", [_img("node"), shared], delay=0.3)
    fast = _Service("etcd", [_img("etcd"), _img("nfs"), shared])
    t0 = time.monotonic()
    refs = _lab([slow, fast]).build()
    elapsed = time.monotonic() - t0
    # kube's 0.3 s description overlaps etcd's images; sequentially it would be 0.3 + 4 x 0.2 = 1.1 s
    assert elapsed < 0.9
    assert peak >= 3
    assert sorted(calls) == ["base", "etcd", "nfs", "node"]  # the shared image is built once
    assert refs == [_img("node").ref, shared.ref, _img("etcd").ref, _img("nfs").ref]  # service order


def test_every_failure_is_reported_and_the_others_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[str] = []

    def fake_ensure(client: Any, img: ImageSpec, **_: Any) -> str:
        if img.name.startswith("bad"):
            raise ImageBuildError(f"{img.name} broke")
        time.sleep(0.05)
        done.append(img.name)
        return img.ref

    monkeypatch.setattr(lab_module, "ensure_image", fake_ensure)
    out = io.StringIO()
    lab = _lab([_Service("a", [_img("bad1"), _img("good")]), _Service("b", [_img("bad2")])])
    lab.progress = Progress(console=Console(file=out, force_terminal=False))
    with pytest.raises(ImageBuildError, match="bad"):
        lab.build()
    assert done == ["good"]
    assert "also failed: bad" in out.getvalue()


@pytest.mark.parametrize("terminal", [True, False])
def test_parallel_progress_steps_keep_their_own_times(terminal: bool) -> None:
    out = io.StringIO()
    progress = Progress(console=Console(file=out, force_terminal=terminal, highlight=False))

    def step(i: int) -> None:
        with progress.step(f"step {i}"):
            progress.update("a line")
            time.sleep(0.4 if i == 0 else 0.02)

    threads = [threading.Thread(target=step, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
        time.sleep(0.03)  # step 0 starts first and ends last
    for t in threads:
        t.join()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # colours and cursor moves
    ends = dict(re.findall(r"✓ step (\d) \((\d+\.\d) s\)", text))
    assert sorted(ends) == [str(i) for i in range(6)], text
    assert float(ends["0"]) >= 0.4, text  # not timed from a later step's start
    assert all(float(ends[str(i)]) < 0.3 for i in range(1, 6)), text
