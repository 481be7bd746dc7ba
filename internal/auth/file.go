package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// The bcrypt costs a users file may use. Below MinCost bcrypt itself
// refuses; above maxCost one uncached check takes over a second of CPU,
// which turns every wrong password into a cheap denial of service.
const (
	maxCost = 14
	// weakCost is the cost below which loading warns: bcrypt's default,
	// about 50-100 ms per check on a server core.
	weakCost = bcrypt.DefaultCost
)

// entry is one element of the users file, as written.
type entry struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Perms    []string `json:"perms"`
}

// user is one validated entry.
type user struct {
	name  string
	hash  []byte // nil for the anonymous entry and certificate identities
	perms permSet
}

// users is one loaded users file.
type users struct {
	byName map[string]*user
	anon   permSet
	// dummyCost is the bcrypt cost of the first user's hash: an unknown
	// user is checked against a hash of that cost, to take as long.
	dummyCost int
	// warnings are things worth logging that do not stop a load.
	warnings []string
}

// parse reads a users file: a JSON array of entries. Every error names
// the file and line ("users.json:7: ..."), and the entry and the field at
// fault.
func parse(file string, data []byte) (*users, error) {
	u := &users{byName: make(map[string]*user), dummyCost: weakCost}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		if err == nil {
			err = errors.New(`a users file is a JSON array of {"username": ..., "password": ..., "perms": [...]} objects`)
		}
		return nil, decodeError(file, data, 0, dec.InputOffset(), err)
	}
	lines := make(map[string]int)
	for i := 0; dec.More(); i++ {
		start := dec.InputOffset()
		line := lineAt(data, start)
		var e entry
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w (entry %d)", decodeError(file, data, start, start, err), i)
		}
		at := fmt.Sprintf("%s:%d: entry %d (%q)", file, line, i, e.Username)
		if prev, dup := lines[e.Username]; dup {
			return nil, fmt.Errorf("%s: username already used on line %d", at, prev)
		}
		lines[e.Username] = line
		nu, warn, err := validate(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if warn != "" {
			u.warnings = append(u.warnings, at+": "+warn)
		}
		if nu.name == Anonymous {
			u.anon = nu.perms
			continue
		}
		if len(u.byName) == 0 && nu.hash != nil {
			u.dummyCost, _ = bcrypt.Cost(nu.hash)
		}
		u.byName[nu.name] = nu
	}
	if _, err := dec.Token(); err != nil {
		return nil, decodeError(file, data, 0, dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s:%d: unexpected data after the array", file, lineAt(data, dec.InputOffset()))
	}
	if len(u.byName) == 0 && u.anon == 0 {
		u.warnings = append(u.warnings, file+": no users and no anonymous permissions: "+
			"only client certificates of the cluster's CA are let in")
	}
	return u, nil
}

// validate checks one entry and turns it into a user.
func validate(e entry) (*user, string, error) {
	if e.Username == "" {
		return nil, "", errors.New(`"username" is missing or empty`)
	}
	perms, err := parsePerms(e.Perms)
	if err != nil {
		return nil, "", err
	}
	u := &user{name: e.Username, perms: perms}
	switch {
	case e.Username == Anonymous:
		if e.Password != "" {
			return nil, "", errors.New(`the anonymous entry "*" takes no "password": its "perms" are what requests without credentials may do`)
		}
		return u, "", nil
	case strings.Contains(e.Username, ":"):
		// A certificate identity (role:name): Basic auth cannot carry a
		// colon in a username, so only a certificate can be this user.
		if e.Password != "" {
			return nil, "", errors.New(`a username with a colon names a client certificate (role:CN, e.g. "client:reports") and takes no "password"`)
		}
		return u, "", nil
	case e.Password == "":
		return nil, "", errors.New(`"password" is missing: give a bcrypt hash (make one with: go run ./cmd/users hash)`)
	}
	cost, err := bcrypt.Cost([]byte(e.Password))
	if err != nil {
		return nil, "", errors.New(`"password" is not a bcrypt hash ($2a$, $2b$ or $2y$...): ` +
			"plain passwords are refused, since anyone who reads the file could use them; " +
			"make a hash with: go run ./cmd/users hash")
	}
	if cost > maxCost {
		return nil, "", fmt.Errorf(`"password" has bcrypt cost %d; at most %d is accepted (each uncached check costs CPU that a flood of wrong passwords would multiply); rehash with: go run ./cmd/users hash`, cost, maxCost)
	}
	u.hash = []byte(e.Password)
	var warn string
	if cost < weakCost {
		warn = fmt.Sprintf("bcrypt cost %d is weak (the default is %d); rehash with: go run ./cmd/users hash", cost, weakCost)
	}
	return u, warn, nil
}

// decodeError places a decoding error on its line. A syntax error's
// offset counts from the start of the input; a type error's from the
// start of the value being decoded, which began at start; other errors
// (an unknown field, the end of the input) are placed at offset.
func decodeError(file string, data []byte, start, offset int64, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%s:%d: malformed JSON: %v", file, lineAt(data, se.Offset-1), se)
	case errors.As(err, &te):
		return fmt.Errorf("%s:%d: %q must be %s, not a JSON %s", file, lineAt(data, start+te.Offset-1), te.Field, jsonKind(te), te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: the file ends early (empty, or an unclosed array or object)", file)
	}
	return fmt.Errorf("%s:%d: %v", file, lineAt(data, offset), err)
}

func jsonKind(te *json.UnmarshalTypeError) string {
	if te.Field == "perms" {
		return "an array of strings"
	}
	return "a string"
}

// lineAt is the 1-based line of the first non-space byte at or after
// offset (a decoder's offset points just past the previous token).
func lineAt(data []byte, offset int64) int {
	off := int(min(max(offset, 0), int64(len(data))))
	for off < len(data) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
		off++
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}
