package middleware_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// send sends a request to srv with a raw Cookie header (no jar) and the
// given extra headers, and returns the response and its body.
func send(t *testing.T, srv *httptest.Server, method, path, cookie string, body io.Reader, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Issue 9, scenario 5: a cookie tossed in front of the real one by a
// sibling subdomain must not cost the visitor their session.
func TestCookieTossingUsesTheFirstCookieThatVerifies(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	m := newManager(t, st, middleware.Options{})
	c, token := csrfClient(t, m.Handler(m.CSRF(app())))
	c.do("POST", "/set", url.Values{"k": {"a"}, "v": {"1"}, "_csrf": {token}})
	valid := c.cookie()
	if valid == "" {
		t.Fatal("no session cookie")
	}
	otherKeys, _ := session.NewKeyring([]byte("another key another key another k"))
	tok, _ := session.NewToken()
	for name, header := range map[string]string{
		"bogus first":       "sid=bogus; sid=" + valid,
		"foreign key first": "sid=" + otherKeys.Sign(tok) + "; sid=" + valid,
		"other names too":   "x=1; sid=; sid=" + valid + "; sid=bogus",
	} {
		st.n.Store(0)
		resp, body := send(t, c.srv, "GET", "/get", header, nil, nil)
		if body != `{"a":"1"}`+"\n" {
			t.Errorf("%s: body %q, want the real session", name, body)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("%s: Set-Cookie %v would overwrite the real cookie", name, resp.Cookies())
		}
		if n := st.n.Load(); n != 1 {
			t.Errorf("%s: %d store calls, want 1 (the load)", name, n)
		}
	}

	// The CSRF guard finds the same session.
	resp, body := send(t, c.srv, "POST", "/guarded", "sid=bogus; sid="+valid,
		strings.NewReader(url.Values{"_csrf": {token}}.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if resp.StatusCode != 200 || body != "passed" {
		t.Fatalf("CSRF guard behind a tossed cookie: %d %q, want 200", resp.StatusCode, body)
	}

	// Only forged cookies: treated as absent, no store query.
	st.loads.Store(0)
	resp, body = send(t, c.srv, "GET", "/get", "sid=bogus; sid="+otherKeys.Sign(tok), nil, nil)
	if body != "{}\n" || st.loads.Load() != 0 || len(resp.Cookies()) != 0 {
		t.Fatalf("forged cookies: body %q, %d loads, cookies %v; want a fresh session, no load, no cookie", body, st.loads.Load(), resp.Cookies())
	}
	st.loads.Store(0)
	resp, _ = send(t, c.srv, "POST", "/guarded", "sid=bogus; sid="+otherKeys.Sign(tok),
		strings.NewReader(url.Values{"_csrf": {token}}.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if resp.StatusCode != http.StatusForbidden || st.loads.Load() != 0 {
		t.Fatalf("CSRF guard with forged cookies: %d, %d loads; want 403 and no load", resp.StatusCode, st.loads.Load())
	}
}

// countBody counts the bytes the handlers inside it read from the request
// body.
func countBody(n *atomic.Int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &countingReader{r.Body, n}
		h.ServeHTTP(w, r)
	})
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// fileBytes is the content of the test's upload: size bytes, not all alike.
func fileBytes(size int) io.Reader {
	return io.LimitReader(&patternReader{}, int64(size))
}

type patternReader struct{ i byte }

func (p *patternReader) Read(b []byte) (int, error) {
	for k := range b {
		b[k] = p.i
		p.i = p.i*7 + 3
	}
	return len(b), nil
}

// multipartBody streams a multipart body: the fields in order, a field
// named "file" being a file of fileSize bytes.
func multipartBody(fields []string, values map[string]string, fileSize int) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for _, f := range fields {
			if f == "file" {
				fw, err := mw.CreateFormFile("file", "big.bin")
				if err == nil {
					_, err = io.Copy(fw, fileBytes(fileSize))
				}
				if err != nil {
					pw.CloseWithError(err)
					return
				}
				continue
			}
			if err := mw.WriteField(f, values[f]); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType()
}

// csrfClient returns a client with a session and one of its CSRF tokens.
func csrfClient(t *testing.T, h http.Handler) (*client, string) {
	t.Helper()
	c := newClient(t, h)
	_, token := c.do("GET", "/csrf", nil)
	if c.cookie() == "" || token == "" {
		t.Fatal("no session or no CSRF token")
	}
	return c, token
}

// upload is app() plus POST /upload, which streams the multipart body and
// reports its fields and the file's size and hash.
func upload(useParse bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", app())
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		if useParse {
			if err := r.ParseMultipartForm(1 << 20); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			defer r.MultipartForm.RemoveAll()
			f, _, err := r.FormFile("file")
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			defer f.Close()
			h := sha256.New()
			n, _ := io.Copy(h, f)
			fmt.Fprintf(w, "csrf=%t after=%s file=%d %x", r.FormValue("_csrf") != "", r.FormValue("after"), n, h.Sum(nil)[:4])
			return
		}
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		var out []string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			h := sha256.New()
			n, err := io.Copy(h, p)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			out = append(out, fmt.Sprintf("%s:%d", p.FormName(), n))
			if p.FormName() == "file" {
				out = append(out, fmt.Sprintf("%x", h.Sum(nil)[:4]))
			}
		}
		fmt.Fprint(w, strings.Join(out, " "))
	})
	return mux
}

func fileHash(size int) string {
	h := sha256.New()
	io.Copy(h, fileBytes(size))
	return fmt.Sprintf("%x", h.Sum(nil)[:4])
}

// Issue 9, scenario 7: the guard reads little and leaves the body whole.
func TestCSRFGuardReadsLittleAndLeavesTheBodyWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 24 MiB several times")
	}
	const size = 24 << 20
	for _, useParse := range []bool{false, true} {
		t.Run(fmt.Sprintf("ParseMultipartForm=%t", useParse), func(t *testing.T) {
			var read atomic.Int64
			m := newManager(t, newMemory(t), middleware.Options{})
			c, token := csrfClient(t, countBody(&read, m.Handler(m.CSRF(upload(useParse)))))
			cookie := "sid=" + c.cookie()

			// _csrf before a 24 MiB file: passes; the handler reads it all.
			body, ctype := multipartBody([]string{"_csrf", "file", "after"}, map[string]string{"_csrf": token, "after": "tail"}, size)
			resp, got := send(t, c.srv, "POST", "/upload", cookie, body, http.Header{"Content-Type": {ctype}})
			want := fmt.Sprintf("_csrf:%d file:%d %s after:4", len(token), size, fileHash(size))
			if useParse {
				want = fmt.Sprintf("csrf=true after=tail file=%d %s", size, fileHash(size))
			}
			if resp.StatusCode != 200 || got != want {
				t.Fatalf("upload with _csrf first: %d %q, want 200 %q", resp.StatusCode, got, want)
			}

			// No token: 403 after reading at most MaxFormBytes (1 MiB).
			read.Store(0)
			body, ctype = multipartBody([]string{"file", "_csrf"}, map[string]string{"_csrf": token}, size)
			resp, got = send(t, c.srv, "POST", "/upload", cookie, body, http.Header{"Content-Type": {ctype}})
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("upload with _csrf after the file: %d %q, want 403", resp.StatusCode, got)
			}
			if n := read.Load(); n > 1<<20 {
				t.Fatalf("the guard read %d bytes of a refused upload, want at most 1 MiB", n)
			}
		})
	}
}

