// Command users makes bcrypt password hashes and entries for the users
// file that nodes and the distributor read with -auth (see package
// internal/auth for the format and the permissions):
//
//	go run ./cmd/users hash                       # prints a hash of the password on stdin
//	go run ./cmd/users add -file users.json -user alice -perms read,write
//	go run ./cmd/users add -file users.json -user '*' -perms status
//
// The password is read from standard input (one line), never from the
// command line, where ps and the shell history would keep it. add creates
// the file or replaces the user's entry, checks the result loads, and
// writes it atomically with mode 0600.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/kvraft/hraftd/internal/auth"
)

const usage = `usage:
  users hash [-cost N]                                  read a password on stdin, print its bcrypt hash
  users add -file FILE -user NAME -perms P1,P2 [-cost N] add or replace a user (password on stdin)
permissions: read, write, admin, status, all; the user "*" is everyone, even anonymous`

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "users:", err)
			os.Exit(2)
		}
	}
}

func run(args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("no subcommand\n" + usage)
	}
	fs := flag.NewFlagSet("users "+args[0], flag.ContinueOnError)
	fs.SetOutput(out)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost (each step doubles the time a check takes)")
	switch args[0] {
	case "hash":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		h, err := hashFrom(in, *cost)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, h)
		return nil
	case "add":
		file := fs.String("file", "users.json", "the users file to create or update")
		name := fs.String("user", "", `username; "*" for what anyone may do, "role:CN" for a client certificate`)
		perms := fs.String("perms", "", "comma-separated permissions")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return add(*file, *name, *perms, *cost, in, out)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(out, usage)
		return nil
	}
	return fmt.Errorf("unknown subcommand %q\n%s", args[0], usage)
}

// hashFrom reads one line from in and hashes it.
func hashFrom(in io.Reader, cost int) (string, error) {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", errors.New("no password on standard input (e.g. printf '%s' 'the password' | users hash)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash: %w", err)
	}
	return string(h), nil
}

// entry is one element of the users file.
type entry struct {
	Username string   `json:"username"`
	Password string   `json:"password,omitempty"`
	Perms    []string `json:"perms"`
}

func add(file, name, perms string, cost int, in io.Reader, out io.Writer) error {
	if name == "" {
		return errors.New("-user is required")
	}
	e := entry{Username: name, Perms: []string{}}
	for p := range strings.SplitSeq(perms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			e.Perms = append(e.Perms, p)
		}
	}
	// The anonymous entry and certificate identities have no password.
	if name != auth.Anonymous && !strings.Contains(name, ":") {
		h, err := hashFrom(in, cost)
		if err != nil {
			return err
		}
		e.Password = h
	}
	var entries []entry
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &entries); err != nil {
			return fmt.Errorf("%s: %w (fix it by hand, or add to a new file)", file, err)
		}
	}
	verb := "added"
	replaced := false
	for i := range entries {
		if entries[i].Username == name {
			entries[i], replaced, verb = e, true, "replaced"
		}
	}
	if !replaced {
		entries = append(entries, e)
	}
	b, err = json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	if err := writeChecked(file, append(b, '\n')); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %q with permissions %s in %s\n", verb, name, strings.Join(e.Perms, ", "), file)
	return nil
}

// writeChecked writes b to a temporary file, loads it as a users file
// (so a bad permission name is refused here, not by a running node),
// and renames it over file.
func writeChecked(file string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), ".tmp-"+filepath.Base(file)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	if _, err := auth.Load(auth.Config{File: f.Name(), Logger: slog.New(slog.DiscardHandler)}); err != nil {
		return fmt.Errorf("the result would not load, so %s is unchanged: %w", file, err)
	}
	return os.Rename(f.Name(), file)
}
