package redis

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/session"
)

var ctx = context.Background()

func TestValuesRoundTripExactly(t *testing.T) {
	s, _ := newStore(t)
	values := exactValues()
	var cmds []session.Command
	for k, v := range values {
		cmds = append(cmds, set(k, v))
	}
	m := newMeta(t)
	created, err := s.Create(ctx, m, session.Update{Commands: cmds})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	loaded, err := s.Load(ctx, m.ID, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for name, doc := range map[string]session.Doc{"Create": created, "Load": loaded} {
		if !identical(doc.User(), session.Doc(values)) {
			t.Errorf("%s returned %#v, want %#v", name, doc.User(), values)
		}
	}
	// The same values through both paths of Apply: the script (top-level
	// Set) and Go (Set under a dotted path).
	m2 := create(t, s)
	var native, general []session.Command
	for k, v := range values {
		native = append(native, set(k, v))
		general = append(general, set("d."+k, v))
	}
	if _, err := s.Apply(ctx, m2.ID, upd(m2.Expires, native)); err != nil {
		t.Fatalf("Apply native: %v", err)
	}
	after, err := s.Apply(ctx, m2.ID, upd(m2.Expires, general))
	if err != nil {
		t.Fatalf("Apply general: %v", err)
	}
	want := session.Doc(values).Clone()
	want["d"] = map[string]any(session.Doc(values).Clone())
	loaded, err = s.Load(ctx, m2.ID, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !identical(loaded.User(), want) {
		t.Errorf("Load returned %#v, want %#v", loaded.User(), want)
	}
	// Apply returns the touched key only.
	if !identical(after.User(), session.Doc{"d": want["d"]}) {
		t.Errorf("Apply returned %#v, want only d: %#v", after.User(), want["d"])
	}
}

func TestReservedFieldsRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	m := newMeta(t)
	m.Expires = m.Expires.Add(123456 * time.Nanosecond)
	m.UserID, m.Label = "user-1", "a phone"
	doc, err := s.Create(ctx, m, session.Update{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := session.MetaOf(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := m
	want.Expires = m.Expires.Truncate(time.Millisecond)
	want.Created = m.Created.Truncate(time.Millisecond)
	if !got.Expires.Equal(want.Expires) || !got.Created.Equal(want.Created) || got.ID != m.ID ||
		got.MaxAge != m.MaxAge || got.UserID != m.UserID || got.Label != m.Label || got.Expires.Location() != time.UTC {
		t.Errorf("Create returned %+v, want %+v", got, want)
	}
	loaded, err := s.Load(ctx, m.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !identical(map[string]any(loaded), map[string]any(doc)) {
		t.Errorf("Load = %#v, Create returned %#v", loaded, doc)
	}
}

func TestApplySetsExpiryInRedis(t *testing.T) {
	s, c := newStore(t)
	m := create(t, s)
	key := s.Key(m.ID)
	if got := c.PExpireTime(ctx, key).Val(); got != time.Duration(m.Expires.UnixMilli())*time.Millisecond {
		t.Errorf("after Create PEXPIRETIME = %v, want %d ms", got, m.Expires.UnixMilli())
	}
	for name, cmds := range map[string][]session.Command{
		"touch": nil, "native": {set("a", "x")}, "general": {set("b.c", "y")},
	} {
		exp := time.Now().Add(2 * time.Hour).Truncate(time.Millisecond).UTC()
		doc, err := s.Apply(ctx, m.ID, upd(exp, cmds))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := doc[session.FieldExpires]; got != exp {
			t.Errorf("%s: expires = %v, want %v", name, got, exp)
		}
		if got := c.PExpireTime(ctx, key).Val(); got != time.Duration(exp.UnixMilli())*time.Millisecond {
			t.Errorf("%s: PEXPIRETIME = %v, want %d ms", name, got, exp.UnixMilli())
		}
	}
}

// expire makes the stored session id expired without removing the key,
// as if Redis had not got round to it yet.
func expire(t *testing.T, s *Store, c *goredis.Client, id string) {
	t.Helper()
	past := time.Now().Add(-time.Second).UnixMilli()
	if err := c.HSet(ctx, s.Key(id), hashExpires, past).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredSessionIsNeverServed(t *testing.T) {
	s, c := newStore(t)
	m := create(t, s)
	if _, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("a", int64(1))})); err != nil {
		t.Fatal(err)
	}
	expire(t, s, c, m.ID)
	if _, err := s.Load(ctx, m.ID, nil); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Load: %v, want ErrNotFound", err)
	}
	for name, cmds := range map[string][]session.Command{
		"touch": nil, "native": {inc("a", int64(1))}, "general": {inc("b.c", int64(1))},
	} {
		if _, err := s.Apply(ctx, m.ID, upd(time.Now().Add(time.Hour), cmds)); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Apply %s: %v, want ErrNotFound", name, err)
		}
	}
	if h := c.HGetAll(ctx, s.Key(m.ID)).Val(); h["a"] != "1" || h["b"] != "" {
		t.Errorf("expired session changed: %v", h)
	}
	// Create replaces an expired session still in Redis.
	doc, err := s.Create(ctx, m, session.Update{Commands: []session.Command{set("fresh", true)}})
	if err != nil {
		t.Fatalf("Create over an expired session: %v", err)
	}
	if u := doc.User(); len(u) != 1 || u["fresh"] != true {
		t.Errorf("Create over an expired session kept old keys: %v", u)
	}
}

func TestMissingSession(t *testing.T) {
	s, c := newStore(t)
	id := newID(t)
	if _, err := s.Load(ctx, id, nil); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Load: %v, want ErrNotFound", err)
	}
	for name, cmds := range map[string][]session.Command{
		"touch": nil, "native": {set("a", "x")}, "general": {set("a.b", "x")},
	} {
		if _, err := s.Apply(ctx, id, upd(time.Now().Add(time.Hour), cmds)); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Apply %s: %v, want ErrNotFound", name, err)
		}
	}
	if n := c.Exists(ctx, s.Key(id)).Val(); n != 0 {
		t.Error("Apply created the missing session")
	}
	if err := s.Delete(ctx, id); err != nil {
		t.Errorf("Delete of a missing session: %v", err)
	}
}

