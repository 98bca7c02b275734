package sessiontest

import (
	"fmt"
	"testing"
	"time"
)

// Option configures Run.
type Option func(*config)

type config struct {
	skips       map[string]string // subtest name → reason
	seed        int64
	seedSet     bool
	goroutines  int
	increments  int
	setRounds   int
	sequences   int
	steps       int
	shortMaxAge time.Duration
	crowd       int
	flatArrays  string // if not "", the reason the store cannot hold arrays in arrays

	onRun func(name string) // called with the name of every subtest run; for the suite's own tests
}

// Default sizes. In -short mode Run uses the smaller ones; an Option always
// wins over both.
const (
	defaultGoroutines  = 32
	defaultIncrements  = 100
	defaultSetRounds   = 1000
	defaultSequences   = 20
	defaultSteps       = 100
	defaultShortMaxAge = 100 * time.Millisecond
	defaultCrowd       = 3000

	shortGoroutines = 8
	shortIncrements = 25
	shortSetRounds  = 100
	shortSequences  = 5
	shortSteps      = 40
	shortCrowd      = 1000
)

func newConfig(opts []Option) config {
	c := config{
		skips:       map[string]string{},
		goroutines:  defaultGoroutines,
		increments:  defaultIncrements,
		setRounds:   defaultSetRounds,
		sequences:   defaultSequences,
		steps:       defaultSteps,
		shortMaxAge: defaultShortMaxAge,
		crowd:       defaultCrowd,
	}
	if testing.Short() {
		c.goroutines, c.increments = shortGoroutines, shortIncrements
		c.setRounds = shortSetRounds
		c.sequences, c.steps = shortSequences, shortSteps
		c.crowd = shortCrowd
	}
	for _, opt := range opts {
		opt(&c)
	}
	return c
}

// Skip skips the subtest called name, and every subtest under it, giving
// reason in the test output. name is a path relative to Run's test, such as
// "Concurrency" or "Operators/Pull/Document" (see the package
// documentation for the list). Run fails at once if name matches no
// subtest, so a typo cannot silently skip nothing.
func Skip(name, reason string) Option {
	return func(c *config) { c.skips[name] = reason }
}

// WithSeed sets the seed of the randomized Differential subtest, to replay
// a failure; Run logs the seed it used. The default value is a new seed on
// every run.
func WithSeed(seed int64) Option {
	return func(c *config) { c.seed, c.seedSet = seed, true }
}

// WithConcurrency sets the sizes of the Concurrency subtests: goroutines
// concurrent callers, each making increments Inc commands on one session
// (Concurrency/Inc expects exactly goroutines × increments), the number of
// concurrent Apply loops racing a Delete in Concurrency/Destroy and a
// DeleteUserSessions in UserIndex/Revoked, half as many goroutines of
// Creates in UserIndex/CreateRace, and the increments of each of the two
// goroutines of Concurrency/FetchSnapshot. Concurrency/Take and
// Concurrency/PushLast keep their sizes (32 and 33), which the session
// documentation promises. Values below 1 are replaced by 1. The default value is 32 goroutines × 100
// increments (8 × 25 with -short).
func WithConcurrency(goroutines, increments int) Option {
	return func(c *config) { c.goroutines, c.increments = max(goroutines, 1), max(increments, 1) }
}

// WithSetRounds sets how many times each of the two goroutines of
// Concurrency/SetOwnKeys sets its own key. Values below 1 are replaced by 1.
// The default value is 1000 (100 with -short).
func WithSetRounds(n int) Option {
	return func(c *config) { c.setRounds = max(n, 1) }
}

// WithDifferential sets the size of the Differential subtest: sequences
// sessions, each receiving steps random batches of commands. Values below 1
// are replaced by 1. The default value is 20 sequences of 100 steps (5 of
// 40 with -short).
func WithDifferential(sequences, steps int) Option {
	return func(c *config) { c.sequences, c.steps = max(sequences, 1), max(steps, 1) }
}

// WithShortMaxAge sets the lifetime of the sessions that Expiry/Lapse and
// UserIndex/Expired let run out: each subtest sleeps about this long. Raise it for a store whose
// clock may differ from the test's by a few milliseconds. Values below 1ms
// are replaced by 1ms. The default value is 100 milliseconds.
func WithShortMaxAge(d time.Duration) Option {
	return func(c *config) { c.shortMaxAge = max(d, time.Millisecond) }
}

// WithUserIndexCrowd sets how many other users' sessions UserIndex/NoScan
// creates before it times UserSessions again: listing one user's sessions
// among them must cost the same order of time as among 3. Lower it for a
// store that is slow to create sessions; values below 30 are replaced by
// 30. The default value is 3000 (1000 with -short).
func WithUserIndexCrowd(n int) Option {
	return func(c *config) { c.crowd = max(n, 30) }
}

// WithoutNestedArrays tells Run that the store cannot hold an array
// directly inside an array, as FerretDB 1.x cannot, giving the reason: the
// operator and value cases that need one are skipped with it, Values/All
// leaves those values out, and Differential generates none. A store of
// this module must not need it against a real MongoDB or Redis. By default
// nested arrays are tested.
func WithoutNestedArrays(reason string) Option {
	return func(c *config) {
		if reason == "" {
			reason = "the store cannot hold nested arrays"
		}
		c.flatArrays = reason
	}
}

// checkSkips returns an error naming the Skip names that match no subtest.
func (c *config) checkSkips(known []string) error {
	for name := range c.skips {
		if !matchesAny(name, known) {
			return fmt.Errorf("sessiontest: Skip(%q) matches no subtest; the subtests are %v", name, known)
		}
	}
	return nil
}

// skipReason returns the reason to skip the subtest rel, if a Skip names it
// or one of its parents.
func (c *config) skipReason(rel string) (string, bool) {
	for name, reason := range c.skips {
		if isUnder(rel, name) {
			return reason, true
		}
	}
	return "", false
}

func matchesAny(name string, known []string) bool {
	for _, k := range known {
		if isUnder(k, name) {
			return true
		}
	}
	return false
}

// isUnder reports whether subtest path is name or lies under it.
func isUnder(path, name string) bool {
	return path == name || len(path) > len(name) && path[:len(name)] == name && path[len(name)] == '/'
}
