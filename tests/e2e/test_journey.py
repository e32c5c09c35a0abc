"""End to end: a learner's whole path through the real `llm-tutor` in tmux, in both languages, at 80×24 and 120×40.

Every screen on the way is checked: no traceback, the app still running, help and quit in the footer (modal
screens aside), and in Turkish none of the UI's English words. The full walk runs in English at 80×24 and in
Turkish at 120×40; the other two pairs get a lighter pass over every kind of screen (the list, a lesson, help,
the lab's four tabs).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from llm_tutor.tui.i18n import t
from tests.conftest import ROOT, llm_tutor_cmd
from tests.e2e.test_tmux import Tmux, pytestmark  # noqa: F401  (same markers: e2e, slow, needs tmux)
from tests.english_ui import find_english

JOURNEY_LESSON = '''---
id: journey
title: {title}
order: 99
---

{prose}

```python cell id=make
import torch

t = torch.tensor([[1, 2], [3, 4]])  # (2, 2)
t
```

```python predict id=shape
(t.T @ t).shape
```

{explains}

```python cell id=spin
import time

for _ in range(1200):
    time.sleep(0.05)
```

```python exercise id=ones title="{exercise}"
# your code here
```

```python solution for=ones
x = torch.ones(2, 3)  # (2, 3)
```

```python check for=ones
expect.close(x, torch.ones(2, 3))
```

```hint for=ones
torch.ones
```

```hint for=ones
torch.ones(2, 3)
```
'''
WORDS = {
    "en": {"title": "The journey", "prose": "A tensor, a question, a loop and an exercise.",
           "explains": "Two (2, 2) matrices give a (2, 2) product.", "exercise": "Ones"},
    "tr": {"title": "Yolculuk", "prose": "Bir tensör, bir soru, bir döngü ve bir alıştırma.",
           "explains": "İki (2, 2) matrisin çarpımı (2, 2) olur.", "exercise": "Birler"},
}


def course(tmp_path: Path) -> Path:
    """The bundled course in both languages, plus a short lesson holding one of each block."""
    root = tmp_path / "course"
    for lang in ("en", "tr"):
        (root / lang).mkdir(parents=True)
        for path in sorted((ROOT / "lessons" / lang).glob("*.md")):
            shutil.copy(path, root / lang / path.name)
        (root / lang / "99-journey.md").write_text(JOURNEY_LESSON.format(**WORDS[lang]), encoding="utf-8")
    return root


class Learner:
    """The app in tmux, and the checks every screen must pass."""

    def __init__(self, tmp_path: Path, lang: str, size: tuple[int, int]) -> None:
        self.tmp_path, self.lang, self.size = tmp_path, lang, size
        self.root = course(tmp_path) if not (tmp_path / "course").exists() else tmp_path / "course"
        self.lessons = len(list((self.root / lang).glob("*.md")))
        self.session = self.start()
        self.screens = 0

    def start(self) -> Tmux:
        env = {"LLM_TUTOR_DATA_DIR": str(self.tmp_path / "data"), "TERM": "xterm-256color", "LLM_TUTOR_LANG": self.lang,
               "LLM_TUTOR_LAB_THREADS": "1", "TEXTUAL_LOG": str(self.tmp_path / "textual.log")}
        command = [*llm_tutor_cmd(), "--lessons", str(self.root), "--device", "cpu"]
        return Tmux(command, width=self.size[0], height=self.size[1], env=env)

    def t(self, name: str, **kwargs: object) -> str:
        return t(self.lang, name, **kwargs)

    def see(self, text: str, timeout: float = 60.0, modal: bool = False) -> str:
        """Wait for `text`, then check the screen as a learner would see it."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.session.screen()
            self.check(screen, modal=True)  # a traceback or an exit fails at once, not after the timeout
            if text in " ".join(screen.split()) or text in screen:
                return self.settled(screen, modal)
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear within {timeout} s ({self.lang}, {self.size}):\n{screen}"
                             f"\n{self.trail()}")

    def trail(self, last: int = 40) -> str:
        """The app's last keys and focus changes, from Textual's own log (`TEXTUAL_LOG`): where each key went."""
        try:
            lines = (self.tmp_path / "textual.log").read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            return f"(no Textual log: {exc})"
        kept: list[str] = []
        for line in lines:
            if line.startswith("Key(") and kept and kept[-1].split(">>>")[0] == line.split(">>>")[0]:
                continue  # the same key bubbling up: its first receiver is the focused widget
            if line.startswith("Key(") or line.endswith(" was focused") or line.startswith(("Screen", "Notify(")):
                kept.append(line[:200])
        return "the app's last keys (→ the widget that had focus) and focus changes:\n" + "\n".join(kept[-last:])

    def settled(self, screen: str, modal: bool) -> str:
        """The full check, once the screen just drawn has its footer (a new screen paints in a few frames)."""
        deadline = time.monotonic() + 3
        while True:
            try:
                self.check(screen, modal=modal)
                return screen
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
            screen = self.session.screen()

    def check(self, screen: str, modal: bool = False) -> None:
        assert self.session.alive(), f"the app exited ({self.lang}, {self.size})"
        assert "Traceback" not in screen and "Error:" not in screen.split("\n")[-3:][0], screen
        self.screens += 1
        if not modal:
            footer = " ".join([line for line in screen.splitlines() if line.strip()][-1].split())
            # in a text box ? and q are typed: there F1 and ctrl+q are the keys
            helps = (f"? {self.t('help')}", f"f1 {self.t('help')}")
            quits = (f"q {self.t('quit')}", f"^q {self.t('quit')}")
            assert any(k in footer for k in helps) and any(k in footer for k in quits), f"footer: {footer!r}\n{screen}"
        if self.lang == "tr":
            found = find_english(screen)
            assert not found, f"English on a Turkish screen: {found}\n{screen}"

    def keys(self, *keys: str) -> None:
        """Send keys. An Escape goes alone, and the next key waits until the screen shows the Escape was read
        (up to 5 s): Escape and a key read at once are one alt+key."""
        batch: list[str] = []
        for key in keys:
            if key != "Escape":
                batch.append(key)
                continue
            if batch:
                self.session.keys(*batch)
                batch = []
            before = self.session.screen()
            self.session.keys("Escape")
            deadline = time.monotonic() + 5
            while self.session.screen() == before and time.monotonic() < deadline:
                time.sleep(0.05)
        if batch:
            self.session.keys(*batch)

    def type(self, text: str) -> None:
        self.session.keys("-l", text)

    def help(self) -> None:
        def help_open() -> bool:  # the keys table's header row: "key ┃ action"
            return any(self.t("help_key") in line and self.t("help_action") in line and "┃" in line
                       for line in self.session.screen().splitlines())

        self.keys("?")
        self.see(self.t("help_title"), modal=True)
        assert help_open(), self.session.screen()
        self.keys("Escape")
        deadline = time.monotonic() + 30
        while help_open():
            assert time.monotonic() < deadline, f"the help did not close on Escape ({self.lang}, {self.size})"
            time.sleep(0.1)

    def leave_editor(self) -> None:
        """Escape out of an exercise's editor, until the footer shows the lesson's keys again (? for help)."""
        self.keys("Escape")
        self.see(f"? {self.t('help')}")

    def quit(self) -> None:
        self.keys("q")
        deadline = time.monotonic() + 15
        while self.session.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not self.session.alive(), "llm-tutor did not exit on q"

    # -- parts of the path ------------------------------------------------------------------------

    def every_lesson(self, with_help: bool = False, count: int | None = None) -> None:
        """From the top of the list, open each lesson (or the first `count`) and come back."""
        self.keys(*["k"] * self.lessons)
        for i in range(self.lessons if count is None else count):
            self.keys("Enter")
            self.in_lesson()
            if with_help and i == 0:
                self.help()
            self.back_to_list()
            self.keys("j")

    def in_lesson(self, timeout: float = 30.0) -> str:
        """Wait until a lesson replaced the list (its status line, and not the list's overall count)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.session.screen()
            self.check(screen, modal=True)
            if f"{self.t('kernel')}:" in screen and f"{self.t('overall')}:" not in screen:
                return self.settled(screen, modal=False)
            time.sleep(0.1)
        raise AssertionError(f"no lesson opened:\n{self.session.screen()}\n{self.trail()}")

    def back_to_list(self) -> None:
        """Escape until the list shows (a lesson without cells starts in its side panel: Escape leaves that first)."""
        for _ in range(3):
            self.keys("Escape")
            try:
                self.see(self.t("overall"), timeout=2)
                return
            except AssertionError:
                continue
        self.see(self.t("overall"), timeout=5)

    def lab(self, full: bool) -> None:
        """The lab from the list: every model's screen; with `full`, train, step, change lr, save, load and
        switch the model in the settings form."""
        self.keys("t")
        self.see(f"{self.t('lab_title')} · gpt")
        self.see(self.t("state_paused"), timeout=120)
        for tab, label in zip("1234", ("live_section", "total", "grads_empty", "card_title")):
            self.keys(tab)
            self.see(" ".join(self.t(label).split()[:2]))
        if not full:
            self.help()
            self.back_to_list()
            return
        self.keys("1", "n")
        self.see(f"{self.t('step')} 1")
        self.keys("Space")
        self.see(self.t("state_running"), timeout=30)
        self.keys("Space")
        self.see(self.t("state_paused"))
        self.keys("]")
        self.see(f"{self.t('lr')} 0.006")
        self.keys("C-s")
        self.see(self.t("saved", step="", path="").split()[0])
        self.keys("C-o")
        self.see(self.t("loaded", step="", path="").split()[0])
        for model in ("neuron", "mlp"):  # the choice lists neuron, mlp, gpt
            self.keys("Tab", "Tab")  # the chart, the tabs' bar, then the model choice
            self.keys("Enter")
            self.see("▲", modal=True)  # the choice is open
            self.keys("Down", "Enter")
            self.see(f"{self.t('lab_title')} · {model}")
            self.see(self.t("state_paused"), timeout=120)
            self.keys("n")
            self.see(f"{self.t('step')} 1")
        self.help()
        self.back_to_list()

    def journey_lesson(self) -> None:
        """Run all (and interrupt the loop), answer the question, fail, take every hint, solve and reset the
        exercise, inspect a variable, its gradient and graph, and restart the kernel."""
        self.keys("Enter")
        # the lesson, not the list: the list shows the lesson's title and the kernel's state too
        assert WORDS[self.lang]["title"] in self.in_lesson()
        self.see(f"{self.t('kernel')}: {self.t('idle')}", timeout=120)
        self.keys("a")
        self.see(f"spin ● {self.t('running')}", timeout=60)  # the loop, not the first cell (it runs for a moment)
        self.keys("i")
        self.see("spin  ■", timeout=30)
        # j to the question and the answer typed on it, in one write: the answer goes into the question's box
        # (typed ahead of the move, it went to the cell j left)
        self.type("j(3, 3)")
        self.see(f"^q {self.t('quit')}")  # the box has the keys now
        self.keys("Enter")
        self.see(self.t("predict_retry").split(":")[0], timeout=30)
        self.keys(*["BSpace"] * 6)
        self.see(self.t("predict_prompt").split(" (")[0])  # the box is empty again: its placeholder shows
        self.type("(2, 2)")
        time.sleep(0.3)
        self.keys("Enter")
        self.see(self.t("predict_right"), timeout=30)
        self.see(WORDS[self.lang]["explains"])
        self.keys("j", "j", "e")  # the loop, the exercise, into its editor
        self.see(self.t("leave_editor"))
        self.type("x = torch.ones(2, 3) * 2")
        self.keys("Enter")
        self.leave_editor()
        self.keys("c")
        self.see(self.t("diag_factor", factor=2), timeout=60)
        self.keys("h", "h")
        self.see(self.t("hint_n", n=2, total=2))
        self.keys("e")
        self.see(self.t("leave_editor"))
        self.keys("Up", "Home", "C-k")
        self.type("x = torch.ones(2, 3)")
        self.leave_editor()
        self.keys("c")
        self.see(self.t("passed"), timeout=60)
        self.keys("x")
        self.see(self.t("reset_title"), modal=True)
        self.keys("x")
        self.see(self.t("starter_reset"))
        self.keys("v")  # the variables, a tensor, its gradient, its graph
        self.see(self.t("col_shape"))
        self.keys("Enter")
        self.see(self.t("inspect_tensor"))
        self.keys("d")
        self.see(self.t("inspect_grad"))
        self.keys("g")
        self.see(self.t("inspect_graph"))
        self.keys("Escape")
        self.help()
        self.keys("K")
        self.see(f"{self.t('kernel')}: {self.t('idle')}", timeout=120)
        self.back_to_list()

    def triangulation(self) -> None:
        """The autograd lesson, run to its gradient check: the panel opens on it."""
        self.keys(*["k"] * self.lessons, *["j"] * 5)
        self.keys("Enter")
        self.in_lesson()
        self.see(f"{self.t('kernel')}: {self.t('idle')}", timeout=120)
        self.keys("a")
        self.see(self.t("insp_all_agree"), timeout=120)
        self.back_to_list()


@pytest.mark.parametrize(("lang", "size"), [("en", (80, 24)), ("tr", (120, 40))])
def test_the_whole_path(tmp_path: Path, lang: str, size: tuple[int, int]) -> None:
    learner = Learner(tmp_path, lang, size)
    try:
        learner.see(learner.t("overall"))
        learner.help()
        learner.every_lesson()
        learner.journey_lesson()
        learner.triangulation()
        learner.lab(full=True)
        learner.quit()
        learner.session = learner.start()  # reopen: the list, then the lesson left last
        learner.see(learner.t("resumed", lesson="").split(":")[0])
        learner.quit()
    finally:
        learner.session.close()


@pytest.mark.parametrize(("lang", "size"), [("en", (120, 40)), ("tr", (80, 24))])
def test_every_screen(tmp_path: Path, lang: str, size: tuple[int, int]) -> None:
    learner = Learner(tmp_path, lang, size)
    try:
        learner.see(learner.t("overall"))
        learner.help()
        learner.every_lesson(with_help=True, count=2)  # the full walks open every lesson
        learner.lab(full=False)
        learner.quit()
    finally:
        learner.session.close()
