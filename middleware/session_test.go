package middleware_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// Session(r, keys...) loads only the named keys, each at most once per
// request; Session(r) loads the rest.
func TestSessionLoadsOnlyTheNamedKeys(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	m := newManager(t, st, middleware.Options{})
	mux := http.NewServeMux()
	mux.Handle("/", app())
	mux.HandleFunc("GET /small", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r, "small").Await(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		again, err := middleware.Session(r, "small").Await(r.Context()) // no second load
		if err != nil || again != sess {
			http.Error(w, fmt.Sprint("second Session: ", err), 500)
			return
		}
		v, _ := sess.Get("small")
		fmt.Fprintf(w, "small=%v big loaded=%t", v, sess.Loaded("big"))
		if r.URL.Query().Get("all") != "" {
			if _, err := middleware.Session(r).Await(r.Context()); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			big, _ := sess.Get("big")
			fmt.Fprintf(w, " then big=%d", len(big.(string)))
		}
	})
	c := newClient(t, m.Handler(mux))
	c.do("POST", "/set", url.Values{"k": {"big"}, "v": {strings.Repeat("b", 64<<10)}})
	c.do("POST", "/set", url.Values{"k": {"small"}, "v": {"s"}})

	st.mu.Lock()
	st.loadKeys = nil
	st.mu.Unlock()
	if _, body := c.do("GET", "/small", nil); body != "small=s big loaded=false" {
		t.Fatalf("partial load: %q", body)
	}
	if _, body := c.do("GET", "/small?all=1", nil); body != fmt.Sprintf("small=s big loaded=false then big=%d", 64<<10) {
		t.Fatalf("partial, then full load: %q", body)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.loadKeys) != 3 || !reflect.DeepEqual(st.loadKeys[0], []string{"small"}) || !reflect.DeepEqual(st.loadKeys[1], []string{"small"}) {
		t.Fatalf("loads %v, want [small] [small] then the rest", st.loadKeys)
	}
}

// The CSRF key comes from the token: the guard itself costs no store call.
func TestCSRFGuardMakesNoStoreCall(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	m := newManager(t, st, middleware.Options{})
	c, token := csrfClient(t, m.Handler(m.CSRF(app())))
	st.n.Store(0)
	if resp, body := c.do("POST", "/guarded", url.Values{"_csrf": {token}}); resp.StatusCode != 200 || body != "passed" {
		t.Fatalf("valid token: %d %q", resp.StatusCode, body)
	}
	if n := st.n.Load(); n != 0 {
		t.Fatalf("the guard made %d store calls for a handler that does not touch the session, want 0", n)
	}
}

// Options.MaxCommands reaches the session.
func TestMaxCommands(t *testing.T) {
	for _, max := range []int{0, 3} {
		m := newManager(t, newMemory(t), middleware.Options{MaxCommands: max})
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sess, err := middleware.Session(r).Await(r.Context())
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			var errs []string
			for i := range 4 {
				if _, err := sess.Set(fmt.Sprint("k", i), i).Await(r.Context()); err != nil {
					if !errors.Is(err, session.ErrTooLarge) {
						t.Errorf("command %d: %v, want ErrTooLarge", i, err)
					}
					errs = append(errs, fmt.Sprint(i))
				}
			}
			fmt.Fprint(w, "refused:", strings.Join(errs, ","))
		}))
		c := newClient(t, h)
		want := "refused:"
		if max == 3 {
			want = "refused:3"
		}
		if _, body := c.do("GET", "/", nil); body != want {
			t.Errorf("MaxCommands %d: %q, want %q", max, body, want)
		}
	}
}
