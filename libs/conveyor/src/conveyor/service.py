"""The common start-up and shutdown path of the three services' ``__main__``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from conveyor._version import __version__
from conveyor.errors import ConfigurationError, RedisUnavailableError, StartupError
from conveyor.logging import configure_logging
from conveyor.settings import LogSettings, load_settings

log = structlog.get_logger(__name__)

EXIT_CONFIG = 2
# Redis could not be reached at start: a supervisor may restart the service later.
EXIT_UNAVAILABLE = 1
EXIT_STARTUP = 3

# Young-generation threshold of the cyclic GC while serving. A worker's task or a
# 1000-task ingest batch allocates many short-lived containers that stay alive until
# its commit or answer: at the default (700) collections run every few tasks (dozens
# of times per batch), walking the in-flight objects and promoting them - about 15%
# of a worker's CPU.
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Freeze start-up objects out of the GC's reach and collect the young generation less often.

    Call once, after imports and settings, before serving. No full collection first:
    after the imports it finds nothing to free (0 objects in the worker) and walking
    every object costs about a tenth of the start-up time.
    """
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def command_line(name: str, description: str) -> argparse.ArgumentParser:
    """The argument parser of ``conveyor-<name>``: ``--help`` and ``--version``.

    A service is configured by environment variables only, so it takes no options
    of its own. Parse the arguments before anything else: ``--help``, ``--version``
    and a mistyped argument (usage line, exit code 2) then never reach Redis.
    """
    parser = argparse.ArgumentParser(
        prog=f"conveyor-{name}",
        description=description,
        epilog=(
            f"Settings are environment variables (CONVEYOR_*, CONVEYOR_{name.upper()}_*): "
            "see the Configuration table in README.md. Stop with SIGTERM or Ctrl-C."
        ),
    )
    parser.add_argument(
        # All packages share one version source, conveyor._version (importlib.metadata
        # would cost ~15 ms of every start).
        "-V",
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
    )
    return parser


def run_service(name: str, serve: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> int:
    """Run ``serve(stop)`` until it returns; SIGTERM/SIGINT set ``stop``.

    Invalid configuration ends the process with exit code 2 and one line on stderr
    that names the variable and what is wrong; a Redis that cannot be reached at
    start ends it with exit code 1 and one line naming the cause and the setting; a
    resource that fails to start (a handler lifespan) with exit code 3 and one line
    naming it.
    """
    try:
        configure_logging(load_settings(LogSettings))
        return asyncio.run(_serve(name, serve))
    except ConfigurationError as exc:
        print(f"conveyor-{name}: {exc}", file=sys.stderr)  # noqa: T201 - the one error line
        return EXIT_CONFIG
    except RedisUnavailableError as exc:
        print(  # noqa: T201 - the one error line
            f"conveyor-{name}: {exc} (check CONVEYOR_REDIS_URL and the CONVEYOR_REDIS_* settings)",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    except StartupError as exc:
        print(f"conveyor-{name}: {exc}", file=sys.stderr)  # noqa: T201 - the one error line
        return EXIT_STARTUP


async def _serve(name: str, serve: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("service_started", service=name)
    await serve(stop)
    log.info("service_stopped", service=name)
    return 0
