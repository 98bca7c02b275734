package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
)

// TestRunPrintsURIAndStopsWhenStdinCloses runs the command as a parent
// process would: it reads the URI line, connects, then closes stdin.
func TestRunPrintsURIAndStopsWhenStdinCloses(t *testing.T) {
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"-addr", "127.0.0.1:0"}, stdinR, stdoutW, io.Discard)
		_ = stdoutW.Close()
	}()
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("read first line: %v (run: %v)", err, <-done)
	}
	uri, ok := strings.CutPrefix(strings.TrimSpace(line), "MONGODB_URI=")
	if !ok || !strings.HasPrefix(uri, "mongodb://127.0.0.1:") {
		t.Fatalf("first line %q, want MONGODB_URI=mongodb://127.0.0.1:PORT/", line)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = conn.Close()
	_ = stdinW.Close()
	if err := <-done; err != nil {
		t.Fatalf("run after stdin closed: %v", err)
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		_ = conn.Close()
		t.Fatalf("%s still listening after run returned", addr)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-addr", "not an address"}} {
		err := run(args, strings.NewReader(""), io.Discard, io.Discard)
		if err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}
