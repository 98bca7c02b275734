package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxValueSize is the largest size, in bytes, of one command's operands
// (Value and Values together), estimated from their content much as BSON
// would encode them. PrepareCommand rejects larger commands with an error
// wrapping ErrTooLarge. The default is 1 MiB.
const MaxValueSize = 1 << 20

// maxDepth is how deeply documents and arrays may nest, counting the
// documents a dotted path creates, as MongoDB's limit of 100 levels.
const maxDepth = 100

// Normalize returns a copy of v made of the canonical types of a Doc, the
// types that round-trip in every store:
//
//   - nil, bool and string (strings must be valid UTF-8);
//   - int64, from every Go signed or unsigned integer type; an unsigned value
//     above math.MaxInt64 is an error;
//   - float64, from float32 (widened) and float64; NaN and ±Inf are errors;
//   - time.Time, converted to UTC and truncated to the millisecond (without
//     its monotonic clock reading); years before 0 or after 9999 are errors;
//   - []any, from every slice or array type, its elements normalized; a nil
//     slice becomes nil (as encoding/json and the MongoDB driver encode it);
//     []byte and other byte slices and arrays are errors: encode them as a
//     string (base64, hex) first, as stores disagree on binary data;
//   - map[string]any, from every map whose key type is a string type (Doc
//     included), its values normalized; a nil map becomes nil. Keys must be
//     valid field names: not empty, not starting with '$', without '.' or
//     NUL, valid UTF-8;
//   - pointers are followed (a nil pointer becomes nil), as are the named
//     types of all the kinds above (type Count int becomes int64).
//
// Structs other than time.Time go through encoding/json first (their json
// tags apply, and a time.Time inside a struct becomes an RFC 3339 string),
// and the JSON is read back as the types above: numbers without a fraction
// or exponent become int64, others float64. GetAs converts back. Channels,
// functions, complex numbers and unsafe pointers are errors, as are values nested more than 100 levels deep
// (which also stops cyclic values). Every error wraps ErrInvalidValue and says
// where in v the offending part lies.
func Normalize(v any) (any, error) {
	return normalize(v, 0)
}

// valueError is an ErrInvalidValue with the location of the bad part in the
// value, built up as the error returns through the containers.
type valueError struct {
	loc string // such as ".items[3]" or "[2].name"; empty at the top
	msg string
}

func (e *valueError) Error() string {
	if e.loc == "" {
		return e.msg
	}
	return fmt.Sprintf("at %s: %s", strings.TrimPrefix(e.loc, "."), e.msg)
}

func (e *valueError) Unwrap() error { return ErrInvalidValue }

func invalidValue(format string, args ...any) error {
	return &valueError{msg: fmt.Sprintf(format, args...) + ": " + ErrInvalidValue.Error()}
}

// atKey and atIndex prefix the location of a valueError.
func atKey(err error, key string) error {
	var ve *valueError
	if errors.As(err, &ve) {
		ve.loc = "." + key + ve.loc
	}
	return err
}

func atIndex(err error, i int) error {
	var ve *valueError
	if errors.As(err, &ve) {
		ve.loc = "[" + strconv.Itoa(i) + "]" + ve.loc
	}
	return err
}

// normalize converts v at nesting depth (the number of documents and arrays
// around it).
func normalize(v any, depth int) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool, int64:
		return x, nil
	case string:
		return normString(x)
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float64:
		return normFloat(x)
	case float32:
		return normFloat(float64(x))
	case time.Time:
		return normTime(x)
	case []any:
		return normSlice(x, depth)
	case map[string]any:
		return normMap(x, depth)
	case Doc:
		return normMap(x, depth)
	}
	return normReflect(reflect.ValueOf(v), depth)
}

func normString(s string) (any, error) {
	if !utf8.ValidString(s) {
		return nil, invalidValue("string is not valid UTF-8")
	}
	return s, nil
}

func normFloat(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, invalidValue("number %v is not finite", f)
	}
	return f, nil
}

func normTime(t time.Time) (any, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, invalidValue("time %v is outside the years 0 to 9999", t)
	}
	return time.UnixMilli(t.UnixMilli()).UTC(), nil
}

func enterLevel(depth int) error {
	if depth >= maxDepth {
		return invalidValue("value nests more than %d levels deep (is it cyclic?)", maxDepth)
	}
	return nil
}

func normSlice(s []any, depth int) (any, error) {
	if s == nil {
		return nil, nil
	}
	if err := enterLevel(depth); err != nil {
		return nil, err
	}
	out := make([]any, len(s))
	for i, e := range s {
		n, err := normalize(e, depth+1)
		if err != nil {
			return nil, atIndex(err, i)
		}
		out[i] = n
	}
	return out, nil
}

