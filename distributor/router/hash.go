package router

import "hash/fnv"

// Hash is the 32-bit FNV-1a hash of key's UTF-8 bytes: the number a key's
// shard is derived from. It is exported so that GET /shard/{clave} can show
// a user the whole computation, and so that any client can predict routing.
func Hash(key string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key)) // a hash.Hash never returns an error
	return h.Sum32()
}

// ShardOf maps key to a shard index in [0, n): fnv32a(key) % n. Every
// distributor computes the same answer from the key alone, which is why
// several of them can run side by side without sharing state. Changing n
// moves most keys to another shard; nothing migrates them, so the shard list
// of a running system must not change.
func ShardOf(key string, n int) int {
	if n <= 0 {
		panic("router: ShardOf needs at least one shard")
	}
	return int(Hash(key) % uint32(n))
}
