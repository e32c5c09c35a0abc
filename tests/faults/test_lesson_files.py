"""Malformed lesson files, generated: the parser raises nothing but `LessonError` naming the file and a line,
`llm-tutor check` exits 2 with one line, the app shows the error in place of the lesson, and lesson paths
and ids never reach outside the lessons folder."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_tutor.engine.course.catalog import BrokenLesson, find_lesson, load_course
from llm_tutor.engine.course.lesson import Lesson, LessonError, parse_file, parse_text
from llm_tutor.tui.app import make_app
from llm_tutor.tui.screens.lesson import LessonScreen
from llm_tutor.tui.screens.lesson_error import LessonErrorScreen
from tests.conftest import llm_tutor_cmd
from tests.faults.conftest import write_lesson

PATH = Path("lessons/en/07-generated.md")
FRONT_KEYS = ["id", "title", "order", "prerequisites", "lang", "summary", "format", "minutes", "bogus", "ID", ""]
YAML_VALUES = [
    "tensors", "'quoted'", '"dq \\n esc"', "1", "-3", "0x1F", "1e400", ".nan", ".inf", "9" * 5000, "true", "null", "~",
    "[a, b]", "[", "{a: 1}", "{", "&anchor x", "*anchor", "!!python/object:os.system x", "!!binary aGk=", "|\n  block",
    ">-\n  folded", "- item", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "\t tab", "é ü ğ ş", "\x00", "\x1b[31m", ":", "#",
    "'" * 3, "a: b: c", "? complex", "!!set {a, b}", "2024-01-01", "{a: [1, {b: [2, {c: 3}]}]}",
]
KINDS = ["cell", "exercise", "solution", "check", "predict", "show", "hint", "output", "", "Cell", "cell\u00a0"]
LANGS = ["python", "py", "python3", "hint", "text", "", "Python", "pytho", "{.python}", "~~~"]
ATTRS = [
    "id=a", "id=b", "id=A", "id=-x", "id=", "id='a b'", 'id="unclosed', "for=a", "for=b", "for=zz", "raises=ValueError",
    "raises=1bad", "timeout=x", "timeout=1e9", "timeout=-1", "answer=3", "title=Hi", "starter-passes", "starter-passes=no",
    "unknown=1", "=", "==", "id=a id=a", "id=../../etc", "id=a/b", "for=../x", "\\", "'", "é=ü",
]
FENCES = ["```", "~~~", "````", "``", "```` ", "   ```", "\t```"]
CODE = ["x = 1", "while True: pass", "", "```", "~~~", "expect.equal(x, 1)", "    indented", "\x00", "é" * 50, "1/0"]


@st.composite
def front_matter(draw: st.DrawFn) -> str:
    lines = [f"{draw(st.sampled_from(FRONT_KEYS))}: {draw(st.sampled_from(YAML_VALUES))}" for _ in range(draw(st.integers(0, 6)))]
    if draw(st.booleans()):
        lines = ["id: generated", "title: Generated", "order: 1", *lines]
    opener = draw(st.sampled_from(["---", "---", "--- ", "----", "", "\ufeff---", "+++"]))
    closer = draw(st.sampled_from(["---", "---", "...", "", "--- #"]))
    return "\n".join([opener, *lines, closer])


@st.composite
def block(draw: st.DrawFn) -> str:
    fence = draw(st.sampled_from(FENCES))
    info = " ".join(
        [draw(st.sampled_from(LANGS)), draw(st.sampled_from(KINDS)), *draw(st.lists(st.sampled_from(ATTRS), max_size=3))]
    )
    body = "\n".join(draw(st.lists(st.sampled_from(CODE), max_size=3)))
    closing = draw(st.sampled_from([fence, fence, "", "```", "~~~~", fence + " trailing"]))
    return f"{fence}{info}\n{body}\n{closing}"


@st.composite
def lesson_text(draw: st.DrawFn) -> str:
    parts = [draw(front_matter())]
    for _ in range(draw(st.integers(0, 6))):
        parts.append(draw(st.one_of(block(), st.sampled_from(["prose", "# Title", "> quote", "- list", "", "<div>", "$$x$$"]))))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join(parts)


def assert_clean_error(error: LessonError, text: str) -> None:
    assert error.path == PATH
    assert 1 <= error.line <= text.count("\n") + text.count("\r") + 2, (error.line, str(error))
    message = str(error)
    assert message.startswith(f"{PATH}:{error.line}: ")
    assert "\n" not in message and "\r" not in message and len(message) < 1000, message[:300]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lesson_text())
def test_generated_lessons_parse_or_fail_with_file_and_line(text: str) -> None:
    try:
        lesson = parse_text(text, path=PATH)
    except LessonError as error:
        assert_clean_error(error, text)
    else:
        assert isinstance(lesson, Lesson) and lesson.id


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_fails_with_file_and_line(text: str) -> None:
    try:
        parse_text(text, path=PATH)
    except LessonError as error:
        assert_clean_error(error, text)


HOSTILE = {
    "nested lists": "---\nid: x\ntitle: t\norder: " + "[" * 3000 + "]" * 3000 + "\n---\n",
    "nested maps": "---\nid: x\ntitle: t\norder: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n---\n",
    "huge number": "---\nid: x\ntitle: t\norder: " + "9" * 5000 + "\n---\n",
    "alias bomb in order": "---\nsummary: ["
    + ", ".join(['&a ["x","x","x","x","x","x","x","x","x"]'] + [f'&{c} [' + ",".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefgh", "bcdefghi")])
    + "]\nid: x\ntitle: t\norder: *i\n---\n",
    "alias bomb in summary": "---\nlang: ["
    + ", ".join(['&a ["x","x","x","x","x","x","x","x","x"]'] + [f'&{c} [' + ",".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefgh", "bcdefghi")])
    + "]\nsummary: *i\nid: x\ntitle: t\norder: 1\n---\n",
    "key with a newline": '---\nid: x\ntitle: t\norder: 1\n"bad\\nkey": 1\n---\n',
    "key given twice": "---\nid: x\ntitle: t\norder: 1\nid: y\n---\n",
    "python tag": "---\nid: !!python/object/apply:os.system ['echo hacked']\ntitle: t\norder: 1\n---\n",
    "binary": "\x00\x01\x02\xff" * 100,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_front_matter_is_a_lesson_error(name: str) -> None:
    text = HOSTILE[name]
    with pytest.raises(LessonError) as caught:
        parse_text(text, path=PATH)
    assert_clean_error(caught.value, text)


def test_a_byte_order_mark_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "00-bom.md"
    path.write_bytes(b"\xef\xbb\xbf---\nid: bom\ntitle: BOM\norder: 0\n---\n\ntext\n")
    assert parse_file(path).id == "bom"


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "00-latin1.md"
    path.write_bytes("---\nid: x\ntitle: Café\norder: 0\n---\n".encode("latin-1"))
    with pytest.raises(LessonError) as caught:
        parse_file(path)
    assert caught.value.path == path and "UTF-8" in str(caught.value)


# -- the command line and the app -------------------------------------------------------------------


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*llm_tutor_cmd(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("name", ["nested lists", "alias bomb in order", "key with a newline", "binary"])
def test_check_exits_2_with_one_line_per_problem_for_a_hostile_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / "00-hostile.md"
    path.write_bytes(HOSTILE[name].encode("utf-8", "surrogateescape"))
    proc = run_cli("check", str(path), "--device", "cpu")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 3 and all(line.startswith(f"llm-tutor: error: {path}:") for line in lines), proc.stderr[:500]
    assert all(len(line) < 600 for line in lines)
    assert "Traceback" not in proc.stderr + proc.stdout


async def test_the_app_shows_a_hostile_file_in_place_of_the_lesson_and_others_still_open(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    write_lesson(folder, "Fine.\n", lesson_id="fine", order=0, title="Fine lesson")
    (folder / "01-bomb.md").write_text(HOSTILE["alias bomb in order"])
    (folder / "02-deep.md").write_text(HOSTILE["nested lists"])
    (folder / "03-binary.md").write_bytes(b"\xff\xfe\x00garbage" * 50)
    course = load_course(folder, "en")
    assert [type(item).__name__ for item in course] == ["Lesson", "BrokenLesson", "BrokenLesson", "BrokenLesson"]
    app = make_app(lessons_dir=folder, device="cpu", autostart_kernel=False)
    async with app.run_test(size=(100, 30)) as pilot:
        for index in (1, 2, 3):
            broken = course[index]
            assert isinstance(broken, BrokenLesson)
            app.open_lesson_key(f"broken:{broken.path}")
            await pilot.pause()
            assert isinstance(app.screen, LessonErrorScreen)
            shown = str(app.screen.query_one("#lesson-error").render())
            assert str(broken.path) in shown and len(shown) < 1000
            await pilot.press("escape")
        app.open_lesson_key("fine")
        await pilot.pause()
        assert isinstance(app.screen, LessonScreen) and app.screen.lesson.title == "Fine lesson"


# -- paths and ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lesson", ["../../etc/passwd", "../x", "/etc/passwd", "a/b", "..", "tensors/../../etc/passwd"])
def test_lesson_arguments_never_read_files_outside_the_course(lesson: str) -> None:
    proc = run_cli("run", lesson, "--plain", "--device", "cpu")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "unknown lesson" in proc.stderr
    assert "root:" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("grade", "tensors", "../../x", "--file", "/etc/hostname"),
        ("grade", "../tensors", "x", "--file", "/etc/hostname"),
        ("progress", "--reset", "../..:x", "--yes"),
        ("progress", "--reset", "tensors:../../x", "--yes"),
        ("export", "../../etc/passwd", "--to", "py", "-o", "out.py"),
    ],
)
def test_ids_with_slashes_or_dots_are_refused(args: tuple[str, ...], tmp_path: Path) -> None:
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.py").exists()
    data = Path(os.environ["LLM_TUTOR_DATA_DIR"])
    assert not any(p.name == "x.py" for p in data.rglob("*"))


def test_a_symlink_out_of_the_lessons_folder_is_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    write_lesson(folder, "Inside.\n", lesson_id="inside", order=0)
    outside = tmp_path / "elsewhere"
    write_lesson(outside, "```python cell id=steal\nprint(open('/etc/hostname').read())\n```\n", lesson_id="outside", order=1)
    os.symlink(outside / "01-outside.md", folder / "01-outside.md")
    os.symlink("/etc/passwd", folder / "02-passwd.md")
    course = load_course(folder, "en")
    assert [item.id for item in course if isinstance(item, Lesson)] == ["inside"]
    broken = [item for item in course if isinstance(item, BrokenLesson)]
    assert len(broken) == 2 and all("outside the lessons folder" in str(item.error) for item in broken)
    assert all("root:" not in str(item.error) for item in broken)
    with pytest.raises((KeyError, LessonError)):
        find_lesson("outside", folder, "en")
    listed = json.loads(run_cli("lessons", "--lessons", str(folder), "--json").stdout)
    assert [row["id"] for row in listed if row["status"] != "error"] == ["inside"]
    assert all("root:" not in row.get("error", "") for row in listed)


# -- size and kind ---------------------------------------------------------------------------------


def huge_lesson(folder: Path) -> Path:
    """A 50 MB lesson file (sparse: it costs no disk) after a good one."""
    write_lesson(folder, "Fine.\n", lesson_id="fine", order=0, title="Fine lesson")
    path = folder / "01-huge.md"
    path.write_text("---\nid: huge\ntitle: Huge\norder: 1\n---\n\n")
    os.truncate(path, 50_000_000)
    return path


def test_a_lesson_over_the_size_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    path = huge_lesson(folder)
    with pytest.raises(LessonError, match=r"50\.0 MB, over the 2\.0 MB allowed for a lesson") as error:
        parse_file(path)
    assert error.value.line == 1 and str(path) in str(error.value)
    listed = json.loads(run_cli("lessons", "--lessons", str(folder), "--json").stdout)
    assert [row["status"] == "error" for row in listed] == [False, True]
    assert "over the 2.0 MB allowed" in listed[1]["error"]
    proc = run_cli("check", str(path), "--device", "cpu")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "over the 2.0 MB allowed" in proc.stderr


async def test_the_app_shows_an_oversized_lesson_as_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    path = huge_lesson(folder)
    app = make_app(lessons_dir=folder, device="cpu", autostart_kernel=False)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_lesson_key(f"broken:{path}")
        await pilot.pause()
        assert isinstance(app.screen, LessonErrorScreen)
        assert "over the 2.0 MB allowed" in str(app.screen.query_one("#lesson-error").render())


def test_check_of_a_folder_refuses_links_to_outside_it_as_lessons_does(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    folder.mkdir()
    outside = tmp_path / "elsewhere"
    write_lesson(outside, "```python cell id=steal\nprint(open('/etc/hostname').read())\n```\n", lesson_id="outside", order=1)
    os.symlink(outside / "01-outside.md", folder / "01-outside.md")
    proc = run_cli("check", str(folder), "--device", "cpu")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "01-outside.md:1: this file is a link to outside the lessons folder" in lines[0]
    assert "steal" not in proc.stdout + proc.stderr
