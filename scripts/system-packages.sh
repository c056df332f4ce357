#!/usr/bin/env bash
# The Debian packages the tests need, in one list that both `.ci/run` and `npm test` use, so that
# `npm ci && npm test` on a fresh Debian machine either installs them or says how, before any test
# runs. Not an installer for other systems: without dpkg-query it only says what it needs.
#
#   nothing missing            → silent, exit 0 (a few dpkg-query calls)
#   missing, root with apt-get → apt-get update && apt-get install -y <missing> (what CI does)
#   missing, otherwise         → the one command that installs them, on stderr; exit 1
#
# Only bash builtins besides dpkg-query, id and apt-get, so scripts/system-packages.test.ts can put
# fakes of those three first on PATH and check each decision.
set -euo pipefail

# chromium, firefox-esr: browser tests (Debian's builds; no browser is downloaded; Firefox is
# driven by puppeteer-core over WebDriver BiDi). CHROMIUM_PATH / FIREFOX_PATH pointing at an
# executable stand in for the package (tests/e2e/browser.ts reads the same variables).
# python3-torch + libopenblas0-pthread + python3-numpy: the PyTorch reference and baseline
# (without OpenBLAS, torch silently falls back to reference BLAS).
APT_PACKAGES=(chromium firefox-esr python3-torch libopenblas0-pthread python3-numpy)

needed=()
for pkg in "${APT_PACKAGES[@]}"; do
  if [[ $pkg == chromium && -n ${CHROMIUM_PATH:-} && -x $CHROMIUM_PATH ]]; then continue; fi
  if [[ $pkg == firefox-esr && -n ${FIREFOX_PATH:-} && -x $FIREFOX_PATH ]]; then continue; fi
  needed+=("$pkg")
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "The tests need these Debian packages (or equivalents): ${needed[*]}." >&2
  echo "This system has no dpkg-query to check them; run single files with npx vitest run." >&2
  exit 1
fi

missing=()
for pkg in "${needed[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == 'install ok installed' ]] || missing+=("$pkg")
done
((${#missing[@]})) || exit 0

if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing the system packages the tests need: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y "${missing[@]}"
  exit 0
fi

echo "The tests need system packages that are not installed: ${missing[*]}." >&2
echo "Install them with:" >&2
echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
exit 1
