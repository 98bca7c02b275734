// Package testenv gives the repository's tests real servers with no setup.
//
// Each helper uses the server named by an environment variable when it is
// set, and otherwise builds and starts a development server itself, once
// per test binary, and stops it when the tests end. A package that uses a
// helper stops its servers from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// or, to check for leaked goroutines after the servers are gone:
//
//	func TestMain(m *testing.M) {
//		code := testenv.Run(m)
//		if code == 0 {
//			if err := goleak.Find(); err != nil { ... code = 1 }
//		}
//		os.Exit(code)
//	}
//
// A server that a test binary started also stops when that binary dies:
// it exits when its standard input, held open by the test binary, closes.
//
// The package keeps one server of each kind per test binary in package
// state: starting one per test would cost seconds each.
package testenv
