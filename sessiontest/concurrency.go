package sessiontest

import (
	"context"
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
			if _, err := st.Apply(context.Background(), m.ID, later(), cmds); err != nil {
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
			if _, err := st.Apply(context.Background(), m.ID, later(), cmds); err != nil {
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
		_, err := st.Create(context.Background(), m, batches[i])
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
		raceDestroy(t, st, s.cfg.goroutines)
		if t.Failed() {
			return
		}
	}
}

func raceDestroy(t *testing.T, st session.Store, g int) {
	m := newMeta(t, liveFor)
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
				_, err := st.Apply(context.Background(), m.ID, later(), cmds)
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
	if err := st.Delete(context.Background(), m.ID); err != nil {
		t.Errorf("Delete: %v", err)
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
