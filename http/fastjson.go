package httpd

import (
	"slices"

	"github.com/kvraft/hraftd/internal/jsonenc"
)

// The two read answers are encoded by hand: they are the answers a node
// gives most, and encoding them through reflection costs more than the
// lookups they report (BenchmarkGetNone).

// appendKeyValue appends the answer to GET /key/{k}, {"key":"value"}.
func appendKeyValue(b []byte, key, value string) []byte {
	b = append(b, '{')
	b = jsonenc.AppendString(b, key)
	b = append(b, ':')
	b = jsonenc.AppendString(b, value)
	return append(b, '}', '\n')
}

// appendReadResponse appends an api.ReadResponse, each key once: a batch
// of many keys would otherwise go through reflection twice per request on
// the path the distributor's reads all take.
func appendReadResponse(b []byte, keys []string, values map[string]string) []byte {
	n := 32
	for _, k := range keys {
		n += 2*len(k) + 16
	}
	for _, v := range values {
		n += len(v) + 4
	}
	b = slices.Grow(b, n)
	b = append(b, `{"values":{`...)
	b = jsonenc.AppendMembers(b, values)
	b = append(b, `},"found":{`...)
	var seen map[string]struct{}
	if len(keys) > 1 {
		seen = make(map[string]struct{}, len(keys))
	}
	first := true
	for _, k := range keys {
		if seen != nil {
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonenc.AppendString(b, k)
		if _, ok := values[k]; ok {
			b = append(b, ":true"...)
		} else {
			b = append(b, ":false"...)
		}
	}
	return append(b, '}', '}', '\n')
}
