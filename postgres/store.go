package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/session"
)

// Store is a session.Store and session.UserIndex on PostgreSQL. It is safe
// for concurrent use by many goroutines and by many processes sharing the
// database.
//
// Each session is one row of reserved fields in <prefix>sessions and one
// row per top-level key in <prefix>keys, its value in jsonb (see the
// package documentation). Every call is one statement, one round trip (two
// when Apply's fast statement misses, below): a
// batch of commands runs as one call of the function <prefix>apply that
// EnsureSchema installs, which locks the session's row, applies the
// commands to the top-level keys they touch, writes back the keys that
// changed and returns them; a batch of top-level $set and $unset only is
// one plain statement instead (see the package documentation).
//
// The zero value is not usable; make a Store with NewStore and call
// EnsureSchema once before using it.
type Store struct {
	pool *pgxpool.Pool
	// pipelines says that the pool's exec mode keeps named prepared
	// statements (pgx's default, QueryExecModeCacheStatement), which
	// ApplyMulti's pipelines use; lanes is how many connections an
	// ApplyMulti spreads over.
	pipelines  bool
	lanes      int
	schemaName string
	prefix     string
	n          names
	cfgErr     error
	now        func() time.Time
	sweepEvery time.Duration
	logger     *slog.Logger

	loadSQL, applySQL, deleteSQL string
	fastSQL                      string // see fast.go
	userListSQL, userDeleteSQL   string
	sweepSQL                     string

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var (
	_ session.Store     = (*Store)(nil)
	_ session.UserIndex = (*Store)(nil)
)

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9_]{0,40}$`)

// NewStore returns a Store that keeps sessions in the database of pool,
// in the tables that EnsureSchema creates. It does not touch the database.
// It starts the background sweeper if WithSweepInterval asks for one; call
// Close to stop it. Close never closes pool, which belongs to the caller.
//
// A nil pool or an invalid option (see WithTablePrefix) makes every call of
// the Store return an error saying so.
func NewStore(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{
		pool:       pool,
		schemaName: DefaultSchema,
		prefix:     DefaultPrefix,
		now:        time.Now,
		logger:     slog.Default(),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	switch {
	case pool == nil:
		s.cfgErr = errors.New("nil pool")
	case !validPrefix.MatchString(s.prefix):
		s.cfgErr = fmt.Errorf("table prefix %q: want at most 40 letters, digits and '_'", s.prefix)
	case len(s.schemaName) > 63:
		s.cfgErr = fmt.Errorf("schema name %q is longer than 63 bytes", s.schemaName)
	}
	if pool != nil {
		cfg := pool.Config() // a deep copy: read it once
		s.pipelines = cfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement
		s.lanes = max(min(multiConns, int(cfg.MaxConns)), 1)
	}
	s.n = newNames(s.schemaName, s.prefix)
	s.loadSQL = s.n.expand(`
SELECT NULL::text, NULL::jsonb, s.expires, s.max_age, s.created, s.user_id, s.label
	FROM {{sessions}} s WHERE s.id = $1::text AND s.expires > $2::timestamptz
UNION ALL
SELECT k.key, k.value, NULL, NULL, NULL, NULL, NULL
	FROM {{keys}} k
	WHERE k.session_id = $1::text AND ($3::text[] IS NULL OR k.key = ANY ($3::text[]))
		AND EXISTS (SELECT 1 FROM {{sessions}} s WHERE s.id = $1::text AND s.expires > $2::timestamptz)`)
	s.applySQL = s.n.expand(`SELECT o_key, o_value, o_expires, o_max_age, o_created, o_user, o_label
	FROM {{apply}}($1::text, $2::timestamptz, $3::boolean, $4::timestamptz, $5::bigint, $6::timestamptz,
		$7::text, $8::text, $9::jsonb, $10::text[], $11::text[], $12::boolean)`)
	s.fastSQL = s.n.expand(fastSQL)
	s.deleteSQL = s.n.expand(`DELETE FROM {{sessions}} WHERE id = $1::text`)
	s.userListSQL = s.n.expand(`SELECT id, expires, max_age, created, user_id, label
	FROM {{sessions}} WHERE user_id = $1::text AND expires > $2::timestamptz`)
	s.userDeleteSQL = s.n.expand(`WITH d AS (
	DELETE FROM {{sessions}} WHERE user_id = $1::text AND NOT (id = ANY ($3::text[])) RETURNING expires)
