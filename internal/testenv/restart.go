package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Restartable is a server child of the test binary that a test may stop,
// by a signal of its choice, and start again on the same port with the same
// data directory: the tool of outage tests. Each Restartable is its own
// server, not shared with other tests. Its methods are safe for concurrent
// use. RestartableRedis, RestartablePostgres and RestartableFerret make one.
type Restartable struct {
	name  string
	addr  string
	url   string
	dir   string
	spawn func() (*child, error) // starts the server and waits until it serves

	mu     sync.Mutex
	c      *child // nil while stopped
	last   *child // the latest process, running or not
	starts int
}

// Output returns what the latest server process printed (standard output
// and error), for failure messages and for tests of what the server said,
// such as PostgreSQL's crash recovery.
func (s *Restartable) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return ""
	}
	return s.last.stderr.String()
}

// Addr returns the server's address, "127.0.0.1:PORT"; it does not change
// across restarts.
func (s *Restartable) Addr() string { return s.addr }

// URL returns the URL a client of the server connects with, such as
// "redis://127.0.0.1:PORT/0"; it does not change across restarts.
func (s *Restartable) URL() string { return s.url }

// Dir returns the server's data directory, kept across restarts and
// removed when the test ends.
func (s *Restartable) Dir() string { return s.dir }

// Running reports whether the server runs (Start was the last to succeed
// of Start and Stop).
func (s *Restartable) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c != nil
}

// Starts returns how many times the server has started, the first start
// included.
func (s *Restartable) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// Stop sends sig to the server's process (os.Kill: SIGKILL, a crash;
// syscall.SIGQUIT: PostgreSQL's immediate shutdown; syscall.SIGTERM: an
// orderly stop) and returns when it has exited, killing it if it has not
// within 30 seconds. The port is free when Stop returns. Stopping a stopped
// server does nothing.
func (s *Restartable) Stop(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil
	}
	c := s.c
	s.c = nil
	if err := c.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", s.name, err)
	}
	select {
	case <-c.waited:
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.waited
		return fmt.Errorf("stop %s: still running %v after %v, killed; its output:\n%s", s.name, stopTimeout, sig, c.stderr.String())
	}
	return waitPortFree(s.addr)
}

