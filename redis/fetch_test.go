package redis

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// blobSession creates, on s, a session of a user key, a counter and a blob
// of 64 KB, and returns it and the blob.
func blobSession(t *testing.T, s *Store) (session.Meta, string) {
	t.Helper()
	m := newMeta(t)
	blob := strings.Repeat("abcdefgh", 8<<10)
	cmds := []session.Command{set("user", "alice"), set("n", int64(0)), set("blob", blob)}
	if _, err := s.Create(ctx, m, session.Update{Commands: cmds}); err != nil {
		t.Fatal(err)
	}
	return m, blob
}

// TestFetchLargeKeyAfterTheScript: a fetched key that the Store knows to
// be large is read by HMGET after applyScript, in one MULTI/EXEC with it,
// not by the script (a Lua string of 64 KB costs Redis more than the whole
// rest of the step); the result is what it would be from the script.
func TestFetchLargeKeyAfterTheScript(t *testing.T) {
	s, cc := newCommandCounter(t)
	m, blob := blobSession(t, s)
	u := session.Update{Commands: []session.Command{set("seen", int64(1))}, Expires: time.Now().Add(time.Hour), Fetch: []string{"blob", "user"}}
	var doc session.Doc
	var err error
	got, total := cc.measure(t, func() { doc, err = s.Apply(ctx, m.ID, u) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Apply{Fetch: [blob user], Set seen}: %d commands: %s", total, formatCounts(got))
	if got["multi"] != 1 || got["exec"] != 1 {
		t.Errorf("commands %s: want the blob read in a MULTI/EXEC after the script", formatCounts(got))
	}
	want := session.Doc{"blob": blob, "user": "alice", "seen": int64(1)}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("result[%q] = %.20v, want %.20v", k, doc[k], v)
		}
	}
	if _, ok := doc["n"]; ok {
		t.Error("the result holds n, which was neither touched nor fetched")
	}
	if exp, _ := doc[session.FieldExpires].(time.Time); !exp.Equal(toMillis(u.Expires)) {
		t.Errorf("expires %v, want %v", doc[session.FieldExpires], toMillis(u.Expires))
	}
	// The same, everything fetched: HGETALL after the script.
	u.FetchAll, u.Fetch = true, nil
	got, _ = cc.measure(t, func() { doc, err = s.Apply(ctx, m.ID, u) })
	if err != nil {
		t.Fatal(err)
	}
	if got["multi"] != 1 || got["hgetall"] != 1 {
		t.Errorf("FetchAll: commands %s: want HGETALL in a MULTI/EXEC after the script", formatCounts(got))
	}
	want["n"] = int64(0)
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("FetchAll: result[%q] = %.20v, want %.20v", k, doc[k], v)
		}
	}
}

// TestFetchLargeKeyOfGoneSession: the transaction of a large fetch on a
// deleted or expired session writes nothing (the HMGET after the script
// creates no key) and is ErrNotFound.
func TestFetchLargeKeyOfGoneSession(t *testing.T) {
	s, c := newStore(t)
	for _, gone := range []string{"deleted", "expired"} {
		m, _ := blobSession(t, s)
		u := session.Update{Commands: []session.Command{set("seen", int64(1))}, Expires: time.Now().Add(time.Hour), Fetch: []string{"blob"}}
		if gone == "deleted" {
			if err := c.Del(ctx, s.Key(m.ID)).Err(); err != nil {
				t.Fatal(err)
			}
		} else if err := c.HSet(ctx, s.Key(m.ID), hashExpires, time.Now().Add(-time.Second).UnixMilli()).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(ctx, m.ID, u); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("%s: Apply: %v, want ErrNotFound", gone, err)
		}
		if seen := c.HExists(ctx, s.Key(m.ID), "seen").Val(); seen {
			t.Errorf("%s: the Apply wrote seen", gone)
		}
	}
}

