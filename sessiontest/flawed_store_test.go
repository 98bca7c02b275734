package sessiontest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// flawedStore is a small, correct session.Store and session.UserIndex
// unless its flaw names one of the mistakes below, which the conformance
// suite must catch. It holds whole documents, as the memory store does.
type flawedStore struct {
	flaw  string
	mu    sync.Mutex
	docs  map[string]session.Doc
	users map[string]map[string]bool // user → session ids
}

// The flaws.
const (
	flawNone             = ""
	flawUpsert           = "upsert"           // Apply on a missing id creates it
	flawServeExpired     = "serveExpired"     // no expiry check
	flawLostUpdates      = "lostUpdates"      // Apply reads and writes under two locks
	flawPartialBatches   = "partialBatches"   // a failing batch keeps the commands before it
	flawSharedDocs       = "sharedDocs"       // returns the stored document itself
	flawIgnoreContext    = "ignoreContext"    // works on with a done context
	flawKeepExpires      = "keepExpires"      // Apply does not move expires
	flawCreateOverwrites = "createOverwrites" // Create replaces an existing session
	flawIntsAsFloats     = "intsAsFloats"     // integers come back as float64
	flawAddToSetPushes   = "addToSetPushes"   // $addToSet adds duplicates
	flawNoNestedArrays   = "noNestedArrays"   // rejects arrays in arrays, as FerretDB 1.x
	flawWholeDoc         = "wholeDoc"         // Create and Apply return the whole document (v1)
	flawKeepRemoved      = "keepRemoved"      // a touched key the step removed comes back with its old value
	flawLoadAll          = "loadAll"          // Load ignores its keys
	flawIgnoreFetch      = "ignoreFetch"      // Fetch and FetchAll return nothing
	flawTakeAfter        = "takeAfter"        // OpTake returns the key as it is after the step: absent
	flawTakeRace         = "takeRace"         // OpTake reads under one lock and removes under another
	flawIgnoreSlice      = "ignoreSlice"      // $push ignores Slice
	flawIgnoreMaxAge     = "ignoreMaxAge"     // Update.MaxAge is not stored
	flawIgnoreLabel      = "ignoreLabel"      // Update.Label is not stored
	flawFetchApart       = "fetchApart"       // reads the Fetch keys after the update, under another lock
	flawSwallowDelete    = "swallowDelete"    // Delete returns nil on a done context and deletes nothing
	flawListExpired      = "listExpired"      // UserSessions lists expired sessions
	flawRevokeIndexOnly  = "revokeIndexOnly"  // DeleteUserSessions drops the index entries, not the sessions
	flawIndexFirst       = "indexFirst"       // Create indexes the session before storing it, under another lock
	flawScanUsers        = "scanUsers"        // UserSessions scans every session
)

// errNestedArrays is the error of flawNoNestedArrays.
var errNestedArrays = errors.New("nested arrays are not supported")

func nestedArray(v any) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if _, ok := e.([]any); ok || nestedArray(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if nestedArray(e) {
				return true
			}
		}
	case session.Doc:
		return nestedArray(map[string]any(x))
	}
	return false
}

func newFlawedStore(flaw string) *flawedStore {
	return &flawedStore{flaw: flaw, docs: map[string]session.Doc{}, users: map[string]map[string]bool{}}
}

// storeOnly hides the UserIndex methods of a store.
type storeOnly struct{ session.Store }

func (s *flawedStore) ctxErr(ctx context.Context) error {
	if s.flaw == flawIgnoreContext {
		return nil
	}
	return ctx.Err()
}

// live returns the stored, unexpired document id. The caller holds s.mu.
func (s *flawedStore) live(id string) (session.Doc, bool) {
	d, ok := s.docs[id]
	if !ok {
		return nil, false
	}
	if m, err := session.MetaOf(d); err != nil || !m.Expires.After(time.Now()) && s.flaw != flawServeExpired {
		return nil, false
	}
	return d, true
}