// Start starts the server again on the same port with the same data
// directory and returns when it serves requests (for Redis: answers PING,
// after loading its append-only file; for PostgreSQL: accepts connections,
// after crash recovery). Starting a running server does nothing.
func (s *Restartable) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		return nil
	}
	// The port may be held for a moment by a connection that a client is
	// closing; try for a while before giving up.
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := s.spawn()
		if err == nil {
			s.c, s.last = c, c
			s.starts++
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("start %s on %s: %w", s.name, s.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopForGood is the Cleanup of a Restartable: an orderly stop, then the
// data directory goes.
func (s *Restartable) stopForGood(sig os.Signal) {
	_ = s.Stop(sig)
	_ = os.RemoveAll(s.dir)
}

// newRestartable starts a server with spawn on addr and stops it (by
// cleanupSig) and removes dir when tb ends.
func newRestartable(tb testing.TB, name, addr, url, dir string, cleanupSig os.Signal, spawn func() (*child, error)) *Restartable {
	tb.Helper()
	s := &Restartable{name: name, addr: addr, url: url, dir: dir, spawn: spawn}
	tb.Cleanup(func() { s.stopForGood(cleanupSig) })
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	return s
}

// RestartableRedis starts a redis-server of its own for tb on a free
// loopback port, durable: appendonly yes, appendfsync always, so that
// every write it acknowledged survives Stop(os.Kill) and the next Start.
// The server stops and its directory goes when tb ends.
//
// If redis-server is not in PATH then RestartableRedis skips tb, or fails
// it when CI is "true".
func RestartableRedis(tb testing.TB) *Restartable {
	tb.Helper()
	bin := lookTool(tb, redisBinary, "redis-server")
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "",
		"--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
	}
	return newRestartable(tb, redisBinary, addr, "redis://"+addr+"/0", dir, syscall.SIGTERM, func() (*child, error) {
		c, err := spawnChild(redisBinary, bin, args, nil)
		if err != nil {
			return nil, err
		}
		if err := waitRedis(addr, c.waited); err != nil {
			_ = c.cmd.Process.Kill()
			<-c.waited
			return nil, fmt.Errorf("%w; its output:\n%s", err, c.stderr.String())
		}
		return c, nil
	})
}

// RestartablePostgres starts a PostgreSQL server of its own for tb: a new
// cluster made by initdb (user postgres, trust authentication, TCP on
// loopback only) from the newest PostgreSQL in /usr/lib/postgresql, on a
// free loopback port. Commits are synchronous (synchronous_commit on), so
// a commit the server acknowledged is in the WAL; fsync is off, which
// loses nothing when only the server process dies. Stop(syscall.SIGQUIT)
// is an immediate shutdown, like a crash: the next Start runs crash
// recovery (see Output). Its URL is
// "postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable". The server
// stops (fast shutdown) and its directory goes when tb ends. When the test
// runs as root the server runs as the system user postgres, since
// PostgreSQL refuses to run as root, in a directory under /tmp.
//
// If PostgreSQL is not installed then RestartablePostgres skips tb, or
// fails it when CI is "true".
func RestartablePostgres(tb testing.TB) *Restartable {
	tb.Helper()
	binDir := postgresBin(tb)
	cred, err := postgresCredential()
	if err != nil {
		tb.Fatal(err)
	}
	base := ""
	if cred != nil {
		base = "/tmp" // the postgres user must reach it; $TMPDIR may lie under root's home
	}
	root, err := os.MkdirTemp(base, "testenv-pg-restart-")
	if err != nil {
		tb.Fatal(err)
	}
	if cred != nil {
		if err := os.Chown(root, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = os.RemoveAll(root)
			tb.Fatal(err)
		}
	}
	data := filepath.Join(root, "data")
	initdb := exec.Command(filepath.Join(binDir, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = root
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	killWithParent(initdb.SysProcAttr)
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(root)
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		_ = os.RemoveAll(root)
		tb.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	url := "postgres://postgres@" + addr + "/postgres?sslmode=disable"
	args := []string{"-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "synchronous_commit=on", "-c", "max_connections=100",
		"-c", "log_min_messages=log", "-c", "logging_collector=off"}
	return newRestartable(tb, "postgres", addr, url, root, syscall.SIGINT, func() (*child, error) {
		c, err := spawnChild("postgres", filepath.Join(binDir, "postgres"), args, cred)
		if err != nil {
			return nil, err
		}
		if err := waitPostgres(url, c.waited); err != nil {
			_ = c.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-c.waited:
			case <-time.After(stopTimeout):
				_ = c.cmd.Process.Kill()
				<-c.waited
			}
			return nil, fmt.Errorf("%w; its output:\n%s", err, c.stderr.String())
		}
		return c, nil
	})
}

// RestartableFerret starts an embedded FerretDB (devtools/cmd/mongodev,
// built as MongoURI does) of its own for tb on a free loopback port, its
// SQLite files in a directory kept across restarts. Stop(syscall.SIGTERM)
// stops it in order, Stop(os.Kill) kills it. Its URL is
// "mongodb://127.0.0.1:PORT/". It stops and its directory goes when tb
// ends. If it cannot be built then RestartableFerret fails tb.
func RestartableFerret(tb testing.TB) *Restartable {
	tb.Helper()
	bin, err := buildTool("devtools", "./cmd/mongodev", "mongodev")
	if err != nil {
		tb.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"-addr", addr, "-dir", dir}
	return newRestartable(tb, "mongodev", addr, "mongodb://"+addr+"/", dir, syscall.SIGTERM, func() (*child, error) {
		c, err := spawnChild("mongodev", bin, args, nil)
		if err != nil {
			return nil, err
		}
		if err := waitListening(addr, c.waited); err != nil {
			_ = c.cmd.Process.Kill()
			<-c.waited
			return nil, fmt.Errorf("%w; its output:\n%s", err, c.stderr.String())
		}
		return c, nil
	})
}

// spawnChild starts bin with args (as the user of cred, if not nil), its
// standard output and error kept together for error messages, its
// standard input an open pipe (mongodev exits when it closes, as when the
// test binary dies), killed with the test binary on Linux.
func spawnChild(name, bin string, args []string, cred *syscall.Credential) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if cred != nil {
		cmd.Dir = "/" // the test's directory may be closed to that user
	}
	killWithParent(cmd.SysProcAttr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, stderr: &lockedBuffer{}, waited: make(chan struct{})}
	cmd.Stdout = c.stderr
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = cmd.Wait()
		_ = stdin.Close()
		close(c.waited)
	}()
	return c, nil
}

