"""Provides the short notes for errors learners meet in the lessons, as an id, arguments and English words.

The kernel attaches the note to an `Error` as `hint` (English, for the headless commands) and as
`hint_id` with `hint_args`, which the UI words in the learner's language.
"""

from __future__ import annotations

ENGLISH: dict[str, str] = {
    "memory_limit": "the kernel's memory limit ({limit} MB, set by LLM_TUTOR_KERNEL_MEMORY_MB) was hit, so this cell "
                    "was stopped before it could take the machine down. Use smaller tensors, free big variables "
                    "with del, or restart the kernel (K).",
    "memory": "the kernel ran out of memory; use smaller tensors or free big variables with del.",
    "gpu_memory": "the GPU ran out of memory; use smaller tensors or batches, free big variables with del, or restart "
                  "the kernel (K).",
    "processes": "the kernel could not start another process or thread: the process limit{limit} or memory is used "
                 "up. Restart the kernel (K) to end the processes this lesson started.",
    "name": "'{name}' does not exist (yet): run the cells above this one first (a runs them all), or define it here.",
    "view": ".view() needs a contiguous tensor; a transposed tensor is not. Use .reshape() or .contiguous().view().",
    "target_size": "the target (label) must have the same shape as the model's output, e.g. torch.tensor([[1.0]]) "
                   "for a (1, 1) output.",
    "matmul": "in A @ B the number of columns of A must equal the number of rows of B.",
    "backward_twice": "backward() frees the graph; build it again (re-run the forward pass) or pass retain_graph=True.",
}
"""The notes in English, by id."""


def classify(exc: BaseException, memory_limit_mb: int = 0, process_limit: int = 0) -> tuple[str, dict[str, str]]:
    """The note for `exc` as (id, arguments); ("", {}) when there is none."""
    text = str(exc)
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't allocate memory" in text):
        return ("memory_limit", {"limit": str(memory_limit_mb)}) if memory_limit_mb else ("memory", {})
    if type(exc).__name__ == "OutOfMemoryError" or (isinstance(exc, RuntimeError) and "out of memory" in text):
        return "gpu_memory", {}
    if isinstance(exc, (BlockingIOError, RuntimeError)) and (
        getattr(exc, "errno", None) == 11 or "can't start new thread" in text
    ):
        limit = f" ({process_limit} processes and threads for this user)" if process_limit else ""
        return "processes", {"limit": limit, "n": str(process_limit)}
    if isinstance(exc, NameError) and getattr(exc, "name", None):
        return "name", {"name": str(exc.name)}
    if isinstance(exc, RuntimeError) and "view size is not compatible" in text:
        return "view", {}
    if isinstance(exc, ValueError) and "Using a target size" in text:
        return "target_size", {}
    if isinstance(exc, RuntimeError) and "mat1 and mat2 shapes cannot be multiplied" in text:
        return "matmul", {}
    if isinstance(exc, RuntimeError) and "trying to backward through the graph a second time" in text:
        return "backward_twice", {}
    return "", {}


def english(hint_id: str, args: dict[str, str]) -> str:
    """The note in English ('' for no id)."""
    return ENGLISH[hint_id].format(**args) if hint_id in ENGLISH else ""
