package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// apiSession GETs /api/session and decodes it.
func (v *visitor) apiSession() (map[string]any, string) {
	v.t.Helper()
	res, body := v.get("/api/session")
	if res.StatusCode != http.StatusOK {
		v.t.Fatalf("GET /api/session = %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		v.t.Fatalf("GET /api/session Content-Type = %q, want application/json", ct)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		v.t.Fatalf("GET /api/session: %v: %s", err, body)
	}
	return got, body
}

func TestIndexCountsVisits(t *testing.T) {
	v := newTestApp(t).visitor(t)
	for want := 1; want <= 3; want++ {
		v.home()
		if got := v.text("views"); got != fmt.Sprint(want) {
			t.Fatalf("visit %d: #views = %q, want %d", want, got, want)
		}
	}
	if !strings.Contains(v.page, `<input type="hidden" name="_csrf" value="`) {
		t.Fatalf("the page's forms carry no _csrf field:\n%s", v.page)
	}
}

func TestUnknownPathTouchesNoSession(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	res, _ := v.get("/favicon.ico")
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /favicon.ico = %d, want 404", res.StatusCode)
	}
	if l, c, ap, d := a.store.roundTrips(); l+c+ap+d != 0 || v.cookie() != "" {
		t.Fatalf("GET /favicon.ico made %d store calls and cookie %q; want none", l+c+ap+d, v.cookie())
	}
}

func TestAPISessionIsNotAVisit(t *testing.T) {
	v := newTestApp(t).visitor(t)
	v.home()
	v.home()
	for range 2 {
		got, _ := v.apiSession()
		if n, _ := got["views"].(float64); n != 2 {
			t.Fatalf("/api/session views = %v, want 2 (it must not count as a visit)", got["views"])
		}
	}
	v.home()
	if got := v.text("views"); got != "3" {
		t.Fatalf("#views = %q after /api/session, want 3", got)
	}
}

func TestAPISessionNeverShowsReservedFields(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	v.submit("/message", url.Values{"message": {"hi"}})
	got, body := v.apiSession()
	want := map[string]any{"views": float64(1), "message": "hi"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("/api/session = %v, want %v", got, want)
	}
	// The stored document's reserved fields, read from the store itself.
	keys, err := session.NewKeyring(testKey)
	if err != nil {
		t.Fatal(err)
	}
	token, ok := keys.Verify(v.cookie())
	if !ok {
		t.Fatalf("the session cookie %q does not verify", v.cookie())
	}
	doc, err := a.mem.Load(context.Background(), session.IDOf(token))
	if err != nil {
		t.Fatalf("load the stored session: %v", err)
	}
	for _, f := range []string{session.FieldID, session.FieldSecret} {
		s, _ := doc[f].(string)
		if s == "" || strings.Contains(body, s) {
			t.Fatalf("/api/session shows the %s %q (or it is empty): %s", f, s, body)
		}
	}
	if strings.Contains(body, token) {
		t.Fatalf("/api/session shows the cookie token: %s", body)
	}
}

func TestMessage(t *testing.T) {
	v := newTestApp(t).visitor(t)
	v.home()
	if got := v.text("message"); !strings.Contains(got, "No message yet") {
		t.Fatalf("#message = %q on a new session", got)
	}
	v.submit("/message", url.Values{"message": {"  hello <b>world</b>  "}})
	v.home()
	if got := v.text("message"); got != "hello &lt;b&gt;world&lt;/b&gt;" {
		t.Fatalf("#message = %q, want the trimmed message, escaped", got)
	}
	if got, _ := v.apiSession(); got["message"] != "hello <b>world</b>" {
		t.Fatalf("/api/session message = %v", got["message"])
	}
}

