package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// helperEnv makes the test binary act as a child server (see TestMain).
const helperEnv = "TESTENV_HELPER_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		Main(m)
	case "garbage":
		fmt.Println("not a URI line")
		fmt.Fprintln(os.Stderr, "helper complains")
		_, _ = os.Stdin.Read(make([]byte, 1))
	case "exit":
		fmt.Fprintln(os.Stderr, "helper died early")
		os.Exit(3)
	case "ok":
		fmt.Println("HELPER_URI=hello://x")
		_, _ = os.Stdin.Read(make([]byte, 1)) // until stdin closes
	}
}

func TestMongoURIFromEnvironment(t *testing.T) {
	t.Setenv(MongoURIEnv, "mongodb://example.invalid:27017/")
	uri, ferret := MongoURI(t)
	if uri != "mongodb://example.invalid:27017/" || ferret {
		t.Fatalf("MongoURI = %q, %v; want the environment's URI and false", uri, ferret)
	}
}

func TestMongoURIStartsOneEmbeddedServer(t *testing.T) {
	t.Setenv(MongoURIEnv, "")
	t.Cleanup(func() {
		Cleanup()
		mongodev.once, mongodev.uri, mongodev.err = sync.Once{}, "", nil
	})
	uri, ferret := MongoURI(t)
	if !ferret || !strings.HasPrefix(uri, "mongodb://127.0.0.1:") {
		t.Fatalf("MongoURI = %q, %v; want an embedded server's URI and true", uri, ferret)
	}
	again, _ := MongoURI(t)
	if again != uri {
		t.Fatalf("second MongoURI = %q, want the same server %q", again, uri)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial the embedded server: %v", err)
	}
	_ = conn.Close()
	Cleanup()
	if conn, err := net.Dial("tcp", addr); err == nil {
		_ = conn.Close()
		t.Fatalf("the embedded server still listens at %s after Cleanup", addr)
	}
}

func TestSkipIfFerret(t *testing.T) {
	var skipped [2]bool
	for i, ferret := range []bool{false, true} {
		t.Run(fmt.Sprint(ferret), func(t *testing.T) {
			defer func() { skipped[i] = t.Skipped() }()
			SkipIfFerret(t, ferret, "reason")
		})
	}
	if skipped != [2]bool{false, true} {
		t.Fatalf("skipped (ferret false, true) = %v, want [false true]", skipped)
	}
}

func TestStartChild(t *testing.T) {
	t.Cleanup(Cleanup)
	t.Setenv(helperEnv, "ok")
	val, err := startChild("helper", os.Args[0], nil, "HELPER_URI")
	if err != nil || val != "hello://x" {
		t.Fatalf("startChild = %q, %v; want hello://x", val, err)
	}
	for _, tc := range []struct{ mode, want string }{
		{"garbage", "helper complains"},
		{"exit", "helper died early"},
	} {
		t.Setenv(helperEnv, tc.mode)
		_, err := startChild("helper", os.Args[0], nil, "HELPER_URI")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("startChild of a %s helper: err = %v, want one quoting its stderr %q", tc.mode, err, tc.want)
		}
	}
}

func TestGoBuildFailureShowsOutput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module broken\n\ngo 1.24\n")
	write("main.go", "package main\n\nfunc main() { undefinedThing() }\n")
	err := goBuild(dir, ".", filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error(), "undefinedThing") {
		t.Fatalf("goBuild of a broken package: err = %v, want the compiler's output", err)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("repoRoot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "devtools", "go.mod")); err != nil {
		t.Fatalf("repoRoot = %s, which has no devtools/go.mod: %v", root, err)
	}
}