// waitListening polls addr until it accepts a TCP connection, the process
// exits or startTimeout passes.
func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v: %w", addr, startTimeout, err)
		}
	}
}

// waitPortFree waits until nothing accepts connections on addr.
func waitPortFree(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil
		}
		_ = conn.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still accepts connections after its server exited", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The load of outage tests. An app under test serves two routes on one
// session counter "n":
//
//	POST /inc          add 1 to n, await it, answer 200 with n's new value
//	POST /inc?queue=1  queue the same increment, answer 200 with "queued"
//	                   (the middleware sends it before the headers)
//	GET  /n            answer 200 with n's stored value
//
// and answers every failure with the status of middleware.StatusOf and a
// header X-Session-Error holding the error's text.

// SessionErrorHeader is the response header in which an app under load
// (see Outage) names the error of a failed request.
const SessionErrorHeader = "X-Session-Error"

// LoadRecord is one request of a Load.
type LoadRecord struct {
	Client     int
	Queued     bool // POST /inc?queue=1
	Start, End time.Time
	Code       int    // the status; -1 if the handler panicked
	Value      int64  // n's value in an awaited 200 answer
	Err        string // the SessionErrorHeader, or the panic
}

// Took returns how long the request took.
func (r LoadRecord) Took() time.Duration { return r.End.Sub(r.Start) }

// Load runs clients that POST increments to an app (see SessionErrorHeader),
// each on a session of its own, until Stop.
type Load struct {
	h      http.Handler
	cookie string
	pause  time.Duration
	stop   chan struct{}
	wg     sync.WaitGroup

	mu         sync.Mutex
	records    []LoadRecord
	cookies    []string // "name=value" per client
	acked      []int64  // 200 answers to increments per client
	last       []int64  // the latest value in an awaited 200 answer per client
	violations []string
}

// StartLoad starts clients goroutines (8 if clients is 0) that POST
// increments to h, each client with its own session and a pause between
// its requests, until Stop; cookie is the session cookie's name. Each
// client's first increment runs before StartLoad returns and must succeed
// with the value 1; else StartLoad fails tb. Stop runs at tb's end if not
// before.
func StartLoad(tb testing.TB, h http.Handler, cookie string, clients int, pause time.Duration) *Load {
	tb.Helper()
	if clients <= 0 {
		clients = 8
	}
	l := &Load{h: h, cookie: cookie, pause: pause, stop: make(chan struct{}),
		cookies: make([]string, clients), acked: make([]int64, clients), last: make([]int64, clients)}
	for i := range clients {
		rec := l.do(i, false)
		if rec.Code != http.StatusOK || rec.Value != 1 || l.cookies[i] == "" {
			tb.Fatalf("load client %d: first increment answered %d, value %d (%s), cookie %q; want 200, 1 and a cookie", i, rec.Code, rec.Value, rec.Err, l.cookies[i])
		}
	}
	for i := range clients {
		l.wg.Add(1)
		go l.run(i)
	}
	tb.Cleanup(func() { l.Stop() })
	return l
}

