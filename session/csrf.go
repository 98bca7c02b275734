package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// csrfSaltBytes is the number of random bytes salting each CSRF token.
const csrfSaltBytes = 16

// MaxCSRFLen is the longest CSRF token AssertCSRF looks at.
const MaxCSRFLen = 128

// csrfLabel separates the CSRF key from any other key derived from a token.
const csrfLabel = "atomicsession csrf v1"

// csrfKey derives a session's CSRF key from its cookie token:
// HMAC-SHA256(token, label). The store never sees the token (it keeps a
// hash of it), so nothing in the store can make a valid CSRF token, and
// the key changes whenever the token does (Regenerate, Login).
func csrfKey(token string) string {
	h := hmac.New(sha256.New, []byte(token))
	h.Write([]byte(csrfLabel))
	return string(h.Sum(nil))
}

// createCSRF returns b64url(salt) "." b64url(HMAC-SHA256(secret, salt)) with a
// fresh salt, so every token differs (safe against BREACH).
func createCSRF(secret string) string {
	salt := make([]byte, csrfSaltBytes)
	// crypto/rand.Read never returns an error on supported platforms
	// (Go 1.24: it crashes the program instead).
	_, _ = rand.Read(salt)
	return b64.EncodeToString(salt) + "." + b64.EncodeToString(csrfMAC(secret, salt))
}

// assertCSRF returns nil if token was made by createCSRF with secret.
func assertCSRF(secret, token string) error {
	if secret == "" || token == "" || len(token) > MaxCSRFLen {
		return ErrInvalidCSRF
	}
	saltPart, macPart, ok := strings.Cut(token, ".")
	if !ok {
		return ErrInvalidCSRF
	}
	salt, err := b64.DecodeString(saltPart)
	if err != nil || len(salt) != csrfSaltBytes {
		return ErrInvalidCSRF
	}
	got, err := b64.DecodeString(macPart)
	if err != nil || !hmac.Equal(got, csrfMAC(secret, salt)) {
		return ErrInvalidCSRF
	}
	return nil
}

func csrfMAC(secret string, salt []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(salt)
	return h.Sum(nil)
}
