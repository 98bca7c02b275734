package middleware

import (
	"bufio"
	"net"
	"net/http"
)

// responseWriter commits the session (queued commands, cookie) before the
// first byte of the response's header goes out.
type responseWriter struct {
	http.ResponseWriter
	rs        *request
	committed bool
	failed    bool // the commit failed and the error response was written
}

// commitOnce commits the session the first time the response is about to
// start. It reports whether the handler's output should still go out.
func (w *responseWriter) commitOnce() bool {
	if w.committed {
		return !w.failed
	}
	w.committed = true
	if err := w.rs.commit(w.ResponseWriter.Header()); err != nil {
		w.fail(err)
		return false
	}
	return true
}

// fail logs err and answers with the error handler instead of the handler's
// response.
func (w *responseWriter) fail(err error) {
	w.failed = true
	r := w.rs.r
	w.rs.m.opts.Logger.ErrorContext(r.Context(), "atomicsession: sending session commands failed",
		"method", r.Method, "path", r.URL.Path, "err", err)
	w.rs.m.opts.ErrorHandler(w.ResponseWriter, r, err)
}

// WriteHeader commits the session, then sends the header.
func (w *responseWriter) WriteHeader(code int) {
	if w.commitOnce() {
		w.ResponseWriter.WriteHeader(code)
	}
}

// Write commits the session, then writes b. After a failed commit the
// handler's output is discarded.
func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.commitOnce() {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// FlushError commits the session, then flushes, as http.ResponseController
// expects.
func (w *responseWriter) FlushError() error {
	if !w.commitOnce() {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() {
	_ = w.FlushError()
}

// Hijack commits the session, then hands over the connection. The cookie
// cannot be sent on a hijacked connection; queued commands still are.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.commitOnce()
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

// finish commits the session if the handler returned without writing, and
// otherwise sends what the handler queued after the response started,
// logging a failure: the status has gone out.
func (w *responseWriter) finish() {
	if !w.committed {
		w.commitOnce()
		return
	}
	if err := w.rs.flushLate(); err != nil {
		r := w.rs.r
		w.rs.m.opts.Logger.ErrorContext(r.Context(), "atomicsession: sending session commands after the response started failed",
			"method", r.Method, "path", r.URL.Path, "err", err)
	}
}
