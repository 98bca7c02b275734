package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// TokenBytes is the number of random bytes in a session token: 256 bits.
const TokenBytes = 32

// MinKeyLen is the shortest signing key a Keyring accepts, in bytes.
const MinKeyLen = 32

// MaxCookieLen is the longest signed cookie value Verify looks at. Longer
// values are rejected before any work is done.
const MaxCookieLen = 128

// b64 refuses non-canonical encodings (Strict), so that a token or MAC has
// exactly one encoding: a changed last character never verifies.
var b64 = base64.RawURLEncoding.Strict()

// tokenLen is the length of an encoded token.
var tokenLen = b64.EncodedLen(TokenBytes)

// macLen is the length of an encoded HMAC-SHA256.
var macLen = b64.EncodedLen(sha256.Size)

// NewToken returns a fresh session token: TokenBytes bytes from crypto/rand,
// base64url-encoded without padding. The token is the secret a cookie
// carries; never log it. Log ID(token) instead.
func NewToken() (string, error) {
	buf := make([]byte, TokenBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("new session token: %w", err)
	}
	return b64.EncodeToString(buf), nil
}

// IDOf returns the store id of a token: the hex SHA-256 of the token. The
// store keeps only this hash, so read access to the database does not give
// access to sessions.
func IDOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Keyring signs cookie values with HMAC-SHA256 under a list of keys: the
// first key signs, every key verifies. To rotate keys, put the new key first
// and keep the old ones after it until the cookies they signed have expired,
// as with Koa's app.keys.
type Keyring struct {
	keys [][]byte
}

// NewKeyring returns a Keyring for keys. It returns an error if keys is empty
// or if any key is shorter than MinKeyLen bytes. The keys are copied.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("new keyring: no signing keys")
	}
	kr := &Keyring{keys: make([][]byte, len(keys))}
	for i, k := range keys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("new keyring: key %d is %d bytes, want at least %d", i, len(k), MinKeyLen)
		}
		kr.keys[i] = append([]byte(nil), k...)
	}
	return kr, nil
}

// Sign returns token + "." + base64url(HMAC-SHA256(first key, token)).
func (kr *Keyring) Sign(token string) string {
	return token + "." + b64.EncodeToString(mac(kr.keys[0], token))
}

// Verify returns the token inside a signed value, and whether any key of the
// keyring signed it. Values that are too long, malformed, or that hold
// something other than a token are rejected without computing any HMAC
// beyond the first failing check. Verify compares MACs in constant time.
func (kr *Keyring) Verify(value string) (token string, ok bool) {
	if len(value) != tokenLen+1+macLen || value[tokenLen] != '.' {
		return "", false
	}
	token, sig := value[:tokenLen], value[tokenLen+1:]
	want, err := b64.DecodeString(sig)
	if err != nil {
		return "", false
	}
	if raw, err := b64.DecodeString(token); err != nil || len(raw) != TokenBytes {
		return "", false
	}
	for _, k := range kr.keys {
		if hmac.Equal(mac(k, token), want) {
			return token, true
		}
	}
	return "", false
}

func mac(key []byte, token string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("atomicsession.v1:"))
	h.Write([]byte(token))
	return h.Sum(nil)
}
