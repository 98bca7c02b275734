package sessiontest

import (
	"strings"
	"testing"

	"github.com/atomicsession/atomicsession/session"
)

// Run runs the conformance suite against session.Store implementations
// made by newStore, as subtests of t. It calls newStore once for each
// top-level subtest (Lifecycle, Operators, …), with that subtest's t, so
// the store can be closed with t.Cleanup. Every session the suite makes has
// a new random id, so the stores may share one database, and one left over
// from an earlier run does no harm. The suite does not delete the sessions
// it leaves behind; they expire within two hours.
//
// The UserIndex subtests run only if the store implements
// session.UserIndex; otherwise that group is skipped, with the reason.
//
// opts skip subtests (Skip), replay a randomized run (WithSeed) and tune
// sizes for slow stores. Run fails at once on an Option that names no
// subtest. The subtests run one after another, never in parallel.
func Run(t *testing.T, newStore func(t *testing.T) session.Store, opts ...Option) {
	t.Helper()
	s := &suite{cfg: newConfig(opts), root: t.Name()}
	if err := s.cfg.checkSkips(s.names()); err != nil {
		t.Fatal(err)
	}
	for _, g := range s.groups() {
		s.run(t, g.name, func(t *testing.T) {
			st := newStore(t)
			if st == nil {
				t.Fatal("sessiontest: newStore returned nil")
			}
			if g.skip != nil {
				if reason := g.skip(st); reason != "" {
					t.Skip(reason)
				}
			}
			for _, sub := range g.subtests {
				s.run(t, sub.name, func(t *testing.T) { sub.fn(t, st) })
			}
		})
	}
}

// suite is one call of Run.
type suite struct {
	cfg  config
	root string // t.Name() of Run's t, to name subtests relative to it
}

// group is a top-level subtest: one store, many subtests.
type group struct {
	name     string
	subtests []subtest
	// skip, if not nil, returns why the group cannot run on a store, or "".
	skip func(session.Store) string
}

type subtest struct {
	name string
	fn   func(t *testing.T, st session.Store)
}

func (s *suite) groups() []group {
	return []group{
		{"Lifecycle", s.lifecycleTests(), nil},
		{"Operators", s.operatorTests(), nil},
		{"Expiry", s.expiryTests(), nil},
		{"Values", s.valueTests(), nil},
		{"Differential", s.differentialTests(), nil},
		{"Concurrency", s.concurrencyTests(), nil},
		{"Context", s.contextTests(), nil},
		{"UserIndex", s.userIndexTests(), userIndexSkip},
	}
}

// names returns the name of every subtest Run can run, relative to Run's t.
func (s *suite) names() []string {
	var out []string
	for _, g := range s.groups() {
		out = append(out, g.name)
		for _, sub := range g.subtests {
			out = append(out, g.name+"/"+sub.name)
		}
	}
	return out
}

// run runs fn as the subtest name of t, unless a Skip names it.
func (s *suite) run(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		rel := strings.TrimPrefix(t.Name(), s.root+"/")
		if s.cfg.onRun != nil {
			s.cfg.onRun(rel)
		}
		if reason, ok := s.cfg.skipReason(rel); ok {
			t.Skipf("skipped by sessiontest.Skip: %s", reason)
		}
		fn(t)
	})
}
