"""Untrusted code met headless: `grade` and `check` run it confined (lessons read, a scratch folder written),
`--no-sandbox` turns that off; `serve ssh` refuses keys a session could write and, with --require-sandbox,
a machine that lacks a protection."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from llm_tutor.engine.sandbox import landlock
from llm_tutor.engine.sandbox.probe import probe
from tests.conftest import FIXTURES, llm_tutor_cmd
from tests.e2e.sshlab import make_key
from tests.faults.conftest import cells, write_lesson

pytestmark = pytest.mark.slow
needs_landlock = pytest.mark.skipif(landlock.abi_version()[0] < 1, reason=landlock.abi_version()[1] or "no Landlock")

ESCAPE = """x = None
from pathlib import Path
Path({target!r}).write_text("written by graded code")
"""


def grade(tmp_path: Path, solution: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*llm_tutor_cmd(), "grade", "example", "ones", "--file", str(solution), "--lessons",
                           str(FIXTURES / "good"), "--data-dir", str(tmp_path / "data"), "--device", "cpu", *extra],
                          capture_output=True, text=True, timeout=180)


@needs_landlock
def test_grade_runs_the_file_confined_and_no_sandbox_turns_it_off(tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    solution = tmp_path / "solution.py"
    solution.write_text(ESCAPE.format(target=str(target)))
    confined = grade(tmp_path, solution)
    assert confined.returncode == 1 and not target.exists(), confined.stdout + confined.stderr
    assert "PermissionError" in confined.stdout and "refused by the sandbox (Landlock)" in confined.stdout
    unconfined = grade(tmp_path, solution, "--no-sandbox")
    assert target.read_text() == "written by graded code", unconfined.stdout + unconfined.stderr


@needs_landlock
def test_check_runs_cells_confined(tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    folder = tmp_path / "lessons"
    write_lesson(folder, cells(escape=f"open({str(target)!r}, 'w').write('x')", scratch="import tempfile\n"
                               "with tempfile.NamedTemporaryFile() as fh:\n    fh.write(b'scratch is writable')"))
    proc = subprocess.run([*llm_tutor_cmd(), "check", str(folder), "--device", "cpu"], capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 1 and not target.exists(), proc.stdout + proc.stderr
    # the escape is refused; the cell that writes a temporary file (the scratch folder) passes
    assert "cell 'escape' raised PermissionError: [Errno 13] Permission denied" in proc.stdout
    assert "2 checks, 1 lessons failing" in proc.stdout and "cell 'scratch'" not in proc.stdout


def serve(tmp_path: Path, keys: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*llm_tutor_cmd(), "serve", "ssh", "--port", "0", "--authorized-keys", str(keys),
                             "--data-root", str(tmp_path / "lab"), "--no-kernel-pool", "--no-app-pool", "--allow-root", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def keys_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    make_key(folder.parent / "alice")
    (folder / "alice.pub").write_bytes((folder.parent / "alice.pub").read_bytes())
    return folder


@needs_landlock
def test_serve_ssh_refuses_keys_a_session_could_write(tmp_path: Path) -> None:
    keys = keys_folder(tmp_path / "lab" / "users" / "alice" / "keys")
    proc = serve(tmp_path, keys)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "the keys folder can be written from a session" in out and "Traceback" not in out


def test_serve_ssh_require_sandbox_starts_only_with_every_protection(tmp_path: Path) -> None:
    keys = keys_folder(tmp_path / "keys")
    missing = [p for p in probe().protections if p.state == "unavailable"]
    proc = serve(tmp_path, keys, "--require-sandbox")
    try:
        if missing:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 2 and "--require-sandbox" in out and missing[0].name in out, out
            return
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("listening on" in line for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        text = "".join(lines)
        assert "listening on" in text, text
        assert text.count(" on ") >= len(probe().protections) and "unavailable" not in text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
