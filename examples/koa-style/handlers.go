package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// Limits on what a visitor may put in the session.
const (
	maxMessageLen = 280     // runes in a message
	maxUserLen    = 64      // runes in a user name
	maxItemLen    = 100     // runes in a cart item
	maxCartItems  = 50      // items in the cart
	maxBodyBytes  = 1 << 16 // bytes in a request body
)

// app serves the example's pages. Its handlers run inside the session
// middleware and its CSRF guard.
type app struct {
	log       *slog.Logger
	storeName string // shown in the page's footer
}

// newHandler returns the example's handler on store: the routes of the
// original README's usage, inside the session middleware and the CSRF
// guard, with request bodies capped at maxBodyBytes.
func newHandler(store session.Store, opts middleware.Options, storeName string) (http.Handler, error) {
	a := &app{log: opts.Logger, storeName: storeName}
	if a.log == nil {
		a.log = slog.Default()
	}
	opts.ErrorHandler = a.middlewareError
	m, err := middleware.New(store, opts)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("POST /message", a.message)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /cart", a.cart)
	mux.HandleFunc("GET /api/session", a.apiSession)
	return limitBody(m.Handler(m.CSRF(mux))), nil
}

// limitBody caps request bodies at maxBodyBytes: a larger form fails to
// parse, so it carries no CSRF token and is refused.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// index shows the session and counts the visit:
//
//	var session = yield this.session()
//	yield session.inc('views', 1).then(session.update)
func (a *app) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, err := middleware.Session(r).Await(ctx)
	if err != nil {
		a.fail(w, r, "load session", err)
		return
	}
	if _, err := sess.Inc("views", 1).Then(sess.Update).Await(ctx); err != nil {
		a.fail(w, r, "count visit", err)
		return
	}
	a.render(w, http.StatusOK, "index.html", newPage(sess, a.storeName))
}

// message keeps the visitor's message:
//
//	yield session.set('message', this.request.body.message).then(session.update)
func (a *app) message(w http.ResponseWriter, r *http.Request) {
	msg, err := formText(r, "message", maxMessageLen)
	if err != nil {
		a.badRequest(w, err)
		return
	}
	ctx := r.Context()
	sess, err := middleware.Session(r).Await(ctx)
	if err != nil {
		a.fail(w, r, "load session", err)
		return
	}
	if _, err := sess.Set("message", msg).Then(sess.Update).Await(ctx); err != nil {
		a.fail(w, r, "set message", err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// login starts a brand-new session for the user, so that a session id
// planted before the login is worth nothing after it (session fixation):
//
//	yield session.regenerate().then(s => s.set('user', name))
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	user, err := formText(r, "user", maxUserLen)
	if err != nil {
		a.badRequest(w, err)
		return
	}
	ctx := r.Context()
	sess, err := middleware.Session(r).Await(ctx)
	if err != nil {
		a.fail(w, r, "load session", err)
		return
	}
	fresh := future.Chain(sess.Regenerate(), func(s *session.Session) *future.Future[session.Doc] {
		return s.Set("user", user).Then(s.Update)
	})
	if _, err := fresh.Await(ctx); err != nil {
		a.fail(w, r, "log in", err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout deletes the session and clears its cookie:
//
//	yield session.destroy()
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, err := middleware.Session(r).Await(ctx)
	if err != nil {
		a.fail(w, r, "load session", err)
		return
	}
	if _, err := sess.Destroy().Await(ctx); err != nil {
		a.fail(w, r, "log out", err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// cart adds an item with three commands fired together; their paths do
// not overlap, so they go to the store as one atomic update:
//
//	yield [session.push('cart', item), session.inc('cartCount', 1), session.set('lastItem', item)]
func (a *app) cart(w http.ResponseWriter, r *http.Request) {
	item, err := formText(r, "item", maxItemLen)
	if err != nil {
		a.badRequest(w, err)
		return
	}
	ctx := r.Context()
	sess, err := middleware.Session(r).Await(ctx)
	if err != nil {
		a.fail(w, r, "load session", err)
		return
	}
	if cartLen(sess) >= maxCartItems {
		a.render(w, http.StatusConflict, "error.html", errorPage{
			Code: http.StatusConflict, Title: "Your cart is full",
			Detail: fmt.Sprintf("The cart holds at most %d items.", maxCartItems),
		})
		return
	}
	docs, err := future.All(
		sess.Push("cart", item),
		sess.Inc("cartCount", 1),
		sess.Set("lastItem", item),
	).Await(ctx)
	if err != nil {
		a.fail(w, r, "add to cart", err)
		return
	}
	_, _ = sess.Update(docs[len(docs)-1]) // never fails
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// apiSession answers the session's user keys as a JSON object. The
// reserved fields (the store id, expiry, the CSRF secret) are never in
// it, and it does not count as a visit.
func (a *app) apiSession(w http.ResponseWriter, r *http.Request) {
	sess, err := middleware.Session(r).Await(r.Context())
	if err != nil {
		a.fail(w, r, "load session", err)
		return
	}
	body, err := json.Marshal(sess.Values())
	if err != nil {
		a.fail(w, r, "encode session", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n'))
}

// cartLen is the number of items in the session's cart.
func cartLen(sess *session.Session) int {
	cart, _ := sess.Get("cart")
	items, _ := cart.([]any)
	return len(items)
}

// errBadInput is wrapped by formText's errors.
var errBadInput = errors.New("bad input")

// formText returns the form field name, trimmed: it must be present, valid
// UTF-8 without control characters, and at most max runes long.
func formText(r *http.Request, name string, max int) (string, error) {
	v := strings.TrimSpace(r.PostFormValue(name))
	switch {
	case v == "":
		return "", fmt.Errorf("%w: the field %q is empty", errBadInput, name)
	case !utf8.ValidString(v):
		return "", fmt.Errorf("%w: the field %q is not valid UTF-8", errBadInput, name)
	case utf8.RuneCountInString(v) > max:
		return "", fmt.Errorf("%w: the field %q is longer than %d characters", errBadInput, name, max)
	case strings.ContainsFunc(v, unicode.IsControl):
		return "", fmt.Errorf("%w: the field %q holds control characters", errBadInput, name)
	}
	return v, nil
}