func (l *Load) run(i int) {
	defer l.wg.Done()
	for n := 1; ; n++ {
		select {
		case <-l.stop:
			return
		default:
		}
		l.do(i, n%2 == 1)
		if l.pause > 0 {
			select {
			case <-l.stop:
				return
			case <-time.After(l.pause):
			}
		}
	}
}

// do sends one increment of client i and records it.
func (l *Load) do(i int, queued bool) LoadRecord {
	path := "/inc"
	if queued {
		path = "/inc?queue=1"
	}
	code, body, hdr, start, end, panicked := l.serve(i, http.MethodPost, path)
	rec := LoadRecord{Client: i, Queued: queued, Start: start, End: end, Code: code, Err: hdr.Get(SessionErrorHeader)}
	if panicked != "" {
		rec.Code, rec.Err = -1, panicked
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if rec.Code == http.StatusOK {
		l.acked[i]++
		if !queued {
			v, err := strconv.ParseInt(strings.TrimSpace(body), 10, 64)
			rec.Value = v
			switch {
			case err != nil:
				l.violate("client %d: 200 answer %q is not a number", i, body)
			case v <= l.last[i]:
				l.violate("client %d: counter went from %d to %d: an acknowledged increment was lost, or a new session was made silently", i, l.last[i], v)
			}
			l.last[i] = max(l.last[i], v)
		}
	}
	for _, c := range (&http.Response{Header: hdr}).Cookies() {
		if c.Name != l.cookie {
			continue
		}
		kv := c.Name + "=" + c.Value
		switch {
		case c.MaxAge < 0:
			l.violate("client %d: the session cookie was cleared (answer %d)", i, rec.Code)
		case l.cookies[i] == "":
			l.cookies[i] = kv
		case l.cookies[i] != kv:
			l.violate("client %d: a new session cookie in a %d answer: the session was replaced", i, rec.Code)
		}
	}
	l.records = append(l.records, rec)
	return rec
}

// violate records a broken rule; callers hold l.mu. It keeps the first 20.
func (l *Load) violate(format string, args ...any) {
	if len(l.violations) < 20 {
		l.violations = append(l.violations, fmt.Sprintf(format, args...))
	}
}

// serve runs one request of client i through the app.
func (l *Load) serve(i int, method, path string) (code int, body string, hdr http.Header, start, end time.Time, panicked string) {
	req := httptest.NewRequest(method, path, nil)
	l.mu.Lock()
	if c := l.cookies[i]; c != "" {
		req.Header.Set("Cookie", c)
	}
	l.mu.Unlock()
	w := httptest.NewRecorder()
	start = time.Now()
	func() {
		defer func() {
			if p := recover(); p != nil {
				panicked = fmt.Sprintf("panic: %v", p)
			}
		}()
		l.h.ServeHTTP(w, req)
	}()
	end = time.Now()
	return w.Code, w.Body.String(), w.Result().Header, start, end, panicked
}

// Stored asks the app for client i's stored counter (GET /n).
func (l *Load) Stored(i int) (int64, error) {
	code, body, hdr, _, _, panicked := l.serve(i, http.MethodGet, "/n")
	if panicked != "" {
		return 0, errors.New(panicked)
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET /n answered %d (%s)", code, hdr.Get(SessionErrorHeader))
	}
	v, err := strconv.ParseInt(strings.TrimSpace(body), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GET /n answered %q", body)
	}
	return v, nil
}

// Stop stops the clients and waits for their requests to end. It is safe
// to call more than once.
func (l *Load) Stop() {
	l.mu.Lock()
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// Records returns the requests so far, in the order they ended.
func (l *Load) Records() []LoadRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LoadRecord(nil), l.records...)
}

