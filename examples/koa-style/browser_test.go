package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds the whole browser session, so that a hung browser
// fails the test instead of the test binary's deadline. It is not a
// measurement.
const browserTimeout = 3 * time.Minute

// chromium returns the browser to drive: $CHROMIUM if set, else chromium
// or chromium-browser from PATH. Without one the test is skipped, or fails
// when CI is "true".
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no headless browser: chromium is not in PATH (install the Debian package chromium, or set CHROMIUM to a Chrome or Chromium binary)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium with a fresh profile, driven over the
// DevTools protocol.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // the app's URL, ending in "/"
}

// newBrowser starts a browser with a fresh profile; extra options (such as
// chromedp.UserAgent) are added to the defaults.
func newBrowser(t *testing.T, execPath, base string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profileDir(t)),
		chromedp.WindowSize(1000, 1300),
	}
	opts = append(opts, extra...)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	ctx, cancelBrowser := chromedp.NewContext(ctx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser() // closes the browser and waits for it
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start %s: %v", execPath, err)
	}
	return &browser{t: t, ctx: ctx, base: base}
}

// load runs actions that load a page (navigate, click a submit button) and
// returns the HTTP status of the document the page ends on, after any
// redirects.
func (b *browser) load(what string, actions ...chromedp.Action) int64 {
	b.t.Helper()
	res, err := chromedp.RunResponse(b.ctx, actions...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	if res == nil {
		b.t.Fatalf("%s: no page loaded", what)
	}
	return res.Status
}

// open navigates to path and expects 200.
func (b *browser) open(path string) {
	b.t.Helper()
	if code := b.load("open "+path, chromedp.Navigate(b.base+strings.TrimPrefix(path, "/"))); code != 200 {
		b.t.Fatalf("open %s: status %d, want 200", path, code)
	}
}

// submit types each value into its input, as a person would, then clicks
// the button and returns the status of the page the form leads to.
func (b *browser) submit(button string, fields ...string) int64 {
	b.t.Helper()
	var actions []chromedp.Action
	for i := 0; i+1 < len(fields); i += 2 {
		actions = append(actions,
			chromedp.Click(fields[i], chromedp.ByQuery),
			chromedp.SendKeys(fields[i], fields[i+1], chromedp.ByQuery))
	}
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("type into the form of %s: %v", button, err)
	}
	return b.load("click "+button, chromedp.Click(button, chromedp.ByQuery))
}

// text returns the visible text of the element sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	if err := chromedp.Run(b.ctx, chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// eval evaluates a JavaScript expression in the page, awaiting it if it
// is a promise, and stores its result in res.
func (b *browser) eval(js string, res any) {
	b.t.Helper()
	await := func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }
	if err := chromedp.Run(b.ctx, chromedp.Evaluate(js, res, await)); err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
}

// expect fails the test unless the element sel shows want.
func (b *browser) expect(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); got != want {
		b.t.Fatalf("%s shows %q, want %q", sel, got, want)
	}
}

// row is one line of "Your sessions" in the browser.
type row struct {
	Label   string `json:"label"`
	Current bool   `json:"current"`
}

// expectRows fails the test unless "Your sessions" lists n sessions (0: no
// list), and returns them.
func (b *browser) expectRows(n int) []listed {
	b.t.Helper()
	var rows []row
	b.eval(`[...document.querySelectorAll("#sessions tbody tr")].map(tr => ({label: tr.querySelector("td.label").textContent, current: tr.classList.contains("current")}))`, &rows)
	if len(rows) != n {
		b.t.Fatalf("\"Your sessions\" lists %d sessions (%+v), want %d", len(rows), rows, n)
	}
	out := make([]listed, len(rows))
	for i, r := range rows {
		out[i] = listed{label: r.Label, current: r.Current}
	}
	return out
}

