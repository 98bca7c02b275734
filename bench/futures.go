package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/atomicsession/atomicsession/future"
)

// futureResult is the cost of one way of running three steps of work.
type futureResult struct {
	Name   string
	NsOp   float64
	Allocs float64
	Err    error
}

//go:noinline
func stepSource(context.Context) (int, error) { return 1, nil }

//go:noinline
func stepInc(v int) (int, error) { return v + 1, nil }

// futureCases are the ways compared: each computes 3 from stepSource and
// two stepInc and fails if it gets anything else. cancellable is a context
// that can be cancelled (and is not).
func futureCases(cancellable context.Context) []struct {
	Name string
	Run  func() error
} {
	bg := context.Background()
	check := func(v int, err error) error {
		if err != nil || v != 3 {
			return fmt.Errorf("got %d, %v; want 3", v, err)
		}
		return nil
	}
	return []struct {
		Name string
		Run  func() error
	}{
		{"plain calls", func() error {
			v, err := stepSource(bg)
			if err == nil {
				v, err = stepInc(v)
			}
			if err == nil {
				v, err = stepInc(v)
			}
			return check(v, err)
		}},
		{"goroutine + channel", func() error {
			type result struct {
				v   int
				err error
			}
			ch := make(chan result, 1)
			go func() {
				v, err := stepSource(bg)
				if err == nil {
					v, err = stepInc(v)
				}
				if err == nil {
					v, err = stepInc(v)
				}
				ch <- result{v, err}
			}()
			r := <-ch
			return check(r.v, r.err)
		}},
		{"future.New → Then → Then → Await", func() error {
			return check(future.New(bg, stepSource).Then(stepInc).Then(stepInc).Await(bg))
		}},
		{"same, Await with a cancellable ctx", func() error {
			return check(future.New(cancellable, stepSource).Then(stepInc).Then(stepInc).Await(cancellable))
		}},
		{"future.Go → Then → Then → Await", func() error {
			return check(future.Go(bg, stepSource).Then(stepInc).Then(stepInc).Await(bg))
		}},
	}
}

// runFutures measures every future case in rounds rounds of about target
// each, the cases taking turns, and keeps the median round of each: on a
// shared machine a round can be slowed several times over by other
// processes.
func runFutures(target time.Duration, rounds int) []futureResult {
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	cases := futureCases(cancellable)
	ns := make([][]float64, len(cases))
	out := make([]futureResult, len(cases))
	for range max(rounds, 1) {
		for i, c := range cases {
			out[i].Name = c.Name
			if out[i].Err != nil {
				continue
			}
			n, allocs, err := measure(target, c.Run)
			ns[i] = append(ns[i], n)
			out[i].Allocs, out[i].Err = allocs, err
		}
	}
	for i := range out {
		out[i].NsOp = median(ns[i])
	}
	return out
}

// median returns the median of xs, or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// measure runs fn until about target has passed, growing the count of
// calls per round as testing.B does, and returns the time and heap
// allocations per call of the last round.
func measure(target time.Duration, fn func() error) (nsOp, allocsOp float64, err error) {
	n := 1
	for {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		for range n {
			if err := fn(); err != nil {
				return 0, 0, err
			}
		}
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		if elapsed >= target || n >= 1<<30 {
			return float64(elapsed.Nanoseconds()) / float64(n), float64(after.Mallocs-before.Mallocs) / float64(n), nil
		}
		// Aim 20% past target, at most 100× more per round.
		per := float64(max(elapsed.Nanoseconds(), 1)) / float64(n)
		next := int(1.2 * float64(target.Nanoseconds()) / per)
		n = max(min(next, 100*n), n+1)
	}
}
