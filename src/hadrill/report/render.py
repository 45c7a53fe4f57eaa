"""Writing the report directory: ``index.html``, ``report.md``, ``report.json``, ``junit.xml``,
``metrics.prom`` (the results as Prometheus metrics) and
``SHA256SUMS``, from a journal directory only (never the platform), plus the pre-upgrade validation
from the directory's ``preflight.json`` when there is one (``hadrill drill --target-version``).

Escaping: the HTML template autoescapes everything; charts escape their own text; Markdown output
goes through :func:`md` for every interpolated value (``finalize``), or :func:`code` for code spans;
``junit.xml`` is built with ElementTree, minus characters XML 1.0 cannot carry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined
from jinja2.bccache import Bucket

from hadrill import __version__
from hadrill.paths import cache_dir
from hadrill.report.charts import timeline_svg
from hadrill.report.evidence import activities, events, fault_records
from hadrill.report.metrics import METRICS_FILE, report_metrics, write_textfile
from hadrill.report.model import OBJECTIVES, PREFLIGHT_FILE, build_report, load_journals, load_preflight

__all__ = ["code", "fenced", "junit_xml", "md", "render_report", "sha256_file"]

REPORT_FILES = ("report.json", "report.md", "junit.xml", "metrics.prom")
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MD_SPECIAL = re.compile(r"([\\`*\[\]|~]|<(?=[A-Za-z/!?]))")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


class Code(str):
    """Already formatted for Markdown (a code span): finalize leaves it alone."""


def md(value: Any) -> str:
    """Text safe in Markdown paragraphs and table cells: one line, no markup, no HTML."""
    if isinstance(value, Code):
        return str(value)
    text = " ".join(("" if value is None else str(value)).split())
    text = _MD_SPECIAL.sub(r"\\\1", _MD_ENTITY.sub("&amp;", text))
    return _MD_UNDERSCORE.sub(r"\\_", text)


def code(value: Any) -> Code:
    """A Markdown code span that holds any text (pipes escaped for tables)."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return Code(f"{fence} {text} {fence}" if fence == "``" else f"`{text}`")


def fenced(value: Any) -> Code:
    """Text for a fenced code block: kept verbatim, minus anything that would close the fence."""
    return Code(str(value).replace("```", "'''").replace("~~~", "'''"))


