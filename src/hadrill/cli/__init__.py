"""The ``hadrill`` command: this root only registers the command groups, one module each.

Command modules share :mod:`hadrill.cli._common` (consoles, the one error handler, ``--inventory``)
and never import this module back.

Exit codes: 0 success; 1 a check, objective or health verdict failed; 2 bad input (a file, a field,
an option); 3 broken infrastructure (no engine, a build or the lab failed).
"""

from __future__ import annotations

import click

from hadrill import __version__
from hadrill.cli.check import check_cmd
from hadrill.cli.drill import compare_cmd, drill_cmd, report_cmd
from hadrill.cli.experiments import recover_cmd, resume_cmd, run_cmd, stop_cmd, validate_cmd
from hadrill.cli.inventory import inventory_cmd
from hadrill.cli.lab import lab_group
from hadrill.cli.preflight import preflight_cmd

__all__ = ["main"]


@click.group()
@click.version_option(__version__, prog_name="hadrill")
def main() -> None:
    """Prove that a high-availability platform survives the failures it was built for."""


for _command in (
    lab_group, recover_cmd, run_cmd, validate_cmd, drill_cmd, report_cmd, compare_cmd, check_cmd, inventory_cmd,
    preflight_cmd, stop_cmd, resume_cmd,
):  # fmt: skip
    main.add_command(_command)
