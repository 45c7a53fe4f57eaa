"""The optional C evaluator of the Pod Security Standards (everything else is in pyproject.toml).

``optional=True``: without a C compiler and Python headers the install still succeeds, and the scan
uses the pure-Python controls (:data:`hadrill.compliance.pss_scan.NATIVE` says which one runs).
"""

from setuptools import Extension, setup

_DIR = "src/hadrill/compliance"

setup(
    ext_modules=[
        Extension(
            "hadrill.compliance._pss_native",
            [f"{_DIR}/_pss_native.c", f"{_DIR}/_pss_controls.c", f"{_DIR}/_pss_findings.c"],
            depends=[f"{_DIR}/_pss_native.h"],
            extra_compile_args=["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
            optional=True,
        )
    ]
)
