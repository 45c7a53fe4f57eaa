"""Commands in ``docker://`` nodes through a shell kept open in the container
(:mod:`hadrill.clients.exec_session`), against a real one: a one-member etcd lab (``hdt-<worker>-sess``).

Oracles: the ``docker`` CLI's own ``docker exec`` of the same command (output, errors, exit status), the
engine's state, and the shell's process ID read inside the container.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from labtools import one_node_lab, wait_until

from hadrill.clients.docker import engine
from hadrill.clients.targets import Target

pytestmark = [pytest.mark.lab]


@pytest.fixture(scope="module")
def node(module_lab_factory: Any, state_dir: Path) -> str:
    return one_node_lab(module_lab_factory, "sess")


def _cli(name: str, command: str) -> tuple[int, str, str]:
    """The docker CLI's exec of ``command`` (the oracle: no hadrill code in the way)."""
    done = subprocess.run(["docker", "exec", name, "sh", "-c", command], capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    "command",
    [
        "true",
        "echo out; echo err >&2; exit 3",
        "printf 'no newline'",
        "for i in 1 2 3; do\n  echo line $i\ndone",
        "head -c 200000 /dev/zero | tr '\\0' x",
        "cat; echo read $?",  # standard input is empty, as with an exec without one
        'echo "quotes \' and \\" and $((6 * 7))"',
    ],
)
def test_a_command_answers_as_docker_exec_does(node: str, command: str) -> None:
    res = Target(f"docker://{node}").run(command, timeout=10)
    assert (res.rc, res.stdout, res.stderr) == _cli(node, command)


def test_the_shell_is_kept_between_commands(node: str) -> None:
    """The parent of ``timeout`` (which runs each command) is the same shell for two commands in a row."""
    t = Target(f"docker://{node}")
    ask = "ps -o ppid= -p $(ps -o ppid= -p $$)"  # the command's sh -> timeout -> the kept shell
    first, second = t.check(ask).strip(), t.check(ask).strip()
    assert first.isdigit() and first == second


def test_a_command_over_its_time_is_killed_and_the_next_one_answers(node: str) -> None:
    t = Target(f"docker://{node}")
    started = time.monotonic()
    res = t.run("sleep 30", timeout=1)
    assert res.rc == 124 and time.monotonic() - started < 5, res
    assert t.check("echo after") == "after\n"


def test_commands_from_many_threads_each_get_their_own_answer(node: str) -> None:
    t = Target(f"docker://{node}")
    wrong: list[str] = []

    def ask(i: int) -> None:
        for j in range(15):
            token = f"{i}-{j}"
            res = t.run(f"echo {token}; echo {token} >&2; exit {j % 4}", timeout=10)
            if (res.rc, res.stdout, res.stderr) != (j % 4, f"{token}\n", f"{token}\n"):
                wrong.append(f"{token}: {res}")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not wrong, wrong[:5]


def test_paused_restarted_and_stopped_containers_answer_as_the_engine_does(node: str) -> None:
    t = Target(f"docker://{node}")
    t.check("true")  # a kept shell exists
    c = engine().containers.get(node)
    c.pause()
    try:
        started = time.monotonic()
        res = t.run("echo x", timeout=10)
        assert res.rc == 1 and "is paused" in res.stderr and time.monotonic() - started < 2, res
    finally:
        c.unpause()
    assert t.check("echo unpaused") == "unpaused\n"
    c.restart(timeout=0)
    assert t.check("echo restarted") == "restarted\n"  # a new shell: the old one died with the container
    c.kill()
    try:
        res = t.run("echo x", timeout=10)
        assert res.rc == 1 and "is not running" in res.stderr, res
    finally:
        c.start()
    wait_until("the node answers", lambda: None if t.run("true").ok else "not yet", timeout=30)


def test_a_container_killed_under_a_command_ends_it_at_once(node: str) -> None:
    t = Target(f"docker://{node}")
    t.check("true")
    c = engine().containers.get(node)
    threading.Timer(0.5, c.kill).start()
    started = time.monotonic()
    try:
        res = t.run("sleep 20", timeout=30)
        assert not res.ok and time.monotonic() - started < 10, res
    finally:

        def exited() -> str | None:  # the engine's kill is asynchronous: its state is the oracle
            c.reload()
            return None if c.status == "exited" else c.status

        wait_until("the node stopped", exited, timeout=30)
        c.start()
    wait_until("the node answers", lambda: None if t.run("true").ok else "not yet", timeout=30)
