// Package testenv gives the repository's tests real servers with no setup.
//
// Each helper uses the server named by an environment variable when it is
// set, and otherwise builds and starts a development server itself, once
// per test binary, and stops it when the tests end. A package that uses a
// helper stops its servers from TestMain, which also checks that no
// goroutine outlived the tests (goleak):
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// A server that a test binary started also stops when that binary dies:
// the embedded MongoDB-wire server exits when its standard input, held open
// by the test binary, closes; redis-server gets the parent-death signal
// (Linux) and is otherwise stopped by SIGTERM at cleanup.
//
// The package keeps one server of each kind per test binary in package
// state: starting one per test would cost seconds each.
package testenv
