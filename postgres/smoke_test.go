package postgres_test

import (
	"context"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	st := newStore(t, nil)
	ctx := context.Background()
	m := newMeta(t, time.Hour)
	doc, err := st.Create(ctx, m, cmds(set("a", int64(1)), set("b.c", 1.0), inc("n", int64(5))))
	t.Logf("create: %v %v", doc, err)
	doc, err = st.Apply(ctx, m.ID, cmds(inc("n", 0.5), set("t", time.Now()), set("z", "a\x00b")))
	t.Logf("apply: %v %v", doc, err)
	doc, err = st.Load(ctx, m.ID, nil)
	t.Logf("load: %#v %v", doc, err)
	doc, err = st.Apply(ctx, m.ID, cmds(inc("a.x", 1)))
	t.Logf("apply: %v %v", doc, err)
}
