package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/atomicsession/atomicsession/internal/testenv"
)

func TestMain(m *testing.M) {
	// FerretDB's SQLite pools keep database/sql's connection opener for the
	// life of the process.
	testenv.Main(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

// logBuffer collects the app's log for assertions and failure messages.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runningApp is run() serving in the background.
type runningApp struct {
	url  string
	log  *logBuffer
	stop func() error
}

// startRun runs the app as main does, on a free loopback port with data
// directory dir and the environment env (nothing else of the process's),
// and stops it at the end of the test if the test did not.
func startRun(t *testing.T, dir string, env map[string]string, args ...string) *runningApp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := &logBuffer{}
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	args = append([]string{"-addr", "127.0.0.1:0", "-data", dir}, args...)
	getenv := func(k string) string { return env[k] }
	go func() { errc <- run(ctx, args, getenv, log, func(url string) { ready <- url }) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			stopErr = <-errc
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop the app: %v\n%s", err, log)
		}
	})
	select {
	case url := <-ready:
		return &runningApp{url: url, log: log, stop: stop}
	case err := <-errc:
		once.Do(func() { stopErr = err })
		t.Fatalf("run: %v\n%s", err, log)
	}
	return nil
}

var viewsRe = regexp.MustCompile(`id="views">(\d+)<`)

// visit GETs the app's / with client and returns the visit count shown.
func visit(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	v := &visitor{t: t, base: strings.TrimSuffix(base, "/"), client: client}
	body := v.home()
	m := viewsRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no visit count in the page:\n%s", body)
	}
	return m[1]
}

func newJarClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func TestRunEmbeddedKeepsSessionsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	client := newJarClient(t)

	app := startRun(t, dir, nil)
	for _, want := range []string{"1", "2"} {
		if got := visit(t, client, app.url); got != want {
			t.Fatalf("visit count %s, want %s", got, want)
		}
	}
	if err := app.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, want := range []string{"embedded FerretDB", "data=" + dir, "generated a cookie signing key", "background sweeper", "using one connection"} {
		if !strings.Contains(app.log.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, app.log)
		}
	}
	st, err := os.Stat(dir + "/" + keyFileName)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", st, err)
	}

	app = startRun(t, dir, nil)
	if got := visit(t, client, app.url); got != "3" {
		t.Fatalf("visit count after a restart = %s, want 3 (the session and its cookie survive)", got)
	}
	if !strings.Contains(app.log.String(), "cookie signing key loaded") {
		t.Errorf("the log does not say the key was loaded:\n%s", app.log)
	}
}

func TestRunOnMongoDBURI(t *testing.T) {
	uri := os.Getenv("MONGODB_URI")
	ferret := uri == ""
	if ferret {
		uri = startFerretDB(t)
	}
	app := startRun(t, t.TempDir(), map[string]string{"MONGODB_URI": uri}, "-mongo-db", "koa_style_test")
	client := newJarClient(t)
	visit(t, client, app.url)
	if got := visit(t, client, app.url); got != "2" {
		t.Fatalf("visit count = %s, want 2", got)
	}
	if !strings.Contains(app.log.String(), "session store: MongoDB") {
		t.Fatalf("the log does not name the store:\n%s", app.log)
	}
	if ferret && !strings.Contains(app.log.String(), "the server is FerretDB: using one connection") {
		t.Fatalf("the log does not say FerretDB was detected:\n%s", app.log)
	}
	checkStoreFeatures(t, app.url)
}

func TestRunOnRedisURL(t *testing.T) {
	url := testenv.RedisURL(t)
	app := startRun(t, t.TempDir(), map[string]string{"REDIS_URL": url}, "-redis-prefix", testenv.RedisPrefix(t))
	client := newJarClient(t)
	visit(t, client, app.url)
	if got := visit(t, client, app.url); got != "2" {
		t.Fatalf("visit count = %s, want 2", got)
	}
	if !strings.Contains(app.log.String(), "session store: Redis") {
		t.Fatalf("the log does not name the store:\n%s", app.log)
	}
	checkStoreFeatures(t, app.url)
}

func TestRunOnDatabaseURL(t *testing.T) {
	url := testenv.PostgresURL(t)
	app := startRun(t, t.TempDir(), map[string]string{"DATABASE_URL": url}, "-postgres-prefix", pgPrefix(t))
	client := newJarClient(t)
	visit(t, client, app.url)
	if got := visit(t, client, app.url); got != "2" {
		t.Fatalf("visit count = %s, want 2", got)
	}
	if !strings.Contains(app.log.String(), "session store: PostgreSQL") {
		t.Fatalf("the log does not name the store:\n%s", app.log)
	}
	checkStoreFeatures(t, app.url)
}

// pgPrefix returns a table prefix for the test that no other run uses.
func pgPrefix(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "koa_" + hex.EncodeToString(b[:]) + "_"
}

