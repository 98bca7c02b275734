package middleware_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

var formType = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

// withHeader returns formType plus header k: v.
func withHeader(k, v string) http.Header {
	return http.Header{"Content-Type": formType["Content-Type"], k: {v}}
}

func form(vs url.Values) *strings.Reader { return strings.NewReader(vs.Encode()) }

// tokenApp is app() plus POST /relogin: Regenerate, then a write.
func tokenApp() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", app())
	mux.HandleFunc("POST /relogin", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.Regenerate().Await(r.Context())
		}
		if err == nil {
			_, err = sess.Set("fresh", "yes").Await(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	return mux
}

func TestCookieName(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	m := newManager(t, st, middleware.Options{CookieName: "app_sess"})
	c := newClient(t, m.Handler(app()))
	resp, _ := c.do("POST", "/set", url.Values{"k": {"a"}, "v": {"1"}})
	cks := resp.Cookies()
	if len(cks) != 1 || cks[0].Name != "app_sess" {
		t.Fatalf("cookies %v, want one named app_sess", cks)
	}
	if _, body := send(t, c.srv, "GET", "/get", "app_sess="+cks[0].Value, nil, nil); body != `{"a":"1"}`+"\n" {
		t.Fatalf("read back by app_sess: %q", body)
	}
	st.loads.Store(0)
	if _, body := send(t, c.srv, "GET", "/get", "sid="+cks[0].Value, nil, nil); body != "{}\n" || st.loads.Load() != 0 {
		t.Fatalf("a cookie named sid was read: %q, %d loads", body, st.loads.Load())
	}
}

// Options.BrowserSession: the cookie ends with the browser; the store still
// ends the session after MaxAge.
func TestBrowserSession(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{BrowserSession: true, MaxAge: 200 * time.Millisecond})
	c := newClient(t, m.Handler(app()))
	resp, _ := c.do("POST", "/set", url.Values{"k": {"a"}, "v": {"1"}})
	cks := resp.Cookies()
	if len(cks) != 1 || cks[0].MaxAge != 0 || !cks[0].Expires.IsZero() || cks[0].RawExpires != "" {
		t.Fatalf("cookies %v, want one without Max-Age or Expires", cks)
	}
	if raw := resp.Header.Get("Set-Cookie"); strings.Contains(raw, "Max-Age") || strings.Contains(raw, "Expires") {
		t.Fatalf("Set-Cookie %q", raw)
	}
	if _, body := c.do("GET", "/get", nil); body != `{"a":"1"}`+"\n" {
		t.Fatalf("read back: %q", body)
	}
	time.Sleep(300 * time.Millisecond)
	if _, body := c.do("GET", "/get", nil); body != "{}\n" {
		t.Fatalf("the store kept a browser session past MaxAge: %q", body)
	}
	// Destroy still clears the cookie.
	c.do("POST", "/set", url.Values{"k": {"a"}, "v": {"2"}})
	resp, _ = c.do("POST", "/destroy", nil)
	if cks := resp.Cookies(); len(cks) != 1 || cks[0].MaxAge >= 0 {
		t.Fatalf("destroy: cookies %v, want one clearing cookie", cks)
	}
}