// Clients returns the number of clients.
func (l *Load) Clients() int { return len(l.acked) }

// Acked returns client i's increments answered 200 so far, the first
// included, and the latest value an awaited one answered.
func (l *Load) Acked(i int) (count, last int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked[i], l.last[i]
}

// Violations returns the broken rules seen so far: a counter that went
// back, a 200 answer that is not a number, a session cookie cleared or
// replaced.
func (l *Load) Violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.violations...)
}

// OutageOptions configure Outage.
type OutageOptions struct {
	Clients int           // load clients; default 8
	Cookie  string        // the session cookie's name; default "sid"
	Pause   time.Duration // between a client's requests; default 2ms
	Timeout time.Duration // the app's Options.Timeout; required
	// Slack is how much longer than Timeout a failed request may take
	// during the outage (scheduling on a busy machine); default 1s.
	Slack time.Duration
	// Warm, Down and RecoverWithin: load before the outage (default 1s),
	// the outage's length (default 2s), and how soon after Up every client
	// must be served again (default 15s).
	Warm, Down, RecoverWithin time.Duration
	// StartOutage starts the outage (stop the server, add latency...),
	// EndOutage ends it and returns when the server is back (for a restart:
	// when it accepts connections). Both are required.
	StartOutage, EndOutage func() error
}

// OutageReport is what Outage measured.
type OutageReport struct {
	Requests, OK, Failed int           // all requests of the load
	During               int           // requests that began within the outage, Timeout+Slack before its end
	MaxDuring            time.Duration // the slowest of them
	Recovery             time.Duration // from the end of EndOutage until every client had a 200 again
	Acked, Stored        int64         // all clients' acknowledged increments, and their stored counters' sum
}

func (r OutageReport) String() string {
	return fmt.Sprintf("%d requests (%d ok, %d failed), %d during the outage (slowest %v), all clients served again %v after it, %d increments acknowledged, %d stored",
		r.Requests, r.OK, r.Failed, r.During, r.MaxDuring.Round(time.Millisecond), r.Recovery.Round(time.Millisecond), r.Acked, r.Stored)
}

