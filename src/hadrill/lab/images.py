"""Lab images built from Debian packages, with no registry: mmdebstrap → docker import → docker build.

An image's tag is a hash of everything that went into it (suite, packages, files, Dockerfile lines),
so an unchanged image is never rebuilt and a changed one never reuses a stale tag. Images are shared by
every lab on the engine and carry ``dev.hadrill.image``, never a lab's label: ``lab down`` keeps them.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from hadrill.errors import ImageBuildError
from hadrill.paths import cache_dir
from hadrill.progress import Progress

__all__ = ["IMAGE_LABEL", "ImageSpec", "ensure_image", "save_image"]

IMAGE_LABEL = "dev.hadrill.image"
_RECIPE_VERSION = "1"  # bump when the build procedure itself changes


@dataclass(frozen=True)
class ImageSpec:
    """What an image is made of. ``files`` maps a path in the image to its content; ``binaries`` maps a
    path in the image to a file on the host (copied executable, hashed by content)."""

    name: str
    packages: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)
    dockerfile: tuple[str, ...] = ()
    suite: str = "bookworm"
    binaries: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        recipe = {
            "v": _RECIPE_VERSION,
            "suite": self.suite,
            "packages": sorted(set(self.packages)),
            "files": self.files,
            "dockerfile": list(self.dockerfile),
        }
        if self.binaries:  # only then, so the tags of images without binaries do not change
            recipe["binaries"] = {dest: _digest(src) for dest, src in self.binaries.items()}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def ref(self) -> str:
        return f"hadrill/{self.name}:{self.tag}"


def _digest(path: str) -> str:
    """sha256 of a host file, remembered per (path, size, mtime): tags are computed often."""
    try:
        st = Path(path).stat()
    except OSError as e:
        raise ImageBuildError(f"binary {path} for an image is missing: {e}") from e
    return _digest_of(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _lock(name: str) -> Iterator[None]:
    """One builder per image across processes (xdist workers, two labs starting together)."""
    path = cache_dir() / "locks" / f"image-{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except ImageNotFound:
        return False
    return True


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _mmdebstrap(spec: ImageSpec, tar: Path, log: Path, progress: Progress) -> None:
    cmd = [
        "mmdebstrap",
        "--variant=minbase",
        f"--include={','.join(spec.packages)}",
        "--dpkgopt=path-exclude=/usr/share/{doc,man,locale}/*",
        spec.suite,
        str(tar),
    ]
    try:
        with log.open("w") as out:
            out.write("$ " + " ".join(cmd) + "\n")
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                progress.update(line)
            rc = proc.wait(timeout=1800)
    except FileNotFoundError as e:
        raise ImageBuildError("mmdebstrap is not installed: apt-get install -y mmdebstrap") from e
    if rc != 0:
        raise ImageBuildError(
            f"mmdebstrap failed for image {spec.name} (exit {rc}); log {log}, last lines:\n{_tail(log)}"
        )


def _docker_build(client: docker.DockerClient, spec: ImageSpec, base: str, log: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="hadrill-img-") as ctx:
        lines = [f"FROM {base}"]
        for i, (dest, content) in enumerate(sorted(spec.files.items())):
            (Path(ctx) / f"f{i}").write_text(content)
            mode = "0755" if dest.endswith(".sh") or "/bin/" in dest else "0644"
            # The classic builder (docker-py has no BuildKit) has no COPY --chmod, but keeps the mode.
            (Path(ctx) / f"f{i}").chmod(int(mode, 8))
            lines.append(f"COPY f{i} {dest}")
        for i, (dest, src) in enumerate(sorted(spec.binaries.items())):
            try:
                os.link(src, Path(ctx) / f"b{i}")
            except OSError:  # another filesystem
                shutil.copyfile(src, Path(ctx) / f"b{i}")
            (Path(ctx) / f"b{i}").chmod(0o755)
            lines.append(f"COPY b{i} {dest}")
        lines.extend(spec.dockerfile)
        (Path(ctx) / "Dockerfile").write_text("\n".join(lines) + "\n")
        try:
            _, stream = client.images.build(
                path=ctx,
                tag=spec.ref,
                rm=True,
                forcerm=True,
                labels={IMAGE_LABEL: spec.name, "dev.hadrill.tag": spec.tag},
            )
            with log.open("a") as out:
                for chunk in stream:
                    out.write(str(chunk.get("stream", "")))
        except (BuildError, APIError) as e:
            with log.open("a") as out:
                out.write(f"\ndocker build failed: {e}\n")
            raise ImageBuildError(
                f"docker build failed for image {spec.name}; log {log}, last lines:\n{_tail(log)}"
            ) from e


def ensure_image(
    client: docker.DockerClient, spec: ImageSpec, *, rebuild: bool = False, progress: Progress | None = None
) -> str:
    """Return the image reference, building it only when its content hash is not on the engine."""
    progress = progress or Progress(quiet=True)
    with _lock(spec.name):
        if not rebuild and _exists(client, spec.ref):
            return spec.ref
        work = cache_dir() / "images"
        work.mkdir(parents=True, exist_ok=True)
        log = work / f"{spec.name}-{spec.tag}.log"
        tar = work / f"{spec.name}-{spec.tag}.tar"
        base = f"hadrill/{spec.name}-rootfs:{spec.tag}"
        with progress.step(f"building image {spec.ref} ({len(spec.packages)} Debian packages)"):
            try:
                if rebuild or not _exists(client, base):
                    _mmdebstrap(spec, tar, log, progress)
                    progress.update("docker import")
                    try:
                        client.api.import_image_from_file(str(tar), repository=base.split(":")[0], tag=spec.tag)
                    except APIError as e:
                        raise ImageBuildError(f"docker import of {tar} failed: {e}") from e
                progress.update("docker build")
                _docker_build(client, spec, base, log)
            finally:
                tar.unlink(missing_ok=True)
        return spec.ref


def save_image(client: docker.DockerClient, ref: str, path: Path) -> Path:
    """``docker save ref`` to ``path`` (written whole, then renamed): for ``ctr images import`` on a node."""
    part = path.with_name(path.name + ".part")
    try:
        with part.open("wb") as fh:
            for chunk in client.api.get_image(ref):
                fh.write(chunk)
    except (APIError, OSError) as e:
        part.unlink(missing_ok=True)
        raise ImageBuildError(f"docker save {ref} to {path}: {e}") from e
    part.replace(path)
    return path