func normMap[M ~map[string]any](m M, depth int) (any, error) {
	if m == nil {
		return nil, nil
	}
	if err := enterLevel(depth); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		if problem := fieldNameProblem(k); problem != "" {
			return nil, invalidValue("field name %q %s", k, problem)
		}
		n, err := normalize(e, depth+1)
		if err != nil {
			return nil, atKey(err, k)
		}
		out[k] = n
	}
	return out, nil
}

// normReflect converts the values the type switch of normalize does not
// know: other integer types, named types, slices, arrays, maps, pointers.
func normReflect(rv reflect.Value, depth int) (any, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u), nil
		}
		return nil, invalidValue("integer %d is larger than the int64 range", rv.Uint())
	case reflect.Float32, reflect.Float64:
		return normFloat(rv.Float())
	case reflect.String:
		return normString(rv.String())
	case reflect.Slice, reflect.Array:
		return normList(rv, depth)
	case reflect.Map:
		return normReflectMap(rv, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		if err := enterLevel(depth); err != nil {
			return nil, err
		}
		return normalize(rv.Elem().Interface(), depth+1)
	case reflect.Struct:
		return normJSON(rv, depth)
	}
	return nil, invalidValue("type %s does not round-trip in every store (use nil, bool, string, a number, time.Time, a slice or a map with string keys)", typeString(rv))
}

// normJSON converts a struct through encoding/json: marshalled, then read
// back with numbers kept exact, then normalized.
func normJSON(rv reflect.Value, depth int) (any, error) {
	raw, err := json.Marshal(rv.Interface())
	if err != nil {
		return nil, invalidValue("type %s does not encode as JSON: %v", typeString(rv), err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalidValue("type %s: reading its JSON back: %v", typeString(rv), err)
	}
	v, err = fromJSONNumbers(v)
	if err != nil {
		return nil, err
	}
	return normalize(v, depth)
}

// fromJSONNumbers replaces the json.Numbers in v with int64 or float64.
func fromJSONNumbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, invalidValue("number %s is out of range", x)
		}
		return f, nil
	case []any:
		for i, e := range x {
			n, err := fromJSONNumbers(e)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	case map[string]any:
		for k, e := range x {
			n, err := fromJSONNumbers(e)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	}
	return v, nil
}

func typeString(rv reflect.Value) string {
	if !rv.IsValid() {
		return "<nil>"
	}
	return rv.Type().String()
}

func normList(rv reflect.Value, depth int) (any, error) {
	if rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, invalidValue("type %s is binary data, which stores disagree on; encode it as a string (base64, hex) first", rv.Type())
	}
	if rv.Kind() == reflect.Slice && rv.IsNil() {
		return nil, nil
	}
	if err := enterLevel(depth); err != nil {
		return nil, err
	}
	out := make([]any, rv.Len())
	for i := range out {
		n, err := normalize(rv.Index(i).Interface(), depth+1)
		if err != nil {
			return nil, atIndex(err, i)
		}
		out[i] = n
	}
	return out, nil
}

func normReflectMap(rv reflect.Value, depth int) (any, error) {
	if rv.Type().Key().Kind() != reflect.String {
		return nil, invalidValue("type %s has keys that are not strings", rv.Type())
	}
	if rv.IsNil() {
		return nil, nil
	}
	if err := enterLevel(depth); err != nil {
		return nil, err
	}
	out := make(map[string]any, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		k := it.Key().String()
		if problem := fieldNameProblem(k); problem != "" {
			return nil, invalidValue("field name %q %s", k, problem)
		}
		n, err := normalize(it.Value().Interface(), depth+1)
		if err != nil {
			return nil, atKey(err, k)
		}
		out[k] = n
	}
	return out, nil
}

// valueSize estimates the encoded size in bytes of a normalized value, as
// BSON would take it: 1 byte per element type, the field name and a NUL,
// 8 bytes per number and time, a 4-byte length and a NUL per string,
// document and array.
func valueSize(v any) int {
	switch x := v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case string:
		return len(x) + 5
	case []any:
		n := 5
		for i, e := range x {
			n += 2 + decimalDigits(i) + valueSize(e)
		}
		return n
	case map[string]any:
		n := 5
		for k, e := range x {
			n += 2 + len(k) + valueSize(e)
		}
		return n
	}
	return 8
}

func decimalDigits(i int) int {
	n := 1
	for ; i >= 10; i /= 10 {
		n++
	}
	return n
}
