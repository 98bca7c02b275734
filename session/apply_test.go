package session

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

type (
	O = map[string]any
	A = []any
)

func cmdSet(p string, v any) Command         { return Command{Op: OpSet, Path: p, Value: v} }
func cmdUnset(p string) Command              { return Command{Op: OpUnset, Path: p} }
func cmdInc(p string, by any) Command        { return Command{Op: OpInc, Path: p, Value: by} }
func cmdPush(p string, vs ...any) Command    { return Command{Op: OpPush, Path: p, Values: vs} }
func cmdPull(p string, v any) Command        { return Command{Op: OpPull, Path: p, Value: v} }
func cmdPullAll(p string, vs ...any) Command { return Command{Op: OpPullAll, Path: p, Values: vs} }
func cmdAdd(p string, vs ...any) Command     { return Command{Op: OpAddToSet, Path: p, Values: vs} }
func cmdPop(p string, end any) Command       { return Command{Op: OpPop, Path: p, Value: end} }
func cmdRename(from, to string) Command      { return Command{Op: OpRename, Path: from, To: to} }

type applyCase struct {
	name  string
	start O
	cmds  []Command
	want  O     // exact canonical types, compared with reflect.DeepEqual
	err   error // the sentinel the error wraps, if the case fails
}

var when = time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)

