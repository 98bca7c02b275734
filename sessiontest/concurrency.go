package sessiontest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/atomicsession/atomicsession/session"
)

// destroyRounds is how many times Concurrency/Destroy races Apply loops
// against a Delete, each time on a new session.
const destroyRounds = 5

func (s *suite) concurrencyTests() []subtest {
	return []subtest{
		{"Inc", s.testConcurrentInc},
		{"SetOwnKeys", s.testSetOwnKeys},
		{"Create", s.testConcurrentCreate},
		{"Destroy", s.testDestroyRace},
		{"Take", testConcurrentTake},
		{"PushLast", testConcurrentPushLast},
		{"FetchSnapshot", s.testFetchSnapshot},
	}
}

// Sizes of the Take and PushLast subtests, the figures the session's
// documentation promises: they do not scale with WithConcurrency.
const (
	takeGoroutines     = 32
	takeRounds         = 3
	pushLastGoroutines = 33
	pushLastKeep       = 5
)

// testConcurrentTake: of takeGoroutines concurrent Applys each taking the
// same key of one session (a flash message read by several tabs at once),
// exactly one gets its value; the others get it absent, and it is gone
// afterwards while the session's other keys stay.
func testConcurrentTake(t *testing.T, st session.Store) {
	for round := range takeRounds {
		m := newMeta(t, liveFor)
		msg := fmt.Sprintf("flash %d", round)
		create(t, st, m, prepare(t, set("flash", msg), set("keep", "x")))
		cmds := prepare(t, take("flash"))
		results := make([]session.Doc, takeGoroutines)
		errs := make([]error, takeGoroutines)
		parallel(takeGoroutines, func(i int) {
			results[i], errs[i] = st.Apply(context.Background(), m.ID, session.Update{Commands: cmds, Expires: later()})
		})
		got := 0
		for i, doc := range results {
			if errs[i] != nil {
				t.Fatalf("Apply(%s) %d: %v", showCommands(cmds), i, errs[i])
			}
			if v, ok := doc["flash"]; ok {
				got++
				if !session.Equal(v, msg) {
					t.Errorf("Take %d returned flash = %s; want %q", i, show(v), msg)
				}
			}
			if _, ok := doc["keep"]; ok {
				t.Errorf("Take %d returned the untouched key keep", i)
			}
		}
		if got != 1 {
			t.Errorf("round %d: %d of %d concurrent Takes of one key got its value; want exactly 1", round, got, takeGoroutines)
		}
		after := load(t, st, m.ID)
		if v, ok := after["flash"]; ok {
			t.Errorf("round %d: after the Takes, Load still holds flash = %s", round, show(v))
		}
		if !session.Equal(after["keep"], "x") {
			t.Errorf("round %d: after the Takes, keep = %s; want \"x\"", round, show(after["keep"]))
		}
	}
}

// testConcurrentPushLast: pushLastGoroutines concurrent Applys each pushing
// one value with $slice -pushLastKeep (Session.PushLast) leave exactly
// pushLastKeep distinct values of theirs, and each result ends with the
// value its own step pushed.
func testConcurrentPushLast(t *testing.T, st session.Store) {
	m := newMeta(t, liveFor)
	create(t, st, m, prepare(t, set("keep", "x")))
	batches := make([][]session.Command, pushLastGoroutines)
	for i := range batches {
		batches[i] = prepare(t, pushLast("recent", pushLastKeep, i))
	}
	parallel(pushLastGoroutines, func(i int) {
		doc, err := st.Apply(context.Background(), m.ID, session.Update{Commands: batches[i], Expires: later()})
		if err != nil {
			t.Errorf("Apply(%s): %v", showCommands(batches[i]), err)
			return
		}
		l, ok := doc["recent"].([]any)
		switch {
		case !ok || len(l) == 0 || len(l) > pushLastKeep:
			t.Errorf("Apply(%s) returned recent = %s; want an array of 1 to %d values", showCommands(batches[i]), show(doc["recent"]), pushLastKeep)
		case !session.Equal(l[len(l)-1], int64(i)):
			t.Errorf("Apply(%s) returned recent = %s; want it to end with %d, the value this step pushed", showCommands(batches[i]), show(l), i)
		}
	})
	got, _ := load(t, st, m.ID)["recent"].([]any)
	seen := map[int64]bool{}
	for _, v := range got {
		n, ok := v.(int64)
		if !ok || n < 0 || n >= pushLastGoroutines || seen[n] {
			t.Errorf("recent holds %s: want distinct integers below %d", show(v), pushLastGoroutines)
		}
		seen[n] = true
	}
	if len(got) != pushLastKeep {
		t.Errorf("after %d concurrent PushLast(recent, %d): recent = %s, %d values; want exactly %d",
			pushLastGoroutines, pushLastKeep, show(got), len(got), pushLastKeep)
	}
}

