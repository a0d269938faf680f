"""``conveyor-ingest token``: mint a token with the key the API uses.

The key handling and minting live in ``conveyor.tokens`` (shared with the ``conveyor
token`` command); this module keeps the service's command line and re-exports them.
"""

from __future__ import annotations

import argparse
import sys

from conveyor.settings import load_settings
from conveyor.tokens import (
    DEFAULT_TTL_S,
    KEY_FILE_SETTING,
    command_token,
    ensure_dev_key,
    find_key_file,
    mint_token,
    signing_secret,
)
from conveyor_ingest.settings import IngestSettings

__all__ = [
    "DEFAULT_TTL_S",
    "KEY_FILE_SETTING",
    "ensure_dev_key",
    "find_key_file",
    "mint_token",
    "signing_secret",
    "token_command",
]


def token_command(argv: list[str]) -> int:
    """``conveyor-ingest token --sub NAME --scope "tasks:write tasks:read"``: print a token."""
    parser = argparse.ArgumentParser(prog="conveyor-ingest token")
    parser.add_argument("--sub", required=True, help="the client's name (JWT sub)")
    parser.add_argument("--scope", default="tasks:write tasks:read", help="space-separated")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_S, help="seconds (default 24 h)")
    args = parser.parse_args(argv)
    settings = load_settings(IngestSettings)
    try:
        token = command_token(settings, "conveyor-ingest token", args.sub, args.scope, args.ttl)
    except ValueError as exc:
        parser.error(str(exc))
    sys.stdout.write(token + "\n")
    return 0