func TestAuthorizationHeaderTokens(t *testing.T) {
	st := &countingStore{Store: newMemory(t)}
	m := newManager(t, st, middleware.Options{Header: "Authorization"})
	c := newClient(t, m.Handler(tokenApp()))

	// A request without the header (a login form, a browser): cookie and
	// header both carry the new token.
	resp, _ := send(t, c.srv, "POST", "/set", "", form(url.Values{"k": {"a"}, "v": {"1"}}), formType)
	auth := resp.Header.Get("Authorization")
	cks := resp.Cookies()
	if len(cks) != 1 || auth != "Bearer "+cks[0].Value {
		t.Fatalf("first response: Authorization %q, cookies %v; want the cookie's value as a Bearer token", auth, cks)
	}
	signed := strings.TrimPrefix(auth, "Bearer ")

	// With the header: the session, no cookie, no new header (same token).
	for _, scheme := range []string{"Bearer ", "bearer ", "BEARER   "} {
		resp, body := send(t, c.srv, "GET", "/get", "", nil, http.Header{"Authorization": {scheme + signed}})
		if body != `{"a":"1"}`+"\n" || len(resp.Cookies()) != 0 || resp.Header.Get("Authorization") != "" {
			t.Fatalf("%q: body %q cookies %v Authorization %q", scheme, body, resp.Cookies(), resp.Header.Get("Authorization"))
		}
	}
	resp, _ = send(t, c.srv, "POST", "/set", "", form(url.Values{"k": {"b"}, "v": {"2"}}), withHeader("Authorization", auth))
	if len(resp.Cookies()) != 0 || resp.Header.Get("Authorization") != "" || resp.StatusCode != 200 {
		t.Fatalf("write by header: %d cookies %v Authorization %q; want neither", resp.StatusCode, resp.Cookies(), resp.Header.Get("Authorization"))
	}
	if _, body := send(t, c.srv, "GET", "/get", "", nil, http.Header{"Authorization": {auth}}); body != `{"a":"1","b":"2"}`+"\n" {
		t.Fatalf("after a write by header: %q", body)
	}

	// The header wins over a cookie; a header that does not verify is a
	// new session (the cookie is still ignored), with no store query.
	resp2, _ := send(t, c.srv, "POST", "/set", "", form(url.Values{"k": {"who"}, "v": {"other"}}), formType)
	cookie := "sid=" + resp2.Cookies()[0].Value
	if _, body := send(t, c.srv, "GET", "/get", cookie, nil, http.Header{"Authorization": {auth}}); body != `{"a":"1","b":"2"}`+"\n" {
		t.Fatalf("header and cookie: %q, want the header's session", body)
	}
	st.loads.Store(0)
	swap := "x"
	if signed[10] == 'x' { // the token is random: make sure it changes
		swap = "y"
	}
	forged := signed[:10] + swap + signed[11:]
	resp, body := send(t, c.srv, "GET", "/get", cookie, nil, http.Header{"Authorization": {"Bearer " + forged}})
	if body != "{}\n" || st.loads.Load() != 0 || len(resp.Cookies()) != 0 {
		t.Fatalf("forged header token: %q, %d loads, cookies %v; want a new session, no load, no cookie", body, st.loads.Load(), resp.Cookies())
	}
	resp, _ = send(t, c.srv, "POST", "/set", cookie, form(url.Values{"k": {"n"}, "v": {"1"}}), withHeader("Authorization", "Bearer "+forged))
	if fresh := resp.Header.Get("Authorization"); !strings.HasPrefix(fresh, "Bearer ") || fresh == auth || len(resp.Cookies()) != 0 {
		t.Fatalf("a new session by header: Authorization %q, cookies %v; want a new token and no cookie", fresh, resp.Cookies())
	}

	// Another scheme (a browser's Basic credentials) is not a session
	// token: the cookie is used.
	if _, body := send(t, c.srv, "GET", "/get", cookie, nil, http.Header{"Authorization": {"Basic dXNlcjpwdw=="}}); body != `{"who":"other"}`+"\n" {
		t.Fatalf("Basic credentials and a cookie: %q, want the cookie's session", body)
	}

	// Regenerate: the new token comes back in the header, the old one is dead.
	resp, _ = send(t, c.srv, "POST", "/relogin", "", nil, http.Header{"Authorization": {auth}})
	renewed := resp.Header.Get("Authorization")
	if resp.StatusCode != 200 || !strings.HasPrefix(renewed, "Bearer ") || renewed == auth || len(resp.Cookies()) != 0 {
		t.Fatalf("regenerate by header: %d Authorization %q cookies %v", resp.StatusCode, renewed, resp.Cookies())
	}
	if _, body := send(t, c.srv, "GET", "/get", "", nil, http.Header{"Authorization": {auth}}); body != "{}\n" {
		t.Fatalf("the token before Regenerate still opens a session: %q", body)
	}
	if _, body := send(t, c.srv, "GET", "/get", "", nil, http.Header{"Authorization": {renewed}}); body != `{"fresh":"yes"}`+"\n" {
		t.Fatalf("the regenerated token: %q", body)
	}
	// Destroy by header: no cookie to clear.
	if resp, _ := send(t, c.srv, "POST", "/destroy", "", nil, http.Header{"Authorization": {renewed}}); len(resp.Cookies()) != 0 || resp.StatusCode != 200 {
		t.Fatalf("destroy by header: %d cookies %v", resp.StatusCode, resp.Cookies())
	}
	if _, body := send(t, c.srv, "GET", "/get", "", nil, http.Header{"Authorization": {renewed}}); body != "{}\n" {
		t.Fatalf("destroyed by header, still there: %q", body)
	}
}

