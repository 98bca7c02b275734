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
	f := &Future[T]{}
	if onDemand != nil {
		call := func(struct{}) (struct{}, error) { onDemand(); return struct{}{}, nil }
		f.hook = func(bool) {
			guard(call, struct{}{}, func(_ struct{}, err error) {
				if err != nil {
					var zero T
					f.settle(zero, err)
				}
			})
		}
	}
	return f, f.settle
}
