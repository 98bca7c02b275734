package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKeys(t *testing.T) {
	a, b := strings.Repeat("a", 32), strings.Repeat("b", 40)
	keys, err := parseKeys(" " + a + " , " + b)
	if err != nil || len(keys) != 2 || string(keys[0]) != a || string(keys[1]) != b {
		t.Fatalf("parseKeys = %q, %v; want [a b] in order", keys, err)
	}
	for _, bad := range []string{"", a + ",", strings.Repeat("x", 31)} {
		if _, err := parseKeys(bad); err == nil {
			t.Errorf("parseKeys(%q) = nil error, want one", bad)
		}
	}
}

func TestLoadKeysGeneratesOnceAndKeeps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	first, err := loadKeys("", dir)
	if err != nil || !first.generated || len(first.keys) != 1 || len(first.keys[0]) < 32 {
		t.Fatalf("first loadKeys = %+v, %v; want one generated key of 32+ bytes", first, err)
	}
	second, err := loadKeys("", dir)
	if err != nil || second.generated || string(second.keys[0]) != string(first.keys[0]) {
		t.Fatalf("second loadKeys = %+v, %v; want the saved key", second, err)
	}
	given := strings.Repeat("g", 32)
	fromEnv, err := loadKeys(given, dir)
	if err != nil || fromEnv.file != "" || string(fromEnv.keys[0]) != given {
		t.Fatalf("loadKeys with SESSION_KEYS = %+v, %v; want the given key", fromEnv, err)
	}
}

func TestLoadKeysRefusesABadKeyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, keyFileName), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadKeys("", dir)
	if err == nil || !strings.Contains(err.Error(), keyFileName) {
		t.Fatalf("loadKeys on a bad key file = %v, want an error naming the file", err)
	}
}

func TestHelpNeverPrintsTheKeys(t *testing.T) {
	secret := strings.Repeat("s", 40)
	var out strings.Builder
	_, err := parseConfig([]string{"-h"}, func(k string) string {
		if k == "SESSION_KEYS" {
			return secret
		}
		return ""
	}, &out)
	if err == nil || strings.Contains(out.String(), secret) {
		t.Fatalf("-h: %v; printed the keys: %t", err, strings.Contains(out.String(), secret))
	}
}

func TestKeysFlagWinsOverEnvironment(t *testing.T) {
	flagKey, envKey := strings.Repeat("f", 32), strings.Repeat("e", 32)
	c, err := parseConfig([]string{"-keys", flagKey}, func(k string) string {
		if k == "SESSION_KEYS" {
			return envKey
		}
		return ""
	}, &strings.Builder{})
	if err != nil || c.keys != flagKey {
		t.Fatalf("parseConfig = %q, %v; want the -keys value", c.keys, err)
	}
	c, err = parseConfig(nil, func(k string) string {
		if k == "SESSION_KEYS" {
			return envKey
		}
		return ""
	}, &strings.Builder{})
	if err != nil || c.keys != envKey {
		t.Fatalf("parseConfig = %q, %v; want $SESSION_KEYS", c.keys, err)
	}
}
