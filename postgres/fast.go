package postgres

import (
	"fmt"
	"strings"

	"github.com/atomicsession/atomicsession/session"
)

// The fast path: a batch made only of $set and $unset of top-level keys
// (with keys to fetch, or all of them) is the common case of a web
// request (read a key, write a key), and it needs none of the apply
// function's operator logic: the last command on each key decides its
// value. Such a batch runs as one plain SQL statement (fastSQL) instead of
// a call of the plpgsql function, which costs the server several times
// the statement's own work (the function call, a statement per step, a
// command loop interpreted per call).
//
// One statement has one snapshot, taken before it waits for the session's
// row lock; the function takes a fresh one per step, after the lock. So
// the statement checks that its snapshot is the latest state of the
// session: its UPDATE matches the session's row only if the row's xmin is
// the one that the snapshot sees (an InitPlan, computed once, also for the
// recheck after a wait). Every writer of a session's keys (a batch,
// Delete, Sweep, DeleteUser, Create over an expired session) changes or
// deletes the session's row first and holds its lock until it commits; so
// if the row is still the version of the snapshot when the UPDATE has its
// lock, then no change of the session committed after the snapshot, and
// none can commit before this statement's: the keys that it reads (Fetch)
// and deletes ($unset) in its snapshot are the latest. If the row changed
// after the snapshot (a concurrent batch committed while this one waited)
// then the UPDATE matches nothing, the statement changes nothing and
// returns no row, and the store runs the batch again through the apply
// function, which applies it. If the session is missing or expired in the
// statement's snapshot, the UPDATE matches nothing either, and the
// statement returns only the goneMarker row: session.ErrNotFound, without
// a second round trip.
//
// The writes run after the UPDATE (they read its output, so the executor
// runs it first: the session's row is locked before any key row, as in the
// function). A $set whose value is unchanged (same jsonb text) writes no
// new row version, as in the function.
const fastSQL = `WITH u AS (
	UPDATE {{sessions}} s SET expires = $3::timestamptz,
			max_age = coalesce($4::bigint, s.max_age),
			label = coalesce($5::text, s.label)
		WHERE s.id = $1::text AND s.expires > $2::timestamptz
			AND s.xmin = (SELECT x.xmin FROM {{sessions}} x WHERE x.id = $1::text)
		RETURNING s.expires, s.max_age, s.created, s.user_id, s.label
), d AS (
	DELETE FROM {{keys}} t USING u
		WHERE t.session_id = $1::text AND t.key = ANY ($7::text[])
), w AS (
	INSERT INTO {{keys}} AS t (session_id, key, value)
		SELECT $1::text, x.key, x.value FROM u, pg_catalog.jsonb_each($6::jsonb) AS x
		ON CONFLICT (session_id, key) DO UPDATE SET value = excluded.value
			WHERE t.value::text <> excluded.value::text
)
SELECT NULL::text, NULL::jsonb, u.expires, u.max_age, u.created, u.user_id, u.label FROM u
UNION ALL
SELECT x.key, x.value, NULL, NULL, NULL, NULL, NULL FROM u, pg_catalog.jsonb_each($6::jsonb) AS x
UNION ALL
SELECT t.key, t.value, NULL, NULL, NULL, NULL, NULL FROM u, {{keys}} t
	WHERE ($9::boolean OR pg_catalog.cardinality($8::text[]) > 0)
		AND t.session_id = $1::text AND ($9::boolean OR t.key = ANY ($8::text[]))
		AND NOT t.key = ANY ($7::text[]) AND NOT $6::jsonb ? t.key
UNION ALL
SELECT '` + goneMarker + `', NULL, NULL, NULL, NULL, NULL, NULL
	WHERE NOT EXISTS (SELECT FROM u)
		AND NOT EXISTS (SELECT FROM {{sessions}} g WHERE g.id = $1::text AND g.expires > $2::timestamptz)`

// goneMarker is the key of the row by which the fast statement says that
// the session is missing or expired in its snapshot (looked up only when
// the UPDATE matched nothing, so the common batch pays nothing for it): then it changed
// nothing, and the answer is session.ErrNotFound at once (a session that
// is not live when the statement starts is not live for it, and an expired
// one never comes back). No user key starts with '$'.
const goneMarker = "$gone"

// fastBatch is a batch of top-level $set and $unset commands reduced to
// its effect: the JSON object of the keys it sets, with their last values,
// and the keys it removes.
type fastBatch struct {
	set   []byte   // a JSON object
	unset []string // never nil: NULL would match no fetched key
}

// newFastBatch returns the fast path's form of cmds, or ok false if a
// command is not a $set or $unset of a top-level key. An invalid command
// gives the *session.CommandError that encodeCommands gives.
func newFastBatch(cmds []session.Command) (fb fastBatch, ok bool, err error) {
	if len(cmds) == 0 {
		return fb, false, nil
	}
	for _, c := range cmds {
		if (c.Op != session.OpSet && c.Op != session.OpUnset) || strings.IndexByte(c.Path, '.') >= 0 {
			return fb, false, nil
		}
	}
	last := make(map[string]int, len(cmds))
	for i, c := range cmds {
		last[c.Path] = i
	}
	fb.unset = []string{}
	fb.set = make([]byte, 0, 64*len(cmds))
	fb.set = append(fb.set, '{')
	var scratch []byte
	for i, c := range cmds {
		if err := session.ValidateKey(c.Path); err != nil {
			return fb, false, &session.CommandError{Index: i, Err: fmt.Errorf("%s: %w", c, err)}
		}
		final := last[c.Path] == i
		switch {
		case c.Op == session.OpUnset:
			if final {
				fb.unset = append(fb.unset, c.Path)
			}
		case final:
			if len(fb.set) > 1 {
				fb.set = append(fb.set, ',')
			}
			fb.set, _ = appendString(fb.set, c.Path) // a valid key holds no NUL and is UTF-8
			fb.set = append(fb.set, ':')
			if fb.set, err = encodeValue(fb.set, c.Value); err != nil {
				return fb, false, &session.CommandError{Index: i, Err: fmt.Errorf("%s: %w", c, err)}
			}
		default: // overwritten later, but it must be valid all the same
			if scratch, err = encodeValue(scratch[:0], c.Value); err != nil {
				return fb, false, &session.CommandError{Index: i, Err: fmt.Errorf("%s: %w", c, err)}
			}
		}
	}
	fb.set = append(fb.set, '}')
	return fb, true, nil
}
