package session

import (
	"fmt"
	"strings"
)

// Op is an update operator. Its semantics are MongoDB's operator of the same
// name, implemented once in Go by ApplyCommands.
type Op uint8

// The update operators a Command can carry.
const (
	OpSet      Op = iota + 1 // $set: Value at Path, creating sub-documents
	OpUnset                  // $unset: remove Path; a missing path is a no-op
	OpInc                    // $inc: add Value (int64 or float64) to the number at Path
	OpPush                   // $push with $each: append Values to the array at Path
	OpPull                   // $pull: remove every element equal to Value
	OpPullAll                // $pullAll: remove every element equal to one of Values
	OpAddToSet               // $addToSet with $each: append each of Values not present
	OpPop                    // $pop: remove the last (Value 1) or first (Value -1) element
	OpRename                 // $rename: move the value at Path to To
	OpTake                   // $unset that also returns the value before (Session.Take)
)

var opNames = [...]string{
	OpSet: "$set", OpUnset: "$unset", OpInc: "$inc", OpPush: "$push",
	OpPull: "$pull", OpPullAll: "$pullAll", OpAddToSet: "$addToSet",
	OpPop: "$pop", OpRename: "$rename", OpTake: "$take",
}

// String returns the MongoDB name of the operator, such as "$set".
func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Command is one update of one path. Commands are validated and normalized
// by PrepareCommand; a Store receives only valid commands whose values are already
// normalized (see Normalize).
//
// Value holds the operand of OpSet, OpInc (int64 or float64), OpPull and
// OpPop (int64 1 or -1). Values holds the operands of OpPush, OpPullAll and
// OpAddToSet. To holds the target path of OpRename. Slice, for OpPush
// only, keeps just the last Slice elements of the array after the push
// (MongoDB's $push with $each and $slice: -Slice); zero keeps them all.
//
// OpTake removes Path as OpUnset does; the store's result carries the
// value its top-level key had before (see Update).
type Command struct {
	Op     Op
	Path   string
	To     string
	Value  any
	Values []any
	Slice  int
}

// Top returns the top-level key of the command's path.
func (c Command) Top() string { return topKey(c.Path) }

// CommandError is a store's error for one command of an Update that does not
// apply: Index is its position in Update.Commands. Stores return it (wrapped
// or not) where the database says which command failed, so that the session
// can send the others again without it; where it does not, the session
// finds the failing command by splitting the batch.
type CommandError struct {
	Index int
	Err   error
}

// Error returns the error of the command.
func (e *CommandError) Error() string { return e.Err.Error() }

// Unwrap returns the command's error.
func (e *CommandError) Unwrap() error { return e.Err }

// TouchedKeys returns the distinct top-level keys that cmds change, in
// order of first appearance: each command's Top, and a Rename's target's.
func TouchedKeys(cmds []Command) []string {
	seen := make(map[string]bool, len(cmds))
	var out []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, c := range cmds {
		add(c.Top())
		if c.Op == OpRename {
			add(topKey(c.To))
		}
	}
	return out
}

// topKey returns the first segment of a dotted path.
func topKey(path string) string {
	if i := strings.IndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return path
}

// Paths returns the paths the command writes: Path, and To for OpRename.
func (c Command) Paths() []string {
	if c.Op == OpRename {
		return []string{c.Path, c.To}
	}
	return []string{c.Path}
}

// String describes the command for logs and errors, without its values.
func (c Command) String() string {
	if c.Op == OpRename {
		return fmt.Sprintf("%s %q to %q", c.Op, c.Path, c.To)
	}
	return fmt.Sprintf("%s %q", c.Op, c.Path)
}