func TestCSRFGuardReadsAtMostTheLimitOfAURLEncodedBody(t *testing.T) {
	var read atomic.Int64
	m := newManager(t, newMemory(t), middleware.Options{})
	c, token := csrfClient(t, countBody(&read, m.Handler(m.CSRF(echoForm()))))
	cookie := "sid=" + c.cookie()
	form := "Content-Type"
	ctype := http.Header{form: {"application/x-www-form-urlencoded"}}

	// The token first, other fields after it: the handler sees them all.
	big := strings.Repeat("x", 3<<20)
	resp, got := send(t, c.srv, "POST", "/echo", cookie,
		strings.NewReader("a=1&_csrf="+url.QueryEscape(token)+"&b="+big+"&c=3"), ctype)
	if resp.StatusCode != 200 || got != fmt.Sprintf("a=1 b=%d c=3", len(big)) {
		t.Fatalf("urlencoded with the token first: %d %.80q", resp.StatusCode, got)
	}
	// A 5 MiB body without a token: 403 after at most 1 MiB.
	read.Store(0)
	resp, _ = send(t, c.srv, "POST", "/echo", cookie, strings.NewReader("b="+big+big), ctype)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("urlencoded without a token: %d, want 403", resp.StatusCode)
	}
	if n := read.Load(); n > 1<<20 {
		t.Fatalf("the guard read %d bytes of a refused form, want at most 1 MiB", n)
	}
	// The header still works, and a form body is then not read by the guard.
	read.Store(0)
	_, token2 := c.do("GET", "/csrf", nil)
	resp, got = send(t, c.srv, "POST", "/echo", cookie, strings.NewReader("a=2"),
		http.Header{form: {"application/x-www-form-urlencoded"}, middleware.CSRFHeader: {token2}})
	if resp.StatusCode != 200 || got != "a=2 b=0 c=" {
		t.Fatalf("header token: %d %q", resp.StatusCode, got)
	}
}

