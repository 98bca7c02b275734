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

func newBrowser(t *testing.T, execPath, base string) *browser {
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

	// Logging in starts a brand-new session that holds the user.
	if code := b.submit("#login-submit", "#user-input", "Ada Lovelace"); code != 200 {
		t.Fatalf("log in: status %d, want 200 after the redirect", code)
	}
	b.expect("#user", "Ada Lovelace")
	b.expect("#views", "1")

	if code := b.submit("#message-submit", "#message-input", "Hello from Chromium"); code != 200 {
		t.Fatalf("save message: status %d", code)
	}
	b.expect("#message", "Hello from Chromium")
	b.expect("#views", "2")

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

	// The JSON view holds the user keys only, and is not a visit.
	var api string
	b.eval(`fetch("/api/session").then(r => r.text())`, &api)
	var doc map[string]any
	if err := json.Unmarshal([]byte(api), &doc); err != nil {
		t.Fatalf("/api/session: %v: %s", err, api)
	}
	want := map[string]any{"user": "Ada Lovelace", "views": 4.0, "message": "Hello from Chromium",
		"cart": []any{"apples", "pears"}, "cartCount": 2.0, "lastItem": "pears"}
	if fmt.Sprint(doc) != fmt.Sprint(want) {
		t.Fatalf("/api/session = %s, want %v", api, want)
	}

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
