package future

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// ErrGoexit is the error of a future whose function or continuation called
// runtime.Goexit (as testing.T.FailNow does) instead of returning.
var ErrGoexit = errors.New("future: function called runtime.Goexit")

// PanicError is the error of a future whose function or continuation
// panicked. The panic is recovered where it happened, so it never crashes
// the process; the future fails with a *PanicError instead, and so do the
// futures derived from it.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the stack of the panicking goroutine, as runtime/debug.Stack
	// formats it.
	Stack []byte
}

// Error returns the panic value followed by the stack, so that a logged
// error shows where the panic happened.
func (e *PanicError) Error() string {
	return fmt.Sprintf("future: panic: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns Value if it is an error, and nil otherwise, so that
// errors.Is and errors.As see through a panic with an error value.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// guard calls fn(a) and returns its result, or a *PanicError if fn
// panics. If fn calls runtime.Goexit, guard passes ErrGoexit to exit, since
// it cannot return, before the goroutine goes on unwinding.
func guard[A, R any](fn func(A) (R, error), a A, exit func(R, error)) (v R, err error) {
	returned := false
	defer func() {
		if returned {
			return
		}
		if err = recovered(recover()); err == ErrGoexit {
			var zero R
			exit(zero, err)
		}
	}()
	v, err = fn(a)
	returned = true
	return v, err
}

// recovered turns the value of recover in a function that did not return
// into the error that describes how it ended.
func recovered(r any) error {
	if r == nil {
		return ErrGoexit
	}
	return &PanicError{Value: r, Stack: debug.Stack()}
}
