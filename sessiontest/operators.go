package sessiontest

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/atomicsession/atomicsession/session"
)

// opCase is one batch of commands applied to a session holding start.
// want is the user keys after it, per MongoDB's rules for the operators;
// err the sentinel the batch fails with instead, and bad the index of the
// failing command. result, if not nil, is the user keys the store must
// return (checked against the suite's reading of session.Update, which
// applies to every case).
type opCase struct {
	name   string
	start  map[string]any
	cmds   []session.Command
	want   map[string]any
	err    error
	bad    int
	result map[string]any
}

// obj and arr keep the table short.
type (
	obj = map[string]any
	arr = []any
)

// opCases lists every operator with its edge and error cases, MongoDB's
// semantics as session.ApplyCommands implements them.
var opCases = []opCase{
	{name: "Set/New", start: obj{}, cmds: cs(set("a", 1)), want: obj{"a": 1}},
	{name: "Set/Replace", start: obj{"a": "x"}, cmds: cs(set("a", arr{1, 2})), want: obj{"a": arr{1, 2}}},
	{name: "Set/Nil", start: obj{"a": 1}, cmds: cs(set("a", nil)), want: obj{"a": nil}},
	{name: "Set/Dotted", start: obj{}, cmds: cs(set("p.q.r", true)), want: obj{"p": obj{"q": obj{"r": true}}}},
	{name: "Set/DottedExisting", start: obj{"p": obj{"x": 1}}, cmds: cs(set("p.y", 2)), want: obj{"p": obj{"x": 1, "y": 2}}},
	{name: "Set/Document", start: obj{}, cmds: cs(set("d", obj{"x": arr{obj{"y": 1}}})), want: obj{"d": obj{"x": arr{obj{"y": 1}}}}},
	{name: "Set/ThroughScalar", start: obj{"p": 5}, cmds: cs(set("p.q", 1)), err: session.ErrTypeMismatch},
	{name: "Set/ThroughArray", start: obj{"p": arr{1}}, cmds: cs(set("p.q", 1)), err: session.ErrTypeMismatch},
	{name: "Set/ThroughNull", start: obj{"p": nil}, cmds: cs(set("p.q", 1)), err: session.ErrTypeMismatch},

	{name: "Unset/Existing", start: obj{"a": 1, "b": 2}, cmds: cs(unset("a")), want: obj{"b": 2}},
	{name: "Unset/Missing", start: obj{"b": 2}, cmds: cs(unset("a")), want: obj{"b": 2}},
	{name: "Unset/Dotted", start: obj{"p": obj{"x": 1, "y": 2}}, cmds: cs(unset("p.x")), want: obj{"p": obj{"y": 2}}},
	{name: "Unset/DottedLast", start: obj{"p": obj{"x": 1}}, cmds: cs(unset("p.x")), want: obj{"p": obj{}}},
	{name: "Unset/ThroughScalar", start: obj{"p": 5}, cmds: cs(unset("p.q")), want: obj{"p": 5}},

	{name: "Inc/Missing", start: obj{}, cmds: cs(inc("n", 5)), want: obj{"n": 5}},
	{name: "Inc/Int", start: obj{"n": 1}, cmds: cs(inc("n", 2)), want: obj{"n": 3}},
	{name: "Inc/Negative", start: obj{"n": 1}, cmds: cs(inc("n", -3)), want: obj{"n": -2}},
	{name: "Inc/FloatByInt", start: obj{"n": 1.5}, cmds: cs(inc("n", 1)), want: obj{"n": 2.5}},
	{name: "Inc/IntByFloat", start: obj{"n": 1}, cmds: cs(inc("n", 0.5)), want: obj{"n": 1.5}},
	{name: "Inc/FloatSum", start: obj{"n": 0.1}, cmds: cs(inc("n", 0.2)), want: obj{"n": floatSum()}},
	{name: "Inc/BeyondFloatPrecision", start: obj{"n": int64(1) << 53}, cmds: cs(inc("n", 1)), want: obj{"n": int64(1)<<53 + 1}},
	{name: "Inc/MaxInt64", start: obj{"n": int64(math.MaxInt64 - 1)}, cmds: cs(inc("n", 1)), want: obj{"n": int64(math.MaxInt64)}},
	{name: "Inc/Dotted", start: obj{}, cmds: cs(inc("p.n", 1)), want: obj{"p": obj{"n": 1}}},
	{name: "Inc/Overflow", start: obj{"n": int64(math.MaxInt64)}, cmds: cs(inc("n", 1)), err: session.ErrTypeMismatch},
	{name: "Inc/Underflow", start: obj{"n": int64(math.MinInt64)}, cmds: cs(inc("n", -1)), err: session.ErrTypeMismatch},
	{name: "Inc/String", start: obj{"n": "1"}, cmds: cs(inc("n", 1)), err: session.ErrTypeMismatch},
	{name: "Inc/Null", start: obj{"n": nil}, cmds: cs(inc("n", 1)), err: session.ErrTypeMismatch},
	{name: "Inc/Bool", start: obj{"n": true}, cmds: cs(inc("n", 1)), err: session.ErrTypeMismatch},
	{name: "Inc/Array", start: obj{"n": arr{1}}, cmds: cs(inc("n", 1)), err: session.ErrTypeMismatch},
	{name: "Inc/ThroughScalar", start: obj{"p": 1}, cmds: cs(inc("p.n", 1)), err: session.ErrTypeMismatch},

	{name: "Push/Missing", start: obj{}, cmds: cs(push("l", 1)), want: obj{"l": arr{1}}},
	{name: "Push/Append", start: obj{"l": arr{1}}, cmds: cs(push("l", 2, "three", arr{4}, obj{"five": 5})), want: obj{"l": arr{1, 2, "three", arr{4}, obj{"five": 5}}}},
	{name: "Push/Duplicate", start: obj{"l": arr{1}}, cmds: cs(push("l", 1)), want: obj{"l": arr{1, 1}}},
	{name: "Push/Dotted", start: obj{}, cmds: cs(push("p.l", 1)), want: obj{"p": obj{"l": arr{1}}}},
	{name: "Push/String", start: obj{"l": "x"}, cmds: cs(push("l", 1)), err: session.ErrTypeMismatch},
	{name: "Push/Null", start: obj{"l": nil}, cmds: cs(push("l", 1)), err: session.ErrTypeMismatch},
	{name: "Push/Document", start: obj{"l": obj{}}, cmds: cs(push("l", 1)), err: session.ErrTypeMismatch},

	{name: "PushLast/KeepsLast", start: obj{"l": arr{1, 2, 3}}, cmds: cs(pushLast("l", 3, 4, 5)), want: obj{"l": arr{3, 4, 5}}, result: obj{"l": arr{3, 4, 5}}},
	{name: "PushLast/Missing", start: obj{}, cmds: cs(pushLast("l", 2, 1, 2, 3)), want: obj{"l": arr{2, 3}}},
	{name: "PushLast/Shorter", start: obj{"l": arr{1}}, cmds: cs(pushLast("l", 5, 2)), want: obj{"l": arr{1, 2}}},
	{name: "PushLast/Exact", start: obj{"l": arr{1, 2}}, cmds: cs(pushLast("l", 3, 3)), want: obj{"l": arr{1, 2, 3}}},
	{name: "PushLast/One", start: obj{"l": arr{1, 2}}, cmds: cs(pushLast("l", 1, 3, 4)), want: obj{"l": arr{4}}},
	{name: "PushLast/NoValuesTrims", start: obj{"l": arr{1, 2, 3, 4}}, cmds: cs(pushLast("l", 2)), want: obj{"l": arr{3, 4}}},
	{name: "PushLast/MoreValuesThanKept", start: obj{"l": arr{"a"}}, cmds: cs(pushLast("l", 2, "b", "c", "d")), want: obj{"l": arr{"c", "d"}}},
	{name: "PushLast/Documents", start: obj{"l": arr{obj{"x": 1}}}, cmds: cs(pushLast("l", 2, obj{"x": 2}, obj{"x": 3})), want: obj{"l": arr{obj{"x": 2}, obj{"x": 3}}}},
	{name: "PushLast/Dotted", start: obj{"p": obj{"l": arr{1, 2}, "k": true}}, cmds: cs(pushLast("p.l", 2, 3)), want: obj{"p": obj{"l": arr{2, 3}, "k": true}}},
	{name: "PushLast/String", start: obj{"l": "x"}, cmds: cs(pushLast("l", 2, 1)), err: session.ErrTypeMismatch},

	{name: "Take/Existing", start: obj{"flash": "saved", "b": 1}, cmds: cs(take("flash")), want: obj{"b": 1}, result: obj{"flash": "saved"}},
	{name: "Take/Missing", start: obj{"b": 1}, cmds: cs(take("flash")), want: obj{"b": 1}, result: obj{}},
	{name: "Take/Nil", start: obj{"flash": nil}, cmds: cs(take("flash")), want: obj{}, result: obj{"flash": nil}},
	{name: "Take/Document", start: obj{"f": obj{"msg": "hi", "n": arr{1}}}, cmds: cs(take("f")), want: obj{}, result: obj{"f": obj{"msg": "hi", "n": arr{1}}}},
	{name: "Take/Dotted", start: obj{"p": obj{"x": 1, "y": 2}}, cmds: cs(take("p.x")), want: obj{"p": obj{"y": 2}}, result: obj{"p": obj{"x": 1, "y": 2}}},
	{name: "Take/DottedMissing", start: obj{"p": obj{"y": 2}}, cmds: cs(take("p.x")), want: obj{"p": obj{"y": 2}}, result: obj{"p": obj{"y": 2}}},
	{name: "Take/ThroughScalar", start: obj{"p": 5}, cmds: cs(take("p.q")), want: obj{"p": 5}, result: obj{"p": 5}},

	{name: "Pull/Value", start: obj{"l": arr{1, 2, 1, 3}}, cmds: cs(pull("l", 1)), want: obj{"l": arr{2, 3}}},
	{name: "Pull/NumberByValue", start: obj{"l": arr{1, 2.0, 3}}, cmds: cs(pull("l", 2)), want: obj{"l": arr{1, 3}}},
	{name: "Pull/Absent", start: obj{"l": arr{1}}, cmds: cs(pull("l", 2)), want: obj{"l": arr{1}}},
	{name: "Pull/All", start: obj{"l": arr{"x", "x"}}, cmds: cs(pull("l", "x")), want: obj{"l": arr{}}},
	{name: "Pull/Document", start: obj{"l": arr{obj{"x": 1, "y": 2}, obj{"x": 1}, obj{"y": 2, "x": 1.0}}}, cmds: cs(pull("l", obj{"y": 2, "x": 1})), want: obj{"l": arr{obj{"x": 1}}}},
	{name: "Pull/Array", start: obj{"l": arr{arr{1, 2}, arr{2, 1}, 1}}, cmds: cs(pull("l", arr{1, 2})), want: obj{"l": arr{arr{2, 1}, 1}}},
	{name: "Pull/Null", start: obj{"l": arr{nil, 1, nil}}, cmds: cs(pull("l", nil)), want: obj{"l": arr{1}}},
	{name: "Pull/Missing", start: obj{}, cmds: cs(pull("l", 1)), want: obj{}},
	{name: "Pull/String", start: obj{"l": "x"}, cmds: cs(pull("l", "x")), err: session.ErrTypeMismatch},

	{name: "PullAll/Values", start: obj{"l": arr{1, 2, 3, 2, "2"}}, cmds: cs(pullAll("l", 2, 3)), want: obj{"l": arr{1, "2"}}},
	{name: "PullAll/Missing", start: obj{}, cmds: cs(pullAll("l", 1)), want: obj{}},
	{name: "PullAll/Number", start: obj{"l": 1}, cmds: cs(pullAll("l", 1)), err: session.ErrTypeMismatch},

	{name: "AddToSet/New", start: obj{"l": arr{1}}, cmds: cs(addToSet("l", 2)), want: obj{"l": arr{1, 2}}},
	{name: "AddToSet/Present", start: obj{"l": arr{1, 2}}, cmds: cs(addToSet("l", 2)), want: obj{"l": arr{1, 2}}},
	{name: "AddToSet/NumberByValue", start: obj{"l": arr{1}}, cmds: cs(addToSet("l", 1.0)), want: obj{"l": arr{1}}},
	{name: "AddToSet/EachOnce", start: obj{"l": arr{}}, cmds: cs(addToSet("l", "x", "y", "x")), want: obj{"l": arr{"x", "y"}}},
	{name: "AddToSet/Missing", start: obj{}, cmds: cs(addToSet("l", 1)), want: obj{"l": arr{1}}},
	{name: "AddToSet/Document", start: obj{"l": arr{obj{"x": 1, "y": 2}}}, cmds: cs(addToSet("l", obj{"y": 2, "x": 1}, obj{"x": 1})), want: obj{"l": arr{obj{"x": 1, "y": 2}, obj{"x": 1}}}},
	{name: "AddToSet/String", start: obj{"l": "x"}, cmds: cs(addToSet("l", 1)), err: session.ErrTypeMismatch},

	{name: "Pop/Last", start: obj{"l": arr{1, 2, 3}}, cmds: cs(pop("l", 1)), want: obj{"l": arr{1, 2}}},
	{name: "Pop/First", start: obj{"l": arr{1, 2, 3}}, cmds: cs(pop("l", -1)), want: obj{"l": arr{2, 3}}},
	{name: "Pop/Only", start: obj{"l": arr{1}}, cmds: cs(pop("l", 1)), want: obj{"l": arr{}}},
	{name: "Pop/Empty", start: obj{"l": arr{}}, cmds: cs(pop("l", 1)), want: obj{"l": arr{}}},
	{name: "Pop/Missing", start: obj{}, cmds: cs(pop("l", -1)), want: obj{}},
	{name: "Pop/String", start: obj{"l": "x"}, cmds: cs(pop("l", 1)), err: session.ErrTypeMismatch},

	{name: "Rename/Existing", start: obj{"a": 1}, cmds: cs(rename("a", "b")), want: obj{"b": 1}},
	{name: "Rename/Overwrite", start: obj{"a": 1, "b": "old"}, cmds: cs(rename("a", "b")), want: obj{"b": 1}},
	{name: "Rename/Missing", start: obj{"b": 2}, cmds: cs(rename("a", "b")), want: obj{"b": 2}},
	{name: "Rename/Dotted", start: obj{"p": obj{"x": arr{1}}}, cmds: cs(rename("p.x", "q.y")), want: obj{"p": obj{}, "q": obj{"y": arr{1}}}},
	{name: "Rename/Document", start: obj{"a": obj{"x": 1}}, cmds: cs(rename("a", "b")), want: obj{"b": obj{"x": 1}}},
	{name: "Rename/TargetThroughScalar", start: obj{"a": 1, "q": 5}, cmds: cs(rename("a", "q.y")), err: session.ErrTypeMismatch},

	{name: "Batch/InOrder", start: obj{"n": 1, "l": arr{1}},
		cmds: cs(inc("n", 1), push("l", 2), set("s", "x"), unset("gone"), rename("old", "new"), pop("empty", 1)),
		want: obj{"n": 2, "l": arr{1, 2}, "s": "x"}},
	{name: "Batch/Results", start: obj{"n": 1, "p": obj{"x": 1, "y": 2}, "l": arr{1, 2, 3}, "big": "untouched", "old": 1},
		cmds:   cs(inc("n", 1), unset("p.x"), pushLast("l", 2, 4), rename("old", "q.r"), unset("missing")),
		want:   obj{"n": 2, "p": obj{"y": 2}, "l": arr{3, 4}, "big": "untouched", "q": obj{"r": 1}},
		result: obj{"n": 2, "p": obj{"y": 2}, "l": arr{3, 4}, "q": obj{"r": 1}}},
	{name: "Batch/AllOrNothingFirst", start: obj{"s": "x", "n": 1}, cmds: cs(inc("s", 1), set("a", 1), inc("n", 1)), err: session.ErrTypeMismatch, bad: 0},
	{name: "Batch/AllOrNothingMiddle", start: obj{"s": "x", "n": 1}, cmds: cs(set("a", 1), push("s", 1), inc("n", 1), unset("t")), err: session.ErrTypeMismatch, bad: 1},
	{name: "Batch/AllOrNothingLast", start: obj{"s": "x", "l": arr{1}}, cmds: cs(set("a", 1), pushLast("l", 1, 2), unset("b"), pop("s", 1)), err: session.ErrTypeMismatch, bad: 3},
}