func TestCreateConflict(t *testing.T) {
	s, _ := newStore(t)
	m := newMeta(t)
	if _, err := s.Create(ctx, m, session.Update{Commands: []session.Command{set("a", "first")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, m, session.Update{Commands: []session.Command{set("a", "second"), set("b", "x")}}); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("second Create: %v, want ErrConflict", err)
	}
	doc, err := s.Load(ctx, m.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := doc.User(); len(u) != 1 || u["a"] != "first" {
		t.Errorf("conflicting Create changed the session: %v", u)
	}
}

func TestDelete(t *testing.T) {
	s, c := newStore(t)
	m := create(t, s)
	if err := s.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if c.Exists(ctx, s.Key(m.ID)).Val() != 0 {
		t.Error("key still exists")
	}
	if _, err := s.Load(ctx, m.ID, nil); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Load after Delete: %v, want ErrNotFound", err)
	}
}

// missing stands for a key that the session does not hold.
type missing struct{}

// TestNativeOpsMatchReference runs every command that the script applies
// natively (and its fallbacks) on every kind of stored value, in a batch
// after a Set of another key, and compares with session.ApplyCommands.
func TestNativeOpsMatchReference(t *testing.T) {
	stored := map[string]any{
		"missing": missing{}, "int": int64(41), "float": 1.5, "tenth": 0.1,
		"18 digits": int64(999_999_999_999_999_999), "max-1": int64(math.MaxInt64 - 1),
		"min+1": int64(math.MinInt64 + 1), "zero": int64(0), "negative": int64(-12),
		"string": "12", "bool": true, "null": nil, "empty array": []any{},
		"array": []any{int64(1), "x", []any{}}, "doc": map[string]any{"a": int64(1)},
		"time": time.UnixMilli(5).UTC(),
	}
	cmds := map[string]session.Command{
		"inc 1": inc("k", int64(1)), "inc -1": inc("k", int64(-1)), "inc 5": inc("k", int64(5)),
		"inc -5": inc("k", int64(-5)), "inc 0.2": inc("k", 0.2), "inc 0": inc("k", int64(0)),
		"inc max": inc("k", int64(math.MaxInt64)), "inc 18 digits": inc("k", int64(999_999_999_999_999_999)),
		"set": set("k", []any{}), "unset": unset("k"),
		"push none": {Op: session.OpPush, Path: "k", Values: []any{}},
		"push one":  {Op: session.OpPush, Path: "k", Values: []any{int64(1)}},
		"push some": {Op: session.OpPush, Path: "k", Values: []any{[]any{}, map[string]any{"a": 0.5}, time.UnixMilli(9).UTC(), nil}},
	}
	s, _ := newStore(t)
	for sname, sv := range stored {
		for cname, c := range cmds {
			t.Run(sname+"/"+cname, func(t *testing.T) {
				m := create(t, s)
				base := m.Doc()
				if _, isMissing := sv.(missing); !isMissing {
					if _, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("k", sv)})); err != nil {
						t.Fatal(err)
					}
					base["k"] = sv
				}
				batch := []session.Command{set("other", "x"), c}
				want, wantErr := session.ApplyCommands(base, batch)
				got, err := s.Apply(ctx, m.ID, upd(m.Expires, batch))
				if !sameError(err, wantErr) {
					t.Fatalf("Apply error %v, reference %v", err, wantErr)
				}
				loaded, lerr := s.Load(ctx, m.ID, nil)
				if lerr != nil {
					t.Fatal(lerr)
				}
				if wantErr != nil {
					if _, changed := loaded["other"]; changed {
						t.Errorf("failed batch was applied in part: %v", loaded.User())
					}
					return
				}
				for name, doc := range map[string]session.Doc{"Apply": got, "Load": loaded} {
					if !identical(doc.User(), want.User()) {
						t.Errorf("%s: %#v, reference %#v", name, doc.User(), want.User())
					}
				}
			})
		}
	}
}

