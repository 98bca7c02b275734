package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
)

// SecretBytes is the number of random bytes in a session's CSRF secret.
const SecretBytes = 32

// csrfSaltBytes is the number of random bytes salting each CSRF token.
const csrfSaltBytes = 16

// MaxCSRFLen is the longest CSRF token AssertCSRF looks at.
const MaxCSRFLen = 128

// newSecret returns a fresh CSRF secret, base64url-encoded.
func newSecret() (string, error) {
	buf := make([]byte, SecretBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("new CSRF secret: %w", err)
	}
	return b64.EncodeToString(buf), nil
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