// TestFetchLargeKeyScriptCacheFlushed: the transaction sends the script's
// text when Redis has lost it.
func TestFetchLargeKeyScriptCacheFlushed(t *testing.T) {
	s, c := newStore(t)
	m, blob := blobSession(t, s)
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	u := session.Update{Commands: []session.Command{set("seen", int64(1))}, Expires: time.Now().Add(time.Hour), Fetch: []string{"blob"}}
	doc, err := s.Apply(ctx, m.ID, u)
	if err != nil {
		t.Fatal(err)
	}
	if doc["blob"] != blob || doc["seen"] != int64(1) {
		t.Errorf("result blob of %d bytes, seen %v", len(doc["blob"].(string)), doc["seen"])
	}
}

// TestFetchLargeKeyGoPath: a step on the Go path (a dotted key) fetching a
// large key, after another writer changed the touched key (a retry).
func TestFetchLargeKeyGoPath(t *testing.T) {
	s, c := newStore(t)
	m, blob := blobSession(t, s)
	if _, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("d", map[string]any{"x": int64(1)})})); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, s.Key(m.ID), "d", `{"x":2}`).Err(); err != nil { // behind the cache's back
		t.Fatal(err)
	}
	u := session.Update{Commands: []session.Command{inc("d.x", int64(1))}, Expires: time.Now().Add(time.Hour), Fetch: []string{"blob"}}
	doc, err := s.Apply(ctx, m.ID, u)
	if err != nil {
		t.Fatal(err)
	}
	if doc["blob"] != blob {
		t.Error("result lacks the blob")
	}
	if st := s.Stats(); st.Retries != 1 {
		t.Errorf("%d retries, want 1 (the cached d was old)", st.Retries)
	}
	if d, _ := doc["d"].(map[string]any); d["x"] != int64(3) {
		t.Errorf("d = %v, want x 3", doc["d"])
	}
}

// TestApplyMultiLargeFetch: in a batch of ApplyMulti, an op fetching a
// large key goes in a transaction of its own and gets its result; the
// others stay in the pipeline.
func TestApplyMultiLargeFetch(t *testing.T) {
	s, _ := newStore(t)
	big, blob := blobSession(t, s)
	small := create(t, s)
	exp := time.Now().Add(time.Hour)
	res := s.ApplyMulti(ctx, []session.ApplyOp{
		{ID: big.ID, Update: session.Update{Commands: []session.Command{set("seen", int64(1))}, Expires: exp, Fetch: []string{"blob"}}},
		{ID: small.ID, Update: session.Update{Commands: []session.Command{set("seen", int64(2))}, Expires: exp}},
	})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("op %d: %v", i, r.Err)
		}
	}
	if res[0].Doc["blob"] != blob || res[0].Doc["seen"] != int64(1) {
		t.Errorf("op 0: seen %v, blob present %v", res[0].Doc["seen"], res[0].Doc["blob"] != nil)
	}
	if res[1].Doc["seen"] != int64(2) {
		t.Errorf("op 1: seen %v", res[1].Doc["seen"])
	}
}

// TestApplyScriptManyFields: a native step of more fields than the script
// passes to one Redis command (it splits its HMGET, HSET and HDEL) gets
// every one of them right.
func TestApplyScriptManyFields(t *testing.T) {
	s, c := newStore(t)
	m := create(t, s)
	const n = 9000 // more than Lua can unpack at once (8000)
	var cmds []session.Command
	var fetch []string
	for i := range n {
		cmds = append(cmds, set("s"+strconv.Itoa(i), int64(i)))
		fetch = append(fetch, "f"+strconv.Itoa(i))
	}
	if _, err := s.Apply(ctx, m.ID, upd(m.Expires, cmds[:n/2])); err != nil {
		t.Fatal(err)
	}
	cmds = cmds[:0]
	for i := range n {
		if i < n/2 {
			cmds = append(cmds, unset("s"+strconv.Itoa(i)))
		} else {
			cmds = append(cmds, set("s"+strconv.Itoa(i), int64(i)))
		}
	}
	if err := c.HSet(ctx, s.Key(m.ID), "f8500", "7").Err(); err != nil {
		t.Fatal(err)
	}
	doc, err := s.Apply(ctx, m.ID, session.Update{Commands: cmds, Expires: m.Expires, Fetch: fetch})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		k := "s" + strconv.Itoa(i)
		v, ok := doc[k]
		if i < n/2 && ok || i >= n/2 && v != int64(i) {
			t.Fatalf("result %s = %v, %v", k, v, ok)
		}
	}
	if doc["f8500"] != int64(7) {
		t.Errorf("result f4000 = %v, want 7", doc["f8500"])
	}
	if got := c.HLen(ctx, s.Key(m.ID)).Val(); got != int64(requiredFields+n/2+1) {
		t.Errorf("hash of %d fields, want %d", got, requiredFields+n/2+1)
	}
}