// out returns what a caller gets of the document d.
func (s *flawedStore) out(d session.Doc) session.Doc {
	switch s.flaw {
	case flawSharedDocs:
		return d
	case flawIntsAsFloats:
		return floatify(map[string]any(d.Clone())).(map[string]any)
	}
	return d.Clone()
}

func floatify(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case map[string]any:
		for k, e := range x {
			x[k] = floatify(e)
		}
	case []any:
		for i, e := range x {
			x[i] = floatify(e)
		}
	}
	return v
}

// result returns what Create and Apply return for u, before and after.
func (s *flawedStore) result(u session.Update, before, after session.Doc) session.Doc {
	switch s.flaw {
	case flawWholeDoc:
		return s.out(after)
	case flawIgnoreFetch:
		u.Fetch, u.FetchAll = nil, false
	case flawTakeAfter:
		u.Commands = slices.Clone(u.Commands)
		for i := range u.Commands {
			if u.Commands[i].Op == session.OpTake {
				u.Commands[i].Op = session.OpUnset
			}
		}
	case flawFetchApart:
		fetch, all := u.Fetch, u.FetchAll
		u.Fetch, u.FetchAll = nil, false
		out := u.Result(before, after)
		if len(fetch) == 0 && !all {
			return s.out(out)
		}
		s.mu.Unlock()
		time.Sleep(50 * time.Microsecond) // a second round trip
		s.mu.Lock()
		if now, ok := s.docs[after[session.FieldID].(string)]; ok {
			if all {
				fetch = nil
			}
			for k, v := range session.LoadResult(now, fetch) {
				out[k] = v
			}
		}
		return s.out(out)
	}
	out := u.Result(before, after)
	if s.flaw == flawKeepRemoved {
		for _, k := range session.TouchedKeys(u.Commands) {
			if _, ok := out[k]; !ok {
				if v, had := before[k]; had {
					out[k] = v
				}
			}
		}
	}
	return s.out(out)
}

func (s *flawedStore) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	if err := s.ctxErr(ctx); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.live(id)
	if !ok {
		return nil, fmt.Errorf("load %s: %w", id, session.ErrNotFound)
	}
	if s.flaw == flawLoadAll {
		keys = nil
	}
	return s.out(session.LoadResult(d, keys)), nil
}

// commands returns the commands as the flaw applies them.
func (s *flawedStore) commands(cmds []session.Command) []session.Command {
	cmds = slices.Clone(cmds)
	for i := range cmds {
		switch {
		case s.flaw == flawAddToSetPushes && cmds[i].Op == session.OpAddToSet:
			cmds[i].Op = session.OpPush
		case s.flaw == flawIgnoreSlice:
			cmds[i].Slice = 0
		}
	}
	return cmds
}

func (s *flawedStore) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	if err := s.ctxErr(ctx); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	if u.MaxAge > 0 && s.flaw != flawIgnoreMaxAge {
		m.MaxAge = u.MaxAge
	}
	if u.Label != "" && s.flaw != flawIgnoreLabel {
		m.Label = u.Label
	}
	before := m.Doc()
	doc, err := session.ApplyCommands(before, s.commands(u.Commands))
	if err == nil && s.flaw == flawNoNestedArrays && nestedArray(doc) {
		err = errNestedArrays
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", m.ID, err)
	}
	if s.flaw == flawIndexFirst {
		s.mu.Lock()
		s.index(m.UserID, m.ID)
		s.mu.Unlock()
		time.Sleep(100 * time.Microsecond) // a second round trip
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live(m.ID); ok && s.flaw != flawCreateOverwrites {
		return nil, fmt.Errorf("create %s: %w", m.ID, session.ErrConflict)
	}
	s.docs[m.ID] = doc
	if s.flaw != flawIndexFirst {
		s.index(m.UserID, m.ID)
	}
	return s.result(u, before, doc), nil
}

