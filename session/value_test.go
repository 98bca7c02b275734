package session

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

type (
	namedInt    int
	namedUint8  uint8
	namedString string
	namedBool   bool
	namedFloat  float32
	namedSlice  []string
	namedMap    map[string]int
	namedKey    string
)

func TestNormalizeScalars(t *testing.T) {
	n := 7
	pn := &n
	var nilPtr *int
	cases := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"bool", true, true},
		{"string", "héllo", "héllo"},
		{"empty string", "", ""},
		{"string with NUL", "a\x00b", "a\x00b"},
		{"int", 42, int64(42)},
		{"int8", int8(-8), int64(-8)},
		{"int16", int16(-16), int64(-16)},
		{"int32", int32(-32), int64(-32)},
		{"int64", int64(math.MinInt64), int64(math.MinInt64)},
		{"uint", uint(1), int64(1)},
		{"uint8", uint8(255), int64(255)},
		{"uint16", uint16(65535), int64(65535)},
		{"uint32", uint32(math.MaxUint32), int64(math.MaxUint32)},
		{"uint64 max int64", uint64(math.MaxInt64), int64(math.MaxInt64)},
		{"uintptr", uintptr(9), int64(9)},
		{"float32 widened", float32(0.1), float64(float32(0.1))},
		{"float64", 2.5, 2.5},
		{"negative zero", math.Copysign(0, -1), math.Copysign(0, -1)},
		{"named int", namedInt(3), int64(3)},
		{"named uint8", namedUint8(4), int64(4)},
		{"named string", namedString("s"), "s"},
		{"named bool", namedBool(true), true},
		{"named float", namedFloat(1.5), 1.5},
		{"pointer", pn, int64(7)},
		{"pointer to pointer", &pn, int64(7)},
		{"nil pointer", nilPtr, nil},
		{"nil map", map[string]any(nil), nil},
		{"nil slice", []any(nil), nil},
		{"nil typed slice", []string(nil), nil},
		{"nil Doc", Doc(nil), nil},
	}
	for _, c := range cases {
		got, err := Normalize(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: Normalize(%#v) = %#v (%T), %v; want %#v (%T)", c.name, c.in, got, got, err, c.want, c.want)
		}
		if f, ok := got.(float64); ok && math.Signbit(f) != math.Signbit(c.want.(float64)) {
			t.Errorf("%s: the sign of zero is lost", c.name)
		}
	}
}

func TestNormalizeTimesToUTCMilliseconds(t *testing.T) {
	zone := time.FixedZone("UTC+5", 5*3600)
	in := time.Date(2024, 2, 29, 23, 59, 59, 123_456_789, zone)
	got, err := Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2024, 2, 29, 18, 59, 59, 123_000_000, time.UTC)
	tm, ok := got.(time.Time)
	if !ok || !tm.Equal(want) || tm.Location() != time.UTC || tm != want {
		t.Fatalf("Normalize(%v) = %#v, want %v in UTC", in, got, want)
	}
	// The monotonic clock reading goes, so == works on the result.
	now := time.Now()
	got, _ = Normalize(now)
	if got.(time.Time) != time.UnixMilli(now.UnixMilli()).UTC() {
		t.Fatalf("Normalize(time.Now()) kept a monotonic reading or sub-millisecond part: %#v", got)
	}
	// Before 1970, truncation rounds down as BSON's millisecond count does.
	old := time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
	got, _ = Normalize(old)
	if got.(time.Time) != time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC) {
		t.Fatalf("Normalize(%v) = %v", old, got)
	}
	for _, edge := range []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if _, err := Normalize(edge); err != nil {
			t.Errorf("Normalize(%v) = %v", edge, err)
		}
	}
}

func TestNormalizeContainers(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want any
	}{
		{"[]any", []any{1, "a", nil}, []any{int64(1), "a", nil}},
		{"empty slice", []string{}, []any{}},
		{"[]string", []string{"x", "y"}, []any{"x", "y"}},
		{"[]int", []int{1, 2}, []any{int64(1), int64(2)}},
		{"array", [2]float32{0.5, 1}, []any{0.5, 1.0}},
		{"named slice", namedSlice{"a"}, []any{"a"}},
		{"map[string]any", map[string]any{"a": 1}, map[string]any{"a": int64(1)}},
		{"Doc", Doc{"a": int8(1)}, map[string]any{"a": int64(1)}},
		{"map[string]int", map[string]int{"a": 1, "b": 2}, map[string]any{"a": int64(1), "b": int64(2)}},
		{"named map", namedMap{"a": 1}, map[string]any{"a": int64(1)}},
		{"named key", map[namedKey]bool{"k": true}, map[string]any{"k": true}},
		{"digit keys", map[string]any{"0": 1}, map[string]any{"0": int64(1)}},
		{"nested", map[string]any{"l": []map[string][]int{{"x": {1}}}, "d": Doc{"e": Doc{}}},
			map[string]any{"l": []any{map[string]any{"x": []any{int64(1)}}}, "d": map[string]any{"e": map[string]any{}}}},
		{"pointer to map", &map[string]string{"a": "b"}, map[string]any{"a": "b"}},
		{"slice of pointers", []*int{nil}, []any{nil}},
		{"interfaces", []any{[]any{namedInt(1)}, any(nil)}, []any{[]any{int64(1)}, nil}},
	}
	for _, c := range cases {
		got, err := Normalize(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: Normalize(%#v) = %#v, %v; want %#v", c.name, c.in, got, err, c.want)
		}
	}
}

