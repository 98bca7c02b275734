package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
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
//
// A Keyring is safe for concurrent use. It keeps the HMAC state of each
// key for reuse, so that signing and verifying do not build an HMAC per
// call.
type Keyring struct {
	keys [][]byte
	macs []sync.Pool // of hash.Hash: HMAC-SHA256 under keys[i]
}

// NewKeyring returns a Keyring for keys. It returns an error if keys is empty
// or if any key is shorter than MinKeyLen bytes. The keys are copied.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("new keyring: no signing keys")
	}
	kr := &Keyring{keys: make([][]byte, len(keys)), macs: make([]sync.Pool, len(keys))}
	for i, k := range keys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("new keyring: key %d is %d bytes, want at least %d", i, len(k), MinKeyLen)
		}
		key := append([]byte(nil), k...)
		kr.keys[i] = key
		kr.macs[i].New = func() any { return hmac.New(sha256.New, key) }
	}
	return kr, nil
}

// Sign returns token + "." + base64url(HMAC-SHA256(first key, token)).
func (kr *Keyring) Sign(token string) string {
	sum := kr.mac(0, token)
	return token + "." + b64.EncodeToString(sum[:])
}

// Verify returns the token inside a signed value, and whether any key of the
// keyring signed it. Values that are too long, malformed, or that hold
// something other than a token are rejected without computing any HMAC
// beyond the first failing check. Verify compares MACs in constant time.
func (kr *Keyring) Verify(value string) (token string, ok bool) {
	token, _, ok = kr.VerifyKey(value)
	return token, ok
}

// VerifyKey is Verify that also returns which key signed value: its index
// in the keys given to NewKeyring, 0 for the first, the one Sign uses. A
// value signed by the first key is what Sign would return for its token,
// so it can be sent back as it came; one signed by an older key should be
// signed again (Sign), so that the old key can be retired.
func (kr *Keyring) VerifyKey(value string) (token string, key int, ok bool) {
	if len(value) != tokenLen+1+macLen || value[tokenLen] != '.' {
		return "", 0, false
	}
	token, sig := value[:tokenLen], value[tokenLen+1:]
	var want [sha256.Size]byte
	if n, err := b64.Decode(want[:], []byte(sig)); err != nil || n != len(want) {
		return "", 0, false
	}
	var raw [TokenBytes]byte
	if n, err := b64.Decode(raw[:], []byte(token)); err != nil || n != TokenBytes {
		return "", 0, false
	}
	for i := range kr.keys {
		sum := kr.mac(i, token)
		if hmac.Equal(sum[:], want[:]) {
			return token, i, true
		}
	}
	return "", 0, false
}

// mac returns HMAC-SHA256(keys[i], "atomicsession.v1:" + token).
func (kr *Keyring) mac(i int, token string) [sha256.Size]byte {
	h := kr.macs[i].Get().(hash.Hash)
	h.Reset()
	h.Write([]byte("atomicsession.v1:"))
	h.Write([]byte(token))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	kr.macs[i].Put(h)
	return sum
}
