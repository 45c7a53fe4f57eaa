"""Go binaries built from the Go module proxy, cached by version: the Kubernetes lab's control plane.

No registry serves images here, but the Go module proxy serves sources. A binary is built once into
``cache_dir()/bin/<name>-<version>`` (written under a temporary name and renamed when complete, under
a file lock so two processes never build it together); a warm machine rebuilds nothing.

Kubernetes is built from a throwaway module that requires ``k8s.io/kubernetes <version>``: its go.mod
points the staging modules (``k8s.io/api``, ``k8s.io/client-go``...) at ``./staging``, which does not
exist in the published module, so every one of them is replaced by its published ``v0.<minor>.<patch>``.

Binaries of one group at one version (Kubernetes' control plane, etcd's three tools) share most of
their packages, so they are built by one ``go build -o DIR pkg...``: every shared package is compiled
once. A group's modules are fetched first (``go list -deps``), so a slow proxy and a slow compiler show
up as separate phases. Builds use every core (``-p`` = the CPU count; ``HADRILL_GO_JOBS`` overrides it)
at the lowest CPU priority: the lab shares machines with timing-sensitive tests, which keep precedence.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hadrill.errors import HadrillError, ImageBuildError
from hadrill.paths import cache_dir
from hadrill.progress import Progress

__all__ = [
    "GO_HELP",
    "KUBE_CONTROL_PLANE",
    "KUBE_NODE",
    "KWOK_VERSION",
    "GoBinary",
    "GoMissing",
    "build_group",
    "build_groups",
    "ensure_binaries",
    "etcd_binaries",
    "go_build_dir",
    "go_build_main",
    "go_install",
    "kubernetes_binaries",
    "kwok_binaries",
    "module_source",
]

KWOK_VERSION = "v0.7.0"  # client-go v0.33: within the supported skew of a 1.34 API server (v0.8 needs 0.36)
MIN_GO = (1, 24)  # Kubernetes 1.34's and kwok 0.7's go directive
_BUILD_TIMEOUT = 3600.0
GO_HELP = (
    "Go >= 1.24 is needed to build the Kubernetes lab's binaries from the Go module proxy, and no `go` was found "
    "on PATH or in /usr/local/go/bin. `bash .ci/bootstrap` installs it (as root on Debian: Debian's golang-go "
    "fetches the toolchain module golang.org/toolchain@v0.0.1-go1.24.13.linux-amd64 through the module proxy "
    "into /usr/local/go); or unpack Go >= 1.24 from https://go.dev/dl into /usr/local/go. Any go >= 1.21 on PATH "
    "also works: it downloads the newer toolchain by itself unless GOTOOLCHAIN=local is set."
)


class GoMissing(HadrillError):
    """No usable Go toolchain: the message says what to install."""


@dataclass(frozen=True)
class GoBinary:
    """One ``main`` package to build: ``requires`` are the modules (path, version) of the build module."""

    name: str
    package: str
    version: str
    requires: tuple[tuple[str, str], ...]
    replaces: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # filled in just before building
    ldflags: tuple[str, ...] = ()  # e.g. -X for the version a binary reports
    group: str = ""  # binaries of one group, version and ldflags are built by one `go build`

    @property
    def path(self) -> Path:
        return cache_dir() / "bin" / f"{self.name}-{self.version}"

    @property
    def exec_name(self) -> str:
        """The file name ``go build -o DIR`` gives this package: its last element, or the one before a
        major-version suffix (``go.etcd.io/etcd/server/v3`` → ``server``), as cmd/go's DefaultExecName."""
        parts = self.package.rstrip("/").split("/")
        if len(parts) > 1 and re.fullmatch(r"v([2-9]|[1-9][0-9]+)", parts[-1]):
            return parts[-2]
        return parts[-1]


KUBE_CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
KUBE_NODE = ("kubelet", "kubeadm", "kubectl", "kube-proxy")  # what a kubeadm node runs besides the above


