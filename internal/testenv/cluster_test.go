package testenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRedisClusterForms(t *testing.T) {
	c := RedisCluster(t)
	if got, want := len(c.Addrs()), ClusterMasters*(1+ClusterReplicas); got != want {
		t.Fatalf("%d node addresses, want %d", got, want)
	}
	ctx := context.Background()
	seen := map[string]bool{}
	for _, addr := range c.Addrs() {
		if seen[addr] {
			t.Fatalf("address %s twice in %v", addr, c.Addrs())
		}
		seen[addr] = true
		info, err := respString(ctx, addr, "CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(c.Addrs()))) {
			t.Errorf("CLUSTER INFO of %s = %q, %v; want ok with every node known", addr, info, err)
		}
	}
	// Each master serves a third of the slots.
	for i, m := range c.Masters() {
		slot := i * ClusterSlots / ClusterMasters
		owner, err := c.SlotOwner(ctx, slot+10)
		if err != nil || owner != m {
			t.Errorf("SlotOwner(%d) = %v, %v; want master %d %v", slot+10, owner, err, i, m)
		}
	}
	if _, err := c.SlotOwner(ctx, ClusterSlots); err == nil {
		t.Errorf("SlotOwner(%d) = nil error, want out of range", ClusterSlots)
	}
}

func TestKeySlot(t *testing.T) {
	c := RedisCluster(t)
	ctx := context.Background()
	for _, key := range []string{"", "a", "foo", "123456789", "user:{42}:x", "{}x", "x{}y{z}", "{a}{b}", "é", "s:{7KpzIvQ}"} {
		got, err := respDo(ctx, c.Addrs()[0], "CLUSTER", "KEYSLOT", key)
		if err != nil {
			t.Fatal(err)
		}
		if want := KeySlot(key); got != int64(want) {
			t.Errorf("KeySlot(%q) = %d, CLUSTER KEYSLOT = %v", key, want, got)
		}
	}
}

// TestMigrateSlot moves a slot of 150 keys while a poller watches the
// source: it must see ASK during the pause, MOVED after, and the keys must
// all be on the target.
func TestMigrateSlot(t *testing.T) {
	c := RedisCluster(t)
	ctx := context.Background()
	tag := fmt.Sprintf("{migrate-%d}", time.Now().UnixNano())
	slot := KeySlot(tag)
	src, err := c.SlotOwner(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	var dst ClusterNode
	for _, m := range c.Masters() {
		if m != src {
			dst = m
			break
		}
	}
	const n = 150
	for i := range n {
		if err := respOK(ctx, src.Addr, "SET", fmt.Sprintf("%s:%d", tag, i), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	key := tag + ":0"
	done := make(chan error, 1)
	go func() { done <- c.MigrateSlot(ctx, slot, dst.Addr, 300*time.Millisecond) }()
	sawASK := false
	for !sawASK {
		_, err := respDo(ctx, src.Addr, "GET", key)
		var re respError
		switch {
		case errors.As(err, &re) && strings.HasPrefix(string(re), fmt.Sprintf("ASK %d %s", slot, dst.Addr)):
			sawASK = true
		case err != nil && !strings.HasPrefix(err.Error(), "ASK"):
			t.Fatalf("GET on the source during the migration: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("MigrateSlot returned (%v) before the source answered ASK", err)
		default:
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("MigrateSlot: %v", err)
	}
	_, err = respDo(ctx, src.Addr, "GET", key)
	if want := fmt.Sprintf("MOVED %d %s", slot, dst.Addr); err == nil || err.Error() != want {
		t.Errorf("GET on the source after the migration: %v, want %s", err, want)
	}
	if got, err := respDo(ctx, dst.Addr, "CLUSTER", "COUNTKEYSINSLOT", fmt.Sprint(slot)); err != nil || got != int64(n) {
		t.Errorf("COUNTKEYSINSLOT on the target = %v, %v; want %d", got, err, n)
	}
	if got, err := respString(ctx, dst.Addr, "GET", tag+":149"); err != nil || got != "149" {
		t.Errorf("GET on the target = %q, %v; want 149", got, err)
	}
	for _, addr := range c.Addrs() {
		if err := waitOwner(ctx, addr, slot, dst.ID); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if owner, err := c.SlotOwner(ctx, slot); err != nil || owner != dst {
		t.Errorf("SlotOwner after the migration = %v, %v; want %v", owner, err, dst)
	}
	if err := c.MigrateSlot(ctx, slot, dst.Addr, 0); err != nil {
		t.Errorf("MigrateSlot to the owner: %v, want nil", err)
	}
	if err := c.MigrateSlot(ctx, slot, src.Addr, 0); err != nil {
		t.Errorf("MigrateSlot back: %v", err)
	}
	if err := c.MigrateSlot(ctx, slot, "127.0.0.1:1", 0); err == nil {
		t.Error("MigrateSlot to a non-member: nil error")
	}
	if err := c.MigrateSlot(ctx, -1, src.Addr, 0); err == nil {
		t.Error("MigrateSlot of slot -1: nil error")
	}
}

// waitOwner waits until the node at addr (a replica learns by gossip)
// sees id as the owner of slot.
func waitOwner(ctx context.Context, addr string, slot int, id string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		nodes, err := clusterNodes(ctx, addr)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.master && n.serves(slot) && n.id == id {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("slot %d not served by %s after 10s: %v", slot, id, nodes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
