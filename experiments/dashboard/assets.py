"""The browser-side files of the dashboard, installed from the npm registry for offline use.

A Solara page loads its JavaScript and CSS (the Vuetify app, RequireJS, Font Awesome) from a
CDN, through the Solara server's cache (``<venv>/share/solara/cdn``). Where the machine has no
route to that CDN (a workshop room behind a firewall, CI), the page stays blank. This module
reads which npm packages the installed Solara's page template asks for, adds the Vega
libraries that Solara's chart widget (``solara.widgets.VegaLite``, used for the dashboard's
charts) loads by major version, fetches each once with ``npm pack`` (the npm registry's own
client) at a pinned version and unpacks it into that cache, so the server never needs the CDN.

Run ``python -m experiments.dashboard.assets`` (``make`` does it when it sets up ``.venv``);
``viralchain dashboard`` does it too when something is missing.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_CDN_REF = re.compile(r"\{\{\s*cdn\s*\}\}/((?:@[\w.-]+/)?[\w.-]+@\d+\.\d+\.\d+)/")
MARKER = ".viralchain-complete"
# Solara's VegaLite widget asks the CDN for these by major version (``vega@5/build/...``): the
# cache folder keeps that name, the files come from one pinned release of each
VEGA_PACKAGES = {
    "vega@5": "vega@5.33.1",
    "vega-lite@5": "vega-lite@5.23.0",
    "vega-embed@6": "vega-embed@6.29.0",
}


def cache_dir() -> Path:
    """Where the Solara server looks for CDN files before fetching them."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def required_packages() -> list[str]:
    """``name@version`` of every npm package the installed Solara's page loads from the CDN."""
    import solara.server
    from solara.server import settings

    template = Path(solara.server.__file__).parent / "templates" / "solara.html.j2"
    found = set(_CDN_REF.findall(template.read_text(encoding="utf-8")))
    fa = settings.assets.fontawesome_path.strip("/").split("/", 1)[0]
    if settings.assets.fontawesome_enabled and "@" in fa:
        found.add(fa)
    return sorted(found | set(VEGA_PACKAGES))


def missing(cache: Path | None = None) -> list[str]:
    """The required packages not yet unpacked in the cache."""
    cache = cache or cache_dir()
    return [p for p in required_packages() if not (cache / p / MARKER).exists()]


def install(packages: list[str], cache: Path | None = None, npm: str | None = None) -> list[str]:
    """Fetch ``packages`` with ``npm pack`` and unpack them into the cache.

    Returns:
        the packages that could not be installed (empty when all went well).
    """
    cache = cache or cache_dir()
    npm = npm or shutil.which("npm")
    if not npm:
        log.warning("npm not found: cannot install %s", ", ".join(packages))
        return list(packages)
    failed = []
    for pkg in packages:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [npm, "pack", "--silent", "--pack-destination", tmp, VEGA_PACKAGES.get(pkg, pkg)],
                capture_output=True,
                text=True,
                timeout=600,
            )
            tarballs = list(Path(tmp).glob("*.tgz"))
            if proc.returncode != 0 or not tarballs:
                log.warning("npm pack %s failed: %s", pkg, proc.stderr.strip()[-500:])
                failed.append(pkg)
                continue
            _unpack(tarballs[0], cache / pkg)
    return failed


def _unpack(tarball: Path, dest: Path) -> None:
    """Unpack an npm tarball's ``package/`` folder into ``dest`` (atomically, then mark it)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                if not (member.isfile() or member.isdir()):
                    continue
                name = member.name.split("/", 1)[1] if "/" in member.name else ""
                if not name:
                    continue
                member.name = name
                tar.extract(member, staging, filter="data")
        (staging / MARKER).write_text(tarball.name + "\n", encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        staging.replace(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def ensure(quiet: bool = False) -> list[str]:
    """Install whatever is missing; returns what is still missing."""
    todo = missing()
    if not todo:
        return []
    if not quiet:
        print(f"installing the dashboard's browser files: {', '.join(todo)}", file=sys.stderr)
    install(todo)
    return missing()


def main(argv: list[str] | None = None) -> int:
    """``python -m experiments.dashboard.assets``: install the browser files (exit 1 if not)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--list", action="store_true", help="only list the packages and their state")
    args = p.parse_args(argv)
    if args.list:
        absent = set(missing())
        for pkg in required_packages():
            print(f"{pkg:<45} {'missing' if pkg in absent else 'installed'}")
        return 0
    left = ensure(quiet=args.quiet)
    if left:
        print(
            "could not install "
            + ", ".join(left)
            + f" into {cache_dir()}: the dashboard will need the CDN (internet) in the browser",
            file=sys.stderr,
        )
        return 1
    if not args.quiet:
        print(f"dashboard browser files ready in {cache_dir()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
