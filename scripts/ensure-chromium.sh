#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright; install it when missing.
set -uo pipefail
# The layout tests measure Chinese labels, so a Chinese font must be there as on any phone (fonts-wqy-microhei).
[ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "wqy\|cjk" && exit 0
echo "Chromium or a Chinese font is missing: installing Debian's package 'chromium' for the browser tests..."
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "Cannot install Chromium without root. Run: sudo apt-get install -y chromium" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null || {
  echo "Installing chromium failed; the browser tests need /usr/bin/chromium and a Chinese font." >&2; exit 1; }
echo "Chromium installed: $(/usr/bin/chromium --version 2>/dev/null)"
