"""Provides remote labs: the built-in SSH server and the browser server of `llm-tutor serve`.

Both spawn the `llm-tutor` app as a child process (this package never imports Textual); heavy
dependencies (asyncssh, textual-serve) are imported only inside the functions that serve.
"""

from llm_tutor.engine.remote.users import valid_user_name

__all__ = ["valid_user_name"]
