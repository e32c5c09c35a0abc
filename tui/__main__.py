"""Provides `python -m llm_tutor.tui`, the same as the `llm-tutor` command."""

import sys

from llm_tutor.tui.launch import main

sys.exit(main())