// index adds session id to user's index. The caller holds s.mu.
func (s *flawedStore) index(user, id string) {
	if user == "" {
		return
	}
	if s.users[user] == nil {
		s.users[user] = map[string]bool{}
	}
	s.users[user][id] = true
}

func (s *flawedStore) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	if err := s.ctxErr(ctx); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	s.mu.Lock()
	d, ok := s.live(id)
	if s.flaw == flawLostUpdates || s.flaw == flawTakeRace && len(u.Commands) > 0 && u.Commands[0].Op == session.OpTake {
		s.mu.Unlock()
		runtime.Gosched()
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	switch {
	case !ok && s.flaw == flawUpsert:
		d = session.Meta{ID: id, Expires: u.Expires, Created: u.Expires, MaxAge: time.Hour}.Doc()
	case !ok:
		return nil, fmt.Errorf("apply %s: %w", id, session.ErrNotFound)
	}
	doc, err := s.apply(id, d, s.commands(u.Commands))
	if err == nil && s.flaw == flawNoNestedArrays && nestedArray(doc) {
		err = errNestedArrays
	}
	if err != nil {
		return nil, fmt.Errorf("apply %s: %w", id, err)
	}
	if s.flaw != flawKeepExpires {
		doc[session.FieldExpires] = time.UnixMilli(u.Expires.UnixMilli()).UTC()
	}
	if u.MaxAge > 0 && s.flaw != flawIgnoreMaxAge {
		doc[session.FieldMaxAge] = u.MaxAge.Milliseconds()
	}
	if u.Label != "" && s.flaw != flawIgnoreLabel {
		doc[session.FieldLabel] = u.Label
	}
	s.docs[id] = doc
	return s.result(u, d, doc), nil
}

func (s *flawedStore) apply(id string, d session.Doc, cmds []session.Command) (session.Doc, error) {
	if s.flaw == flawPartialBatches {
		for _, c := range cmds {
			next, err := session.ApplyCommands(d, []session.Command{c})
			if err != nil {
				s.docs[id] = d
				return nil, err
			}
			d = next
		}
		return d, nil
	}
	return session.ApplyCommands(d, cmds)
}

func (s *flawedStore) Delete(ctx context.Context, id string) error {
	if err := s.ctxErr(ctx); err != nil {
		if s.flaw == flawSwallowDelete {
			return nil
		}
		return fmt.Errorf("delete: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(id)
	return nil
}

// remove deletes session id and its index entry. The caller holds s.mu.
func (s *flawedStore) remove(id string) {
	if d, ok := s.docs[id]; ok {
		if user, _ := d[session.FieldUserID].(string); user != "" {
			delete(s.users[user], id)
		}
		delete(s.docs, id)
	}
}

func (s *flawedStore) UserSessions(ctx context.Context, userID string) ([]session.Meta, error) {
	if err := s.ctxErr(ctx); err != nil {
		return nil, fmt.Errorf("user sessions: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.users[userID]
	if s.flaw == flawScanUsers {
		ids = map[string]bool{}
		for id, d := range s.docs {
			spin(20 * time.Microsecond) // what reading one more session costs a database
			if d[session.FieldUserID] == userID {
				ids[id] = true
			}
		}
	}
	out := []session.Meta{}
	for id := range ids {
		d, ok := s.live(id)
		if !ok && s.flaw == flawListExpired {
			d, ok = s.docs[id]
		}
		if !ok {
			continue
		}
		m, err := session.MetaOf(d)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// spin busy-waits for d.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

func (s *flawedStore) DeleteUserSessions(ctx context.Context, userID string, keep ...string) (int, error) {
	if err := s.ctxErr(ctx); err != nil {
		return 0, fmt.Errorf("delete user sessions: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.users[userID] {
		if slices.Contains(keep, id) {
			continue
		}
		if _, ok := s.live(id); ok {
			n++
		}
		if s.flaw != flawRevokeIndexOnly {
			s.remove(id)
		}
		delete(s.users[userID], id) // also an entry whose session is gone

	}
	return n, nil
}
