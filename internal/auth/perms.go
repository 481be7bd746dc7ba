package auth

import (
	"fmt"
	"strings"
)

// Perm is a permission a route needs.
type Perm string

// The permissions. A users file grants them by these names.
const (
	// PermRead: read keys (the node's GET /key, the distributor's reads).
	PermRead Perm = "read"
	// PermWrite: write and delete keys.
	PermWrite Perm = "write"
	// PermAdmin: change membership (join, remove) and the debugging
	// routes (profiles read the process's memory).
	PermAdmin Perm = "admin"
	// PermStatus: status, metrics and the dashboard.
	PermStatus Perm = "status"
	// PermAll: every permission.
	PermAll Perm = "all"
)

// permSet is a set of permissions as bits.
type permSet uint8

var permBits = map[Perm]permSet{
	PermRead:   1 << 0,
	PermWrite:  1 << 1,
	PermAdmin:  1 << 2,
	PermStatus: 1 << 3,
}

const allPerms permSet = 1<<4 - 1

// permOrder lists the permissions in the order messages name them.
var permOrder = []Perm{PermRead, PermWrite, PermAdmin, PermStatus}

func (s permSet) has(p Perm) bool {
	if p == PermAll {
		return s == allPerms
	}
	b, ok := permBits[p]
	return ok && s&b != 0
}

// String lists the permissions, "none" for none.
func (s permSet) String() string {
	if s == allPerms {
		return string(PermAll)
	}
	var names []string
	for _, p := range permOrder {
		if s.has(p) {
			names = append(names, string(p))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// parsePerms reads the "perms" field of an entry.
func parsePerms(names []string) (permSet, error) {
	var s permSet
	for _, n := range names {
		if Perm(n) == PermAll {
			s = allPerms
			continue
		}
		b, ok := permBits[Perm(n)]
		if !ok {
			return 0, fmt.Errorf(`"perms": unknown permission %q; the permissions are read, write, admin, status and all`, n)
		}
		s |= b
	}
	return s, nil
}
