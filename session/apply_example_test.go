package session_test

import (
	"errors"
	"fmt"

	"github.com/atomicsession/atomicsession/session"
)

// ExampleApplyCommands applies prepared commands to a session document the
// way the memory store does, with MongoDB's semantics.
func ExampleApplyCommands() {
	doc := session.Doc{
		"views": int64(1),
		"cart":  map[string]any{"items": []any{"apple"}},
	}
	var cmds []session.Command
	for _, c := range []session.Command{
		{Op: session.OpInc, Path: "views", Value: 1},
		{Op: session.OpPush, Path: "cart.items", Values: []any{"pear"}},
		{Op: session.OpAddToSet, Path: "cart.tags", Values: []any{"fruit", "fruit"}},
		{Op: session.OpSet, Path: "user.name", Value: "ada"},
		{Op: session.OpRename, Path: "missing", To: "anything"}, // a no-op
	} {
		p, err := session.PrepareCommand(c)
		if err != nil {
			fmt.Println(err)
			return
		}
		cmds = append(cmds, p)
	}
	after, err := session.ApplyCommands(doc, cmds)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(after)
	fmt.Println(doc) // unchanged

	// A command that does not apply fails the whole batch.
	inc, _ := session.PrepareCommand(session.Command{Op: session.OpInc, Path: "user.name", Value: 1})
	_, err = session.ApplyCommands(after, []session.Command{cmds[0], inc})
	fmt.Println(errors.Is(err, session.ErrTypeMismatch))
	fmt.Println(err)
	// Output:
	// map[cart:map[items:[apple pear] tags:[fruit]] user:map[name:ada] views:2]
	// map[cart:map[items:[apple]] views:1]
	// true
	// $inc "user.name": cannot apply $inc to a value of type string: session operator does not apply to the stored value
}