func TestCustomHeaderTokenIsRaw(t *testing.T) {
	keys, _ := session.NewKeyring(testKeys...)
	m := newManager(t, newMemory(t), middleware.Options{Header: "x-session-token"})
	c := newClient(t, m.Handler(app()))
	resp, _ := send(t, c.srv, "POST", "/set", "", form(url.Values{"k": {"a"}, "v": {"1"}}), formType)
	tok := resp.Header.Get("X-Session-Token")
	if _, ok := keys.Verify(tok); !ok || len(resp.Cookies()) != 1 || resp.Cookies()[0].Value != tok {
		t.Fatalf("X-Session-Token %q cookies %v, want the raw signed token, as in the cookie", tok, resp.Cookies())
	}
	resp, body := send(t, c.srv, "GET", "/get", "", nil, http.Header{"X-Session-Token": {tok}})
	if body != `{"a":"1"}`+"\n" || len(resp.Cookies()) != 0 {
		t.Fatalf("read by header: %q cookies %v", body, resp.Cookies())
	}
	if resp, body := send(t, c.srv, "GET", "/get", "", nil, http.Header{"X-Session-Token": {"Bearer " + tok}}); body != "{}\n" || len(resp.Cookies()) != 0 {
		t.Fatalf("a custom header is read raw: %q", body)
	}
}

// Requests authenticated by the header carry no ambient credential: they
// pass the CSRF guard; cookie requests still need a token.
func TestHeaderRequestsPassTheCSRFGuard(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{Header: "Authorization"})
	c, csrf := csrfClient(t, m.Handler(m.CSRF(app())))
	cookie := "sid=" + c.cookie()
	// Logging in by a form post needs the CSRF token; the response carries
	// the header token.
	resp, _ := send(t, c.srv, "POST", "/set", cookie, form(url.Values{"k": {"a"}, "v": {"1"}, "_csrf": {csrf}}), formType)
	if resp.StatusCode != 200 {
		t.Fatalf("cookie post with a CSRF token: %d", resp.StatusCode)
	}
	auth := "Bearer " + c.cookie() // the same session, sent as a header
	if resp, body := send(t, c.srv, "POST", "/set", "", form(url.Values{"k": {"b"}, "v": {"2"}}), withHeader("Authorization", auth)); resp.StatusCode != 200 || body != "2" {
		t.Fatalf("header post without a CSRF token: %d %q, want it passed", resp.StatusCode, body)
	}
	if resp, _ := send(t, c.srv, "POST", "/set", cookie, form(url.Values{"k": {"c"}, "v": {"3"}}), formType); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cookie post without a CSRF token: %d, want 403", resp.StatusCode)
	}
	if _, body := send(t, c.srv, "GET", "/get", cookie, nil, nil); body != `{"a":"1","b":"2"}`+"\n" {
		t.Fatalf("session after the posts: %q", body)
	}
}

