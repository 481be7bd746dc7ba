package freeport

import "testing"

func TestPortsDistinct(t *testing.T) {
	ports, err := Ports(14)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: %d is invalid or repeated", ports, p)
		}
		seen[p] = true
	}
	if got := Addr(11000); got != "127.0.0.1:11000" {
		t.Errorf("Addr = %q", got)
	}
}