// echoForm is app() plus POST /echo, which reports form fields a, b, c.
func echoForm() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", app())
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			http.Error(w, err.Error(), 400)
			return
		}
		fmt.Fprintf(w, "a=%s b=%d c=%s", r.PostForm.Get("a"), len(r.PostForm.Get("b")), r.PostForm.Get("c"))
	})
	return mux
}

// One line per refusal at Info is a log-flooding lever: refusals log at
// Debug.
func TestCSRFRefusalsLogAtDebug(t *testing.T) {
	var logs bytes.Buffer
	m := newManager(t, newMemory(t), middleware.Options{
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	c, _ := csrfClient(t, m.Handler(m.CSRF(app())))
	if resp, _ := c.do("POST", "/guarded", url.Values{"_csrf": {"forged.token"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged token: %d", resp.StatusCode)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "level=DEBUG") {
		t.Fatalf("refusal logged as %q, want one Debug line", logs.String())
	}
}

// Issue 9, scenario 10: the 500 of a failed commit does not carry the
// headers the handler set for the response it meant to send.
func TestErrorResponseStartsFromCleanHeaders(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{Logger: slog.New(slog.DiscardHandler)})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := sess.Set("word", "text").Await(r.Context()); err != nil {
			t.Error(err)
		}
		sess.Inc("word", 1) // fails at the commit; nobody awaits it
		w.Header().Set("X-Handler", "mine")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Language", "de")
		http.Redirect(w, r, "/", http.StatusFound)
	}))
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Outer", "kept") // set by a middleware outside Handler
		h.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(outer)
	t.Cleanup(srv.Close)
	resp, body := send(t, srv, "GET", "/", "", nil, nil)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	for _, k := range []string{"Location", "X-Handler", "Cache-Control", "Content-Language", "Set-Cookie"} {
		if v := resp.Header.Values(k); len(v) != 0 {
			t.Errorf("the 500 carries the handler's %s: %q", k, v)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(body, "Internal Server Error") {
		t.Errorf("the 500: Content-Type %q body %q, want the ErrorHandler's", ct, body)
	}
	if resp.Header.Get("X-Outer") != "kept" {
		t.Errorf("a header set outside Handler was dropped: %v", resp.Header)
	}
}

// Issue 9, scenario 10: Hijack after a failed commit returns an error and
// the client gets the 500.
func TestHijackAfterAFailedCommitFails(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{Logger: slog.New(slog.DiscardHandler)})
	hijackErr := make(chan error, 1)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := sess.Set("word", "text").Await(r.Context()); err != nil {
			t.Error(err)
		}
		sess.Inc("word", 1) // fails at the commit
		conn, buf, err := http.NewResponseController(w).Hijack()
		hijackErr <- err
		if err == nil {
			defer conn.Close()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			buf.Flush()
		}
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 100))
	if err := <-hijackErr; err == nil {
		t.Error("Hijack after a failed commit returned no error")
	}
	if resp.StatusCode != 500 || strings.Contains(string(body), "hijacked") {
		t.Fatalf("response %d %q, want the 500", resp.StatusCode, body)
	}
}

// A 1xx informational response (103 Early Hints) goes out at once and is
// not the commit: a command queued after it still decides the status.
func TestInformationalHeaderIsNotTheCommit(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.HandleFunc("/hints", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			t.Error(err)
			return
		}
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		if r.URL.Query().Get("fail") != "" {
			if _, err := sess.Set("word", "text").Await(r.Context()); err != nil {
				t.Error(err)
			}
			sess.Inc("word", 1) // fails at the commit, which comes after the 103
		} else {
			sess.Set("after", "hints")
		}
		fmt.Fprint(w, "page")
	})
	mux.Handle("/", app())
	c := newClient(t, m.Handler(mux))

	for _, fail := range []bool{false, true} {
		var hints []textproto.MIMEHeader
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints {
				hints = append(hints, h)
			}
			return nil
		}}
		path := "/hints"
		if fail {
			path += "?fail=1"
		}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", c.srv.URL+path, nil)
		resp, err := c.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(hints) != 1 || hints[0].Get("Link") == "" {
			t.Errorf("fail=%t: early hints %v, want one 103 with its Link", fail, hints)
		}
		if len(hints) == 1 && hints[0].Get("Set-Cookie") != "" {
			t.Errorf("fail=%t: the 103 carried the session cookie", fail)
		}
		if !fail && (resp.StatusCode != 200 || string(body) != "page" || len(resp.Cookies()) != 1) {
			t.Errorf("after a 103: %d %q cookies %v, want 200 with the cookie", resp.StatusCode, body, resp.Cookies())
		}
		if fail && resp.StatusCode != 500 {
			t.Errorf("a command failing after a 103: status %d, want 500", resp.StatusCode)
		}
	}
	if _, body := c.do("GET", "/get", nil); !strings.Contains(body, `"after":"hints"`) {
		t.Fatalf("command after a 103: %q", body)
	}
}

