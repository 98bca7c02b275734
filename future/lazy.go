package future

import (
	"context"
	"fmt"
)

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

// lazyNode is a future whose source is its own function.
type lazyNode[T any] struct {
	Future[T]
	ctx  context.Context
	fn   func(context.Context) (T, error)
	exec *Executor // runs fn if not nil
}

// newLazy returns a future that runs fn(ctx) on exec when demanded.
func newLazy[T any](exec *Executor, ctx context.Context, fn func(context.Context) (T, error), op string) *Future[T] {
	switch {
	case ctx == nil:
		return Reject[T](fmt.Errorf("%s: context: %w", op, ErrNil))
	case fn == nil:
		return Reject[T](fmt.Errorf("%s: function: %w", op, ErrNil))
	}
	n := &lazyNode[T]{ctx: ctx, fn: fn, exec: exec}
	n.src = n
	return &n.Future
}

// start runs the function on the executor, inline, or on a new goroutine.
func (n *lazyNode[T]) start(inline bool) {
	switch {
	case n.exec != nil:
		n.exec.submit(n.run)
	case inline:
		n.run()
	default:
		go n.run()
	}
}

// run calls the function and settles the future with its result.
func (n *lazyNode[T]) run() {
	ctx, fn := n.ctx, n.fn
	n.ctx, n.fn = nil, nil
	if ctx.Err() != nil {
		var zero T
		n.settle(zero, context.Cause(ctx))
		return
	}
	n.settle(guard(fn, ctx, n.settle))
}
