package session

import (
	"math"
	"testing"
	"time"
)

type bsonLikeM map[string]any // as a driver's named document type
type bsonLikeA []any          // as a driver's named array type

func TestEqual(t *testing.T) {
	instant := time.Date(2024, 5, 6, 7, 8, 9, 10_000_000, time.UTC)
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	cases := []struct {
		name string
		a, b any
		want bool
	}{
		{"nil", nil, nil, true},
		{"nil and zero", nil, int64(0), false},
		{"nil and empty string", nil, "", false},
		{"bools", true, true, true},
		{"different bools", true, false, false},
		{"strings", "a", "a", true},
		{"strings by bytes", "é", "e\u0301", false},
		{"string and number", "1", int64(1), false},
		{"int64", int64(5), int64(5), true},
		{"int64 differ", int64(5), int64(6), false},
		{"int64 and int32", int64(5), int32(5), true},
		{"int and int64", 5, int64(5), true},
		{"uint8 and int64", uint8(5), int64(5), true},
		{"int and float", int64(1), 1.0, true},
		{"float and int", 1.0, int32(1), true},
		{"int and fraction", int64(1), 1.5, false},
		{"float32 and float64", float32(0.5), 0.5, true},
		{"negative zero", 0.0, math.Copysign(0, -1), true},
		{"int zero and negative zero", int64(0), math.Copysign(0, -1), true},
		{"NaN", math.NaN(), math.NaN(), false},
		{"NaN and int", math.NaN(), int64(0), false},
		{"Inf and int", math.Inf(1), int64(math.MaxInt64), false},
		{"no rounding above 2^53", int64(1)<<53 + 1, float64(int64(1) << 53), false},
		{"exact above 2^53", int64(1) << 60, float64(int64(1) << 60), true},
		{"2^63 is past int64", int64(math.MaxInt64), float64(1 << 63), false},
		{"min int64", int64(math.MinInt64), -float64(1 << 63), true},
		{"huge uint64", uint64(math.MaxUint64), float64(math.MaxUint64), true},
		{"bool and number", true, int64(1), false},
		{"times", instant, instant, true},
		{"times in zones", instant, instant.In(time.FixedZone("X", 3600)), true},
		{"times within a millisecond", instant, instant.Add(999 * time.Microsecond), true},
		{"times a millisecond apart", instant, instant.Add(time.Millisecond), false},
		{"time and string", instant, instant.String(), false},
		{"empty docs", map[string]any{}, map[string]any{}, true},
		{"docs any order", map[string]any{"a": int64(1), "b": "x"}, map[string]any{"b": "x", "a": 1.0}, true},
		{"docs differ", map[string]any{"a": int64(1)}, map[string]any{"a": int64(2)}, false},
		{"docs other key", map[string]any{"a": nil}, map[string]any{"b": nil}, false},
		{"docs more keys", map[string]any{"a": nil}, map[string]any{"a": nil, "b": nil}, false},
		{"Doc and map", Doc{"a": int64(1)}, map[string]any{"a": int32(1)}, true},
		{"named map", bsonLikeM{"a": "x"}, map[string]any{"a": "x"}, true},
		{"nested docs", map[string]any{"d": map[string]any{"l": []any{int64(1)}}}, map[string]any{"d": map[string]any{"l": []any{1.0}}}, true},
		{"arrays", []any{int64(1), "a"}, []any{1.0, "a"}, true},
		{"arrays order", []any{int64(1), int64(2)}, []any{int64(2), int64(1)}, false},
		{"arrays length", []any{int64(1)}, []any{int64(1), int64(1)}, false},
		{"empty array and doc", []any{}, map[string]any{}, false},
		{"empty array and nil", []any{}, nil, false},
		{"named array", bsonLikeA{"a"}, []any{"a"}, true},
		{"array and scalar", []any{int64(1)}, int64(1), false},
		{"other types", struct{ A int }{1}, struct{ A int }{1}, true},
		{"other types differ", struct{ A int }{1}, struct{ A int }{2}, false},
		{"cyclic", cyclic, cyclic, false},
	}
	for _, c := range cases {
		if got := Equal(c.a, c.b); got != c.want {
			t.Errorf("%s: Equal(%#v, %#v) = %v, want %v", c.name, c.a, c.b, got, c.want)
		}
		if got := Equal(c.b, c.a); got != c.want {
			t.Errorf("%s: Equal(%#v, %#v) = %v, want %v (not symmetric)", c.name, c.b, c.a, got, c.want)
		}
	}
}

func TestEqualIsReflexiveOnCanonicalValues(t *testing.T) {
	for _, v := range []any{
		nil, true, "s", int64(-3), 2.5, time.Unix(1, 0).UTC(),
		[]any{}, map[string]any{}, []any{map[string]any{"a": []any{nil}}}, nest(maxDepth),
	} {
		if !Equal(v, v) {
			t.Errorf("Equal(%#v, itself) = false", v)
		}
	}
}
