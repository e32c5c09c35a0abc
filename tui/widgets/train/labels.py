"""Provides the training lab's labels in English and Turkish, and its key descriptions by binding id.

Kept beside the lab's widgets rather than in `llm_tutor.tui.i18n`, so the lab's words change
without touching the app's table; `lt()` falls back to that table for shared words.
"""

from __future__ import annotations

import dataclasses

from llm_tutor.tui.i18n import t, translate_bindings

LAB_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "lab_title": "Training lab",
        "state_starting": "starting the trainer…",
        "state_running": "running",
        "state_paused": "paused",
        "state_finished": "finished",
        "state_stopped": "stopped",
        "state_failed": "failed",
        "state_dead": "trainer stopped",
        "step": "step",
        "params": "parameters",
        "eta": "ETA",
        "steps_s": "steps/s",
        "tok_s": "tok/s",
        "loss": "loss",
        "train": "train",
        "val": "val",
        "val_at": "val {value} (step {step})",
        "acc": "acc",
        "lr": "lr",
        "batch": "batch",
        "dropout": "dropout",
        "lesson_series": "lesson",
        "tab_settings": "Settings",
        "tab_model": "Model",
        "tab_grads": "Gradients",
        "tab_card": "Card",
        "key_play": "Play/Pause",
        "key_step": "Step",
        "key_stop": "Stop",
        "key_reset": "Reset",
        "key_log": "Log scale",
        "key_save": "Save",
        "key_load": "Load",
        "key_sample": "Sample now",
        "key_lr_up": "Learning rate ×2",
        "key_lr_down": "Learning rate ÷2",
        "key_back": "Back",
        "key_tab_settings": "Settings",
        "key_tab_model": "Model and calculator",
        "key_tab_grads": "Gradient norms",
        "key_tab_card": "Reproducibility card",
        "key_focus_chart": "Back to the chart",
        "press_play": "Press space to train, n for one step.",
        "waiting": "Waiting for the first step…",
        "pending": "Changed: {keys}. Press r to train with these settings.",
        "live_section": "Applied at once",
        "reset_section": "Applied at reset (r)",
        "model_section": "Model (applied at reset, r)",
        "model_choice": "model",
        "nan_hint": "Lower the learning rate ([ halves it, or type it under Settings), then press r to reset.",
        "oom_hint": "Lower the batch size or the model's size, then press space.",
        "dead": "{reason}. Your settings are kept. Press r to restart it.",
        "config_error": "This configuration cannot train: {message}",
        "saved": "Saved step {step} to {path}",
        "loaded": "Loaded step {step} from {path}",
        "no_checkpoint": "No checkpoint at {path} yet: press ctrl+s to save one.",
        "total": "Parameters",
        "tied": "tied",
        "untied": "untied",
        "tying_on": "weight tying on",
        "tying_off": "weight tying off",
        "memory": "Weights in memory",
        "per_module": "Per module",
        "per_block": "Per block",
        "head_dim": "head dim",
        "running_model": "running now",
        "grads_empty": "Gradient norms per layer appear after the first step.",
        "grads_title": "Gradient norm per layer",
        "card_empty": "The reproducibility card appears when the trainer has started.",
        "card_title": "Reproducibility card",
        "sample_empty": "Generated text appears here every few seconds while the GPT trains.",
        "sample_title": "Sample at step {step} (temperature {temperature})",
        "boundary_empty": "Decision boundary: after the first steps.",
        "neuron_title": "The neuron: a = σ(x·w + b)",
        "lesson_loss": "track() from this cell",
        "invalid": "{message}",
        "unavailable": "not available here",
    },
    "tr": {
        "lab_title": "Eğitim laboratuvarı",
        "state_starting": "eğitici başlatılıyor…",
        "state_running": "çalışıyor",
        "state_paused": "duraklatıldı",
        "state_finished": "bitti",
        "state_stopped": "durduruldu",
        "state_failed": "başarısız",
        "state_dead": "eğitici durdu",
        "step": "adım",
        "params": "parametre",
        "eta": "kalan",
        "steps_s": "adım/s",
        "tok_s": "token/s",
        "loss": "kayıp",
        "train": "eğitim",
        "val": "doğrulama",
        "val_at": "doğrulama {value} ({step}. adım)",
        "acc": "doğruluk",
        "lr": "öo",
        "batch": "yığın",
        "dropout": "dropout",
        "lesson_series": "ders",
        "tab_settings": "Ayarlar",
        "tab_model": "Model",
        "tab_grads": "Gradyanlar",
        "tab_card": "Kart",
        "key_play": "Başlat/Duraklat",
        "key_step": "Bir adım",
        "key_stop": "Durdur",
        "key_reset": "Sıfırla",
        "key_log": "Log ölçek",
        "key_save": "Kaydet",
        "key_load": "Yükle",
        "key_sample": "Şimdi örnek üret",
        "key_lr_up": "Öğrenme oranı ×2",
        "key_lr_down": "Öğrenme oranı ÷2",
        "key_back": "Geri",
        "key_tab_settings": "Ayarlar",
        "key_tab_model": "Model ve hesaplayıcı",
        "key_tab_grads": "Gradyan normları",
        "key_tab_card": "Tekrarlanabilirlik kartı",
        "key_focus_chart": "Grafiğe dön",
        "press_play": "Eğitmek için boşluk, tek adım için n tuşuna basın.",
        "waiting": "İlk adım bekleniyor…",
        "pending": "Değişti: {keys}. Bu ayarlarla eğitmek için r tuşuna basın.",
        "live_section": "Hemen uygulanır",
        "reset_section": "Sıfırlamada uygulanır (r)",
        "model_section": "Model (sıfırlamada uygulanır, r)",
        "model_choice": "model",
        "nan_hint": "Öğrenme oranını düşürün ([ yarıya indirir ya da Ayarlar'da yazın), sonra sıfırlamak için r tuşuna basın.",
        "oom_hint": "Yığın boyunu ya da modelin boyutunu küçültün, sonra boşluk tuşuna basın.",
        "dead": "{reason}. Ayarlarınız korundu. Yeniden başlatmak için r tuşuna basın.",
        "config_error": "Bu yapılandırmayla eğitilemez: {message}",
        "saved": "{step}. adım {path} dosyasına kaydedildi",
        "loaded": "{step}. adım {path} dosyasından yüklendi",
        "no_checkpoint": "{path} konumunda henüz kayıt yok: kaydetmek için ctrl+s tuşlarına basın.",
        "total": "Parametreler",
        "tied": "bağlı",
        "untied": "ayrı",
        "tying_on": "ağırlık bağlama açık",
        "tying_off": "ağırlık bağlama kapalı",
        "memory": "Bellekteki ağırlıklar",
        "per_module": "Modül başına",
        "per_block": "Blok başına",
        "head_dim": "kafa boyutu",
        "running_model": "şu an çalışan",
        "grads_empty": "Katman başına gradyan normları ilk adımdan sonra görünür.",
        "grads_title": "Katman başına gradyan normu",
        "card_empty": "Tekrarlanabilirlik kartı eğitici başlayınca görünür.",
        "card_title": "Tekrarlanabilirlik kartı",
        "sample_empty": "GPT eğitilirken birkaç saniyede bir üretilen metin burada görünür.",
        "sample_title": "{step}. adımda örnek (sıcaklık {temperature})",
        "boundary_empty": "Karar sınırı: ilk adımlardan sonra.",
        "neuron_title": "Nöron: a = σ(x·w + b)",
        "lesson_loss": "bu hücredeki track()",
        "invalid": "{message}",
        "unavailable": "burada yok",
    },
}

