"""The progress, workspace, watcher and export modules are UI-side: they never load torch or Textual."""

from __future__ import annotations

import json
import subprocess
import sys

MODULES = [
    "llm_tutor.engine.learner.store",
    "llm_tutor.engine.learner.drafts",
    "llm_tutor.engine.learner.workspace",
    "llm_tutor.engine.learner.watch",
    "llm_tutor.engine.course.export",
    "llm_tutor.engine.cli.progress",
    "llm_tutor.engine.cli.grade",
    "llm_tutor.engine.cli.export",
]


def test_ui_side_modules_load_neither_torch_nor_textual() -> None:
    code = "\n".join(f"import {m}" for m in MODULES)
    code += "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    assert set(MODULES) <= loaded
    assert not {m for m in loaded if m.split(".")[0] in ("torch", "textual", "rich", "nbformat")}
    assert not {m for m in loaded if m.startswith("llm_tutor.tui")}
