package router

import (
	"testing"
)

// TestHashVectors pins the routing function: changing it would send existing
// keys to shards that do not hold them. The first three hashes are the
// published FNV-1a test vectors; all were computed independently of Go's
// hash/fnv.
func TestHashVectors(t *testing.T) {
	tests := []struct {
		key    string
		hash   uint32
		shard2 int
		shard3 int
	}{
		{"", 0x811c9dc5, 1, 1},
		{"a", 0xe40c292c, 0, 1},
		{"foobar", 0xbf9cf968, 0, 1},
		{"batman", 0xf99adadc, 0, 1},
		{"robin", 0xe81a69fb, 1, 2},
		{"user1", 0xa07d2cf9, 1, 2},
		{"user2", 0x9d7d2840, 0, 2},
		{"clave", 0xb54954b0, 0, 1},
		{"superman", 0xa3a1cb40, 0, 0},
		{"joker", 0xc98c2ddc, 0, 0},
		{"ñandú", 0xb48f3ccb, 1, 1},
		{"a/b", 0x3a8e75c1, 1, 0},
		{"hello world", 0xd58b3fa7, 1, 0},
		{"100%", 0x2f97df3b, 1, 0},
		{"0", 0x350ca8af, 1, 0},
		{"key-199", 0x0df7e6bc, 0, 0},
	}
	for _, tt := range tests {
		if got := Hash(tt.key); got != tt.hash {
			t.Errorf("Hash(%q) = %#x, want %#x", tt.key, got, tt.hash)
		}
		if got := ShardOf(tt.key, 2); got != tt.shard2 {
			t.Errorf("ShardOf(%q, 2) = %d, want %d", tt.key, got, tt.shard2)
		}
		if got := ShardOf(tt.key, 3); got != tt.shard3 {
			t.Errorf("ShardOf(%q, 3) = %d, want %d", tt.key, got, tt.shard3)
		}
	}
}
