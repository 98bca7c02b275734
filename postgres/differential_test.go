package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// TestDifferential applies random batches of commands to sessions in the
// store and to session.ApplyCommands, the reference semantics, and
// compares after every step: the error (its class and the failing
// command's index), and the result, which must be exactly what
// session.Update.Result gives for the reference documents before and
// after (the touched keys, the fetched keys, nothing else). Every few
// steps it also compares a full Load.
func TestDifferential(t *testing.T) {
	st := newStore(t, nil)
	seed := time.Now().UnixNano()
	sequences, steps := 30, 100
	if testing.Short() {
		sequences, steps = 8, 40
	}
	t.Logf("seed %d", seed)
	ctx := context.Background()
	for seq := range sequences {
		g := &generator{r: rand.New(rand.NewPCG(uint64(seed), uint64(seq)))}
		where := func(step int) string { return fmt.Sprintf("seed %d, sequence %d, step %d", seed, seq, step) }
		m := newMeta(t, time.Hour)
		u := g.update()
		before := m.Doc()
		ref, refErr := session.ApplyCommands(before, u.Commands)
		got, err := st.Create(ctx, m, u)
		compare(t, where(0), "Create", u, before, ref, refErr, got, err)
		if err != nil {
			if _, err := st.Load(ctx, m.ID, nil); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("%s: a failed Create left a session: %v", where(0), err)
			}
			if _, err := st.Create(ctx, m, session.Update{}); err != nil {
				t.Fatal(err)
			}
			ref = m.Doc()
		}
		model := ref
		for step := 1; step <= steps; step++ {
			u := g.update()
			ref, refErr := session.ApplyCommands(model, u.Commands)
			got, err := st.Apply(ctx, m.ID, u)
			compare(t, where(step), "Apply", u, model, ref, refErr, got, err)
			if err == nil {
				model = ref
			}
			if step%10 == 0 || err != nil {
				loaded, err := st.Load(ctx, m.ID, nil)
				if err != nil || !session.Equal(map[string]any(loaded.User()), map[string]any(model.User())) {
					t.Fatalf("%s: Load gives %v, err %v; the reference has %v", where(step), loaded.User(), err, model.User())
				}
			}
		}
	}
}

func compare(t *testing.T, where, call string, u session.Update, before, ref session.Doc, refErr error, got session.Doc, err error) {
	t.Helper()
	if class(err) != class(refErr) || index(err) != index(refErr) {
		t.Fatalf("%s: %s(%v) on %v:\n store error %v\n reference error %v", where, call, u.Commands, before.User(), err, refErr)
	}
	if err != nil {
		return
	}
	want := u.Result(before, ref).User()
	if !session.Equal(map[string]any(got.User()), map[string]any(want)) {
		t.Fatalf("%s: %s(%v, fetch %v all %v) on %v:\n store gives %v\n reference gives %v", where, call, u.Commands,
			u.Fetch, u.FetchAll, before.User(), got.User(), want)
	}
}

