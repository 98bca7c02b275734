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
// # What Create and Apply return
//
// Every result of Create and Apply is checked against the contract of
// session.Update, exactly:
//
//   - the reserved fields after the step (_id, expires, maxAge, created,
//     and _user and _label when the session has them);
//   - the top-level key of every command's path, and of a Rename's
//     target, with its whole value after the step ("cart.items" returns
//     all of "cart"); a touched key that the step removed is absent;
//   - for OpTake, its top-level key's value before the step;
//   - the keys named in Update.Fetch (all keys with FetchAll), as they
//     are after the step, read in the same atomic step;
//   - nothing else: a key the step did not touch must be absent, so a
//     store that returns the whole document fails.
//
// As the session sends it, an OpTake command always comes alone in its
// Update, without Fetch, but maybe with a new MaxAge or Label; the suite
// never batches it with other commands.
//
// Load(ctx, id, keys) must return the reserved fields and the named keys
// that exist; keys nil returns the whole document, an empty list the
// reserved fields alone. A batch with a command that does not apply must
// fail with an error wrapping session.ErrTypeMismatch, best a
// *session.CommandError whose Index names the command (without it the
// session finds the command by splitting the batch), and change nothing,
// expires, maxAge and label included.
//
// # Subtests
//
// The names below are stable; pass them to Skip. Skipping a name skips
// everything under it.
//
//	Lifecycle/Create              Create without commands; Load returns the reserved fields
//	Lifecycle/CreateWithCommands  Create applies its first batch and returns its touched keys
//	Lifecycle/CreateConflict      Create of an existing id: ErrConflict, the session unchanged
//	Lifecycle/Apply               Apply changes keys and moves expires, keeps the other fields,
//	                              returns the touched keys only
//	Lifecycle/Touch               Apply without commands only moves expires; returns the reserved fields
//	Lifecycle/Results             what Apply and Create return, case by case (dotted paths, Unset,
//	                              Rename, Take, PushLast)
//	Lifecycle/LoadKeys            Load with keys returns those keys and the reserved fields only
//	Lifecycle/Fetch               Update.Fetch and FetchAll return keys as they are after the step
//	Lifecycle/MaxAge              Update.MaxAge is stored, shown by Load and kept by later updates
//	Lifecycle/Label               Update.Label (and Meta.Label) is stored as _label, and kept
//	Lifecycle/UserID              Meta.UserID is stored as _user, in every result, never changed
//	Lifecycle/FailedUpdate        an Update with a mismatching command: ErrTypeMismatch (a
//	                              CommandError with its Index, if any), and nothing changes
//	Lifecycle/ApplyMissing        Apply of an unknown id: ErrNotFound, and no upsert
//	Lifecycle/Delete              a deleted session is gone and Apply does not revive it
//	Lifecycle/DeleteMissing       Delete of an unknown id is nil
//	Lifecycle/Independent         sessions do not affect each other
//	Lifecycle/Isolation           changing returned documents or command values changes nothing stored
//	Lifecycle/ReservedKeys        commands on reserved fields: ErrReservedKey, nothing changed or created
//	Operators/<Op>/<Case>         every operator and error case (such as Operators/Inc/Overflow,
//	                              Operators/PushLast/KeepsLast, Operators/Take/Dotted,
//	                              Operators/Batch/AllOrNothingLast), compared with the reference,
//	                              result included; a failed batch leaves the session, expires
//	                              included, unchanged
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
//	Differential/Random           random updates (every operator, lone Takes, Fetch, FetchAll,
//	                              MaxAge, Label) on the store and the reference: each result
//	                              compared with the reference's touched keys, Load of some keys
//	                              or of the whole document now and then (WithDifferential, WithSeed)
//	Concurrency/Inc               goroutines × increments concurrent Inc end exactly at their product
//	Concurrency/SetOwnKeys        two goroutines setting their own key never undo each other
//	Concurrency/Create            of concurrent Creates of one id exactly one succeeds
//	Concurrency/Destroy           Apply loops racing a Delete never bring the session back
//	Concurrency/Take              of 32 concurrent Takes of one key exactly one gets its value
//	Concurrency/PushLast          33 concurrent PushLast(key, 5, …) leave exactly 5 values, and
//	                              each result ends with its own
//	Concurrency/FetchSnapshot     Fetch keys come from the same atomic step as the commands
//	Context/Canceled              every method with a cancelled context returns an error (a
//	                              Delete that returns nil must have deleted)
//	Context/DeadlineExceeded      the same with a context past its deadline
//	UserIndex/List                UserSessions lists exactly the user's live sessions: id,
//	                              created, expires, maxAge, label, as Apply left them
//	UserIndex/Empty               a user without sessions: an empty list, 0 deleted, no error
//	UserIndex/DeleteKeep          DeleteUserSessions with keep deletes the others, counts them;
//	                              they are gone for Load and Apply (no resurrection)
//	UserIndex/DeleteAll           DeleteUserSessions without keep deletes every session
//	UserIndex/Delete              Delete drops a session from its user's list
//	UserIndex/Expired             expired sessions are not listed (sleeps WithShortMaxAge)
//	UserIndex/Revoked             Apply loops racing DeleteUserSessions never bring a session back
//	UserIndex/CreateRace          Creates racing DeleteUserSessions end consistent: every listed
//	                              session loads, every other one is gone
//	UserIndex/NoScan              listing among 3,000 other users' sessions costs the same order
//	                              of time as among 3 (at most 20 × + 5ms, ratio logged;
//	                              WithUserIndexCrowd)
//
// The UserIndex subtests run only on a store that implements
// session.UserIndex (every store of this module does); on another store
// the group is skipped with that reason.
//
// Values must come back with the canonical types of session.Doc (int64,
// not int32; time.Time in UTC) and exactly: 1<<53+1 must not become a
// float64, and a key holding nil must not disappear.
package sessiontest
