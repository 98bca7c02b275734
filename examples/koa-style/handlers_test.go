package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// apiSession GETs /api/session and returns its values.
func (v *visitor) apiSession() (map[string]any, string) {
	v.t.Helper()
	res, body := v.api("")
	return res.Values, body
}

// api GETs /api/session, with ?keys=keys if keys is not empty, expects
// 200 and decodes the answer.
func (v *visitor) api(keys string) (apiAnswer, string) {
	v.t.Helper()
	path := "/api/session"
	if keys != "" {
		path += "?keys=" + url.QueryEscape(keys)
	}
	res, body := v.get(path)
	if res.StatusCode != http.StatusOK {
		v.t.Fatalf("GET %s = %d: %s", path, res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		v.t.Fatalf("GET %s Content-Type = %q, want application/json", path, ct)
	}
	var got apiAnswer
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		v.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	if got.Values == nil || got.Loaded == nil {
		v.t.Fatalf("GET %s: no values or loaded: %s", path, body)
	}
	return got, body
}

// apiAnswer is the JSON of GET /api/session.
type apiAnswer struct {
	Values map[string]any  `json:"values"`
	Loaded map[string]bool `json:"loaded"`
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
	want := map[string]any{"views": float64(1), "message": "hi", "flash": "Message saved."}
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
	doc, err := a.mem.Load(context.Background(), session.IDOf(token), nil)
	if err != nil {
		t.Fatalf("load the stored session: %v", err)
	}
	id, _ := doc[session.FieldID].(string)
	if id == "" || strings.Contains(body, id) {
		t.Fatalf("/api/session shows the store id %q (or it is empty): %s", id, body)
	}
	for _, f := range session.ReservedFields() {
		if strings.Contains(body, `"`+f+`"`) {
			t.Fatalf("/api/session shows the reserved field %s: %s", f, body)
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
	if loads != 0 || creates+applies != 1 || deletes != 0 {
		t.Fatalf("POST /cart: %d loads, %d creates, %d applies, %d deletes; want no load and the three commands sent in one update",
			loads, creates, applies, deletes)
	}
}

func TestCartKeepsTheLastItems(t *testing.T) {
	v := newTestApp(t).visitor(t)
	v.home()
	const posts = maxCartItems + 2
	for i := range posts {
		v.submit("/cart", url.Values{"item": {fmt.Sprint("item ", i)}})
	}
	v.home()
	if got := v.text("cart-count"); got != fmt.Sprint(maxCartItems) {
		t.Fatalf("#cart-count = %q after %d posts, want the cap %d", got, posts, maxCartItems)
	}
	if got := v.text("cart-added"); got != fmt.Sprint(posts) {
		t.Fatalf("#cart-added = %q, want %d", got, posts)
	}
	got, _ := v.apiSession()
	cart, _ := got["cart"].([]any)
	if len(cart) != maxCartItems || cart[0] != "item 2" || cart[maxCartItems-1] != fmt.Sprint("item ", posts-1) {
		t.Fatalf("cart = %v, want items 2 to %d: the oldest dropped", cart, posts-1)
	}
}

// TestConcurrentCartPostsNeverExceedTheCap posts more items than the cart
// keeps, all at once, on one session: PushLast is one atomic $push with
// $slice, so the cart ends at exactly the cap, and no count is lost.
func TestConcurrentCartPostsNeverExceedTheCap(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	v.home()
	a.store.latency.Store(int64(2 * time.Millisecond)) // a database's round trip: a check-then-push would be passed by many
	const posts = maxCartItems + 14
	raceCart(t, v, posts)
	got, _ := v.apiSession()
	cart, _ := got["cart"].([]any)
	if len(cart) != maxCartItems || got["cartCount"] != float64(posts) {
		t.Fatalf("after %d concurrent posts: %d items in the cart, cartCount %v; want %d and %d", posts, len(cart), got["cartCount"], maxCartItems, posts)
	}
}

// raceCart posts n items to v's cart at once, with v's cookie and token.
func raceCart(t *testing.T, v *visitor, n int) {
	t.Helper()
	token := v.token()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := v.client.PostForm(v.base+"/cart", url.Values{"_csrf": {token}, "item": {fmt.Sprint("race ", i)}})
			if err != nil {
				errs <- err
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther {
				errs <- fmt.Errorf("POST /cart = %d", res.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestFlashIsShownOnce(t *testing.T) {
	v := newTestApp(t).visitor(t)
	v.home()
	if strings.Contains(v.page, `id="flash"`) {
		t.Fatalf("a flash message on a new session:\n%s", v.page)
	}
	v.submit("/message", url.Values{"message": {"hello"}})
	v.home()
	if got := v.text("flash"); got != "Message saved." {
		t.Fatalf("#flash = %q after POST /message, want Message saved.", got)
	}
	v.home()
	if strings.Contains(v.page, `id="flash"`) {
		t.Fatalf("the flash message is shown a second time:\n%s", v.page)
	}
	if got := v.text("message"); got != "hello" {
		t.Fatalf("#message = %q, want hello (the message stays)", got)
	}
}

// TestFlashIsShownOnceAmongConcurrentPages loads the page in many tabs at
// once after a flash message was set: Take gives it to exactly one.
func TestFlashIsShownOnceAmongConcurrentPages(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	v.submit("/message", url.Values{"message": {"hello"}})
	a.store.latency.Store(int64(5 * time.Millisecond)) // every tab loads the flash before any removes it
	const tabs = 16
	var shown atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := v.client.Get(v.base + "/")
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Errorf("GET / = %d, %v", res.StatusCode, err)
				return
			}
			if strings.Contains(string(b), `id="flash"`) {
				shown.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := shown.Load(); got != 1 {
		t.Fatalf("%d of %d concurrent pages showed the flash message, want exactly 1", got, tabs)
	}
}

func TestHomeIsOneRoundTrip(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	v.home()
	a.store.reset()
	v.home()
	if l, c, ap, d := a.store.roundTrips(); l != 0 || c != 0 || ap != 1 || d != 0 {
		t.Fatalf("GET /: %d loads, %d creates, %d applies, %d deletes; want one apply (the Fetch joins the Inc)", l, c, ap, d)
	}
	// With a flash message pending, taking it costs one more.
	v.submit("/message", url.Values{"message": {"hi"}})
	a.store.reset()
	v.home()
	if l, c, ap, d := a.store.roundTrips(); l != 0 || c != 0 || ap != 2 || d != 0 {
		t.Fatalf("GET / with a flash: %d loads, %d creates, %d applies, %d deletes; want two applies", l, c, ap, d)
	}
}

func TestNewVisitorWhoOnlyReadsIsNotStored(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	got, _ := v.api("")
	if len(got.Values) != 0 || !got.Loaded["views"] {
		t.Fatalf("/api/session for a new visitor = %+v, want no values, everything known", got)
	}
	if l, c, ap, d := a.store.roundTrips(); l+c+ap+d != 0 || v.cookie() != "" {
		t.Fatalf("a new visitor's GET /api/session made %d store calls and cookie %q; want none", l+c+ap+d, v.cookie())
	}
}

func TestAPISessionLoadsOnlyTheKeysAskedFor(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	v.submit("/message", url.Values{"message": {"hi"}})
	v.submit("/cart", url.Values{"item": {"apples"}})
	a.store.reset()
	got, body := v.api("cart,nothing")
	if fmt.Sprint(got.Values) != "map[cart:[apples]]" {
		t.Fatalf("/api/session?keys=cart,nothing values = %v, want the cart only: %s", got.Values, body)
	}
	for k, want := range map[string]bool{"cart": true, "nothing": true, "message": false, "views": false, "user": false} {
		if got.Loaded[k] != want {
			t.Errorf("loaded[%s] = %v, want %v: %s", k, got.Loaded[k], want, body)
		}
	}
	if loads := a.store.loaded(); len(loads) != 1 || fmt.Sprint(loads[0]) != "[cart nothing]" {
		t.Fatalf("the store's loads = %q, want one Load of [cart nothing]", loads)
	}
	all, _ := v.api("")
	if all.Values["message"] != "hi" || !all.Loaded["message"] {
		t.Fatalf("/api/session = %+v, want everything loaded", all)
	}
}

func TestAPISessionRefusesBadKeys(t *testing.T) {
	v := newTestApp(t).visitor(t)
	many := strings.TrimSuffix(strings.Repeat("k,", maxAPIKeys+1), ",")
	for _, keys := range []string{session.FieldID, session.FieldUserID, "cart.items", "$where", "a,,b", many} {
		res, body := v.get("/api/session?keys=" + url.QueryEscape(keys))
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("GET /api/session?keys=%s = %d, want 400 with an error: %s", keys, res.StatusCode, body)
		}
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

		"/sessions/logout-others": {},
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
	pad := strings.Repeat("x", maxBodyBytes)
	// url.Values.Encode sorts the fields: "_csrf" comes before "pad", and
	// after "Pad".
	form := url.Values{"_csrf": {v.token()}, "message": {"hi"}, "pad": {pad}}
	res, body := v.post("/message", form)
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than") {
		t.Fatalf("POST /message with a %d-byte body, its token first = %d, want 413: %s", len(form.Encode()), res.StatusCode, body)
	}
	form = url.Values{"Pad": {pad}, "_csrf": {v.token()}, "message": {"hi"}}
	if res, _ := v.post("/message", form); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /message with a %d-byte body, its token past the limit = %d, want 403 (no token read)", len(form.Encode()), res.StatusCode)
	}
	if got, _ := v.apiSession(); got["message"] != nil {
		t.Fatalf("an oversized form changed the session: %v", got)
	}
}

// tamper changes a character in the middle of token's signature (the last
// character of unpadded base64 may carry only padding bits).
func tamper(token string) string {
	i := len(token) - 10
	c := byte('A')
	if token[i] == c {
		c = 'B'
	}
	return token[:i] + string(c) + token[i+1:]
}

// failingStore is a store whose database is down.
type failingStore struct{}

func (failingStore) Load(context.Context, string, []string) (session.Doc, error) {
	return nil, fmt.Errorf("load: %w", session.ErrUnavailable)
}

func (failingStore) Create(context.Context, session.Meta, session.Update) (session.Doc, error) {
	return nil, fmt.Errorf("create: %w", session.ErrUnavailable)
}

func (failingStore) Apply(context.Context, string, session.Update) (session.Doc, error) {
	return nil, fmt.Errorf("apply: %w", session.ErrUnavailable)
}

func (failingStore) Delete(context.Context, string) error {
	return fmt.Errorf("delete: %w", session.ErrUnavailable)
}

func TestStoreDownAnswers503(t *testing.T) {
	a := newTestAppOn(t, failingStore{}, nil)
	v := a.visitor(t)
	res, body := v.get("/")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "not available") {
		t.Fatalf("GET / with the store down = %d, want 503 with the error page: %s", res.StatusCode, body)
	}
	// A returning visitor, whose cookie names a stored session.
	token, err := session.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := session.NewKeyring(testKey)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.srv.URL)
	v.client.Jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: keys.Sign(token), Path: "/"}})
	res, body = v.get("/api/session")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"error"`) {
		t.Fatalf("GET /api/session with the store down = %d, want 503 with a JSON error: %s", res.StatusCode, body)
	}
	res, body = v.post("/cart", url.Values{"item": {"apples"}, "_csrf": {"x"}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /cart with a bad token and the store down = %d, want 403 (no store needed to refuse it): %s", res.StatusCode, body)
	}
}

// TestRoundTripsPerRoute counts the store calls of each route on a
// session that is stored already, as examples/koa-style/README.md's table
// says.
func TestRoundTripsPerRoute(t *testing.T) {
	a := newTestApp(t)
	v := a.visitor(t)
	v.home()
	type calls struct{ loads, creates, applies, deletes, index int64 }
	step := func(what string, want calls, do func()) {
		t.Helper()
		a.store.reset()
		do()
		l, c, ap, d := a.store.roundTrips()
		got := calls{l, c, ap, d, a.store.userCalls.Load()}
		if got != want {
			t.Errorf("%s: %+v store calls, want %+v", what, got, want)
		}
	}
	step("GET /", calls{applies: 1}, func() { v.home() })
	step("GET /api/session", calls{loads: 1}, func() { v.api("") })
	step("GET /api/session?keys=cart", calls{loads: 1}, func() { v.api("cart") })
	step("POST /cart", calls{applies: 1}, func() { v.submit("/cart", url.Values{"item": {"apples"}}) })
	step("POST /message", calls{applies: 1}, func() { v.submit("/message", url.Values{"message": {"hi"}}) })
	step("GET / with a flash", calls{applies: 2}, func() { v.home() })
	step("POST /login", calls{creates: 1, deletes: 1}, func() { v.submit("/login", url.Values{"user": {"ada"}}) })
	step("GET / logged in, with a flash", calls{applies: 2, index: 1}, func() { v.home() })
	step("GET / logged in", calls{applies: 1, index: 1}, func() { v.home() })
	step("POST /sessions/logout-others", calls{loads: 1, applies: 1, index: 1}, func() { v.submit("/sessions/logout-others", url.Values{}) })
	v.home()
	step("POST /logout", calls{deletes: 1}, func() { v.submit("/logout", url.Values{}) })
	n := a.visitor(t)
	step("a new visitor's GET /api/session", calls{}, func() { n.api("") })
}
