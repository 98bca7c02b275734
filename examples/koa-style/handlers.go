package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
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
	maxCartItems  = 50      // items the cart keeps: the last ones added
	maxBodyBytes  = 1 << 16 // bytes in a request body
	maxAPIKeys    = 16      // keys GET /api/session?keys= may name
)

// The session keys the app uses. flashKey holds a one-time message that
// the next page shows once (see index).
const (
	flashKey = "flash"
)

// pageKeys are the keys the home page shows besides views, which it
// increments: GET / loads these and nothing else.
var pageKeys = []string{"message", "user", "cart", "cartCount", "lastItem", flashKey}

// appKeys are every key the app writes, reported by GET /api/session as
// loaded or not.
var appKeys = append([]string{"views"}, pageKeys...)

// app serves the example's pages. Its handlers run inside the session
// middleware and its CSRF guard.
type app struct {
	log       *slog.Logger
	storeName string            // shown in the page's footer
	users     session.UserIndex // the store's user index; nil if it has none
}

// newHandler returns the example's handler on store: the routes of the
// original README's usage, inside the session middleware and the CSRF
// guard, with request bodies capped at maxBodyBytes. If store implements
// session.UserIndex, the home page lists a logged-in user's sessions and
// offers to log out the others.
func newHandler(store session.Store, opts middleware.Options, storeName string) (http.Handler, error) {
	a := &app{log: opts.Logger, storeName: storeName}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.users, _ = store.(session.UserIndex)
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
	mux.HandleFunc("POST /sessions/logout-others", a.logoutOthers)
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
//
// Here the load and the Inc go to the store together, as one atomic step
// (one round trip): Attach gives the session without reading it, Fetch
// names the keys the page shows, and Inc joins the same batch. A flash
// message, if the load found one, is then taken: of two tabs loading at
// once, exactly one shows it.
func (a *app) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, err := middleware.Attach(r)
	if err != nil {
		a.fail(w, r, "attach session", err)
		return
	}
	page := sess.Fetch(pageKeys...) // var session = yield this.session()
	views := sess.Inc("views", 1)   // session.inc('views', 1)
	if _, err := future.All(page, views).Await(ctx); err != nil {
		a.fail(w, r, "count visit", err)
		return
	}
	var flash string
	if _, pending := sess.Get(flashKey); pending {
		v, err := sess.Take(flashKey).Await(ctx) // nil if another tab took it first
		if err != nil {
			a.fail(w, r, "take flash message", err)
			return
		}
		flash, _ = v.(string)
	}
	p := newPage(sess, a.storeName, flash)
	if user := sess.UserID(); user != "" && a.users != nil {
		if p.Sessions, err = a.userSessions(ctx, sess); err != nil {
			a.fail(w, r, "list the user's sessions", err)
			return
		}
	}
	a.render(w, http.StatusOK, "index.html", p)
}