SELECT count(*) FILTER (WHERE expires > $2::timestamptz) FROM d`)
	s.sweepSQL = s.n.expand(`WITH d AS (
	DELETE FROM {{sessions}} WHERE id IN (
		SELECT id FROM {{sessions}} WHERE expires <= $1::timestamptz LIMIT $2::integer FOR UPDATE SKIP LOCKED)
	RETURNING 1)
SELECT count(*) FROM d`)
	if s.sweepEvery > 0 && s.cfgErr == nil {
		go s.sweepLoop()
	} else {
		close(s.done)
	}
	return s
}

// check returns the configuration error of s, if any, for an operation.
func (s *Store) check(what string) error {
	if s == nil || s.pool == nil {
		return fmt.Errorf("postgres: %s: nil pool", what)
	}
	if s.cfgErr != nil {
		return fmt.Errorf("postgres: %s: %w", what, s.cfgErr)
	}
	return nil
}

// storeTime returns t as the store keeps it: UTC, millisecond precision.
func storeTime(t time.Time) time.Time {
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// Load returns the reserved fields of the live session id and its
// top-level keys named in keys (every key when keys is nil), in one
// statement that neither locks nor writes. If the session does not exist
// or has expired then Load returns an error wrapping session.ErrNotFound.
func (s *Store) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	if err := s.check("load session"); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.loadSQL, id, s.now(), keys)
	if err != nil {
		return nil, fmt.Errorf("postgres: load session %s: %w", id, classify(err))
	}
	doc, found, err := readDoc(rows, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: load session %s: %w", id, classify(err))
	}
	if !found {
		return nil, fmt.Errorf("postgres: load session %s: %w", id, session.ErrNotFound)
	}
	return doc, nil
}

// Create stores a new session with the reserved fields of m and applies u
// to it, in one call of the apply function (one round trip), and returns
// the result that session.Update describes. Times are stored as UTC with
// millisecond precision. An expired session with id m.ID is replaced.
//
// If a live session with id m.ID exists then Create returns an error
// wrapping session.ErrConflict and changes nothing. If a command does not
// apply then Create returns a *session.CommandError for it and stores
// nothing. An empty m.ID is an error.
func (s *Store) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	if err := s.check("create session"); err != nil {
		return nil, err
	}
	if m.ID == "" {
		return nil, errors.New("postgres: create session: empty id")
	}
	maxAge := m.MaxAge
	if u.MaxAge > 0 {
		maxAge = u.MaxAge
	}
	label := m.Label
	if u.Label != "" {
		label = u.Label
	}
	doc, err := s.apply(ctx, m.ID, true, storeTime(m.Expires), ptrTo(maxAge.Milliseconds()),
		storeTime(m.Created), nonEmpty(m.UserID), nonEmpty(label), u)
	if err != nil {
		return nil, fmt.Errorf("postgres: create session %s: %w", m.ID, classify(err))
	}
	return doc, nil
}

// Apply applies u to the live session id in one call of the apply function
// (one round trip; a batch of top-level $set and $unset only is one plain
// statement, and a second round trip through the function only if another
// batch on the session committed since its snapshot), under a lock on the session's row, and returns the
// result that session.Update describes. The step moves the session's
// expiry to u.Expires and, when set, its maxAge and label.
//
// If no live session id exists then Apply returns an error wrapping
// session.ErrNotFound and creates nothing. If a command does not apply
// (session.ErrTypeMismatch, for example) then Apply returns a
// *session.CommandError for it and the session, its expiry included, stays
// as it was.
func (s *Store) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	if err := s.check("apply to session"); err != nil {
		return nil, err
	}
	doc, err := s.apply(ctx, id, false, storeTime(u.Expires), maxAgeArg(u.MaxAge), time.Time{}, nil, nonEmpty(u.Label), u)
	if err != nil {
		return nil, fmt.Errorf("postgres: apply to session %s: %w", id, classify(err))
	}
	return doc, nil
}

func (s *Store) apply(ctx context.Context, id string, create bool, expires time.Time, maxAge *int64,
	created time.Time, user, label *string, u session.Update) (session.Doc, error) {
	if !create {
		fb, ok, err := newFastBatch(u.Commands)
		if err != nil {
			return nil, err
		}
		if ok {
			rows, err := s.pool.Query(ctx, s.fastSQL, fastArgs(id, s.now(), expires, maxAge, label, fb, u)...)
			if err != nil {
				return nil, classify(err)
			}
			doc, found, err := readDoc(rows, id)
			if err != nil {
				return nil, classify(err)
			}
			if found {
				return doc, nil
			}
			// Changed since the statement's snapshot: the function
			// applies it.
		}
	}
	return s.applyFunction(ctx, id, create, expires, maxAge, created, user, label, u)
}

// applyFunction applies u in one call of the apply function.
func (s *Store) applyFunction(ctx context.Context, id string, create bool, expires time.Time, maxAge *int64,
	created time.Time, user, label *string, u session.Update) (session.Doc, error) {
	var createdArg any
	if create {
		createdArg = created
	}
	args, err := applyArgs(id, s.now(), create, expires, maxAge, createdArg, user, label, u)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.applySQL, args...)
	if err != nil {
		return nil, s.dbError(err, u.Commands)
	}
	doc, found, err := readDoc(rows, id)
	if err != nil {
		return nil, s.dbError(err, u.Commands)
	}
	if !found {
		return nil, errors.New("the apply function returned no session")
	}
	return doc, nil
}

// applyArgs returns the arguments of the apply function's statement
// (applySQL), for a call of its own or in a pipeline.
func applyArgs(id string, now time.Time, create bool, expires time.Time, maxAge *int64,
	created any, user, label *string, u session.Update) ([]any, error) {
	cmds, err := encodeCommands(u.Commands)
	if err != nil {
		return nil, err
	}
	touched := session.TouchedKeys(u.Commands)
	if touched == nil {
		touched = []string{}
	}
	return []any{id, now, create, expires, maxAge, created, user, label, string(cmds), touched, u.Fetch, u.FetchAll}, nil
}

// maxAgeArg returns the maxAge argument of an update: nil to keep the
// stored one, or milliseconds.
func maxAgeArg(d time.Duration) *int64 {
	if d <= 0 {
		return nil
	}
	return ptrTo(d.Milliseconds())
}

// Delete removes session id, its keys and its entry in the user index, in
// one statement. If the session does not exist then Delete is a no-op and
// returns nil.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.check("delete session"); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, s.deleteSQL, id); err != nil {
		return fmt.Errorf("postgres: delete session %s: %w", id, classify(err))
	}
	return nil
}

// readDoc reads the rows of Load or of the apply function: one row of
// reserved fields (key NULL), and one row per key. It closes rows.
func readDoc(rows pgx.Rows, id string) (session.Doc, bool, error) {
	defer rows.Close()
	doc := session.Doc{}
	found := false
	var (
		key     *string
		value   []byte
		expires *time.Time
		maxAge  *int64
		created *time.Time
		user    *string
		label   *string
	)
	for rows.Next() {
		if err := rows.Scan(&key, &value, &expires, &maxAge, &created, &user, &label); err != nil {
			return nil, false, err
		}
		if key != nil && *key == goneMarker {
			return nil, false, fmt.Errorf("session %s is missing or expired: %w", id, session.ErrNotFound)
		}
		if key == nil {
			if expires == nil || maxAge == nil || created == nil {
				return nil, false, errors.New("a session row without expires, max_age or created")
			}
			found = true
			m := session.Meta{ID: id, Expires: storeTime(*expires), Created: storeTime(*created),
				MaxAge: time.Duration(*maxAge) * time.Millisecond}
			if user != nil {
				m.UserID = *user
			}
			if label != nil {
				m.Label = *label
			}
			for k, v := range m.Doc() {
				doc[k] = v
			}
			continue
		}
		v, err := decodeValue(value)
		if err != nil {
			return nil, false, fmt.Errorf("key %q: %w", *key, err)
		}
		doc[*key] = v
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	return doc, found, nil
}

// dbError turns the errors that the apply function raises into the
// session's sentinel errors.
func (s *Store) dbError(err error, cmds []session.Command) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return classify(err)
	}
	switch pgErr.Code {
	case "ASN01":
		return session.ErrNotFound
	case "ASC01":
		return session.ErrConflict
	case "AST01", "ASV01":
		sentinel := session.ErrTypeMismatch
		if pgErr.Code == "ASV01" {
			sentinel = session.ErrInvalidValue
		}
		i, convErr := strconv.Atoi(pgErr.Detail)
		if convErr != nil || i < 0 || i >= len(cmds) {
			return fmt.Errorf("%s: %w", pgErr.Message, sentinel)
		}
		return &session.CommandError{Index: i, Err: fmt.Errorf("%s: %s: %w", cmds[i], pgErr.Message, sentinel)}
	}
	return classify(err)
}

// fastArgs returns the arguments of fastSQL.
func fastArgs(id string, now, expires time.Time, maxAge *int64, label *string, fb fastBatch, u session.Update) []any {
	return []any{id, now, expires, maxAge, label, string(fb.set), fb.unset, u.Fetch, u.FetchAll}
}

func ptrTo[T any](v T) *T { return &v }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// encodeCommands checks cmds and encodes them for the apply function as a
// JSON array of {"o": op, "p": path, "t": rename target, "v": value, "vs":
// values, "s": slice}. An invalid command gives a *session.CommandError.
func encodeCommands(cmds []session.Command) ([]byte, error) {
	buf := make([]byte, 0, 64*len(cmds)+2)
	buf = append(buf, '[')
	for i, c := range cmds {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = encodeCommand(buf, c); err != nil {
			return nil, &session.CommandError{Index: i, Err: fmt.Errorf("%s: %w", c, err)}
		}
	}
	return append(buf, ']'), nil
}

func encodeCommand(buf []byte, c session.Command) ([]byte, error) {
	if err := session.ValidateKey(c.Path); err != nil {
		return buf, err
	}
	if c.Op < session.OpSet || c.Op > session.OpTake {
		return buf, fmt.Errorf("unknown operator: %w", session.ErrInvalidValue)
	}
	buf = append(buf, `{"o":`...)
	buf = strconv.AppendInt(buf, int64(c.Op), 10)
	buf = append(buf, `,"p":`...)
	buf, _ = appendString(buf, c.Path)
	var err error
	switch c.Op {
	case session.OpSet, session.OpPull:
		buf = append(buf, `,"v":`...)
		buf, err = encodeValue(buf, c.Value)
	case session.OpInc:
		buf = append(buf, `,"v":`...)
		switch n := c.Value.(type) {
		case int64, int, int32:
			buf, err = encodeValue(buf, n)
		case float64:
			buf, err = appendFloat(buf, n)
		default:
			err = fmt.Errorf("the $inc amount is %T, not an int64 or float64: %w", c.Value, session.ErrInvalidValue)
		}
	case session.OpPop:
		var end int64
		switch n := c.Value.(type) {
		case int64:
			end = n
		case int:
			end = int64(n)
		}
		if end != 1 && end != -1 {
			return buf, fmt.Errorf("the $pop operand is %#v; want 1 or -1: %w", c.Value, session.ErrInvalidValue)
		}
		buf = append(buf, `,"v":`...)
		buf = strconv.AppendInt(buf, end, 10)
	case session.OpPush, session.OpPullAll, session.OpAddToSet:
		buf = append(buf, `,"vs":`...)
		vs := c.Values
		if vs == nil {
			vs = []any{}
		}
		buf, err = encodeValue(buf, vs)
		if c.Op == session.OpPush && c.Slice != 0 {
			if c.Slice < 0 {
				return buf, fmt.Errorf("the $slice length is %d, want a positive number: %w", c.Slice, session.ErrInvalidValue)
			}
			buf = append(buf, `,"s":`...)
			buf = strconv.AppendInt(buf, int64(c.Slice), 10)
		}
	case session.OpRename:
		if err := session.ValidateKey(c.To); err != nil {
			return buf, fmt.Errorf("target: %w", err)
		}
		if session.Overlaps(c.Path, c.To) {
			return buf, fmt.Errorf("source and target overlap: %w", session.ErrConflict)
		}
		buf = append(buf, `,"t":`...)
		buf, _ = appendString(buf, c.To)
	}
	if err != nil {
		return buf, err
	}
	return append(buf, '}'), nil
}

// TableName returns the quoted, schema-qualified name of one of the
// store's tables: "sessions", "keys" or "schema_version" (for queries of
// your own, such as monitoring). Other names give "".
func (s *Store) TableName(table string) string {
	switch table {
	case "sessions":
		return s.n.sessions
	case "keys":
		return s.n.keys
	case "schema_version":
		return s.n.version
	}
	return ""
}

// Pool returns the pool the Store was made with.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
