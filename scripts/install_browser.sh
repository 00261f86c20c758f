#!/usr/bin/env bash
# Install what the dashboard's end-to-end test drives: Debian's chromium and chromium-driver.
# Runs only when they are missing; installs only as root with apt-get (a developer machine
# without root keeps going: the end-to-end test then skips with its reason, the rest runs).
set -uo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: chromium/chromedriver missing and not root with apt-get: the dashboard's browser test will skip" >&2
  exit 0
fi
echo "installing chromium and chromium-driver (apt) for the dashboard's browser test" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
  echo "warning: could not install chromium: the dashboard's browser test will skip" >&2
fi
exit 0