// cs collects commands; it keeps the table short.
func cs(cmds ...session.Command) []session.Command { return cmds }

// floatSum returns 0.1 + 0.2 computed in float64 (0.30000000000000004),
// which Go's exact constant arithmetic would not.
func floatSum() float64 {
	x := 0.1
	return x + 0.2
}

func (s *suite) operatorTests() []subtest {
	out := make([]subtest, len(opCases))
	for i, c := range opCases {
		out[i] = subtest{c.name, func(t *testing.T, st session.Store) {
			if s.cfg.flatArrays != "" && c.needsNestedArrays() {
				t.Skipf("needs nested arrays: %s (sessiontest.WithoutNestedArrays)", s.cfg.flatArrays)
			}
			testOperator(t, st, c)
		}}
	}
	return out
}

// needsNestedArrays reports whether the case stores an array inside an
// array, at the start, through an operand, or in the result.
func (c opCase) needsNestedArrays() bool {
	if hasNestedArray(c.start) || hasNestedArray(c.want) {
		return true
	}
	for _, cmd := range c.cmds {
		if hasNestedArray(cmd.Value) || hasNestedArray(cmd.Values) {
			return true
		}
		if _, ok := cmd.Value.([]any); ok && cmd.Op == session.OpPull {
			return true // sent to MongoDB as $pullAll: [[...]]
		}
	}
	return false
}

