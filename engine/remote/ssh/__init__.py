"""Provides the built-in SSH server of `llm-tutor serve ssh`: one pty and one app process per session.

The pattern of charmbracelet/wish and euporie-hub: public-key authentication only, against an
authorized-keys file or a folder of ``<name>.pub`` files; a persistent host key made on first run
(mode 0600); each session gets its own pseudo-terminal and its own `llm-tutor` child (and so its
own kernel), with the client's TERM and window size, and resizes forwarded. A student's progress
and workspace live under ``<data-root>/users/<name>/``. Exec requests, subsystems, port forwarding
(direct and reverse), agent forwarding and X11 are refused; sessions are capped; an idle session
is warned, then closed; every child (and its kernel) ends when the client drops.

Apps and kernels come from two fork servers (`engine.procs.forkserver`): one with Textual and
the app imported, one with torch imported, so a session's first screen does not wait for Python
and Textual to start, nor its first cell for a fresh ``import torch``.

All sessions run as the server's Unix user; each session's app and kernel confine themselves after
fork and before any learner code (`confine`, `llm_tutor.engine.sandbox`): Landlock keeps a session to
its own folder and scratch folder and its signals to itself, a control group caps its memory,
processes and CPU share, and a disk cap bounds its files. What this machine offers is logged at start.

Where each part lives: `keys` (the host key, who may log in), `lab` (the server's settings and state:
login limits, sessions, each app's environment, the warm pools), `server` (asyncssh's server class,
start, stop, run), `session` (one session: bytes both ways, the end), `limits` (the idle timeout and
the disk cap that end a session), `spawn` (a session's app on its pty).
"""