// applyCases holds, for every operator, its ordinary, edge and error cases.
var applyCases = []applyCase{
	{name: "Set/New", start: O{}, cmds: cs(cmdSet("a", 1)), want: O{"a": int64(1)}},
	{name: "Set/Replace", start: O{"a": "x"}, cmds: cs(cmdSet("a", A{1, "b"})), want: O{"a": A{int64(1), "b"}}},
	{name: "Set/Nil", start: O{"a": int64(1)}, cmds: cs(cmdSet("a", nil)), want: O{"a": nil}},
	{name: "Set/Time", start: O{}, cmds: cs(cmdSet("t", when)), want: O{"t": when}},
	{name: "Set/Document", start: O{}, cmds: cs(cmdSet("d", O{"x": A{O{"y": 1}}})), want: O{"d": O{"x": A{O{"y": int64(1)}}}}},
	{name: "Set/Dotted", start: O{}, cmds: cs(cmdSet("p.q.r", true)), want: O{"p": O{"q": O{"r": true}}}},
	{name: "Set/DottedExisting", start: O{"p": O{"x": int64(1)}}, cmds: cs(cmdSet("p.y", 2)), want: O{"p": O{"x": int64(1), "y": int64(2)}}},
	{name: "Set/DottedPartlyExisting", start: O{"p": O{"x": int64(1)}}, cmds: cs(cmdSet("p.q.r", 2)), want: O{"p": O{"x": int64(1), "q": O{"r": int64(2)}}}},
	{name: "Set/IntoDoc", start: O{"p": Doc{"x": int64(1)}}, cmds: cs(cmdSet("p.y", 2)), want: O{"p": O{"x": int64(1), "y": int64(2)}}},
	{name: "Set/ReplaceDocument", start: O{"p": O{"x": int64(1)}}, cmds: cs(cmdSet("p", "s")), want: O{"p": "s"}},
	{name: "Set/ThroughScalar", start: O{"p": int64(5)}, cmds: cs(cmdSet("p.q", 1)), err: ErrTypeMismatch},
	{name: "Set/ThroughString", start: O{"p": O{"q": "s"}}, cmds: cs(cmdSet("p.q.r", 1)), err: ErrTypeMismatch},
	{name: "Set/ThroughArray", start: O{"p": A{O{"q": int64(1)}}}, cmds: cs(cmdSet("p.q", 1)), err: ErrTypeMismatch},
	{name: "Set/ThroughNull", start: O{"p": nil}, cmds: cs(cmdSet("p.q", 1)), err: ErrTypeMismatch},
	{name: "Set/ThroughTime", start: O{"p": when}, cmds: cs(cmdSet("p.q", 1)), err: ErrTypeMismatch},

	{name: "Unset/Existing", start: O{"a": int64(1), "b": int64(2)}, cmds: cs(cmdUnset("a")), want: O{"b": int64(2)}},
	{name: "Unset/Missing", start: O{"b": int64(2)}, cmds: cs(cmdUnset("a")), want: O{"b": int64(2)}},
	{name: "Unset/Document", start: O{"a": O{"x": int64(1)}}, cmds: cs(cmdUnset("a")), want: O{}},
	{name: "Unset/Dotted", start: O{"p": O{"x": int64(1), "y": int64(2)}}, cmds: cs(cmdUnset("p.x")), want: O{"p": O{"y": int64(2)}}},
	{name: "Unset/DottedLeavesEmptyDocument", start: O{"p": O{"x": int64(1)}}, cmds: cs(cmdUnset("p.x")), want: O{"p": O{}}},
	{name: "Unset/DottedMissing", start: O{"p": O{"x": int64(1)}}, cmds: cs(cmdUnset("p.y.z")), want: O{"p": O{"x": int64(1)}}},
	{name: "Unset/ThroughScalar", start: O{"p": int64(5)}, cmds: cs(cmdUnset("p.q")), want: O{"p": int64(5)}},
	{name: "Unset/ThroughArray", start: O{"p": A{O{"q": int64(1)}}}, cmds: cs(cmdUnset("p.q")), want: O{"p": A{O{"q": int64(1)}}}},
	{name: "Unset/ThroughNull", start: O{"p": nil}, cmds: cs(cmdUnset("p.q")), want: O{"p": nil}},

	{name: "Inc/Missing", start: O{}, cmds: cs(cmdInc("n", 5)), want: O{"n": int64(5)}},
	{name: "Inc/MissingByFloat", start: O{}, cmds: cs(cmdInc("n", 0.5)), want: O{"n": 0.5}},
	{name: "Inc/Int", start: O{"n": int64(1)}, cmds: cs(cmdInc("n", 2)), want: O{"n": int64(3)}},
	{name: "Inc/Negative", start: O{"n": int64(1)}, cmds: cs(cmdInc("n", -3)), want: O{"n": int64(-2)}},
	{name: "Inc/Int32InDoc", start: O{"n": int32(7)}, cmds: cs(cmdInc("n", 1)), want: O{"n": int64(8)}},
	{name: "Inc/IntInDoc", start: O{"n": 7}, cmds: cs(cmdInc("n", 1)), want: O{"n": int64(8)}},
	{name: "Inc/Int32PastInt32", start: O{"n": int32(math.MaxInt32)}, cmds: cs(cmdInc("n", 1)), want: O{"n": int64(math.MaxInt32) + 1}},
	{name: "Inc/FloatByInt", start: O{"n": 1.5}, cmds: cs(cmdInc("n", 1)), want: O{"n": 2.5}},
	{name: "Inc/IntByFloat", start: O{"n": int64(1)}, cmds: cs(cmdInc("n", 0.5)), want: O{"n": 1.5}},
	{name: "Inc/IntByWholeFloat", start: O{"n": int64(1)}, cmds: cs(cmdInc("n", 1.0)), want: O{"n": 2.0}},
	{name: "Inc/FloatByFloat", start: O{"n": 0.25}, cmds: cs(cmdInc("n", 0.5)), want: O{"n": 0.75}},
	{name: "Inc/Zero", start: O{"n": int64(4)}, cmds: cs(cmdInc("n", 0)), want: O{"n": int64(4)}},
	{name: "Inc/BeyondFloatPrecision", start: O{"n": int64(1) << 53}, cmds: cs(cmdInc("n", 1)), want: O{"n": int64(1)<<53 + 1}},
	{name: "Inc/MaxInt64", start: O{"n": int64(math.MaxInt64 - 1)}, cmds: cs(cmdInc("n", 1)), want: O{"n": int64(math.MaxInt64)}},
	{name: "Inc/MinInt64", start: O{"n": int64(math.MinInt64 + 1)}, cmds: cs(cmdInc("n", -1)), want: O{"n": int64(math.MinInt64)}},
	{name: "Inc/MixedSignsNearLimits", start: O{"n": int64(math.MaxInt64)}, cmds: cs(cmdInc("n", int64(math.MinInt64))), want: O{"n": int64(-1)}},
	{name: "Inc/Dotted", start: O{}, cmds: cs(cmdInc("p.n", 1)), want: O{"p": O{"n": int64(1)}}},
	{name: "Inc/Overflow", start: O{"n": int64(math.MaxInt64)}, cmds: cs(cmdInc("n", 1)), err: ErrTypeMismatch},
	{name: "Inc/Underflow", start: O{"n": int64(math.MinInt64)}, cmds: cs(cmdInc("n", -1)), err: ErrTypeMismatch},
	{name: "Inc/FloatOverflow", start: O{"n": math.MaxFloat64}, cmds: cs(cmdInc("n", math.MaxFloat64)), err: ErrTypeMismatch},
	{name: "Inc/String", start: O{"n": "1"}, cmds: cs(cmdInc("n", 1)), err: ErrTypeMismatch},
	{name: "Inc/Null", start: O{"n": nil}, cmds: cs(cmdInc("n", 1)), err: ErrTypeMismatch},
	{name: "Inc/Bool", start: O{"n": true}, cmds: cs(cmdInc("n", 1)), err: ErrTypeMismatch},
	{name: "Inc/Array", start: O{"n": A{int64(1)}}, cmds: cs(cmdInc("n", 1)), err: ErrTypeMismatch},
	{name: "Inc/Document", start: O{"n": O{}}, cmds: cs(cmdInc("n", 1)), err: ErrTypeMismatch},
	{name: "Inc/Time", start: O{"n": when}, cmds: cs(cmdInc("n", 1)), err: ErrTypeMismatch},
	{name: "Inc/ThroughScalar", start: O{"p": int64(1)}, cmds: cs(cmdInc("p.n", 1)), err: ErrTypeMismatch},

	{name: "Push/Missing", start: O{}, cmds: cs(cmdPush("l", 1)), want: O{"l": A{int64(1)}}},
	{name: "Push/MissingNoValues", start: O{}, cmds: cs(cmdPush("l")), want: O{"l": A{}}},
	{name: "Push/NoValues", start: O{"l": A{int64(1)}}, cmds: cs(cmdPush("l")), want: O{"l": A{int64(1)}}},
	{name: "Push/Append", start: O{"l": A{int64(1)}}, cmds: cs(cmdPush("l", 2, "three", A{4}, O{"five": 5})),
		want: O{"l": A{int64(1), int64(2), "three", A{int64(4)}, O{"five": int64(5)}}}},
	{name: "Push/Duplicate", start: O{"l": A{int64(1)}}, cmds: cs(cmdPush("l", 1)), want: O{"l": A{int64(1), int64(1)}}},
	{name: "Push/Empty", start: O{"l": A{}}, cmds: cs(cmdPush("l", nil)), want: O{"l": A{nil}}},
	{name: "Push/Dotted", start: O{}, cmds: cs(cmdPush("p.l", 1)), want: O{"p": O{"l": A{int64(1)}}}},
	{name: "Push/String", start: O{"l": "x"}, cmds: cs(cmdPush("l", 1)), err: ErrTypeMismatch},
	{name: "Push/Null", start: O{"l": nil}, cmds: cs(cmdPush("l", 1)), err: ErrTypeMismatch},
	{name: "Push/Document", start: O{"l": O{}}, cmds: cs(cmdPush("l", 1)), err: ErrTypeMismatch},
	{name: "Push/ThroughScalar", start: O{"p": "s"}, cmds: cs(cmdPush("p.l", 1)), err: ErrTypeMismatch},

	{name: "AddToSet/New", start: O{"l": A{int64(1)}}, cmds: cs(cmdAdd("l", 2)), want: O{"l": A{int64(1), int64(2)}}},
	{name: "AddToSet/Present", start: O{"l": A{int64(1), int64(2)}}, cmds: cs(cmdAdd("l", 2)), want: O{"l": A{int64(1), int64(2)}}},
	{name: "AddToSet/NumberByValue", start: O{"l": A{int64(1)}}, cmds: cs(cmdAdd("l", 1.0)), want: O{"l": A{int64(1)}}},
	{name: "AddToSet/Int32InDoc", start: O{"l": A{int32(1)}}, cmds: cs(cmdAdd("l", 1)), want: O{"l": A{int32(1)}}},
	{name: "AddToSet/EachOnce", start: O{"l": A{}}, cmds: cs(cmdAdd("l", "x", "y", "x")), want: O{"l": A{"x", "y"}}},
	{name: "AddToSet/KeepsExistingDuplicates", start: O{"l": A{"x", "x"}}, cmds: cs(cmdAdd("l", "x", "y")), want: O{"l": A{"x", "x", "y"}}},
	{name: "AddToSet/Missing", start: O{}, cmds: cs(cmdAdd("l", 1, 1)), want: O{"l": A{int64(1)}}},
	{name: "AddToSet/MissingNoValues", start: O{}, cmds: cs(cmdAdd("l")), want: O{"l": A{}}},
	{name: "AddToSet/Document", start: O{"l": A{O{"x": int64(1), "y": int64(2)}}}, cmds: cs(cmdAdd("l", O{"y": 2, "x": 1}, O{"x": 1})),
		want: O{"l": A{O{"x": int64(1), "y": int64(2)}, O{"x": int64(1)}}}},
	{name: "AddToSet/Array", start: O{"l": A{A{int64(1), int64(2)}}}, cmds: cs(cmdAdd("l", A{2, 1}, A{1, 2})),
		want: O{"l": A{A{int64(1), int64(2)}, A{int64(2), int64(1)}}}},
	{name: "AddToSet/Time", start: O{"l": A{when}}, cmds: cs(cmdAdd("l", when.In(time.FixedZone("X", 60)))), want: O{"l": A{when}}},
	{name: "AddToSet/Dotted", start: O{}, cmds: cs(cmdAdd("p.l", "x")), want: O{"p": O{"l": A{"x"}}}},
	{name: "AddToSet/String", start: O{"l": "x"}, cmds: cs(cmdAdd("l", 1)), err: ErrTypeMismatch},
	{name: "AddToSet/StringNoValues", start: O{"l": "x"}, cmds: cs(cmdAdd("l")), err: ErrTypeMismatch},
	{name: "AddToSet/ThroughArray", start: O{"p": A{}}, cmds: cs(cmdAdd("p.l", 1)), err: ErrTypeMismatch},

	{name: "Pull/Value", start: O{"l": A{int64(1), int64(2), int64(1), int64(3)}}, cmds: cs(cmdPull("l", 1)), want: O{"l": A{int64(2), int64(3)}}},
	{name: "Pull/NumberByValue", start: O{"l": A{int64(1), 2.0, int32(2), int64(3)}}, cmds: cs(cmdPull("l", 2)), want: O{"l": A{int64(1), int64(3)}}},
	{name: "Pull/Absent", start: O{"l": A{int64(1)}}, cmds: cs(cmdPull("l", 2)), want: O{"l": A{int64(1)}}},
	{name: "Pull/All", start: O{"l": A{"x", "x"}}, cmds: cs(cmdPull("l", "x")), want: O{"l": A{}}},
	{name: "Pull/DocumentWhole", start: O{"l": A{O{"x": int64(1), "y": int64(2)}, O{"x": int64(1)}, O{"y": int64(2), "x": 1.0}}},
		cmds: cs(cmdPull("l", O{"y": 2, "x": 1})), want: O{"l": A{O{"x": int64(1)}}}},
	{name: "Pull/Array", start: O{"l": A{A{int64(1), int64(2)}, A{int64(2), int64(1)}, int64(1)}}, cmds: cs(cmdPull("l", A{1, 2})),
		want: O{"l": A{A{int64(2), int64(1)}, int64(1)}}},
	{name: "Pull/Null", start: O{"l": A{nil, int64(1), nil}}, cmds: cs(cmdPull("l", nil)), want: O{"l": A{int64(1)}}},
	{name: "Pull/Missing", start: O{}, cmds: cs(cmdPull("l", 1)), want: O{}},
	{name: "Pull/DottedMissing", start: O{"p": O{}}, cmds: cs(cmdPull("p.q.l", 1)), want: O{"p": O{}}},
	{name: "Pull/String", start: O{"l": "x"}, cmds: cs(cmdPull("l", "x")), err: ErrTypeMismatch},
	{name: "Pull/Null", start: O{"l": nil}, cmds: cs(cmdPull("l", nil)), err: ErrTypeMismatch},
	{name: "Pull/ThroughScalar", start: O{"p": int64(1)}, cmds: cs(cmdPull("p.l", 1)), err: ErrTypeMismatch},
	{name: "Pull/ThroughArray", start: O{"p": A{}}, cmds: cs(cmdPull("p.l", 1)), err: ErrTypeMismatch},

	{name: "PullAll/Values", start: O{"l": A{int64(1), int64(2), int64(3), int64(2), "2"}}, cmds: cs(cmdPullAll("l", 2, 3)), want: O{"l": A{int64(1), "2"}}},
	{name: "PullAll/NoValues", start: O{"l": A{int64(1)}}, cmds: cs(cmdPullAll("l")), want: O{"l": A{int64(1)}}},
	{name: "PullAll/Missing", start: O{}, cmds: cs(cmdPullAll("l", 1)), want: O{}},
	{name: "PullAll/Number", start: O{"l": int64(1)}, cmds: cs(cmdPullAll("l", 1)), err: ErrTypeMismatch},
	{name: "PullAll/Document", start: O{"l": O{"a": int64(1)}}, cmds: cs(cmdPullAll("l", 1)), err: ErrTypeMismatch},
	{name: "PullAll/ThroughNull", start: O{"p": nil}, cmds: cs(cmdPullAll("p.l", 1)), err: ErrTypeMismatch},

	{name: "Pop/Last", start: O{"l": A{int64(1), int64(2), int64(3)}}, cmds: cs(cmdPop("l", 1)), want: O{"l": A{int64(1), int64(2)}}},
	{name: "Pop/First", start: O{"l": A{int64(1), int64(2), int64(3)}}, cmds: cs(cmdPop("l", -1)), want: O{"l": A{int64(2), int64(3)}}},
	{name: "Pop/Only", start: O{"l": A{int64(1)}}, cmds: cs(cmdPop("l", 1)), want: O{"l": A{}}},
	{name: "Pop/Empty", start: O{"l": A{}}, cmds: cs(cmdPop("l", 1)), want: O{"l": A{}}},
	{name: "Pop/Missing", start: O{}, cmds: cs(cmdPop("l", -1)), want: O{}},
	{name: "Pop/Dotted", start: O{"p": O{"l": A{"a", "b"}}}, cmds: cs(cmdPop("p.l", -1)), want: O{"p": O{"l": A{"b"}}}},
	{name: "Pop/String", start: O{"l": "x"}, cmds: cs(cmdPop("l", 1)), err: ErrTypeMismatch},
	{name: "Pop/Null", start: O{"l": nil}, cmds: cs(cmdPop("l", 1)), err: ErrTypeMismatch},
	{name: "Pop/Document", start: O{"l": O{}}, cmds: cs(cmdPop("l", 1)), err: ErrTypeMismatch},
	{name: "Pop/ThroughScalar", start: O{"p": int64(2)}, cmds: cs(cmdPop("p.l", 1)), err: ErrTypeMismatch},

	{name: "Rename/Existing", start: O{"a": int64(1)}, cmds: cs(cmdRename("a", "b")), want: O{"b": int64(1)}},
	{name: "Rename/Overwrite", start: O{"a": int64(1), "b": "old"}, cmds: cs(cmdRename("a", "b")), want: O{"b": int64(1)}},
	{name: "Rename/Missing", start: O{"b": int64(2)}, cmds: cs(cmdRename("a", "b")), want: O{"b": int64(2)}},
	{name: "Rename/MissingWithBadTarget", start: O{"q": int64(5)}, cmds: cs(cmdRename("a", "q.y")), want: O{"q": int64(5)}},
	{name: "Rename/Null", start: O{"a": nil}, cmds: cs(cmdRename("a", "b")), want: O{"b": nil}},
	{name: "Rename/IntoDocument", start: O{"a": int64(1), "d": O{"x": int64(2)}}, cmds: cs(cmdRename("a", "d.y")), want: O{"d": O{"x": int64(2), "y": int64(1)}}},
	{name: "Rename/OutOfDocument", start: O{"d": O{"x": int64(2)}}, cmds: cs(cmdRename("d.x", "x")), want: O{"d": O{}, "x": int64(2)}},
	{name: "Rename/Dotted", start: O{"p": O{"x": A{int64(1)}}}, cmds: cs(cmdRename("p.x", "q.y")), want: O{"p": O{}, "q": O{"y": A{int64(1)}}}},
	{name: "Rename/Siblings", start: O{"p": O{"x": int64(1)}}, cmds: cs(cmdRename("p.x", "p.y")), want: O{"p": O{"y": int64(1)}}},
	{name: "Rename/Document", start: O{"a": O{"x": int64(1)}}, cmds: cs(cmdRename("a", "b")), want: O{"b": O{"x": int64(1)}}},
	{name: "Rename/DottedMissing", start: O{"p": O{}}, cmds: cs(cmdRename("p.x", "y")), want: O{"p": O{}}},
	{name: "Rename/TargetThroughScalar", start: O{"a": int64(1), "q": int64(5)}, cmds: cs(cmdRename("a", "q.y")), err: ErrTypeMismatch},
	{name: "Rename/TargetThroughArray", start: O{"a": int64(1), "q": A{}}, cmds: cs(cmdRename("a", "q.y")), err: ErrTypeMismatch},
	{name: "Rename/SourceThroughScalar", start: O{"p": "s"}, cmds: cs(cmdRename("p.x", "y")), err: ErrTypeMismatch},
	{name: "Rename/SourceThroughArray", start: O{"p": A{O{"x": int64(1)}}}, cmds: cs(cmdRename("p.x", "y")), err: ErrTypeMismatch},
	{name: "Rename/SourceThroughNull", start: O{"p": nil}, cmds: cs(cmdRename("p.x", "y")), err: ErrTypeMismatch},

	{name: "Batch/InOrder", start: O{"n": int64(1), "l": A{int64(1)}},
		cmds: cs(cmdInc("n", 1), cmdPush("l", 2), cmdSet("s", "x"), cmdUnset("gone"), cmdRename("old", "new"), cmdPop("empty", 1)),
		want: O{"n": int64(2), "l": A{int64(1), int64(2)}, "s": "x"}},
	{name: "Batch/Sequential", start: O{},
		cmds: cs(cmdSet("a.b", 1), cmdInc("a.b", 1), cmdSet("a.c", A{}), cmdPush("a.c", 1), cmdRename("a", "z"), cmdInc("z.b", 0.5), cmdSet("a", "again")),
		want: O{"z": O{"b": 2.5, "c": A{int64(1)}}, "a": "again"}},
	{name: "Batch/SetThenSetInside", start: O{"d": O{"x": int64(1)}},
		cmds: cs(cmdSet("d", O{"y": 1}), cmdSet("d.z", 2), cmdUnset("d.y")), want: O{"d": O{"z": int64(2)}}},
	{name: "Batch/AllOrNothingFirst", start: O{"s": "x", "n": int64(1)}, cmds: cs(cmdInc("s", 1), cmdSet("a", 1), cmdInc("n", 1)), err: ErrTypeMismatch},
	{name: "Batch/AllOrNothingLast", start: O{"s": "x", "l": A{int64(1)}}, cmds: cs(cmdSet("a", 1), cmdPush("l", 2), cmdUnset("b"), cmdPop("s", 1)), err: ErrTypeMismatch},
	{name: "Batch/Empty", start: O{"a": int64(1)}, cmds: nil, want: O{"a": int64(1)}},
}