// Issue 9, scenario 4: a failed commit is reported once and the
// middleware makes no further store call for the request.
func TestFailedCommitIsOneReport(t *testing.T) {
	var logs bytes.Buffer
	st := &countingStore{Store: newMemory(t)}
	var atError atomic.Int64
	m := newManager(t, st, middleware.Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			atError.Store(st.n.Load())
			middleware.DefaultErrorHandler(w, r, err)
		},
	})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			t.Error(err)
			return
		}
		sess.Set("a", 1) // a new visitor's first write; the store is down
		fmt.Fprint(w, "handler's body")
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	st.fail.Store(true)
	resp, body := send(t, srv, "GET", "/", "", nil, nil)
	if resp.StatusCode != 500 || strings.Contains(body, "handler's body") {
		t.Fatalf("status %d body %q, want the 500", resp.StatusCode, body)
	}
	if after := st.n.Load() - atError.Load(); after != 0 {
		t.Errorf("%d store calls after the failed commit, want none", after)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("%d log lines for one failure, want 1:\n%s", n, logs.String())
	}
}

// Issue 9, scenario 1, over HTTP: a login on a planted session whose old
// session cannot be deleted fails closed: 500, and nothing lands in the
// planted session.
func TestLoginOnAPlantedSessionFailsClosed(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	m := newManager(t, st, middleware.Options{Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.Handle("/", app())
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		sess.Regenerate()          // not awaited, as a hurried port would write it
		sess.Set("user", "victim") // must never reach the planted session
		fmt.Fprint(w, "welcome")
	})
	c := newClient(t, m.Handler(mux))
	c.do("POST", "/set", url.Values{"k": {"planted"}, "v": {"yes"}}) // the attacker's session
	planted := "sid=" + c.cookie()
	st.failDelete.Store(true)
	resp, body := send(t, c.srv, "POST", "/login", planted, nil, nil)
	if resp.StatusCode < 500 || strings.Contains(body, "welcome") || len(resp.Cookies()) != 0 {
		t.Fatalf("login with a failing Delete: %d %q cookies %v, want a 5xx and no cookie", resp.StatusCode, body, resp.Cookies())
	}
	st.failDelete.Store(false)
	if _, body := send(t, c.srv, "GET", "/get", planted, nil, nil); body != `{"planted":"yes"}`+"\n" {
		t.Fatalf("the planted session after a failed login: %q", body)
	}
}

// A continuation that awaits a new command of its session while
// MaxInFlight's slots are all taken must not deadlock: the bound is on
// store calls, never on a flush that waits for another flush.
func TestContinuationAwaitingANewCommandUnderMaxInFlight(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{MaxInFlight: 1})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			t.Error(err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		_, err = sess.Set("a", 1).Then(func(d session.Doc) (session.Doc, error) {
			_, err := sess.Set("b", 2).Await(ctx)
			return d, err
		}).Await(ctx)
		if err != nil {
			t.Errorf("a continuation awaiting a new command under MaxInFlight 1: %v", err)
		}
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
}

// panickingStore panics in Apply and Create.
type panickingStore struct{ session.Store }

func (p panickingStore) Create(context.Context, session.Meta, session.Update) (session.Doc, error) {
	panic("store bug")
}

func (p panickingStore) Apply(context.Context, string, session.Update) (session.Doc, error) {
	panic("store bug")
}

// A panicking store fails the request with a 500 and a *future.PanicError
// that keeps the stack; the panic goes no further.
func TestPanickingStoreGives500WithTheStack(t *testing.T) {
	var got error
	m := newManager(t, panickingStore{newMemory(t)}, middleware.Options{
		Logger: slog.New(slog.DiscardHandler),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			middleware.DefaultErrorHandler(w, r, err)
		},
	})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			t.Error(err)
			return
		}
		sess.Set("a", 1)
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	resp, _ := send(t, srv, "GET", "/", "", nil, nil)
	var pe *future.PanicError
	if resp.StatusCode != 500 || !errors.As(got, &pe) || pe.Value != "store bug" || !strings.Contains(string(pe.Stack), "panickingStore") {
		t.Fatalf("status %d, error %v; want 500 and a *future.PanicError with the store's stack", resp.StatusCode, got)
	}
}
