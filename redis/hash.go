package redis

import (
	"fmt"
	"strconv"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// The hash of a session holds one field per top-level user key, valued with
// encodeValue, and the reserved fields under names that user keys cannot
// take (they never start with '$'), as plain decimal milliseconds or text so
// that the scripts can compare them. The id is the key itself.
const (
	hashExpires = "$expires" // Unix milliseconds
	hashMaxAge  = "$maxAge"  // milliseconds
	hashCreated = "$created" // Unix milliseconds
	hashUser    = "$user"    // session.FieldUserID as is; absent when not bound
	hashLabel   = "$label"   // session.FieldLabel as is; absent when none
	// hashIndexed is not part of the document: the Unix milliseconds up to
	// which the user index is known to keep this session (its score there,
	// see users.go); absent when not bound.
	hashIndexed = "$indexed"
)

// reservedFields are the hash fields that every read asks for, in this
// order, before the user keys: Go's code indexes them with the constants
// below.
var reservedFields = []string{hashExpires, hashMaxAge, hashCreated, hashUser, hashLabel, hashIndexed}

// Positions in reservedFields.
const (
	posExpires = iota
	posMaxAge
	posCreated
	posUser
	posLabel
	posIndexed
	nReserved
)

// requiredFields is how many of the reserved fields every session has
// ($expires, $maxAge, $created).
const requiredFields = 3

// encodeDoc returns doc as alternating hash fields and values, ready for
// HSET: the reserved fields from their document form, every other key
// encoded. FieldID is not stored. indexed, if not zero, is stored as
// hashIndexed.
func encodeDoc(doc session.Doc, indexed int64) ([]any, error) {
	m, err := session.MetaOf(doc)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, 2*len(doc)+12)
	out = append(out,
		hashExpires, strconv.FormatInt(m.Expires.UnixMilli(), 10),
		hashMaxAge, strconv.FormatInt(m.MaxAge.Milliseconds(), 10),
		hashCreated, strconv.FormatInt(m.Created.UnixMilli(), 10))
	if m.UserID != "" {
		out = append(out, hashUser, m.UserID)
	}
	if m.Label != "" {
		out = append(out, hashLabel, m.Label)
	}
	if indexed != 0 {
		out = append(out, hashIndexed, strconv.FormatInt(indexed, 10))
	}
	for k, v := range doc {
		if session.IsReserved(k) {
			continue
		}
		enc, err := encodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		out = append(out, k, string(enc))
	}
	return out, nil
}

// decoder builds a document from hash fields one at a time.
type decoder struct {
	doc  session.Doc
	seen int // required reserved fields seen
}

func newDecoder(n int) *decoder {
	return &decoder{doc: make(session.Doc, n+1)}
}

func (d *decoder) field(name, value string) error {
	if len(name) == 0 || name[0] != '$' {
		v, err := decodeValue(value)
		if err != nil {
			return fmt.Errorf("key %q: %w", name, err)
		}
		d.doc[name] = v
		return nil
	}
	switch name {
	case hashUser:
		if value != "" {
			d.doc[session.FieldUserID] = value
		}
		return nil
	case hashLabel:
		if value != "" {
			d.doc[session.FieldLabel] = value
		}
		return nil
	case hashExpires, hashCreated, hashMaxAge:
		ms, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
		switch name {
		case hashExpires:
			d.doc[session.FieldExpires] = time.UnixMilli(ms).UTC()
		case hashCreated:
			d.doc[session.FieldCreated] = time.UnixMilli(ms).UTC()
		default:
			d.doc[session.FieldMaxAge] = ms
		}
	default:
		return nil // $indexed, or a field of a later version: not part of the document
	}
	d.seen++
	return nil
}

func (d *decoder) done(id string) (session.Doc, error) {
	if d.seen != requiredFields {
		return nil, fmt.Errorf("session %s: hash lacks reserved fields (%d of %d present)", id, d.seen, requiredFields)
	}
	d.doc[session.FieldID] = id
	return d.doc, nil
}

// decodeHash decodes the result of HGETALL.
func decodeHash(id string, h map[string]string) (session.Doc, error) {
	d := newDecoder(len(h))
	for k, v := range h {
		if err := d.field(k, v); err != nil {
			return nil, fmt.Errorf("decode session %s: %w", id, err)
		}
	}
	return d.done(id)
}

// decodeFields decodes alternating field names and values, strings each,
// as encodeDoc returns them and as a script returns HGETALL.
func decodeFields[T any](id string, pairs []T) (session.Doc, error) {
	if len(pairs)%2 != 0 {
		return nil, fmt.Errorf("decode session %s: odd number of hash elements", id)
	}
	d := newDecoder(len(pairs) / 2)
	for i := 0; i < len(pairs); i += 2 {
		name, ok1 := any(pairs[i]).(string)
		value, ok2 := any(pairs[i+1]).(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("decode session %s: hash element %d is %T, %T", id, i, pairs[i], pairs[i+1])
		}
		if err := d.field(name, value); err != nil {
			return nil, fmt.Errorf("decode session %s: %w", id, err)
		}
	}
	return d.done(id)
}

// decodeValues decodes the values of the fields names as HMGET returns
// them (nil for an absent field): a document when the reserved fields are
// among them (required true), else only the user keys present.
func decodeValues(id string, names []string, vals []any, required bool) (session.Doc, error) {
	if len(vals) != len(names) {
		return nil, fmt.Errorf("decode session %s: %d values for %d fields", id, len(vals), len(names))
	}
	n := 0 // the document's keys: vals present, less $indexed, plus the id
	for i, v := range vals {
		if v != nil && names[i] != hashIndexed {
			n++
		}
	}
	d := newDecoder(n)
	for i, v := range vals {
		if v == nil {
			continue
		}
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("decode session %s: field %q is %T", id, names[i], v)
		}
		if err := d.field(names[i], str); err != nil {
			return nil, fmt.Errorf("decode session %s: %w", id, err)
		}
	}
	if !required {
		return d.doc, nil
	}
	return d.done(id)
}

// millis parses a reserved millisecond field as HMGET returns it; 0 when
// absent or not a number.
func millis(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
