// Package devtools holds development-only tools of atomicsession that carry
// heavy dependencies, kept in their own module
// (github.com/atomicsession/atomicsession/devtools) so that a user's
// `go get github.com/atomicsession/atomicsession` never pulls them in.
//
// # The embedded MongoDB-wire server
//
// Package [github.com/atomicsession/atomicsession/devtools/ferretdb] embeds
// FerretDB v1.24.0 with its SQLite backend: a MongoDB-wire server written in
// Go that needs nothing installed but Go. The command
// [github.com/atomicsession/atomicsession/devtools/cmd/mongodev] runs one:
//
//	cd devtools && go run ./cmd/mongodev -addr 127.0.0.1:27017
//	MONGODB_URI=mongodb://127.0.0.1:27017/
//
// The first line it prints is the URI to connect to. It runs until it gets
// SIGINT or SIGTERM, or until its standard input is closed, so a test process
// that started it and died does not leave it running. Flags: -addr (default
// 127.0.0.1:0, a free port), -dir (the SQLite directory; default a temporary
// one removed on exit), -fsync (wait for the disk on every commit; off by
// default, which suits tests), -log (FerretDB's warnings to stderr).
//
// The first build takes two to three minutes on two cores with a cold build
// cache (FerretDB and a pure-Go SQLite are large); a rebuild from the cache
// takes about two seconds.
//
// The repository's test helpers (internal/testenv) build and start mongodev
// by themselves when MONGODB_URI is not set, so `go test ./...` needs no
// manual step. Set MONGODB_URI to test against a real MongoDB instead.
//
// # What FerretDB 1.x does not do
//
// Measured against v1.24.0 with the SQLite backend:
//   - createIndexes with expireAfterSeconds (TTL indexes) answers
//     NotImplemented, so expired documents are never removed by the server;
//     the MongoDB store's Sweep does that job.
//   - update operators are applied as read-modify-write without a lock, so
//     concurrent updates of one document from several connections can lose
//     writes (8 connections × 25 $inc ended at 32 of 200). Tests that use
//     FerretDB keep their client's pool at one connection (maxPoolSize=1).
//   - arrays inside arrays are refused (BadValue "nested arrays are not
//     supported"); -0.0 comes back as +0.0; $rename onto a path below a
//     scalar answers InternalError instead of PathNotViable.
//   - a filter on more than _id scans the collection: with 5,000 documents
//     a findAndModify on {_id, expires} took 13 ms against 1 ms on a nearly
//     empty collection, while a find on {_id} alone stayed at 0.5 ms.
package devtools
