package redis

import (
	"strconv"
	"strings"
	"testing"
)

func TestFieldCacheStaysWithinItsBudget(t *testing.T) {
	c := newFieldCache(64 << 10)
	for i := range 10_000 {
		id := strconv.Itoa(i)
		c.put(id, "1", []string{"a", "b"}, []any{strings.Repeat("x", i%500), nil}, false)
		if c.size > c.max {
			t.Fatalf("after %d entries the cache holds %d B, more than %d", i+1, c.size, c.max)
		}
	}
	if len(c.items) == 0 || len(c.items) != c.lru.Len() {
		t.Fatalf("%d items, %d in the list", len(c.items), c.lru.Len())
	}
	// The most recent entry is there, the first ones are gone.
	if _, vals, ok := c.get("9999", []string{"a", "b"}); !ok || vals[1] != nil || len(vals[0].(string)) != 9999%500 {
		t.Errorf("last entry: %v %v", vals, ok)
	}
	if _, _, ok := c.get("0", []string{"a"}); ok {
		t.Error("the oldest entry survived")
	}
	// An entry knows only the fields it saw, unless it is complete.
	if _, _, ok := c.get("9999", []string{"c"}); ok {
		t.Error("an unknown field of a partial entry was reported")
	}
	c.putHash("h", map[string]string{hashCreated: "5", "a": "1"})
	if _, vals, ok := c.get("h", []string{"a", "c"}); !ok || vals[0] != "1" || vals[1] != nil {
		t.Errorf("complete entry: %v %v", vals, ok)
	}
	// Another incarnation of the id replaces the entry.
	c.put("h", "6", []string{"b"}, []any{"2"}, false)
	if created, _, ok := c.get("h", []string{"a"}); ok {
		t.Errorf("the old incarnation's field survived (created %s)", created)
	}
	// An entry larger than a quarter of the budget is not kept.
	c.put("big", "1", []string{"a"}, []any{strings.Repeat("x", 20<<10)}, false)
	if _, _, ok := c.get("big", []string{"a"}); ok {
		t.Error("an entry of a third of the budget was kept")
	}
	c.drop("h")
	if _, _, ok := c.get("h", []string{"b"}); ok {
		t.Error("a dropped entry was found")
	}
	off := newFieldCache(0)
	off.put("x", "1", []string{"a"}, []any{"v"}, false)
	if _, _, ok := off.get("x", []string{"a"}); ok {
		t.Error("a disabled cache returned an entry")
	}
}
