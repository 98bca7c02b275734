package session

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// chooser makes the choices of the random document and command generator:
// from math/rand in the property test, from the fuzzer's bytes in the fuzz
// target.
type chooser interface {
	intn(n int) int // in [0, n)
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }

// byteChooser reads its choices from data; once data runs out every choice
// is 0, which ends every list and picks the simplest value.
type byteChooser struct{ data []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.data) == 0 || n <= 1 {
		return 0
	}
	b := c.data[0]
	c.data = c.data[1:]
	return int(b) % n
}

// A few short names, so that commands often meet each other's paths.
var genKeys = []string{"a", "b", "c", "d"}

func genPath(ch chooser) string {
	switch ch.intn(40) {
	case 0:
		return "" // not a valid key
	case 1:
		return "a..b"
	case 2:
		return "$x"
	case 3:
		return "a.0"
	case 4:
		return FieldExpires
	}
	p := genKeys[ch.intn(len(genKeys))]
	for n := ch.intn(3); n > 0; n-- {
		p += "." + genKeys[ch.intn(len(genKeys))]
	}
	return p
}

// genValue returns a value: canonical mostly, with the int32 and int that
// stores may return and, if odd, values that PrepareCommand would refuse.
func genValue(ch chooser, depth int, odd bool) any {
	n := 12
	if odd {
		n = 16
	}
	if depth > 3 {
		n = 8 // scalars only
	}
	switch ch.intn(n) {
	case 0:
		return nil
	case 1:
		return ch.intn(2) == 0
	case 2:
		return genKeys[ch.intn(len(genKeys))]
	case 3:
		return int64(ch.intn(5)) - 2
	case 4:
		return []int64{math.MaxInt64, math.MinInt64, 1 << 53}[ch.intn(3)]
	case 5:
		return float64(ch.intn(5)) / 2
	case 6:
		return int32(ch.intn(3))
	case 7:
		return time.UnixMilli(int64(ch.intn(3))).UTC()
	case 8, 9:
		l := make([]any, ch.intn(4))
		for i := range l {
			l[i] = genValue(ch, depth+1, odd)
		}
		return l
	case 10, 11:
		return genDoc(ch, depth+1, odd)
	case 12:
		return struct{ X int }{1}
	case 13:
		return math.NaN()
	case 14:
		return Doc{"x": int64(1)}
	}
	return 7 // an int
}

func genDoc(ch chooser, depth int, odd bool) map[string]any {
	m := map[string]any{}
	for n := ch.intn(4); n > 0; n-- {
		m[genKeys[ch.intn(len(genKeys))]] = genValue(ch, depth+1, odd)
	}
	return m
}

func genValues(ch chooser, odd bool) []any {
	if odd && ch.intn(8) == 0 {
		return nil
	}
	vs := make([]any, ch.intn(4))
	for i := range vs {
		vs[i] = genValue(ch, 1, odd)
	}
	return vs
}

// genCommand returns a command; if odd, it may be one that PrepareCommand
// would refuse (an unknown operator, a bad operand).
func genCommand(ch chooser, odd bool) Command {
	ops := int(OpRename) + 1
	if odd {
		ops += 2
	}
	c := Command{Op: Op(ch.intn(ops)), Path: genPath(ch)}
	if !odd && c.Op == 0 {
		c.Op = OpSet
	}
	switch c.Op {
	case OpSet, OpPull:
		c.Value = genValue(ch, 0, odd)
	case OpInc:
		c.Value = []any{int64(1), int64(-1), 0.5, int64(math.MaxInt64), math.MaxFloat64, "x", nil, 3}[ch.intn(6+2*b2i(odd))]
	case OpPop:
		c.Value = []any{int64(1), int64(-1), int64(0), 2, "1"}[ch.intn(2+3*b2i(odd))]
	case OpPush, OpPullAll, OpAddToSet:
		c.Values = genValues(ch, odd)
	case OpRename:
		c.To = genPath(ch)
	}
	if odd && ch.intn(10) == 0 {
		c.Value, c.Values = genValue(ch, 0, odd), genValues(ch, odd)
	}
	return c
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkApply applies cmds to doc and checks what must always hold: no panic,
// doc unchanged, all or nothing with a sentinel error, the same result as a
// full deep copy would give, and no internal type left in the result.
func checkApply(t *testing.T, doc Doc, cmds []Command) {
	t.Helper()
	before := exactCopy(doc)
	var got Doc
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("ApplyCommands(%v, %#v) panicked: %v", doc, cmds, r)
			}
		}()
		got, err = ApplyCommands(doc, cmds)
	}()
	if !sameExact(doc, before) {
		t.Fatalf("ApplyCommands changed its input\n%#v\nwas\n%#v\ncommands %#v", doc, before, cmds)
	}
	want, wantErr := applyCommands(exactCopy(doc), cmds, false)
	if err != nil {
		if got != nil {
			t.Fatalf("ApplyCommands failed (%v) yet returned %#v", err, got)
		}
		if !isSentinel(err) {
			t.Fatalf("ApplyCommands error %v wraps no sentinel error", err)
		}
		if wantErr == nil || wantErr.Error() != err.Error() {
			t.Fatalf("copy on write fails with %v, a full copy with %v", err, wantErr)
		}
		return
	}
	if wantErr != nil || !sameExact(docsAsMaps(got), docsAsMaps(want)) {
		t.Fatalf("copy on write gives\n%#v\na full copy gives\n%#v, %v\nfor %#v on %#v", got, want, wantErr, cmds, doc)
	}
	if path, ok := findOwned(map[string]any(got), ""); ok {
		t.Fatalf("the result holds an internal document at %q: %#v", path, got)
	}
}

