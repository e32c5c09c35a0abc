"""Provides the words of `llm-tutor grade` in each language the course has (English and Turkish).

The engine cannot read the app's tables (`tui/i18n.py`), so the command's own lines (its verdict,
what is wrong, what the code gave, the attempt count) live here, key by key in both languages; the Turkish words
of the diagnoses and of the kernel's error notes are the app's (`diag_*` and `hint_*` there). A missing key or language falls back to English.
"""

from __future__ import annotations

from llm_tutor.engine.grading.feedback import ENGLISH as DIAGNOSES_EN
from llm_tutor.engine.grading.hints import ENGLISH as HINTS_EN

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "exercise": "exercise '{id}' ({title})",
        "passed": "✓ {name} passed: {n} expectation(s) met",
        "failed": "✗ {name} did not pass",
        "timeout": "your code did not finish within {seconds} s (it was interrupted)",
        "kernel_stopped": "the kernel stopped: {reason}",
        "raised": "your code raised {error}",
        "hint": "hint: {hint}",
        "expected_got": "{label}: expected {expected}, got {got}",
        "got": "got {got}",
        "expected": "expected {expected}",
        "expected_later": "(the expected value shows from attempt {n})",
        "no_expectation": "the checks made no expectation",
        "cell_above": "note: a cell above the exercise failed, which may explain this: {what}",
        "not_saved": " (not saved: see the message above)",
        "summary": "attempt {attempts}; lesson '{lesson}': {solved}/{total} exercises solved{saved}",
        "check_label": "check",
        **{f"diag_{key}": text for key, text in DIAGNOSES_EN.items()},
        **{f"hint_{key}": text for key, text in HINTS_EN.items()},
    },
    "tr": {
        "exercise": "'{id}' alıştırması ({title})",
        "passed": "✓ {name} geçti: {n} beklentinin hepsi karşılandı",
        "failed": "✗ {name} geçmedi",
        "timeout": "kodunuz {seconds} sn içinde bitmedi (durduruldu)",
        "kernel_stopped": "çekirdek durdu: {reason}",
        "raised": "kodunuz bir hata verdi: {error}",
        "hint": "ipucu: {hint}",
        "expected_got": "{label}: beklenen {expected}, gelen {got}",
        "got": "gelen {got}",
        "expected": "beklenen {expected}",
        "expected_later": "(beklenen değer {n}. denemeden sonra görünür)",
        "no_expectation": "kontroller hiçbir beklenti belirtmedi",
        "cell_above": "not: alıştırmanın üstündeki bir hücre hata verdi, nedeni bu olabilir: {what}",
        "not_saved": " (kaydedilmedi: yukarıdaki iletiye bakın)",
        "summary": "{attempts}. deneme; '{lesson}' dersi: {solved}/{total} alıştırma çözüldü{saved}",
        "check_label": "kontrol",
        "diag_sign": "işaret ters",
        "diag_factor": "yaklaşık {factor} katı kadar farklı",
        "diag_close": "yakın, ama tolerans içinde değil (±{tol})",
        "diag_too_large": "fazla büyük",
        "diag_too_small": "fazla küçük",
        "diag_elements": "{total} elemandan {n} tanesi farklı",
        "diag_rounding": "yalnızca kayan nokta yuvarlamasıyla farklı ({diff}): bir toleransla karşılaştırın",
        "diag_shape": "biçim (shape) yanlış",
        "diag_dtype": "dtype yanlış",
        "diag_device": "aygıt yanlış",
        "diag_not_number": "bir sayı değil",
        "diag_not_finite": "sonlu bir sayı değil",
        "diag_not_equal": "eşit değil",
        "diag_not_true": "doğru değil",
        "diag_no_raise": "hata vermesi gerekirken normal döndü",
        "diag_other_raise": "başka bir hata verdi",
        "diag_missing": "`{name}` tanımlı değil: kodunuz onu tanımlamalı",
        "diag_check_error": "kontrol çalıştırılamadı",
        "diag_not_tensor": "tensör olarak karşılaştırılamıyor",
        "hint_memory_limit": 'çekirdeğin bellek sınırına ({limit} MB, LLM_TUTOR_KERNEL_MEMORY_MB ile ayarlanır) ulaşıldı; bu hücre makineyi çökertmeden durduruldu. Daha küçük tensörler kullanın, büyük değişkenleri del ile silin ya da çekirdeği yeniden başlatın (K).',
        "hint_memory": 'çekirdeğin belleği tükendi; daha küçük tensörler kullanın ya da büyük değişkenleri del ile silin.',
        "hint_gpu_memory": 'GPU belleği tükendi; daha küçük tensörler ya da yığınlar kullanın, büyük değişkenleri del ile silin ya da çekirdeği yeniden başlatın (K).',
        "hint_processes": 'çekirdek yeni bir süreç ya da iş parçacığı başlatamadı: süreç sınırı ({n}) ya da bellek doldu. Bu dersin başlattığı süreçleri sonlandırmak için çekirdeği yeniden başlatın (K).',
        "hint_name": "'{name}' (henüz) yok: önce bunun üstündeki hücreleri çalıştırın (a hepsini çalıştırır) ya da burada tanımlayın.",
        "hint_view": '.view() bitişik bir tensör ister; devrik (transpoze) bir tensör bitişik değildir. .reshape() ya da .contiguous().view() kullanın.',
        "hint_target_size": 'hedef (etiket), modelin çıktısıyla aynı biçimde olmalı; örneğin (1, 1) bir çıktı için torch.tensor([[1.0]]).',
        "hint_matmul": "A @ B işleminde A'nın sütun sayısı B'nin satır sayısına eşit olmalı.",
        "hint_backward_twice": 'backward() çizgeyi serbest bırakır; çizgeyi yeniden kurun (ileri geçişi yeniden çalıştırın) ya da retain_graph=True verin.',
    },
}
"""The command's lines by language and key; both languages hold the same keys and placeholders."""


def say(lang: str, key: str, /, **kwargs: object) -> str:
    """The line `key` in `lang` (English where that language lacks it), with its placeholders filled."""
    template = TEXT.get(lang, {}).get(key) or TEXT["en"][key]
    try:
        return template.format(**kwargs)
    except (KeyError, IndexError):
        return template


def error_note(lang: str, error: object) -> str:
    """A kernel error's note (`engine.grading.hints`) in `lang`; the kernel's own words in English or where there is no
    translation."""
    hint_id = getattr(error, "hint_id", "")
    template = TEXT.get(lang, {}).get(f"hint_{hint_id}") if hint_id and lang != "en" else None
    if template is None:
        return str(getattr(error, "hint", "") or "")
    try:
        return template.format(**dict(getattr(error, "hint_args", {}) or {}))
    except (KeyError, IndexError):
        return str(getattr(error, "hint", "") or "")