func cs(cmds ...Command) []Command { return cmds }

// exactCopy deep-copies a document keeping every type as it is (Doc.Clone
// turns nested Docs into maps), for comparisons with reflect.DeepEqual.
func exactCopy(d Doc) Doc {
	return copyExact(d).(Doc)
}

func copyExact(v any) any {
	switch x := v.(type) {
	case Doc:
		out := make(Doc, len(x))
		for k, e := range x {
			out[k] = copyExact(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = copyExact(e)
		}
		return out
	case bsonLikeM:
		return bsonLikeM(copyExact(map[string]any(x)).(map[string]any))
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyExact(e)
		}
		return out
	case bsonLikeA:
		return bsonLikeA(copyExact([]any(x)).([]any))
	}
	return v
}

// prepareAll prepares cmds or fails the test.
func prepareAll(t testing.TB, cmds []Command) []Command {
	t.Helper()
	out := make([]Command, len(cmds))
	for i, c := range cmds {
		p, err := PrepareCommand(c)
		if err != nil {
			t.Fatalf("PrepareCommand(%s): %v", c, err)
		}
		out[i] = p
	}
	return out
}

func TestApplyCommands(t *testing.T) {
	for _, c := range applyCases {
		t.Run(c.name, func(t *testing.T) {
			start := Doc(c.start)
			before := exactCopy(start)
			got, err := ApplyCommands(start, prepareAll(t, c.cmds))
			if !reflect.DeepEqual(start, before) {
				t.Errorf("ApplyCommands changed its input: %#v, was %#v", start, before)
			}
			if c.err != nil {
				if !errors.Is(err, c.err) || got != nil {
					t.Fatalf("ApplyCommands = %#v, %v; want nil and an error wrapping %v", got, err, c.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, Doc(c.want)) {
				t.Fatalf("ApplyCommands = %#v, %v\nwant %#v", got, err, c.want)
			}
		})
	}
}

func TestApplyCommandsErrorsNameTheCommand(t *testing.T) {
	for _, c := range []struct {
		start O
		cmd   Command
		want  []string
	}{
		{O{"p": "s"}, cmdSet("p.q.r", 1), []string{`$set "p.q.r"`, `cannot create field "q" in element "p"`, "string"}},
		{O{"p": O{"q": A{}}}, cmdSet("p.q.r", 1), []string{`cannot create field "r" in element "p.q"`, "an array"}},
		{O{"n": "1"}, cmdInc("n", 1), []string{`$inc "n"`, "cannot apply $inc", "string"}},
		{O{"n": int64(math.MaxInt64)}, cmdInc("n", 1), []string{"overflows int64"}},
		{O{"l": nil}, cmdPush("l", 1), []string{`$push "l"`, "null, not an array"}},
		{O{"l": O{}}, cmdPop("l", 1), []string{`$pop "l"`, "a document, not an array"}},
		{O{"p": A{}}, cmdRename("p.x", "y"), []string{`$rename "p.x" to "y"`, `element "p" holds an array`}},
	} {
		_, err := ApplyCommands(Doc(c.start), prepareAll(t, cs(c.cmd)))
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s on %v: error %v does not say %q", c.cmd, c.start, err, w)
			}
		}
	}
}

