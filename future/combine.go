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
	fs = slices.Clone(fs)
	out := &Future[[]T]{hook: demandAll(fs)}
	vals := make([]T, len(fs))
	var left atomic.Int64
	left.Store(int64(len(fs)))
	for i, f := range fs {
		f.onSettle(func() {
			if f.err != nil {
				out.settle(nil, fmt.Errorf("future.All: input %d: %w", i, f.err))
				return
			}
			vals[i] = f.val
			if left.Add(-1) == 0 {
				out.settle(vals, nil)
			}
		})
	}
	return out
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
	fs = slices.Clone(fs)
	out := &Future[T]{hook: demandAll(fs)}
	errs := make([]error, len(fs))
	var left atomic.Int64
	left.Store(int64(len(fs)))
	for i, f := range fs {
		f.onSettle(func() {
			if f.err == nil {
				out.settle(f.val, nil)
				return
			}
			errs[i] = f.err
			if left.Add(-1) == 0 {
				var zero T
				out.settle(zero, errors.Join(errs...))
			}
		})
	}
	return out
}

// demandAll returns a hook that demands every one of fs, none inline.
func demandAll[T any](fs []*Future[T]) func(bool) {
	return func(bool) {
		for _, f := range fs {
			f.demand(false)
		}
	}
}
