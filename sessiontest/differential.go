package sessiontest

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

func (s *suite) differentialTests() []subtest {
	return []subtest{{"Random", s.testDifferential}}
}

// testDifferential applies random updates to sessions on the store and to
// session.ApplyCommands, and compares them after every step: the store's
// result with the keys the contract names (the touched keys, OpTake's
// value before, the Fetch keys), and now and then Load, of some keys or of
// the whole document, with the reference document.
func (s *suite) testDifferential(t *testing.T, st session.Store) {
	seed := s.cfg.seed
	if !s.cfg.seedSet {
		seed = time.Now().UnixNano()
	}
	// Sequence i depends only on the seed and i, so a failure replays with
	// the same seed and at least as many sequences and steps.
	t.Logf("seed %d, %d sequences × %d steps; replay with sessiontest.WithSeed(%d)",
		seed, s.cfg.sequences, s.cfg.steps, seed)
	for seq := range s.cfg.sequences {
		d := &differ{
			t: t, st: st, seed: seed, seq: seq,
			gen: &generator{r: rand.New(rand.NewPCG(uint64(seed), uint64(seq))), flat: s.cfg.flatArrays != ""},
		}
		d.run(s.cfg.steps)
	}
}

// differ runs one random sequence on one session.
type differ struct {
	t     *testing.T
	st    session.Store
	seed  int64
	seq   int
	gen   *generator
	id    string
	model session.Doc // the whole reference document after the last step, reserved fields included
}

func (d *differ) run(steps int) {
	d.create()
	for step := 1; step <= steps; step++ {
		d.step(step)
	}
	d.checkLoad(steps)
}

// create makes the session with a first random batch, or without one if
// that batch fails in both the store and the reference.
func (d *differ) create() {
	m := newMeta(d.t, liveFor)
	d.id = m.ID
	u := session.Update{Commands: d.gen.batchWithout(session.OpTake)}
	d.gen.fetch(&u)
	ref, refErr := session.ApplyCommands(m.Doc(), u.Commands)
	got, err := d.st.Create(context.Background(), m, u)
	d.compare(0, "Create", m.Doc(), u, ref, refErr, got, err)
	if err != nil {
		wantNotFound(d.t, d.st, d.id, d.where(0)+": after a failed Create")
		create(d.t, d.st, m, nil)
		ref = m.Doc()
	}
	d.model = ref
}

func (d *differ) step(step int) {
	u := session.Update{Commands: d.gen.batch(), Expires: later()}
	d.gen.fetch(&u)
	d.gen.meta(&u)
	ref, refErr := session.ApplyCommands(d.model, u.Commands)
	if refErr == nil {
		stepMeta(ref, u)
	}
	got, err := d.st.Apply(context.Background(), d.id, u)
	d.compare(step, "Apply", d.model, u, ref, refErr, got, err)
	if err != nil {
		d.checkLoad(step)
		return
	}
	d.model = ref
	switch {
	case step%8 == 0:
		d.checkLoad(step)
	case step%3 == 0:
		d.checkLoadKeys(step, d.gen.keys())
	}
}

// compare fails the test unless the store and the reference agree: on the
// error's class (and the failing command, where the store names it), or on
// the result.
func (d *differ) compare(step int, call string, before session.Doc, u session.Update,
	ref session.Doc, refErr error, got session.Doc, err error) {
	d.t.Helper()
	if classOf(err) != classOf(refErr) {
		d.t.Fatalf("%s: %s(%s) on %s\n store gives %s, err %v\n reference gives %s, err %v",
			d.where(step), call, showUpdate(u), showUser(before), showUser(got), err, showUser(ref), refErr)
	}
	if err != nil {
		var ce, refCE *session.CommandError
		if errors.As(err, &ce) && errors.As(refErr, &refCE) && ce.Index != refCE.Index {
			d.t.Fatalf("%s: %s(%s) on %s: the store's CommandError names command %d (%v); the reference, command %d (%v)",
				d.where(step), call, showUpdate(u), showUser(before), ce.Index, err, refCE.Index, refErr)
		}
		return
	}
	checkResult(d.t, d.where(step)+": "+call+"("+showUpdate(u)+")", got, u, before, ref)
	if d.t.Failed() {
		d.t.FailNow()
	}
}

