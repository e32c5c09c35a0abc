"""Provides the UI's own labels in English and Turkish (lesson text comes from the lesson files)."""

from __future__ import annotations

from typing import Any

from llm_tutor.engine.grading.words import TEXT as ENGINE_TEXT

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
        "in_progress": "in progress",
        "completed": "completed",
        "overall_progress": "{solved}/{total} exercises solved · {done}/{lessons} lessons completed",
        "not_saving": "progress is NOT being saved (see the notice)",
        "attempts_n": "attempts: {n}",
        "hints_n": "hints {n}/{total}",
        "solved_before": "solved",
        "workspace_line": "your editor: {path}",
        "workspace_help": "kept in step with this editor; saving it there checks it here",
        "workspace_unavailable": "no exercise file: {reason}",
        "exercise_keys": "e edit · c check · h hint · s solution · x reset · p copy path · f check the file",
        "solution_offer_pass": "s: compare with the reference solution",
        "solution_offer_fail": "Stuck? s shows the solution now ({n} attempts).",
        "reset_title": "Replace your code with the starter?",
        "reset_body": "Your progress (solved, attempts, hints) is kept. The current code stays in {bak}.",
        "reset_body_nofile": "Your progress (solved, attempts, hints) is kept.",
        "reset_keys": "x or y: replace with the starter · any other key: keep my code",
        "reset_cancelled": "Kept your code.",
        "copied_path": "Copied: {path}. Open it in your editor; saving it checks it here.",
        "file_changed": "{name} changed on disk: checking it.",
        "no_file": "There is no file for this exercise yet: {path}",
        "prereq_suggest": "Suggested first: {lessons}. You can carry on; it builds on them.",
        "resumed": "Welcome back: {lesson}, where you left off.",
        "pick_exercise": "Move to an exercise first (j/k).",
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
        "next_lesson": "Next lesson",
        "prev_lesson": "Previous lesson",
        "prev_cell": "Previous cell",
        "variables": "Variables",
        "no_variables": "Run a cell: its tensors appear here.",
        "inspect_hint": "Choose a variable with Enter to see it here.\nt tensor · d gradient · g graph · m module · [ ] slices",
        "inspect_loading": "asking the kernel…",
        "inspect_gone": "{name} is no longer defined.",
        "inspect_choose": "Choose a variable first: v, then Enter on its row.",
        "inspect_no_kernel": "The kernel is not running: press K to start it.",
        "inspect_tensor": "tensor",
        "inspect_grad": "gradient",
        "inspect_graph": "graph",
        "inspect_module": "module",
        "inspect_triangulate": "gradient check",
        "inspect_value": "value",
        "inspect_ready": "{name}: gradient check ready. Press v to see it.",
        "insp_value": "value",
        "insp_gradient": "gradient",
        "insp_beside": "d: value beside gradient",
        "insp_drawn_above": "(drawn above)",
        "insp_nodes": "{n} nodes",
        "insp_graph_cut": "… graph cut at {n} nodes",
        "insp_total": "total {total} parameters",
        "insp_trainable": ", {n} trainable",
        "insp_buffers": ", {n} buffer elements",
        "insp_param_grads": "each parameter's gradient; Enter: beside its value",
        "insp_no_grad": "no grad",
        "col_name": "name",
        "col_shape": "shape",
        "col_type": "type",
        "col_value": "value",
        "n_params": "{n} params",
        "col_child": "child",
        "col_params": "params",
        "col_parameter": "parameter",
        "col_count": "count",
        "col_trainable": "trainable",
        "col_grad": "grad",
        "col_manual": "manual",
        "col_numeric": "numeric",
        "col_rel_err": "rel err",
        "insp_ok": "ok",
        "insp_fail": "FAIL",
        "insp_leaf": "leaf",
        "insp_non_leaf": "non-leaf",
        "insp_contiguous": "contiguous",
        "insp_not_contiguous": "not contiguous",
        "insp_strides": "strides {strides}",
        "insp_elements": "{n} elements",
        "insp_element": "1 element",
        "insp_nothing": "{name}: nothing to show",
        "insp_yes": "yes",
        "insp_no": "no",
        "insp_grads_of": "gradients of {fn}",
        "insp_method": "numeric: central differences in {dtype}, eps {eps}; rtol {rtol}",
        "insp_all_agree": "all three agree",
        "insp_two_agree": "numeric and autograd agree",
        "insp_disagree": "they disagree",
        "key_tensor": "Inspect: tensor values and statistics",
        "key_grad": "Inspect: gradient beside the value",
        "key_graph": "Inspect: autograd graph of the selected variable",
        "key_module": "Inspect: parameter table of a module",
        "key_slice_next": "Inspect: next 2-D slice",
        "key_slice_previous": "Inspect: previous 2-D slice",
        "key_outer_next": "Inspect: next index of the first dimension",
        "key_outer_previous": "Inspect: previous index of the first dimension",
        "key_leave_panel": "Back to the lesson",
        "keys": "Keys",
        "kernel_died": "The kernel stopped: {reason}. Your lesson and drafts are safe. Press {key} to restart it.",
        "interrupt_ignored": "The cell is still running: it did not stop when interrupted. Press {key} to restart the kernel.",
        "interrupted": "Interrupted.",
        "not_run": "not run yet",
        "expected_error": "raised {name}, as expected",
        "running": "running…",
        "queued": "queued",
        "predict_prompt": "Your prediction (Enter to check; Escape goes back):",
        "predict_right": "Right! The output is",
        "predict_wrong": "Not quite. The output is",
        "predict_retry": "Not quite: try again (Enter on an empty answer shows the output).",
        "predict_shown": "The output is",
        "explained_after": "(The explanation follows your answer; Enter on an empty answer shows it.)",
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
        "reset_twice": "Reset exercise to starter (asks first)",
        "copy_file_path": "Copy the exercise file's path",
        "check_file": "Check the exercise file (saved in your editor)",
        "leave_editor": "Leave editor",
        "training_lab": "Training lab",
        "focus_next": "Next block or panel",
        "focus_previous": "Previous block or panel",
        "copy_text": "Copy selected text",
        "dismiss_menu": "Close the list",
        "help_key": "key",
        "help_action": "action",
        "editor_check": "Check the exercise (in the editor)",
        "editor_hint": "Reveal the next hint (in the editor)",
        "editor_indent": "Indent (in the editor; e or Enter enters it)",
        "editor_leave": "Leave the editor",
        "check_label": "check",
        "expected_later": "The expected values show after {n} attempts, or once every hint is out.",
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
        "in_progress": "devam ediyor",
        "completed": "tamamlandı",
        "overall_progress": "{total} alıştırmadan {solved} tanesi çözüldü · {lessons} dersten {done} tanesi tamamlandı",
        "not_saving": "ilerleme KAYDEDİLMİYOR (bildirime bakın)",
        "attempts_n": "deneme: {n}",
        "hints_n": "ipucu {n}/{total}",
        "solved_before": "çözüldü",
        "workspace_line": "kendi editörünüz: {path}",
        "workspace_help": "bu editörle eşit tutulur; orada kaydetmek burada kontrol eder",
        "workspace_unavailable": "alıştırma dosyası yok: {reason}",
        "exercise_keys": "e düzenle · c kontrol · h ipucu · s çözüm · x sıfırla · p yolu kopyala · f dosyayı kontrol et",
        "solution_offer_pass": "s: örnek çözümle karşılaştırın",
        "solution_offer_fail": "Takıldınız mı? s artık çözümü gösterir ({n} deneme).",
        "reset_title": "Kodunuz başlangıç koduyla değiştirilsin mi?",
        "reset_body": "İlerlemeniz (çözüldü, denemeler, ipuçları) korunur. Şimdiki kod {bak} dosyasında kalır.",
        "reset_body_nofile": "İlerlemeniz (çözüldü, denemeler, ipuçları) korunur.",
        "reset_keys": "x ya da y: başlangıç koduyla değiştir · başka bir tuş: kodumu koru",
        "reset_cancelled": "Kodunuz korundu.",
        "copied_path": "Kopyalandı: {path}. Editörünüzde açın; orada kaydetmek burada kontrol eder.",
        "file_changed": "{name} diskte değişti: kontrol ediliyor.",
        "no_file": "Bu alıştırmanın henüz dosyası yok: {path}",
        "prereq_suggest": "Önce şunlar önerilir: {lessons}. Devam edebilirsiniz; bu ders onların üzerine kurulu.",
        "resumed": "Tekrar hoş geldiniz: {lesson}, kaldığınız yerden.",
        "pick_exercise": "Önce bir alıştırmaya gidin (j/k).",
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
        "next_lesson": "Sonraki ders",
        "prev_lesson": "Önceki ders",
        "prev_cell": "Önceki hücre",
        "variables": "Değişkenler",
        "no_variables": "Bir hücre çalıştırın: tensörleri burada görünür.",
        "inspect_hint": "Burada görmek için bir değişken seçip Enter'a basın.\nt tensör · d gradyan · g çizge · m modül · [ ] dilimler",
        "inspect_loading": "çekirdeğe soruluyor…",
        "inspect_gone": "{name} artık tanımlı değil.",
        "inspect_choose": "Önce bir değişken seçin: v, sonra satırında Enter.",
        "inspect_no_kernel": "Çekirdek çalışmıyor: başlatmak için K tuşuna basın.",
        "inspect_tensor": "tensör",
        "inspect_grad": "gradyan",
        "inspect_graph": "çizge",
        "inspect_module": "modül",
        "inspect_triangulate": "gradyan kontrolü",
        "inspect_value": "değer",
        "inspect_ready": "{name}: gradyan kontrolü hazır. Görmek için v tuşuna basın.",
        "insp_value": "değer",
        "insp_gradient": "gradyan",
        "insp_beside": "d: değerin yanında gradyan",
        "insp_drawn_above": "(yukarıda çizildi)",
        "insp_nodes": "{n} düğüm",
        "insp_graph_cut": "… çizge {n} düğümde kesildi",
        "insp_total": "toplam {total} parametre",
        "insp_trainable": ", {n} eğitilebilir",
        "insp_buffers": ", {n} tampon elemanı",
        "insp_param_grads": "her parametrenin gradyanı; Enter: değerinin yanında",
        "insp_no_grad": "gradyan yok",
        "col_name": "ad",
        "col_shape": "biçim",
        "col_type": "tür",
        "col_value": "değer",
        "n_params": "{n} parametre",
        "col_child": "alt modül",
        "col_params": "parametre",
        "col_parameter": "parametre",
        "col_count": "sayı",
        "col_trainable": "eğitilebilir",
        "col_grad": "gradyan",
        "col_manual": "elle",
        "col_numeric": "sayısal",
        "col_rel_err": "göreli hata",
        "insp_ok": "tamam",
        "insp_fail": "HATA",
        "insp_leaf": "yaprak",
        "insp_non_leaf": "yaprak değil",
        "insp_contiguous": "bitişik",
        "insp_not_contiguous": "bitişik değil",
        "insp_strides": "adımlar {strides}",
        "insp_elements": "{n} eleman",
        "insp_element": "1 eleman",
        "insp_nothing": "{name}: gösterilecek bir şey yok",
        "insp_yes": "evet",
        "insp_no": "hayır",
        "insp_grads_of": "{fn} gradyanları",
        "insp_method": "sayısal: {dtype} ile merkezi farklar, eps {eps}; rtol {rtol}",
        "insp_all_agree": "üçü de aynı",
        "insp_two_agree": "sayısal ve autograd aynı",
        "insp_disagree": "uyuşmuyorlar",
        "key_tensor": "İncele: tensörün değerleri ve istatistikleri",
        "key_grad": "İncele: değerin yanında gradyanı",
        "key_graph": "İncele: seçili değişkenin autograd çizgesi",
        "key_module": "İncele: bir modülün parametre tablosu",
        "key_slice_next": "İncele: sonraki 2-B dilim",
        "key_slice_previous": "İncele: önceki 2-B dilim",
        "key_outer_next": "İncele: ilk boyutta sonraki indis",
        "key_outer_previous": "İncele: ilk boyutta önceki indis",
        "key_leave_panel": "Derse dön",
        "keys": "Tuşlar",
        "kernel_died": "Çekirdek durdu: {reason}. Dersiniz ve taslaklarınız güvende. Yeniden başlatmak için {key} tuşuna basın.",
        "exit_kernel": "çekirdek",
        "exit_trainer": "eğitim süreci",
        "exit_silent": "{who} yanıt vermeyi bıraktı",
        "exit_sigkill": "{who} öldürüldü (SIGKILL); bunun nedeni çoğu zaman sistemin belleğinin tükenmesidir",
        "exit_sigsegv": "{who} bir bölütleme hatasıyla çöktü (SIGSEGV)",
        "exit_sigabrt": "{who} kendini sonlandırdı (SIGABRT)",
        "exit_signal": "{who} {name} sinyaliyle sonlandırıldı",
        "exit_zero": "{who} kapandı",
        "exit_status": "{who} {code} çıkış koduyla kapandı",
        "exit_status_kernel": "{who} {code} çıkış koduyla kapandı (os._exit ya da yerel koddaki ölümcül bir hata)",
        "interrupt_ignored": "Hücre hâlâ çalışıyor: durdurma isteğine uymadı. Çekirdeği yeniden başlatmak için {key} tuşuna basın.",
        "interrupted": "Durduruldu.",
        "not_run": "henüz çalıştırılmadı",
        "expected_error": "beklendiği gibi {name} verdi",
        "running": "çalışıyor…",
        "queued": "sırada",
        "predict_prompt": "Tahmininiz (kontrol için Enter; Escape geri döner):",
        "predict_right": "Doğru! Çıktı:",
        "predict_wrong": "Tam değil. Çıktı:",
        "predict_retry": "Tam değil: yeniden deneyin (boş yanıtla Enter çıktıyı gösterir).",
        "predict_shown": "Çıktı:",
        "explained_after": "(Açıklama yanıtınızdan sonra gelir; boş yanıtla Enter onu gösterir.)",
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
        "reset_twice": "Alıştırmayı başlangıç koduna döndür (önce sorar)",
        "copy_file_path": "Alıştırma dosyasının yolunu kopyala",
        "check_file": "Alıştırma dosyasını kontrol et (editörünüzde kaydedilen)",
        "leave_editor": "Düzenleyiciden çık",
        "training_lab": "Eğitim laboratuvarı",
        "focus_next": "Sonraki blok ya da panel",
        "focus_previous": "Önceki blok ya da panel",
        "copy_text": "Seçili metni kopyala",
        "dismiss_menu": "Listeyi kapat",
        "help_key": "tuş",
        "help_action": "işlev",
        "editor_check": "Alıştırmayı kontrol et (düzenleyicide)",
        "editor_hint": "Sonraki ipucunu göster (düzenleyicide)",
        "editor_indent": "Girinti (düzenleyicide; e ya da Enter ile girilir)",
        "editor_leave": "Düzenleyiciden çık",
        "check_label": "kontrol",
        "expected_later": "Beklenen değerler {n} denemeden sonra ya da tüm ipuçları açılınca görünür.",
    },
}

