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
	demanded atomic.Bool // demand has run (or was not needed)

	mu    sync.Mutex
	ch    chan struct{} // closed on settle; made by the first blocking wait
	cont  func()        // first continuation
	conts []func()      // further continuations, in registration order

	val T
	err error

	// What the first demand starts. Only the goroutine that wins demanded
	// reads these.
	up   demander          // parent demanded first (derived futures)
	hook func(inline bool) // onDemand, fan-out of All and Any, Chain's inner
	ctx  context.Context   // lazy work: fn(ctx) ...
	fn   func(context.Context) (T, error)
	exec *Executor // ... on exec, or on a goroutine of its own if nil
}

// demander is a future of any type that can be asked to start its work.
type demander interface {
	demand(inline bool)
}

// New returns a lazy future: fn(ctx) runs once, when the future is first
// demanded, that is when Await or Done is first called on it or on a future
// derived from it (Then, Catch, Map, Chain, All, Any). A lazy future that is
// never demanded runs nothing and starts no goroutine.
//
// fn runs on a goroutine of its own, except that an Await whose context can
// never be cancelled (ctx.Done() == nil, as context.Background) runs it in
// the awaiting goroutine, which would block until fn returns anyway. New
// puts no bound on how many functions run at once; use NewOn for that.
//
// If ctx is done when fn would start, fn is not called and the future fails
// with context.Cause(ctx). A panic in fn fails the future with a
// *PanicError. A nil ctx or fn fails the future with an error wrapping
// ErrNil.
func New[T any](ctx context.Context, fn func(context.Context) (T, error)) *Future[T] {
	return newLazy(nil, ctx, fn, "future.New")
}

// Go returns an eager future: fn(ctx) starts now on a goroutine of its own,
// whether or not anyone awaits the result. Go puts no bound on how many
// functions run at once; use GoOn for that. Otherwise it behaves as New.
func Go[T any](ctx context.Context, fn func(context.Context) (T, error)) *Future[T] {
	f := newLazy(nil, ctx, fn, "future.Go")
	f.demand(false)
	return f
}

// newLazy returns a future that runs fn(ctx) on exec when demanded.
func newLazy[T any](exec *Executor, ctx context.Context, fn func(context.Context) (T, error), op string) *Future[T] {
	switch {
	case ctx == nil:
		return Reject[T](fmt.Errorf("%s: context: %w", op, ErrNil))
	case fn == nil:
		return Reject[T](fmt.Errorf("%s: function: %w", op, ErrNil))
	}
	return &Future[T]{ctx: ctx, fn: fn, exec: exec}
}

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
// done. A nil f or ctx gives an error wrapping ErrNil.
func (f *Future[T]) Await(ctx context.Context) (T, error) {
	var zero T
	switch {
	case f == nil:
		return zero, fmt.Errorf("future.Await: future: %w", ErrNil)
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
	if !f.settled.Load() {
		f.demand(false)
	}
	return f.wait()
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

// demand starts f's work once: it demands the parent, runs the hook and
// starts the lazy function. inline allows running the function in the
// calling goroutine. Demanding a settled future does nothing.
func (f *Future[T]) demand(inline bool) {
	if f.demanded.Load() || f.settled.Load() || !f.demanded.CompareAndSwap(false, true) {
		return
	}
	if up := f.up; up != nil {
		f.up = nil
		up.demand(inline)
	}
	if hook := f.hook; hook != nil {
		f.hook = nil
		hook(inline)
	}
	if f.fn != nil {
		f.start(inline)
	}
}

// start runs the lazy function on the executor, inline, or on a new goroutine.
func (f *Future[T]) start(inline bool) {
	switch {
	case f.exec != nil:
		f.exec.submit(f.run)
	case inline:
		f.run()
	default:
		go f.run()
	}
}

// run calls the lazy function and settles f with its result.
func (f *Future[T]) run() {
	ctx, fn := f.ctx, f.fn
	f.ctx, f.fn = nil, nil
	if ctx.Err() != nil {
		var zero T
		f.settle(zero, context.Cause(ctx))
		return
	}
	guard(fn, ctx, f.settle)
}

// settle records the result, wakes the waiters and runs the continuations
// in the calling goroutine. Only the first call has an effect.
func (f *Future[T]) settle(v T, err error) {
	f.mu.Lock()
	if f.settled.Load() {
		f.mu.Unlock()
		return
	}
	f.val, f.err = v, err
	f.settled.Store(true)
	ch, first, rest := f.ch, f.cont, f.conts
	f.cont, f.conts = nil, nil
	f.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	runConts(first, rest)
}

// onSettle registers c to run once f has settled: in the goroutine that
// settles f, or now in the caller's if f has settled already.
func (f *Future[T]) onSettle(c func()) {
	if !f.settled.Load() {
		f.mu.Lock()
		if !f.settled.Load() {
			if f.cont == nil {
				f.cont = c
			} else {
				f.conts = append(f.conts, c)
			}
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
	}
	c()
}

// runConts runs the continuations in order. If one of them ends the
// goroutine (runtime.Goexit in a user function), the rest still run, on a
// new goroutine.
func runConts(first func(), rest []func()) {
	if first == nil {
		return
	}
	if len(rest) == 0 {
		first()
		return
	}
	next, finished := 0, false
	defer func() {
		if !finished && next < len(rest) {
			go runConts(rest[next], rest[next+1:])
		}
	}()
	first()
	for next < len(rest) {
		c := rest[next]
		next++
		c()
	}
	finished = true
}