def kubernetes_binaries(version: str, names: Sequence[str] = KUBE_CONTROL_PLANE) -> list[GoBinary]:
    """Binaries of Kubernetes ``version`` (v1.34.4): by default the control plane's three; ``KUBE_NODE``
    for a kubeadm node's. One group: built together, they share every package they have in common."""
    req = (("k8s.io/kubernetes", version),)
    major, minor = version.removeprefix("v").split(".")[:2]
    # what hack/lib/version.sh stamps, so /version reports the release and not v0.0.0-master
    stamp = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    ldflags = tuple(
        f"-X {pkg}.{k}={v}" for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for k, v in stamp.items()
    )  # fmt: skip
    return [GoBinary(n, f"k8s.io/kubernetes/cmd/{n}", version, req, ldflags=ldflags, group="kubernetes") for n in names]


def etcd_binaries(version: str) -> list[GoBinary]:
    """etcd (the server module's main package), etcdctl and etcdutl of etcd ``version`` (v3.6.16)."""
    mods = {"etcd": "go.etcd.io/etcd/server/v3", "etcdctl": "go.etcd.io/etcd/etcdctl/v3"}
    mods["etcdutl"] = "go.etcd.io/etcd/etcdutl/v3"
    return [GoBinary(n, m, version, ((m, version),), group="etcd") for n, m in mods.items()]


def kwok_binaries(version: str = KWOK_VERSION) -> list[GoBinary]:
    return [GoBinary("kwok", "sigs.k8s.io/kwok/cmd/kwok", version, (("sigs.k8s.io/kwok", version),))]


# -- the toolchain -------------------------------------------------------------------------------------
def _go_version(go: str) -> tuple[int, int]:
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return (0, 0)
    m = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    return (int(m[1]), int(m[2])) if m else (0, 0)


def find_go() -> str:
    """The first usable ``go``: on PATH, else /usr/local/go/bin/go; GoMissing if none is new enough.

    Usable: Go >= 1.24, or >= 1.21, which fetches a newer toolchain through the proxy by itself (unless
    GOTOOLCHAIN=local is set in the environment).
    """
    found = [g for g in (shutil.which("go"), "/usr/local/go/bin/go") if g and os.access(g, os.X_OK)]
    if not found:
        raise GoMissing(GO_HELP)
    may_switch = os.environ.get("GOTOOLCHAIN", "auto") not in ("local", "")
    seen = []
    for go in dict.fromkeys(found):
        have = _go_version(go)
        if have >= MIN_GO or (may_switch and have >= (1, 21)):
            return go
        seen.append(f"{go} is go{have[0]}.{have[1]}" if have > (0, 0) else f"{go} does not run")
    raise GoMissing(f"{'; '.join(seen)}: too old. {GO_HELP}")


def _env() -> dict[str, str]:
    root = cache_dir() / "go"
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(root / "mod"),
        GOCACHE=str(root / "build"),
        GOPATH=str(root / "path"),
        GOFLAGS="-modcacherw -mod=mod -buildvcs=false",
        CGO_ENABLED="0",
        GOWORK="off",
    )
    # The local go when new enough, else the toolchain the build module's go line names, from the proxy
    # (overrides a GOTOOLCHAIN=local written by `go env -w`; an explicit environment variable wins).
    env.setdefault("GOTOOLCHAIN", "auto")
    return env


