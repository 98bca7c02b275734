package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/devtools/ferretdb"
)

// environment describes the machine, the versions and the servers of a run.
type environment struct {
	Mode    string
	CPUs    int
	CPU     string
	Memory  string
	Go      string
	Ferret  string
	Redis   string // "" when redis-server is missing
	PG      string // "" when PostgreSQL is missing
	Deps    []string
	Notes   []string
	Started time.Time
	Took    time.Duration
	LoadAt  [2]string // /proc/loadavg at the start and at the end
	Commit  string    // the repository's commit, as git describes it
}

func newEnvironment() environment {
	return environment{
		CPUs:    runtime.NumCPU(),
		CPU:     cpuModel(),
		Memory:  memTotal(),
		Go:      runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		Ferret:  "FerretDB " + ferretdb.Version + " (embedded, SQLite backend)",
		Deps:    depVersions(),
		Started: time.Now(),
		LoadAt:  [2]string{loadAvg()},
		Commit:  repoCommit(),
	}
}

// repoCommit returns the commit of the repository the benchmark runs in
// (the library comes from the parent directory), marked when the working
// tree has changes, or "unknown" without git.
func repoCommit() string {
	out, err := exec.Command("git", "-C", "..", "describe", "--always", "--dirty=+uncommitted changes").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// loadAvg returns the 1, 5 and 15 minute load averages, which say how busy
// the machine was with other work.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// lines returns the environment as "name: value" lines.
func (e environment) lines() []string {
	redis := "not run: " + errNoRedis.Error()
	if e.Redis != "" {
		redis = "redis-server " + e.Redis + " (child process, --save \"\" --appendonly no)"
	}
	pg := "not run: " + errNoPostgres.Error()
	if e.PG != "" {
		pg = "PostgreSQL " + e.PG + " (child process: initdb + postgres, default settings but the port and socket directory)"
	}
	out := []string{
		"mode: " + e.Mode,
		fmt.Sprintf("machine: %d CPUs (nproc), %s, memory %s", e.CPUs, e.CPU, e.Memory),
		"go: " + e.Go,
		"MongoDB wire: " + e.Ferret,
		"Redis: " + redis,
		"PostgreSQL: " + pg,
		"SCS stores: redisstore (redigo) on Redis and pgxstore (pgx v5) on PostgreSQL, SCS's own, from the module proxy; on the MongoDB wire a stand-in (bench/scsstores.go), because SCS's mongodbstore is not on the module proxy",
		"libraries: " + strings.Join(e.Deps, ", "),
		"repository: " + e.Commit,
	}
	load := "load average (1, 5, 15 min) at start: " + e.LoadAt[0]
	if e.LoadAt[1] != "" {
		load += "; at end: " + e.LoadAt[1]
	}
	out = append(out, load)
	return append(out, e.Notes...)
}

func (e environment) write(w io.Writer) {
	fmt.Fprintln(w, "atomicsession benchmarks —", e.Started.UTC().Format(time.RFC3339))
	for _, l := range e.lines() {
		fmt.Fprintln(w, "  "+l)
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown"
}

// depVersions returns the versions of the libraries the binary was built
// with.
func depVersions() []string {
	want := []string{"github.com/alexedwards/scs/v2", "github.com/gorilla/sessions", "github.com/alexedwards/scs/redisstore", "github.com/alexedwards/scs/pgxstore",
		"github.com/redis/go-redis/v9", "github.com/gomodule/redigo", "github.com/jackc/pgx/v5", "go.mongodb.org/mongo-driver/v2"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	var out []string
	for _, w := range want {
		for _, d := range info.Deps {
			if d.Path == w {
				out = append(out, strings.TrimPrefix(strings.TrimPrefix(w, "github.com/"), "go.mongodb.org/")+" "+d.Version)
			}
		}
	}
	return append(out, "atomicsession (this repository)")
}

// startBackends starts redis-server and PostgreSQL, when they are
// installed, and FerretDB, and returns their backends in that order; want
// says which of them to start, by key ("redis", "postgres", "mongo"). stop
// stops them.
func startBackends(ctx context.Context, stderr io.Writer, want func(key string) bool) (environment, []backend, func(), error) {
	env := newEnvironment()
	var backends []backend
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	var rs *redisServer
	err := errSkipped
	if want("redis") {
		rs, err = startRedis()
	}
	switch {
	case errors.Is(err, errSkipped):
	case errors.Is(err, errNoRedis):
		fmt.Fprintln(stderr, "bench: "+err.Error()+": skipping the Redis rows")
	case err != nil:
		return env, nil, nil, err
	default:
		stops = append(stops, rs.Close)
		env.Redis = rs.Version
		backends = append(backends, redisBackend(rs.Addr, "Redis "+rs.Version))
	}
	var ps *pgServer
	err = errSkipped
	if want("postgres") {
		ps, err = startPostgres(ctx)
	}
	switch {
	case errors.Is(err, errSkipped):
	case errors.Is(err, errNoPostgres):
		fmt.Fprintln(stderr, "bench: "+err.Error()+": skipping the PostgreSQL rows")
	case err != nil:
		stop()
		return env, nil, nil, err
	default:
		stops = append(stops, ps.Close)
		admin, err := pgxpool.New(ctx, ps.URL())
		if err != nil {
			stop()
			return env, nil, nil, fmt.Errorf("postgres admin pool: %w", err)
		}
		stops = append(stops, admin.Close)
		env.PG = ps.Version
		backends = append(backends, pgBackend(admin, ps.URL(), "PostgreSQL "+shortVersion(ps.Version)))
	}
	if !want("mongo") {
		return env, backends, stop, nil
	}
	fs, err := startFerret(ctx)
	if err != nil {
		stop()
		return env, nil, nil, err
	}
	stops = append(stops, func() {
		if err := fs.Close(); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
		}
	})
	backends = append(backends, mongoBackend(fs.URI(), "FerretDB "+ferretdb.Version))
	env.Notes = append(env.Notes, fmt.Sprintf(
		"note: every client of FerretDB, for both libraries, has maxPoolSize=%d: FerretDB 1.x applies update operators as read-modify-write without a lock across connections, so concurrent updates of one document from two connections can be lost by the server itself. With one connection the server serializes them.", mongoPoolSize))
	return env, backends, stop, nil
}

// errSkipped is the start-up error of a server that -stores left out.
var errSkipped = errors.New("not selected by -stores")

// shortVersion returns the first word of a server version: "15.14".
func shortVersion(v string) string {
	if i := strings.IndexByte(v, ' '); i > 0 {
		return v[:i]
	}
	return v
}

func svgPath(dir string) string { return filepath.Join(dir, "benchmarks.svg") }
func mdPath(dir string) string  { return filepath.Join(dir, "benchmarks-results.md") }

// writeOutputs writes the chart and the markdown tables into dir.
func writeOutputs(dir string, env environment, h *harness) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	subtitle := fmt.Sprintf("%d CPUs, %s · %s · %s · FerretDB %s · Redis %s · PostgreSQL %s · mode %s",
		env.CPUs, env.Memory, runtime.Version(), strings.Join(env.Deps[:min(2, len(env.Deps))], ", "), ferretdb.Version, orNone(env.Redis), orNone(shortVersion(env.PG)), env.Mode)
	if err := writeFile(svgPath(dir), func(w io.Writer) error {
		return writeSVG(w, "atomicsession vs SCS vs gorilla/sessions vs the raw store", subtitle, chartPanels(h.res, h.cfg))
	}); err != nil {
		return err
	}
	if err := writePage(dir, env, h); err != nil {
		return err
	}
	return writeFile(mdPath(dir), func(w io.Writer) error {
		fmt.Fprintf(w, "<!-- Generated by `cd bench && go run . -out ../docs` on %s. Do not edit: run it again. -->\n\n", env.Started.UTC().Format(time.RFC3339))
		for _, l := range env.lines() {
			fmt.Fprintf(w, "- %s\n", l)
		}
		fmt.Fprintf(w, "- took: %.0f s\n\n", env.Took.Seconds())
		for _, t := range h.tables {
			t.writeMarkdown(w)
		}
		return nil
	})
}

func orNone(s string) string {
	if s == "" {
		return "not run"
	}
	return s
}

func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fn(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
