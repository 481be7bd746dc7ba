package chaos

import (
	"fmt"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// OpKind is what a client operation does.
type OpKind uint8

// The operations the clients make.
const (
	OpGet OpKind = iota
	OpPut
	OpDelete
)

func (k OpKind) String() string {
	switch k {
	case OpGet:
		return "get"
	case OpPut:
		return "set"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Outcome is what a client knows about an operation once its call ended.
type Outcome uint8

// The outcomes.
const (
	// OK: a definite answer (a write was applied; a read returned a value
	// or "missing").
	OK Outcome = iota
	// Failed: the operation certainly had no effect and returned nothing:
	// a read that got no answer, or a write for which no connection to a
	// server was ever made (so no byte of it was sent).
	Failed
	// Unknown: a write that timed out or got an error after it was sent.
	// It may or may not have been applied, at any time after it started
	// (even after the client gave up: it can sit in a Raft log and be
	// committed by the next leader). It is modelled exactly so.
	Unknown
)

func (o Outcome) String() string {
	return [...]string{"ok", "failed", "unknown"}[o]
}

// Input is a client operation as the model sees it.
type Input struct {
	Op    OpKind
	Key   string
	Value string // for OpPut
}

// Output is what the operation returned.
type Output struct {
	Value string
	Found bool // for OpGet: the key existed
	// Unknown marks a call with no definite answer: the model then accepts
	// any state for a read (it learned nothing) and either effect for a
	// write.
	Unknown bool
}

// Record is one client call.
type Record struct {
	Client  int
	Input   Input
	Output  Output
	Outcome Outcome
	Start   time.Time
	End     time.Time
	// Detail says what went wrong for a call that was not OK, or which
	// node served it.
	Detail string
}

// kvState is one key's state in the model. It is a comparable value, so
// porcupine's default equality and its state cache work on it.
type kvState struct {
	Value   string
	Present bool
}

// kvModel is a key-value register per key: put sets it, delete removes it,
// get returns its value or "absent" for a missing key. Histories are
// partitioned by key, since operations on different keys commute.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		slices.Sort(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return kvState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(kvState), input.(Input), output.(Output)
		switch in.Op {
		case OpPut:
			// An unknown put that porcupine linearizes took effect;
			// one that never took effect is linearized after
			// everything else (its return is past the end), where it
			// changes nothing anyone observed.
			return true, kvState{Value: in.Value, Present: true}
		case OpDelete:
			return true, kvState{}
		case OpGet:
			if out.Unknown {
				return true, st
			}
			if !out.Found {
				return !st.Present, st
			}
			return st.Present && st.Value == out.Value, st
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		switch {
		case in.Op == OpPut && out.Unknown:
			return fmt.Sprintf("set(%s, %s) -> ?", in.Key, in.Value)
		case in.Op == OpPut:
			return fmt.Sprintf("set(%s, %s)", in.Key, in.Value)
		case in.Op == OpDelete && out.Unknown:
			return fmt.Sprintf("delete(%s) -> ?", in.Key)
		case in.Op == OpDelete:
			return fmt.Sprintf("delete(%s)", in.Key)
		case out.Unknown:
			return fmt.Sprintf("get(%s) -> ? (no answer)", in.Key)
		case !out.Found:
			return fmt.Sprintf("get(%s) -> absent", in.Key)
		}
		return fmt.Sprintf("get(%s) -> %s", in.Key, out.Value)
	},
	DescribeState: func(state any) string {
		st := state.(kvState)
		if !st.Present {
			return "absent"
		}
		return st.Value
	},
	DescribeOperationMetadata: func(info any) string {
		if s, ok := info.(string); ok {
			return s
		}
		return ""
	},
}

// Operations turns client records into porcupine operations, timestamped
// in nanoseconds since base.
//
// A write with an Unknown outcome gets a return time after every other
// operation's: it may have taken effect at any moment after it started, and
// that interval lets porcupine place it anywhere from its start to the end
// of the history (placing it last is the same as it never having happened,
// since no operation observes it there). A read with no answer keeps its
// real interval: it changes nothing, so where it lands does not matter.
// A write that Failed (certainly never sent) is left out: it is not an
// operation on the store at all.
func Operations(records []Record, base time.Time) []porcupine.Operation {
	var end int64
	for _, r := range records {
		end = max(end, int64(r.End.Sub(base)))
	}
	ops := make([]porcupine.Operation, 0, len(records))
	for _, r := range records {
		if r.Outcome == Failed && r.Input.Op != OpGet {
			continue
		}
		out := r.Output
		ret := int64(r.End.Sub(base))
		if r.Outcome != OK {
			out.Unknown = true
		}
		if r.Outcome == Unknown && r.Input.Op != OpGet {
			ret = end + 1
		}
		ops = append(ops, porcupine.Operation{
			ClientId: r.Client,
			Input:    r.Input,
			Output:   out,
			Call:     int64(r.Start.Sub(base)),
			Return:   ret,
			Metadata: r.Detail,
		})
	}
	return ops
}

// CheckResult is the verdict on a history.
type CheckResult struct {
	// Result is porcupine's: Ok (linearizable), Illegal (not), or Unknown
	// (the check ran out of time: no verdict).
	Result porcupine.CheckResult
	Info   porcupine.LinearizationInfo
	Took   time.Duration
	Ops    int
}

// Check runs porcupine over the history within timeout.
func Check(ops []porcupine.Operation, timeout time.Duration) CheckResult {
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, timeout)
	return CheckResult{Result: res, Info: info, Took: time.Since(start), Ops: len(ops)}
}

// Visualize writes porcupine's interactive HTML view of a checked history.
func Visualize(cr CheckResult, path string) error {
	return porcupine.VisualizePath(kvModel, cr.Info, path)
}