LAB_BINDING_LABELS: dict[str, str] = {
    "lab.play": "key_play",
    "lab.step": "key_step",
    "lab.stop": "key_stop",
    "lab.reset": "key_reset",
    "lab.log": "key_log",
    "lab.save": "key_save",
    "lab.load": "key_load",
    "lab.sample": "key_sample",
    "lab.lr_up": "key_lr_up",
    "lab.lr_down": "key_lr_down",
    "lab.back": "key_back",
    "lab.tab_settings": "key_tab_settings",
    "lab.tab_model": "key_tab_model",
    "lab.tab_grads": "key_tab_grads",
    "lab.tab_card": "key_tab_card",
}


def lt(lang: str, name: str, /, **kwargs: object) -> str:
    """The lab label `name` in `lang` (English, then the app's table, as fallbacks)."""
    table = LAB_LABELS.get(lang, LAB_LABELS["en"])
    text = table.get(name) or LAB_LABELS["en"].get(name)
    if text is None:
        return t(lang, name, **kwargs)
    return text.format(**kwargs) if kwargs else text


def translate_lab_bindings(node: object, lang: str) -> None:
    """Describe the lab's bindings (matched by id) in `lang`, on this node's own copy of them."""
    bindings = getattr(node, "_bindings", None)
    if bindings is None:
        return
    for key, items in list(bindings.key_to_bindings.items()):
        bindings.key_to_bindings[key] = [
            dataclasses.replace(b, description=lt(lang, LAB_BINDING_LABELS[b.id]))
            if b.id in LAB_BINDING_LABELS and b.description
            else b
            for b in items
        ]
    translate_bindings(node, lang)  # Textual's own (Tab, copy), by action
