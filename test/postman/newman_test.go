package postman

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

func TestMain(m *testing.M) { cluster.Main(m) }

const collection = "hraftd.postman_collection.json"

func TestNewmanCollection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	newman, err := exec.LookPath("newman")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("newman is not installed, and CI is set: run scripts/ci-deps.sh (npm install -g newman)")
		}
		t.Skip("newman is not installed (npm install -g newman, or scripts/ci-deps.sh); skipping the Postman collection")
	}
	cfg := cluster.DefaultConfig()
	cfg.DistributorArgs = []string{"-poll", "250ms"}
	c := cluster.NewTest(t, cfg)

	args := []string{"run", collection,
		"--env-var", "dist=" + c.Dist.URL(),
		// node0 is a fine target whether it leads or not: a follower
		// forwards writes and linearizable reads to its leader.
		"--env-var", "node=" + c.Shards[0][0].URL(),
		"--timeout-request", "15000",
		"--bail", "failure",
		"--color", "off",
		"--disable-unicode",
		"--reporters", "cli,junit",
		"--reporter-junit-export", filepath.Join(artifactsDir(t), "newman-junit.xml"),
	}
	if sec := c.Security; sec != nil { // HRAFTD_TEST_SECURE=1
		args = append(args, "--ssl-extra-ca-certs", sec.CAFile,
			"--env-var", "username="+sec.Admin.Name, "--env-var", "password="+sec.Admin.Password)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, newman, args...)
	out, err := cmd.CombinedOutput()
	t.Logf("newman %v\n%s", args, out)
	if err != nil {
		t.Fatalf("newman failed: %v", err)
	}
}

// artifactsDir is $ARTIFACTS_DIR, else artifacts/ at the repo root
// (gitignored).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		// The test runs in test/postman.
		abs, err := filepath.Abs(filepath.Join("..", "..", "artifacts"))
		if err != nil {
			t.Fatal(err)
		}
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
