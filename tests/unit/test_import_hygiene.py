"""The three rooms: engine never imports Textual; the UI process never imports torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ENGINE_UI_SIDE = [
    "llm_tutor.engine",
    "llm_tutor.engine.course.lesson",
    "llm_tutor.engine.course.catalog",
    "llm_tutor.engine.kernel.protocol",
    "llm_tutor.engine.kernel",
    "llm_tutor.engine.course.checker",
    "llm_tutor.engine.settings",
    "llm_tutor.engine.course.predict",
]


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    import json

    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_engine_never_imports_textual_or_torch() -> None:
    mods = _modules_after("\n".join(f"import {m}" for m in ENGINE_UI_SIDE))
    assert not any(m == "textual" or m.startswith("textual.") for m in mods)
    assert not any(m.startswith("llm_tutor.tui") for m in mods)
    assert "torch" not in mods


def test_ui_process_never_imports_torch_after_the_app_starts(fixtures: Path) -> None:
    code = (
        "import asyncio\n"
        "from llm_tutor.tui.app import make_app\n"
        "async def main():\n"
        f"    app = make_app(lessons_dir=__import__('pathlib').Path({str(fixtures / 'good')!r}), device='cpu')\n"
        "    async with app.run_test(size=(100, 30)) as pilot:\n"
        "        await pilot.press('enter')\n"
        "        for _ in range(300):\n"
        "            await pilot.pause(0.1)\n"
        "            if app.kernel.state == 'idle':\n"
        "                break\n"
        "        assert app.kernel.state == 'idle'\n"
        "        await pilot.press('r')\n"
        "        for _ in range(100):\n"
        "            await pilot.pause(0.05)\n"
        "            if app.screen.query_one('#cell-make').state == 'ok':\n"
        "                break\n"
        "        assert app.screen.query_one('#cell-make').state == 'ok'\n"
        "asyncio.run(main())\n"
    )
    mods = _modules_after(code)
    assert "textual" in mods
    assert "torch" not in mods and not any(m.startswith("torch.") for m in mods)


def test_no_bare_top_level_packages_are_installed() -> None:
    import importlib.util

    for bare in ("tui", "engine", "lessons"):
        spec = importlib.util.find_spec(bare)
        assert spec is None or str(ROOT) in str(spec.origin or spec.submodule_search_locations), bare


@pytest.mark.skipif(shutil.which("lint-imports") is None and not (Path(sys.executable).parent / "lint-imports").exists(),
                    reason="import-linter is not installed")
def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([exe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "KEPT" in proc.stdout and "BROKEN" not in proc.stdout
