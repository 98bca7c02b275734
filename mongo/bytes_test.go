package mongo_test

import (
	"context"
	"strings"
	"testing"

	"github.com/atomicsession/atomicsession/session"
)

const (
	blobSize = 64 << 10
	kb       = 1 << 10
)

// TestBytesOnTheWire counts, with the driver's CommandMonitor, the bytes
// of the commands sent and of the replies received for a session holding
// a 64 KB key and a small one. On MongoDB a write receives only what it
// touched. FerretDB 1.x has no projection on findAndModify, so there a
// write receives the whole document (the store keeps only the touched
// keys): the test asserts what holds there and prints the figures.
func TestBytesOnTheWire(t *testing.T) {
	f := newFixture(t)
	blob := strings.Repeat("b", blobSize)
	m, _ := f.create(t, set("blob", blob), set("small", int64(1)))
	ctx := context.Background()

	// Load everything, then one small write: the session crosses once.
	f.rec.reset()
	if doc, err := f.store.Load(ctx, m.ID, nil); err != nil || doc["blob"] != blob {
		t.Fatalf("Load(nil): %v", err)
	}
	doc, err := f.store.Apply(ctx, m.ID, upd(m.Expires, inc("small", int64(1))))
	if err != nil || doc["small"] != int64(2) {
		t.Fatalf("Apply: %v, %v", doc, err)
	}
	if _, ok := doc["blob"]; ok {
		t.Fatalf("a write of small returned blob")
	}
	cmds := f.rec.take()
	t.Logf("load everything + one small write: %v; %d B sent, %d B received", cmds, sent(cmds), received(cmds))
	if len(cmds) != 2 {
		t.Fatalf("load + write took %d round trips, want 2", len(cmds))
	}
	if r := cmds[0].reply; r < blobSize || r > blobSize+8*kb {
		t.Errorf("Load(nil) received %d B, want the session once: between %d and %d", r, blobSize, blobSize+8*kb)
	}
	if s := cmds[1].bytes; s >= 4*kb {
		t.Errorf("the small write sent %d B, want < 4 KB", s)
	}
	if f.srv.ferret {
		t.Logf("FerretDB 1.x: the write received the whole document (%d B): findAndModify takes no projection there", cmds[1].reply)
	} else if r := received(cmds); r > blobSize+8*kb {
		t.Errorf("load everything + one small write received %d B, want at most 64 KB + 8 KB (the session once)", r)
	}

	// Load only small, then one small write: a few hundred bytes.
	f.rec.reset()
	if doc, err := f.store.Load(ctx, m.ID, []string{"small"}); err != nil || doc["small"] != int64(2) || doc["blob"] != nil {
		t.Fatalf("Load(small) = %v, %v", doc.User(), err)
	}
	if _, err := f.store.Apply(ctx, m.ID, upd(m.Expires, set("small", int64(3)))); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	cmds = f.rec.take()
	t.Logf("Load(small) + one small write: %v; %d B sent, %d B received", cmds, sent(cmds), received(cmds))
	if len(cmds) != 2 {
		t.Fatalf("partial load + write took %d round trips, want 2", len(cmds))
	}
	if n := cmds[0].bytes + cmds[0].reply; n >= 4*kb {
		t.Errorf("Load(small) sent and received %d B, want < 4 KB", n)
	}
	if f.srv.ferret {
		if s := sent(cmds); s >= 4*kb {
			t.Errorf("Load(small) + one small write sent %d B, want < 4 KB", s)
		}
		t.Logf("FerretDB 1.x: the write received %d B (the whole document)", cmds[1].reply)
	} else if n := sent(cmds) + received(cmds); n >= 4*kb {
		t.Errorf("Load(small) + one small write sent and received %d B, want < 4 KB", n)
	}

	// Loading blob afterwards loads it, in one round trip; so does a
	// write that fetches it.
	f.rec.reset()
	if doc, err := f.store.Load(ctx, m.ID, []string{"blob"}); err != nil || doc["blob"] != blob || doc["small"] != nil {
		t.Fatalf("Load(blob): %v", err)
	}
	u := upd(m.Expires, set("small", int64(4)))
	u.Fetch = []string{"blob"}
	if doc, err := f.store.Apply(ctx, m.ID, u); err != nil || doc["blob"] != blob || doc["small"] != int64(4) {
		t.Fatalf("Apply with Fetch(blob): %v", err)
	}
	cmds = f.rec.take()
	t.Logf("Load(blob), then a write fetching blob: %v", cmds)
	if len(cmds) != 2 || cmds[0].reply < blobSize || cmds[1].reply < blobSize {
		t.Fatalf("Load(blob) + a write fetching it: %v, want 2 round trips receiving blob each", cmds)
	}
}

// TestFetchAllOnCreate returns the whole (new) document.
func TestFetchAllOnCreate(t *testing.T) {
	f := newFixture(t)
	m := f.meta()
	doc, err := f.store.Create(context.Background(), m, session.Update{Commands: []session.Command{set("a", int64(1))}, FetchAll: true})
	if err != nil || doc["a"] != int64(1) || len(doc.User()) != 1 {
		t.Fatalf("Create with FetchAll = %v, %v", doc, err)
	}
}
