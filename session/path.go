package session

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key (dotted path) a command accepts, in bytes.
const MaxKeyLen = 256

// ValidateKey reports whether key is a dotted path that a command may name,
// such as "cart" or "cart.items".
//
// It returns an error wrapping ErrInvalidKey if key is empty, longer than
// MaxKeyLen bytes, not valid UTF-8, or holds a NUL byte, or if one of its
// dot-separated segments is empty (".a", "a..b", "a."), starts with '$'
// (MongoDB reads it as an operator) or consists of ASCII digits only
// (MongoDB reads it as an array index, which the other stores cannot follow),
// or if it has more than 100 segments (MongoDB nests documents 100 deep at
// most).
// Otherwise it returns an error wrapping ErrReservedKey if key is, or lies
// under, a reserved field (see IsReserved), and nil if key is valid.
func ValidateKey(key string) error {
	if problem := keyProblem(key); problem != "" {
		return fmt.Errorf("key %s: %s: %w", quoteKey(key), problem, ErrInvalidKey)
	}
	if IsReserved(key) {
		return fmt.Errorf("key %q: %w", key, ErrReservedKey)
	}
	return nil
}

// keyProblem describes what makes key an invalid path, or returns "".
func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLen:
		return fmt.Sprintf("%d bytes long, more than MaxKeyLen (%d)", len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	case strings.IndexByte(key, 0) >= 0:
		return "holds a NUL byte"
	case strings.Count(key, ".") >= maxDepth:
		return fmt.Sprintf("has more than %d segments", maxDepth)
	}
	for seg := range strings.SplitSeq(key, ".") {
		switch {
		case seg == "":
			return "has an empty segment"
		case seg[0] == '$':
			return fmt.Sprintf("segment %q starts with '$'", seg)
		case allDigits(seg):
			return fmt.Sprintf("segment %q is all digits, which MongoDB reads as an array index", seg)
		}
	}
	return ""
}

// fieldNameProblem describes what makes name an invalid field name of a
// document inside a value (a key of a map), or returns "". Unlike path
// segments, field names may be all digits.
func fieldNameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case name[0] == '$':
		return "starts with '$'"
	case strings.IndexByte(name, '.') >= 0:
		return "holds a '.'"
	case strings.IndexByte(name, 0) >= 0:
		return "holds a NUL byte"
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// quoteKey quotes key for an error message, shortened if it is long.
func quoteKey(key string) string {
	const show = 64
	if len(key) <= show {
		return fmt.Sprintf("%q", key)
	}
	return fmt.Sprintf("%q...", key[:show])
}

// Overlaps reports whether paths a and b overlap: they are equal, or one is
// a dotted prefix of the other ("a" and "a.b" overlap; "a" and "ab" do not).
// Commands on overlapping paths cannot go in one MongoDB update, so the
// session sends them in consecutive updates.
func Overlaps(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return strings.HasPrefix(b, a) && (len(a) == len(b) || b[len(a)] == '.')
}

// splitPath splits a dotted path into its segments.
func splitPath(key string) []string {
	return strings.Split(key, ".")
}
