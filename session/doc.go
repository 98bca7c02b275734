// Package session holds Session (a local view of one visitor's session
// document and a queue of atomic commands), Doc, the command model and its
// reference semantics (ApplyCommands, MongoDB's update operators written in
// Go), the Store and UserIndex interfaces that stores implement, tokens,
// signing and CSRF.
//
// Most applications get a Session from middleware.Session or
// middleware.Attach; New, Open and Attach here are for use without
// net/http. Every command returns a future.Future: commands are queued and
// go out, batched into atomic updates, when a future is awaited, on Flush,
// or when the middleware commits the request.
package session

import (
	"fmt"
	"time"
)

// Doc is a session document: the user's keys at the top level, next to the
// reserved fields (FieldID, FieldExpires, FieldMaxAge, FieldCreated,
// FieldUserID, FieldLabel) when it comes from a Store.
//
// Its values are the types that round-trip in every store: nil, bool,
// string, int64, float64, time.Time (UTC, millisecond precision), []any and
// map[string]any (a nested document). Stores convert what their database
// returns to these types.
type Doc map[string]any

// Clone returns a deep copy of d.
func (d Doc) Clone() Doc {
	if d == nil {
		return nil
	}
	out := make(Doc, len(d))
	for k, v := range d {
		out[k] = cloneValue(v)
	}
	return out
}

// User returns a deep copy of d without its reserved fields.
func (d Doc) User() Doc {
	out := make(Doc, len(d))
	for k, v := range d {
		if !IsReserved(k) {
			out[k] = cloneValue(v)
		}
	}
	return out
}

// IsReserved reports whether key is, or lies under, a reserved field.
func IsReserved(key string) bool {
	top := key
	for i := 0; i < len(key); i++ {
		if key[i] == '.' {
			top = key[:i]
			break
		}
	}
	for _, f := range reservedFields {
		if top == f {
			return true
		}
	}
	return false
}

// MetaOf reads the reserved fields of d. It accepts any integer or float type
// for FieldMaxAge, as databases return numbers in several widths.
func MetaOf(d Doc) (Meta, error) {
	var m Meta
	var ok bool
	if m.ID, ok = d[FieldID].(string); !ok {
		return m, fmt.Errorf("session document: %s is %T, want string", FieldID, d[FieldID])
	}
	if m.Expires, ok = d[FieldExpires].(time.Time); !ok {
		return m, fmt.Errorf("session document %s: %s is %T, want time.Time", m.ID, FieldExpires, d[FieldExpires])
	}
	if m.Created, ok = d[FieldCreated].(time.Time); !ok {
		return m, fmt.Errorf("session document %s: %s is %T, want time.Time", m.ID, FieldCreated, d[FieldCreated])
	}
	ms, ok := toInt64(d[FieldMaxAge])
	if !ok {
		return m, fmt.Errorf("session document %s: %s is %T, want a number", m.ID, FieldMaxAge, d[FieldMaxAge])
	}
	m.MaxAge = time.Duration(ms) * time.Millisecond
	if v, present := d[FieldUserID]; present && v != nil {
		if m.UserID, ok = v.(string); !ok {
			return m, fmt.Errorf("session document %s: %s is %T, want string", m.ID, FieldUserID, v)
		}
	}
	if v, present := d[FieldLabel]; present && v != nil {
		if m.Label, ok = v.(string); !ok {
			return m, fmt.Errorf("session document %s: %s is %T, want string", m.ID, FieldLabel, v)
		}
	}
	return m, nil
}

// toInt64 reads a stored number of milliseconds: an integral number, or a
// float64 truncated.
func toInt64(v any) (int64, bool) {
	if n, ok := integral(v); ok {
		return n, true
	}
	if f, ok := v.(float64); ok {
		return int64(f), true
	}
	return 0, false
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case Doc:
		return map[string]any(Doc(x).Clone())
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}