// testOperator applies c on a store session and on session.ApplyCommands
// from the same start: the result must hold exactly the keys the contract
// names (see wantResult), documents must match by session.Equal, errors by
// sentinel, and a failed batch must leave the stored session unchanged.
func testOperator(t *testing.T, st session.Store, c opCase) {
	meta := newMeta(t, liveFor)
	start := startCommands(t, c.start)
	refStart, err := session.ApplyCommands(meta.Doc(), start)
	if err != nil {
		t.Fatalf("reference ApplyCommands(%s): %v", showCommands(start), err)
	}
	create(t, st, meta, start)
	before := load(t, st, meta.ID)
	checkWhole(t, "start document: Load", before, refStart)

	u := session.Update{Commands: prepare(t, c.cmds...), Expires: later()}
	ref, refErr := session.ApplyCommands(refStart, u.Commands)
	checkReference(t, c, refStart, ref, refErr, u)

	got, err := st.Apply(context.Background(), meta.ID, u)
	if classOf(err) != classOf(refErr) {
		t.Fatalf("Apply(%s) on %s = %s, %v; the reference gives %s, %v",
			showUpdate(u), showUser(before), showUser(got), err, showUser(ref), refErr)
	}
	if err != nil {
		if classOf(err) == session.ErrTypeMismatch {
			checkCommandError(t, "Apply("+showUpdate(u)+")", got, err, c.bad)
		}
		checkUnchanged(t, st, meta.ID, before, "after the failed Apply")
		return
	}
	stepMeta(ref, u)
	checkResult(t, "Apply("+showUpdate(u)+")", got, u, refStart, ref)
	checkWhole(t, "Load after Apply("+showUpdate(u)+")", load(t, st, meta.ID), ref)
}

