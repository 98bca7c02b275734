package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SchemaVersion is the version of the tables and functions that this
// package's EnsureSchema installs, recorded in the version table for
// future migrations.
const SchemaVersion = 1

// names are the quoted, schema-qualified names of the store's objects.
type names struct {
	schema   string // quoted schema name
	sessions string // one row of reserved fields per session
	keys     string // one row per top-level key of a session
	version  string // the installed schema version
	apply    string // the batch function
	lookup   string // path lookup helper
	setPath  string // path set helper
	// unqualified index names (an index lives in its table's schema)
	expiresIdx, userIdx string
	lockKey             int64 // pg_advisory_xact_lock key of EnsureSchema
}

func newNames(schema, prefix string) names {
	q := func(name string) string { return pgx.Identifier{schema, prefix + name}.Sanitize() }
	sum := sha256.Sum256([]byte("atomicsession\x00" + schema + "\x00" + prefix))
	return names{
		schema:     pgx.Identifier{schema}.Sanitize(),
		sessions:   q("sessions"),
		keys:       q("keys"),
		version:    q("schema_version"),
		apply:      q("apply"),
		lookup:     q("lookup"),
		setPath:    q("set_path"),
		expiresIdx: pgx.Identifier{prefix + "sessions_expires"}.Sanitize(),
		userIdx:    pgx.Identifier{prefix + "sessions_user"}.Sanitize(),
		lockKey:    int64(binary.BigEndian.Uint64(sum[:8])),
	}
}

// expand replaces the {{name}} placeholders of sql with the store's names.
func (n names) expand(sql string) string {
	return strings.NewReplacer(
		"{{schema}}", n.schema,
		"{{sessions}}", n.sessions,
		"{{keys}}", n.keys,
		"{{version}}", n.version,
		"{{apply}}", n.apply,
		"{{lookup}}", n.lookup,
		"{{set_path}}", n.setPath,
		"{{expires_idx}}", n.expiresIdx,
		"{{user_idx}}", n.userIdx,
	).Replace(sql)
}

// tablesSQL creates the tables and indexes of version 1. Every statement
// is idempotent.
const tablesSQL = `
CREATE TABLE IF NOT EXISTS {{version}} (
	name     text PRIMARY KEY,
	version  integer NOT NULL,
	checksum text NOT NULL,
	updated  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {{sessions}} (
	id      text PRIMARY KEY,
	expires timestamptz NOT NULL,
	max_age bigint NOT NULL,
	created timestamptz NOT NULL,
	user_id text,
	label   text
) WITH (fillfactor = 90);
CREATE INDEX IF NOT EXISTS {{expires_idx}} ON {{sessions}} (expires);
CREATE INDEX IF NOT EXISTS {{user_idx}} ON {{sessions}} (user_id) WHERE user_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS {{keys}} (
	session_id text NOT NULL REFERENCES {{sessions}} (id) ON DELETE CASCADE,
	key        text NOT NULL,
	value      jsonb NOT NULL,
	PRIMARY KEY (session_id, key)
) WITH (fillfactor = 90);
`

