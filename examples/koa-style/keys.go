package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/atomicsession/atomicsession/session"
)

// keyFileName is the file in the data directory that keeps the generated
// signing key, in the format of SESSION_KEYS.
const keyFileName = "session-keys"

// parseKeys splits a SESSION_KEYS value: comma-separated keys, the first
// signs and all verify, each at least session.MinKeyLen bytes. Spaces
// around a key are ignored.
func parseKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for i, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if len(k) < session.MinKeyLen {
			return nil, fmt.Errorf("signing key %d is %d bytes, want at least %d (generate one with: openssl rand -base64 32)", i+1, len(k), session.MinKeyLen)
		}
		keys = append(keys, []byte(k))
	}
	return keys, nil
}

// keySource says where the signing keys came from, for the log.
type keySource struct {
	keys      [][]byte
	file      string // the key file, if the keys came from one
	generated bool   // the key file was made just now
}

// loadKeys returns the signing keys: those of flagOrEnv if it is not empty,
// else those kept in dir's key file, else a new random key that it saves
// there (mode 0600) so that cookies stay valid across restarts.
func loadKeys(flagOrEnv, dir string) (keySource, error) {
	if flagOrEnv != "" {
		keys, err := parseKeys(flagOrEnv)
		return keySource{keys: keys}, err
	}
	path := filepath.Join(dir, keyFileName)
	b, err := os.ReadFile(path)
	if err == nil {
		keys, err := parseKeys(strings.TrimSpace(string(b)))
		if err != nil {
			return keySource{}, fmt.Errorf("key file %s: %w", path, err)
		}
		return keySource{keys: keys, file: path}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return keySource{}, fmt.Errorf("read key file: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return keySource{}, err
	}
	if err := writeKeyFile(path, key); err != nil {
		return keySource{}, err
	}
	return keySource{keys: [][]byte{[]byte(key)}, file: path, generated: true}, nil
}

// newKey returns 32 random bytes as unpadded base64url: a 43-byte key.
func newKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate signing key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// writeKeyFile creates path with key, failing if it exists already (another
// process made it first).
func writeKeyFile(path, key string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save signing key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("save signing key: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		_ = f.Close()
		return fmt.Errorf("save signing key to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save signing key to %s: %w", path, err)
	}
	return nil
}
