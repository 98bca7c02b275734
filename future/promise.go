package future

// NewPromise returns a pending future and the function that settles it: the
// form for work that something other than a function of the future's own
// drives, as a queue that sends its commands in batches.
//
// onDemand, if not nil, runs once, synchronously, in the goroutine of the
// first Await or Done call on f or on any future derived from f (Then,
// Catch, Map, Chain, All, Any), so that it can start the work that settles
// f. It is not called if f has settled before it is first demanded. A panic
// in onDemand fails f with a *PanicError.
//
// Settling more than once is a no-op: the first result wins. Settling runs
// the continuations of the futures derived from f (the functions passed to
// Then, Catch, Map, Chain) in the settling goroutine.
func NewPromise[T any](onDemand func()) (*Future[T], func(T, error)) {
	n := &promiseNode[T]{onDemand: onDemand}
	if onDemand != nil {
		n.src = n
	}
	return &n.Future, n.settle
}

// promiseNode is a future settled from outside, with a demand hook.
type promiseNode[T any] struct {
	Future[T]
	onDemand func()
}

// start runs onDemand; a panic in it fails the future.
func (n *promiseNode[T]) start(bool) {
	n.hookDone(guard(n.callHook, struct{}{}, n.hookDone))
}

// callHook calls onDemand, in the form guard wants.
func (n *promiseNode[T]) callHook(struct{}) (struct{}, error) {
	n.onDemand()
	return struct{}{}, nil
}

// hookDone fails the future if onDemand panicked.
func (n *promiseNode[T]) hookDone(_ struct{}, err error) {
	if err != nil {
		var zero T
		n.settle(zero, err)
	}
}

// NewDeferredPromise is NewPromise for a group of futures settled together,
// such as the commands of one batch: its settle function records the result
// and wakes the waiters, but does not run the continuations of the futures
// derived from f. It returns a function that runs them. Settling every
// future of the group first and running the continuations after lets a
// continuation await a sibling of its future without deadlock.
//
// onObserve, if not nil, runs once, synchronously, the first time f is
// awaited, asked for Done or derived from (Then, Catch, Map, Chain, All,
// Any), whether or not f has settled: so that the owner of a group can tell
// whether anybody looked at a failure.
//
// Settling more than once is a no-op (the function it returns then does
// nothing). The returned function must be called once, in any goroutine.
func NewDeferredPromise[T any](onDemand, onObserve func()) (*Future[T], func(T, error) func()) {
	n := &promiseNode[T]{onDemand: onDemand}
	if onDemand != nil {
		n.src = n
	}
	n.observe = onObserve
	return &n.Future, func(v T, err error) func() {
		return n.complete(v, err).run
	}
}
