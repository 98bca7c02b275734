// Package future provides futures: the eventual result of a piece of work,
// a value or an error, that any number of goroutines can wait for, and that
// further work can be chained onto, as JavaScript's promises.
//
// [Future] is related to a goroutine with a result channel but adds laziness,
// continuations, panic recovery and waits bounded by a context.
//
// A future made by [New] is lazy: its function runs once, when the future,
// or one derived from it, is first awaited ([Future.Await]) or selected on
// ([Future.Done]). One that nobody awaits costs no goroutine. [Go] starts its
// function at once. [Resolve] and [Reject] make settled futures, and
// [NewPromise] a pending one that the caller settles, for work driven from
// elsewhere (a queue that sends commands in batches).
//
// [Future.Then], [Future.Catch], [Map] and [Chain] derive a future from
// another by registering a continuation on it: the continuation runs in the
// goroutine that settles the parent, so a chain of stages parks no goroutine
// per stage. [All] and [Any] combine futures. A panic in any function the
// package calls becomes a [*PanicError] with the panic's value and stack.
//
// An [Executor] bounds how many functions run at once, on goroutines of an
// errgroup.Group with a limit; [NewOn] and [GoOn] run a future's function on
// it, and [Executor.Batch] runs a group of tasks with a context of its own,
// in the manner of errgroup.WithContext. New and Go run each function on a
// goroutine of its own, without a bound.
//
// Await's context bounds only the wait: the work runs under the context the
// future was created with, so one caller giving up does not fail the others.
//
//	f := future.New(ctx, load).Then(validate)
//	v, err := f.Await(r.Context())
//
// Future is a concrete type and no interface declares Then, so that methods
// with type parameters (Then[U]), if Go gets them, can be added compatibly.
package future
