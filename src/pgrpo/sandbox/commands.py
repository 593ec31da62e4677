"""`pgrpo sandbox serve`'s command line (arguments -> SandboxConfig -> service.serve); imports nothing heavy.
Its guards and what it does NOT protect against: pgrpo.sandbox.service."""

from __future__ import annotations

import argparse
import os

from pgrpo.commands import Runner, command
from pgrpo.errors import PgrpoError
from pgrpo.sandbox.cli_args import add_sandbox_arguments, sandbox_config_from_args


@command("sandbox serve", help="Serve the sandbox over HTTP (one pool for every rank of a node; bwrap host)")
def configure_serve(parser: argparse.ArgumentParser) -> Runner:
    from pgrpo.sandbox import wire  # the service's defaults and token variable (light: no fastapi)

    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; anything else requires a token)")
    parser.add_argument("--port", type=int, default=wire.DEFAULT_PORT, help="port (0: a free one, printed at start)")
    parser.add_argument("--token", default=None,
                        help=f"shared bearer token clients must send (default: env {wire.TOKEN_ENV}; prefer the env "
                             "var: a command-line token is visible in ps)")
    parser.add_argument("--max-jobs", type=int, default=wire.DEFAULT_MAX_JOBS, help="most jobs one request may carry")
    parser.add_argument("--max-body-mb", type=float, default=wire.DEFAULT_MAX_BODY_BYTES / (1 << 20),
                        help="largest request body in MiB")
    add_sandbox_arguments(parser, short_flags=True)
    parser.epilog = ("The --sandbox-* limits are the most a request may ask for; each request carries its "
                     "client's limits. Clients: `sandbox.url` in a recipe, or --sandbox-url for evaluate/check.")

    def run(args: argparse.Namespace) -> int:
        from pgrpo.sandbox.service import serve

        config = sandbox_config_from_args(args)
        if config.urls:
            raise PgrpoError("--sandbox-url: a sandbox service runs its own pool; it does not forward to another")
        if args.max_jobs < 1 or args.max_body_mb <= 0:
            raise PgrpoError("--max-jobs / --max-body-mb: must be positive")
        token = args.token if args.token is not None else os.environ.get(wire.TOKEN_ENV) or None
        serve(config, host=args.host, port=args.port, token=token, max_jobs=args.max_jobs,
              max_body_bytes=int(args.max_body_mb * (1 << 20)))
        return 0

    return run