func TestApplyCommandsNilDocAndNoCommands(t *testing.T) {
	got, err := ApplyCommands(nil, nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ApplyCommands(nil, nil) = %#v, %v; want an empty Doc", got, err)
	}
	got, err = ApplyCommands(nil, prepareAll(t, cs(cmdSet("a", 1))))
	if err != nil || !reflect.DeepEqual(got, Doc{"a": int64(1)}) {
		t.Fatalf("ApplyCommands(nil, set a) = %#v, %v", got, err)
	}
}

// TestApplyCommandsNeverChangesItsInput applies every kind of change deep
// inside a document and checks that neither the document nor the commands
// changed, and that changing the result's top level leaves the input alone.
func TestApplyCommandsNeverChangesItsInput(t *testing.T) {
	doc := Doc{
		"a": O{"b": O{"c": int64(1), "l": A{int64(1), int64(2), O{"x": int64(1)}}, "s": A{"x"}}, "keep": O{"k": true}},
		"l": A{int64(1), int64(2), int64(3)},
		"d": Doc{"e": O{"f": "g"}},
		"n": int32(4),
	}
	before := exactCopy(doc)
	setValue := O{"new": A{int64(1)}}
	pushValue := O{"p": int64(1)}
	cmds := cs(
		Command{Op: OpSet, Path: "a.b.c", Value: setValue},
		Command{Op: OpSet, Path: "a.b.c.new2", Value: int64(2)},
		Command{Op: OpPush, Path: "a.b.l", Values: A{pushValue}},
		Command{Op: OpPop, Path: "l", Value: int64(1)},
		Command{Op: OpPullAll, Path: "a.b.s", Values: A{"x"}},
		Command{Op: OpAddToSet, Path: "l", Values: A{int64(9)}},
		Command{Op: OpUnset, Path: "d.e.f"},
		Command{Op: OpInc, Path: "n", Value: int64(1)},
		Command{Op: OpRename, Path: "a.keep", To: "d.e.moved"},
		Command{Op: OpSet, Path: "d.e.moved.k2", Value: false},
	)
	cmdsBefore := fmt.Sprintf("%#v", cmds)
	got, err := ApplyCommands(doc, cmds)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc, before) {
		t.Fatalf("ApplyCommands changed its input:\n%#v\nwas\n%#v", doc, before)
	}
	if after := fmt.Sprintf("%#v", cmds); after != cmdsBefore {
		t.Fatalf("ApplyCommands changed its commands:\n%s\nwas\n%s", after, cmdsBefore)
	}
	want := Doc{
		"a": O{"b": O{"c": O{"new": A{int64(1)}, "new2": int64(2)}, "l": A{int64(1), int64(2), O{"x": int64(1)}, O{"p": int64(1)}}, "s": A{}}},
		"l": A{int64(1), int64(2), int64(9)},
		"d": O{"e": O{"moved": O{"k": true, "k2": false}}},
		"n": int64(5),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ApplyCommands =\n%#v\nwant\n%#v", got, want)
	}
	// The result does not share the commands' operands.
	got["a"].(O)["b"].(O)["c"].(O)["new"].(A)[0] = "changed"
	got["a"].(O)["b"].(O)["l"].(A)[3].(O)["p"] = "changed"
	if setValue["new"].(A)[0] != int64(1) || pushValue["p"] != int64(1) {
		t.Fatal("the result shares an operand with the command")
	}
	// The top level of the result is a new map (the memory store sets its
	// expiry there).
	got["added"] = true
	delete(got, "n")
	if !reflect.DeepEqual(doc, before) {
		t.Fatal("changing the result's top level changed the input")
	}
}

