"""The three rooms: engine never imports Textual; torch loads only in the kernel's and trainer's child code."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]



def _torch_contract() -> dict[str, object]:
    """The import-linter contract that keeps torch in the child code (pyproject.toml)."""
    api = pytest.importorskip("importlinter.api")
    contracts = api.read_configuration(str(ROOT / "pyproject.toml"))["contracts_options"]
    return next(c for c in contracts if c.get("protected_modules") == ["torch"])


def _torch_free_engine_modules() -> list[str]:
    """Every engine module the contract keeps torch out of: all but the allowed importers' packages."""
    import llm_tutor.engine

    allowed = tuple(str(m) for m in _torch_contract()["allowed_importers"])  # type: ignore[attr-defined]
    names = ["llm_tutor.engine"]
    for info in pkgutil.walk_packages(llm_tutor.engine.__path__, "llm_tutor.engine."):
        if not any(info.name == a or info.name.startswith(a + ".") for a in allowed):
            names.append(info.name)
    return names


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    import json

    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_the_torch_contract_names_the_child_packages() -> None:
    contract = _torch_contract()
    assert contract["type"] == "protected"
    assert contract["allowed_importers"] == ["llm_tutor.engine.kernel.child", "llm_tutor.engine.train.child"]


def test_importing_every_engine_module_outside_the_child_code_loads_neither_textual_nor_torch() -> None:
    modules = _torch_free_engine_modules()
    assert "llm_tutor.engine.cli.train" in modules and "llm_tutor.engine.kernel.protocol" in modules
    assert not any(".child" in m for m in modules)
    mods = _modules_after("\n".join(f"import {m}" for m in modules))
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
