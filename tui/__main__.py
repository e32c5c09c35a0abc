"""Provides `python -m llm_tutor.tui`, the same as the `llm-tutor` command."""

import sys

from llm_tutor.tui.cli import main

sys.exit(main())