// TestApplyTwoCommandsOnOneKey: the script takes one operation per field;
// a step with two commands on one key (which the session never sends) is
// applied in order, by Go.
func TestApplyTwoCommandsOnOneKey(t *testing.T) {
	s, c := newStore(t)
	m := create(t, s)
	doc, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{unset("a"), set("a", int64(2))}))
	if err != nil {
		t.Fatal(err)
	}
	if doc["a"] != int64(2) {
		t.Errorf("result a = %v, want 2", doc["a"])
	}
	if got := c.HGet(ctx, s.Key(m.ID), "a").Val(); got != "2" {
		t.Errorf("stored a = %q, want 2", got)
	}
}

// TestApplyIncResultExact: the script works out an Inc's new value from
// HINCRBY's reply, a Lua number, only below 2^53, where that is exact;
// above, it reads it back.
func TestApplyIncResultExact(t *testing.T) {
	s, _ := newStore(t)
	m := create(t, s)
	for _, c := range []struct{ from, by, want int64 }{
		{0, 9007199254740991, 9007199254740991},
		{9007199254740991, 1, 9007199254740992},
		{9007199254740992, 1, 9007199254740993},
		{-9007199254740993, 1, -9007199254740992},
		{-5, 5, 0},
		{999999999999999999, 999999999999999999, 1999999999999999998},
	} {
		if _, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{set("n", c.from)})); err != nil {
			t.Fatal(err)
		}
		doc, err := s.Apply(ctx, m.ID, upd(m.Expires, []session.Command{inc("n", c.by)}))
		if err != nil {
			t.Fatal(err)
		}
		if doc["n"] != c.want {
			t.Errorf("%d + %d = %v, want %d", c.from, c.by, doc["n"], c.want)
		}
	}
}

// TestNativeOpsRepeatedKey: two commands on one key make a step Go's,
// among few commands and among many (where nativeOps keeps the keys seen
// in a map, to stay linear).
func TestNativeOpsRepeatedKey(t *testing.T) {
	for _, n := range []int{2, 16, 17, 1000} {
		cmds := make([]session.Command, n)
		for i := range cmds {
			cmds[i] = set("k"+strconv.Itoa(i), int64(i))
		}
		if _, native, err := nativeOps(cmds); err != nil || !native {
			t.Errorf("%d distinct keys: native %v, %v; want native", n, native, err)
		}
		cmds[n-1] = unset("k0")
		if ops, native, err := nativeOps(cmds); err != nil || native || ops != nil {
			t.Errorf("%d commands, k0 twice: native %v, %d ops, %v; want Go's", n, native, len(ops), err)
		}
	}
}

// TestExpiredInTransactionLeavesNoCache: a step that goes in a MULTI/EXEC
// (a large fetched value) and expires the session at once drops the
// session from the cache, as a step without a transaction does.
func TestExpiredInTransactionLeavesNoCache(t *testing.T) {
	s, _ := newStore(t)
	m := newMeta(t)
	cmds := []session.Command{set("a", "x"), set("big", strings.Repeat("b", 2*largeValue))}
	if _, err := s.Create(ctx, m, session.Update{Commands: cmds}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, m.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.cache.get(m.ID, []string{"a"}); !ok {
		t.Fatal("Load left nothing in the cache")
	}
	u := session.Update{Expires: time.Now().Add(-time.Second), Fetch: []string{"big"}}
	if st := s.newStep(m.ID, u); !st.tx() {
		t.Fatal("the step does not go in a transaction")
	}
	if _, err := s.Apply(ctx, m.ID, u); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Apply expiring the session: %v, want ErrNotFound", err)
	}
	if _, _, ok := s.cache.get(m.ID, []string{"a"}); ok {
		t.Error("the expired session is still in the cache")
	}
}
