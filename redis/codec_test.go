package redis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/atomicsession/atomicsession/session"
)

// exactValues are values whose type and bits must survive the encoding.
func exactValues() map[string]any {
	return map[string]any{
		"maxSafe":    int64(1<<53 - 1),
		"maxInt":     int64(math.MaxInt64),
		"minInt":     int64(math.MinInt64),
		"zero":       int64(0),
		"sum":        0.1 + 0.2,
		"one":        1.0,
		"negZero":    math.Copysign(0, -1),
		"big":        1e300,
		"tiny":       5e-324,
		"bigWhole":   float64(1 << 60),
		"empty":      []any{},
		"emptyDoc":   map[string]any{},
		"nil":        nil,
		"true":       true,
		"str":        "héllo \"quoted\" \\ \n\t\x00\x1f </script> \u2028 😀",
		"emptyStr":   "",
		"time":       time.UnixMilli(1700000000123).UTC(),
		"beforeUnix": time.UnixMilli(-1234567).UTC(),
		"nested": map[string]any{
			"a":    []any{int64(1), 2.5, "x", []any{}, map[string]any{"deep": []any{nil, false}}},
			"date": int64(5),
			"t":    time.UnixMilli(1).UTC(),
		},
		"dateLike": map[string]any{"date": "not a date"},
	}
}

func TestCodecRoundTripsExactly(t *testing.T) {
	for name, v := range exactValues() {
		enc, err := encodeValue(v)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		got, err := decodeValue(string(enc))
		if err != nil {
			t.Fatalf("%s: decode %s: %v", name, enc, err)
		}
		if !identical(got, v) {
			t.Errorf("%s: %s decoded to %#v, want %#v", name, enc, got, v)
		}
	}
}

func TestCodecWritesIntegersForHINCRBY(t *testing.T) {
	for v, want := range map[any]string{
		int64(42): "42", int64(-7): "-7", 1.0: "1.0", 2.5: "2.5", 1e21: "1e+21",
		time.UnixMilli(12).UTC(): `{"$date":12}`,
	} {
		enc, err := encodeValue(v)
		if err != nil || string(enc) != want {
			t.Errorf("encode %#v = %s, %v; want %s", v, enc, err, want)
		}
	}
}

func TestCodecRejects(t *testing.T) {
	for _, v := range []any{
		struct{}{}, 1, float32(1), uint64(1), math.NaN(), math.Inf(-1), "\xff", []any{"\xfe"},
		map[string]any{"$date": int64(1)}, map[string]any{"": 1.0}, map[string]any{"\xff": 1.0},
	} {
		if _, err := encodeValue(v); !errors.Is(err, session.ErrInvalidValue) {
			t.Errorf("encode %#v: %v, want ErrInvalidValue", v, err)
		}
	}
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	if _, err := encodeValue(cyclic); !errors.Is(err, session.ErrInvalidValue) {
		t.Errorf("encode a cyclic map: %v, want ErrInvalidValue", err)
	}
	for _, bad := range []string{``, `{`, `1 2`, `{"$date":"x"}`, `{"$num":"NaN"}`, `{"a":1,"$x":2}`, `99999999999999999999`} {
		if v, err := decodeValue(bad); err == nil {
			t.Errorf("decode %q = %#v, want an error", bad, v)
		}
	}
}

func FuzzCodec(f *testing.F) {
	f.Add("x", int64(1<<53-1), 0.1, int64(1700000000123))
	f.Fuzz(func(t *testing.T, s string, n int64, x float64, ms int64) {
		v := map[string]any{"k" + s: []any{s, n, x, time.UnixMilli(ms).UTC(), map[string]any{"k" + s: s}}}
		enc, err := encodeValue(v)
		if !utf8.ValidString(s) || math.IsNaN(x) || math.IsInf(x, 0) {
			if !errors.Is(err, session.ErrInvalidValue) {
				t.Fatalf("encode %#v: %v, want ErrInvalidValue", v, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeValue(string(enc))
		if err != nil {
			t.Fatalf("decode %s: %v", enc, err)
		}
		if !identical(got, v) {
			t.Fatalf("%s decoded to %#v, want %#v", enc, got, v)
		}
		for _, scalar := range []any{s, n, x} { // alone, they take decodeScalar's path
			enc, _ := encodeValue(scalar)
			if got, err := decodeValue(string(enc)); err != nil || !identical(got, scalar) {
				t.Fatalf("%s decoded to %#v, %v; want %#v", enc, got, err, scalar)
			}
		}
	})
}

// FuzzDecodeScalar: whatever decodeScalar accepts, encoding/json reads as
// the same value.
func FuzzDecodeScalar(f *testing.F) {
	for _, s := range []string{`"x"`, `"a\"b"`, `12`, `-0.5e3`, `1E+2`, `true`, `null`, `"\u00e9"`, `"é"`, `01`, `-`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok, err := decodeScalar(string(data))
		if !ok || err != nil {
			return
		}
		var raw any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if jerr := dec.Decode(&raw); jerr != nil || dec.More() {
			t.Fatalf("decodeScalar(%q) = %#v, but it is not JSON: %v", data, v, jerr)
		}
		want, cerr := canonical(raw)
		if cerr != nil || !identical(v, want) {
			t.Fatalf("decodeScalar(%q) = %#v; encoding/json: %#v, %v", data, v, want, cerr)
		}
	})
}

// identical reports whether a and b are equal with the same types, floats
// bit for bit (NaN equals NaN, -0 differs from 0).
func identical(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y) && x.Location() == y.Location()
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !identical(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			if f, ok := y[k]; !ok || !identical(e, f) {
				return false
			}
		}
		return true
	case session.Doc:
		return identical(map[string]any(x), map[string]any(asDoc(b)))
	}
	return reflect.TypeOf(a) == reflect.TypeOf(b) && a == b
}

func asDoc(v any) session.Doc {
	switch d := v.(type) {
	case session.Doc:
		return d
	case map[string]any:
		return d
	}
	return nil
}

// TestEncodeIsDeterministic: a map encodes to the same bytes every time, so
// a batch that changes nothing writes nothing and does not make concurrent
// writers of the key retry.
func TestEncodeIsDeterministic(t *testing.T) {
	m := map[string]any{}
	for i := range 20 {
		m[fmt.Sprintf("k%02d", i)] = map[string]any{"a": int64(i), "b": "x", "c": []any{true}}
	}
	first, err := encodeValue(m)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := encodeValue(m)
		if err != nil || string(again) != string(first) {
			t.Fatalf("encoding changed between calls: %s vs %s (%v)", first, again, err)
		}
	}
}
