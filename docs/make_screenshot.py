"""Make docs/screenshot.svg with the app itself: the tensors lesson with its first cells run.

Run: .venv/bin/python docs/make_screenshot.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from llm_tutor.tui.app import make_app

OUT = Path(__file__).resolve().parent / "screenshot.svg"


async def main() -> None:
    app = make_app(lesson="tensors", device="cpu", lang="en")
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(600):
            await pilot.pause(0.1)
            if app.kernel.state == "idle":
                break
        for _ in range(3):
            await pilot.press("r")
            for _ in range(100):
                await pilot.pause(0.05)
                if app.kernel.state == "idle":
                    break
        first = app.screen.blocks()[0]
        first.focus(scroll_visible=False)
        app.screen.query_one("#content").scroll_to_widget(first, animate=False, top=True)
        await pilot.pause(0.5)
        app.save_screenshot(str(OUT.name), path=str(OUT.parent))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
