package router

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no shards", func(c *Config) { c.Shards = nil }, "no shards"},
		{"empty shard", func(c *Config) { c.Shards = [][]string{{"127.0.0.1:1"}, {}} }, "shard 1 has no nodes"},
		{"scheme", func(c *Config) { c.Shards = [][]string{{"http://127.0.0.1:1"}} }, "not host:port"},
		{"no port", func(c *Config) { c.Shards = [][]string{{"127.0.0.1"}} }, "not host:port"},
		{"bad port", func(c *Config) { c.Shards = [][]string{{"127.0.0.1:http"}} }, "not host:port"},
		{"duplicate", func(c *Config) { c.Shards = [][]string{{"127.0.0.1:1"}, {"127.0.0.1:1"}} }, "listed in shard 0 and again in shard 1"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "Timeout must be positive"},
		{"backoff", func(c *Config) { c.RetryMax = c.RetryMin / 2 }, "RetryMax"},
		{"conns", func(c *Config) { c.MaxIdleConnsPerNode = 0 }, "MaxIdleConnsPerNode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			if _, err := New(c); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}
