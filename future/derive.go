package future

import (
	"fmt"
	"sync"
)

// Then returns a future that settles with fn(v) once f succeeds with v. If f
// fails, fn is not called and the returned future fails with f's error.
//
// fn runs in the goroutine that settles f, or at once in the caller's if f
// has already settled, so it should not block for long; use Chain for
// further work that waits. Awaiting the returned future demands f. A panic
// in fn fails the returned future with a *PanicError; a nil fn fails it
// with an error wrapping ErrNil.
func (f *Future[T]) Then(fn func(T) (T, error)) *Future[T] {
	return mapWith("future.Then", f, fn)
}

// Catch returns a future that settles with fn(err) if f fails with err, and
// with f's value if f succeeds (fn is then not called). It runs fn as Then
// does.
func (f *Future[T]) Catch(fn func(error) (T, error)) *Future[T] {
	if f == nil {
		return Reject[T](fmt.Errorf("future.Catch: future: %w", ErrNil))
	}
	if fn == nil {
		return Reject[T](fmt.Errorf("future.Catch: function: %w", ErrNil))
	}
	out := &Future[T]{up: f}
	f.onSettle(func() {
		if f.err == nil {
			out.settle(f.val, nil)
			return
		}
		guard(fn, f.err, out.settle)
	})
	return out
}

// Map is Then with a function that changes the value's type: it returns a
// future that settles with fn(v) once f succeeds with v, and fails with f's
// error without calling fn if f fails. It runs fn as Then does.
func Map[T, U any](f *Future[T], fn func(T) (U, error)) *Future[U] {
	return mapWith("future.Map", f, fn)
}

// mapWith implements Map and Then; op names the caller in errors.
func mapWith[T, U any](op string, f *Future[T], fn func(T) (U, error)) *Future[U] {
	if f == nil {
		return Reject[U](fmt.Errorf("%s: future: %w", op, ErrNil))
	}
	if fn == nil {
		return Reject[U](fmt.Errorf("%s: function: %w", op, ErrNil))
	}
	out := &Future[U]{up: f}
	f.onSettle(func() {
		if f.err != nil {
			var zero U
			out.settle(zero, f.err)
			return
		}
		guard(fn, f.val, out.settle)
	})
	return out
}

// Chain returns a future that settles as fn(v) does, once f succeeds with v:
// fn starts further work and returns its future, which the returned future
// follows (and demands, once the returned future is demanded). If f fails,
// fn is not called and the returned future fails with f's error. fn runs as
// Then's does. A panic in fn fails the returned future with a *PanicError;
// a nil fn, or fn returning a nil future, fails it with an error wrapping
// ErrNil.
func Chain[T, U any](f *Future[T], fn func(T) *Future[U]) *Future[U] {
	if f == nil {
		return Reject[U](fmt.Errorf("future.Chain: future: %w", ErrNil))
	}
	if fn == nil {
		return Reject[U](fmt.Errorf("future.Chain: function: %w", ErrNil))
	}
	out := &Future[U]{up: f}
	link := &chainLink{}
	out.hook = link.demand
	call := func(v T) (*Future[U], error) { return fn(v), nil }
	f.onSettle(func() {
		if f.err != nil {
			var zero U
			out.settle(zero, f.err)
			return
		}
		guard(call, f.val, func(inner *Future[U], err error) {
			switch {
			case err != nil:
				var zero U
				out.settle(zero, err)
			case inner == nil:
				var zero U
				out.settle(zero, fmt.Errorf("future.Chain: function returned a nil future: %w", ErrNil))
			default:
				inner.onSettle(func() { out.settle(inner.val, inner.err) })
				link.setInner(inner)
			}
		})
	})
	return out
}

// chainLink demands Chain's inner future once both the outer future has
// been demanded and the inner one exists, whichever comes last.
type chainLink struct {
	mu       sync.Mutex
	inner    demander
	demanded bool
}

// demand records that the outer future was demanded.
func (l *chainLink) demand(inline bool) {
	l.mu.Lock()
	l.demanded = true
	inner := l.inner
	l.mu.Unlock()
	if inner != nil {
		inner.demand(inline)
	}
}

// setInner records the inner future.
func (l *chainLink) setInner(inner demander) {
	l.mu.Lock()
	l.inner = inner
	demanded := l.demanded
	l.mu.Unlock()
	if demanded {
		inner.demand(false)
	}
}
