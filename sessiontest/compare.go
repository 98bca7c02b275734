package sessiontest

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

func errorIs(err, target error) bool { return errors.Is(err, target) }

// sentinels are the errors a caller can act on; two errors are of the same
// class when they wrap the same one of these.
var sentinels = []error{
	session.ErrNotFound,
	session.ErrConflict,
	session.ErrTypeMismatch,
	session.ErrReservedKey,
	session.ErrInvalidKey,
	session.ErrInvalidValue,
	session.ErrTooLarge,
	session.ErrUnavailable,
}

// errOther is the class of an error that wraps none of the sentinels.
var errOther = errors.New("an error wrapping no session sentinel")

// classOf returns the sentinel err wraps, errOther, or nil for no error.
func classOf(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return errOther
}

// sameUser reports whether a and b hold equal user keys, numbers compared
// by value (session.Equal).
func sameUser(a, b session.Doc) bool {
	return session.Equal(map[string]any(a.User()), map[string]any(b.User()))
}

// checkMeta checks that doc carries the reserved fields of want, with
// times in UTC.
func checkMeta(t testing.TB, label string, doc session.Doc, want session.Meta) {
	t.Helper()
	got, err := session.MetaOf(doc)
	if err != nil {
		t.Errorf("%s: reserved fields: %v", label, err)
		return
	}
	if got.ID != want.ID || !got.Expires.Equal(want.Expires) || !got.Created.Equal(want.Created) ||
		got.MaxAge != want.MaxAge || got.UserID != want.UserID || got.Label != want.Label {
		t.Errorf("%s: reserved fields\n got %s\nwant %s", label, showMeta(got), showMeta(want))
	}
	if got.Expires.Location() != time.UTC || got.Created.Location() != time.UTC {
		t.Errorf("%s: %s and %s are in %v and %v; want UTC", label, session.FieldExpires,
			session.FieldCreated, got.Expires.Location(), got.Created.Location())
	}
}

func showMeta(m session.Meta) string {
	return fmt.Sprintf("{_id %s, expires %s, created %s, maxAge %v, _user %q, _label %q}",
		m.ID, m.Expires.Format(time.RFC3339Nano), m.Created.Format(time.RFC3339Nano), m.MaxAge, m.UserID, m.Label)
}

// exactDiff compares got with the canonical value want exactly: got must
// have a canonical type (nil, bool, string, int64, float64, time.Time in
// UTC, []any, map[string]any), numbers must be the same number without
// rounding (an int64 may come back as an integral float64 only if that
// loses nothing), and a key holding nil is not a missing key. It returns ""
// if they match, or where and how they differ.
func exactDiff(path string, want, got any) string {
	if !canonical(got) {
		return fmt.Sprintf("%s: got %T, which is not a canonical session value", path, got)
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))
		}
		return mapDiff(path, w, g)
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))
		}
		for i := range w {
			if d := exactDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	case time.Time:
		g, ok := got.(time.Time)
		if !ok || !g.Equal(w) || g.Location() != time.UTC {
			return fmt.Sprintf("%s: got %s, want %s (UTC)", path, show(got), show(want))
		}
		return ""
	case int64, float64:
		if !sameNumber(w, got) {
			return fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))
		}
		return ""
	}
	if want != got {
		return fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))
	}
	return ""
}

func mapDiff(path string, want, got map[string]any) string {
	for _, k := range sortedKeys(want) {
		g, ok := got[k]
		if !ok {
			return fmt.Sprintf("%s.%s: missing, want %s", path, k, show(want[k]))
		}
		if d := exactDiff(path+"."+k, want[k], g); d != "" {
			return d
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("%s.%s: got %s, want no such key", path, k, show(got[k]))
		}
	}
	return ""
}

// hasNestedArray reports whether v holds an array directly inside an
// array, at any depth.
func hasNestedArray(v any) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if _, ok := e.([]any); ok || hasNestedArray(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasNestedArray(e) {
				return true
			}
		}
	}
	return false
}

// canonical reports whether v's type is one a Doc may hold.
func canonical(v any) bool {
	switch v.(type) {
	case nil, bool, string, int64, float64, time.Time, []any, map[string]any:
		return true
	}
	return false
}

// sameNumber reports whether a and b are int64 or float64 values of exactly
// the same number.
func sameNumber(a, b any) bool {
	x, ok1 := exactFloat(a)
	y, ok2 := exactFloat(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}

func exactFloat(v any) (*big.Float, bool) {
	switch n := v.(type) {
	case int64:
		return new(big.Float).SetInt64(n), true
	case float64:
		if n != n { // NaN
			return nil, false
		}
		return new(big.Float).SetFloat64(n), true
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// show formats a value for a test message, with its types visible: 1 is
// an int64, 1.0 a float64, "1" a string.
func show(v any) string {
	var b strings.Builder
	writeValue(&b, v)
	return b.String()
}

func writeValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		b.WriteString(strconv.Quote(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEnI") {
			s += ".0"
		}
		b.WriteString(s)
	case time.Time:
		b.WriteString(x.Format("time(2006-01-02T15:04:05.000Z07:00 MST)"))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, e)
		}
		b.WriteByte(']')
	case session.Doc:
		writeValue(b, map[string]any(x))
	case map[string]any:
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k)
			b.WriteString(": ")
			writeValue(b, x[k])
		}
		b.WriteByte('}')
	default:
		fmt.Fprintf(b, "%T(%v)", v, v)
	}
}

// showCommands formats a batch of commands with their operands.
func showCommands(cmds []session.Command) string {
	parts := make([]string, len(cmds))
	for i, c := range cmds {
		switch c.Op {
		case session.OpRename, session.OpUnset, session.OpTake:
			parts[i] = c.String()
		case session.OpPush:
			parts[i] = c.String() + " " + show(c.Values)
			if c.Slice != 0 {
				parts[i] += fmt.Sprintf(" $slice -%d", c.Slice)
			}
		case session.OpPullAll, session.OpAddToSet:
			parts[i] = c.String() + " " + show(c.Values)
		default:
			parts[i] = c.String() + " " + show(c.Value)
		}
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// showUser formats the user keys of doc.
func showUser(doc session.Doc) string {
	if doc == nil {
		return "<nil doc>"
	}
	return show(map[string]any(doc.User()))
}

// normalize returns v in canonical form (session.Normalize); an error is a
// bug in the suite.
func normalize(t testing.TB, v map[string]any) session.Doc {
	t.Helper()
	n, err := session.Normalize(v)
	if err != nil {
		t.Fatalf("sessiontest: Normalize(%s): %v", show(v), err)
	}
	m, ok := n.(map[string]any)
	if !ok {
		t.Fatalf("sessiontest: Normalize(%s) = %T, want map[string]any", show(v), n)
	}
	return session.Doc(m)
}