func TestLoginRegeneratesTheSession(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	v.submit("/message", url.Values{"message": {"before login"}})
	before, oldToken := v.cookie(), v.token()
	v.submit("/login", url.Values{"user": {"ada"}})
	if v.cookie() == before || v.cookie() == "" {
		t.Fatalf("the session cookie did not change at login")
	}
	v.home()
	if got := v.text("user"); got != "ada" {
		t.Fatalf("#user = %q after login, want ada", got)
	}
	if got := v.text("views"); got != "1" {
		t.Fatalf("#views = %q after login, want 1 (a brand-new session)", got)
	}
	if got, _ := v.apiSession(); got["message"] != nil || got["user"] != "ada" {
		t.Fatalf("/api/session after login = %v, want only user and views", got)
	}
	// A token of the old session is worth nothing now.
	res, _ := v.post("/message", url.Values{"message": {"x"}, "_csrf": {oldToken}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with the pre-login token = %d, want 403", res.StatusCode)
	}
	// Nor is the old cookie: it names a deleted session.
	attacker := a.visitor(t)
	u, _ := url.Parse(a.srv.URL)
	attacker.client.Jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: before, Path: "/"}})
	if got, _ := attacker.apiSession(); len(got) != 0 {
		t.Fatalf("the pre-login cookie still opens a session: %v", got)
	}
}

func TestLogout(t *testing.T) {
	v := newTestApp(t).visitor(t)
	v.submit("/login", url.Values{"user": {"ada"}})
	v.home()
	v.submit("/logout", url.Values{})
	if v.cookie() != "" {
		t.Fatalf("the session cookie %q survived logout", v.cookie())
	}
	v.home()
	if got := v.text("account"); got != "Not logged in." {
		t.Fatalf("#account = %q after logout", got)
	}
	if got := v.text("views"); got != "1" {
		t.Fatalf("#views = %q after logout, want 1 (a new session)", got)
	}
}

func TestCart(t *testing.T) {
	v := newTestApp(t).visitor(t)
	v.submit("/cart", url.Values{"item": {"apples"}})
	v.home()
	v.submit("/cart", url.Values{"item": {"pears"}})
	v.home()
	if got := v.text("cart-count"); got != "2" {
		t.Fatalf("#cart-count = %q, want 2", got)
	}
	if got := v.text("last-item"); got != "pears" {
		t.Fatalf("#last-item = %q, want pears", got)
	}
	if got := v.text("cart-items"); got != "<li>apples" {
		t.Fatalf("#cart-items starts %q, want <li>apples", got)
	}
	got, _ := v.apiSession()
	if fmt.Sprint(got["cart"]) != "[apples pears]" || got["cartCount"] != float64(2) || got["lastItem"] != "pears" {
		t.Fatalf("/api/session = %v", got)
	}
}

func TestCartIsOneRoundTrip(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	v.home()
	a.store.reset()
	v.submit("/cart", url.Values{"item": {"apples"}})
	loads, creates, applies, deletes := a.store.roundTrips()
	if loads != 1 || creates+applies != 1 || deletes != 0 {
		t.Fatalf("POST /cart: %d loads, %d creates, %d applies, %d deletes; want the session loaded once and the three commands sent in one update",
			loads, creates, applies, deletes)
	}
}

func TestCartIsCapped(t *testing.T) {
	v := newTestApp(t).visitor(t)
	v.home()
	for i := range maxCartItems {
		v.submit("/cart", url.Values{"item": {fmt.Sprint("item ", i)}})
	}
	res, body := v.post("/cart", url.Values{"item": {"one too many"}, "_csrf": {v.token()}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "cart is full") {
		t.Fatalf("POST /cart on a full cart = %d, want 409: %s", res.StatusCode, body)
	}
}

func TestEveryPostNeedsAValidToken(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	other := a.visitor(t)
	v.submit("/login", url.Values{"user": {"ada"}})
	v.home()
	forms := map[string]url.Values{
		"/message": {"message": {"forged"}},
		"/login":   {"user": {"mallory"}},
		"/logout":  {},
		"/cart":    {"item": {"forged"}},
	}
	tokens := map[string]string{
		"none":          "",
		"garbage":       "forged.token",
		"another's":     other.token(),
		"tampered with": tamper(v.token()),
	}
	for path, form := range forms {
		for name, token := range tokens {
			f := url.Values{}
			for k, vs := range form {
				f[k] = vs
			}
			if token != "" {
				f.Set("_csrf", token)
			}
			res, body := v.post(path, f)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "security token") {
				t.Errorf("POST %s with %s token = %d, want 403 with the error page: %s", path, name, res.StatusCode, body)
			}
		}
	}
	got, _ := v.apiSession()
	if got["user"] != "ada" || got["message"] != nil || got["cart"] != nil {
		t.Fatalf("refused requests changed the session: %v", got)
	}
}

