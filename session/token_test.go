package session

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, MinKeyLen) }

func TestNewTokenIsRandomAndLongEnough(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := b64.DecodeString(tok)
		if err != nil || len(raw)*8 < 256 {
			t.Fatalf("token %q: %d bits, err %v", tok, len(raw)*8, err)
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}
}

func TestIDOfHashesTheToken(t *testing.T) {
	tok, _ := NewToken()
	id := IDOf(tok)
	if id != IDOf(tok) || len(id) != 64 || strings.Contains(id, tok) {
		t.Fatalf("IDOf(%q) = %q", tok, id)
	}
	other, _ := NewToken()
	if IDOf(other) == id {
		t.Fatal("two tokens share an id")
	}
}

func TestNewKeyringRejectsBadKeys(t *testing.T) {
	if _, err := NewKeyring(); err == nil {
		t.Error("no keys: want an error")
	}
	if _, err := NewKeyring(testKey(1), []byte("short")); err == nil || !strings.Contains(err.Error(), "key 1") {
		t.Errorf("short key: err = %v, want one naming key 1", err)
	}
}

func TestKeyringSignVerifyAndRotation(t *testing.T) {
	oldRing, _ := NewKeyring(testKey('o'))
	newRing, _ := NewKeyring(testKey('n'), testKey('o'))
	onlyNew, _ := NewKeyring(testKey('n'))
	tok, _ := NewToken()

	signedOld := oldRing.Sign(tok)
	if got, ok := newRing.Verify(signedOld); !ok || got != tok {
		t.Fatalf("rotation: a cookie signed by the old key was refused")
	}
	if _, ok := onlyNew.Verify(signedOld); ok {
		t.Fatal("a retired key still verifies")
	}
	signedNew := newRing.Sign(tok)
	if signedNew == signedOld {
		t.Fatal("the first key did not sign")
	}
	if got, ok := onlyNew.Verify(signedNew); !ok || got != tok {
		t.Fatal("signed value did not verify")
	}
	if got, key, ok := newRing.VerifyKey(signedOld); !ok || got != tok || key != 1 {
		t.Errorf("VerifyKey(old key's value) = %q, %d, %v; want the token, key 1", got, key, ok)
	}
	if got, key, ok := newRing.VerifyKey(signedNew); !ok || got != tok || key != 0 {
		t.Errorf("VerifyKey(first key's value) = %q, %d, %v; want the token, key 0", got, key, ok)
	}
}

// TestKeyringConcurrentUse signs and verifies from many goroutines at once:
// the reused HMAC states must never mix (run with -race).
func TestKeyringConcurrentUse(t *testing.T) {
	kr, _ := NewKeyring(testKey('n'), testKey('o'))
	old, _ := NewKeyring(testKey('o'))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				tok, _ := NewToken()
				if got, ok := kr.Verify(kr.Sign(tok)); !ok || got != tok {
					t.Error("a signed value did not verify")
					return
				}
				if _, key, ok := kr.VerifyKey(old.Sign(tok)); !ok || key != 1 {
					t.Error("the old key's value did not verify as key 1")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestKeyringVerifyRefusesForgeries(t *testing.T) {
	kr, _ := NewKeyring(testKey('k'))
	tok, _ := NewToken()
	good := kr.Sign(tok)
	other, _ := NewToken()
	flip := []byte(good)
	flip[3] ^= 1
	cases := map[string]string{
		"empty":            "",
		"token only":       tok,
		"other token":      other + good[len(tok):],
		"bit flipped":      string(flip),
		"signature cut":    good[:len(good)-1],
		"extra byte":       good + "A",
		"garbage":          strings.Repeat("\xff", len(good)),
		"oversize":         strings.Repeat("a", 4096),
		"dot only":         ".",
		"padding":          good[:len(good)-2] + "==",
		"foreign key sign": mustRing(t, testKey('x')).Sign(tok),
	}
	for name, v := range cases {
		if got, ok := kr.Verify(v); ok || got != "" {
			t.Errorf("%s: Verify(%q) = %q, true", name, v, got)
		}
	}
}

func mustRing(t *testing.T, keys ...[]byte) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestCSRFTokens(t *testing.T) {
	secret := csrfKey("token-a")
	a, b := createCSRF(secret), createCSRF(secret)
	if a == b {
		t.Fatal("two CSRF tokens are equal: tokens must differ (BREACH)")
	}
	for _, tok := range []string{a, b} {
		if err := assertCSRF(secret, tok); err != nil {
			t.Fatalf("assert own token: %v", err)
		}
	}
	other := csrfKey("token-b")
	bad := []string{"", ".", a + "x", a[:len(a)-1], strings.Repeat("A", 500), createCSRF(other), "x.y", strings.Replace(a, ".", "", 1)}
	for _, tok := range bad {
		if err := assertCSRF(secret, tok); !errors.Is(err, ErrInvalidCSRF) {
			t.Errorf("assertCSRF(%q) = %v, want ErrInvalidCSRF", tok, err)
		}
	}
	if err := assertCSRF("", a); !errors.Is(err, ErrInvalidCSRF) {
		t.Error("empty secret accepted a token")
	}
}

func TestNonCanonicalEncodingsAreRefused(t *testing.T) {
	key := csrfKey("token-a")
	tok := createCSRF(key)
	last := tok[len(tok)-1]
	refused := 0
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		if byte(c) == last {
			continue
		}
		if assertCSRF(key, tok[:len(tok)-1]+string(c)) != nil {
			refused++
		}
	}
	if refused != 63 {
		t.Fatalf("%d of 63 changes of a CSRF token's last character were refused, want all", refused)
	}
	kr := mustRing(t, []byte("0123456789abcdef0123456789abcdef"))
	signed := kr.Sign("token-a-token-a-token-a-token-a-token-a-tok")
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		v := signed[:len(signed)-1] + string(c)
		if v == signed {
			continue
		}
		if _, ok := kr.Verify(v); ok {
			t.Fatalf("a cookie whose last character changed to %q verifies", c)
		}
	}
}
