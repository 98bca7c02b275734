package future

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
)

// All returns a future that succeeds with the values of fs, in order, once
// every one of them has succeeded. It fails fast: as soon as one fails, the
// returned future fails with an error that names the failed index and wraps
// its error (errors.Is and errors.As see it); the others go on running under
// their own contexts. Awaiting the returned future demands every one of fs,
// each lazy one on a goroutine of its own so that they run in parallel.
//
// All of no futures succeeds with an empty slice. A nil future among fs
// fails the result with an error wrapping ErrNil.
func All[T any](fs ...*Future[T]) *Future[[]T] {
	if i := slices.Index(fs, nil); i >= 0 {
		return Reject[[]T](fmt.Errorf("future.All: input %d: %w", i, ErrNil))
	}
	if len(fs) == 0 {
		return Resolve([]T{})
	}
	n := &allNode[T]{inputs: slices.Clone(fs), vals: make([]T, len(fs))}
	n.src = n
	n.left.Store(int64(len(fs)))
	for i, in := range n.inputs {
		in.onSettle(listenerFunc(func() listeners { return n.inputSettled(i, in) }))
	}
	return &n.Future
}

// allNode is the future of All.
type allNode[T any] struct {
	Future[[]T]
	inputs []*Future[T]
	vals   []T
	left   atomic.Int64 // inputs yet to succeed
}

// start demands every input, none inline, so that they run in parallel.
func (n *allNode[T]) start(bool) {
	demandAll(n.inputs)
}

// inputSettled records input i's result.
func (n *allNode[T]) inputSettled(i int, in *Future[T]) listeners {
	if in.err != nil {
		return n.complete(nil, fmt.Errorf("future.All: input %d: %w", i, in.err))
	}
	n.vals[i] = in.val
	if n.left.Add(-1) == 0 {
		return n.complete(n.vals, nil)
	}
	return listeners{}
}

// Any returns a future that succeeds with the value of the first of fs to
// succeed, or, once all of them have failed, fails with errors.Join of their
// errors in the order of fs. Awaiting the returned future demands every one
// of fs as All does.
//
// Any of no futures fails with an error saying so. A nil future among fs
// fails the result with an error wrapping ErrNil.
func Any[T any](fs ...*Future[T]) *Future[T] {
	if i := slices.Index(fs, nil); i >= 0 {
		return Reject[T](fmt.Errorf("future.Any: input %d: %w", i, ErrNil))
	}
	if len(fs) == 0 {
		return Reject[T](errors.New("future.Any: no futures to wait for"))
	}
	n := &anyNode[T]{inputs: slices.Clone(fs), errs: make([]error, len(fs))}
	n.src = n
	n.left.Store(int64(len(fs)))
	for i, in := range n.inputs {
		in.onSettle(listenerFunc(func() listeners { return n.inputSettled(i, in) }))
	}
	return &n.Future
}

// anyNode is the future of Any.
type anyNode[T any] struct {
	Future[T]
	inputs []*Future[T]
	errs   []error
	left   atomic.Int64 // inputs yet to fail
}

// start demands every input as All does.
func (n *anyNode[T]) start(bool) {
	demandAll(n.inputs)
}

// inputSettled records input i's result.
func (n *anyNode[T]) inputSettled(i int, in *Future[T]) listeners {
	if in.err == nil {
		return n.complete(in.val, nil)
	}
	n.errs[i] = in.err
	if n.left.Add(-1) == 0 {
		var zero T
		return n.complete(zero, errors.Join(n.errs...))
	}
	return listeners{}
}

// demandAll demands every one of fs, none inline.
func demandAll[T any](fs []*Future[T]) {
	for _, f := range fs {
		f.demand(false)
	}
}
