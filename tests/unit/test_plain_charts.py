"""Charts in plain output, through the real commands: `train --headless`, `run --plain`, `progress`."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import sqlite3
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from llm_tutor.engine.cli import train as train_command
from llm_tutor.engine.cli.main import build_parser
from llm_tutor.engine.learner.paths import DB_NAME
from llm_tutor.engine.learner.schema import migrate
from llm_tutor.engine.learner.store import ProgressStore
from tests.conftest import FIXTURES, llm_tutor_cmd

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BRAILLE = re.compile("[\u2800-\u28ff]")


def on_a_tty(argv: list[str], env: dict[str, str | None]) -> str:
    """Run `llm-tutor ARGV` with a pseudo-terminal as stdout (`env` on top of ours; None unsets a name);
    its output as text (CR LF made LF)."""
    merged = {**os.environ, **env}
    master, slave = pty.openpty()
    proc = subprocess.Popen([*llm_tutor_cmd(), *argv], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env={k: v for k, v in merged.items() if v is not None})
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0, out.decode(errors="replace")
    return out.decode(errors="replace").replace("\r\n", "\n")


def train_text(*argv: str) -> str:
    """`train ... --headless` in-process, stdout a pipe (not a terminal)."""
    out = io.StringIO()
    args = build_parser(["train"]).parse_args(["train", *argv, "--headless", "--report-interval", "1e9"])
    assert train_command.run(args, out=out) == 0
    return out.getvalue()


def chart_part(text: str) -> str:
    """What follows the final line ("finished at step ...")."""
    return text.split("\n\n", 1)[1] if "\n\n" in text else ""


class TestTrain:
    def test_colour_and_braille_on_a_terminal_without_no_color(self) -> None:
        out = on_a_tty(["train", "neuron", "--headless"], {"COLUMNS": "70", "LINES": "30", "TERM": "xterm",
                                                            "NO_COLOR": None})
        chart = chart_part(out)
        assert "\x1b[" in chart and BRAILLE.search(chart) and "neuron: loss" in chart
        lines = ANSI.sub("", chart).splitlines()
        assert max(len(line) for line in lines) == 70 and "⣿ train loss" in lines[-1]

    def test_no_color_gives_plain_ascii_on_a_terminal_and_no_plot_leaves_it_out(self) -> None:
        out = on_a_tty(["train", "neuron", "--headless", "--log-scale"],
                       {"COLUMNS": "50", "LINES": "24", "NO_COLOR": "1", "TERM": "xterm"})
        chart = chart_part(out)
        assert chart and all(ch.isascii() for ch in chart) and "\x1b[" not in chart
        assert max(len(line) for line in chart.splitlines()) == 50 and "(log scale)" in chart
        out = on_a_tty(["train", "neuron", "--headless", "--no-plot"], {"TERM": "xterm"})
        assert out.rstrip().splitlines()[-1].startswith("finished at step 100:") and not chart_part(out)

    def test_no_chart_when_stdout_is_not_a_terminal_unless_plot(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("NO_COLOR", raising=False)
        monkeypatch.setenv("TERM", "xterm-256color")
        assert chart_part(train_text("neuron")) == ""
        chart = chart_part(train_text("neuron", "--plot"))
        assert chart and "\x1b[" not in chart  # a log file gets no colour codes

    def test_the_neuron_chart_at_60_by_12(self, monkeypatch: pytest.MonkeyPatch, snapshot: Any) -> None:
        """The plain output's chart: the neuron's 100 seeded steps, ASCII (TERM=dumb), 60 columns, 12 rows."""
        monkeypatch.setenv("COLUMNS", "60")
        monkeypatch.setenv("LINES", "24")
        monkeypatch.setenv("TERM", "dumb")
        text = train_text("neuron", "--plot")
        assert chart_part(text) == snapshot


def test_run_plain_charts_a_track_curve_after_the_cells_output(tmp_path: Path) -> None:
    lesson = tmp_path / "00-track.md"
    lesson.write_text(textwrap.dedent("""\
        ---
        id: tracked
        title: Tracked
        order: 0
        ---

        ```python cell id=loop
        for step in range(200):
            track(step=step, loss=1.0 / (step + 1), val_loss=2.0 / (step + 1))
        print("done")
        ```
        """))
    proc = subprocess.run([*llm_tutor_cmd(), "run", "tracked", "--lessons", str(tmp_path), "--plain", "--no-panels"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "64", "LINES": "24"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.index("done") < out.index("── track() ") < out.index("* loss  o val_loss")
    chart = out[out.index("── track() "):].split("\n", 1)[1]
    assert all(ch.isascii() for ch in chart) and max(len(line) for line in chart.splitlines()) == 64
    proc = subprocess.run([*llm_tutor_cmd(), "run", "tracked", "--lessons", str(tmp_path), "--plain", "--no-plot"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "track()" not in proc.stdout


class TestProgress:
    def cli(self, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*llm_tutor_cmd(), "progress", "--lessons", str(FIXTURES / "progress"), "--data-dir", str(data), *args],
            capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "60"},
        )

    def test_attempts_per_lesson_as_bars(self, tmp_path: Path) -> None:
        with ProgressStore.open(tmp_path) as store:
            for passed in (False, False, True):
                store.record_attempt("sums", "total", passed=passed, code="")
            store.record_attempt("means", "mean", passed=False, code="")
        plain = self.cli(tmp_path)
        assert plain.returncode == 0 and "attempts per day" not in plain.stdout  # piped: no chart unless --plot
        proc = self.cli(tmp_path, "--plot")
        assert proc.returncode == 0, proc.stderr
        chart = proc.stdout.split("\n\n", 1)[1]
        assert "attempts per day" in chart and chart.rstrip().splitlines()[-1] == "# sums  = means"
        assert all(ch.isascii() for ch in chart) and max(len(line) for line in chart.splitlines()) <= 60
        bottom, top = chart.splitlines()[-4], chart.splitlines()[3]
        assert bottom.rstrip().endswith("#|") and top.rstrip().endswith("=|")  # today: sums below, means on top

    def test_the_chart_over_weeks_at_a_fixed_date(self, snapshot: Any) -> None:
        """Attempts over 41 days at 40 columns: too many days (and weeks) for the width, so one bar per 9 days."""
        from llm_tutor.engine.cli.charts import ChartStyle
        from llm_tutor.engine.cli.progress import attempts_chart

        now = time.mktime((2026, 12, 7, 12, 0, 0, 0, 0, -1))
        log = [("sums", now - d * 86400, 1 + d % 3) for d in (40, 33, 20, 19, 5)] + [("means", now - 86400, 2)]
        assert attempts_chart(log, ["sums", "means"], now=now, style=ChartStyle(40, 10, ascii=True)) == snapshot


def test_the_attempt_log_is_kept_reset_and_filled_from_older_databases(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        store.record_attempt("sums", "total", passed=False, code="")
        store.record_attempt("sums", "total", passed=True, code="")
        store.record_attempt("means", "mean", passed=False, code="")
        log = store.attempt_log()
        assert [(lesson, n) for lesson, _, n in log] == [("sums", 1), ("sums", 1), ("means", 1)]
        assert log[0][1] <= log[1][1] <= log[2][1] <= time.time()
        store.reset("sums", "total")
        assert [entry[0] for entry in store.attempt_log()] == ["means"]
        store.reset("means")
        assert store.attempt_log() == []
    old = tmp_path / "old"
    old.mkdir()
    conn = sqlite3.connect(old / DB_NAME, isolation_level=None)
    migrate(conn, target=2)  # a database from before the log
    conn.execute("INSERT INTO exercise (lesson_id, exercise_id, status, attempts, last_attempt_at) "
                 "VALUES ('sums', 'total', 'solved', 3, 1000.0), ('means', 'mean', 'not_started', 0, NULL)")
    conn.close()
    with ProgressStore.open(old) as store:
        assert store.attempt_log() == [("sums", 1000.0, 3)]
