// Package memory is an in-process session.Store: the same semantics as the
// database stores, made atomic by a lock. Use it in tests and in
// single-process applications whose sessions need not survive a restart.
//
// Commands are applied with session.ApplyCommands, the reference semantics
// every store is compared against, so the memory store is by construction
// what the conformance suite in package sessiontest expects.
//
// A background goroutine removes expired sessions every minute (see
// WithSweepInterval); call Close to stop it. Expired sessions are never
// served, whether or not the sweep has removed them yet.
package memory
