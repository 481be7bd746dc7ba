package diskfault

import (
	"testing"

	"github.com/kvraft/hraftd/internal/cluster"
)

func TestMain(m *testing.M) { cluster.Main(m) }