func TestCSRFMaxFormBytes(t *testing.T) {
	m := newManager(t, newMemory(t), middleware.Options{MaxFormBytes: 1000})
	c, token := csrfClient(t, m.Handler(m.CSRF(echoForm())))
	cookie := "sid=" + c.cookie()
	pad := strings.Repeat("p", 2000)
	if resp, got := send(t, c.srv, "POST", "/echo", cookie, strings.NewReader("_csrf="+token+"&b="+pad), formType); resp.StatusCode != 200 || got != "a= b=2000 c=" {
		t.Fatalf("token within the limit: %d %q", resp.StatusCode, got)
	}
	_, token = c.do("GET", "/csrf", nil)
	if resp, _ := send(t, c.srv, "POST", "/echo", cookie, strings.NewReader("b="+pad+"&_csrf="+token), formType); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("token past the limit: %d, want 403", resp.StatusCode)
	}
	// Encoded field names and a multipart form within the limit.
	_, token = c.do("GET", "/csrf", nil)
	if resp, _ := send(t, c.srv, "POST", "/echo", cookie, strings.NewReader("a=1&%5Fcsrf="+url.QueryEscape(token)), formType); resp.StatusCode != 200 {
		t.Fatalf("percent-encoded field name: %d", resp.StatusCode)
	}
	_, token = c.do("GET", "/csrf", nil)
	body, ctype := multipartBody([]string{"a", "_csrf", "c"}, map[string]string{"a": "x", "_csrf": token, "c": "z"}, 0)
	if resp, got := send(t, c.srv, "POST", "/echo", cookie, body, http.Header{"Content-Type": {ctype}}); resp.StatusCode != 200 || got != "a=x b=0 c=z" {
		t.Fatalf("multipart: %d %q", resp.StatusCode, got)
	}
	// A file named _csrf is not the field.
	body, ctype = multipartBody([]string{"file"}, nil, 10)
	if resp, _ := send(t, c.srv, "POST", "/echo", cookie, strings.NewReader(strings.ReplaceAll(readAll(body), `name="file"`, `name="_csrf"`)), http.Header{"Content-Type": {ctype}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a file part named _csrf: %d, want 403", resp.StatusCode)
	}
	// Other content types need the header.
	_, token = c.do("GET", "/csrf", nil)
	if resp, _ := send(t, c.srv, "POST", "/echo", cookie, strings.NewReader(fmt.Sprintf(`{"_csrf":%q}`, token)), http.Header{"Content-Type": {"application/json"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("JSON body: %d, want 403", resp.StatusCode)
	}
}

func readAll(r interface{ Read([]byte) (int, error) }) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func TestNewRejectsBadTokenOptions(t *testing.T) {
	st := newMemory(t)
	cases := map[string]middleware.Options{
		"negative MaxCommands":  {Keys: testKeys, MaxCommands: -1},
		"negative MaxFormBytes": {Keys: testKeys, MaxFormBytes: -1},
		"bad header name":       {Keys: testKeys, Header: "X Token"},
		"the Cookie header":     {Keys: testKeys, Header: "cookie"},
		"the CSRF header":       {Keys: testKeys, Header: middleware.CSRFHeader},
	}
	for name, o := range cases {
		if m, err := middleware.New(st, o); err == nil || m != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, m, err)
		}
	}
}

// Remember me: SetMaxAge gives the session its own lifetime, in the store
// and in the cookie's Max-Age, and later requests keep it.
func TestRememberMe(t *testing.T) {
	t.Run("persistent cookie", func(t *testing.T) { testRememberMe(t, false) })
	t.Run("BrowserSession", func(t *testing.T) { testRememberMe(t, true) })
}

func testRememberMe(t *testing.T, browser bool) {
	const month = 30 * 24 * time.Hour
	m := newManager(t, newMemory(t), middleware.Options{MaxAge: time.Hour, BrowserSession: browser})
	mux := http.NewServeMux()
	mux.Handle("/", app())
	mux.HandleFunc("POST /remember", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.SetMaxAge(month).Await(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	c := newClient(t, m.Handler(mux))
	resp, _ := c.do("POST", "/set", url.Values{"k": {"a"}, "v": {"1"}})
	want := 3600
	if browser {
		want = 0 // a browser session: no Max-Age
	}
	if cks := resp.Cookies(); len(cks) != 1 || cks[0].MaxAge != want {
		t.Fatalf("before remember me: cookies %v, want Max-Age %d", cks, want)
	}
	resp, _ = c.do("POST", "/remember", nil)
	if cks := resp.Cookies(); len(cks) != 1 || cks[0].MaxAge != int(month/time.Second) {
		t.Fatalf("remember me: cookies %v, want Max-Age %d", cks, int(month/time.Second))
	}
	resp, _ = c.do("POST", "/inc", nil)
	if cks := resp.Cookies(); len(cks) != 1 || cks[0].MaxAge != int(month/time.Second) {
		t.Fatalf("a write after remember me: cookies %v, want Max-Age %d still", cks, int(month/time.Second))
	}
	if _, body := c.do("GET", "/get", nil); body != `{"a":"1","n":1}`+"\n" {
		t.Fatalf("session after remember me: %q", body)
	}
}