// sameError reports whether err and want are both nil or wrap the same
// session sentinel.
func sameError(err, want error) bool {
	if err == nil || want == nil {
		return err == nil && want == nil
	}
	for _, s := range []error{session.ErrTypeMismatch, session.ErrConflict, session.ErrInvalidKey,
		session.ErrReservedKey, session.ErrInvalidValue, session.ErrNotFound} {
		if errors.Is(want, s) {
			return errors.Is(err, s)
		}
	}
	return false
}

func TestFallbackIsCounted(t *testing.T) {
	s, _ := newStore(t)
	m := create(t, s)
	if _, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("f", 1.5)})); err != nil {
		t.Fatal(err)
	}
	doc, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{inc("f", int64(1))}))
	if err != nil {
		t.Fatal(err)
	}
	if doc["f"] != 2.5 {
		t.Errorf("f = %#v, want 2.5", doc["f"])
	}
	if st := s.Stats(); st.Fallbacks != 1 || st.Retries != 0 {
		t.Errorf("Stats = %+v, want 1 fallback, 0 retries", st)
	}
}

func TestInvalidCommandsChangeNothing(t *testing.T) {
	s, _ := newStore(t)
	m := create(t, s)
	for _, cmds := range [][]session.Command{
		{set("ok", "x"), set("expires", "x")},
		{set("ok", "x"), set("$bad", "x")},
		{set("ok", "x"), set("bad", struct{}{})},
		{set("ok", "x"), set("a.b", struct{}{})},
		{set("ok", "x"), {Op: session.OpPush, Path: "ok2", Values: []any{math.NaN()}}},
	} {
		if _, err := s.Apply(ctx, m.ID, upd(m.Expires, cmds)); err == nil {
			t.Errorf("Apply %v succeeded", cmds)
		}
	}
	doc, err := s.Load(ctx, m.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := doc.User(); len(u) != 0 {
		t.Errorf("invalid batches changed the session: %v", u)
	}
}

func TestKeyIsOneClusterHashTag(t *testing.T) {
	s, c := newStore(t)
	m := create(t, s)
	key := s.Key(m.ID)
	if !strings.HasSuffix(key, "{"+m.ID+"}") || strings.Count(key, "{") != 1 || strings.Count(key, "}") != 1 {
		t.Errorf("key %q: want the prefix and {id}", key)
	}
	if typ := c.Type(ctx, key).Val(); typ != "hash" {
		t.Errorf("TYPE %s = %q, want hash", key, typ)
	}
	if got := NewStore(c).Key("x"); got != "session:{x}" {
		t.Errorf("default key = %q, want session:{x}", got)
	}
}

func TestBadConfigurationIsAnError(t *testing.T) {
	c := newClient(t)
	m := newMeta(t)
	for name, s := range map[string]*Store{
		"brace prefix": NewStore(c, WithPrefix("app{1}:")),
		"nil client":   NewStore(nil),
	} {
		if _, err := s.Load(ctx, m.ID, nil); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
		if _, err := s.Create(ctx, m, session.Update{}); err == nil {
			t.Errorf("%s: Create succeeded", name)
		}
		if _, err := s.Apply(ctx, m.ID, upd(m.Expires, nil)); err == nil {
			t.Errorf("%s: Apply succeeded", name)
		}
		if err := s.Delete(ctx, m.ID); err == nil {
			t.Errorf("%s: Delete succeeded", name)
		}
	}
}

func TestStoreDownIsAnError(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{
		Addr: closedPort(t), DialTimeout: 200 * time.Millisecond, MaxRetries: -1,
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond, ContextTimeoutEnabled: true,
	})
	defer c.Close()
	s := NewStore(c)
	m := newMeta(t)
	errs := map[string]error{}
	_, errs["Load"] = s.Load(ctx, m.ID, nil)
	_, errs["Create"] = s.Create(ctx, m, session.Update{Commands: []session.Command{set("a", "x")}})
	_, errs["Apply native"] = s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("a", "x")}))
	_, errs["Apply general"] = s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("a.b", "x")}))
	errs["Delete"] = s.Delete(ctx, m.ID)
	for name, err := range errs {
		if !errors.Is(err, session.ErrUnavailable) || errors.Is(err, session.ErrNotFound) {
			t.Errorf("%s: %v, want ErrUnavailable", name, err)
		}
	}
}

