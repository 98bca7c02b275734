package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// DefaultCookieName is the cookie name used when Options.CookieName is
// empty.
const DefaultCookieName = "sid"

// DefaultMaxFormBytes is the most of a form body the CSRF guard reads
// looking for the _csrf field when Options.MaxFormBytes is zero: 1 MiB.
const DefaultMaxFormBytes = 1 << 20

// DefaultMaxInFlight is the bound on store work in flight when
// Options.MaxInFlight is zero.
const DefaultMaxInFlight = 256

// DefaultMaxCommands is the number of commands a request may queue when
// Options.MaxCommands is zero.
const DefaultMaxCommands = session.DefaultMaxCommands

// SecureMode says when the session cookie carries the Secure attribute.
type SecureMode uint8

// The secure modes.
const (
	SecureAuto   SecureMode = iota // Secure when the request came over TLS (r.TLS != nil)
	SecureAlways                   // always Secure: use behind a TLS-terminating proxy
	SecureNever                    // never Secure: plain-HTTP development only
)

// Options configure a Manager. Only Keys is required.
type Options struct {
	// Keys sign session cookies with HMAC-SHA256: the first key signs, every
	// key verifies, so a new key can be put first while old cookies stay
	// valid (key rotation, as Koa's app.keys). At least one key is required
	// and each must be at least 32 bytes of secret, random data.
	Keys [][]byte

	// CookieName is the session cookie's name. It must be an RFC 6265
	// token. The default value is DefaultCookieName ("sid").
	CookieName string

	// MaxAge is a session's lifetime after its last update, in the store and
	// in the cookie's Max-Age. The default value is 24 hours. A negative
	// value is an error.
	MaxAge time.Duration

	// BrowserSession sends the cookie without Max-Age and Expires, so the
	// browser drops it when it closes. The store still expires the session
	// MaxAge after its last update. A session given a lifetime of its own
	// (Session.SetMaxAge with a value other than MaxAge: "remember me")
	// still gets a cookie with its Max-Age, as SCS's RememberMe does. The
	// default is false: the cookie lives as long as the session.
	BrowserSession bool

	// Header, if not empty, is a request header that carries the signed
	// session token for API clients (mobile apps, single-page apps) instead
	// of a cookie. "Authorization" is read as "Bearer <token>" (the scheme
	// is case-insensitive; another scheme, such as Basic, is not a session
	// token); any other header is read raw. The token is signed and
	// verified with Keys, exactly like the cookie's value.
	//
	// A request that carries the header is served the session its token
	// names (or a new one if the token does not verify); its cookie is
	// ignored, and its response never sets a cookie. Whenever a request
	// gets a new or regenerated token, the response carries it in the same
	// header ("Authorization: Bearer <token>" for Authorization), so that a
	// client can log in with a plain request and keep the token. A request
	// without the header gets the cookie as usual, so browsers keep
	// working. Requests that carry the header pass the CSRF guard: a header
	// is not an ambient credential a browser attaches by itself.
	// Cross-origin clients read the response header only if CORS exposes
	// it (Access-Control-Expose-Headers).
	//
	// Security: the response header is readable by the page's own
	// JavaScript (fetch, XMLHttpRequest), unlike the HttpOnly cookie, and
	// it is sent on a browser's cookie-only requests too (a login form
	// gets its token back in it). So with Header set, a script injected
	// into your origin (XSS) can read a new session token that the cookie
	// alone would have hidden. Set Header only on routes or servers that
	// API clients use, or accept that trade-off.
	//
	// The default is "": only cookies.
	Header string

	// MaxCommands is the most commands one request may queue on its
	// session (session.Options.MaxCommands: each command, Fetch and Touch
	// counts one); the ones past it fail with session.ErrTooLarge. The
	// default value is DefaultMaxCommands (1,000). A negative value is an
	// error.
	MaxCommands int

	// MaxInFlight bounds the store calls in flight: the store calls of all
	// requests' sessions run on one executor (golang.org/x/sync/errgroup
	// with SetLimit) of at most MaxInFlight goroutines; more wait their turn
	// in order, so a slow store cannot make store calls pile up, and a call
	// whose Timeout passes while it waits is never sent. The default value
	// is DefaultMaxInFlight (256). A negative value is an error.
	MaxInFlight int

	// NoBatching turns off batching across requests. By default, when the
	// store implements session.MultiApplier, concurrent requests' Apply
	// calls go to the store together (group commit: a call that finds no
	// group in flight goes out at once; calls that arrive meanwhile go out
	// together, up to 64, when it returns), one round trip for many. Each
	// request still gets its own result and error; one whose Timeout passes
	// returns at once, but its op, if already sent, may still be applied.
	// A group's store call runs under a context of its own: it carries no
	// request's values, ends at the latest of its requests' deadlines, and
	// is cancelled when all of them have given up. The default is false:
	// batching on.
	NoBatching bool

	// MaxFormBytes is the most of a form body (application/x-www-form-
	// urlencoded or multipart/form-data) the CSRF guard reads looking for
	// the _csrf field when the X-CSRF-Token header is absent. The guard
	// keeps what it read in memory, never writes a body to disk, and hands
	// the whole body on to the handler. The default value is
	// DefaultMaxFormBytes (1 MiB). A negative value is an error.
	MaxFormBytes int64

	// Timeout bounds each store call. The default value is 10 seconds.
	Timeout time.Duration

	// Path is the cookie's Path attribute. The default value is "/".
	Path string

	// Domain is the cookie's Domain attribute. The default is none (the
	// cookie goes to the request's host only).
	Domain string

	// Secure says when the cookie is Secure. The default is SecureAuto.
	Secure SecureMode

	// SameSite is the cookie's SameSite attribute. The default value is
	// http.SameSiteLaxMode.
	SameSite http.SameSite

	// AllowScripts drops the cookie's HttpOnly attribute, letting page
	// scripts read the session token. The default is false (HttpOnly); leave
	// it so unless you know why.
	AllowScripts bool

	// Logger receives store failures that happen after the handler has
	// returned or while headers are going out. The default is slog.Default().
	Logger *slog.Logger

	// ErrorHandler writes the response when the middleware fails a request:
	// a store error while sending queued commands before the headers, or a
	// refused CSRF token. err wraps session.ErrInvalidCSRF, ErrUnavailable or
	// the store's error. The default answers 403 Forbidden for
	// ErrInvalidCSRF, 503 Service Unavailable for ErrUnavailable or a store
	// call that ran past Timeout (context.DeadlineExceeded), and 500
	// Internal Server Error otherwise, with the status text as body.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// withDefaults validates o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	if o.MaxAge < 0 {
		return o, fmt.Errorf("middleware: Options.MaxAge is %v, want a positive duration (or 0 for the default)", o.MaxAge)
	}
	if o.Timeout < 0 {
		return o, fmt.Errorf("middleware: Options.Timeout is %v, want a positive duration (or 0 for the default)", o.Timeout)
	}
	if o.MaxInFlight < 0 {
		return o, fmt.Errorf("middleware: Options.MaxInFlight is %d, want a positive number (or 0 for the default)", o.MaxInFlight)
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxCommands < 0 {
		return o, fmt.Errorf("middleware: Options.MaxCommands is %d, want a positive number (or 0 for the default)", o.MaxCommands)
	}
	if o.MaxFormBytes < 0 {
		return o, fmt.Errorf("middleware: Options.MaxFormBytes is %d, want a positive number (or 0 for the default)", o.MaxFormBytes)
	}
	if o.CookieName == "" {
		o.CookieName = DefaultCookieName
	}
	if !validToken(o.CookieName) {
		return o, fmt.Errorf("middleware: Options.CookieName %q is not a valid cookie name", o.CookieName)
	}
	if o.Header != "" {
		if !validToken(o.Header) {
			return o, fmt.Errorf("middleware: Options.Header %q is not a valid header name", o.Header)
		}
		o.Header = http.CanonicalHeaderKey(o.Header)
		switch o.Header {
		case "Cookie", "Set-Cookie", http.CanonicalHeaderKey(CSRFHeader):
			return o, fmt.Errorf("middleware: Options.Header %q cannot carry the session token", o.Header)
		}
	}
	if o.MaxCommands == 0 {
		o.MaxCommands = DefaultMaxCommands
	}
	if o.MaxFormBytes == 0 {
		o.MaxFormBytes = DefaultMaxFormBytes
	}
	if o.MaxAge == 0 {
		o.MaxAge = session.DefaultMaxAge
	}
	if o.Path == "" {
		o.Path = "/"
	}
	if o.SameSite == 0 {
		o.SameSite = http.SameSiteLaxMode
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ErrorHandler == nil {
		o.ErrorHandler = DefaultErrorHandler
	}
	return o, nil
}

// validToken reports whether name is an RFC 7230 token, as cookie and
// header names must be.
func validToken(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return name != ""
}

// DefaultErrorHandler is the ErrorHandler used when Options.ErrorHandler is
// nil: 403 for session.ErrInvalidCSRF, 503 for session.ErrUnavailable and
// context.DeadlineExceeded (a store past Options.Timeout), 500
// otherwise, with the status text as a plain-text body. It never shows err
// to the client.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code := StatusOf(err)
	http.Error(w, http.StatusText(code), code)
}

// StatusOf returns the HTTP status the default error handler answers for
// err.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, session.ErrInvalidCSRF):
		return http.StatusForbidden
	case errors.Is(err, session.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
