package session

import "testing"

// FuzzKeyringVerify checks that no cookie value makes Verify panic or accept
// a value the keyring did not sign.
func FuzzKeyringVerify(f *testing.F) {
	kr, _ := NewKeyring(testKey('k'))
	tok, _ := NewToken()
	f.Add(kr.Sign(tok))
	f.Add("")
	f.Add("not.a.cookie")
	f.Add(tok + ".")
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := kr.Verify(v)
		if ok && kr.Sign(got) != v {
			t.Fatalf("Verify accepted %q, which Sign does not produce", v)
		}
		if !ok && got != "" {
			t.Fatalf("Verify refused %q but returned a token", v)
		}
	})
}
