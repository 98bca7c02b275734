package sessiontest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/atomicsession/atomicsession/session"
)

// flawedStore is a small, correct session.Store unless its flaw names one
// of the mistakes below, which the conformance suite must catch.
type flawedStore struct {
	flaw string
	mu   sync.Mutex
	docs map[string]session.Doc
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
	return &flawedStore{flaw: flaw, docs: map[string]session.Doc{}}
}

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

// out returns what a caller gets of the stored document d.
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

func (s *flawedStore) Load(ctx context.Context, id string) (session.Doc, error) {
	if err := s.ctxErr(ctx); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.live(id)
	if !ok {
		return nil, fmt.Errorf("load %s: %w", id, session.ErrNotFound)
	}
	return s.out(d), nil
}

func (s *flawedStore) Create(ctx context.Context, m session.Meta, cmds []session.Command) (session.Doc, error) {
	if err := s.ctxErr(ctx); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live(m.ID); ok && s.flaw != flawCreateOverwrites {
		return nil, fmt.Errorf("create %s: %w", m.ID, session.ErrConflict)
	}
	doc, err := session.ApplyCommands(m.Doc(), cmds)
	if err == nil && s.flaw == flawNoNestedArrays && nestedArray(doc) {
		err = errNestedArrays
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", m.ID, err)
	}
	s.docs[m.ID] = doc
	return s.out(doc), nil
}

func (s *flawedStore) Apply(ctx context.Context, id string, expires time.Time, cmds []session.Command) (session.Doc, error) {
	if err := s.ctxErr(ctx); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	s.mu.Lock()
	d, ok := s.live(id)
	if s.flaw == flawLostUpdates {
		s.mu.Unlock()
		runtime.Gosched()
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	switch {
	case !ok && s.flaw == flawUpsert:
		d = session.Meta{ID: id, Expires: expires, Created: expires, MaxAge: time.Hour, Secret: "s"}.Doc()
	case !ok:
		return nil, fmt.Errorf("apply %s: %w", id, session.ErrNotFound)
	}
	doc, err := s.apply(id, d, cmds)
	if err == nil && s.flaw == flawNoNestedArrays && nestedArray(doc) {
		err = errNestedArrays
	}
	if err != nil {
		return nil, fmt.Errorf("apply %s: %w", id, err)
	}
	if s.flaw != flawKeepExpires {
		doc[session.FieldExpires] = expires
	}
	s.docs[id] = doc
	return s.out(doc), nil
}

func (s *flawedStore) apply(id string, d session.Doc, cmds []session.Command) (session.Doc, error) {
	switch s.flaw {
	case flawPartialBatches:
		for _, c := range cmds {
			next, err := session.ApplyCommands(d, []session.Command{c})
			if err != nil {
				s.docs[id] = d
				return nil, err
			}
			d = next
		}
		return d, nil
	case flawAddToSetPushes:
		cmds = append([]session.Command(nil), cmds...)
		for i := range cmds {
			if cmds[i].Op == session.OpAddToSet {
				cmds[i].Op = session.OpPush
			}
		}
	}
	return session.ApplyCommands(d, cmds)
}

func (s *flawedStore) Delete(ctx context.Context, id string) error {
	if err := s.ctxErr(ctx); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.docs, id)
	return nil
}
