package future

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrNil is wrapped by the error of a future that was given a nil future,
// function or context where one is required.
var ErrNil = errors.New("nil argument")

// Future is the eventual result of one piece of work: a value of type T or an
// error. It settles once; every Await sees the same result.
//
// A Future is created by New, Go, Resolve, Reject, NewPromise, NewOn, GoOn,
// or derived from other futures by Then, Catch, Map, Chain, All and Any.
// The zero value is not usable; a nil *Future fails Await with an error
// wrapping ErrNil.
type Future[T any] struct {
	settled  atomic.Bool // val and err are final
	demanded atomic.Bool // src has been started, or there is none

	mu   sync.Mutex
	ch   chan struct{} // closed on settle; made by the first blocking wait
	cont listener      // first continuation
	more *[]listener   // further continuations, in registration order

	val T
	err error

	// observe, if not nil, is called once, the first time f is awaited,
	// asked for Done or derived from, settled or not (see
	// NewDeferredPromise).
	observe  func()
	observed atomic.Bool

	// src is what the first demand starts: the parent of a derived future,
	// or the node that holds a lazy function, a promise's onDemand, or the
	// inputs of All and Any. Only the goroutine that wins demanded reads it.
	src source
}

// source is what demanding a future starts. inline allows running work in
// the calling goroutine. A *Future is the source of the futures derived
// from it: starting it demands it.
type source interface {
	start(inline bool)
}

// listener is a continuation: it runs once the future it is registered on
// has settled. The nodes of derived futures are their parents' listeners.
// If it settles a future in turn, it returns that future's listeners for
// its caller to run, instead of running them itself: so a chain of any
// length settles in a loop, at constant stack depth, and a new goroutine
// that runs one does not have to grow its stack.
type listener interface {
	parentSettled() listeners
}

// listeners are the continuations of one future, in registration order.
type listeners struct {
	first listener
	more  *[]listener
}

// listenerFunc is a continuation written as a function.
type listenerFunc func() listeners

func (l listenerFunc) parentSettled() listeners { return l() }

// Resolve returns a future that has succeeded with v.
func Resolve[T any](v T) *Future[T] {
	f := &Future[T]{val: v}
	f.settled.Store(true)
	f.demanded.Store(true)
	return f
}

// Reject returns a future that has failed with err. If err is nil the future
// fails with an error wrapping ErrNil, so that a Reject never succeeds.
func Reject[T any](err error) *Future[T] {
	if err == nil {
		err = fmt.Errorf("future.Reject: error: %w", ErrNil)
	}
	f := &Future[T]{err: err}
	f.settled.Store(true)
	f.demanded.Store(true)
	return f
}

// Await demands f (see New) and waits for its result.
//
// ctx bounds the wait only: if ctx is done before f settles, Await returns
// the zero T and context.Cause(ctx), while f's work goes on under its own
// context and other awaiters still get its result. Await never changes that
// result; any number of goroutines may await f, and all see the same value
// and error. If f has settled, Await returns its result even when ctx is
// done; if ctx is done when Await is called on a pending f, Await demands
// nothing. A nil f or ctx gives an error wrapping ErrNil.
func (f *Future[T]) Await(ctx context.Context) (T, error) {
	var zero T
	if f == nil {
		return zero, fmt.Errorf("future.Await: future: %w", ErrNil)
	}
	f.look()
	switch {
	case f.settled.Load():
		return f.val, f.err
	case ctx == nil:
		return zero, fmt.Errorf("future.Await: context: %w", ErrNil)
	}
	done := ctx.Done()
	if done != nil && ctx.Err() != nil {
		return zero, context.Cause(ctx)
	}
	f.demand(done == nil)
	if f.settled.Load() {
		return f.val, f.err
	}
	if done == nil { // a receive costs less than a select
		<-f.wait()
		return f.val, f.err
	}
	select {
	case <-f.wait():
		return f.val, f.err
	case <-done:
		if f.settled.Load() {
			return f.val, f.err
		}
		return zero, context.Cause(ctx)
	}
}

// Done demands f (see New) and returns a channel that is closed when f has
// settled, for use in a select statement; Await then returns at once.
// Done on a nil f returns a closed channel.
func (f *Future[T]) Done() <-chan struct{} {
	if f == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	f.look()
	f.demand(false)
	return f.wait()
}

// look calls f's observe hook, once.
func (f *Future[T]) look() {
	if f.observe != nil && !f.observed.Load() && f.observed.CompareAndSwap(false, true) {
		f.observe()
	}
}

// wait returns the channel closed on settle, making it if needed.
func (f *Future[T]) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ch == nil {
		f.ch = make(chan struct{})
		if f.settled.Load() {
			close(f.ch)
		}
	}
	return f.ch
}

// demand starts f's source once. Demanding a settled future does nothing.
func (f *Future[T]) demand(inline bool) {
	if f.demanded.Load() || f.settled.Load() || !f.demanded.CompareAndSwap(false, true) {
		return
	}
	if src := f.src; src != nil {
		f.src = nil
		src.start(inline)
	}
}

// start demands f: f is the source of the futures derived from it.
func (f *Future[T]) start(inline bool) {
	f.demand(inline)
}

// settle records the result, wakes the waiters and runs the continuations
// in the calling goroutine. Only the first call has an effect.
func (f *Future[T]) settle(v T, err error) {
	f.complete(v, err).run()
}

// complete records the result and wakes the waiters, and returns the
// continuations for the caller to run. Only the first call has an effect.
func (f *Future[T]) complete(v T, err error) listeners {
	f.mu.Lock()
	if f.settled.Load() {
		f.mu.Unlock()
		return listeners{}
	}
	f.val, f.err = v, err
	f.settled.Store(true)
	ch, ls := f.ch, listeners{f.cont, f.more}
	f.cont, f.more = nil, nil
	f.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return ls
}

// onSettle registers l to run once f has settled: in the goroutine that
// settles f, or now in the caller's if f has settled already.
func (f *Future[T]) onSettle(l listener) {
	f.look()
	if !f.settled.Load() {
		f.mu.Lock()
		if !f.settled.Load() {
			switch {
			case f.cont == nil:
				f.cont = l
			case f.more == nil:
				f.more = &[]listener{l}
			default:
				*f.more = append(*f.more, l)
			}
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
	}
	l.parentSettled().run()
}

// run runs the continuations, and those of the futures they settle, to the
// end: a chain in a loop, a fan-out one branch after the other.
func (ls listeners) run() {
	for ls.first != nil {
		if ls.more != nil {
			runEach(ls.first, *ls.more)
			return
		}
		ls = ls.first.parentSettled()
	}
}

// runEach runs each continuation to its end, in order. If one of them ends
// the goroutine (runtime.Goexit in a user function), the rest still run, on
// a new goroutine.
func runEach(first listener, rest []listener) {
	next, finished := 0, false
	defer func() {
		if !finished && next < len(rest) {
			go runEach(rest[next], rest[next+1:])
		}
	}()
	first.parentSettled().run()
	for next < len(rest) {
		l := rest[next]
		next++
		l.parentSettled().run()
	}
	finished = true
}