// checkLoad fails the test unless Load(nil) returns the reference document.
func (d *differ) checkLoad(step int) {
	d.t.Helper()
	d.checkLoadKeys(step, nil)
}

// checkLoadKeys fails the test unless Load(keys) returns the reserved
// fields and those keys of the reference document.
func (d *differ) checkLoadKeys(step int, keys []string) {
	d.t.Helper()
	got, err := d.st.Load(context.Background(), d.id, keys)
	if err != nil {
		d.t.Fatalf("%s: Load(%s): %v", d.where(step), quoteKeys(keys), err)
	}
	checkWhole(d.t, d.where(step)+": Load("+quoteKeys(keys)+")", got, session.LoadResult(d.model, keys))
	if d.t.Failed() {
		d.t.FailNow()
	}
}

func (d *differ) where(step int) string {
	return fmt.Sprintf("seed %d, sequence %d, step %d", d.seed, d.seq, step)
}

// generator makes random commands over a small key space, so that they
// often meet each other's values, including through dotted paths.
type generator struct {
	r    *rand.Rand
	flat bool // no array directly inside an array (WithoutNestedArrays)
}

// diffPaths is the key space. Inc prefers numberPaths and the array
// operators arrayPaths, so that most batches apply; the other paths reach
// through those values and make the operators fail now and then.
var (
	diffPaths   = []string{"a", "b", "n", "l", "s", "d.x", "d.y", "d.z.w", "e.f", "l.x", "n.m"}
	numberPaths = []string{"n", "d.x", "e.f"}
	arrayPaths  = []string{"l", "d.y", "s"}
)

// diffTops are the top-level keys of diffPaths, and one that no command
// makes, for Fetch and Load.
var diffTops = []string{"a", "b", "n", "l", "s", "d", "e", "missing"}

// batch returns one to four prepared commands whose paths do not overlap,
// or now and then a lone OpTake, as the session sends it.
func (g *generator) batch() []session.Command {
	if g.r.IntN(12) == 0 {
		c, err := session.PrepareCommand(take(g.pick(diffPaths)))
		if err == nil {
			return []session.Command{c}
		}
	}
	return g.batchWithout(session.OpTake)
}

