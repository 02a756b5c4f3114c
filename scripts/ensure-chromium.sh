#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright; install it when missing.
set -uo pipefail
[ -x /usr/bin/chromium ] && exit 0
echo "Chromium is missing: installing Debian's package 'chromium' for the browser tests..."
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "Cannot install Chromium without root. Run: sudo apt-get install -y chromium" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null || {
  echo "Installing chromium failed; the browser tests need /usr/bin/chromium." >&2; exit 1; }
echo "Chromium installed: $(/usr/bin/chromium --version 2>/dev/null)"