// closedPort returns the address of a loopback port that nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestCancelledContext(t *testing.T) {
	s, _ := newStore(t)
	m := create(t, s)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	errs := map[string]error{}
	_, errs["Load"] = s.Load(cctx, m.ID, nil)
	_, errs["Create"] = s.Create(cctx, newMeta(t), session.Update{})
	_, errs["Apply native"] = s.Apply(cctx, m.ID, upd(m.Expires, []session.Command{set("a", "x")}))
	_, errs["Apply general"] = s.Apply(cctx, m.ID, upd(m.Expires, []session.Command{set("a.b", "x")}))
	errs["Delete"] = s.Delete(cctx, m.ID)
	for name, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", name, err)
		}
	}
	doc, err := s.Load(ctx, m.ID, nil)
	if err != nil {
		t.Fatalf("session gone after cancelled calls: %v", err)
	}
	if u := doc.User(); len(u) != 0 {
		t.Errorf("cancelled calls changed the session: %v", u)
	}
}

// TestConflictRetriesOnWhatTheWriteFound: another writer changes the
// touched key between the Go path's read and its write; the write is
// refused and the batch applied again to the new value, not the old one.
// The session has no label and no user, which must not read as missing
// reserved fields.
func TestConflictRetriesOnWhatTheWriteFound(t *testing.T) {
	s, c := newStore(t)
	m := newMeta(t)
	if _, err := s.Create(ctx, m, session.Update{Commands: []session.Command{set("c", map[string]any{"n": int64(1)})}}); err != nil {
		t.Fatal(err)
	}
	other := NewStore(c, WithPrefix(s.prefix))
	interfered := 0
	s.beforeWrite = func() {
		if interfered < 2 {
			interfered++
			if _, err := other.Apply(ctx, m.ID, upd(m.Expires, []session.Command{inc("c.n", int64(10))})); err != nil {
				t.Error(err)
			}
		}
	}
	doc, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{inc("c.n", int64(100))}))
	if err != nil {
		t.Fatal(err)
	}
	if got := lookup(doc, "c.n"); got != int64(121) {
		t.Errorf("c.n = %#v, want 121", got)
	}
	if v, ok := doc[session.FieldLabel]; ok {
		t.Errorf("label = %#v, want none", v)
	}
	if st := s.Stats(); st.Retries != 2 {
		t.Errorf("Stats = %+v, want 2 retries", st)
	}
}

