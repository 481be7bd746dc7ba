#!/usr/bin/env bash
# ci-deps.sh: installs what the tests need beyond Go: Chromium for the
# dashboard's browser test (test/browser), newman for the Postman
# collection (test/postman), and wrk for the bench tool's wrk engine
# (bench/load). Idempotent, and quick when all are already there. Run as
# root (CI is); uses apt-get and npm only.

set -euo pipefail

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
# chromium-driver is not used by chromedp (it speaks the DevTools protocol
# directly) but is part of the packaged browser setup the issue names, and
# keeps a WebDriver-based tool usable on the same machine.
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v npm >/dev/null || need_apt+=(npm)
command -v wrk >/dev/null || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "ci-deps: apt-get install ${need_apt[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v newman >/dev/null; then
	echo "ci-deps: npm install -g newman@$(npm view newman version)"
	npm install -g --no-audit --no-fund newman >/dev/null
fi

echo "ci-deps: $(chromium --version 2>/dev/null | head -1); newman $(newman --version); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