// testFetchSnapshot: the Fetch keys come from the same atomic step as the
// commands. Two goroutines increment a and b, each fetching the other's
// counter. Every result is then a state the session passed through, so the
// results, ordered by a+b, count 1, 2, … without a gap and never go down in
// a or in b. A store that reads the fetched keys apart from its update
// returns pairs that no state had.
func (s *suite) testFetchSnapshot(t *testing.T, st session.Store) {
	n := s.cfg.increments
	m := newMeta(t, liveFor)
	create(t, st, m, prepare(t, set("a", 0), set("b", 0)))
	type pair struct{ a, b int64 }
	pairs := make([][]pair, 2)
	mine, other := []string{"a", "b"}, []string{"b", "a"}
	parallel(2, func(g int) {
		cmds, err := session.PrepareCommand(inc(mine[g], 1))
		if err != nil {
			t.Errorf("PrepareCommand: %v", err)
			return
		}
		for range n {
			doc, err := st.Apply(context.Background(), m.ID, session.Update{
				Commands: []session.Command{cmds}, Expires: later(), Fetch: []string{other[g]},
			})
			if err != nil {
				t.Errorf("Apply: %v", err)
				return
			}
			a, okA := doc["a"].(int64)
			b, okB := doc["b"].(int64)
			if !okA || !okB {
				t.Errorf("Apply(inc %s, fetch %s) returned %s; want a and b as integers", mine[g], other[g], showUser(doc))
				return
			}
			pairs[g] = append(pairs[g], pair{a, b})
		}
	})
	if t.Failed() {
		return
	}
	all := append(pairs[0], pairs[1]...)
	slices.SortFunc(all, func(x, y pair) int { return int(x.a + x.b - y.a - y.b) })
	for i, p := range all {
		if p.a+p.b != int64(i+1) {
			t.Fatalf("the results' sums a+b, in order, are not 1 … %d: result %d is a=%d b=%d; "+
				"a result's fetched keys must be read in the same atomic step as its commands", 2*n, i+1, p.a, p.b)
		}
		if i > 0 && (p.a < all[i-1].a || p.b < all[i-1].b) {
			t.Fatalf("results a=%d b=%d and a=%d b=%d are no two states of one session: "+
				"a result's fetched keys must be read in the same atomic step as its commands", all[i-1].a, all[i-1].b, p.a, p.b)
		}
	}
}

// testConcurrentInc: goroutines × increments concurrent Inc commands on one
// session lose no update. All goroutines share one command slice, which a
// store must only read.
func (s *suite) testConcurrentInc(t *testing.T, st session.Store) {
	g, n := s.cfg.goroutines, s.cfg.increments
	m := newMeta(t, liveFor)
	create(t, st, m, prepare(t, set("n", 0)))
	cmds := prepare(t, inc("n", 1))
	parallel(g, func(int) {
		for range n {
			if _, err := st.Apply(context.Background(), m.ID, session.Update{Commands: cmds, Expires: later()}); err != nil {
				t.Errorf("Apply(%s): %v", showCommands(cmds), err)
				return
			}
		}
	})
	got := load(t, st, m.ID)
	if want := int64(g * n); !session.Equal(got["n"], want) {
		t.Errorf("after %d goroutines × %d Inc: n = %s; want %d", g, n, show(got["n"]), want)
	}
}

