package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// DefaultCookieName is the cookie name used when Options.Key is empty.
const DefaultCookieName = "sid"

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

	// Key is the cookie name. The default value is "sid".
	Key string

	// MaxAge is a session's lifetime after its last update, in the store and
	// in the cookie's Max-Age. The default value is 24 hours. A negative
	// value is an error.
	MaxAge time.Duration

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
	// ErrInvalidCSRF, 503 Service Unavailable for ErrUnavailable and 500
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
	if o.Key == "" {
		o.Key = DefaultCookieName
	}
	if !validCookieName(o.Key) {
		return o, fmt.Errorf("middleware: Options.Key %q is not a valid cookie name", o.Key)
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

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return name != ""
}

// DefaultErrorHandler is the ErrorHandler used when Options.ErrorHandler is
// nil: 403 for session.ErrInvalidCSRF, 503 for session.ErrUnavailable, 500
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
	case errors.Is(err, session.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
