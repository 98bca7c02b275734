package session

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateKeyAcceptsDottedPaths(t *testing.T) {
	for _, key := range []string{
		"a", "cart", "cart.items", "a.b.c", "a-b", "a b", "é.ü", "ключ", "_idx", "x._id",
		"expiresAt", "a$b", "a.b$", "1a", "a.-1", "a.1x.x5", "ids", "user.secret",
		strings.Repeat("k", MaxKeyLen),
		strings.Repeat("a.", maxDepth-1) + "a", // 100 segments
	} {
		if err := ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
}

func TestValidateKeyRejectsInvalidPaths(t *testing.T) {
	for _, key := range []string{
		"", ".", ".a", "a.", "a..b", "$a", "a.$b", "$", "0", "a.12", "12.a", "a.007",
		"a\x00b", "\xff", "a.\xc3", strings.Repeat("k", MaxKeyLen+1),
		strings.Repeat("a.", maxDepth) + "a", // 101 segments
	} {
		err := ValidateKey(key)
		if !errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrReservedKey) {
			t.Errorf("ValidateKey(%q) = %v, want an error wrapping ErrInvalidKey only", key, err)
		}
	}
}

func TestValidateKeyRejectsReservedFields(t *testing.T) {
	for _, key := range []string{
		FieldID, FieldExpires, FieldMaxAge, FieldCreated, FieldUserID, "_id.x", "expires.a.b",
	} {
		err := ValidateKey(key)
		if !errors.Is(err, ErrReservedKey) || errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want an error wrapping ErrReservedKey only", key, err)
		}
		if err != nil && !strings.Contains(err.Error(), key) {
			t.Errorf("ValidateKey(%q) = %q, which does not name the key", key, err)
		}
	}
}

func TestValidateKeyErrorNamesTheProblem(t *testing.T) {
	for key, want := range map[string]string{
		"a..b":                            "empty segment",
		"a.$b":                            `segment "$b" starts with '$'`,
		"a.12":                            `segment "12" is all digits`,
		"a\x00":                           "NUL",
		"\xff":                            "UTF-8",
		strings.Repeat("x", MaxKeyLen+10): "266 bytes long",
	} {
		err := ValidateKey(key)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateKey(%q) = %v, want it to say %q", key, err, want)
		}
	}
	if err := ValidateKey(strings.Repeat("x", 1000)); len(err.Error()) > 200 {
		t.Errorf("the error for a long key quotes all of it: %d bytes", len(err.Error()))
	}
}

func TestOverlaps(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"a", "a", true},
		{"a", "a.b", true},
		{"a.b", "a", true},
		{"a.b", "a.b.c.d", true},
		{"a", "ab", false},
		{"ab", "a", false},
		{"a.b", "a.c", false},
		{"a.b", "a.bc", false},
		{"a.bc", "a.b", false},
		{"b", "a.b", false},
		{"x.y", "y", false},
	} {
		if got := Overlaps(c.a, c.b); got != c.want {
			t.Errorf("Overlaps(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// FuzzValidateKey checks that ValidateKey never panics, that every key it
// accepts is a path that every operator can use, and that every key it
// rejects gets exactly one of the two sentinel errors.
func FuzzValidateKey(f *testing.F) {
	for _, seed := range []string{
		"a", "a.b", "cart.items", "", "a..b", "$set", "a.0", "_id", "_id.x", "x._id",
		"é", "\xff", "a\x00", strings.Repeat("ab.", 90) + "c",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		invalid, reserved := errors.Is(err, ErrInvalidKey), errors.Is(err, ErrReservedKey)
		if err != nil {
			if invalid == reserved {
				t.Fatalf("ValidateKey(%q) = %v: want ErrInvalidKey or ErrReservedKey, not both or neither", key, err)
			}
			if _, perr := PrepareCommand(Command{Op: OpSet, Path: key, Value: 1}); perr == nil {
				t.Fatalf("PrepareCommand accepts key %q that ValidateKey rejects", key)
			}
			return
		}
		checkValidKey(t, key)
	})
}

// checkValidKey checks the properties of a key that ValidateKey accepted.
func checkValidKey(t *testing.T, key string) {
	t.Helper()
	if len(key) > MaxKeyLen || !utf8.ValidString(key) || strings.ContainsRune(key, 0) || IsReserved(key) {
		t.Fatalf("ValidateKey accepts %q", key)
	}
	for _, seg := range strings.Split(key, ".") {
		if seg == "" || seg[0] == '$' || allDigits(seg) {
			t.Fatalf("ValidateKey accepts %q with segment %q", key, seg)
		}
	}
	if !Overlaps(key, key) || Overlaps(key, key+"x") || !Overlaps(key+".x", key) {
		t.Fatalf("Overlaps is wrong for %q", key)
	}
	c, err := PrepareCommand(Command{Op: OpSet, Path: key, Value: "v"})
	if err != nil {
		t.Fatalf("PrepareCommand(set %q) = %v", key, err)
	}
	doc, err := ApplyCommands(Doc{}, []Command{c})
	if err != nil {
		t.Fatalf("ApplyCommands(set %q) = %v", key, err)
	}
	if v, ok, _ := lookupPath(ownedDoc(doc), splitPath(key)); !ok || v != "v" {
		t.Fatalf("after set %q the document is %v", key, doc)
	}
}

// TestPathSetAgreesWithOverlaps checks the batch builder's fast overlap
// test against Overlaps, the definition, on random dotted paths over a
// small alphabet (so that prefixes, equal paths and near misses like "a"
// and "ab" are common).
func TestPathSetAgreesWithOverlaps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	segs := []string{"a", "b", "ab", "a1"}
	path := func() string {
		n := 1 + r.IntN(3)
		p := segs[r.IntN(len(segs))]
		for range n - 1 {
			p += "." + segs[r.IntN(len(segs))]
		}
		return p
	}
	for range 5000 {
		ps := newPathSet()
		var held []string
		for range r.IntN(4) {
			p := path()
			held = append(held, p)
			ps.add(p)
		}
		q := path()
		want := false
		for _, h := range held {
			want = want || Overlaps(h, q)
		}
		if got := ps.overlapsAny([]string{q}); got != want {
			t.Fatalf("pathSet %v, overlapsAny(%q) = %v; Overlaps says %v", held, q, got, want)
		}
	}
}
