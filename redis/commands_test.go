package redis

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/session"
)

// commandCounter counts the commands a Redis server of its own ran, as
// INFO commandstats reports them: the commands that scripts call are
// counted too, under their own names, next to the EVALSHA that ran them.
type commandCounter struct {
	admin *goredis.Client // the connection that asks INFO
}

// newCommandCounter starts a Redis server for t alone (so that no other
// test's commands are counted) and returns a Store on it and its counter.
func newCommandCounter(t *testing.T, opts ...Option) (*Store, *commandCounter) {
	t.Helper()
	srv := testenv.RestartableRedis(t)
	c := clientOf(t, srv.URL())
	// Open the Store's connection before counting (go-redis greets a new
	// connection with HELLO and CLIENT SETINFO), and load the scripts (a
	// NOSCRIPT costs an EVAL more, once).
	loadScripts(t, c)
	return NewStore(c, opts...), &commandCounter{admin: clientOf(t, srv.URL())}
}

// counts returns the calls of every command so far.
func (cc *commandCounter) counts(t *testing.T) map[string]int {
	t.Helper()
	info, err := cc.admin.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.Atoi(calls)
		if err != nil {
			t.Fatalf("commandstats line %q: %v", line, err)
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

// measure runs fn and returns the commands it made the server run, by
// name, and their total (INFO, which the counter itself sends, left out).
func (cc *commandCounter) measure(t *testing.T, fn func()) (map[string]int, int) {
	t.Helper()
	before := cc.counts(t)
	fn()
	after := cc.counts(t)
	delta := map[string]int{}
	total := 0
	for name, n := range after {
		if name == "info" || n == before[name] {
			continue
		}
		delta[name] = n - before[name]
		total += n - before[name]
	}
	return delta, total
}

func formatCounts(m map[string]int) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(name + "=" + strconv.Itoa(m[name]) + " ")
	}
	return strings.TrimSpace(b.String())
}

// TestCommandsPerCall counts, with INFO commandstats, the Redis commands
// each store call of a request costs (the commands scripts call
// included), so that a change that adds any fails here.
func TestCommandsPerCall(t *testing.T) {
	s, cc := newCommandCounter(t)
	m := newMeta(t)
	cmds := []session.Command{set("user", "alice"), set("n", int64(0)), set("blob", strings.Repeat("x", 1000)), set("big", strings.Repeat("x", 64<<10))}
	var err error
	got, total := cc.measure(t, func() { _, err = s.Create(ctx, m, session.Update{Commands: cmds}) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Create of 4 keys: %d commands: %s", total, formatCounts(got))
	if total != 5 { // EVALSHA, HGET, DEL, HSET, PEXPIREAT
		t.Errorf("Create of 4 keys: %d commands (%s), want 5", total, formatCounts(got))
	}
	exp := func() time.Time { return time.Now().Add(time.Hour) }
	calls := []struct {
		name string
		fn   func() error
		want int
	}{
		{"Apply{Fetch: [user], Set seen}", func() error {
			_, err := s.Apply(ctx, m.ID, session.Update{Commands: []session.Command{set("seen", int64(1))}, Expires: exp(), Fetch: []string{"user"}})
			return err
		}, 4}, // EVALSHA, and in the script HMGET, HSET, PEXPIREAT
		{"Load(user)", func() error {
			_, err := s.Load(ctx, m.ID, []string{"user"})
			return err
		}, 1}, // HMGET
		{"Apply{Set seen}", func() error {
			_, err := s.Apply(ctx, m.ID, session.Update{Commands: []session.Command{set("seen", int64(2))}, Expires: exp()})
			return err
		}, 4}, // EVALSHA, HMGET, HSET, PEXPIREAT
		{"Apply{Inc n}", func() error {
			_, err := s.Apply(ctx, m.ID, session.Update{Commands: []session.Command{inc("n", int64(1))}, Expires: exp()})
			return err
		}, 5}, // EVALSHA, HMGET, HSET ($expires), HINCRBY, PEXPIREAT
		{"Apply{Fetch: [big], Set seen}", func() error {
			_, err := s.Apply(ctx, m.ID, session.Update{Commands: []session.Command{set("seen", int64(3))}, Expires: exp(), Fetch: []string{"big"}})
			return err
		}, 7}, // MULTI, EVALSHA, HMGET, HSET, PEXPIREAT, HMGET (big), EXEC
	}
	for _, c := range calls {
		var err error
		got, total := cc.measure(t, func() { err = c.fn() })
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Logf("%s: %d commands: %s", c.name, total, formatCounts(got))
		if total != c.want {
			t.Errorf("%s: %d commands (%s), want %d", c.name, total, formatCounts(got), c.want)
		}
	}
}
