package future

import (
	"fmt"
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

// Map is Then with a function that changes the value's type: it returns a
// future that settles with fn(v) once f succeeds with v, and fails with f's
// error without calling fn if f fails. It runs fn as Then does.
func Map[T, U any](f *Future[T], fn func(T) (U, error)) *Future[U] {
	return mapWith("future.Map", f, fn)
}

// mapNode is the future of Then and Map, and its parent's continuation.
type mapNode[T, U any] struct {
	Future[U]
	parent *Future[T]
	fn     func(T) (U, error)
}

// mapWith implements Map and Then; op names the caller in errors.
func mapWith[T, U any](op string, f *Future[T], fn func(T) (U, error)) *Future[U] {
	if f == nil {
		return Reject[U](fmt.Errorf("%s: future: %w", op, ErrNil))
	}
	if fn == nil {
		return Reject[U](fmt.Errorf("%s: function: %w", op, ErrNil))
	}
	n := &mapNode[T, U]{parent: f, fn: fn}
	n.src = f
	f.onSettle(n)
	return &n.Future
}

func (n *mapNode[T, U]) parentSettled() listeners {
	p, fn := n.parent, n.fn
	n.parent, n.fn = nil, nil // runs once; lets the parent go
	if p.err != nil {
		var zero U
		return n.complete(zero, p.err)
	}
	return n.complete(guard(fn, p.val, n.settle))
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
	n := &catchNode[T]{parent: f, fn: fn}
	n.src = f
	f.onSettle(n)
	return &n.Future
}

// catchNode is the future of Catch, and its parent's continuation.
type catchNode[T any] struct {
	Future[T]
	parent *Future[T]
	fn     func(error) (T, error)
}

func (n *catchNode[T]) parentSettled() listeners {
	p, fn := n.parent, n.fn
	n.parent, n.fn = nil, nil // runs once; lets the parent go
	if p.err == nil {
		return n.complete(p.val, nil)
	}
	return n.complete(guard(fn, p.err, n.settle))
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
	n := &chainNode[T, U]{parent: f, fn: fn}
	n.src = n
	f.onSettle(n)
	return &n.Future
}

// chainNode is the future of Chain, and its parent's continuation. It
// demands the inner future once it has been demanded itself and the inner
// future exists, whichever comes last.
type chainNode[T, U any] struct {
	Future[U]
	parent *Future[T]
	fn     func(T) *Future[U]
	inner  *Future[U] // guarded by the future's mu
	wanted bool       // guarded by the future's mu
}

// start demands the parent, and the inner future if it exists yet.
func (n *chainNode[T, U]) start(inline bool) {
	n.parent.demand(inline)
	n.mu.Lock()
	n.wanted = true
	inner := n.inner
	n.mu.Unlock()
	if inner != nil {
		inner.demand(inline)
	}
}

func (n *chainNode[T, U]) parentSettled() listeners {
	var zero U
	if err := n.parent.err; err != nil {
		return n.complete(zero, err)
	}
	inner, err := guard(n.call, n.parent.val, func(*Future[U], error) { n.settle(zero, ErrGoexit) })
	switch {
	case err != nil:
		return n.complete(zero, err)
	case inner == nil:
		return n.complete(zero, fmt.Errorf("future.Chain: function returned a nil future: %w", ErrNil))
	}
	inner.onSettle(listenerFunc(func() listeners { return n.complete(inner.val, inner.err) }))
	n.mu.Lock()
	n.inner = inner
	wanted := n.wanted
	n.mu.Unlock()
	if wanted {
		inner.demand(false)
	}
	return listeners{}
}

// call calls fn, in the form guard wants.
func (n *chainNode[T, U]) call(v T) (*Future[U], error) {
	return n.fn(v), nil
}
