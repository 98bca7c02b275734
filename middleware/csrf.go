package middleware

import (
	"fmt"
	"net/http"
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
			m.opts.Logger.InfoContext(r.Context(), "atomicsession: refused a request without a valid CSRF token",
				"method", r.Method, "path", r.URL.Path, "session", sess.ID())
			m.opts.ErrorHandler(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
