#!/bin/sh
# The browser tests (tests/browser/) drive Debian's Chromium at /usr/bin/chromium through Playwright,
# which cannot download a browser of its own here. Used by `make test` and `.ci/run`:
# nothing to do when it is there; installed with apt-get when we are root (or have password-less
# sudo); otherwise stop at once with the exact command to run.
set -eu

[ -x /usr/bin/chromium ] && exit 0

CMD="apt-get update && apt-get install -y chromium"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "The browser tests need Chromium at /usr/bin/chromium (Debian's package 'chromium'), and this" >&2
  echo "system has no apt-get. Install Chromium there, or run the other tests: make test PYTEST_ARGS='-m \"not browser\"'" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo"
else
  echo "The browser tests need Debian's chromium (/usr/bin/chromium is missing). Install it with:" >&2
  echo "  sudo sh -c '$CMD'" >&2
  exit 1
fi
echo "Installing Debian's chromium for the browser tests (apt-get, about a minute) ..."
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "apt-get ran but /usr/bin/chromium is still missing" >&2; exit 1; }