func TestMaxRetries(t *testing.T) {
	s, c := newStore(t, WithMaxRetries(3))
	m := create(t, s)
	other := NewStore(c, WithPrefix(s.prefix))
	s.beforeWrite = func() {
		if _, err := other.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("c.n", time.Now().String())})); err != nil {
			t.Error(err)
		}
	}
	_, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("c.x", true)}))
	if !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("Apply under endless contention: %v, want ErrUnavailable", err)
	}
	if st := s.Stats(); st.Retries != 3 {
		t.Errorf("Stats = %+v, want 3 retries", st)
	}
}

func TestEmptyID(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Load(ctx, "", nil); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Load: %v, want ErrNotFound", err)
	}
	if _, err := s.Apply(ctx, "", upd(time.Now().Add(time.Hour), nil)); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Apply: %v, want ErrNotFound", err)
	}
	m := newMeta(t)
	m.ID = ""
	if _, err := s.Create(ctx, m, session.Update{}); !errors.Is(err, session.ErrInvalidValue) {
		t.Errorf("Create: %v, want ErrInvalidValue", err)
	}
	if err := s.Delete(ctx, ""); err != nil {
		t.Errorf("Delete: %v, want nil", err)
	}
}

// TestForeignDataIsAnError: a key holding something else than a session
// (another type, a hash without the reserved fields, a field that does not
// decode) gives errors, never a panic nor a session.
func TestForeignDataIsAnError(t *testing.T) {
	s, c := newStore(t)
	str, bare, bad := newID(t), newID(t), create(t, s).ID
	if err := c.Set(ctx, s.Key(str), "x", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, s.Key(bare), "a", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, s.Key(bad), "a", "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{str, bare, bad} {
		for _, keys := range [][]string{nil, {"a"}} {
			if doc, err := s.Load(ctx, id, keys); err == nil {
				t.Errorf("Load(%s, %q) = %v, want an error", id, keys, doc)
			}
		}
		cmds := [][]session.Command{{set("a.b", "x")}, {inc("a", int64(1))}}
		if id != bad { // the bad field is read only when touched
			cmds = append(cmds, nil, []session.Command{set("b", "x")})
		}
		for _, cmds := range cmds {
			if doc, err := s.Apply(ctx, id, upd(time.Now().Add(time.Hour), cmds)); err == nil {
				t.Errorf("Apply(%s, %v) = %v, want an error", id, cmds, doc)
			}
		}
	}
	m := newMeta(t)
	m.ID = str
	if _, err := s.Create(ctx, m, session.Update{}); err == nil {
		t.Error("Create over a string key succeeded")
	}
}