// functionsSQL installs the functions that apply a batch of commands. They
// implement session.ApplyCommands over the typed JSON encoding of codec.go
// (numbers with a '.' are floats, others integers; {"$t": ms} is a time;
// {"$z": base64} a string holding NUL), in which jsonb equality is
// session.Equal. The differential test checks them against ApplyCommands.
//
// lookup walks path p from doc: st 1 found (val is the value), 0 missing
// but creatable, 2 blocked: p[1:n] holds val, which is not an object (or
// is a tagged time or string).
const functionsSQL = `
CREATE OR REPLACE FUNCTION {{lookup}}(doc jsonb, p text[], OUT st integer, OUT val jsonb, OUT n integer)
LANGUAGE plpgsql IMMUTABLE STRICT AS $fn$
DECLARE
	cur jsonb := doc;
	j integer;
BEGIN
	FOR j IN 1 .. cardinality(p) LOOP
		-- A tagged scalar ({"$t": ...}, {"$z": ...}) is no document.
		IF jsonb_typeof(cur) <> 'object' OR cur ? '$t' OR cur ? '$z' THEN
			st := 2; val := cur; n := j - 1;
			RETURN;
		END IF;
		IF NOT cur ? p[j] THEN
			st := 0; n := 0;
			RETURN;
		END IF;
		cur := cur -> p[j];
	END LOOP;
	st := 1; val := cur; n := 0;
END
$fn$;

CREATE OR REPLACE FUNCTION {{set_path}}(doc jsonb, p text[], v jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT AS $fn$
DECLARE
	conts jsonb[] := ARRAY[doc];
	cur jsonb := doc;
	child jsonb;
	out jsonb := v;
	j integer;
BEGIN
	FOR j IN 1 .. cardinality(p) - 1 LOOP
		child := cur -> p[j];
		IF child IS NULL OR jsonb_typeof(child) <> 'object' THEN
			child := '{}';
		END IF;
		conts := array_append(conts, child);
		cur := child;
	END LOOP;
	FOR j IN REVERSE cardinality(p) .. 1 LOOP
		out := conts[j] || jsonb_build_object(p[j], out);
	END LOOP;
	RETURN out;
END
$fn$;

CREATE OR REPLACE FUNCTION {{apply}}(
	p_id text, p_now timestamptz, p_create boolean,
	p_expires timestamptz, p_max_age bigint, p_created timestamptz, p_user text, p_label text,
	p_cmds jsonb, p_touched text[], p_fetch text[], p_fetch_all boolean)
RETURNS TABLE (o_key text, o_value jsonb, o_expires timestamptz, o_max_age bigint,
	o_created timestamptz, o_user text, o_label text)
LANGUAGE plpgsql VOLATILE
SET extra_float_digits = 1
SET search_path = pg_catalog
AS $fn$
#variable_conflict use_column
DECLARE
	m record;
	lk record;
	lk2 record;
	doc jsonb := '{}';
	c jsonb;
	i integer := -1;
	op integer;
	p text[];
	tp text[];
	arr jsonb;
	vals jsonb;
	res jsonb;
	added jsonb;
	e jsonb;
	a numeric;
	b numeric;
	r numeric;
	f float8;
	sl integer;
	overflow boolean;
	takes text[] := '{}';
	ckeys text[] := '{}';
	cvals jsonb[] := '{}';
	removed text[] := '{}';
	tvals jsonb[];    -- tvals[j]: the value of top-level key p_touched[j] (NULL: absent)
	bvals jsonb[];    -- the same before the step
	ti integer;
	kidx jsonb := '{}'; -- top-level key → its index in p_touched
	ti2 integer;
	row_ record;
	j integer;
BEGIN
	tvals := array_fill(NULL::jsonb, ARRAY[cardinality(p_touched)]);
	IF cardinality(p_touched) > 0 THEN
		SELECT jsonb_object_agg(x.k, x.o) INTO kidx FROM unnest(p_touched) WITH ORDINALITY AS x(k, o);
	END IF;
	IF p_create THEN
		DELETE FROM {{sessions}} s WHERE s.id = p_id AND s.expires <= p_now;
		INSERT INTO {{sessions}} AS s (id, expires, max_age, created, user_id, label)
			VALUES (p_id, p_expires, p_max_age, p_created, p_user, p_label)
			ON CONFLICT (id) DO NOTHING
			RETURNING s.expires, s.max_age, s.created, s.user_id, s.label INTO m;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'a live session with this id exists already' USING ERRCODE = 'ASC01';
		END IF;
	ELSE
		-- The row lock: batches on one session wait here for each other.
		UPDATE {{sessions}} s SET expires = p_expires,
				max_age = coalesce(p_max_age, s.max_age),
				label = coalesce(p_label, s.label)
			WHERE s.id = p_id AND s.expires > p_now
			RETURNING s.expires, s.max_age, s.created, s.user_id, s.label INTO m;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'no live session with this id' USING ERRCODE = 'ASN01';
		END IF;
		IF cardinality(p_touched) > 0 THEN
			FOR row_ IN SELECT t.key, t.value FROM {{keys}} t
					WHERE t.session_id = p_id AND t.key = ANY (p_touched) LOOP
				tvals[(kidx ->> row_.key)::integer] := row_.value;
			END LOOP;
		END IF;
	END IF;
	bvals := tvals;

	FOR c IN SELECT x FROM jsonb_array_elements(p_cmds) AS x LOOP
		i := i + 1;
		op := (c ->> 'o')::integer;
		p := string_to_array(c ->> 'p', '.');
		-- Each command works on a document of the top-level keys it
		-- touches only, so its cost is theirs, not the batch's.
		ti := (kidx ->> p[1])::integer;
		ti2 := NULL;
		IF op = 9 THEN
			tp := string_to_array(c ->> 't', '.');
			ti2 := (kidx ->> tp[1])::integer;
		END IF;
		IF ti IS NULL OR (op = 9 AND ti2 IS NULL) THEN
			RAISE EXCEPTION 'the command''s top-level key is not among the touched keys' USING ERRCODE = 'ASV01', DETAIL = i::text;
		END IF;
		doc := '{}';
		IF tvals[ti] IS NOT NULL THEN
			doc := jsonb_build_object(p[1], tvals[ti]);
		END IF;
		IF ti2 IS NOT NULL AND ti2 <> ti AND tvals[ti2] IS NOT NULL THEN
			doc := doc || jsonb_build_object(tp[1], tvals[ti2]);
		END IF;
		SELECT * INTO lk FROM {{lookup}}(doc, p);
		IF lk.st = 2 AND op NOT IN (2, 10) THEN
			IF op = 9 THEN
				RAISE EXCEPTION 'cannot rename %: element % is not a document', c ->> 'p',
					array_to_string(p[1:lk.n], '.') USING ERRCODE = 'AST01', DETAIL = i::text;
			END IF;
			RAISE EXCEPTION 'cannot create field % in element %, which holds %, not a document',
				p[lk.n + 1], array_to_string(p[1:lk.n], '.'), jsonb_typeof(lk.val)
				USING ERRCODE = 'AST01', DETAIL = i::text;
		END IF;
		CASE op
		WHEN 1 THEN -- $set
			doc := {{set_path}}(doc, p, c -> 'v');
		WHEN 2, 10 THEN -- $unset, $take
			IF lk.st = 1 THEN
				doc := doc #- p;
			END IF;
			IF op = 10 THEN
				takes := array_append(takes, p[1]);
			END IF;
		WHEN 3 THEN -- $inc
			IF lk.st = 0 THEN
				doc := {{set_path}}(doc, p, c -> 'v');
			ELSE
				IF jsonb_typeof(lk.val) <> 'number' THEN
					RAISE EXCEPTION 'cannot apply $inc to a value of type %', jsonb_typeof(lk.val)
						USING ERRCODE = 'AST01', DETAIL = i::text;
				END IF;
				a := lk.val::numeric;
				b := (c -> 'v')::numeric;
				IF scale(a) = 0 AND scale(b) = 0 THEN
					r := a + b;
					IF r > 9223372036854775807 OR r < -9223372036854775808 THEN
						RAISE EXCEPTION '% + % overflows int64', a, b USING ERRCODE = 'AST01', DETAIL = i::text;
					END IF;
				ELSE
					overflow := false;
					BEGIN
						f := a::float8 + b::float8;
					EXCEPTION WHEN numeric_value_out_of_range THEN
						overflow := true;
					END;
					IF overflow THEN
						RAISE EXCEPTION '% + % is not a finite float64', a, b USING ERRCODE = 'AST01', DETAIL = i::text;
					END IF;
					r := f::text::numeric;
					IF scale(r) = 0 THEN
						r := round(r, 1);
					END IF;
				END IF;
				doc := {{set_path}}(doc, p, to_jsonb(r));
			END IF;
		WHEN 4, 7 THEN -- $push, $addToSet
			arr := NULL;
			IF lk.st = 1 THEN
				IF jsonb_typeof(lk.val) <> 'array' THEN
					RAISE EXCEPTION 'cannot apply % to a value of type %, not an array',
						CASE op WHEN 4 THEN '$push' ELSE '$addToSet' END, jsonb_typeof(lk.val)
						USING ERRCODE = 'AST01', DETAIL = i::text;
				END IF;
				arr := lk.val;
			END IF;
			vals := c -> 'vs';
			IF op = 4 THEN
				sl := coalesce((c ->> 's')::integer, 0);
				IF arr IS NULL OR jsonb_array_length(vals) > 0 OR (sl > 0 AND jsonb_array_length(arr) > sl) THEN
					res := coalesce(arr, '[]') || vals;
					IF sl > 0 AND jsonb_array_length(res) > sl THEN
						SELECT jsonb_agg(x ORDER BY o) INTO res
							FROM jsonb_array_elements(res) WITH ORDINALITY AS t(x, o)
							WHERE o > jsonb_array_length(res) - sl;
					END IF;
					doc := {{set_path}}(doc, p, res);
				END IF;
			ELSE
				added := '[]';
				FOR e IN SELECT x FROM jsonb_array_elements(vals) AS x LOOP
					IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(arr, '[]')) AS y WHERE y = e)
						AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(added) AS y WHERE y = e) THEN
						added := added || jsonb_build_array(e);
					END IF;
				END LOOP;
				IF arr IS NULL OR jsonb_array_length(added) > 0 THEN
					doc := {{set_path}}(doc, p, coalesce(arr, '[]') || added);
				END IF;
			END IF;
		WHEN 5, 6, 8 THEN -- $pull, $pullAll, $pop
			IF lk.st = 1 THEN
				IF jsonb_typeof(lk.val) <> 'array' THEN
					RAISE EXCEPTION 'cannot apply % to a value of type %, not an array',
						CASE op WHEN 5 THEN '$pull' WHEN 6 THEN '$pullAll' ELSE '$pop' END, jsonb_typeof(lk.val)
						USING ERRCODE = 'AST01', DETAIL = i::text;
				END IF;
				arr := lk.val;
				IF op = 8 THEN
					IF jsonb_array_length(arr) > 0 THEN
						doc := {{set_path}}(doc, p, arr - CASE WHEN (c ->> 'v')::integer = 1 THEN -1 ELSE 0 END);
					END IF;
				ELSE
					vals := CASE op WHEN 5 THEN jsonb_build_array(c -> 'v') ELSE c -> 'vs' END;
					SELECT coalesce(jsonb_agg(x ORDER BY o), '[]') INTO res
						FROM jsonb_array_elements(arr) WITH ORDINALITY AS t(x, o)
						WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(vals) AS y WHERE y = x);
					IF jsonb_array_length(res) <> jsonb_array_length(arr) THEN
						doc := {{set_path}}(doc, p, res);
					END IF;
				END IF;
			END IF;
		WHEN 9 THEN -- $rename
			IF lk.st = 1 THEN
				SELECT * INTO lk2 FROM {{lookup}}(doc, tp);
				IF lk2.st = 2 THEN
					RAISE EXCEPTION 'cannot create field % in element %, which holds %, not a document',
						tp[lk2.n + 1], array_to_string(tp[1:lk2.n], '.'), jsonb_typeof(lk2.val)
						USING ERRCODE = 'AST01', DETAIL = i::text;
				END IF;
				doc := {{set_path}}(doc #- p, tp, lk.val);
			END IF;
		ELSE
			RAISE EXCEPTION 'unknown operator %', op USING ERRCODE = 'ASV01', DETAIL = i::text;
		END CASE;
		tvals[ti] := doc -> p[1];
		IF ti2 IS NOT NULL THEN
			tvals[ti2] := doc -> tp[1];
		END IF;
	END LOOP;

	-- Write back the top-level keys that changed, and only those.
	FOR j IN 1 .. cardinality(p_touched) LOOP
		IF tvals[j] IS NULL THEN
			IF bvals[j] IS NOT NULL THEN
				removed := array_append(removed, p_touched[j]);
			END IF;
		ELSIF bvals[j] IS NULL OR tvals[j]::text <> bvals[j]::text THEN
			ckeys := array_append(ckeys, p_touched[j]);
			cvals := array_append(cvals, tvals[j]);
		END IF;
	END LOOP;
	IF cardinality(removed) > 0 THEN
		DELETE FROM {{keys}} t WHERE t.session_id = p_id AND t.key = ANY (removed);
	END IF;
	IF cardinality(ckeys) > 0 THEN
		INSERT INTO {{keys}} AS t (session_id, key, value)
			SELECT p_id, x.k, x.v FROM unnest(ckeys, cvals) AS x(k, v)
			ON CONFLICT (session_id, key) DO UPDATE SET value = excluded.value;
	END IF;

	RETURN QUERY SELECT NULL::text, NULL::jsonb, m.expires, m.max_age, m.created, m.user_id, m.label;
	RETURN QUERY SELECT x.k, CASE WHEN x.k = ANY (takes) THEN x.b ELSE x.v END,
			NULL::timestamptz, NULL::bigint, NULL::timestamptz, NULL::text, NULL::text
		FROM unnest(p_touched, tvals, bvals) AS x(k, v, b)
		WHERE CASE WHEN x.k = ANY (takes) THEN x.b ELSE x.v END IS NOT NULL;
	IF p_fetch_all OR cardinality(p_fetch) > 0 THEN
		RETURN QUERY SELECT t.key, t.value, NULL::timestamptz, NULL::bigint, NULL::timestamptz, NULL::text, NULL::text
			FROM {{keys}} t
			WHERE t.session_id = p_id AND NOT t.key = ANY (p_touched)
				AND (p_fetch_all OR t.key = ANY (p_fetch));
	END IF;
END
$fn$;
`