func TestApplyCommandsIsAllOrNothing(t *testing.T) {
	doc := Doc{"a": O{"b": int64(1)}, "l": A{int64(1)}, "s": "x"}
	before := exactCopy(doc)
	cmds := prepareAll(t, cs(cmdSet("a.c", 2), cmdPush("l", 2), cmdUnset("a.b"), cmdSet("new.x", 1), cmdInc("s", 1), cmdSet("never", 1)))
	got, err := ApplyCommands(doc, cmds)
	if got != nil || !errors.Is(err, ErrTypeMismatch) || !strings.Contains(err.Error(), `$inc "s"`) {
		t.Fatalf("ApplyCommands = %#v, %v; want nil and the $inc error", got, err)
	}
	if !reflect.DeepEqual(doc, before) {
		t.Fatalf("a failed ApplyCommands changed its input: %#v", doc)
	}
}

// TestApplyCommandsSharesWhatItDoesNotChange documents the copy on write:
// values the commands did not touch are the same maps and slices as in the
// input; the documents along a changed path are new.
func TestApplyCommandsSharesWhatItDoesNotChange(t *testing.T) {
	untouched := O{"big": A{int64(1)}}
	sibling := O{"x": int64(1)}
	doc := Doc{"untouched": untouched, "p": O{"sibling": sibling, "q": O{"n": int64(1)}}}
	got, err := ApplyCommands(doc, prepareAll(t, cs(cmdInc("p.q.n", 1))))
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b any) bool { return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer() }
	if !same(got["untouched"], untouched) || !same(got["p"].(O)["sibling"], sibling) {
		t.Error("untouched values were copied")
	}
	if same(got["p"], doc["p"]) || same(got["p"].(O)["q"], doc["p"].(O)["q"]) {
		t.Error("a document on the changed path is shared with the input")
	}
	if _, ok := got["p"].(map[string]any); !ok {
		t.Errorf("a changed document has type %T, want map[string]any", got["p"])
	}
}