// Outage runs an outage under load and checks what an app must do through
// it (see SessionErrorHeader for the app's routes). It starts the load,
// waits Warm, runs StartOutage, waits Down, runs EndOutage, waits until
// every client has been served again, then stops the load. It fails tb
// unless:
//
//   - no handler panicked and every answer was 200 or 503, every 503 with a
//     SessionErrorHeader (the store's errors wrap session.ErrUnavailable);
//   - every request that began after StartOutage returned, and at least
//     Timeout+Slack before EndOutage began, answered 503 within
//     Timeout+Slack, and there was at least one per client;
//   - every client was served (200) within RecoverWithin of EndOutage's
//     return, with no restart of the app;
//   - no client's counter went back and no session was replaced;
//   - each client's stored counter, read after the load, is at least its
//     latest acknowledged value and its count of acknowledged increments.
//
// It logs the figures and returns them.
func Outage(tb testing.TB, h http.Handler, o OutageOptions) OutageReport {
	tb.Helper()
	if o.Timeout <= 0 || o.StartOutage == nil || o.EndOutage == nil {
		tb.Fatal("Outage: Timeout, StartOutage and EndOutage are required")
	}
	if o.Cookie == "" {
		o.Cookie = "sid"
	}
	if o.Pause == 0 {
		o.Pause = 2 * time.Millisecond
	}
	if o.Slack == 0 {
		o.Slack = time.Second
	}
	if o.Warm == 0 {
		o.Warm = time.Second
	}
	if o.Down == 0 {
		o.Down = 2 * time.Second
	}
	if o.RecoverWithin == 0 {
		o.RecoverWithin = 15 * time.Second
	}
	l := StartLoad(tb, h, o.Cookie, o.Clients, o.Pause)
	time.Sleep(o.Warm)
	if err := o.StartOutage(); err != nil {
		l.Stop()
		tb.Fatalf("start the outage: %v", err)
	}
	down := time.Now()
	time.Sleep(o.Down)
	up := time.Now()
	if err := o.EndOutage(); err != nil {
		l.Stop()
		tb.Fatalf("end the outage: %v", err)
	}
	back := time.Now()
	served := func() (time.Time, bool) {
		last := back
		seen := make([]bool, l.Clients())
		for _, r := range l.Records() {
			if r.Code == http.StatusOK && r.Start.After(back) && !seen[r.Client] {
				seen[r.Client] = true
				last = maxTime(last, r.End)
			}
		}
		for _, s := range seen {
			if !s {
				return time.Time{}, false
			}
		}
		return last, true
	}
	var all time.Time
	for {
		if t, ok := served(); ok {
			all = t
			break
		}
		if time.Since(back) > o.RecoverWithin {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	l.Stop()

	var rep OutageReport
	bad := map[string]int{}
	var badSample []string
	var notFailed, slow int
	for _, r := range l.Records() {
		rep.Requests++
		if r.Code == http.StatusOK {
			rep.OK++
		} else {
			rep.Failed++
		}
		if r.Code != http.StatusOK && (r.Code != http.StatusServiceUnavailable || r.Err == "") {
			key := fmt.Sprintf("%d", r.Code)
			if bad[key]++; bad[key] <= 3 {
				badSample = append(badSample, fmt.Sprintf("%d %q", r.Code, r.Err))
			}
		}
		if !r.Start.Before(down) && !r.Start.After(up.Add(-o.Timeout-o.Slack)) {
			rep.During++
			rep.MaxDuring = max(rep.MaxDuring, r.Took())
			switch {
			case r.Code != http.StatusServiceUnavailable:
				if notFailed++; notFailed <= 3 {
					tb.Errorf("during the outage: client %d answered %d (%s), want 503", r.Client, r.Code, r.Err)
				}
			case r.Took() > o.Timeout+o.Slack:
				if slow++; slow <= 3 {
					tb.Errorf("during the outage: a 503 took %v, more than Timeout %v (+%v slack)", r.Took(), o.Timeout, o.Slack)
				}
			}
		}
	}
	if notFailed > 3 || slow > 3 {
		tb.Errorf("during the outage: %d answers not 503, %d answers slower than %v in all", notFailed, slow, o.Timeout+o.Slack)
	}
	if len(bad) > 0 {
		tb.Errorf("answers other than 200 and 503 with %s (a store error not wrapping session.ErrUnavailable, or a panic): %v; for example %s", SessionErrorHeader, bad, strings.Join(badSample, "; "))
	}
	if rep.During < l.Clients() {
		tb.Errorf("only %d requests began within the %v outage (%v before its end), want at least one per client (%d): the test saw nothing", rep.During, o.Down, o.Timeout+o.Slack, l.Clients())
	}
	if all.IsZero() {
		tb.Errorf("not every client was served again within %v after the server came back", o.RecoverWithin)
	} else {
		rep.Recovery = all.Sub(back)
	}
	for _, v := range l.Violations() {
		tb.Error(v)
	}
	for i := range l.Clients() {
		count, last := l.Acked(i)
		rep.Acked += count
		stored, err := l.Stored(i)
		if err != nil {
			tb.Errorf("client %d: read the stored counter after the outage: %v", i, err)
			continue
		}
		rep.Stored += stored
		if stored < last {
			tb.Errorf("client %d: stored counter %d < %d, the latest acknowledged value: an acknowledged increment was lost", i, stored, last)
		}
		if stored < count {
			tb.Errorf("client %d: stored counter %d < %d acknowledged increments: an acknowledged increment was lost", i, stored, count)
		}
	}
	tb.Logf("outage: %v", rep)
	return rep
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