// sameExact reports whether a and b are deeply equal with the same types,
// NaN equal to NaN (reflect.DeepEqual alone says NaN differs from itself).
func sameExact(a, b any) bool {
	return reflect.DeepEqual(a, b) || fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// docsAsMaps deep-copies v with every Doc inside turned into map[string]any
// (as the full copy of applyCommands does; copy on write leaves untouched
// values as they are).
func docsAsMaps(v any) any {
	switch x := v.(type) {
	case Doc:
		return docsAsMaps(map[string]any(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = docsAsMaps(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = docsAsMaps(e)
		}
		return out
	}
	return v
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrTypeMismatch, ErrConflict, ErrInvalidKey, ErrReservedKey, ErrInvalidValue} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// findOwned returns the path of an ownedDoc under v, if there is one.
func findOwned(v any, path string) (string, bool) {
	switch x := v.(type) {
	case ownedDoc:
		return path, true
	case map[string]any:
		for k, e := range x {
			if p, ok := findOwned(e, path+"."+k); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range x {
			if p, ok := findOwned(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// TestApplyCommandsRandomly applies random command sequences, prepared and
// odd, to random documents, checking checkApply's properties each time, and
// that prepared commands on a canonical document give a canonical document.
func TestApplyCommandsRandomly(t *testing.T) {
	iterations := 20000
	if testing.Short() {
		iterations = 2000
	}
	r := rand.New(rand.NewPCG(1, 2))
	ch := randChooser{r}
	failed := 0
	for range iterations {
		odd := r.IntN(4) == 0
		doc := Doc(genDoc(ch, 0, odd))
		cmds := make([]Command, r.IntN(6))
		for i := range cmds {
			cmds[i] = genCommand(ch, odd)
			if !odd {
				if p, err := PrepareCommand(cmds[i]); err == nil {
					cmds[i] = p
				}
			}
		}
		checkApply(t, doc, cmds)
		if got, err := ApplyCommands(doc, cmds); err != nil {
			failed++
		} else if !odd {
			checkCanonicalTypes(t, got, doc)
		}
	}
	t.Logf("%d of %d random sequences failed", failed, iterations)
	// Both outcomes must be common, or the test checks little.
	if failed < iterations/20 || failed > iterations*19/20 {
		t.Errorf("%d of %d random sequences failed; the generator is off balance", failed, iterations)
	}
}

// checkCanonicalTypes checks that every value in got is of a Doc type, or
// an int32 or int that was in the input already (stores may return those).
func checkCanonicalTypes(t *testing.T, got, in Doc) {
	t.Helper()
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case nil, bool, string, int64, float64, time.Time, int32, int:
			return true
		case []any:
			for _, e := range x {
				if !walk(e) {
					return false
				}
			}
			return true
		case map[string]any:
			for _, e := range x {
				if !walk(e) {
					return false
				}
			}
			return true
		}
		return false
	}
	if !walk(map[string]any(got)) {
		t.Fatalf("the result holds a non-canonical type: %#v (from %#v)", got, in)
	}
}

// FuzzApplyCommands builds a document and a command sequence from the
// fuzzer's bytes and checks checkApply's properties.
func FuzzApplyCommands(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 5, 1, 2, 0, 4, 1, 1, 3})
	f.Add([]byte("\x02\x01\x0a\x00\x03\x02\x05\x01\x01\x09\x00\x02\x08"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ch := &byteChooser{data: data}
		odd := ch.intn(2) == 0
		doc := Doc(genDoc(ch, 0, odd))
		cmds := make([]Command, ch.intn(6))
		for i := range cmds {
			cmds[i] = genCommand(ch, odd)
		}
		checkApply(t, doc, cmds)
	})
}
