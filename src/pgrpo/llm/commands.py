"""`pgrpo serve`: serve a local HF model over the OpenAI chat-completions protocol."""

from __future__ import annotations

import argparse
import sys

from pgrpo.commands import Runner, command
from pgrpo.errors import PgrpoError


@command("serve", help="Serve a local model with the OpenAI chat-completions API (POST /v1/chat/completions)")
def configure_serve(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--model", required=True, help="path of a local transformers causal LM")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--served-name", default=None, help="model id reported by /v1/models")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")

    def run(args: argparse.Namespace) -> int:
        from pgrpo.llm import make_backend
        from pgrpo.llm.server import ChatServer

        backend = make_backend("hf", args.model, device=args.device, dtype=args.dtype,
                               max_batch_size=args.max_batch_size)
        try:
            server = ChatServer(backend, args.host, args.port, model_name=args.served_name, verbose=args.verbose)
        except OSError as exc:
            raise PgrpoError(f"serve: cannot listen on {args.host}:{args.port}: {exc}") from exc
        print(f"pgrpo serve: {server.model_name} at {server.base_url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        server.serve_forever()
        return 0

    return run