// batchWithout returns a batch as batch does, of commands other than op.
func (g *generator) batchWithout(op session.Op) []session.Command {
	want := 1 + g.r.IntN(4)
	var out []session.Command
	for try := 0; try < 4*want && len(out) < want; try++ {
		c, err := session.PrepareCommand(g.command())
		if err != nil || c.Op == op || overlapsAny(c, out) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// fetch sets u's Fetch keys or FetchAll now and then; never with OpTake,
// which the session sends alone.
func (g *generator) fetch(u *session.Update) {
	if len(u.Commands) == 1 && u.Commands[0].Op == session.OpTake {
		return
	}
	switch n := g.r.IntN(10); {
	case n == 0:
		u.FetchAll = true
	case n < 4:
		u.Fetch = g.keys()
	}
}

// meta sets a new maxAge or label on u now and then.
func (g *generator) meta(u *session.Update) {
	switch g.r.IntN(20) {
	case 0:
		u.MaxAge = time.Duration(1+g.r.IntN(100)) * time.Minute
	case 1:
		u.Label = g.pick(diffLabels)
	}
}

// keys returns one to three top-level keys, for Fetch and Load.
func (g *generator) keys() []string {
	out := []string{}
	for range 1 + g.r.IntN(3) {
		out = append(out, g.pick(diffTops))
	}
	return out
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
	switch n := g.r.IntN(20); {
	case n < 4:
		return g.set(path)
	case n < 5:
		return unset(path)
	case n < 8:
		return inc(g.prefer(numberPaths), g.pickAny(incAmounts))
	case n < 10:
		return push(g.prefer(arrayPaths), g.values(2)...)
	case n < 11:
		return pushLast(g.prefer(arrayPaths), 1+g.r.IntN(3), g.values(2)...)
	case n < 12:
		return pull(g.prefer(arrayPaths), g.small())
	case n < 13:
		return pullAll(g.prefer(arrayPaths), g.smalls()...)
	case n < 15:
		return addToSet(g.prefer(arrayPaths), g.smalls()...)
	case n < 18:
		return pop(g.prefer(arrayPaths), 1-2*g.r.IntN(2))
	default:
		to := g.pick(diffPaths)
		for to == path {
			to = g.pick(diffPaths)
		}
		return rename(path, to)
	}
}

// set sets path to a random value, mostly of the kind the path usually
// holds.
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

// prefer returns one of paths most of the time, else any path.
func (g *generator) prefer(paths []string) string {
	if g.r.IntN(10) == 0 {
		return g.pick(diffPaths)
	}
	return g.pick(paths)
}

var incAmounts = []any{int64(1), int64(2), int64(-1), int64(5), int64(1) << 62, -(int64(1) << 62), 0.5, 0.1, -2.25, 1e308, -1e308}

// smallValues are the values Pull, PullAll and AddToSet use, few enough
// that they often find an equal element.
func smallValues() []any {
	return []any{nil, true, "x", "", int64(0), int64(1), 1.0, 2.5, []any{int64(1)}, []any{1.0},
		map[string]any{"x": int64(1)}, map[string]any{"x": 1.0}, time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		int64(1<<53 + 1), float64(1 << 53), "nul\x00byte"}
}

var (
	diffStrings = []string{"", "x", "y", "héllo ✓", "日本語", "nul\x00byte", "quote\"\\\n"}
	diffLabels  = []string{"x", "y", "héllo ✓", "日本語", "quote\"\\\n"} // Session.SetLabel refuses NUL
	diffInts    = []int64{-3, -1, 0, 1, 2, 7, 1<<53 - 1, 1<<53 + 1, math.MaxInt64, math.MinInt64}
	diffFloats  = []float64{0.1, 0.2, 0.5, -2.5, 1.0, 1e15, 5e-324, 1e21, math.MaxFloat64, float64(1 << 53), 0.30000000000000004}
	diffTimes   = []time.Time{
		time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	diffKeys = []string{"x", "y", "z"}
)

// value returns a random canonical value; depth bounds its nesting.
func (g *generator) value(depth int) any {
	return g.valueIn(depth, false)
}

// valueIn returns a random value; inArray says it is an array element,
// which must not be an array if g.flat.
func (g *generator) valueIn(depth int, inArray bool) any {
	kinds := 7
	if depth > 0 {
		kinds = 9
	}
	k := g.r.IntN(kinds)
	if k == 7 && inArray && g.flat {
		k = 8
	}
	switch k {
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

// values returns zero to three random values, for an array.
func (g *generator) values(depth int) []any {
	out := []any{}
	for range g.r.IntN(4) {
		out = append(out, g.valueIn(depth, true))
	}
	return out
}

// small returns one of smallValues, not an array if g.flat.
func (g *generator) small() any {
	for {
		v := g.pickAny(smallValues())
		if _, isArray := v.([]any); !isArray || !g.flat {
			return v
		}
	}
}

// smalls returns one to three of smallValues, for an array.
func (g *generator) smalls() []any {
	var out []any
	for range 1 + g.r.IntN(3) {
		out = append(out, g.small())
	}
	return out
}

func (g *generator) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *generator) pickAny(s []any) any { return s[g.r.IntN(len(s))] }
