"""``viralchain dashboard``: serve the workshop dashboard (Solara) and print its address.

The start-up choices (story, seed, market size, setups, extra overrides) are validated here,
before anything starts (exit 2 with one line per problem), then handed to the page through
``$VIRALCHAIN_DASHBOARD`` and the Solara server replaces the command's process (same pid,
no child left behind): it serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

EPILOG = """\
examples:
  viralchain dashboard                          http://127.0.0.1:8765, the flagship story
  viralchain dashboard story=head_kol_livestream seed=3 --consumers 20000
  viralchain dashboard --host 0.0.0.0 --port 8080   reachable from the room's network
  viralchain dashboard policy/forecast=exp_smoothing  extra overrides, both sides

Open the printed address in a browser. Ctrl-C stops the server.
"""


def add_parser(subparsers) -> None:
    """Add the ``dashboard`` subcommand."""
    p = subparsers.add_parser(
        "dashboard",
        help="open the workshop dashboard in the browser: rigid vs flexible, live",
        description=(
            "Serve the workshop dashboard: pick a story, run two setups side by side on the "
            "same seed, step, play or jump to the end, pull the levers."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="story=NAME, seed=N, or config overrides applied to both sides",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free one)")
    p.add_argument(
        "--consumers",
        type=int,
        default=10000,
        help="simulated consumers (default 10000: a 45-day comparison runs in seconds)",
    )
    p.add_argument(
        "--setups", default="rigid,flexible", help="left and right setups (default rigid,flexible)"
    )
    p.set_defaults(func=cmd_dashboard)


def settings_from(args: argparse.Namespace) -> dict:
    """The page's start-up settings from the command line (validated by composing both sides).

    Raises:
        sim.ConfigError: a bad story, setup or override.
        ValueError: a malformed option.
    """
    import sim
    from experiments.compose import group_options

    story, seed, base, consumers = None, 0, [], args.consumers
    for o in args.overrides:
        key, sep, value = o.partition("=")
        if not sep:
            raise ValueError(f"invalid override = {o!r}: must be key=value")
        if key == "story":
            story = value
        elif key == "seed":
            if not value.isdigit():
                raise ValueError(f"invalid seed = {value!r}: must be a whole number ≥ 0")
            seed = int(value)
        elif key == "market.n_consumers":
            if not value.isdigit():
                raise ValueError(
                    f"invalid market.n_consumers = {value!r}: must be a whole number ≥ 1"
                )
            consumers = int(value)
        elif key == "setup":
            raise ValueError("invalid override setup=...: use --setups LEFT,RIGHT")
        else:
            base.append(o)
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    if len(setups) != 2:
        raise ValueError(f"invalid --setups = {args.setups!r}: give two, comma-separated")
    if consumers < 1:
        raise ValueError(f"invalid --consumers = {consumers}: must be ≥ 1")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"invalid --port = {args.port}: must be 0-65535")
    if story is None:
        stories = group_options("story")
        story = "head_kol_livestream" if "head_kol_livestream" in stories else stories[0]
    for setup in setups:
        sim.compose(story, [*base, f"market.n_consumers={consumers}", f"setup={setup}"])
    return {
        "story": story,
        "seed": seed,
        "consumers": consumers,
        "setups": setups,
        "base": base,
    }


def free_port(host: str, port: int) -> int:
    """``port`` if it can be bound on ``host`` (any free port when 0).

    Raises:
        OSError: the port is taken or the address is not local.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return int(s.getsockname()[1])


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Validate, then run the Solara server in the foreground."""
    from experiments.cli import EXIT_OK, _error
    from sim.errors import ConfigError

    try:
        settings = settings_from(args)
    except ConfigError as exc:
        return _error(str(exc))
    except ValueError as exc:
        return _error(str(exc))
    try:
        port = free_port(args.host, args.port)
    except OSError as exc:
        return _error(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}): "
            "pick another --port or --host"
        )
    from experiments.dashboard import assets

    absent = assets.ensure()
    if absent:
        print(
            f"viralchain: warning: browser files missing ({', '.join(absent)}): the page will "
            "load them from the CDN, which needs internet access",
            file=sys.stderr,
        )
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{shown_host}:{port}/"
    print(f"viralchain dashboard: {settings['story']}, {' vs '.join(settings['setups'])}")
    print(f"open {url} in a browser (Ctrl-C to stop)", flush=True)
    env = {**os.environ, "VIRALCHAIN_DASHBOARD": json.dumps(settings)}
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    env["SOLARA_THEME_SHOW_BANNER"] = "False"  # its corner badge covered the event log
    cmd = [
        sys.executable,
        "-m",
        "solara",
        "run",
        "experiments.dashboard.app",
        "--host",
        args.host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--log-level",
        "warning",
    ]
    # The server replaces this process (same pid, no child): SIGTERM, SIGINT or Ctrl-C reach
    # the server itself, which shuts down with everything it started. (A child process, as
    # before, survived a SIGTERM sent to the command, still listening on the port.)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, cmd, env)
    except OSError as exc:
        return _error(f"cannot start the Solara server ({exc.strerror or exc})")
    return EXIT_OK  # execve does not return
