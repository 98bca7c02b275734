package middleware

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"

	"github.com/atomicsession/atomicsession/session"
)

// CSRFHeader is the request header the CSRF guard reads a token from.
const CSRFHeader = "X-CSRF-Token"

// CSRFField is the form field the CSRF guard reads a token from when the
// header is absent.
const CSRFField = "_csrf"

// CSRF returns a handler that refuses requests with unsafe methods (all but
// GET, HEAD, OPTIONS and TRACE) unless they carry a token made by the
// session's CreateCSRF. Refused requests go to the ErrorHandler with an
// error wrapping session.ErrInvalidCSRF (403 Forbidden by default) and are
// logged at Debug level. CSRF must run inside Handler:
//
//	http.ListenAndServe(addr, m.Handler(m.CSRF(mux)))
//
// The guard reads the token from the X-CSRF-Token header first. Without
// the header, for a form body (application/x-www-form-urlencoded or
// multipart/form-data) it reads at most Options.MaxFormBytes of the body
// looking for the _csrf field, in memory (never on disk), and hands the
// whole body on to next: what it read is put back ahead of the rest, so
// next can still call r.ParseForm, r.ParseMultipartForm or
// r.MultipartReader. Put _csrf before any file field of a multipart form:
// a token behind more than MaxFormBytes is not found, and the request is
// refused after reading at most MaxFormBytes.
//
// A request without a session cookie that verifies has no session, so no
// token can be valid: it is refused without a store call. A request
// authenticated by Options.Header passes: a header is not an ambient
// credential that a browser attaches to a forged cross-site request.
func (m *Manager) CSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			next.ServeHTTP(w, r)
			return
		}
		rs, ok := r.Context().Value(ctxKey{}).(*request)
		if !ok {
			m.opts.ErrorHandler(w, r, errors.New("middleware: CSRF guard on a request that did not pass through Manager.Handler"))
			return
		}
		token, viaHeader := rs.credential()
		if viaHeader {
			next.ServeHTTP(w, r)
			return
		}
		if token == "" {
			m.refuseCSRF(w, r, "")
			return
		}
		csrf := r.Header.Get(CSRFHeader)
		if csrf == "" {
			csrf, r = m.formToken(r)
		}
		if csrf == "" {
			m.refuseCSRF(w, r, session.IDOf(token))
			return
		}
		// The CSRF key derives from the cookie token: checking costs no
		// store call.
		sess, err := rs.attach()
		if err != nil {
			m.opts.ErrorHandler(w, r, fmt.Errorf("csrf: %w", err))
			return
		}
		if err := sess.AssertCSRF(csrf); err != nil {
			m.refuseCSRF(w, r, sess.ID())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuseCSRF logs and answers a request refused by the CSRF guard. It logs
// at Debug: a line per refusal at Info would let anyone flood the log.
func (m *Manager) refuseCSRF(w http.ResponseWriter, r *http.Request, id string) {
	m.opts.Logger.DebugContext(r.Context(), "atomicsession: refused a request without a valid CSRF token",
		"method", r.Method, "path", r.URL.Path, "session", id)
	m.opts.ErrorHandler(w, r, fmt.Errorf("csrf: %w", session.ErrInvalidCSRF))
}

// formToken returns the _csrf field of r's form body, reading at most
// Options.MaxFormBytes of it, and a request whose body is whole again: what
// was read, then the rest.
func (m *Manager) formToken(r *http.Request) (string, *http.Request) {
	if r.PostForm != nil { // parsed already, by a handler outside the guard
		return r.PostForm.Get(CSRFField), r
	}
	if r.Body == nil || r.Body == http.NoBody {
		return "", r
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", r
	}
	rec := &recorder{r: io.LimitReader(r.Body, m.opts.MaxFormBytes)}
	var token string
	switch mt {
	case "application/x-www-form-urlencoded":
		token = urlencodedToken(rec)
	case "multipart/form-data":
		if params["boundary"] == "" {
			return "", r
		}
		token = multipartToken(multipart.NewReader(rec, params["boundary"]))
	default:
		return "", r
	}
	if len(rec.buf) > 0 {
		r2 := new(http.Request)
		*r2 = *r
		r2.Body = &rejoined{Reader: io.MultiReader(bytes.NewReader(rec.buf), r.Body), body: r.Body}
		r = r2
	}
	return token, r
}

// recorder keeps everything read through it.
type recorder struct {
	r   io.Reader
	buf []byte
}

func (rc *recorder) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	rc.buf = append(rc.buf, p[:n]...)
	return n, err
}

// rejoined is a request body put back together: what the guard read, then
// the rest. Closing it closes the original body.
type rejoined struct {
	io.Reader
	body io.Closer
}

func (b *rejoined) Close() error { return b.body.Close() }

// urlencodedToken reads rec until it holds a whole _csrf field, or up to
// its end, and returns the field's value ("" if none).
func urlencodedToken(rec *recorder) string {
	chunk := make([]byte, 4096)
	done := 0    // rec.buf[:done] holds whole fields already looked at
	scanned := 0 // rec.buf[done:scanned] holds no '&': each byte is searched once
	for {
		_, err := rec.Read(chunk)
		eof := err != nil
		for done < len(rec.buf) {
			end := bytes.IndexByte(rec.buf[max(done, scanned):], '&')
			if end >= 0 {
				end += max(done, scanned) - done
			}
			if end < 0 {
				scanned = len(rec.buf)
				if !eof {
					break // the field goes on in the next chunk
				}
				end = len(rec.buf) - done
			}
			field := rec.buf[done : done+end]
			done += end + 1
			if v, ok := csrfFieldValue(field); ok {
				return v
			}
		}
		if eof {
			return ""
		}
	}
}

// csrfFieldValue returns the value of field ("name=value", URL-encoded) if
// its name is CSRFField.
func csrfFieldValue(field []byte) (string, bool) {
	name, value, _ := bytes.Cut(field, []byte("="))
	if len(name) > 3*len(CSRFField) { // longer than any encoding of it
		return "", false
	}
	if n, err := url.QueryUnescape(string(name)); err != nil || n != CSRFField {
		return "", false
	}
	v, err := url.QueryUnescape(string(value))
	if err != nil {
		return "", false
	}
	return v, true
}

// multipartToken returns the value of the first non-file part named
// CSRFField ("" if none before the reader ends). It reads the parts before
// it, and at most session.MaxCSRFLen+1 bytes of it.
func multipartToken(mr *multipart.Reader) string {
	for {
		p, err := mr.NextPart()
		if err != nil {
			return ""
		}
		if p.FormName() == CSRFField && p.FileName() == "" {
			v, err := io.ReadAll(io.LimitReader(p, session.MaxCSRFLen+1))
			if err != nil {
				return ""
			}
			return string(v)
		}
	}
}
