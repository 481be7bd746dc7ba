package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// The hraftd and distributor packages, relative to the module root.
const (
	PkgHraftd      = "."
	PkgDistributor = "./distributor"
)

// builds caches what Build made in this process.
var builds struct {
	sync.Mutex
	dir   string            // made on the first build; RemoveBuilds deletes it
	paths map[string]string // package -> binary
	main  bool              // Main is in charge of removing dir
}

// moduleRoot returns the directory of the go.mod that the current
// directory belongs to, so that a tool run from anywhere inside the
// repository builds the right tree.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the hraftd repository")
	}
	return filepath.Dir(gomod), nil
}

// Build compiles the main package pkg of this module (PkgHraftd,
// PkgDistributor, "./bench") and returns the binary's path. It builds each
// package once per process: later calls return the same binary. Building
// from source means a run always tests the code in the tree, never a stale
// binary; the Go build cache makes it quick after the first time. The
// error carries the compiler's output.
func Build(ctx context.Context, pkg string) (string, error) {
	builds.Lock()
	defer builds.Unlock()
	if p, ok := builds.paths[pkg]; ok {
		return p, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	if builds.dir == "" {
		if builds.dir, err = os.MkdirTemp("", "hraftd-bin-"); err != nil {
			return "", err
		}
		builds.paths = map[string]string{}
	}
	name := path.Base(pkg)
	if pkg == PkgHraftd {
		name = "hraftd"
	}
	out := filepath.Join(builds.dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, strings.TrimSpace(buf.String()))
	}
	builds.paths[pkg] = out
	return out, nil
}

// RemoveBuilds deletes every binary Build made; the next Build builds
// again. A tool defers it; a test package calls Main, which does.
func RemoveBuilds() {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	builds.dir, builds.paths = "", nil
}