func TestNormalizeCopies(t *testing.T) {
	inner := []any{1}
	in := map[string]any{"l": inner, "d": map[string]any{"x": 1}}
	got, err := Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	inner[0] = 2
	in["d"].(map[string]any)["x"] = 2
	in["new"] = true
	want := map[string]any{"l": []any{int64(1)}, "d": map[string]any{"x": int64(1)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changing the input changed the result: %v", got)
	}
}

func TestNormalizeRejects(t *testing.T) {
	cyclicMap := map[string]any{}
	cyclicMap["self"] = cyclicMap
	cyclicSlice := []any{nil}
	cyclicSlice[0] = cyclicSlice
	type cyclicPtr *cyclicPtr
	var cp cyclicPtr
	cp = &cp
	x := 1
	cases := []struct {
		name string
		in   any
		want string // in the message
	}{
		{"NaN", math.NaN(), "not finite"},
		{"+Inf", math.Inf(1), "not finite"},
		{"-Inf float32", float32(math.Inf(-1)), "not finite"},
		{"uint64 too big", uint64(math.MaxInt64) + 1, "int64 range"},
		{"uint too big", uint(math.MaxUint64), "int64 range"},
		{"bytes", []byte("x"), "binary data"},
		{"byte array", [4]byte{}, "binary data"},
		{"json.RawMessage", json.RawMessage(`{}`), "binary data"},
		{"struct", struct{ F func() }{func() {}}, "does not encode as JSON"},
		{"chan", make(chan int), "chan int"},
		{"func", func() {}, "func()"},
		{"complex", complex(1, 2), "complex128"},
		{"unsafe pointer", unsafe.Pointer(&x), "unsafe.Pointer"},
		{"int keys", map[int]string{1: "a"}, "not strings"},
		{"invalid UTF-8", "\xff", "UTF-8"},
		{"empty field name", map[string]any{"": 1}, `"" is empty`},
		{"dollar field name", map[string]any{"$set": 1}, "starts with '$'"},
		{"dotted field name", map[string]any{"a.b": 1}, "holds a '.'"},
		{"NUL field name", map[string]any{"a\x00": 1}, "NUL"},
		{"invalid UTF-8 field name", map[string]int{"\xff": 1}, "UTF-8"},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "years 0 to 9999"},
		{"year -1", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), "years 0 to 9999"},
		{"cyclic map", cyclicMap, "levels deep"},
		{"cyclic slice", cyclicSlice, "levels deep"},
		{"cyclic pointer", cp, "levels deep"},
		{"too deep", nest(maxDepth + 1), "levels deep"},
		{"nested location", map[string]any{"cart": map[string]any{"items": []any{1, func() {}}}}, "at cart.items[1]: type func()"},
		{"location in array", []any{map[string]any{"x": math.NaN()}}, "at [0].x:"},
	}
	for _, c := range cases {
		got, err := Normalize(c.in)
		if !errors.Is(err, ErrInvalidValue) || got != nil {
			t.Errorf("%s: Normalize = %#v, %v; want nil and an error wrapping ErrInvalidValue", c.name, got, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Normalize error %q does not say %q", c.name, err, c.want)
		}
	}
	if _, err := Normalize(nest(maxDepth)); err != nil {
		t.Errorf("Normalize of a value nested %d deep = %v", maxDepth, err)
	}
}

// nest returns a value of n documents and arrays nested in each other.
func nest(n int) any {
	var v any = "leaf"
	for i := range n {
		if i%2 == 0 {
			v = []any{v}
		} else {
			v = map[string]any{"k": v}
		}
	}
	return v
}

func TestValueSizeEstimatesBSON(t *testing.T) {
	for _, c := range []struct {
		v    any
		want int
	}{
		{nil, 0},
		{true, 1},
		{"abc", 8},
		{int64(1), 8},
		{1.5, 8},
		{time.Unix(0, 0), 8},
		{[]any{}, 5},
		{[]any{int64(1), "x"}, 5 + (2 + 1 + 8) + (2 + 1 + 6)},
		{map[string]any{"ab": true}, 5 + 2 + 2 + 1},
		{make([]any, 11), 5 + 10*3 + 4},
	} {
		if got := valueSize(c.v); got != c.want {
			t.Errorf("valueSize(%#v) = %d, want %d", c.v, got, c.want)
		}
	}
}
