package session

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"time"
)

// Get returns the value at key in the local view, and whether it is
// present. key is a top-level key or a dotted path into nested documents
// ("cart.items"). Reserved fields are never returned.
//
// The local view holds only what this request loaded or wrote: a key that
// was not loaded reads as absent even if the store holds it (see Loaded,
// Fetch and middleware.Session's keys). The value is shared with the local
// view and with command results: copy it before changing it, or use Values
// or GetAs.
func (s *Session) Get(key string) (any, bool) {
	if IsReserved(key) {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return lookupDoc(s.values, key)
}

// Loaded reports whether the local view holds key's stored value (present
// or known to be absent): the key was loaded, or a command of this request
// touched it, or the session is new. Get of a key that is not loaded
// returns (nil, false) whatever the store holds.
func (s *Session) Loaded(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadedAll || s.loaded[topKey(key)]
}

// Values returns a deep copy of the local view's user keys (no reserved
// fields). It holds the loaded keys only: after a partial load, keys that
// were not loaded are missing from it (see Loaded).
func (s *Session) Values() Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values.User()
}

// Update replaces the local view's user keys with doc's: keys in doc take
// its values, and loaded keys missing from doc are removed from the view.
// Reserved fields in doc are ignored. It returns doc unchanged, so that it
// chains as in Koa:
//
//	_, err := sess.Set("msg", "hi").Then(sess.Update).Await(ctx)
//
// Since a command's result is applied to the local view when its future
// resolves, Update is not needed to see the request's own writes; it stays
// valid for Koa ports and for views built by hand. doc's values are shared,
// not copied.
func (s *Session) Update(doc Doc) (Doc, error) {
	view := make(Doc, len(doc))
	for k, v := range doc {
		if !IsReserved(k) {
			view[k] = v
		}
	}
	s.mu.Lock()
	s.values = view
	for k := range view {
		s.loaded[k] = true
	}
	s.mu.Unlock()
	return doc, nil
}

// GetString returns the string at key, and whether key holds a string.
func (s *Session) GetString(key string) (string, bool) {
	v, _ := s.Get(key)
	str, ok := v.(string)
	return str, ok
}

// GetInt returns the integer at key as an int64, and whether key holds one:
// any integral number a store may return (int64, int32, int, or a float64
// with no fraction within the int64 range).
func (s *Session) GetInt(key string) (int64, bool) {
	v, _ := s.Get(key)
	return integral(v)
}

// integral returns v as an int64 if it is an integral number: int64, int32,
// int, or a float64 with no fraction within the int64 range.
func integral(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int:
		return int64(n), true
	case float64:
		if n == math.Trunc(n) && n >= -(1<<63) && n < 1<<63 {
			return int64(n), true
		}
	}
	return 0, false
}

// GetFloat returns the number at key as a float64, and whether key holds a
// number (integers are converted).
func (s *Session) GetFloat(key string) (float64, bool) {
	v, _ := s.Get(key)
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case int:
		return float64(n), true
	}
	return 0, false
}

// GetBool returns the bool at key, and whether key holds a bool.
func (s *Session) GetBool(key string) (bool, bool) {
	v, _ := s.Get(key)
	b, ok := v.(bool)
	return b, ok
}

// GetTime returns the time at key, and whether key holds one: a time.Time,
// or a string in RFC 3339 format (a time.Time inside a struct given to Set
// is stored as such a string).
func (s *Session) GetTime(key string) (time.Time, bool) {
	v, _ := s.Get(key)
	switch t := v.(type) {
	case time.Time:
		return t, true
	case string:
		if p, err := time.Parse(time.RFC3339Nano, t); err == nil {
			return p, true
		}
	}
	return time.Time{}, false
}

// GetAs returns the value at key converted to T: maps and arrays decode
// into structs, slices and maps by encoding/json's rules (json tags apply),
// so a struct given to Set comes back as it was. If key is absent it
// returns an error wrapping ErrNotFound; if the value does not convert, an
// error wrapping ErrInvalidValue.
func GetAs[T any](s *Session, key string) (T, error) {
	var out T
	v, ok := s.Get(key)
	if !ok {
		return out, fmt.Errorf("session: get %q: %w", key, ErrNotFound)
	}
	if t, ok := v.(T); ok {
		return t, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return out, fmt.Errorf("session: get %q as %T: %v: %w", key, out, err, ErrInvalidValue)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("session: get %q as %T: %v: %w", key, out, err, ErrInvalidValue)
	}
	return out, nil
}

// lookupDoc finds the value at a dotted path in doc.
func lookupDoc(doc Doc, key string) (any, bool) {
	var cur any = map[string]any(doc)
	for _, seg := range splitPath(key) {
		m, ok := asDoc(cur)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// learn applies a store's answer to the local view: every key of got is
// now known, as are the keys in also (touched or fetched keys the answer
// lacks, which the step removed or which do not exist). With all set the
// answer holds every key. Reserved fields update meta. The caller holds
// s.mu.
func (s *Session) learn(got Doc, also []string, all bool) error {
	meta, err := MetaOf(got)
	if err != nil {
		return err
	}
	if meta.ID != s.meta.ID {
		return nil // the session was replaced meanwhile
	}
	s.meta, s.known = meta, true
	if all {
		s.values = Doc{}
		s.loadedAll = true
	}
	for _, k := range also {
		delete(s.values, k)
		s.loaded[k] = true
	}
	for k, v := range got {
		if !IsReserved(k) {
			s.values[k] = v
			s.loaded[k] = true
		}
	}
	return nil
}

// snapshot returns the session as this request knows it: the reserved
// fields and the local view, in a new map that shares the values. The
// caller holds s.mu.
func (s *Session) snapshot() Doc {
	d := s.meta.Doc()
	maps.Copy(d, s.values)
	return d
}
