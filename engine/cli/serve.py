"""Provides `llm-tutor serve ssh` and `llm-tutor serve web`: the app for a lab, over SSH or in a browser.

asyncssh and textual-serve (the ``remote`` extra) are imported only when a server starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from llm_tutor.engine.cli.common import UsageError, add_device, add_lang, add_lessons_dir


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "serve",
        help="serve the app to a lab: an SSH server, or a page in a browser",
        description="Serve the app to several learners at once. 'serve ssh': a built-in SSH server, one app and "
        "kernel per session, progress kept per SSH user name. 'serve web': the app in a browser (textual-serve).",
    )
    p.set_defaults(func=_no_kind)
    kinds = p.add_subparsers(dest="serve_kind", metavar="KIND")

    ssh = kinds.add_parser(
        "ssh",
        help="a built-in SSH server (public keys only)",
        description="A built-in SSH server: students run 'ssh -p PORT NAME@HOST' and get the app, with their own "
        "progress under DATA_ROOT/users/NAME. Public-key logins only; exec, subsystems and forwarding are refused.",
    )
    ssh.add_argument("--port", type=int, required=True, help="TCP port (0 picks a free one)")
    ssh.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a lab)")
    ssh.add_argument("--authorized-keys", type=Path, required=True, metavar="FILE",
                     help="an authorized_keys file (any listed key may use any name) or a folder of NAME.pub files "
                     "(a key admits only its own name)")
    ssh.add_argument("--host-key", type=Path, default=None, metavar="FILE",
                     help="the server's private host key, made on first run (default DATA_ROOT/ssh_host_ed25519_key)")
    ssh.add_argument("--max-sessions", type=int, default=20, metavar="N", help="sessions at once (default 20)")
    ssh.add_argument("--idle-timeout", type=float, default=1800, metavar="S",
                     help="close a session after S seconds without a key press, with a warning first (default 1800; 0: never)")
    ssh.add_argument("--login-timeout", type=float, default=30, metavar="S",
                     help="seconds a client has to log in and open its terminal (default 30)")
    ssh.add_argument("--data-root", type=Path, default=None, metavar="DIR",
                     help="students' data, DIR/users/NAME (default: the data folder's 'lab' subfolder)")
    ssh.add_argument("--threads", type=int, default=None, metavar="N",
                     help="torch threads per kernel (default: CPU cores / max sessions, at least 1)")
    ssh.add_argument("--memory-limit-mb", type=int, default=None, metavar="MB",
                     help="memory each kernel may take (RLIMIT_DATA; default: 80%% of the memory / max sessions, "
                     "at least 512; 0: no limit)")
    ssh.add_argument("--gpu-memory-fraction", type=float, default=None, metavar="F",
                     help="share of GPU memory each kernel may use, 0 < F <= 1 (e.g. 1 / max sessions)")
    ssh.add_argument("--no-kernel-pool", action="store_true",
                     help="start a fresh kernel (and import torch) per session instead of forking a warm one")
    ssh.add_argument("--no-app-pool", action="store_true",
                     help="start a fresh app process (and import Textual) per session instead of forking a warm one")
    box = ssh.add_argument_group("confinement", "each session's app and kernel are confined as far as the machine "
                                 "allows; the server logs which protections are on at start ('llm-tutor doctor --lab')")
    box.add_argument("--no-sandbox", action="store_true",
                     help="do not confine sessions (Landlock, control groups, disk cap): only for trusted students")
    box.add_argument("--require-sandbox", action="store_true",
                     help="refuse to start when a protection is unavailable on this machine")
    box.add_argument("--session-memory-mb", type=int, default=None, metavar="MB",
                     help="memory of a session's app and kernel together (cgroup; default: the kernel's limit + 256; 0: none)")
    box.add_argument("--session-pids", type=int, default=256, metavar="N",
                     help="processes and threads per session (cgroup pids.max; default 256; 0: none)")
    box.add_argument("--disk-cap-mb", type=int, default=500, metavar="MB",
                     help="the most a student's folder and scratch folder may hold, and the largest file (default 500; 0: none)")
    _add_allow_root(ssh)
    add_lessons_dir(ssh)
    add_device(ssh)
    add_lang(ssh)
    ssh.set_defaults(func=run_ssh)

    web = kinds.add_parser(
        "web",
        help="the app in a browser (textual-serve)",
        description="Serve the app as a web page; each browser tab gets its own app and kernel. Bound to 127.0.0.1 "
        "unless --host says otherwise; the page needs no internet.",
    )
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    web.add_argument("--public-url", default=None, metavar="URL",
                     help="the address browsers use, when it differs from http://HOST:PORT (a proxy); "
                     "websockets from any other origin are refused")
    web.add_argument("--max-tabs", type=int, default=8, metavar="N",
                     help="browser tabs (apps and kernels) at once (default 8); more are refused")
    _add_allow_root(web)
    add_lessons_dir(web)
    add_device(web)
    add_lang(web)
    web.set_defaults(func=run_web)


def _add_allow_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-root", action="store_true",
                        help="serve even when running as root (every learner's code would run as root: use an "
                        "ordinary account)")


def _refuse_root(args: argparse.Namespace) -> None:
    """A server run as root hands root to every learner's Python: refuse unless --allow-root says so."""
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not args.allow_root:
        raise UsageError(f"refusing to run 'serve {args.serve_kind}' as root: every learner's code would run as root; "
                         "run it as an ordinary user (or pass --allow-root)")


