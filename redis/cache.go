package redis

import (
	"container/list"
	"sync"
)

// fieldCache remembers, per session, the raw hash values that this Store
// last saw (by Load, Create, Apply, or a compare-and-set that failed), so
// that Apply's Go path can attempt its compare-and-set at once instead of
// reading the touched fields first. A stale entry costs one failed attempt,
// never a wrong result: the script compares SHA-1 digests of what the
// Store holds with what Redis holds, and answers with the current values.
//
// It is a least-recently-used cache bounded by an approximate byte size.
type fieldCache struct {
	mu    sync.Mutex
	max   int // bytes; 0 disables the cache
	size  int
	lru   list.List // of *cacheEntry, most recent first
	items map[string]*list.Element
}

// cacheEntry is what the cache knows of one session.
type cacheEntry struct {
	id       string
	created  string          // the session's $created, which identifies this incarnation of id
	fields   map[string]cval // user fields seen, and whether each was present
	complete bool            // fields holds every field: one not in it is absent
	size     int             // bytes, with overheads (see settle)
	bytes    int             // bytes of the values in fields
}

// cval is a cached field: its raw value, or absent.
type cval struct {
	v  string
	ok bool
}

// Per-item size overheads of the byte count, roughly what the maps and the
// list cost.
const (
	entryOverhead = 160
	fieldOverhead = 48
)

func newFieldCache(max int) *fieldCache {
	return &fieldCache{max: max, items: map[string]*list.Element{}}
}

// get returns the cached created of id and the raw values of fields (a
// string, or nil for absent), if the cache knows all of them.
func (c *fieldCache) get(id string, fields []string) (created string, vals []any, ok bool) {
	if c.max == 0 {
		return "", nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.items[id]
	if !found {
		return "", nil, false
	}
	e := el.Value.(*cacheEntry)
	vals = make([]any, len(fields))
	for i, f := range fields {
		fv, known := e.fields[f]
		switch {
		case known && fv.ok:
			vals[i] = fv.v
		case known, e.complete:
		default:
			return "", nil, false
		}
	}
	c.lru.MoveToFront(el)
	return e.created, vals, true
}

// large reports which of fields the cache knows session id to hold
// values of more than limit bytes in (nil if none), and the total size of
// the values it knows of id.
func (c *fieldCache) large(id string, fields []string, limit int) (big []bool, total int) {
	if c.max == 0 {
		return nil, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.items[id]
	if !found {
		return nil, 0
	}
	e := el.Value.(*cacheEntry)
	for i, f := range fields {
		if len(e.fields[f].v) > limit {
			if big == nil {
				big = make([]bool, len(fields))
			}
			big[i] = true
		}
	}
	return big, e.bytes
}

// put records the raw values of fields of session id (incarnation
// created), as HMGET returns them. If complete, these are all its fields.
func (c *fieldCache) put(id, created string, fields []string, vals []any, complete bool) {
	if c.max == 0 || created == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(id, created, complete)
	for i, f := range fields {
		s, ok := vals[i].(string)
		c.setField(e, f, cval{v: s, ok: ok})
	}
	c.settle(e)
}

// putHash records every field of session id, as HGETALL returns them.
func (c *fieldCache) putHash(id string, h map[string]string) {
	created := h[hashCreated]
	if c.max == 0 || created == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(id, created, true)
	for f, v := range h {
		if len(f) == 0 || f[0] != '$' {
			c.setField(e, f, cval{v: v, ok: true})
		}
	}
	c.settle(e)
}

// drop forgets session id.
func (c *fieldCache) drop(id string) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.remove(el)
	}
}

// entry returns the entry of id for incarnation created, a new one if the
// cache held none or one of another incarnation; complete replaces what it
// held. The caller holds c.mu.
func (c *fieldCache) entry(id, created string, complete bool) *cacheEntry {
	if el, ok := c.items[id]; ok {
		e := el.Value.(*cacheEntry)
		if e.created == created && !complete {
			c.lru.MoveToFront(el)
			return e
		}
		c.remove(el)
	}
	e := &cacheEntry{id: id, created: created, fields: map[string]cval{}, complete: complete, size: entryOverhead + len(id) + len(created)}
	c.items[id] = c.lru.PushFront(e)
	c.size += e.size
	return e
}

func (c *fieldCache) setField(e *cacheEntry, f string, v cval) {
	if old, ok := e.fields[f]; ok {
		e.size -= fieldOverhead + len(f) + len(old.v)
		c.size -= fieldOverhead + len(f) + len(old.v)
		e.bytes -= len(old.v)
	}
	e.fields[f] = v
	e.size += fieldOverhead + len(f) + len(v.v)
	c.size += fieldOverhead + len(f) + len(v.v)
	e.bytes += len(v.v)
}

// settle evicts least recently used entries until the cache fits, and e
// itself if it alone takes more than a quarter of the budget. The caller
// holds c.mu.
func (c *fieldCache) settle(e *cacheEntry) {
	if e.size > c.max/4 {
		c.remove(c.items[e.id])
	}
	for c.size > c.max {
		c.remove(c.lru.Back())
	}
}

func (c *fieldCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.items, e.id)
	c.size -= e.size
}
