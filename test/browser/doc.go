// Package browser tests the distributor's dashboard in a real browser:
// headless Chromium driven by chromedp, against the real cluster that
// internal/cluster starts (both binaries, 2×3 nodes and a distributor on
// free 127.0.0.1 ports). Screenshots go to artifacts/ at the repository's
// root, or $ARTIFACTS_DIR.
//
// It needs the Debian packages chromium and chromium-driver
// (scripts/ci-deps.sh installs them). Without Chromium the test skips,
// unless CI is set, where a missing browser is a failure: CI must not go
// green by silently testing nothing. It is skipped under -short.
package browser
