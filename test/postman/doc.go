// Package postman holds the Postman collection (hraftd.postman_collection.json)
// and the test that runs it with newman against the real cluster that
// internal/cluster starts: both binaries, 2×3 nodes and a distributor on
// free 127.0.0.1 ports. The JUnit report goes to artifacts/ at the
// repository's root, or $ARTIFACTS_DIR.
//
// newman comes from npm (scripts/ci-deps.sh installs it). Without it the
// test skips, unless CI is set, where a missing newman is a failure. It is
// skipped under -short. Under HRAFTD_TEST_SECURE=1 the cluster is secure,
// and the test gives newman the cluster's CA and the admin's password.
//
// The collection's variables: dist and node are the base URLs (http:// or
// https://); username and password are HTTP Basic credentials for a
// cluster with -auth, sent on every request by the collection-level Basic
// auth. Left empty (the default) no Authorization header is sent at all:
// a pre-request script turns the auth off, because Postman and newman
// would otherwise send empty credentials, which a program with -auth
// refuses with 401 even on routes anonymous users may use. Against
// https:// URLs, Postman and newman must trust the cluster's CA (Postman:
// Settings > Certificates > CA certificates; newman: --ssl-extra-ca-certs
// certs/ca.crt).
package postman