# Check diagnoses and translated kernel notes: one table, the engine's (`grade` prints them too). English kernel
# notes are not looked up: `error_hint` shows the kernel's own words.
for _lang, _text in ENGINE_TEXT.items():
    _shared = ("diag_",) if _lang == "en" else ("diag_", "hint_")
    LABELS[_lang].update({k: v for k, v in _text.items() if k.startswith(_shared)})


def t(lang: str, name: str, /, **kwargs: object) -> str:
    """The label `name` in `lang` (falling back to English), formatted with `kwargs`."""
    table = LABELS.get(lang, LABELS["en"])
    text = table.get(name) or LABELS["en"].get(name, name)
    return text.format(**kwargs) if kwargs else text


def format_count(lang: str, n: int | float, decimals: int = 0) -> str:
    """`n` with the language's thousands separator: 50,257 in English, 50.257 in Turkish."""
    text = f"{n:,.{decimals}f}"
    if lang == "tr":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def error_hint(lang: str, error: object) -> str:
    """A kernel error's note (`engine.grading.hints`) in `lang`; the kernel's English words where there is no translation."""
    hint_id = getattr(error, "hint_id", "")
    english = str(getattr(error, "hint", "") or "")
    template = LABELS.get(lang, {}).get(f"hint_{hint_id}") if hint_id else None
    if template is None:
        return english
    try:
        return template.format(**dict(getattr(error, "hint_args", {}) or {}))
    except (KeyError, IndexError):
        return english