// TestApplyCommandsRejectsUnpreparedCommands feeds commands that did not go
// through PrepareCommand: each gives an error, never a panic or a change.
func TestApplyCommandsRejectsUnpreparedCommands(t *testing.T) {
	cyclic := O{}
	cyclic["self"] = cyclic
	cyclicList := A{nil}
	cyclicList[0] = cyclicList
	doc := Doc{"l": A{int64(1)}, "n": int64(1)}
	for _, c := range []struct {
		cmd  Command
		want error
	}{
		{Command{}, ErrInvalidKey},
		{Command{Op: 0, Path: "a"}, ErrInvalidValue},
		{Command{Op: 200, Path: "a"}, ErrInvalidValue},
		{Command{Op: OpSet, Path: ""}, ErrInvalidKey},
		{Command{Op: OpSet, Path: "a..b"}, ErrInvalidKey},
		{Command{Op: OpSet, Path: "$set"}, ErrInvalidKey},
		{Command{Op: OpSet, Path: "l.0"}, ErrInvalidKey},
		{Command{Op: OpSet, Path: FieldID, Value: "x"}, ErrReservedKey},
		{Command{Op: OpUnset, Path: FieldExpires}, ErrReservedKey},
		{Command{Op: OpSet, Path: "c", Value: cyclic}, ErrInvalidValue},
		{Command{Op: OpPush, Path: "l", Values: A{cyclicList}}, ErrInvalidValue},
		{Command{Op: OpAddToSet, Path: "l", Values: A{cyclic}}, ErrInvalidValue},
		{Command{Op: OpPull, Path: "l", Value: cyclic}, ErrInvalidValue},
		{Command{Op: OpPullAll, Path: "l", Values: A{cyclicList}}, ErrInvalidValue},
		{Command{Op: OpInc, Path: "n", Value: "1"}, ErrInvalidValue},
		{Command{Op: OpInc, Path: "n", Value: nil}, ErrInvalidValue},
		{Command{Op: OpInc, Path: "n", Value: math.NaN()}, ErrInvalidValue},
		{Command{Op: OpInc, Path: "n", Value: math.Inf(-1)}, ErrInvalidValue},
		{Command{Op: OpPop, Path: "l", Value: 2}, ErrInvalidValue},
		{Command{Op: OpPop, Path: "l", Value: nil}, ErrInvalidValue},
		{Command{Op: OpPop, Path: "l", Value: 1.0}, ErrInvalidValue},
		{Command{Op: OpRename, Path: "n", To: "n"}, ErrConflict},
		{Command{Op: OpRename, Path: "n", To: "n.x"}, ErrConflict},
		{Command{Op: OpRename, Path: "n.x", To: "n"}, ErrConflict},
		{Command{Op: OpRename, Path: "n", To: ""}, ErrInvalidKey},
		{Command{Op: OpRename, Path: "n", To: FieldUserID}, ErrReservedKey},
	} {
		before := exactCopy(doc)
		got, err := ApplyCommands(doc, cs(c.cmd))
		if got != nil || !errors.Is(err, c.want) {
			t.Errorf("ApplyCommands(%#v) = %#v, %v; want an error wrapping %v", c.cmd, got, err, c.want)
		}
		if !reflect.DeepEqual(doc, before) {
			t.Fatalf("ApplyCommands(%#v) changed its input", c.cmd)
		}
	}
}

