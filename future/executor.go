package future

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// Executor runs the work of futures (NewOn, GoOn) and batches of tasks
// (Batch) on at most a fixed number of goroutines at once. Work submitted
// while all of them are busy waits in a first-in, first-out queue, without
// a goroutine of its own, and never blocks the caller that submitted it.
//
// The goroutines belong to an errgroup.Group whose SetLimit bounds them.
// Each task recovers its own panics (its future fails with a *PanicError)
// and runs under the context of its own submission, so that one failed or
// cancelled caller cannot fail or cancel another's work.
//
// The zero Executor is valid and has no limit. An Executor must not be
// copied after first use.
type Executor struct {
	g     errgroup.Group
	limit int

	mu      sync.Mutex
	running int      // worker goroutines
	queue   []func() // tasks waiting for a worker
}

// NewExecutor returns an Executor that runs at most limit tasks at once.
// A limit of zero or less means no limit.
func NewExecutor(limit int) *Executor {
	e := &Executor{limit: max(limit, 0)}
	if e.limit > 0 {
		e.g.SetLimit(e.limit)
	}
	return e
}

// NewOn is New with fn run on e, within e's limit, when the future is first
// demanded; it never runs in the awaiting goroutine. If ctx is done by the
// time fn's turn comes, fn is not called and the future fails with
// context.Cause(ctx). A nil e fails the future with an error wrapping ErrNil.
func NewOn[T any](e *Executor, ctx context.Context, fn func(context.Context) (T, error)) *Future[T] {
	if e == nil {
		return Reject[T](fmt.Errorf("future.NewOn: executor: %w", ErrNil))
	}
	return newLazy(e, ctx, fn, "future.NewOn")
}

// GoOn is Go with fn run on e, within e's limit: it is submitted now and
// runs as soon as e has a free goroutine. Otherwise it behaves as NewOn.
func GoOn[T any](e *Executor, ctx context.Context, fn func(context.Context) (T, error)) *Future[T] {
	if e == nil {
		return Reject[T](fmt.Errorf("future.GoOn: executor: %w", ErrNil))
	}
	f := newLazy(e, ctx, fn, "future.GoOn")
	f.demand(false)
	return f
}

// Batch submits tasks to e now, as one batch, and returns a future that
// settles once every task has returned, as errgroup.Group.Wait: it fails
// with the first error a task returned, or succeeds.
//
// The tasks run under a context of the batch's own, derived from ctx and
// cancelled, with the failing task's error as its cause, as soon as one
// task fails; tasks whose turn comes after that are not called. Nothing
// outside the batch cancels it but ctx, and its failure cancels nothing
// outside it. If tasks were skipped because ctx was done and none failed,
// the future fails with context.Cause(ctx). A panic in a task counts as its
// failure with a *PanicError. A nil e, ctx or task gives an error wrapping
// ErrNil.
func (e *Executor) Batch(ctx context.Context, tasks ...func(context.Context) error) *Future[struct{}] {
	switch {
	case e == nil:
		return Reject[struct{}](fmt.Errorf("future.Batch: executor: %w", ErrNil))
	case ctx == nil:
		return Reject[struct{}](fmt.Errorf("future.Batch: context: %w", ErrNil))
	case len(tasks) == 0:
		return Resolve(struct{}{})
	}
	b := &batch{}
	b.demanded.Store(true)
	b.ctx, b.cancel = context.WithCancelCause(ctx)
	b.left.Store(int64(len(tasks)))
	for i, task := range tasks {
		e.submit(func() { b.run(i, task) })
	}
	return &b.Future
}

// Wait blocks until every task submitted to e so far has returned, queued
// ones included. Call it when no more work will be submitted, at shutdown
// or at the end of a test; work submitted while Wait runs may or may not be
// waited for.
func (e *Executor) Wait() {
	_ = e.g.Wait() // tasks report to their futures; the group's error is always nil
}

// submit runs task on a worker, starting one if the limit allows, or queues
// it for the next free worker.
func (e *Executor) submit(task func()) {
	e.mu.Lock()
	if e.limit > 0 && e.running >= e.limit {
		e.queue = append(e.queue, task)
		e.mu.Unlock()
		return
	}
	e.running++
	e.mu.Unlock()
	// A worker that has just found the queue empty may hold its errgroup
	// slot for a moment longer; Go waits for that moment only.
	e.g.Go(func() error {
		e.work(task)
		return nil
	})
}

// work runs task, then queued tasks until the queue is empty. If a task
// ends the goroutine (runtime.Goexit), another goroutine takes the queue over.
func (e *Executor) work(task func()) {
	defer func() {
		if task != nil {
			e.mu.Lock()
			e.running--
			e.mu.Unlock()
			go e.resume()
		}
	}()
	for task != nil {
		task()
		task = e.next()
	}
}

// next pops the next queued task, or returns nil and retires the worker.
func (e *Executor) next() func() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.queue) == 0 {
		e.queue = nil
		e.running--
		return nil
	}
	task := e.queue[0]
	e.queue[0] = nil
	e.queue = e.queue[1:]
	return task
}

// resume starts a worker for the queue if it has tasks and the limit allows.
func (e *Executor) resume() {
	e.mu.Lock()
	if len(e.queue) == 0 || (e.limit > 0 && e.running >= e.limit) {
		e.mu.Unlock()
		return
	}
	task := e.queue[0]
	e.queue[0] = nil
	e.queue = e.queue[1:]
	e.running++
	e.mu.Unlock()
	e.g.Go(func() error {
		e.work(task)
		return nil
	})
}

// batch is the future of one Executor.Batch call.
type batch struct {
	Future[struct{}]
	ctx     context.Context
	cancel  context.CancelCauseFunc
	left    atomic.Int64
	skipped atomic.Bool
	once    sync.Once
	err     error
}

// run runs task i of the batch unless the batch is already done for, and
// settles the batch's future after the last task.
func (b *batch) run(i int, task func(context.Context) error) {
	defer func() { // deferred, so that a task's runtime.Goexit still counts
		if b.left.Add(-1) == 0 {
			b.finish()
		}
	}()
	call := func(ctx context.Context) (struct{}, error) { return struct{}{}, task(ctx) }
	switch {
	case task == nil:
		b.fail(fmt.Errorf("future.Batch: task %d: %w", i, ErrNil))
	case b.ctx.Err() != nil:
		b.skipped.Store(true)
	default:
		if _, err := guard(call, b.ctx, b.failed); err != nil {
			b.fail(err)
		}
	}
}

// fail records the batch's first error and cancels its context.
func (b *batch) fail(err error) {
	b.once.Do(func() {
		b.err = err
		b.cancel(err)
	})
}

// failed records err as the failure of a task that called runtime.Goexit.
func (b *batch) failed(_ struct{}, err error) {
	b.fail(err)
}

// finish settles the batch's future and releases its context.
func (b *batch) finish() {
	err := b.err
	if err == nil && b.skipped.Load() {
		err = context.Cause(b.ctx)
	}
	b.cancel(context.Canceled)
	b.settle(struct{}{}, err)
}