def _no_kind(args: argparse.Namespace) -> int:
    raise UsageError("serve what? use 'llm-tutor serve ssh ...' or 'llm-tutor serve web' (see 'llm-tutor serve --help')")


def _app_args(args: argparse.Namespace) -> list[str]:
    extra: list[str] = []
    if args.lessons is not None:
        if not args.lessons.exists():
            raise UsageError(f"lessons folder not found: {args.lessons}")
        extra += ["--lessons", str(args.lessons.resolve())]
    if args.device:
        from llm_tutor.engine.cli.common import resolve_device

        extra += ["--device", resolve_device(args.device)]
    if args.lang:
        extra += ["--lang", args.lang]
    return extra


def _need(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{module} is not installed; install the remote extra: pip install 'llm-tutor[remote]'")


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)  # our own lines say connect / disconnect / refused
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def run_ssh(args: argparse.Namespace) -> int:
    _need("asyncssh")
    from llm_tutor.engine import settings as config
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0-65535, not {args.port}")
    if args.max_sessions < 1:
        raise UsageError("--max-sessions must be at least 1")
    if args.idle_timeout < 0:
        raise UsageError("--idle-timeout must be 0 (never) or more seconds")
    if args.login_timeout <= 0:
        raise UsageError("--login-timeout must be more than 0 seconds")
    if args.gpu_memory_fraction is not None and not 0 < args.gpu_memory_fraction <= 1:
        raise UsageError("--gpu-memory-fraction must be in (0, 1]")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be at least 1")
    keys: Path = args.authorized_keys
    if not keys.exists():
        raise UsageError(f"authorized keys not found: {keys} (a file in authorized_keys format, or a folder of NAME.pub files)")
    root = (args.data_root or config.data_dir() / "lab").expanduser().resolve()
    host_key = (args.host_key or root / "ssh_host_ed25519_key").expanduser().resolve()
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.max_sessions)
    memory = args.memory_limit_mb
    if memory is None:
        from llm_tutor.engine.kernel.limits import total_memory_mb

        total = total_memory_mb()
        memory = max(512, int(total * 0.8 / args.max_sessions)) if total else 0
    if memory < 0:
        raise UsageError("--memory-limit-mb must be 0 (no limit) or more")
    for name in ("session_memory_mb", "session_pids", "disk_cap_mb"):
        if (getattr(args, name) or 0) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be 0 (none) or more")
    session_memory = args.session_memory_mb if args.session_memory_mb is not None else (memory + 256 if memory else 0)
    extra_read = [str(args.lessons.resolve())] if args.lessons is not None and args.lessons.exists() else []
    _refuse_root(args)

    from llm_tutor.engine.remote.ssh.keys import HostKeyError, quiet_asyncssh_warnings
    from llm_tutor.engine.remote.ssh.lab import LabConfig
    from llm_tutor.engine.remote.ssh.server import run as run_lab

    quiet_asyncssh_warnings()
    lab_config = LabConfig(
        authorized_keys=keys.resolve(), host_key=host_key, data_root=root, host=args.host, port=args.port,
        max_sessions=args.max_sessions, idle_timeout=args.idle_timeout, login_timeout=args.login_timeout,
        threads=threads, memory_limit_mb=memory, gpu_memory_fraction=args.gpu_memory_fraction,
        kernel_pool=not args.no_kernel_pool, app_pool=not args.no_app_pool, app_args=_app_args(args),
        sandbox=not args.no_sandbox, require_sandbox=args.require_sandbox, session_memory_mb=session_memory or None,
        session_pids=args.session_pids or None, disk_cap_mb=args.disk_cap_mb or None, sandbox_read=extra_read,
    )
    _setup_logging()
    if not keys.is_dir():
        logging.getLogger("llm_tutor.remote.ssh").info(
            "one authorized_keys file: any listed key may log in under any name; to bind keys to names, "
            "use a folder of NAME.pub files")
    from llm_tutor.engine.remote.confine import ConfinementError

    try:
        return run_lab(lab_config)
    except (HostKeyError, ConfinementError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None


def run_web(args: argparse.Namespace) -> int:
    _need("textual_serve")
    if not 0 < args.port <= 65535:
        raise UsageError(f"--port must be 1-65535, not {args.port}")
    if args.max_tabs < 1:
        raise UsageError("--max-tabs must be at least 1")
    _refuse_root(args)
    from llm_tutor.engine.remote import web

    warning = web.exposure_warning(args.host, args.port)
    if warning:
        print(warning, file=sys.stderr)
    return web.serve(args.host, args.port, _app_args(args), args.public_url, max_tabs=args.max_tabs)
