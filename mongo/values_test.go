package mongo_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/session"
)

// roundTripValues are the canonical session values; each must come back
// from the server exactly as sent, in its canonical Go type.
var roundTripValues = map[string]any{
	"nil":        nil,
	"true":       true,
	"false":      false,
	"empty":      "",
	"unicode":    "héllo, 世界 \u0000 nul",
	"maxSafeInt": int64(1<<53 - 1),
	"minSafeInt": -int64(1<<53 - 1),
	"maxInt64":   int64(math.MaxInt64),
	"minInt64":   int64(math.MinInt64),
	"smallInt":   int64(7),
	"pointThree": 0.1 + 0.2,
	"maxFloat":   math.MaxFloat64,
	"tinyFloat":  math.SmallestNonzeroFloat64,
	"floatWhole": 2.0,
	"time":       time.Date(2024, 2, 29, 23, 59, 59, 123e6, time.UTC),
	"epoch":      time.UnixMilli(0).UTC(),
	"before1970": time.Date(1900, 1, 1, 0, 0, 0, 1e6, time.UTC),
	"emptyArray": []any{},
	"emptyDoc":   map[string]any{},
	"mixedArray": []any{int64(1), "two", 3.5, nil, true, map[string]any{"k": "v"}},
	"nestedDoc": map[string]any{
		"a": map[string]any{"b": map[string]any{"c": []any{map[string]any{"d": int64(1)}}}},
		"t": time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC),
	},
}

// nestedArrayValues are arrays inside arrays, which FerretDB 1.x refuses.
var nestedArrayValues = map[string]any{
	"nestedArrays":    []any{[]any{[]any{int64(1)}}, []any{}},
	"arrayInDocArray": []any{map[string]any{"a": []any{[]any{"x"}}}},
}

func TestValuesRoundTrip(t *testing.T) {
	testRoundTrip(t, roundTripValues)
}

func TestNestedArraysRoundTrip(t *testing.T) {
	f := newFixture(t)
	testenv.SkipIfFerret(t, f.srv.ferret, "nested arrays are not supported (BadValue)")
	testRoundTrip(t, nestedArrayValues)
}

func TestNegativeZeroRoundTrip(t *testing.T) {
	f := newFixture(t)
	testenv.SkipIfFerret(t, f.srv.ferret, "a stored -0.0 comes back as +0.0")
	testRoundTrip(t, map[string]any{"negZero": math.Copysign(0, -1)})
}

func TestNestedArraysOnFerretDBAreInvalidValues(t *testing.T) {
	f := newFixture(t)
	if !f.srv.ferret {
		t.Skip("the server stores nested arrays; this case is for FerretDB 1.x")
	}
	m, _ := f.create(t)
	_, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires, set("a", []any{[]any{}})))
	if !errors.Is(err, session.ErrInvalidValue) {
		t.Fatalf("Apply of a nested array on FerretDB: err = %v, want ErrInvalidValue", err)
	}
}

func testRoundTrip(t *testing.T, values map[string]any) {
	f := newFixture(t)
	var cmds []session.Command
	for k, v := range values {
		cmds = append(cmds, set(k, v))
	}
	check := func(how string, doc session.Doc) {
		t.Helper()
		for k, want := range values {
			got, ok := doc[k]
			if !ok {
				t.Errorf("%s: %q missing", how, k)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %q = %#v (%T), want %#v (%T)", how, k, got, got, want, want)
			}
		}
		if z, ok := doc["negZero"].(float64); ok && !math.Signbit(z) {
			t.Errorf("%s: negative zero lost its sign", how)
		}
	}

	m, created := f.create(t, cmds...)
	check("Create", created)
	loaded, err := f.store.Load(context.Background(), m.ID, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	check("Load after Create", loaded)

	m2, _ := f.create(t)
	applied, err := f.store.Apply(context.Background(), m2.ID, upd(m2.Expires, cmds...))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	check("Apply", applied)
}

func TestIncKeepsIntegerType(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("n", int64(1<<53-1)))
	doc, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires, inc("n", int64(1))))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got, want := doc["n"], int64(1<<53); got != want {
		t.Fatalf("n = %#v, want %#v: an integer past 2^53 must stay exact", got, want)
	}
}
