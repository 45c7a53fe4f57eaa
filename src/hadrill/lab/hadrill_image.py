"""hadrill's own image, for the in-cluster nightly gate (``deploy/in-cluster/``): Debian's Python and
the project's wheel, with the experiments at ``/usr/share/hadrill/experiments``.

The wheel is built from the source tree (reproducibly: ``SOURCE_DATE_EPOCH``, so an unchanged tree
gives the same bytes and the image is not rebuilt); its dependencies are the wheels of the versions
installed beside this hadrill (the ones its tests ran with), for Debian bookworm's CPython 3.11,
downloaded once per set of versions into the cache. The image holds no pip cache and runs as an
unprivileged user (uid 10001), so its pod meets the Pod Security "restricted" level.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import docker
from docker.errors import APIError

from hadrill.errors import ConfigError, ImageBuildError
from hadrill.lab.images import ImageSpec, ensure_image
from hadrill.paths import cache_dir
from hadrill.progress import Progress

__all__ = [
    "HADRILL_IMAGE",
    "HADRILL_UID",
    "ensure_hadrill_image",
    "hadrill_image_spec",
    "source_root",
    "wheelhouse",
]

HADRILL_IMAGE = "hadrill.local/hadrill"  # tagged with the project's version, as deploy/in-cluster names it
HADRILL_UID = 10001
_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry holds
# Debian bookworm's CPython: the wheels must be the ones it installs (pip download for another interpreter)
_TARGET = ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none"]
_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
_PIP_S = 600  # a download of every dependency, bounded


def source_root(given: Path | None = None) -> Path:
    """The hadrill source tree to build from: ``given``, else the current directory, else the checkout
    this hadrill runs from (an editable install); bad input when none holds pyproject.toml and src/hadrill."""
    here = Path(__file__).resolve().parents[3]
    for root in [given] if given is not None else [Path.cwd(), here]:
        if (root / "pyproject.toml").is_file() and (root / "src" / "hadrill").is_dir():
            return root.resolve()
    raise ConfigError(
        "--source", "", "a hadrill source tree (pyproject.toml, src/hadrill, experiments/)", str(given or Path.cwd())
    )


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_S, env=env)
    except subprocess.TimeoutExpired as e:
        raise ImageBuildError(f"{what}: no end after {_PIP_S} s") from e
    if proc.returncode != 0:
        raise ImageBuildError(f"{what} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-800:]}")


def _project_wheel(root: Path, out: Path) -> Path:
    """The wheel of the tree at ``root``, built from a clean copy (no stale ``build/``)."""
    with tempfile.TemporaryDirectory(prefix="hadrill-wheel-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(root / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, src / name)
        env = {**os.environ, "SOURCE_DATE_EPOCH": _EPOCH}
        _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)], "the hadrill wheel",
             env)  # fmt: skip
    wheels = sorted(out.glob("hadrill-*.whl"))
    if len(wheels) != 1:
        raise ImageBuildError(f"building the hadrill wheel left {len(wheels)} wheels in {out}")
    return wheels[0]


def _pins() -> str:
    """``name==version`` of every distribution installed beside hadrill: the image gets the same."""
    names = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name and name != "hadrill":
            names[name] = dist.version
    return "".join(f"{n}=={v}\n" for n, v in sorted(names.items()))


def wheelhouse(root: Path, progress: Progress | None = None) -> Path:
    """A tar of the hadrill wheel and its dependencies' wheels (names sorted, times and owners zeroed:
    the same wheels give the same bytes, hence the same image tag)."""
    progress = progress or Progress(quiet=True)
    pins = _pins()
    work = cache_dir() / "wheels"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hadrill-wheels-", dir=work) as tmp:
        wheel = _project_wheel(root, Path(tmp) / "own")
        key = hashlib.sha256((pins + wheel.name).encode()).hexdigest()[:12]
        deps = work / f"deps-{key}"
        if not deps.is_dir():
            progress.update(f"downloading the wheels of hadrill's dependencies into {deps}")
            constraints = Path(tmp) / "constraints.txt"
            constraints.write_text(pins, encoding="utf-8")
            part = Path(tmp) / "deps"
            platforms = [a for p in _PLATFORMS for a in ("--platform", p)]
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", *_TARGET, *platforms,
                   "-c", str(constraints), "--dest", str(part), str(wheel)]  # fmt: skip
            _run(cmd, "pip download of hadrill's dependencies")
            (part / wheel.name).unlink(missing_ok=True)
            part.rename(deps)
        tar = work / f"hadrill-wheels-{key}-{hashlib.sha256(wheel.read_bytes()).hexdigest()[:12]}.tar"
        if not tar.is_file():
            files = sorted([*deps.glob("*.whl"), wheel], key=lambda p: p.name)
            part_tar = tar.with_suffix(".part")
            with tarfile.open(part_tar, "w") as out:
                for f in files:
                    info = out.gettarinfo(str(f), arcname=f.name)
                    info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
                    with f.open("rb") as fh:
                        out.addfile(info, fh)
            part_tar.replace(tar)
            for old in work.glob("hadrill-wheels-*.tar"):  # an older build
                if old != tar:
                    old.unlink(missing_ok=True)
    return tar


def hadrill_image_spec(root: Path, wheels: Path) -> ImageSpec:
    """The image: python3 from Debian, a venv at /opt/hadrill with the wheels, the experiments."""
    experiments = {
        f"/usr/share/hadrill/experiments/{p.name}": p.read_text(encoding="utf-8")
        for p in sorted((root / "experiments").glob("*.yaml"))
    }
    install = (
        "mkdir /tmp/w && tar -xf /tmp/hadrill-wheels.tar -C /tmp/w"
        " && python3 -m venv /opt/hadrill"
        " && /opt/hadrill/bin/pip install -q --no-index --no-cache-dir --find-links /tmp/w hadrill"
        " && rm -rf /tmp/w /tmp/hadrill-wheels.tar && /opt/hadrill/bin/hadrill --help >/dev/null"
    )
    return ImageSpec(
        name="hadrill",
        packages=("python3", "python3-venv", "ca-certificates"),
        files=experiments,
        binaries={"/tmp/hadrill-wheels.tar": str(wheels)},
        dockerfile=(
            f"RUN {install}",
            "ENV PATH=/opt/hadrill/bin:/usr/local/bin:/usr/bin:/bin HOME=/tmp HADRILL_STATE_DIR=/tmp/hadrill"
            " CHAOSTOOLKIT_IN_POD=true",
            f"USER {HADRILL_UID}:{HADRILL_UID}",
            "WORKDIR /tmp",
            'ENTRYPOINT ["hadrill"]',
        ),
    )


def ensure_hadrill_image(client: docker.DockerClient, root: Path, *, progress: Progress | None = None) -> str:
    """Build hadrill's image from the tree at ``root`` (unless built), tag it ``hadrill.local/hadrill:VERSION``
    and return that reference."""
    progress = progress or Progress(quiet=True)
    with progress.step("hadrill's own image: the project's wheel and its dependencies"):
        ref = ensure_image(client, hadrill_image_spec(root, wheelhouse(root, progress)), progress=progress)
    version = importlib.metadata.version("hadrill")
    try:
        client.images.get(ref).tag(HADRILL_IMAGE, tag=version)
    except APIError as e:
        raise ImageBuildError(f"docker tag {ref} {HADRILL_IMAGE}:{version}: {e}") from e
    return f"{HADRILL_IMAGE}:{version}"