// EnsureSchema creates the store's schema, tables, indexes and functions
// if they are missing, and replaces the functions if this version of the
// package installs different ones. It records SchemaVersion in the version
// table. It is idempotent and safe to call at every start, from several
// instances at once: it runs in one transaction under a transaction-level
// advisory lock (pg_advisory_xact_lock) on a key derived from the schema
// and table prefix, so concurrent calls take turns, and a call that finds
// everything in place changes nothing.
//
// The schema is created only if it does not exist, so the default "public"
// needs no CREATE privilege on the database. If the database holds a newer
// schema version than this package knows, then EnsureSchema returns an
// error and changes nothing.
func (s *Store) EnsureSchema(ctx context.Context) error {
	if err := s.check("ensure schema"); err != nil {
		return err
	}
	fnSQL := s.n.expand(functionsSQL)
	sum := sha256.Sum256([]byte(s.n.expand(tablesSQL) + fnSQL))
	checksum := hex.EncodeToString(sum[:])
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.n.lockKey); err != nil {
			return err
		}
		var schemaExists bool
		var table *string
		err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), to_regclass($2)::text",
			s.schemaName, s.n.version).Scan(&schemaExists, &table)
		if err != nil {
			return err
		}
		if !schemaExists {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+s.n.schema); err != nil {
				return fmt.Errorf("create schema: %w", err)
			}
		}
		if table != nil {
			var version int
			var installed string
			err := tx.QueryRow(ctx, s.n.expand(
				`SELECT v.version, v.checksum FROM {{version}} v WHERE v.name = 'atomicsession'`)).Scan(&version, &installed)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return err
			case version > SchemaVersion:
				return fmt.Errorf("the database holds schema version %d, newer than this package's %d: upgrade the package", version, SchemaVersion)
			case version == SchemaVersion && installed == checksum:
				return nil // everything is in place
			}
		}
		if _, err := tx.Exec(ctx, s.n.expand(tablesSQL)); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
		if _, err := tx.Exec(ctx, fnSQL); err != nil {
			return fmt.Errorf("create functions: %w", err)
		}
		_, err = tx.Exec(ctx, s.n.expand(`
			INSERT INTO {{version}} (name, version, checksum) VALUES ('atomicsession', $1, $2)
			ON CONFLICT (name) DO UPDATE SET version = excluded.version, checksum = excluded.checksum, updated = now()`),
			SchemaVersion, checksum)
		if err != nil {
			return fmt.Errorf("record schema version: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: ensure schema %s: %w", s.n.schema, err)
	}
	return nil
}
