package middleware

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"net/http"
)

// responseWriter commits the session (queued commands, cookie) before the
// first byte of the response's final header goes out.
type responseWriter struct {
	http.ResponseWriter
	rs        *request
	outer     http.Header // the header as it entered Handler, for an error response
	committed bool
	err       error // the commit's failure; the error response has been written

	// While the commit runs, a continuation of a session future may write
	// the response; its output is held until the cookie is set.
	committing bool
	heldCode   int
	held       []byte
}

// commitOnce commits the session the first time the response is about to
// start. It reports whether the handler's output should still go out.
func (w *responseWriter) commitOnce() bool {
	if w.committed {
		return w.err == nil
	}
	w.committed = true
	w.committing = true
	err := w.rs.commit(w.ResponseWriter.Header())
	w.committing = false
	if err != nil {
		w.held = nil
		w.fail(err)
		return false
	}
	if w.heldCode != 0 {
		w.ResponseWriter.WriteHeader(w.heldCode)
	}
	if len(w.held) > 0 {
		_, _ = w.ResponseWriter.Write(w.held)
		w.held = nil
	}
	return true
}

// fail logs err and answers with the error handler instead of the handler's
// response, starting from the header as it was before the handler ran.
func (w *responseWriter) fail(err error) {
	w.err = err
	r := w.rs.r
	w.rs.m.opts.Logger.ErrorContext(r.Context(), "atomicsession: sending session commands failed",
		"method", r.Method, "path", r.URL.Path, "err", err)
	h := w.ResponseWriter.Header()
	clear(h)
	maps.Copy(h, w.outer)
	w.rs.m.opts.ErrorHandler(w.ResponseWriter, r, err)
}

// WriteHeader commits the session, then sends the header. A 1xx
// informational header (but 101 Switching Protocols, which ends the
// exchange) goes out without the commit.
func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		if !w.committed {
			w.ResponseWriter.WriteHeader(code)
		}
		return
	}
	switch {
	case w.committing: // a continuation, during the commit: held
		if w.heldCode == 0 {
			w.heldCode = code
		}
	case !w.committed: // the commit sends this status, before any held output
		w.heldCode = code
		w.commitOnce()
	case w.err == nil:
		w.ResponseWriter.WriteHeader(code)
	}
}

// Write commits the session, then writes b. After a failed commit the
// handler's output is discarded.
func (w *responseWriter) Write(b []byte) (int, error) {
	if w.committing {
		w.held = append(w.held, b...)
		return len(b), nil
	}
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
// cannot be sent on a hijacked connection; queued commands still are. If
// the commit failed, Hijack returns an error and keeps the connection,
// which carries the error response.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.commitOnce() {
		return nil, nil, fmt.Errorf("middleware: no hijack: the session commit failed: %w", w.err)
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

// finish commits the session if the handler returned without writing, and
// otherwise sends what the handler queued after the response started,
// logging a failure: the status has gone out. After a failed commit it
// does nothing: one failure makes one store error and one log line.
func (w *responseWriter) finish() {
	switch {
	case !w.committed:
		w.commitOnce()
	case w.err != nil:
	default:
		if err := w.rs.flushLate(); err != nil {
			r := w.rs.r
			w.rs.m.opts.Logger.ErrorContext(r.Context(), "atomicsession: sending session commands after the response started failed",
				"method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
}