func TestHeaderTokenIsAccepted(t *testing.T) {
	v := newTestApp(t).visitor(t)
	req, err := http.NewRequest(http.MethodPost, v.base+"/message", strings.NewReader("message=by+header"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", v.token())
	if res, body := v.do(req); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /message with X-CSRF-Token = %d: %s", res.StatusCode, body)
	}
	if got, _ := v.apiSession(); got["message"] != "by header" {
		t.Fatalf("/api/session message = %v", got["message"])
	}
}

func TestBadInput(t *testing.T) {
	v := newTestApp(t).visitor(t)
	cases := []struct {
		path  string
		form  url.Values
		label string
	}{
		{"/message", url.Values{}, "missing"},
		{"/message", url.Values{"message": {"   "}}, "blank"},
		{"/message", url.Values{"message": {strings.Repeat("é", maxMessageLen+1)}}, "too long"},
		{"/message", url.Values{"message": {"a\x00b"}}, "control character"},
		{"/message", url.Values{"message": {"\xff\xfe"}}, "not UTF-8"},
		{"/login", url.Values{"user": {strings.Repeat("u", maxUserLen+1)}}, "too long"},
		{"/cart", url.Values{"item": {""}}, "empty"},
		{"/cart", url.Values{"item": {strings.Repeat("i", maxItemLen+1)}}, "too long"},
	}
	for _, c := range cases {
		c.form.Set("_csrf", v.token())
		res, body := v.post(c.path, c.form)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "the field") {
			t.Errorf("POST %s with a %s value = %d, want 400 saying why: %s", c.path, c.label, res.StatusCode, body)
		}
	}
	if got, _ := v.apiSession(); len(got) != 1 {
		t.Fatalf("bad input changed the session: %v", got)
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	v := newTestApp(t).visitor(t)
	form := url.Values{"_csrf": {v.token()}, "message": {"hi"}, "pad": {strings.Repeat("x", maxBodyBytes)}}
	res, _ := v.post("/message", form)
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /message with a %d-byte body = %d, want 403 (unparsed form, no token)", len(form.Encode()), res.StatusCode)
	}
}

// tamper changes the last character of token.
func tamper(token string) string {
	last := byte('A')
	if token[len(token)-1] == last {
		last = 'B'
	}
	return token[:len(token)-1] + string(last)
}

// failingStore is a store whose database is down.
type failingStore struct{}

func (failingStore) Load(context.Context, string) (session.Doc, error) {
	return nil, fmt.Errorf("load: %w", session.ErrUnavailable)
}

func (failingStore) Create(context.Context, session.Meta, []session.Command) (session.Doc, error) {
	return nil, fmt.Errorf("create: %w", session.ErrUnavailable)
}

func (failingStore) Apply(context.Context, string, time.Time, []session.Command) (session.Doc, error) {
	return nil, fmt.Errorf("apply: %w", session.ErrUnavailable)
}

func (failingStore) Delete(context.Context, string) error {
	return fmt.Errorf("delete: %w", session.ErrUnavailable)
}

func TestStoreDownAnswers503(t *testing.T) {
	v := newTestAppOn(t, failingStore{}, nil).visitor(t)
	res, body := v.get("/")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "not available") {
		t.Fatalf("GET / with the store down = %d, want 503 with the error page: %s", res.StatusCode, body)
	}
}
