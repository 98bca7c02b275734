package middleware

import (
	"fmt"
	"net/http"

	"github.com/atomicsession/atomicsession/session"
)

// CSRFHeader is the request header the CSRF guard reads a token from.
const CSRFHeader = "X-CSRF-Token"

// CSRFField is the form field the CSRF guard reads a token from when the
// header is absent.
const CSRFField = "_csrf"

// CSRF returns a handler that refuses requests with unsafe methods (all but
// GET, HEAD, OPTIONS and TRACE) unless they carry a token made by the
// session's CreateCSRF, in the X-CSRF-Token header or the _csrf form field.
// Refused requests go to the ErrorHandler with an error wrapping
// session.ErrInvalidCSRF: 403 Forbidden by default. CSRF must run inside
// Handler:
//
//	http.ListenAndServe(addr, m.Handler(m.CSRF(mux)))
func (m *Manager) CSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			next.ServeHTTP(w, r)
			return
		}
		if !m.hasSession(r) {
			// A visitor without a valid cookie has no session, so no token
			// can be valid: refuse without creating one.
			m.refuseCSRF(w, r, "")
			return
		}
		sess, err := Session(r).Await(r.Context())
		if err != nil {
			m.opts.ErrorHandler(w, r, fmt.Errorf("csrf: %w", err))
			return
		}
		token := r.Header.Get(CSRFHeader)
		if token == "" {
			token = r.PostFormValue(CSRFField)
		}
		if err := sess.AssertCSRF(token); err != nil {
			m.refuseCSRF(w, r, sess.ID())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hasSession reports whether r carries a session cookie that passes the
// signature check.
func (m *Manager) hasSession(r *http.Request) bool {
	c, err := r.Cookie(m.opts.Key)
	if err != nil {
		return false
	}
	_, ok := m.keys.Verify(c.Value)
	return ok
}

// refuseCSRF logs and answers a request refused by the CSRF guard.
func (m *Manager) refuseCSRF(w http.ResponseWriter, r *http.Request, id string) {
	m.opts.Logger.InfoContext(r.Context(), "atomicsession: refused a request without a valid CSRF token",
		"method", r.Method, "path", r.URL.Path, "session", id)
	m.opts.ErrorHandler(w, r, fmt.Errorf("csrf: %w", session.ErrInvalidCSRF))
}
