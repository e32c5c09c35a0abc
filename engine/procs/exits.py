"""Provides `classify_exit`: what a child process's exit status means, for messages in any language.

The kernel and the trainer describe their deaths in English for logs and the command line; the UI
says the same in the learner's language. All of them start from this one classification.
"""

from __future__ import annotations

import signal


def classify_exit(code: int | None) -> tuple[str, str]:
    """`(kind, signal name)` for an exit status: kind is "silent" (it stopped answering: no status),
    "sigkill", "sigsegv", "sigabrt", "signal" (another signal), "zero" or "status"."""
    if code is None:
        return "silent", ""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return {"SIGKILL": "sigkill", "SIGSEGV": "sigsegv", "SIGABRT": "sigabrt"}.get(name, "signal"), name
    return ("zero", "") if code == 0 else ("status", "")


WHO = {"kernel": "the kernel", "trainer": "the trainer process"}

ENGLISH = {
    "silent": "{who} stopped answering",
    "sigkill": "{who} was killed (SIGKILL), often by the system running out of memory",
    "sigsegv": "{who} crashed with a segmentation fault (SIGSEGV)",
    "sigabrt": "{who} aborted (SIGABRT)",
    "signal": "{who} was ended by {name}",
    "zero": "{who} exited",
    "status": "{who} exited with status {code}",
    "status_kernel": "{who} exited with status {code} (os._exit or a fatal error in native code)",
}
"""The sentences, by kind; a UI in another language keeps a table with the same keys."""


def template_key(who: str, kind: str) -> str:
    """The key of the sentence for `who` ("kernel" or "trainer") and an exit `kind`."""
    return "status_kernel" if kind == "status" and who == "kernel" else kind


def describe(who: str, code: int | None, detail: str = "", templates: dict[str, str] | None = None,
             who_names: dict[str, str] | None = None) -> str:
    """A sentence a learner can act on for a child's exit status; `detail` (its last stderr line) is added
    after a non-zero status. `templates` and `who_names` give it in another language."""
    kind, name = classify_exit(code)
    text = (templates or ENGLISH)[template_key(who, kind)]
    reason = text.format(who=(who_names or WHO)[who], name=name, code=code)
    if detail.strip() and code is not None and code > 0:
        reason += f" ({detail.strip()[:160]})"
    return reason
