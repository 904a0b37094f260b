"""``python -m zoomdream serve``: the web page on this machine, served by uvicorn."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from zoomdream.errors import ConfigError
from zoomdream.io import lock

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def default_jobs_dir() -> Path:
    """$XDG_DATA_HOME/zoomdream/jobs (~/.local/share/zoomdream/jobs): jobs outlive the server."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "zoomdream" / "jobs"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m zoomdream serve",
        description="Serve zoomdream's web page on this machine: drop a picture (or start from noise), pick a "
        "preset, a layer or a class, and watch it dream. Jobs run one at a time and survive a restart.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--jobs-dir", metavar="DIR", type=Path, help=f"where jobs and results are kept (default {default_jobs_dir()})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        print(f"zoomdream: error: --port must be 1..65535, got {args.port}", file=sys.stderr)
        return 2
    import uvicorn

    from zoomdream.web.app import create_app

    jobs_dir = args.jobs_dir or default_jobs_dir()
    try:
        app = create_app(jobs_dir)
    except OSError as exc:
        print(f"zoomdream: error: --jobs-dir {str(jobs_dir)!r}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    problem = _cannot_listen(args.host, args.port)
    if problem:
        print(f"zoomdream: error: cannot listen on {args.host}:{args.port}: {problem}", file=sys.stderr)
        return 2
    if args.host not in LOCAL_HOSTS:
        print(f"zoomdream: warning: --host {args.host} lets other machines reach this server, which has no login; "
              "anyone who can reach it can queue renders", file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    # One server per jobs folder: a second would take the same queued jobs.
    try:
        with lock.output_lock(Path(jobs_dir) / "server"):
            print(f"zoomdream: serving the page at http://{shown}:{args.port}/ (jobs in {jobs_dir}; Ctrl-C stops)",
                  flush=True)
            uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    except ConfigError:
        print(f"zoomdream: error: --jobs-dir {str(jobs_dir)!r} is served by another zoomdream already; stop it, "
              "or give this one another --jobs-dir", file=sys.stderr)
        return 2
    return 0


def _cannot_listen(host: str, port: int) -> str | None:
    """Why this address cannot be listened on (in use, unknown host...), or None: said in
    one line here rather than in the server's log."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
