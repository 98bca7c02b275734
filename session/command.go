package session

import "fmt"

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
)

var opNames = [...]string{
	OpSet: "$set", OpUnset: "$unset", OpInc: "$inc", OpPush: "$push",
	OpPull: "$pull", OpPullAll: "$pullAll", OpAddToSet: "$addToSet",
	OpPop: "$pop", OpRename: "$rename",
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
// OpAddToSet. To holds the target path of OpRename.
type Command struct {
	Op     Op
	Path   string
	To     string
	Value  any
	Values []any
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
