package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/atomicsession/atomicsession/memory"
)

// User-Agent headers of the tests' browsers.
const (
	firefoxWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
	chromeLinux    = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	safariIPhone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

var (
	sessionRowRe = regexp.MustCompile(`<tr class="session( current)?"><td class="label">([^<]*)</td><td class="created">([^<]+)</td><td class="last-seen">([^<]+)</td>`)
	thisMarkRe   = regexp.MustCompile(`<strong class="this">this session</strong>`)
)

// listed is one row of "Your sessions" as the page shows it.
type listed struct {
	label   string
	current bool
}

// sessions returns the rows of "Your sessions" in the last page seen, nil
// if the page has no such list.
func (v *visitor) sessions() []listed {
	v.t.Helper()
	var out []listed
	for _, m := range sessionRowRe.FindAllStringSubmatch(v.page, -1) {
		out = append(out, listed{label: m[2], current: m[1] != ""})
	}
	if marks := len(thisMarkRe.FindAllString(v.page, -1)); len(out) > 0 && marks != 1 {
		v.t.Fatalf("%d rows marked as this session, want 1:\n%s", marks, v.page)
	}
	return out
}

func TestYourSessionsListAndLogOutOthers(t *testing.T) {
	a := newTestApp(t)
	laptop, desktop, phone := a.visitor(t), a.visitor(t), a.visitor(t)
	laptop.ua, desktop.ua, phone.ua = firefoxWindows, chromeLinux, safariIPhone
	bob := a.visitor(t)

	laptop.submit("/login", url.Values{"user": {"ada"}})
	laptop.home()
	if got := laptop.sessions(); len(got) != 1 || got[0] != (listed{"Firefox on Windows", true}) {
		t.Fatalf("one login lists %+v, want this Firefox session", got)
	}
	if strings.Contains(laptop.page, `id="logout-others-submit"`) {
		t.Fatalf("the page offers to log out other sessions when there are none")
	}
	desktop.submit("/login", url.Values{"user": {"ada"}})
	phone.submit("/login", url.Values{"user": {"ada"}})
	bob.submit("/login", url.Values{"user": {"bob"}})

	laptop.home()
	got := laptop.sessions()
	if len(got) != 3 || got[0] != (listed{"Firefox on Windows", true}) {
		t.Fatalf("three logins of ada list %+v, want three, this one first", got)
	}
	labels := map[string]bool{}
	for _, s := range got[1:] {
		labels[s.label] = true
	}
	if !labels["Chrome on Linux"] || !labels["Safari on iOS"] {
		t.Fatalf("ada's other sessions are %+v, want Chrome on Linux and Safari on iOS", got[1:])
	}
	bob.home()
	if got := bob.sessions(); len(got) != 1 || !got[0].current {
		t.Fatalf("bob's page lists %+v, want bob's one session", got)
	}

	desktopCookie := desktop.cookie()
	a.store.reset()
	laptop.submit("/sessions/logout-others", url.Values{})
	laptop.home()
	if got := laptop.text("flash"); got != "Logged out 2 other sessions." {
		t.Fatalf("#flash = %q after logging out the others", got)
	}
	if got := laptop.sessions(); len(got) != 1 || got[0] != (listed{"Firefox on Windows", true}) {
		t.Fatalf("after logging out the others the list is %+v, want exactly this session", got)
	}
	if got := laptop.text("user"); got != "ada" {
		t.Fatalf("#user = %q, want ada still logged in here", got)
	}

	// The other browsers' next requests get fresh sessions bound to nobody.
	for _, v := range []*visitor{desktop, phone} {
		v.home()
		if got := v.text("account"); got != "Not logged in." {
			t.Fatalf("#account = %q on a logged-out browser", got)
		}
		if got := v.text("views"); got != "1" {
			t.Fatalf("#views = %q on a logged-out browser, want 1 (a fresh session)", got)
		}
		if v.sessions() != nil {
			t.Fatalf("a logged-out browser still lists sessions")
		}
	}
	if desktop.cookie() == desktopCookie {
		t.Fatalf("the logged-out browser kept its cookie")
	}
	// Their fresh sessions belong to nobody: ada still has one session.
	laptop.home()
	if got := laptop.sessions(); len(got) != 1 {
		t.Fatalf("after the logged-out browsers came back ada lists %+v, want one session", got)
	}
	if metas, err := a.mem.UserSessions(context.Background(), "ada"); err != nil || len(metas) != 1 {
		t.Fatalf("the store lists %d sessions of ada (%v), want 1", len(metas), err)
	}
	// Bob's session is untouched.
	bob.home()
	if got := bob.text("user"); got != "bob" || len(bob.sessions()) != 1 {
		t.Fatalf("bob after ada logged out her other sessions: #user %q, sessions %+v", got, bob.sessions())
	}
}

func TestLogoutOthersNeedsALogin(t *testing.T) {
	v := newTestApp(t).visitor(t)
	v.home()
	form := url.Values{"_csrf": {v.token()}}
	res, body := v.post("/sessions/logout-others", form)
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "not logged in") {
		t.Fatalf("POST /sessions/logout-others without a login = %d, want 409: %s", res.StatusCode, body)
	}
}

// TestStoreWithoutUserIndex runs the app on a store that keeps no index of
// users' sessions: the list is not shown and logging out the others says
// it is not available.
func TestStoreWithoutUserIndex(t *testing.T) {
	mem := memory.NewStore()
	v := newTestAppOn(t, plainStore{mem}, mem).visitor(t)
	v.submit("/login", url.Values{"user": {"ada"}})
	v.home()
	if v.sessions() != nil || strings.Contains(v.page, "Your sessions") {
		t.Fatalf("the page lists sessions on a store without a user index")
	}
	res, _ := v.post("/sessions/logout-others", url.Values{"_csrf": {v.token()}})
	if res.StatusCode != http.StatusNotImplemented {
		t.Fatalf("POST /sessions/logout-others = %d, want 501", res.StatusCode)
	}
}

func TestDeviceLabel(t *testing.T) {
	cases := map[string]string{
		firefoxWindows: "Firefox on Windows",
		chromeLinux:    "Chrome on Linux",
		safariIPhone:   "Safari on iOS",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15":            "Safari on macOS",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0": "Edge on Windows",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36":         "Chrome on Android",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36":                 "Headless Chrome on Linux",
		"curl/8.5.0":               "curl",
		"Go-http-client/1.1":       "Go HTTP client",
		"":                         "Unknown browser",
		strings.Repeat("x", 10000): "Unknown browser",
	}
	for ua, want := range cases {
		if got := deviceLabel(ua); got != want {
			t.Errorf("deviceLabel(%.40q) = %q, want %q", ua, got, want)
		}
	}
}
