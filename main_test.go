package main

import (
	"fmt"
	"net"
	"testing"
)

// The start-up log names the address others reach the node at, and the
// listen address only where it differs.
func TestStartedAttrs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      options
		listen string
		want   string
	}{
		{
			name:   "listen on all interfaces, advertise one",
			o:      options{haddr: ":11002", hadv: "127.0.0.1:11002", raddr: ":12002", radv: "127.0.0.1:12002", dataDir: "d"},
			listen: "[::]:11002",
			want:   "[http 127.0.0.1:11002 http_listen [::]:11002 raft 127.0.0.1:12002 raft_listen :12002 data_dir d recovered true]",
		},
		{
			name:   "the same addresses",
			o:      options{haddr: "127.0.0.1:11000", hadv: "127.0.0.1:11000", raddr: "127.0.0.1:12000", radv: "127.0.0.1:12000", dataDir: "d"},
			listen: "127.0.0.1:11000",
			want:   "[http 127.0.0.1:11000 raft 127.0.0.1:12000 data_dir d recovered true]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listen, err := net.ResolveTCPAddr("tcp", tc.listen)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(startedAttrs(&tc.o, listen, true)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
