// Package middleware connects atomicsession sessions to net/http.
//
//	m, err := middleware.New(store, middleware.Options{Keys: keys}) // keys: 32+ random bytes each
//	if err != nil { ... }
//	http.ListenAndServe(addr, m.Handler(m.CSRF(mux)))
//
// In a handler, Session(r) is a lazy future of the request's session:
// nothing is read from the store until it is awaited.
//
//	sess, err := middleware.Session(r).Await(r.Context())
//	_, err = sess.Set("msg", "hi").Then(sess.Update).Await(r.Context())
//
// Session(r, "cart") loads only the named keys. Attach(r) gives the session
// without any load: queue a Fetch together with commands to read and write
// in one round trip. A handler may issue commands without awaiting them:
// Handler sends every queued command before the response's header goes out
// (or, for commands queued after it, when the handler returns). A visitor
// who only reads costs no store call and gets no cookie. Store calls of all
// requests run on one executor bounded by Options.MaxInFlight.
//
// # Cookies
//
// The session token travels in a cookie named Options.CookieName ("sid"),
// HttpOnly, SameSite=Lax, Path=/, Secure when the request came over TLS,
// with the session's Max-Age (none with Options.BrowserSession). The value
// is signed with Options.Keys (the first key signs, all verify). A cookie
// whose signature fails is treated as absent, with no store query; of
// several cookies with the session's name (cookie tossing from a sibling
// subdomain), the first that verifies is used.
//
// # Header tokens
//
// With Options.Header set (for example "Authorization", read as
// "Bearer <token>"), API clients send the signed token in that header. A
// new or regenerated token is returned in the same response header; a
// request that came with the header gets no cookie, one that came without
// it also gets the cookie, so browsers and API clients share one Manager.
//
// # CSRF
//
// CSRF refuses unsafe methods without a token from the session's
// CreateCSRF, sent in the X-CSRF-Token header or the _csrf form field. The
// guard reads at most Options.MaxFormBytes (1 MiB) of a form body, never
// writes a body to disk, and leaves the body whole for the handler.
// Requests authenticated by Options.Header pass: a header is not an
// ambient credential. Refusals are logged at Debug.
//
// # Failures
//
// If sending the queued commands fails before the response's header, the
// response is the ErrorHandler's (500 by default; 503 for
// session.ErrUnavailable), without any header the handler set; the failure
// is logged once and the request makes no further store call. Hijack after
// such a failure returns an error. Failures after the header has gone out
// can only be logged.
package middleware