func class(err error) string {
	for _, e := range []error{session.ErrTypeMismatch, session.ErrConflict, session.ErrInvalidValue, session.ErrInvalidKey, session.ErrNotFound} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func index(err error) int {
	var ce *session.CommandError
	if errors.As(err, &ce) {
		return ce.Index
	}
	return -1
}

// generator makes random commands over a small key space, so that they
// often meet each other's values, through dotted paths too.
type generator struct{ r *rand.Rand }

var (
	diffPaths   = []string{"a", "b", "n", "l", "s", "d.x", "d.y", "d.z.w", "e.f", "l.x", "n.m"}
	numberPaths = []string{"n", "d.x", "e.f"}
	arrayPaths  = []string{"l", "d.y", "s"}
	incAmounts  = []any{int64(1), int64(2), int64(-1), int64(5), int64(1) << 62, -(int64(1) << 62), 0.5, 0.1, -2.25, 1e308, -1e308}
	diffStrings = []string{"", "x", "y", "héllo ✓", "日本語", "nul\x00byte", "quote\"\\\n"}
	diffInts    = []int64{-3, -1, 0, 1, 2, 7, 1<<53 - 1, 1<<53 + 1, math.MaxInt64, math.MinInt64}
	diffFloats  = []float64{0.1, 0.2, 0.5, -2.5, 1.0, 1e15, 1e21, 5e-324, math.MaxFloat64, float64(1 << 53), 0.30000000000000004}
	diffTimes   = []time.Time{
		time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	diffKeys = []string{"x", "y", "z", "0"}
)

func smallValues() []any {
	return []any{nil, true, "x", "", int64(0), int64(1), 1.0, 2.5, []any{int64(1)}, []any{1.0},
		map[string]any{"x": int64(1)}, map[string]any{"x": 1.0}, time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		int64(1<<53 + 1), float64(1 << 53)}
}

// update returns one to four prepared commands whose paths do not
// overlap, sometimes a lone Take, and sometimes keys to fetch.
func (g *generator) update() session.Update {
	u := session.Update{Expires: time.Now().Add(time.Hour)}
	if g.r.IntN(12) == 0 {
		c, _ := session.PrepareCommand(session.Command{Op: session.OpTake, Path: g.pick(diffPaths)})
		u.Commands = []session.Command{c}
		return u
	}
	want := 1 + g.r.IntN(4)
	for try := 0; try < 4*want && len(u.Commands) < want; try++ {
		c, err := session.PrepareCommand(g.command())
		if err != nil || overlapsAny(c, u.Commands) {
			continue
		}
		u.Commands = append(u.Commands, c)
	}
	switch g.r.IntN(6) {
	case 0:
		u.FetchAll = true
	case 1:
		u.Fetch = []string{g.pick([]string{"a", "b", "n", "l", "s", "d", "e", "missing"})}
	}
	return u
}

func overlapsAny(c session.Command, batch []session.Command) bool {
	for _, b := range batch {
		for _, p := range b.Paths() {
			for _, q := range c.Paths() {
				if session.Overlaps(p, q) {
					return true
				}
			}
		}
	}
	return false
}

func (g *generator) command() session.Command {
	path := g.pick(diffPaths)
	switch n := g.r.IntN(21); {
	case n < 4:
		return g.set(path)
	case n < 5:
		return session.Command{Op: session.OpUnset, Path: path}
	case n < 8:
		return inc(g.prefer(numberPaths), g.pickAny(incAmounts))
	case n < 11:
		c := session.Command{Op: session.OpPush, Path: g.prefer(arrayPaths), Values: g.values(2)}
		if g.r.IntN(3) == 0 {
			c.Slice = 1 + g.r.IntN(4)
		}
		return c
	case n < 12:
		return session.Command{Op: session.OpPull, Path: g.prefer(arrayPaths), Value: g.pickAny(smallValues())}
	case n < 13:
		return session.Command{Op: session.OpPullAll, Path: g.prefer(arrayPaths), Values: g.smalls()}
	case n < 15:
		return session.Command{Op: session.OpAddToSet, Path: g.prefer(arrayPaths), Values: g.smalls()}
	case n < 18:
		return session.Command{Op: session.OpPop, Path: g.prefer(arrayPaths), Value: 1 - 2*g.r.IntN(2)}
	case n < 19:
		return session.Command{Op: session.OpUnset, Path: path}
	default:
		to := g.pick(diffPaths)
		for to == path {
			to = g.pick(diffPaths)
		}
		return session.Command{Op: session.OpRename, Path: path, To: to}
	}
}

func (g *generator) set(path string) session.Command {
	if g.r.IntN(5) > 0 {
		switch {
		case slices.Contains(numberPaths, path):
			return set(path, diffInts[g.r.IntN(len(diffInts))]%1000)
		case slices.Contains(arrayPaths, path):
			return set(path, append(g.values(1), g.smalls()...))
		}
	}
	return set(path, g.value(2))
}

func (g *generator) prefer(paths []string) string {
	if g.r.IntN(10) == 0 {
		return g.pick(diffPaths)
	}
	return g.pick(paths)
}

func (g *generator) value(depth int) any {
	kinds := 7
	if depth > 0 {
		kinds = 9
	}
	switch g.r.IntN(kinds) {
	case 0:
		return nil
	case 1:
		return g.r.IntN(2) == 0
	case 2:
		return g.pick(diffStrings)
	case 3:
		return diffInts[g.r.IntN(len(diffInts))]
	case 4:
		return diffFloats[g.r.IntN(len(diffFloats))]
	case 5:
		return g.r.Float64()*200 - 100
	case 6:
		return diffTimes[g.r.IntN(len(diffTimes))]
	case 7:
		return g.values(depth - 1)
	default:
		m := map[string]any{}
		for range g.r.IntN(4) {
			m[g.pick(diffKeys)] = g.value(depth - 1)
		}
		return m
	}
}

func (g *generator) values(depth int) []any {
	out := []any{}
	for range g.r.IntN(4) {
		out = append(out, g.value(depth))
	}
	return out
}

func (g *generator) smalls() []any {
	var out []any
	for range 1 + g.r.IntN(3) {
		out = append(out, g.pickAny(smallValues()))
	}
	return out
}

func (g *generator) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *generator) pickAny(s []any) any { return s[g.r.IntN(len(s))] }