// screenshot saves the whole page as a PNG in dir and returns its path.
func (b *browser) screenshot(dir, name string) string {
	b.t.Helper()
	var png []byte
	if err := chromedp.Run(b.ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	return path
}

// TestBrowser uses the app in a real headless Chromium the way a person
// would, on the store a newcomer gets: the embedded FerretDB, started by
// run() in a fresh data directory.
func TestBrowser(t *testing.T) {
	execPath := chromium(t)
	app := startRun(t, t.TempDir(), nil)
	b := newBrowser(t, execPath, app.url)

	// Every visit of / counts, reloads included.
	b.open("/")
	b.expect("#views", "1")
	b.expect("#account", "Not logged in.")
	if code := b.load("reload", chromedp.Reload()); code != 200 {
		t.Fatalf("reload: status %d", code)
	}
	b.expect("#views", "2")
	b.open("/")
	b.expect("#views", "3")

	// Logging in starts a brand-new session that holds the user, and says
	// so once.
	if code := b.submit("#login-submit", "#user-input", "Ada Lovelace"); code != 200 {
		t.Fatalf("log in: status %d, want 200 after the redirect", code)
	}
	b.expect("#user", "Ada Lovelace")
	b.expect("#views", "1")
	b.expect("#flash", "Logged in as Ada Lovelace.")
	b.expectRows(1)

	if code := b.submit("#message-submit", "#message-input", "Hello from Chromium"); code != 200 {
		t.Fatalf("save message: status %d", code)
	}
	b.expect("#message", "Hello from Chromium")
	b.expect("#views", "2")
	b.expect("#flash", "Message saved.")

	for i, item := range []string{"apples", "pears"} {
		if code := b.submit("#cart-submit", "#item-input", item); code != 200 {
			t.Fatalf("add %s: status %d", item, code)
		}
		b.expect("#cart-count", fmt.Sprint(i+1))
		b.expect("#last-item", item)
	}
	var items []string
	b.eval(`[...document.querySelectorAll("#cart-items li")].map(li => li.textContent)`, &items)
	if strings.Join(items, ",") != "apples,pears" {
		t.Fatalf("the cart lists %q, want apples, pears", items)
	}

	// The JSON view holds the user keys only, and is not a visit; with
	// ?keys= it loads only those.
	var api string
	b.eval(`fetch("/api/session").then(r => r.text())`, &api)
	var doc struct {
		Values map[string]any  `json:"values"`
		Loaded map[string]bool `json:"loaded"`
	}
	if err := json.Unmarshal([]byte(api), &doc); err != nil {
		t.Fatalf("/api/session: %v: %s", err, api)
	}
	want := map[string]any{"user": "Ada Lovelace", "views": 4.0, "message": "Hello from Chromium",
		"cart": []any{"apples", "pears"}, "cartCount": 2.0, "lastItem": "pears"}
	if fmt.Sprint(doc.Values) != fmt.Sprint(want) {
		t.Fatalf("/api/session = %s, want %v", api, want)
	}
	b.eval(`fetch("/api/session?keys=cart").then(r => r.text())`, &api)
	doc.Values, doc.Loaded = nil, nil
	if err := json.Unmarshal([]byte(api), &doc); err != nil {
		t.Fatalf("/api/session?keys=cart: %v: %s", err, api)
	}
	if fmt.Sprint(doc.Values) != "map[cart:[apples pears]]" || !doc.Loaded["cart"] || doc.Loaded["message"] {
		t.Fatalf("/api/session?keys=cart = %s, want the cart only", api)
	}

	// The same user logs in from a second browser profile: both sessions
	// are listed, each browser marking its own.
	b2 := newBrowser(t, execPath, app.url, chromedp.UserAgent(firefoxWindows))
	b2.open("/")
	if code := b2.submit("#login-submit", "#user-input", "Ada Lovelace"); code != 200 {
		t.Fatalf("log in from the second profile: status %d", code)
	}
	b2.expect("#user", "Ada Lovelace")
	b2.expect("#sessions tr.current td.label", "Firefox on Windows")
	b.open("/")
	rows := b.expectRows(2)
	if rows[0].current == rows[1].current || rows[1].label != "Firefox on Windows" {
		t.Fatalf("the first profile lists %+v, want itself first and then Firefox on Windows", rows)
	}
	b.expect("#sessions tr.current .this", "this session")
	b2.expectRows(2)
	if d := os.Getenv("KOA_STYLE_SCREENSHOTS"); d != "" {
		t.Logf("screenshot: %s", b.screenshot(d, "koa-style-sessions.png"))
	}

	// "Log out other sessions" from the first leaves exactly that one, and
	// the second profile's next page is a logged-out visitor's.
	if code := b.submit("#logout-others-submit"); code != 200 {
		t.Fatalf("log out other sessions: status %d", code)
	}
	b.expect("#flash", "Logged out 1 other session.")
	rows = b.expectRows(1)
	if !rows[0].current {
		t.Fatalf("after logging out the others the list is %+v, want this session", rows)
	}
	b.expect("#user", "Ada Lovelace")
	b2.open("/")
	b2.expect("#account", "Not logged in.")
	b2.expect("#views", "1")
	b2.expectRows(0)
	b.open("/")
	b.expectRows(1)

	dir := t.TempDir()
	if d := os.Getenv("KOA_STYLE_SCREENSHOTS"); d != "" {
		dir = d // keep the picture to look at
	}
	t.Logf("screenshot: %s", b.screenshot(dir, "koa-style.png"))

	// A form whose token was tampered with is refused, and changes nothing.
	b.eval(`document.querySelector("#message-form input[name=_csrf]").value = "forged.token"`, nil)
	if code := b.submit("#message-submit", "#message-input", "forged message"); code != 403 {
		t.Fatalf("a form with a forged token: status %d, want 403", code)
	}
	b.expect("#title", "Forbidden")
	if d := b.text("#detail"); !strings.Contains(d, "security token") {
		t.Fatalf("the 403 page says %q", d)
	}
	// So are scripted posts with a bad token or none.
	for _, js := range []string{
		`fetch("/cart", {method: "POST", headers: {"X-CSRF-Token": "bad"}, body: new URLSearchParams({item: "forged"})}).then(r => r.status)`,
		`fetch("/logout", {method: "POST", body: new URLSearchParams({})}).then(r => r.status)`,
	} {
		var status int
		b.eval(js, &status)
		if status != 403 {
			t.Fatalf("%s = %d, want 403", js, status)
		}
	}
	b.open("/")
	b.expect("#message", "Hello from Chromium")
	b.expect("#cart-count", "2")
	b.expect("#user", "Ada Lovelace")
	b.expectRows(1)

	// Logging out deletes the session: the next page is a new visitor's.
	if code := b.submit("#logout-submit"); code != 200 {
		t.Fatalf("log out: status %d", code)
	}
	b.expect("#account", "Not logged in.")
	b.expect("#views", "1")
	b.expect("#cart-empty", "The cart is empty.")
}

// profileDir returns a fresh Chromium profile directory, removed when the
// test ends. Not t.TempDir: Chromium's helper processes can still write to
// the profile for a moment after the browser exits, which made t.TempDir's
// cleanup fail the test now and then ("directory not empty"). Removal is
// retried briefly; what is left is only logged.
func profileDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "koa-style-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 20 {
			if err = os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("chromium profile %s not removed: %v", dir, err)
	})
	return dir
}
