package redis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/atomicsession/atomicsession/session"
)

// The value encoding is JSON that keeps Go's types: an int64 is written as
// a plain integer ("42", which is also what HINCRBY reads and writes), a
// float64 always with a '.' or an exponent ("1.0", "0.30000000000000004",
// "1e+21"), so 2^53-1 stays an int64 and 1.0 stays a float64. A time.Time is
// the one-key object {"$date":1700000000123} (Unix milliseconds, UTC), which
// no user value can look like: keys never start with '$' (see
// session.Normalize). Values that session.Normalize rejects (NaN, ±Inf,
// strings or keys that are not valid UTF-8, keys starting with '$') are
// rejected here too, so every encoding decodes to the value it came from.
//
// Nothing in Redis ever decodes these values: Lua only copies them, compares
// their SHA-1 and runs HINCRBY on plain integers.
const tagDate = "$date"

// encodeValue returns the encoding of v, which must be made of a Doc's
// value types (see session.Normalize); other types are an error wrapping
// session.ErrInvalidValue.
func encodeValue(v any) ([]byte, error) {
	return appendValue(make([]byte, 0, 32), v, 0)
}

// maxEncodeDepth bounds the nesting that encodeValue follows, far above
// what session.PrepareCommand lets in (100 levels), so that a cyclic value
// in a command that was not prepared is an error, not a stack overflow.
const maxEncodeDepth = 1000

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return nil, fmt.Errorf("encode: nested more than %d levels deep: %w", maxEncodeDepth, session.ErrInvalidValue)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		return appendFloat(b, x)
	case time.Time:
		b = append(b, `{"`+tagDate+`":`...)
		return append(strconv.AppendInt(b, x.UnixMilli(), 10), '}'), nil
	case []any:
		return appendArray(b, x, depth+1)
	case map[string]any:
		return appendObject(b, x, depth+1)
	case session.Doc:
		return appendObject(b, x, depth+1)
	}
	return nil, fmt.Errorf("encode %T: %w", v, session.ErrInvalidValue)
}

func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("encode %v: %w", f, session.ErrInvalidValue)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	if !bytes.ContainsAny(b[start:], ".e") {
		b = append(b, ".0"...)
	}
	return b, nil
}

func appendArray(b []byte, a []any, depth int) ([]byte, error) {
	b, err := appendElements(append(b, '['), a, depth)
	if err != nil {
		return nil, err
	}
	return append(b, ']'), nil
}

// appendElements writes the elements of an array, separated by ',', without
// the brackets.
func appendElements(b []byte, a []any, depth int) ([]byte, error) {
	for i, e := range a {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(b, e, depth); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendObject(b []byte, m map[string]any, depth int) ([]byte, error) {
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		e := m[k]
		if i > 0 {
			b = append(b, ',')
		}
		if k == "" || k[0] == '$' {
			return nil, fmt.Errorf("encode key %q: %w", k, session.ErrInvalidValue)
		}
		var err error
		if b, err = appendString(b, k); err != nil {
			return nil, err
		}
		b = append(b, ':')
		if b, err = appendValue(b, e, depth); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. JSON strings are UTF-8, so
// other bytes are an error.
func appendString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("encode %q: not valid UTF-8: %w", s, session.ErrInvalidValue)
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// decodeValue decodes what encodeValue wrote into a Doc value.
func decodeValue(data string) (any, error) {
	if v, ok, err := decodeScalar(data); ok {
		return v, err
	}
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode value: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode value: data after the value")
	}
	return canonical(raw)
}

// decodeScalar decodes, without encoding/json, the encodings that are
// most of a session: literals, numbers and strings without escapes. ok is
// false for anything else.
func decodeScalar(data string) (v any, ok bool, err error) {
	switch data {
	case "null":
		return nil, true, nil
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	if len(data) == 0 {
		return nil, false, nil
	}
	if isJSONNumber(data) {
		v, err := number(data)
		return v, true, err
	}
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return nil, false, nil
	}
	body := data[1 : len(data)-1]
	if !plainString(body) {
		return nil, false, nil
	}
	return body, true, nil
}

// plainString reports whether s is valid UTF-8 with no control character,
// quote or backslash: a JSON string body that needs no unescaping. It looks
// at eight bytes at a time, since session values can be large.
func plainString(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(w uint64) uint64 { return (w - ones) &^ w & highs }
	ascii := true
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A flagged word may be a false alarm (a borrow); check it bytewise.
		if (w-ones*0x20)&^w&highs|zero(w^ones*'"')|zero(w^ones*'\\') != 0 && !plainBytes(s[i:i+8]) {
			return false
		}
		if w&highs != 0 {
			ascii = false
		}
	}
	if !plainBytes(s[i:]) {
		return false
	}
	if i < len(s) && !isASCII(s[i:]) {
		ascii = false
	}
	return ascii || utf8.ValidString(s)
}

// plainBytes reports whether s has no control character, quote or
// backslash.
func plainBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// isJSONNumber reports whether b is a number as JSON spells it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(b string) bool {
	digits := func(i int) int { // the index after the digits from i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i
	}
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(i + 1); j > i+1 {
			i = j
		} else {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if j := digits(i); j > i {
			i = j
		} else {
			return false
		}
	}
	return i == len(b)
}

// canonical converts what encoding/json decoded (with UseNumber) to Doc
// types, resolving tags and escaped keys.
func canonical(raw any) (any, error) {
	switch x := raw.(type) {
	case json.Number:
		return number(string(x))
	case []any:
		for i, e := range x {
			v, err := canonical(e)
			if err != nil {
				return nil, err
			}
			x[i] = v
		}
		return x, nil
	case map[string]any:
		if len(x) == 1 {
			if v, ok, err := tagged(x); ok || err != nil {
				return v, err
			}
		}
		return object(x)
	}
	return raw, nil // nil, bool, string
}

func object(x map[string]any) (map[string]any, error) {
	for k, e := range x {
		if k == "" || k[0] == '$' {
			return nil, fmt.Errorf("decode: unknown tag %q", k)
		}
		v, err := canonical(e)
		if err != nil {
			return nil, err
		}
		x[k] = v
	}
	return x, nil
}

// number decodes a JSON number: an integer without '.' or exponent is an
// int64, any other a float64.
func number(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("decode integer %q: %w", s, err)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("decode float %q: %w", s, err)
	}
	return f, nil
}

// tagged decodes a one-key object whose key is a tag. ok is false if the
// key is not a tag.
func tagged(x map[string]any) (v any, ok bool, err error) {
	e, ok := x[tagDate]
	if !ok {
		return nil, false, nil
	}
	n, isNum := e.(json.Number)
	ms, perr := strconv.ParseInt(string(n), 10, 64)
	if !isNum || perr != nil {
		return nil, true, fmt.Errorf("decode %s: %v is not integer milliseconds", tagDate, e)
	}
	return time.UnixMilli(ms).UTC(), true, nil
}