// testSetOwnKeys: two goroutines each setting its own key of one session
// never undo each other's writes.
func (s *suite) testSetOwnKeys(t *testing.T, st session.Store) {
	rounds := s.cfg.setRounds
	m := newMeta(t, liveFor)
	create(t, st, m, nil)
	keys := []string{"a", "b"}
	batches := make([][][]session.Command, len(keys)) // prepared here: t.Fatal only works on this goroutine
	for i, k := range keys {
		for r := range rounds {
			batches[i] = append(batches[i], prepare(t, set(k, r)))
		}
	}
	parallel(len(keys), func(i int) {
		for _, cmds := range batches[i] {
			if _, err := st.Apply(context.Background(), m.ID, session.Update{Commands: cmds, Expires: later()}); err != nil {
				t.Errorf("Apply(%s): %v", showCommands(cmds), err)
				return
			}
		}
	})
	got := load(t, st, m.ID)
	for _, k := range keys {
		if want := int64(rounds - 1); !session.Equal(got[k], want) {
			t.Errorf("after %d Sets of each key: %s = %s; want %d (doc %s)", rounds, k, show(got[k]), want, showUser(got))
		}
	}
}

// testConcurrentCreate: of many concurrent Creates of one id, exactly one
// succeeds, the others fail with ErrConflict, and the winner's first batch
// is what Load returns.
func (s *suite) testConcurrentCreate(t *testing.T, st session.Store) {
	g := s.cfg.goroutines
	m := newMeta(t, liveFor)
	var winners atomic.Int64
	winner := make([]bool, g)
	batches := make([][]session.Command, g)
	for i := range batches {
		batches[i] = prepare(t, set("winner", i))
	}
	parallel(g, func(i int) {
		_, err := st.Create(context.Background(), m, session.Update{Commands: batches[i]})
		switch {
		case err == nil:
			winners.Add(1)
			winner[i] = true
		case !errorIs(err, session.ErrConflict):
			t.Errorf("Create %d: %v; want nil or an error wrapping session.ErrConflict", i, err)
		}
	})
	if w := winners.Load(); w != 1 {
		t.Fatalf("%d of %d concurrent Creates of one id succeeded; want exactly 1", w, g)
	}
	got := load(t, st, m.ID)
	for i, won := range winner {
		if won && !session.Equal(got["winner"], int64(i)) {
			t.Errorf("Load: winner = %s; want %d, the Create that succeeded", show(got["winner"]), i)
		}
	}
}

// testDestroyRace: Apply loops racing a Delete never bring the session
// back. No Apply that starts after Delete returned succeeds, and
// afterwards the session stays gone.
func (s *suite) testDestroyRace(t *testing.T, st session.Store) {
	for range destroyRounds {
		m := newMeta(t, liveFor)
		raceDelete(t, st, m, s.cfg.goroutines, func() error { return st.Delete(context.Background(), m.ID) })
		if t.Failed() {
			return
		}
	}
}

// raceDelete creates the session m, runs g Apply loops on it, and once
// they have made progress calls del, which must delete it.
func raceDelete(t *testing.T, st session.Store, m session.Meta, g int, del func() error) {
	create(t, st, m, prepare(t, set("n", 0)))
	cmds := prepare(t, inc("n", 1))
	var deleted atomic.Bool
	var successes atomic.Int64
	progress := make(chan struct{})
	var progressOnce sync.Once
	done := make(chan struct{})
	go func() {
		defer close(done)
		parallel(g, func(int) {
			for range 1_000_000 {
				afterDelete := deleted.Load()
				_, err := st.Apply(context.Background(), m.ID, session.Update{Commands: cmds, Expires: later()})
				switch {
				case err == nil && afterDelete:
					t.Errorf("Apply succeeded although it started after Delete returned")
					return
				case err == nil:
					if successes.Add(1) >= int64(g) {
						progressOnce.Do(func() { close(progress) })
					}
				case errorIs(err, session.ErrNotFound):
					return
				default:
					t.Errorf("Apply during Delete: %v; want nil or an error wrapping session.ErrNotFound", err)
					return
				}
			}
		})
	}()
	select {
	case <-progress:
	case <-done:
	}
	if err := del(); err != nil {
		t.Errorf("delete: %v", err)
	}
	deleted.Store(true)
	<-done
	wantNotFound(t, st, m.ID, "after Delete raced with Apply")
	wantApplyNotFound(t, st, m.ID, "after Delete raced with Apply")
}

// parallel runs fn(0) … fn(n-1) in n goroutines and waits for them all.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}
