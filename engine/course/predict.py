"""Provides the comparison of a learner's predicted output with the live output of a predict block.

Predictions are compared loosely, the way a person reads them: ``(2, 3)``, ``[2, 3]`` and
``torch.Size([2, 3])`` are the same shape; ``int64`` and ``torch.int64`` the same dtype.
"""

from __future__ import annotations

import re

_WRAPPERS = re.compile(r"\b(torch\.)?(size|tensor|dtype)\b|torch\.")


def normalize(text: str) -> str:
    """A canonical form: lower-case, no `torch.`/`Size`/`tensor` wrappers, brackets or spaces."""
    text = text.strip().lower()
    text = _WRAPPERS.sub("", text)
    text = re.sub(r"[\[\]\(\)\s'\"]", "", text)
    text = re.sub(r",+$", "", text)
    text = re.sub(r"(\d)\.(?=\D|$)", r"\1", text)  # "2." == "2"
    return text


def answers_match(expected: str, got: str) -> bool:
    """Whether a prediction `got` matches the `expected` output."""
    return normalize(expected) == normalize(got)
