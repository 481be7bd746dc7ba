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
		only    string
		want    []string
		wantTLS bool
	}{
		// The default is the standard matrix, without diagnostics.
		{"", []string{suite.DistSet, suite.NodeSet, suite.DistGetLin, suite.NodeGetNone, suite.Hello}, false},
		// Standard order whatever the order asked; diagnostics after.
		{"hello, node-set", []string{suite.NodeSet, suite.Hello}, false},
		{"dist1-set,node-set,dist-set", []string{suite.DistSet, suite.NodeSet, suite.DistSetOneShard}, false},
		// The TLS comparison alone, or with some standard rows.
		{"tls", nil, true},
		{"tls,node-set", []string{suite.NodeSet}, true},
	} {
		plan, withTLS, err := selectPlan(tc.only)
		if err != nil {
			t.Fatalf("selectPlan(%q): %v", tc.only, err)
		}
		if got := planIDs(plan); !slices.Equal(got, tc.want) || withTLS != tc.wantTLS {
			t.Errorf("selectPlan(%q) = %v, TLS %v; want %v, TLS %v", tc.only, got, withTLS, tc.want, tc.wantTLS)
		}
	}
	if _, _, err := selectPlan("dist-set,nope"); err == nil {
		t.Error("selectPlan accepted an unknown workload")
	}
}
