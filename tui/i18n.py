"""Provides the UI's own labels in English and Turkish (lesson text comes from the lesson files)."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "lessons": "Lessons",
        "lesson": "Lesson",
        "status": "Status",
        "exercises": "Exercises",
        "cells": "Cells",
        "not_started": "not started",
        "attempted": "in progress",
        "solved": "solved",
        "error": "error",
        "kernel": "kernel",
        "starting": "starting",
        "idle": "idle",
        "busy": "busy",
        "dead": "dead",
        "stopped": "stopped",
        "run": "Run",
        "run_all": "Run all",
        "interrupt": "Interrupt",
        "restart": "Restart kernel",
        "back": "Back",
        "help": "Help",
        "quit": "Quit",
        "language": "Language",
        "open": "Open",
        "next_cell": "Next cell",
        "prev_cell": "Previous cell",
        "variables": "Variables",
        "no_variables": "Run a cell: its tensors appear here.",
        "keys": "Keys",
        "kernel_died": "The kernel stopped: {reason}. Your lesson and drafts are safe. Press {key} to restart it.",
        "interrupted": "Interrupted.",
        "not_run": "not run yet",
        "running": "running…",
        "queued": "queued",
        "predict_prompt": "Your prediction (Enter to check):",
        "predict_right": "Right! The output is",
        "predict_wrong": "Not quite. The output is",
        "exercise": "Exercise",
        "check": "Check",
        "hint": "Hint",
        "reset": "Reset",
        "solution": "Solution",
        "passed": "All checks passed.",
        "failed": "{n} of {total} checks failed:",
        "expected": "expected",
        "got": "got",
        "no_more_hints": "No more hints.",
        "hint_n": "Hint {n} of {total}",
        "lesson_error": "This lesson file has an error and cannot be opened:",
        "help_title": "Keys",
        "overall": "Overall",
        "panel": "Panel",
        "restart_offer": "Restart the kernel",
        "output_hidden": "… {n} earlier lines hidden",
        "starter_reset": "Starter restored.",
        "confirm_reset": "Press {key} again to replace your code with the starter.",
        "solution_locked": "The solution opens after a pass or {n} attempts.",
        "edit_exercise": "Edit exercise",
        "reset_twice": "Reset exercise to starter (press twice)",
        "leave_editor": "Leave editor",
        "training_lab": "Training lab",
    },
    "tr": {
        "lessons": "Dersler",
        "lesson": "Ders",
        "status": "Durum",
        "exercises": "Alıştırmalar",
        "cells": "Hücreler",
        "not_started": "başlanmadı",
        "attempted": "devam ediyor",
        "solved": "çözüldü",
        "error": "hata",
        "kernel": "çekirdek",
        "starting": "başlıyor",
        "idle": "hazır",
        "busy": "çalışıyor",
        "dead": "durdu",
        "stopped": "kapalı",
        "run": "Çalıştır",
        "run_all": "Hepsini çalıştır",
        "interrupt": "Durdur",
        "restart": "Çekirdeği yeniden başlat",
        "back": "Geri",
        "help": "Yardım",
        "quit": "Çık",
        "language": "Dil",
        "open": "Aç",
        "next_cell": "Sonraki hücre",
        "prev_cell": "Önceki hücre",
        "variables": "Değişkenler",
        "no_variables": "Bir hücre çalıştırın: tensörleri burada görünür.",
        "keys": "Tuşlar",
        "kernel_died": "Çekirdek durdu: {reason}. Dersiniz ve taslaklarınız güvende. Yeniden başlatmak için {key} tuşuna basın.",
        "interrupted": "Durduruldu.",
        "not_run": "henüz çalıştırılmadı",
        "running": "çalışıyor…",
        "queued": "sırada",
        "predict_prompt": "Tahmininiz (kontrol için Enter):",
        "predict_right": "Doğru! Çıktı:",
        "predict_wrong": "Tam değil. Çıktı:",
        "exercise": "Alıştırma",
        "check": "Kontrol et",
        "hint": "İpucu",
        "reset": "Sıfırla",
        "solution": "Çözüm",
        "passed": "Tüm kontroller geçti.",
        "failed": "{total} kontrolden {n} tanesi geçmedi:",
        "expected": "beklenen",
        "got": "gelen",
        "no_more_hints": "Başka ipucu yok.",
        "hint_n": "İpucu {n} / {total}",
        "lesson_error": "Bu ders dosyasında bir hata var, açılamıyor:",
        "help_title": "Tuşlar",
        "overall": "Genel",
        "panel": "Panel",
        "restart_offer": "Çekirdeği yeniden başlat",
        "output_hidden": "… önceki {n} satır gizlendi",
        "starter_reset": "Başlangıç kodu geri yüklendi.",
        "confirm_reset": "Kodunuzu başlangıç koduyla değiştirmek için {key} tuşuna yeniden basın.",
        "solution_locked": "Çözüm, geçtikten sonra ya da {n} denemeden sonra açılır.",
        "edit_exercise": "Alıştırmayı düzenle",
        "reset_twice": "Alıştırmayı başlangıç koduna döndür (iki kez basın)",
        "leave_editor": "Düzenleyiciden çık",
        "training_lab": "Eğitim laboratuvarı",
    },
}


def t(lang: str, name: str, /, **kwargs: object) -> str:
    """The label `name` in `lang` (falling back to English), formatted with `kwargs`."""
    table = LABELS.get(lang, LABELS["en"])
    text = table.get(name) or LABELS["en"].get(name, name)
    return text.format(**kwargs) if kwargs else text


BINDING_LABELS: dict[str, str] = {
    "app.help": "help",
    "app.quit": "quit",
    "app.language": "language",
    "list.open": "open",
    "lesson.run": "run",
    "lesson.run_all": "run_all",
    "lesson.interrupt": "interrupt",
    "lesson.restart": "restart",
    "lesson.next": "next_cell",
    "lesson.previous": "prev_cell",
    "lesson.edit": "edit_exercise",
    "lesson.check": "check",
    "lesson.hint": "hint",
    "lesson.solution": "solution",
    "lesson.reset": "reset_twice",
    "lesson.panel": "panel",
    "lesson.back": "lessons",
    "exercise.check": "check",
    "exercise.hint": "hint",
    "exercise.leave": "leave_editor",
    "list.lab": "training_lab",
    "lesson.lab": "training_lab",
}
"""Binding id -> label name, so the footer and the help screen speak the learner's language."""


def translate_bindings(node: object, lang: str) -> None:
    """Give the bindings of a Textual node (screen, widget or app) descriptions in `lang`.

    Bindings are matched by their id (see `BINDING_LABELS`); the node's own copy of its bindings is
    changed, so other nodes and the class keep theirs.
    """
    import dataclasses

    bindings = getattr(node, "_bindings", None)
    if bindings is None:
        return
    for key, items in list(bindings.key_to_bindings.items()):
        bindings.key_to_bindings[key] = [
            dataclasses.replace(b, description=t(lang, BINDING_LABELS[b.id]))
            if b.id in BINDING_LABELS and b.description
            else b
            for b in items
        ]
