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
		{"Load", func() error { _, err := st.Load(ctx, m.ID, nil); return err }},
		{"LoadKeys", func() error { _, err := st.Load(ctx, m.ID, []string{"a"}); return err }},
		{"Create", func() error {
			_, err := st.Create(ctx, fresh, session.Update{Commands: prepare(t, set("a", 1))})
			return err
		}},
		{"Apply", func() error {
			_, err := st.Apply(ctx, m.ID, session.Update{Commands: prepare(t, inc("a", 1)), Expires: later()})
			return err
		}},
		{"Delete", func() error {
			err := st.Delete(ctx, m.ID)
			if err == nil {
				// nil means deleted: a store that swallows its error must not get away with it.
				if _, lerr := st.Load(context.Background(), m.ID, nil); lerr == nil {
					t.Errorf("Delete with a done context returned nil, but the session is still there: an error was swallowed")
				}
			}
			return err
		}},
	}
	if ux, ok := st.(session.UserIndex); ok {
		calls = append(calls, []struct {
			name string
			call func() error
		}{
			{"UserSessions", func() error { _, err := ux.UserSessions(ctx, "context-user"); return err }},
			{"DeleteUserSessions", func() error { _, err := ux.DeleteUserSessions(ctx, "context-user"); return err }},
		}...)
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
