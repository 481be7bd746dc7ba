package main

import (
	"slices"
	"testing"

	"github.com/kvraft/hraftd/bench/suite"
)

func planIDs(plan []suite.Workload) []string {
	var ids []string
	for _, w := range plan {
		ids = append(ids, w.ID)
	}
	return ids
}

func TestSelectPlan(t *testing.T) {
	for _, tc := range []struct {
		only string
		want []string
	}{
		// The default is the standard matrix, without diagnostics.
		{"", []string{suite.DistSet, suite.NodeSet, suite.DistGetLin, suite.NodeGetNone, suite.Hello}},
		// Standard order whatever the order asked; diagnostics after.
		{"hello, node-set", []string{suite.NodeSet, suite.Hello}},
		{"dist1-set,node-set,dist-set", []string{suite.DistSet, suite.NodeSet, suite.DistSetOneShard}},
	} {
		plan, err := selectPlan(tc.only)
		if err != nil {
			t.Fatalf("selectPlan(%q): %v", tc.only, err)
		}
		if got := planIDs(plan); !slices.Equal(got, tc.want) {
			t.Errorf("selectPlan(%q) = %v, want %v", tc.only, got, tc.want)
		}
	}
	if _, err := selectPlan("dist-set,nope"); err == nil {
		t.Error("selectPlan accepted an unknown workload")
	}
}