def exit_reason(lang: str, who: str, code: int | None, detail: str = "") -> str:
    """Why a child process ended, in the learner's language: `who` is "kernel" or "trainer", `code` its
    exit status (negative: the signal; None: it stopped answering), `detail` its last words (stderr).
    The classification and the English sentences are the engine's (`engine/procs/exits.py`)."""
    from llm_tutor.engine.procs.exits import ENGLISH, WHO, describe

    table = LABELS.get(lang, {})
    templates = {key: table.get(f"exit_{key}", text) for key, text in ENGLISH.items()}
    names = {key: table.get(f"exit_{key}", name) for key, name in WHO.items()}
    return describe(who, code, detail, templates, names)


def sentence_case(lang: str, text: str) -> str:
    """`text` with its first letter capitalised (Turkish dotted i becomes İ)."""
    if not text:
        return text
    first = "İ" if lang == "tr" and text[0] == "i" else text[0].upper()
    return first + text[1:]


BINDING_LABELS: dict[str, str] = {
    "app.help": "help",
    "app.quit": "quit",
    "app.quit2": "quit",
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
    "lesson.file_path": "copy_file_path",
    "lesson.check_file": "check_file",
    "lesson.panel": "panel",
    "lesson.back": "lessons",
    "exercise.check": "check",
    "exercise.hint": "hint",
    "exercise.leave": "leave_editor",
    "inspect.tensor": "key_tensor",
    "inspect.grad": "key_grad",
    "inspect.graph": "key_graph",
    "inspect.module": "key_module",
    "inspect.slice_next": "key_slice_next",
    "inspect.slice_previous": "key_slice_previous",
    "inspect.outer_next": "key_outer_next",
    "inspect.outer_previous": "key_outer_previous",
    "inspect.leave": "key_leave_panel",
    "list.lab": "training_lab",
    "list.next": "next_lesson",
    "list.previous": "prev_lesson",
    "lesson.lab": "training_lab",
    "lesson.lab_any": "training_lab",
}
"""Binding id -> label name, so the footer and the help screen speak the learner's language."""

ACTION_LABELS: dict[str, str] = {
    "app.focus_next": "focus_next",
    "app.focus_previous": "focus_previous",
    "screen.copy_text": "copy_text",
    "dismiss": "dismiss_menu",
}
"""Textual's own bindings (they have no id), by action -> label name."""


def translate_bindings(node: object, lang: str) -> None:
    """Give the bindings of a Textual node (screen, widget or app) descriptions in `lang`.

    Bindings are matched by their id (see `BINDING_LABELS`), Textual's own by their action; the node's
    own copy of its bindings is changed, so other nodes and the class keep theirs.
    """
    bindings = getattr(node, "_bindings", None)
    if bindings is None:
        return
    for key, items in list(bindings.key_to_bindings.items()):
        bindings.key_to_bindings[key] = [_translated(b, lang) for b in items]


def _translated(binding: Any, lang: str) -> Any:
    import dataclasses

    if not binding.description:
        return binding
    name = BINDING_LABELS.get(binding.id or "") or ACTION_LABELS.get(binding.action)
    return dataclasses.replace(binding, description=t(lang, name)) if name else binding
