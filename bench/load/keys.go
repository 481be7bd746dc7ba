package load

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// Keys are built by appending into a worker's reused buffer: on a 2-core box
// the load generator competes with the servers it measures, so every
// allocation it saves is CPU the servers get.

// AppendWriteKey appends the key that worker writes on its seq-th request:
// prefix-w<worker>-<seq>. Worker and sequence are digit runs split by '-',
// so no two (worker, seq) pairs give the same key, and every write of a run
// creates a new key rather than overwriting one.
func AppendWriteKey(dst []byte, prefix string, worker int, seq uint64) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, "-w"...)
	dst = strconv.AppendInt(dst, int64(worker), 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, seq, 10)
}

// AppendReadKey appends the i-th preloaded key, prefix-k<i>. The 'k' keeps
// read keys apart from every write key of the same prefix.
func AppendReadKey(dst []byte, prefix string, i int) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, "-k"...)
	return strconv.AppendInt(dst, int64(i), 10)
}

// Value returns the value every write sends: size bytes of a fixed
// lower-case pattern. It is the same for every request so that its cost is
// paid once, and JSON-safe so bodies need no escaping.
func Value(size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	return v
}

// validPrefix reports whether a key prefix is safe to splice into JSON
// bodies and URL paths unescaped: letters, digits, '.', '_' and '-'.
func validPrefix(p string) error {
	if p == "" {
		return fmt.Errorf("key prefix is empty")
	}
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("key prefix %q: use only letters, digits, '.', '_' and '-'", p)
		}
	}
	return nil
}

// picker chooses each request's operation and read key for one worker,
// from its own deterministic stream: the same seed and worker give the
// same sequence, which makes runs comparable and the generator testable.
type picker struct {
	rng          *rand.Rand
	keys         int
	readFraction float64 // 0: all writes; 1: all reads
}

func newPicker(seed uint64, worker, keys int, readFraction float64) *picker {
	return &picker{
		rng:          rand.New(rand.NewPCG(seed, uint64(worker))),
		keys:         keys,
		readFraction: readFraction,
	}
}

// next returns whether the next request reads, and if so which key index.
func (p *picker) next() (read bool, key int) {
	switch {
	case p.readFraction <= 0:
		return false, 0
	case p.readFraction >= 1:
		return true, p.rng.IntN(p.keys)
	}
	if p.rng.Float64() < p.readFraction {
		return true, p.rng.IntN(p.keys)
	}
	return false, 0
}
