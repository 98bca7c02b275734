package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

func (s *suite) contextTests() []subtest {
	return []subtest{
		{"Canceled", func(t *testing.T, st session.Store) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			testDoneContext(t, st, ctx)
		}},
		{"DeadlineExceeded", func(t *testing.T, st session.Store) {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			testDoneContext(t, st, ctx)
		}},
	}
}

// testDoneContext: every method called with a context that is already done
// returns an error, and does not panic. The error should wrap ctx.Err(); a
// store's own error is accepted, and logged.
func testDoneContext(t *testing.T, st session.Store, ctx context.Context) {
	m := newMeta(t, liveFor)
	create(t, st, m, prepare(t, set("a", 1)))
	fresh := newMeta(t, liveFor)
	calls := []struct {
		name string
		call func() error
	}{
		{"Load", func() error { _, err := st.Load(ctx, m.ID); return err }},
		{"Create", func() error { _, err := st.Create(ctx, fresh, prepare(t, set("a", 1))); return err }},
		{"Apply", func() error { _, err := st.Apply(ctx, m.ID, later(), prepare(t, inc("a", 1))); return err }},
		{"Delete", func() error { return st.Delete(ctx, m.ID) }},
	}
	for _, c := range calls {
		err := callSafely(c.call)
		var p panicked
		switch {
		case errors.As(err, &p):
			t.Errorf("%s with a done context panicked: %v", c.name, p.value)
		case err == nil:
			t.Errorf("%s with a done context returned no error", c.name)
		case !errors.Is(err, ctx.Err()):
			t.Logf("%s with a done context: %v (does not wrap %v)", c.name, err, ctx.Err())
		}
	}
}

type panicked struct{ value any }

func (p panicked) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// callSafely runs fn and turns a panic into a panicked error.
func callSafely(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return fn()
}
