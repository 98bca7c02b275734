package mongo_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/mongo"
	"github.com/atomicsession/atomicsession/session"
)

// TestOneKeySetOn64KBSessionSendsLittle checks the point of the design: a
// one-key command sends about the size of the change, not of the session.
func TestOneKeySetOn64KBSessionSendsLittle(t *testing.T) {
	f := newFixture(t)
	var cmds []session.Command
	chunk := strings.Repeat("x", 1024)
	for i := range 64 {
		cmds = append(cmds, set("k"+strings.Repeat("0", 2-len(itoa(i)))+itoa(i), chunk))
	}
	m, _ := f.create(t, cmds...)
	f.rec.reset()
	doc, err := f.store.Apply(context.Background(), m.ID, upd(m.Expires, set("msg", "hi")))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if _, ok := doc["k63"]; doc["msg"] != "hi" || ok {
		t.Fatalf("Apply returned %v, want msg and no other key", doc.User())
	}
	sent := f.rec.take()
	if len(sent) != 1 {
		t.Fatalf("one-key Set sent %d commands %v, want 1", len(sent), sent)
	}
	t.Logf("one-key Set on a session holding %d KB: one %s of %d command bytes", 64, sent[0].name, sent[0].bytes)
	if sent[0].bytes >= 4096 {
		t.Fatalf("one-key Set on a 64 KB session sent %d command bytes, want under 4096", sent[0].bytes)
	}
}

func TestLoadIsOneRoundTrip(t *testing.T) {
	f := newFixture(t)
	m, _ := f.create(t, set("k", "v"))
	f.rec.reset()
	if _, err := f.store.Load(context.Background(), m.ID, nil); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if sent := f.rec.take(); len(sent) != 1 || sent[0].name != "find" {
		t.Fatalf("Load sent %v, want one find", sent)
	}
}

// TestConcurrentIncAcrossConnections runs many clients' increments of one
// session at once over a pool of several connections: none may be lost.
func TestConcurrentIncAcrossConnections(t *testing.T) {
	srv := testServer(t)
	testenv.SkipIfFerret(t, srv.ferret, "update operators are applied as read-modify-write without a lock, so concurrent updates from several connections lose writes")
	client := connect(t, srv, nil, 8)
	store := mongo.NewStore(newCollection(t, client))
	defer store.Close()
	f := &fixture{clock: newClock()}
	m := f.meta()
	if _, err := store.Create(context.Background(), m, session.Update{}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				cmds := []session.Command{inc("n", int64(1)), push("log", "x")}
				if _, err := store.Apply(context.Background(), m.ID, upd(m.Expires, cmds...)); err != nil {
					t.Errorf("Apply: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	doc, err := store.Load(context.Background(), m.ID, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if doc["n"] != int64(workers*each) || len(doc["log"].([]any)) != workers*each {
		t.Fatalf("after %d concurrent increments: n = %v, len(log) = %d", workers*each, doc["n"], len(doc["log"].([]any)))
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
