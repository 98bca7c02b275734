package session

import (
	"math"
	"reflect"
	"time"
)

// maxEqualDepth bounds the recursion of Equal, so that a cyclic value cannot
// exhaust the stack. Canonical values nest at most 100 levels.
const maxEqualDepth = 1000

// Equal reports whether a and b are the same value, as MongoDB compares
// values for $addToSet and $pullAll:
//
//   - numbers compare by value across types (int64, int32, int, float64 ...):
//     1 equals 1.0; an integer equals a float only if the float is exactly
//     that integer (no rounding: 1<<53+1 does not equal float64(1<<53)); NaN
//     equals nothing;
//   - times compare by instant at millisecond precision, whatever their
//     locations;
//   - documents (map[string]any or Doc) are equal if they have the same keys
//     with Equal values, in any order. MongoDB compares BSON documents field
//     by field in their stored order; Go maps have no order, so this package
//     ignores it;
//   - arrays ([]any) are equal if they have the same length and Equal
//     elements in the same order;
//   - nil equals only nil; bools and strings compare as Go values (strings
//     byte by byte).
//
// Values of other types are compared with reflect.DeepEqual. Values nested
// more than 1000 levels deep (never canonical, but possible in a cyclic
// value) are reported unequal.
func Equal(a, b any) bool {
	return equalAt(a, b, 0)
}

func equalAt(a, b any, depth int) bool {
	if depth > maxEqualDepth {
		return false
	}
	if x, ok := asNumber(a); ok {
		y, ok := asNumber(b)
		return ok && x.same(y)
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.UnixMilli() == y.UnixMilli()
	}
	if x, ok := asArray(a); ok {
		y, ok := asArray(b)
		return ok && equalArrays(x, y, depth)
	}
	if x, ok := asDoc(a); ok {
		y, ok := asDoc(b)
		return ok && equalDocs(x, y, depth)
	}
	return reflect.DeepEqual(a, b)
}

func equalArrays(x, y []any, depth int) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !equalAt(x[i], y[i], depth+1) {
			return false
		}
	}
	return true
}

func equalDocs(x, y map[string]any, depth int) bool {
	if len(x) != len(y) {
		return false
	}
	for k, xv := range x {
		yv, ok := y[k]
		if !ok || !equalAt(xv, yv, depth+1) {
			return false
		}
	}
	return true
}

// contains reports whether list holds an element Equal to v.
func containsEqual(list []any, v any) bool {
	for _, e := range list {
		if Equal(e, v) {
			return true
		}
	}
	return false
}

// number is an integer or a float found in a document or an operand.
type numValue struct {
	isFloat bool
	i       int64
	f       float64
}

// asNumber reads v as a number: any Go integer type as an integer (an
// unsigned value above math.MaxInt64 as a float), float32 and float64 as a
// float. Stores may return int32 or int where int64 was written.
func asNumber(v any) (numValue, bool) {
	switch x := v.(type) {
	case int64:
		return numValue{i: x}, true
	case float64:
		return numValue{isFloat: true, f: x}, true
	case int32:
		return numValue{i: int64(x)}, true
	case int:
		return numValue{i: int64(x)}, true
	case int8:
		return numValue{i: int64(x)}, true
	case int16:
		return numValue{i: int64(x)}, true
	case uint8:
		return numValue{i: int64(x)}, true
	case uint16:
		return numValue{i: int64(x)}, true
	case uint32:
		return numValue{i: int64(x)}, true
	case uint:
		return unsignedNumValue(uint64(x)), true
	case uint64:
		return unsignedNumValue(x), true
	case float32:
		return numValue{isFloat: true, f: float64(x)}, true
	}
	return numValue{}, false
}

func unsignedNumValue(u uint64) numValue {
	if u > math.MaxInt64 {
		return numValue{isFloat: true, f: float64(u)}
	}
	return numValue{i: int64(u)}
}

// value returns n as a canonical Doc value: int64 or float64.
func (n numValue) value() any {
	if n.isFloat {
		return n.f
	}
	return n.i
}

func (n numValue) float() float64 {
	if n.isFloat {
		return n.f
	}
	return float64(n.i)
}

func (n numValue) same(m numValue) bool {
	switch {
	case !n.isFloat && !m.isFloat:
		return n.i == m.i
	case n.isFloat && m.isFloat:
		return n.f == m.f
	case n.isFloat:
		return intEqualsFloat(m.i, n.f)
	}
	return intEqualsFloat(n.i, m.f)
}

// intEqualsFloat reports whether f is exactly the integer i.
func intEqualsFloat(i int64, f float64) bool {
	const two63 = 1 << 63
	if f != math.Trunc(f) || f < -two63 || f >= two63 {
		return false // fractional, NaN, ±Inf, or out of the int64 range
	}
	return int64(f) == i
}

// asDoc reads v as a document: map[string]any, Doc, a document being built
// by ApplyCommands, or another named type of map[string]any (such as a
// driver's map type).
func asDoc(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case Doc:
		return x, true
	case ownedDoc:
		return x, true
	case nil, bool, string, int64, float64, int32, int, time.Time, []any:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	t := reflect.TypeFor[map[string]any]()
	if rv.Kind() == reflect.Map && rv.Type().ConvertibleTo(t) {
		return rv.Convert(t).Interface().(map[string]any), true
	}
	return nil, false
}

// asArray reads v as an array: []any, or another named type of []any (such
// as a driver's array type).
func asArray(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case nil, bool, string, int64, float64, int32, int, time.Time, map[string]any, Doc, ownedDoc:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	t := reflect.TypeFor[[]any]()
	if rv.Kind() == reflect.Slice && rv.Type().ConvertibleTo(t) {
		return rv.Convert(t).Interface().([]any), true
	}
	return nil, false
}