def _run(cmd: Sequence[str], cwd: Path, log: Path, progress: Progress, timeout: float) -> int:
    """Run at the lowest priority, streaming every line to the log and the progress display."""
    with log.open("a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        nice = ["nice", "-n", "19"] if shutil.which("nice") else []
        proc = subprocess.Popen(
            [*nice, *cmd], cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        for line in proc.stdout:
            out.write(line)
            progress.update(line)
            if time.monotonic() > deadline:
                proc.kill()
                out.write(f"\nkilled after {timeout:.0f} s\n")
                break
        return proc.wait(timeout=60)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def staging_modules(go: str, version: str, work: Path, log: Path, progress: Progress) -> list[str]:
    """The ``k8s.io/<x>`` modules k8s.io/kubernetes ``version`` replaces with ``./staging/src/k8s.io/<x>``."""
    cmd = [go, "mod", "download", "-json", f"k8s.io/kubernetes@{version}"]
    with log.open("a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
    try:
        done = subprocess.run(cmd, cwd=work, env=_env(), capture_output=True, text=True, timeout=900)
        info = json.loads(done.stdout)
    except (subprocess.SubprocessError, ValueError) as e:
        raise ImageBuildError(f"go mod download k8s.io/kubernetes@{version} failed: {e}") from e
    if "Error" in info or done.returncode != 0:
        raise ImageBuildError(f"go mod download k8s.io/kubernetes@{version}: {info.get('Error') or done.stderr}")
    text = Path(info["GoMod"]).read_text()
    mods = sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/", text, re.M)))
    if not mods:
        raise ImageBuildError(f"no staging replacements in k8s.io/kubernetes@{version}'s go.mod ({info['GoMod']})")
    progress.update(f"{len(mods)} staging modules")
    return mods


def _go_mod(requires: Sequence[tuple[str, str]], replaces: Sequence[tuple[str, str]]) -> str:
    lines = ["module hadrill.local/build", "", f"go {MIN_GO[0]}.{MIN_GO[1]}.0", ""]
    lines += [f"require {mod} {ver}" for mod, ver in dict.fromkeys(requires)]
    lines += [f"replace {mod} => {mod} {ver}" for mod, ver in dict.fromkeys(replaces)]
    return "\n".join(lines) + "\n"


@contextmanager
def _lock(name: str) -> Iterator[None]:
    path = cache_dir() / "locks" / f"go-{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _jobs() -> str:
    """``go build -p``: every core unless ``HADRILL_GO_JOBS`` says otherwise (nice 19 keeps tests first)."""
    value = os.environ.get("HADRILL_GO_JOBS", "")
    return value if value.isdigit() and int(value) > 0 else str(os.cpu_count() or 1)


def build_groups(binaries: Sequence[GoBinary]) -> list[list[GoBinary]]:
    """Split ``binaries`` into what one ``go build`` each can make: same group, version and ldflags,
    and distinct output names. Ungrouped binaries are built alone. Order is kept.

    >>> [[b.name for b in g] for g in build_groups(etcd_binaries("v3.6.16") + kwok_binaries())]
    [['etcd', 'etcdctl', 'etcdutl'], ['kwok']]
    """
    groups: dict[tuple[str, ...], list[GoBinary]] = {}
    for b in binaries:
        key = (b.group, b.version, *b.ldflags) if b.group else ("", b.name, b.version)
        while key in groups and any(o.exec_name == b.exec_name for o in groups[key]):
            key = (*key, b.name)  # two main packages would write the same file: build this one apart
        groups.setdefault(key, []).append(b)
    return list(groups.values())


def build_group(group: Sequence[GoBinary], progress: Progress, go: str | None = None) -> dict[str, float]:
    """Build a group (see :func:`build_groups`) into the cache (no lock, no cache check: see
    ensure_binaries). Returns the seconds spent per phase: ``download`` (modules) and ``build``."""
    go = go or find_go()
    first = group[0]
    label = "+".join(b.name for b in group)
    logs = cache_dir() / "bin" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{label}-{first.version}.log"
    log.write_text("")
    times: dict[str, float] = {}
    t0 = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix=f"hadrill-go-{first.name}-") as tmp,
        tempfile.TemporaryDirectory(prefix=f".{first.name}.", dir=cache_dir() / "bin") as out_dir,
    ):
        work = Path(tmp)
        requires = [r for b in group for r in b.requires]
        replaces: list[tuple[str, str]] = []
        if any(mod == "k8s.io/kubernetes" for mod, _ in requires):
            minor = first.version.removeprefix("v1.")
            replaces = [(m, f"v0.{minor}") for m in staging_modules(go, first.version, work, log, progress)]
        (work / "go.mod").write_text(_go_mod(requires, replaces))
        packages = [b.package for b in group]
        fetch = [go, "list", "-deps", "-f", "{{if .Error}}{{.ImportPath}}: {{.Error}}{{end}}", *packages]
        rc = _run(fetch, work, log, progress, _BUILD_TIMEOUT)
        if rc != 0:
            raise ImageBuildError(
                f"fetching the modules of {label} {first.version} failed (exit {rc}); log {log}, "
                f"last lines:\n{_tail(log)}"
            )
        times["download"] = time.monotonic() - t0
        t1 = time.monotonic()
        ldflags = f"-ldflags={' '.join(['-s', '-w', *first.ldflags])}"
        cmd = [go, "build", "-p", _jobs(), "-v", "-trimpath", ldflags, "-o", out_dir + "/", *packages]
        rc = _run(cmd, work, log, progress, _BUILD_TIMEOUT)
        built = {b: Path(out_dir) / b.exec_name for b in group}
        if rc != 0 or not all(p.is_file() for p in built.values()):
            raise ImageBuildError(
                f"go build of {label} {first.version} failed (exit {rc}); log {log}, last lines:\n{_tail(log)}"
            )
        for b, p in built.items():
            p.chmod(0o755)
            os.replace(p, b.path)
        times["build"] = time.monotonic() - t1
    return times


def ensure_binaries(binaries: Sequence[GoBinary], *, progress: Progress | None = None) -> dict[str, Path]:
    """Build the binaries missing from the cache, a group per ``go build``; return ``{name: path}``.

    Each binary keeps its own lock (``go-<name>-<version>``), taken for a whole group in sorted order,
    so processes building one binary at a time and processes building groups never build together.
    """
    progress = progress or Progress(quiet=True)
    (cache_dir() / "bin").mkdir(parents=True, exist_ok=True)
    go: str | None = None
    for group in build_groups(binaries):
        if all(b.path.is_file() for b in group):
            continue
        with ExitStack() as locks:
            for key in sorted(f"{b.name}-{b.version}" for b in group):
                locks.enter_context(_lock(key))
            missing = [b for b in group if not b.path.is_file()]  # others may have built some meanwhile
            if not missing:
                continue
            go = go or find_go()
            label = ", ".join(b.name for b in missing)
            with progress.step(f"building {label} {missing[0].version} from the Go module proxy"):
                times = build_group(missing, progress, go)
            progress.info(f"built {label} in {sum(times.values()):.0f} s (modules {times['download']:.0f} s)")
    return {b.name: b.path for b in binaries}


def module_source(module: str, version: str, timeout: float = 600.0) -> Path:
    """The unpacked source of ``module@version`` from the Go module proxy, cached in the shared module cache
    (``go mod download``: checksums verified against the sum database). Used for upstream test fixtures."""
    go = find_go()
    with _lock(f"mod-{module.replace('/', '_')}-{version}"):
        proc = subprocess.run(
            [go, "mod", "download", "-json", f"{module}@{version}"], env=_env(), cwd=tempfile.gettempdir(),
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    try:
        info = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or not info.get("Dir"):
        detail = info.get("Error") or proc.stderr.strip()[-500:]
        raise ImageBuildError(f"go mod download {module}@{version} failed: {detail}")
    return Path(info["Dir"])


def _once(target: Path, build: Callable[[Path], Path]) -> Path:
    """``target`` in the cache, made once: under a lock, ``build`` makes the binary in a scratch directory
    and returns its path; it is moved into place only when complete, so a half-built one is never used."""
    if target.is_file():
        return target
    with _lock(target.name):
        if not target.is_file():
            with tempfile.TemporaryDirectory(prefix="hadrill-go-") as tmp:
                built = build(Path(tmp))
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".tmp")  # same file system: the rename is atomic
                shutil.move(str(built), partial)
                partial.replace(target)
    return target


def _go(args: Sequence[str], cwd: Path, what: str, timeout: float, env: dict[str, str] | None = None) -> None:
    """Run ``go args`` in ``cwd``; an ImageBuildError naming ``what`` with the end of go's errors if it fails."""
    proc = subprocess.run(
        [find_go(), *args], env=env or _env(), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise ImageBuildError(f"{what} failed: {proc.stderr.strip()[-800:]}")


def go_build_dir(src: Path, name: str, timeout: float = _BUILD_TIMEOUT) -> Path:
    """Build the main package in ``src`` (its own go.mod and go.sum: test helpers) into the cache, once
    per content of its ``go.mod``, ``go.sum`` and ``*.go`` files; the binary's path."""
    import hashlib

    digest = hashlib.sha256()
    for f in sorted([*src.glob("*.go"), src / "go.mod", src / "go.sum"]):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())

    def build(tmp: Path) -> Path:
        env = {**_env(), "GOFLAGS": "-modcacherw -mod=readonly -buildvcs=false"}
        _go(["build", "-o", str(tmp / name), "."], src, f"go build in {src}", timeout, env)
        return tmp / name

    return _once(cache_dir() / "bin" / f"{name}-{digest.hexdigest()[:12]}", build)


def go_install(package: str, version: str, timeout: float = _BUILD_TIMEOUT) -> Path:
    """``go install package@version`` into the cache (``bin/NAME-VERSION``), once; the binary's path."""
    name = package.rstrip("/").rsplit("/", 1)[-1]

    def build(tmp: Path) -> Path:
        env = {**_env(), "GOBIN": str(tmp)}
        _go(["install", f"{package}@{version}"], tmp, f"go install {package}@{version}", timeout, env)
        return tmp / name

    return _once(cache_dir() / "bin" / f"{name}-{version}", build)


def go_build_main(
    name: str, module: str, version: str, imports: Sequence[str], call: str, timeout: float = _BUILD_TIMEOUT
) -> Path:
    """Build a main package that imports only ``imports`` of ``module@version`` and runs ``call``,
    into the cache (``bin/NAME-VERSION``), once.

    Why: a program assembled from plugins (CoreDNS) builds every plugin and its cloud SDKs with
    ``go install``; a lab needs a handful. The dependency versions are the module's own (minimal
    version selection from its go.mod), so the plugins are the same code as upstream's release."""
    package = call.rsplit(".", 1)[0]
    source = "package main\n\nimport (\n" + "".join(f'\t_ "{i}"\n' for i in imports)
    source += f'\n\t"{package}"\n)\n\nfunc main() {{ {package.rsplit("/", 1)[-1]}.{call.rsplit(".", 1)[1]}() }}\n'

    def build(tmp: Path) -> Path:
        (tmp / "go.mod").write_text(f"module hadrill.lab/{name}\n\ngo 1.24\n\nrequire {module} {version}\n")
        (tmp / "main.go").write_text(source)
        what = f"of {name} ({module}@{version})"
        _go(["mod", "tidy"], tmp, f"mod tidy {what}", timeout)
        _go(["build", "-trimpath", "-ldflags", "-s -w", "-o", name, "."], tmp, f"go build {what}", timeout)
        return tmp / name

    return _once(cache_dir() / "bin" / f"{name}-{version}", build)


def main() -> None:  # pragma: no cover - `python -m hadrill.lab.gobuild v1.34.4 v3.6.16`: pre-build
    import sys

    k8s, etcd = [*sys.argv[1:], "v1.34.4", "v3.6.16"][:2]
    found = ensure_binaries([*kubernetes_binaries(k8s), *etcd_binaries(etcd), *kwok_binaries()], progress=Progress())
    for name, path in found.items():
        print(f"{name}\t{path}\t{path.stat().st_size // 2**20} MiB")


if __name__ == "__main__":  # pragma: no cover
    main()
