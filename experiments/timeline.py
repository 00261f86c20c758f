"""``viralchain timeline``: print the whole timeline of a run (nothing is simulated)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

EPILOG = """\
examples:
  viralchain timeline                                  # the default story and setup
  viralchain timeline story=head_kol_livestream setup=flexible
"""


def cmd_timeline(args: argparse.Namespace) -> int:
    """Compose and validate the config, build the world, print its timeline."""
    from experiments.compose import compose_dict
    from sim.config import validate
    from sim.errors import ConfigError
    from sim.timeline import timeline

    try:
        cfg = validate(compose_dict(None, list(args.overrides)))
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"viralchain: {line}", file=sys.stderr)
        return 2
    print(f"{cfg.meta.story} — {cfg.meta.setup} setup")
    print(timeline(cfg, seed=cfg.seed).render())
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``viralchain timeline``."""
    p = subparsers.add_parser(
        "timeline",
        help="print a run's timeline: the phases of every hour and every registered schedule",
        description=(
            "Build the world of a story and setup (nothing is simulated) and print its "
            "timeline: the work of every hour in phase order, the recurring schedules "
            "(reviews, cut-offs, material reviews) and the planned events (content calendar, "
            "disruptions, policy plans). The Python call is sim.timeline(config)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.set_defaults(func=cmd_timeline)