// checkReference checks the reference semantics against the case's
// MongoDB expectation, so a disagreement is reported as such and not as a
// fault of the store.
func checkReference(t *testing.T, c opCase, before, ref session.Doc, refErr error, u session.Update) {
	t.Helper()
	if c.err != nil {
		var ce *session.CommandError
		if classOf(refErr) != c.err {
			t.Errorf("the reference semantics (session.ApplyCommands) give %s, %v; the suite expects an error wrapping %v",
				showUser(ref), refErr, c.err)
		} else if !errors.As(refErr, &ce) || ce.Index != c.bad {
			t.Errorf("the reference semantics (session.ApplyCommands) give %v; the suite expects a *session.CommandError for command %d", refErr, c.bad)
		}
		return
	}
	if refErr != nil {
		t.Errorf("the reference semantics (session.ApplyCommands) fail with %v; the suite expects %s", refErr, show(c.want))
		return
	}
	if want := normalize(t, c.want); !sameUser(ref, want) {
		t.Errorf("the reference semantics (session.ApplyCommands) give %s; the suite expects %s", showUser(ref), showUser(want))
	}
	if c.result == nil {
		return
	}
	want, got := normalize(t, c.result), wantResult(u, before, ref)
	if !sameUser(got, want) {
		t.Errorf("the suite's reading of session.Update gives the result %s; the case expects %s", showUser(got), showUser(want))
	}
	if lib := u.Result(before, ref); !sameUser(lib, want) {
		t.Errorf("session.Update.Result gives %s; the case expects %s", showUser(lib), showUser(want))
	}
}

// startCommands returns one Set per top-level key of start, in key order.
func startCommands(t *testing.T, start map[string]any) []session.Command {
	t.Helper()
	var cmds []session.Command
	for _, k := range sortedKeys(start) {
		cmds = append(cmds, set(k, start[k]))
	}
	return prepare(t, cmds...)
}
