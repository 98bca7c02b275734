package main

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"

	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates holds the pages; layout.html wraps each of them.
var templates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// page is what index.html shows.
type page struct {
	Views     int64
	Flash     string // a one-time message, shown once
	Message   string
	User      string
	Cart      []string
	CartCount int64 // items added in all; the cart keeps the last maxCartItems
	LastItem  string
	Sessions  []sessionRow // the logged-in user's sessions, this one first
	CSRF      string       // the token every form carries as _csrf
	Store     string
	Limits    map[string]int
}

// newPage reads the session's local view for index.html with the typed
// getters: a key that is missing, or holds another type, reads as zero.
func newPage(sess *session.Session, store, flash string) page {
	p := page{
		Flash:  flash,
		CSRF:   sess.CreateCSRF(),
		Store:  store,
		Limits: map[string]int{"message": maxMessageLen, "user": maxUserLen, "item": maxItemLen, "cart": maxCartItems},
	}
	p.Views, _ = sess.GetInt("views")
	p.Message, _ = sess.GetString("message")
	p.User, _ = sess.GetString("user")
	p.CartCount, _ = sess.GetInt("cartCount")
	p.LastItem, _ = sess.GetString("lastItem")
	p.Cart, _ = session.GetAs[[]string](sess, "cart") // nil if there is no cart
	return p
}

// errorPage is what error.html shows.
type errorPage struct {
	Code   int
	Title  string
	Detail string
}

// render writes the template name with data, or a plain 500 if it fails.
func (a *app) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		a.log.Error("render page", "page", name, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// badRequest answers 400 with what was wrong with the form, or 413 if it
// was too large.
func (a *app) badRequest(w http.ResponseWriter, err error) {
	if errors.Is(err, errTooLarge) {
		a.render(w, http.StatusRequestEntityTooLarge, "error.html", errorPage{
			Code: http.StatusRequestEntityTooLarge, Title: "That was too much", Detail: err.Error(),
		})
		return
	}
	a.render(w, http.StatusBadRequest, "error.html", errorPage{
		Code: http.StatusBadRequest, Title: "That did not look right", Detail: err.Error(),
	})
}

// fail logs a session error and answers with its status: 503 when the
// store is unavailable, 500 otherwise. The error itself stays in the log.
func (a *app) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.log.ErrorContext(r.Context(), what, "method", r.Method, "path", r.URL.Path, "err", err)
	a.middlewareError(w, r, err)
}

// middlewareError is the middleware's ErrorHandler: the status of
// middleware.StatusOf as an HTML page that says what to do.
func (a *app) middlewareError(w http.ResponseWriter, _ *http.Request, err error) {
	code := middleware.StatusOf(err)
	p := errorPage{Code: code, Title: http.StatusText(code)}
	switch {
	case errors.Is(err, session.ErrInvalidCSRF):
		p.Detail = "The form's security token is missing or not valid for your session. Go back, reload the page and try again."
	case code == http.StatusServiceUnavailable:
		p.Detail = "The session store is not available right now. Try again in a moment."
	default:
		p.Detail = "Something went wrong while saving your session. The error has been logged."
	}
	a.render(w, code, "error.html", p)
}
