// Package sessiontest is the conformance suite that every session.Store
// must pass: the stores of this module, and yours.
//
// # Running it
//
// Call Run from a test of your store's package, with a function that
// returns a ready store:
//
//	func TestConformance(t *testing.T) {
//		sessiontest.Run(t, func(t *testing.T) session.Store {
//			s := mystore.New(testClient(t))
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Run calls the function once per top-level subtest. Every session the
// suite makes has a fresh random id, so the stores may share one database,
// and the suite leaves its sessions to expire (within two hours). Run with
// -race: the Concurrency subtests are written to expose missing atomicity.
//
// Options skip subtests that a store cannot pass yet, with the reason
// printed in the test output, replay a randomized run, and scale the sizes
// down for slow stores:
//
//	sessiontest.Run(t, newStore,
//		sessiontest.Skip("Concurrency", "FerretDB applies operators without a lock across connections"),
//		sessiontest.WithoutNestedArrays("FerretDB 1.x stores no array inside an array"),
//		sessiontest.WithSeed(1700000000000000000),
//		sessiontest.WithConcurrency(8, 25),
//	)
//
// With -short, Run uses smaller sizes by default (see the options). The
// default sizes take about a second on the memory store; a store doing
// tens of milliseconds per update wants -short or WithConcurrency.
//
// # What it checks
//
// The results of a store are compared with session.ApplyCommands, the
// reference semantics of the update operators, from the same start
// document: user keys with session.Equal (numbers by value, so an int64
// may come back as an integral float64 and the other way round), errors
// by the sentinel they wrap (errors.Is with session.ErrTypeMismatch,
// session.ErrNotFound, …). The operator cases also check the reference
// against MongoDB's documented behaviour, and say so when the two
// disagree, so that such a failure is not blamed on the store.
//
// # Subtests
//
// The names below are stable; pass them to Skip. Skipping a name skips
// everything under it.
//
//	Lifecycle/Create              Create without commands; Load returns the reserved fields
//	Lifecycle/CreateWithCommands  Create applies its first batch
//	Lifecycle/CreateConflict      Create of an existing id: ErrConflict, the session unchanged
//	Lifecycle/Apply               Apply changes keys and moves expires, keeps the other fields
//	Lifecycle/Touch               Apply without commands only moves expires
//	Lifecycle/ApplyMissing        Apply of an unknown id: ErrNotFound, and no upsert
//	Lifecycle/Delete              a deleted session is gone and Apply does not revive it
//	Lifecycle/DeleteMissing       Delete of an unknown id is nil
//	Lifecycle/Independent         sessions do not affect each other
//	Lifecycle/Isolation           changing returned documents or command values changes nothing stored
//	Lifecycle/ReservedKeys        commands on reserved fields: ErrReservedKey, nothing changed or created
//	Operators/<Op>/<Case>         every operator and error case (such as Operators/Inc/Overflow,
//	                              Operators/Batch/AllOrNothingLast), compared with the reference;
//	                              a failed batch leaves the session, expires included, unchanged
//	Expiry/Past                   a session created already expired is never served nor revived
//	Expiry/Lapse                  a session whose expiry passes is no longer served (sleeps
//	                              WithShortMaxAge)
//	Expiry/ApplyExtends           Apply's expires replaces the old one in the store
//	Values/<Name>                 exact round trip of one value through Create, Apply and Load:
//	                              Nil, True, False, EmptyString, Unicode, ControlCharacters,
//	                              LargeString, Zero, NegativeInt, MaxSafeInteger,
//	                              BeyondFloatPrecision, MaxInt64, MinInt64, FloatSum, Float,
//	                              IntegralFloat, MaxFloat64, SmallestFloat, Time, TimeBefore1970,
//	                              EmptyArray, EmptyMap, Array, Nested, UnicodeKeys
//	Values/All                    all of them in one session
//	Differential/Random           random batches on the store and the reference, compared after
//	                              every step (WithDifferential, WithSeed)
//	Concurrency/Inc               goroutines × increments concurrent Inc end exactly at their product
//	Concurrency/SetOwnKeys        two goroutines setting their own key never undo each other
//	Concurrency/Create            of concurrent Creates of one id exactly one succeeds
//	Concurrency/Destroy           Apply loops racing a Delete never bring the session back
//	Context/Canceled              every method with a cancelled context returns an error
//	Context/DeadlineExceeded      the same with a context past its deadline
//
// Values must come back with the canonical types of session.Doc (int64,
// not int32; time.Time in UTC) and exactly: 1<<53+1 must not become a
// float64, and a key holding nil must not disappear.
package sessiontest
