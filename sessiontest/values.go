package sessiontest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// valueCase is a value that must come back from a store exactly as stored.
type valueCase struct {
	name  string
	value any
}

func roundTripValues() []valueCase {
	return []valueCase{
		{"Nil", nil},
		{"True", true},
		{"False", false},
		{"EmptyString", ""},
		{"Unicode", "héllo, wörld ✓ 日本語 🎉 \u00a0\u200b"},
		{"ControlCharacters", "tab\tnewline\nnul\x00quote\"backslash\\ <html> &amp;"},
		{"LargeString", strings.Repeat("0123456789abcdef", 4096)},
		{"Zero", int64(0)},
		{"NegativeInt", int64(-42)},
		{"MaxSafeInteger", int64(1<<53 - 1)},
		{"BeyondFloatPrecision", int64(1<<53 + 1)},
		{"MaxInt64", int64(math.MaxInt64)},
		{"MinInt64", int64(math.MinInt64)},
		{"FloatSum", floatSum()},
		{"Float", -1.5e-10},
		{"IntegralFloat", 2.0},
		{"MaxFloat64", math.MaxFloat64},
		{"SmallestFloat", math.SmallestNonzeroFloat64},
		{"Time", time.Date(2024, 2, 29, 23, 59, 59, 999_000_000, time.UTC)},
		{"TimeBefore1970", time.Date(1969, 7, 20, 20, 17, 40, 123_000_000, time.UTC)},
		{"EmptyArray", []any{}},
		{"EmptyMap", map[string]any{}},
		{"Array", []any{int64(1), "two", 3.5, nil, true, []any{}, map[string]any{"k": "v"}, []any{[]any{}}}},
		{"Nested", map[string]any{
			"a":     map[string]any{"b": map[string]any{"c": []any{map[string]any{"d": int64(1)}}}},
			"empty": map[string]any{},
			"list":  []any{},
			"null":  nil,
		}},
		{"UnicodeKeys", map[string]any{"ключ": "значение", "日本": int64(1), "emoji🎉": true}},
	}
}

func (s *suite) valueTests() []subtest {
	var out []subtest
	for _, c := range roundTripValues() {
		out = append(out, subtest{c.name, func(t *testing.T, st session.Store) {
			if s.cfg.flatArrays != "" && hasNestedArray(c.value) {
				t.Skipf("needs nested arrays: %s (sessiontest.WithoutNestedArrays)", s.cfg.flatArrays)
			}
			testRoundTrip(t, st, c.value)
		}})
	}
	return append(out, subtest{"All", s.testAllValues})
}

// testRoundTrip stores v with Create and with Apply, and checks that the
// returned and the loaded documents hold it exactly (see exactDiff).
func testRoundTrip(t *testing.T, st session.Store, v any) {
	cmd := prepare(t, set("v", v))[0]
	want := cmd.Value
	m := newMeta(t, liveFor)
	checkValue(t, "Create", create(t, st, m, []session.Command{cmd}), want)
	checkValue(t, "Load after Create", load(t, st, m.ID), want)

	m2 := newMeta(t, liveFor)
	create(t, st, m2, prepare(t, set("other", "x")))
	checkValue(t, "Apply", apply(t, st, m2.ID, later(), []session.Command{cmd}), want)
	checkValue(t, "Load after Apply", load(t, st, m2.ID), want)
}

func checkValue(t *testing.T, label string, doc session.Doc, want any) {
	t.Helper()
	got, ok := doc["v"]
	if !ok {
		t.Errorf("%s: key v is missing; want %s", label, show(want))
		return
	}
	if d := exactDiff("v", want, got); d != "" {
		t.Errorf("%s: %s", label, d)
	}
}

// testAllValues stores every value in one session and loads it back.
func (s *suite) testAllValues(t *testing.T, st session.Store) {
	var cmds []session.Command
	want := map[string]any{}
	for _, c := range roundTripValues() {
		if s.cfg.flatArrays != "" && hasNestedArray(c.value) {
			continue
		}
		cmd := prepare(t, set(c.name, c.value))[0]
		cmds = append(cmds, cmd)
		want[c.name] = cmd.Value
	}
	m := newMeta(t, liveFor)
	create(t, st, m, cmds)
	got := load(t, st, m.ID)
	if d := exactDiff("doc", want, map[string]any(got.User())); d != "" {
		t.Errorf("Load: %s", d)
	}
}