// message keeps the visitor's message and leaves a flash message for the
// next page:
//
//	yield session.set('message', this.request.body.message).then(session.update)
//
// Nothing is loaded: the two commands go out as one update.
func (a *app) message(w http.ResponseWriter, r *http.Request) {
	msg, err := formText(r, "message", maxMessageLen)
	if err != nil {
		a.badRequest(w, err)
		return
	}
	ctx := r.Context()
	sess, err := middleware.Attach(r)
	if err != nil {
		a.fail(w, r, "attach session", err)
		return
	}
	saved := sess.Set("message", msg).Then(sess.Update)
	flash := sess.Set(flashKey, "Message saved.")
	if _, err := future.All(saved, flash).Await(ctx); err != nil {
		a.fail(w, r, "set message", err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// login starts a brand-new session bound to the user, so that a session id
// planted before the login is worth nothing after it (session fixation),
// and the store lists it among the user's sessions:
//
//	yield session.regenerate().then(s => s.set('user', name))
//
// The commands issued after Login go to the new session, which is stored
// with them in one round trip (the old one is deleted first).
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	user, err := formText(r, "user", maxUserLen)
	if err != nil {
		a.badRequest(w, err)
		return
	}
	ctx := r.Context()
	sess, err := middleware.Attach(r)
	if err != nil {
		a.fail(w, r, "attach session", err)
		return
	}
	if _, err := sess.Login(user).Await(ctx); err != nil {
		a.fail(w, r, "log in", err)
		return
	}
	_, err = future.All(
		sess.Set("user", user), // the app's own copy, for display
		sess.SetLabel(deviceLabel(r.UserAgent())),
		sess.Set(flashKey, "Logged in as "+user+"."),
	).Await(ctx)
	if err != nil {
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
	sess, err := middleware.Attach(r)
	if err != nil {
		a.fail(w, r, "attach session", err)
		return
	}
	if _, err := sess.Destroy().Await(ctx); err != nil {
		a.fail(w, r, "log out", err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// cart adds an item with three commands fired together; their paths do
// not overlap, so they go to the store as one atomic update, and nothing is
// loaded first:
//
//	yield [session.push('cart', item), session.inc('cartCount', 1), session.set('lastItem', item)]
//
// The cart keeps the last maxCartItems items: PushLast is $push with
// $slice, so concurrent posts can never leave more (a check of the cart's
// length followed by a Push could be passed by all of them at once).
func (a *app) cart(w http.ResponseWriter, r *http.Request) {
	item, err := formText(r, "item", maxItemLen)
	if err != nil {
		a.badRequest(w, err)
		return
	}
	ctx := r.Context()
	sess, err := middleware.Attach(r)
	if err != nil {
		a.fail(w, r, "attach session", err)
		return
	}
	_, err = future.All(
		sess.PushLast("cart", maxCartItems, item),
		sess.Inc("cartCount", 1),
		sess.Set("lastItem", item),
	).Await(ctx)
	if err != nil {
		a.fail(w, r, "add to cart", err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// apiResponse is the body of GET /api/session.
type apiResponse struct {
	// Values holds the loaded user keys: the reserved fields (the store
	// id, expiry, the user binding) are never in it.
	Values session.Doc `json:"values"`
	// Loaded says, for each key the app uses and each key asked for,
	// whether this request loaded it: a key not loaded is missing from
	// Values whatever the store holds.
	Loaded map[string]bool `json:"loaded"`
}

// apiSession answers the session's user keys as JSON: all of them, or
// with ?keys=a,b only those (a partial load: the store reads and sends
// only them), and which keys were loaded. It does not count as a visit, and
// a new visitor's request stores nothing and sets no cookie.
func (a *app) apiSession(w http.ResponseWriter, r *http.Request) {
	keys, err := apiKeys(r.URL.Query().Get("keys"))
	if err != nil {
		a.jsonError(w, http.StatusBadRequest, err)
		return
	}
	sess, err := middleware.Session(r, keys...).Await(r.Context())
	if err != nil {
		a.log.ErrorContext(r.Context(), "load session", "path", r.URL.Path, "err", err)
		a.jsonError(w, middleware.StatusOf(err), errors.New("the session could not be loaded"))
		return
	}
	res := apiResponse{Values: sess.Values(), Loaded: map[string]bool{}}
	for _, k := range slices.Concat(appKeys, keys) {
		res.Loaded[k] = sess.Loaded(k)
	}
	a.writeJSON(w, http.StatusOK, res)
}

// apiKeys parses the keys parameter of GET /api/session: comma-separated
// top-level keys, at most maxAPIKeys; "" means every key.
func apiKeys(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	keys := strings.Split(s, ",")
	if len(keys) > maxAPIKeys {
		return nil, fmt.Errorf("%w: %d keys, want at most %d", errBadInput, len(keys), maxAPIKeys)
	}
	for _, k := range keys {
		if strings.Contains(k, ".") {
			return nil, fmt.Errorf("%w: key %q: name top-level keys only", errBadInput, k)
		}
		if err := session.ValidateKey(k); err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", errBadInput, k, err)
		}
		if session.IsReserved(k) {
			return nil, fmt.Errorf("%w: key %q is a reserved field", errBadInput, k)
		}
	}
	return keys, nil
}

// errBadInput and errTooLarge are wrapped by formText's errors.
var (
	errBadInput = errors.New("bad input")
	errTooLarge = errors.New("request too large")
)

// formText returns the form field name, trimmed: it must be present, valid
// UTF-8 without control characters, and at most max runes long. A body
// larger than maxBodyBytes gives an error wrapping errTooLarge.
func formText(r *http.Request, name string, max int) (string, error) {
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return "", fmt.Errorf("%w: the form is larger than %d bytes", errTooLarge, maxBodyBytes)
		}
		return "", fmt.Errorf("%w: the form does not parse: %v", errBadInput, err)
	}
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

// writeJSON answers v as JSON, never cached.
func (a *app) writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		a.log.Error("encode JSON", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// jsonError answers {"error": err} with code.
func (a *app) jsonError(w http.ResponseWriter, code int, err error) {
	a.writeJSON(w, code, map[string]string{"error": err.Error()})
}