// TestApplyCommandsAcceptsLooseOperands checks that ApplyCommands copes with
// operands PrepareCommand would have converted.
func TestApplyCommandsAcceptsLooseOperands(t *testing.T) {
	got, err := ApplyCommands(Doc{"n": int64(1), "l": A{int64(1), int64(2)}, "d": bsonLikeM{"x": bsonLikeA{"a"}}}, cs(
		Command{Op: OpInc, Path: "n", Value: 2},
		Command{Op: OpPop, Path: "l", Value: int8(-1)},
		Command{Op: OpPush, Path: "l"},
		Command{Op: OpPush, Path: "d.x", Values: A{"b"}},
		Command{Op: OpSet, Path: "d.y", Value: Doc{"z": int64(1)}},
	))
	want := Doc{"n": int64(3), "l": A{int64(2)}, "d": O{"x": A{"a", "b"}, "y": O{"z": int64(1)}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ApplyCommands = %#v, %v\nwant %#v", got, err, want)
	}
}

func TestPrepareCommandNormalizes(t *testing.T) {
	type amount uint16
	for _, c := range []struct {
		in, want Command
	}{
		{cmdSet("a", map[string]int{"x": 1}), Command{Op: OpSet, Path: "a", Value: O{"x": int64(1)}}},
		{cmdSet("a", nil), Command{Op: OpSet, Path: "a"}},
		{Command{Op: OpSet, Path: "a", Value: 1, Values: A{1}, To: "b"}, Command{Op: OpSet, Path: "a", Value: int64(1)}},
		{Command{Op: OpUnset, Path: "a", Value: 1, Values: A{1}}, Command{Op: OpUnset, Path: "a"}},
		{cmdInc("n", 3), Command{Op: OpInc, Path: "n", Value: int64(3)}},
		{cmdInc("n", uint8(3)), Command{Op: OpInc, Path: "n", Value: int64(3)}},
		{cmdInc("n", amount(3)), Command{Op: OpInc, Path: "n", Value: int64(3)}},
		{cmdInc("n", float32(0.5)), Command{Op: OpInc, Path: "n", Value: 0.5}},
		{cmdInc("n", -2.25), Command{Op: OpInc, Path: "n", Value: -2.25}},
		{cmdPop("l", 1), Command{Op: OpPop, Path: "l", Value: int64(1)}},
		{cmdPop("l", int8(-1)), Command{Op: OpPop, Path: "l", Value: int64(-1)}},
		{cmdPop("l", uint(1)), Command{Op: OpPop, Path: "l", Value: int64(1)}},
		{cmdPush("l"), Command{Op: OpPush, Path: "l", Values: A{}}},
		{cmdPush("l", []string{"a"}, 2), Command{Op: OpPush, Path: "l", Values: A{A{"a"}, int64(2)}}},
		{cmdAdd("l", int32(1)), Command{Op: OpAddToSet, Path: "l", Values: A{int64(1)}}},
		{cmdPullAll("l", uint(1), "x"), Command{Op: OpPullAll, Path: "l", Values: A{int64(1), "x"}}},
		{cmdPull("l", Doc{"a": 1}), Command{Op: OpPull, Path: "l", Value: O{"a": int64(1)}}},
		{cmdRename("a.b", "a.c"), Command{Op: OpRename, Path: "a.b", To: "a.c"}},
		{cmdRename("a", "ab"), Command{Op: OpRename, Path: "a", To: "ab"}},
	} {
		got, err := PrepareCommand(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("PrepareCommand(%#v) = %#v, %v\nwant %#v", c.in, got, err, c.want)
		}
	}
}

func TestPrepareCommandCopiesOperands(t *testing.T) {
	v := O{"x": A{int64(1)}}
	vs := A{O{"y": int64(1)}}
	set, err := PrepareCommand(cmdSet("a", v))
	if err != nil {
		t.Fatal(err)
	}
	push, err := PrepareCommand(Command{Op: OpPush, Path: "l", Values: vs})
	if err != nil {
		t.Fatal(err)
	}
	v["x"].(A)[0] = "changed"
	vs[0].(O)["y"] = "changed"
	vs[0] = "changed"
	if !reflect.DeepEqual(set.Value, O{"x": A{int64(1)}}) || !reflect.DeepEqual(push.Values, A{O{"y": int64(1)}}) {
		t.Fatalf("the prepared commands share their operands with the caller: %#v, %#v", set.Value, push.Values)
	}
}

func TestPrepareCommandRejects(t *testing.T) {
	big := strings.Repeat("x", MaxValueSize)
	half := strings.Repeat("x", MaxValueSize/2)
	for _, c := range []struct {
		cmd  Command
		want error
		says string
	}{
		{Command{Path: "a"}, ErrInvalidValue, "unknown operator"},
		{Command{Op: 42, Path: "a"}, ErrInvalidValue, "Op(42)"},
		{cmdSet("", 1), ErrInvalidKey, `$set ""`},
		{cmdSet("a.$b", 1), ErrInvalidKey, `$set "a.$b"`},
		{cmdSet("items.0", 1), ErrInvalidKey, "all digits"},
		{cmdUnset(FieldUserID), ErrReservedKey, `$unset "_user"`},
		{cmdInc("maxAge", 1), ErrReservedKey, "maxAge"},
		{cmdSet("a", func() {}), ErrInvalidValue, "func()"},
		{cmdSet("a", O{"ok": A{1, make(chan int)}}), ErrInvalidValue, "at ok[1]"},
		{cmdPull("l", []byte("x")), ErrInvalidValue, "binary"},
		{cmdPush("l", 1, math.NaN()), ErrInvalidValue, "at [1]"},
		{cmdAdd("l", struct{ C chan int }{}), ErrInvalidValue, "chan int"},
		{cmdPullAll("l", uint64(math.MaxUint64)), ErrInvalidValue, "int64 range"},
		{cmdInc("n", "1"), ErrInvalidValue, "not a number"},
		{cmdInc("n", nil), ErrInvalidValue, "not a number"},
		{cmdInc("n", true), ErrInvalidValue, "not a number"},
		{cmdInc("n", new(int)), ErrInvalidValue, "not a number"},
		{cmdInc("n", math.Inf(1)), ErrInvalidValue, "not finite"},
		{cmdInc("n", uint64(math.MaxUint64)), ErrInvalidValue, "int64 range"},
		{cmdPop("l", 0), ErrInvalidValue, "want 1"},
		{cmdPop("l", 2), ErrInvalidValue, "want 1"},
		{cmdPop("l", 1.0), ErrInvalidValue, "want 1"},
		{cmdPop("l", "1"), ErrInvalidValue, "want 1"},
		{cmdPop("l", nil), ErrInvalidValue, "want 1"},
		{cmdRename("a", "a"), ErrConflict, "overlap"},
		{cmdRename("a", "a.b"), ErrConflict, "overlap"},
		{cmdRename("a.b", "a"), ErrConflict, "overlap"},
		{cmdRename("a", ""), ErrInvalidKey, "target"},
		{cmdRename("a", FieldCreated), ErrReservedKey, "target"},
		{cmdRename(FieldID, "a"), ErrReservedKey, "_id"},
		{cmdSet("a", big), ErrTooLarge, "MaxValueSize"},
		{cmdPush("l", half, half), ErrTooLarge, "MaxValueSize"},
		{cmdSet("a", map[string]string{"k": big}), ErrTooLarge, "MaxValueSize"},
		{cmdSet(strings.Repeat("a.", 50)+"a", nest(maxDepth-49)), ErrInvalidValue, "levels deep"},
		{cmdPush(strings.Repeat("a.", maxDepth-1)+"a", A{}), ErrInvalidValue, "levels deep"},
	} {
		got, err := PrepareCommand(c.cmd)
		if !errors.Is(err, c.want) || !reflect.DeepEqual(got, Command{}) {
			t.Errorf("PrepareCommand(%.80v) = %v, %v; want an error wrapping %v", c.cmd, got, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.says) {
			t.Errorf("PrepareCommand(%.80v) error %q does not say %q", c.cmd, err, c.says)
		}
	}
	// Just under the limits is fine.
	for _, c := range []Command{
		cmdSet("a", big[:MaxValueSize-5]),
		cmdSet(strings.Repeat("a.", 50)+"a", nest(maxDepth-50)),
		cmdPush(strings.Repeat("a.", maxDepth-1)+"a", "leaf"),
	} {
		if _, err := PrepareCommand(c); err != nil {
			t.Errorf("PrepareCommand(%.80v) = %v", c, err)
		}
	}
}

func TestPrepareThenApplyGivesCanonicalTypes(t *testing.T) {
	type named string
	got, err := ApplyCommands(nil, prepareAll(t, cs(
		cmdSet("s", named("x")),
		cmdSet("t", time.Date(2020, 1, 1, 0, 0, 0, 999_999, time.FixedZone("X", 7200))),
		cmdPush("l", []int{1}, map[string]float32{"f": 0.5}),
		cmdInc("n", uint8(1)),
	)))
	if err != nil {
		t.Fatal(err)
	}
	want := Doc{
		"s": "x",
		"t": time.Date(2019, 12, 31, 22, 0, 0, 0, time.UTC),
		"l": A{A{int64(1)}, O{"f": 0.5}},
		"n": int64(1),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
}

// TestApplyCommandsConcurrentlyOnOneDoc shows, under the race detector,
// that ApplyCommands only reads doc: many goroutines may apply commands to
// one stored document at once.
func TestApplyCommandsConcurrentlyOnOneDoc(t *testing.T) {
	doc := Doc{"p": O{"q": O{"n": int64(1)}, "l": A{int64(1)}}, "s": O{"x": "y"}}
	cmds := prepareAll(t, cs(cmdInc("p.q.n", 1), cmdPush("p.l", 2), cmdSet("s.z", 1), cmdRename("p.q", "r"), cmdUnset("s.x")))
	want := Doc{"p": O{"l": A{int64(1), int64(2)}}, "r": O{"n": int64(2)}, "s": O{"z": int64(1)}}
	done := make(chan Doc)
	for range 8 {
		go func() {
			got, err := ApplyCommands(doc, cmds)
			if err != nil {
				t.Error(err)
			}
			done <- got
		}()
	}
	for range 8 {
		if got := <-done; !reflect.DeepEqual(got, want) {
			t.Errorf("got %#v, want %#v", got, want)
		}
	}
}
