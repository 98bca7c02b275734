package redis

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// plainSlow is plainString's definition, one byte at a time.
func plainSlow(s string) bool {
	return plainBytes(s) && utf8.ValidString(s)
}

// TestPlainStringAgreesWithItsDefinition puts every special byte at every
// position of strings around the 8-byte word size.
func TestPlainStringAgreesWithItsDefinition(t *testing.T) {
	specials := []string{"\x00", "\x1f", "\"", "\\", "\x7f", " ", "~", "é", "\xff", "\xc3", "€", "\U0001F600"}
	for n := 0; n <= 24; n++ {
		base := strings.Repeat("a", n)
		if got, want := plainString(base), plainSlow(base); got != want {
			t.Fatalf("plainString(%q) = %v, want %v", base, got, want)
		}
		for i := 0; i <= n; i++ {
			for _, sp := range specials {
				s := base[:i] + sp + base[i:]
				if got, want := plainString(s), plainSlow(s); got != want {
					t.Fatalf("plainString(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}

func BenchmarkDecode64KBString(b *testing.B) {
	enc, err := encodeValue(strings.Repeat("x", 64<<10))
	if err != nil {
		b.Fatal(err)
	}
	data := string(enc)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeValue(data); err != nil {
			b.Fatal(err)
		}
	}
}