// checkStoreFeatures exercises, through the running app at base, what the
// example relies on each store for: the cart's cap under concurrent posts
// (PushLast), a flash message shown once (Take), and the user index (two
// logins of one user listed, the other logged out).
func checkStoreFeatures(t *testing.T, base string) {
	t.Helper()
	newVisitor := func(ua string) *visitor {
		c := newJarClient(t)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &visitor{t: t, base: strings.TrimSuffix(base, "/"), client: c, ua: ua}
	}
	v := newVisitor(firefoxWindows)
	v.home()
	const posts = maxCartItems + 6
	raceCart(t, v, posts)
	got, _ := v.apiSession()
	if cart, _ := got["cart"].([]any); len(cart) != maxCartItems || got["cartCount"] != float64(posts) {
		t.Fatalf("after %d concurrent cart posts: %d items, cartCount %v; want %d and %d", posts, len(cart), got["cartCount"], maxCartItems, posts)
	}

	v.submit("/message", url.Values{"message": {"hi"}})
	v.home()
	if got := v.text("flash"); got != "Message saved." {
		t.Fatalf("#flash = %q, want Message saved.", got)
	}
	v.home()
	if strings.Contains(v.page, `id="flash"`) {
		t.Fatalf("the flash message is shown twice")
	}

	other := newVisitor(chromeLinux)
	v.submit("/login", url.Values{"user": {"ada"}})
	other.submit("/login", url.Values{"user": {"ada"}})
	v.home()
	if rows := v.sessions(); len(rows) != 2 || rows[0] != (listed{"Firefox on Windows", true}) || rows[1] != (listed{"Chrome on Linux", false}) {
		t.Fatalf("two logins of ada list %+v", rows)
	}
	v.submit("/sessions/logout-others", url.Values{})
	v.home()
	if rows := v.sessions(); len(rows) != 1 || !rows[0].current {
		t.Fatalf("after logging out the other session: %+v", rows)
	}
	other.home()
	if got := other.text("account"); got != "Not logged in." || other.text("views") != "1" {
		t.Fatalf("the logged-out browser shows #account %q, #views %q", got, other.text("views"))
	}
}

func TestRunRefusesBadSettings(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"short key", map[string]string{"SESSION_KEYS": "too-short"}, nil, "at least 32"},
		{"short second key", map[string]string{"SESSION_KEYS": strings.Repeat("k", 32) + ",short"}, nil, "signing key 2"},
		{"two stores", map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1/", "REDIS_URL": "redis://127.0.0.1:1/0"}, nil, "unset all but one"},
		{"three stores", map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1/", "REDIS_URL": "redis://127.0.0.1:1/0", "DATABASE_URL": "postgres://127.0.0.1:1/x"}, nil, "MONGODB_URI and REDIS_URL and DATABASE_URL"},
		{"bad database url", map[string]string{"DATABASE_URL": "postgres://a b@/%"}, nil, "DATABASE_URL"},
		{"unreachable database", map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/x?connect_timeout=2"}, nil, "postgres"},
		{"bad postgres prefix", map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/x"}, []string{"-postgres-prefix", "a-b"}, "prefix"},
		{"bad mongodb uri", map[string]string{"MONGODB_URI": "http://nope"}, nil, "MONGODB_URI"},
		{"bad redis url", map[string]string{"REDIS_URL": "http://nope"}, nil, "REDIS_URL"},
		{"bad max-age", nil, []string{"-max-age", "-1h"}, "max-age"},
		{"brace in prefix", nil, []string{"-redis-prefix", "s{x}:"}, "hash tag"},
		{"stray argument", nil, []string{"extra"}, "unexpected arguments"},
		{"bad address", nil, []string{"-addr", "127.0.0.1:99999"}, "listen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var log logBuffer
			args := append([]string{"-data", t.TempDir(), "-addr", "127.0.0.1:0"}, c.args...)
			getenv := func(k string) string { return c.env[k] }
			err := run(context.Background(), args, getenv, &log, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("run = %v, want an error saying %q\n%s", err, c.want, &log)
			}
		})
	}
}

// TestConcurrentRequestsLoseNothing sends cart and message posts for one
// session at the same time, on the embedded FerretDB: each request changes
// only its own keys, so none undoes another (the lost update that
// read-modify-write sessions suffer).
func TestConcurrentRequestsLoseNothing(t *testing.T) {
	app := startRun(t, t.TempDir(), nil)
	v := &visitor{t: t, base: strings.TrimSuffix(app.url, "/"), client: newJarClient(t)}
	v.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	v.home()
	token := v.token()
	const each = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	post := func(path, field, value string) {
		defer wg.Done()
		form := url.Values{"_csrf": {token}, field: {value}}
		res, err := v.client.PostForm(v.base+path, form)
		if err != nil {
			errs <- err
			return
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			errs <- fmt.Errorf("POST %s = %d", path, res.StatusCode)
		}
	}
	for i := range each {
		wg.Add(2)
		go post("/cart", "item", fmt.Sprint("item ", i))
		go post("/message", "message", fmt.Sprint("message ", i))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, _ := v.apiSession()
	cart, _ := got["cart"].([]any)
	if len(cart) != each || got["cartCount"] != float64(each) || got["message"] == nil || got["views"] != 1.0 {
		t.Fatalf("after %d concurrent cart posts and %d message posts: %v", each, each, got)
	}
}
