// Package postman holds the Postman collection (hraftd.postman_collection.json)
// and the test that runs it with newman against the real cluster that
// internal/cluster starts: both binaries, 2×3 nodes and a distributor on
// free 127.0.0.1 ports. The JUnit report goes to artifacts/ at the
// repository's root, or $ARTIFACTS_DIR.
//
// newman comes from npm (scripts/ci-deps.sh installs it). Without it the
// test skips, unless CI is set, where a missing newman is a failure. It is
// skipped under -short.
package postman