def measure(value: Any, unit: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "unknown"
    if unit == "ratio":
        return f"{value * 100:.3f} %"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "bool":
        return "yes" if value else "no"
    if unit == "writes":
        return f"{value:g} writes"
    return f"{value:g} {unit or ''}".strip()


def objective(value: Any, unit: Any) -> str:
    if unit == "bool":
        return "yes"
    shown = measure(value, unit)
    return shown if shown == "unknown" else ("≥ " if unit == "ratio" else "≤ ") + shown


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _TemplateCache(FileSystemBytecodeCache):
    """The report templates, compiled once and kept between runs: compiling them took 0.2 s of every
    ``hadrill drill``. Jinja checks each template's source against its cached code; a cache that cannot
    be written is never a reason for a report to fail."""

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _template_cache(options: dict[str, Any]) -> _TemplateCache | None:
    """The cache for an environment with these options (they shape the compiled code), under cache_dir()."""
    key = hashlib.sha256(repr(sorted((k, getattr(v, "__name__", v)) for k, v in options.items())).encode())
    directory = cache_dir() / "report-templates" / f"{__version__}-jinja{jinja2.__version__}-{key.hexdigest()[:12]}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _TemplateCache(str(directory))


def _environment(markdown: bool) -> Environment:
    options: dict[str, Any] = {
        "autoescape": not markdown, "undefined": StrictUndefined, "trim_blocks": True, "lstrip_blocks": True,
        "keep_trailing_newline": True, "finalize": md if markdown else None,
    }  # fmt: skip
    env = Environment(
        loader=PackageLoader("hadrill.report", "templates"), bytecode_cache=_template_cache(options), **options
    )
    env.filters.update(measure=measure, objective=objective, code=code, fenced=fenced)
    env.globals.update(OBJECTIVES=OBJECTIVES, hadrill_version=__version__)
    return env


def _xml(text: Any) -> str:
    return _XML_BAD.sub("�", "" if text is None else str(text))


def _preflight_case(suite: ET.Element, report: dict[str, Any], pre: dict[str, Any]) -> None:
    """The ``preflight`` testcase: a failure on no-go, an error when it could not run, skipped when not run."""
    case = ET.SubElement(
        suite, "testcase", classname=_xml(f"hadrill.drill.{report['platform']}"), name="preflight", time="0.000"
    )
    cprops = ET.SubElement(case, "properties")
    for key in ("target_version", "current_version", "decision"):
        ET.SubElement(cprops, "property", name=key, value=_xml(pre[key]))
    title = f"{pre['verdict']} for Kubernetes {pre['target_version']}"
    if pre["decision"] == "no-go":
        lines = list(pre["reasons"])
        for c in pre["checks"]:
            if c["blocking"] and not c["ok"]:
                lines += [f"{c['name']}: {d}" for d in c["details"]]
        first = pre["reasons"][0] if pre["reasons"] else "a blocking check failed"
        ET.SubElement(case, "failure", message=_xml(f"{title}: {first}"), type="preflight").text = _xml(
            "\n".join(lines)
        )
    elif pre["decision"] == "error":
        ET.SubElement(case, "error", message=_xml(f"{title}: {pre['note']}"), type="preflight").text = _xml(pre["note"])
    elif pre["decision"] == "not run":
        ET.SubElement(case, "skipped", message=_xml(pre["note"] or "not run"))


def junit_xml(report: dict[str, Any]) -> bytes:
    """One testcase per scenario; failures carry failure_report; measured SLOs are properties. With a
    pre-upgrade validation, one more testcase ``preflight`` (a failure when no-go)."""
    scenarios = report["scenarios"]
    pre = report.get("preflight")
    total = sum(float(s["duration_s"] or 0) for s in scenarios)
    attrs = {
        "name": _xml(f"{report['title']} — {report['platform']}"),
        "tests": str(len(scenarios) + (pre is not None)),
        "failures": str(report["counts"]["failed"] + (pre is not None and pre["decision"] == "no-go")),
        "errors": str(report["counts"]["error"] + (pre is not None and pre["decision"] == "error")),
        "skipped": str(int(pre is not None and pre["decision"] == "not run")),
        "time": f"{total:.3f}",
        "timestamp": _xml(report["started"] or report["generated"] or ""),
    }
    suites = ET.Element("testsuites", {k: attrs[k] for k in ("name", "tests", "failures", "errors", "time")})
    suite = ET.SubElement(suites, "testsuite", attrs)
    props = ET.SubElement(suite, "properties")
    for key in ("platform", "date", "coordinator"):
        ET.SubElement(props, "property", name=key, value=_xml(report[key]))
    ET.SubElement(props, "property", name="hadrill", value=__version__)
    for s in scenarios:
        case = ET.SubElement(
            suite, "testcase", classname=_xml(f"hadrill.drill.{report['platform']}"), name=_xml(s["name"]),
            time=f"{float(s['duration_s'] or 0):.3f}",
        )  # fmt: skip
        cprops = ET.SubElement(case, "properties")
        for key, m in s["measured"].items():
            ET.SubElement(cprops, "property", name=f"{key}.objective", value=_xml(m["objective"]))
            ET.SubElement(cprops, "property", name=f"{key}.measured", value=_xml(m["measured"]))
        for v in s["verdicts"]:
            ET.SubElement(cprops, "property", name=_xml(f"{v.get('name')}.measured"), value=_xml(v.get("measured")))
        first = (s["failure"] or s["status"]).splitlines()[0] if s["failure"] else s["status"]
        if s["status"] == "failed":
            ET.SubElement(case, "failure", message=_xml(first), type="objectives").text = _xml(s["failure"])
        elif s["status"] == "error":
            ET.SubElement(case, "error", message=_xml(first), type="harness").text = _xml(s["failure"])
    if pre is not None:
        _preflight_case(suite, report, pre)
    ET.indent(suites)
    body: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body + b"\n"


def _views(loaded: Any, report: dict[str, Any]) -> list[dict[str, Any]]:
    """What the HTML and Markdown show beyond report.json: charts, events, evidence."""
    views = []
    for (_, journal), s in zip(loaded[1], report["scenarios"], strict=True):
        h = (journal or {}).get("hadrill") or {}
        views.append(
            {
                **s,
                "chart": timeline_svg(h, label=f"{s['name']}: probe success over time") if journal else None,
                "events": events(h),
                "activities": activities(journal),
                "fault_records": fault_records(h),
                "lost_keys": {k: v[:5] for k, v in (h.get("lost") or {}).items() if isinstance(v, list) and v},
            }
        )
    return views


def render_report(
    journal_dir: Path, out_dir: Path, *, generated: float | None = None, preflight: Path | None = None
) -> Path:
    """Render every report file into ``out_dir``; returns ``index.html``'s path.

    The pre-upgrade validation comes from ``out_dir/preflight.json`` when it exists; ``preflight`` names
    another stored one, copied there first (so the report directory holds what it shows)."""
    loaded = load_journals(journal_dir)
    stored = out_dir / PREFLIGHT_FILE
    data = load_preflight(preflight) if preflight is not None else None
    out_dir.mkdir(parents=True, exist_ok=True)
    if preflight is not None and not (stored.exists() and stored.resolve() == preflight.resolve()):
        shutil.copyfile(preflight, stored)
    if data is None and stored.is_file():
        data = load_preflight(stored)
    report = build_report(loaded, generated=generated if generated is not None else time.time(), preflight=data)
    views = _views(loaded, report)
    context = {"report": report, "scenarios": views}
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(
        _environment(markdown=True).get_template("report.md.j2").render(**context), encoding="utf-8"
    )
    (out_dir / "junit.xml").write_bytes(junit_xml(report))
    write_textfile(out_dir / METRICS_FILE, report_metrics(report))
    files = [out_dir / name for name in REPORT_FILES]
    if data is not None:
        files.append(stored)
    inside = journal_dir.resolve().is_relative_to(out_dir.resolve())
    if inside:
        files += sorted(p for p in journal_dir.rglob("*") if p.is_file())
    sums = [(p.resolve().relative_to(out_dir.resolve()).as_posix(), sha256_file(p)) for p in files]
    index = out_dir / "index.html"
    html = _environment(markdown=False).get_template("index.html.j2").render(**context, sums=sums)
    index.write_text(html, encoding="utf-8")
    sums.insert(0, ("index.html", sha256_file(index)))
    (out_dir / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in sums), encoding="utf-8")
    return index
