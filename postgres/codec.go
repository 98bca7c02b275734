package postgres

// The typed JSON encoding of session values in jsonb.
//
// jsonb alone does not round-trip the session's values: its numbers do not
// tell an integer from a float (1 and 1.0 are equal numerics), it cannot
// hold a time, and its strings cannot hold NUL. So values are stored as
// JSON in which
//
//   - an int64 is a JSON integer: digits only, exact at any size, as jsonb
//     keeps numbers as PostgreSQL numerics;
//   - a float64 is a JSON number in plain decimal notation that always has
//     a '.' (1.0, 0.30000000000000004, 1000000000000000000000.0): the
//     shortest digits that read back as the same float64; jsonb keeps them
//     and their scale as written, and prints no exponent;
//   - a time.Time is {"$t": milliseconds since the Unix epoch};
//   - a string holding NUL is {"$z": its bytes in standard base64};
//   - nil, bool, other strings, []any and map[string]any are JSON's own.
//
// Field names of user maps never start with '$' (session.Normalize forbids
// it), so the tagged objects cannot be mistaken for a map. In this
// encoding, jsonb equality is session.Equal: numbers compare by value
// across integers and floats (1 = 1.0, but 2^53+1 ≠ 2^53.0), times by
// millisecond, objects ignoring key order, strings byte by byte. The
// functions of schema.go rely on that for $addToSet, $pull and $pullAll.
//
// Negative zero reads back as 0.0 (numerics have no sign of zero), which
// session.Equal holds equal to it.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/atomicsession/atomicsession/session"
)

// maxEncodeDepth bounds how deeply encodeValue descends, so that a cyclic
// value fails instead of exhausting the stack. Canonical values nest at most
// 100 levels.
const maxEncodeDepth = 200

// encodeValue appends the typed JSON of v, a canonical session value
// (see session.Normalize), to buf.
func encodeValue(buf []byte, v any) ([]byte, error) {
	return encodeAt(buf, v, 0)
}

func encodeAt(buf []byte, v any, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return buf, fmt.Errorf("value nests more than %d levels deep (is it cyclic?): %w", maxEncodeDepth, session.ErrInvalidValue)
	}
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case string:
		return appendString(buf, x)
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case float64:
		return appendFloat(buf, x)
	case time.Time:
		if y := x.Year(); y < 0 || y > 9999 {
			return buf, fmt.Errorf("time %v is outside the years 0 to 9999: %w", x, session.ErrInvalidValue)
		}
		buf = append(buf, `{"$t":`...)
		buf = strconv.AppendInt(buf, x.UnixMilli(), 10)
		return append(buf, '}'), nil
	case []any:
		if x == nil {
			return append(buf, "null"...), nil
		}
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = encodeAt(buf, e, depth+1); err != nil {
				return buf, err
			}
		}
		return append(buf, ']'), nil
	case map[string]any:
		return encodeMap(buf, x, depth)
	case session.Doc:
		return encodeMap(buf, x, depth)
	}
	return buf, fmt.Errorf("type %T is not a session value (see session.Normalize): %w", v, session.ErrInvalidValue)
}

func encodeMap(buf []byte, m map[string]any, depth int) ([]byte, error) {
	if m == nil {
		return append(buf, "null"...), nil
	}
	buf = append(buf, '{')
	first := true
	for k, e := range m {
		if k == "" || k[0] == '$' || strings.IndexByte(k, 0) >= 0 {
			return buf, fmt.Errorf("field name %q is empty, starts with '$' or holds NUL: %w", k, session.ErrInvalidValue)
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		var err error
		if buf, err = appendString(buf, k); err != nil {
			return buf, err
		}
		buf = append(buf, ':')
		if buf, err = encodeAt(buf, e, depth+1); err != nil {
			return buf, err
		}
	}
	return append(buf, '}'), nil
}

// appendFloat appends f in plain decimal notation with a '.'.
func appendFloat(buf []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return buf, fmt.Errorf("number %v is not finite: %w", f, session.ErrInvalidValue)
	}
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, 'f', -1, 64)
	if bytes.IndexByte(buf[start:], '.') < 0 {
		buf = append(buf, ".0"...)
	}
	return buf, nil
}

// appendString appends s as a JSON string, or as {"$z": base64} if it
// holds NUL, which jsonb strings cannot.
func appendString(buf []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return buf, fmt.Errorf("string is not valid UTF-8: %w", session.ErrInvalidValue)
	}
	if strings.IndexByte(s, 0) >= 0 {
		buf = append(buf, `{"$z":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, []byte(s))
		return append(buf, `"}`...), nil
	}
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"'), nil
}

// decodeValue reads a value of the typed JSON encoding, as jsonb prints it.
func decodeValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode stored value: %w", err)
	}
	return fromJSON(raw)
}

// fromJSON converts what encoding/json decoded into session values.
func fromJSON(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("decode stored float %s: %w", s, err)
			}
			return f, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("decode stored integer %s: %w", s, err)
		}
		return n, nil
	case []any:
		for i, e := range x {
			d, err := fromJSON(e)
			if err != nil {
				return nil, err
			}
			x[i] = d
		}
		return x, nil
	case map[string]any:
		if len(x) == 1 {
			if t, ok := x["$t"]; ok {
				n, ok := t.(json.Number)
				ms, err := strconv.ParseInt(string(n), 10, 64)
				if !ok || err != nil {
					return nil, fmt.Errorf("decode stored time %v", t)
				}
				return time.UnixMilli(ms).UTC(), nil
			}
			if z, ok := x["$z"]; ok {
				b64, _ := z.(string)
				b, err := base64.StdEncoding.DecodeString(b64)
				if err != nil {
					return nil, fmt.Errorf("decode stored string: %w", err)
				}
				return string(b), nil
			}
		}
		for k, e := range x {
			d, err := fromJSON(e)
			if err != nil {
				return nil, err
			}
			x[k] = d
		}
		return x, nil
	}
	return v, nil // nil, bool, string
}