// TestScriptCacheFlushed: after SCRIPT FLUSH (a restarted or failed-over
// Redis), the Store sends its scripts again.
func TestScriptCacheFlushed(t *testing.T) {
	s, c := newStore(t)
	for name, cmds := range map[string][]session.Command{"native": {inc("n", int64(1))}, "general": {inc("c.n", int64(1))}} {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		m := newMeta(t)
		if _, err := s.Create(ctx, m, session.Update{}); err != nil {
			t.Fatalf("%s: Create after SCRIPT FLUSH: %v", name, err)
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(ctx, m.ID, upd(m.Expires, cmds)); err != nil {
			t.Fatalf("%s: Apply after SCRIPT FLUSH: %v", name, err)
		}
	}
}

// TestApplyWithPastExpiresEndsTheSession: an Apply whose new expires has
// passed leaves no session behind and returns ErrNotFound.
func TestApplyWithPastExpiresEndsTheSession(t *testing.T) {
	s, c := newStore(t)
	m := create(t, s)
	if _, err := s.Apply(ctx, m.ID, upd(time.Now().Add(-time.Second), []session.Command{set("a", "x")})); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Apply: %v, want ErrNotFound", err)
	}
	if n := c.Exists(ctx, s.Key(m.ID)).Val(); n != 0 {
		t.Error("the key is still there")
	}
}

// TestApplyExpiresBehindRedisClock: when the new expires is after the
// Store's clock but not after Redis's, PEXPIREAT removes the session, and
// every path of Apply says so with ErrNotFound: the plain step, a step
// that fetches a large key (read after the script, in its transaction),
// and FetchAll on both paths. Redis's view decides, not the app's clock.
func TestApplyExpiresBehindRedisClock(t *testing.T) {
	s, c := newStore(t)
	s.now = func() time.Time { return time.Now().Add(-10 * time.Second) }
	cases := []struct {
		name string
		u    func(session.Update) session.Update
	}{
		{"plain", func(u session.Update) session.Update { return u }},
		{"fetch large key", func(u session.Update) session.Update { u.Fetch = []string{"blob"}; return u }},
		{"FetchAll", func(u session.Update) session.Update { u.FetchAll = true; return u }},
	}
	for _, tc := range cases {
		for _, native := range []bool{true, false} {
			name := tc.name
			cmd := set("seen", int64(1))
			if !native {
				name += ", in Go"
				cmd = session.Command{Op: session.OpSet, Path: "seen.deep", Value: int64(1)}
			}
			m, _ := blobSession(t, s)
			// The cache now knows blob is large: a fetch of it or FetchAll
			// reads after the script, in its transaction.
			u := tc.u(session.Update{Commands: []session.Command{cmd}, Expires: time.Now().Add(-5 * time.Second)})
			if _, err := s.Apply(ctx, m.ID, u); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("%s: Apply: %v, want ErrNotFound", name, err)
			}
			if n := c.Exists(ctx, s.Key(m.ID)).Val(); n != 0 {
				t.Errorf("%s: the key is still there", name)
			}
		}
	}
}

// TestApplyScriptRefusesUnlistedField: a checked or operated field that is
// not among the fields applyScript returns breaks its contract: the script
// fails and writes nothing, rather than reading the field with an extra
// HGET.
func TestApplyScriptRefusesUnlistedField(t *testing.T) {
	s, c := newStore(t)
	m := create(t, s)
	if _, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("x", "kept")})); err != nil {
		t.Fatal(err)
	}
	key := []string{s.Key(m.ID)}
	now, exp := time.Now().UnixMilli(), m.Expires.UnixMilli()
	for name, tail := range map[string][]any{
		"check": {1, 0, "x", "", "s", "y", `"new"`},
		"take":  {0, 0, "t", "x", ""},
		"push":  {0, 0, "p", "x", "1"},
	} {
		args := append([]any{now, exp, "", "", "", ""}, tail...)
		err := applyScript.Run(ctx, c, key, args...).Err()
		if err == nil || !strings.Contains(err.Error(), "not among the returned fields") {
			t.Errorf("%s on a field not returned: %v, want the script's error", name, err)
		}
		if h := c.HGetAll(ctx, key[0]).Val(); h["x"] != `"kept"` || h["y"] != "" {
			t.Errorf("%s: the hash holds x=%q y=%q after the failed script", name, h["x"], h["y"])
		}
	}
}
