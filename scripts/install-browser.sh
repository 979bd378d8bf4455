#!/usr/bin/env bash
# Install the browser the page tests (tests/browser) drive: Debian's Chromium, at
# /usr/bin/chromium. Idempotent: does nothing when it is already there. Playwright itself
# comes from pip (the dev extra) and drives this system browser; never run
# `playwright install`, which downloads a browser of its own.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "==> Chromium is installed: /usr/bin/chromium"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "!!! apt-get not found: install Chromium with your package manager, then point" >&2
    echo "!!! TEKCIFY_CHROMIUM at its executable." >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "==> installing Chromium from Debian packages"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium >/dev/null
echo "==> installed: /usr/bin/chromium"
