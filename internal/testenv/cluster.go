package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// redisCLIBinary is the tool that joins the nodes of the test cluster
// (Debian's redis-tools).
const redisCLIBinary = "redis-cli"

// ClusterMasters and ClusterReplicas are the shape of the cluster that
// RedisCluster starts: three masters, each with ClusterReplicas replicas.
const (
	ClusterMasters  = 3
	ClusterReplicas = 1
)

// ClusterSlots is the number of hash slots of a Redis Cluster.
const ClusterSlots = 16384

// Cluster is a Redis Cluster of redis-server children of the test binary,
// started by RedisCluster. Its methods are safe for concurrent use.
type Cluster struct {
	masters  []ClusterNode
	replicas []ClusterNode
	migrate  sync.Mutex // one MigrateSlot at a time
}

// ClusterNode is a node of a Cluster: its address ("127.0.0.1:PORT") and
// its cluster node ID.
type ClusterNode struct {
	Addr string
	ID   string
}

// multiCluster is the multi-node cluster of this test binary, started once.
var multiCluster struct {
	once sync.Once
	c    *Cluster
	err  error
}

// RedisCluster returns a Redis Cluster of ClusterMasters masters with
// ClusterReplicas replicas each, started once per test binary.
//
// The nodes are redis-server children in cluster mode on free loopback
// ports with persistence off, joined with "redis-cli --cluster create"; the
// slots are split evenly among the masters. RedisCluster returns when every
// node reports cluster_state:ok, agrees on the slot map and every replica's
// link to its master is up. The nodes stop at Cleanup (see Main), and on
// Linux also when the test binary dies.
//
// Tests share the cluster: give each its own key space with RedisPrefix.
// MigrateSlot changes which master serves a slot; tests must not assume
// the initial slot map.
//
// If redis-server or redis-cli is not in PATH then RedisCluster skips tb,
// or fails it when the environment variable CI is "true". If the cluster
// does not form then it fails tb with the nodes' and redis-cli's output.
func RedisCluster(tb testing.TB) *Cluster {
	tb.Helper()
	server := lookTool(tb, redisBinary, "redis-server")
	cli := lookTool(tb, redisCLIBinary, "redis-tools")
	multiCluster.once.Do(func() {
		start := time.Now()
		multiCluster.c, multiCluster.err = startCluster(server, cli, ClusterMasters, ClusterReplicas)
		if multiCluster.err == nil {
			fmt.Fprintf(os.Stderr, "testenv: Redis Cluster of %d masters and %d replicas up in %v\n",
				ClusterMasters, ClusterMasters*ClusterReplicas, time.Since(start).Round(time.Millisecond))
		}
	})
	if multiCluster.err != nil {
		tb.Fatalf("the %d-node Redis Cluster did not start: %v", ClusterMasters*(1+ClusterReplicas), multiCluster.err)
	}
	return multiCluster.c
}

// lookTool returns the path of the program name, or skips tb (fails it
// under CI=true) if it is not installed, naming the Debian package pkg.
func lookTool(tb testing.TB, name, pkg string) string {
	tb.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("%s not in PATH (install the Debian package %s)", name, pkg)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return bin
}

// Addrs returns the addresses of all nodes, masters first: the seed list
// of a cluster client (redis.ClusterOptions.Addrs).
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.masters {
		out = append(out, n.Addr)
	}
	for _, n := range c.replicas {
		out = append(out, n.Addr)
	}
	return out
}

// Masters returns the master nodes, ordered by the first slot each served
// when the cluster formed.
func (c *Cluster) Masters() []ClusterNode { return append([]ClusterNode(nil), c.masters...) }

// Replicas returns the replica nodes.
func (c *Cluster) Replicas() []ClusterNode { return append([]ClusterNode(nil), c.replicas...) }

// SlotOwner returns the master that serves slot now, as the first master
// sees the slot map.
func (c *Cluster) SlotOwner(ctx context.Context, slot int) (ClusterNode, error) {
	if slot < 0 || slot >= ClusterSlots {
		return ClusterNode{}, fmt.Errorf("slot owner: slot %d out of range [0, %d)", slot, ClusterSlots)
	}
	nodes, err := clusterNodes(ctx, c.masters[0].Addr)
	if err != nil {
		return ClusterNode{}, fmt.Errorf("slot owner: %w", err)
	}
	for _, n := range nodes {
		if n.master && n.serves(slot) {
			return ClusterNode{Addr: n.addr, ID: n.id}, nil
		}
	}
	return ClusterNode{}, fmt.Errorf("slot owner: no master serves slot %d", slot)
}

// MigrateSlot moves slot, with its keys, to the master at address to, the
// way redis-cli --cluster reshard does, so that clients of the cluster see
// ASK redirections while it runs and MOVED ones after:
//
//  1. CLUSTER SETSLOT slot IMPORTING on the target, MIGRATING on the source;
//  2. CLUSTER GETKEYSINSLOT and MIGRATE ... KEYS, 100 keys at a time, until
//     the source holds none of the slot's keys;
//  3. pause (0: none): the slot stays in the migrating state, so that a
//     client asking the source for a moved key gets ASK; then the keys are
//     moved again (a write during the pause may have landed on the source);
//  4. CLUSTER SETSLOT slot NODE target on the target, the source, then the
//     other masters.
//
// MigrateSlot does nothing if to serves slot already. Calls are serialized.
// If it fails midway the slot may be left migrating; the error says where.
func (c *Cluster) MigrateSlot(ctx context.Context, slot int, to string, pause time.Duration) error {
	c.migrate.Lock()
	defer c.migrate.Unlock()
	src, err := c.SlotOwner(ctx, slot)
	if err != nil {
		return fmt.Errorf("migrate slot %d: %w", slot, err)
	}
	var dst ClusterNode
	for _, n := range c.masters {
		if n.Addr == to {
			dst = n
		}
	}
	if dst.ID == "" {
		return fmt.Errorf("migrate slot %d: %s is not a master of the cluster", slot, to)
	}
	if src.ID == dst.ID {
		return nil
	}
	s := strconv.Itoa(slot)
	steps := []struct {
		node ClusterNode
		args []string
	}{
		{dst, []string{"CLUSTER", "SETSLOT", s, "IMPORTING", src.ID}},
		{src, []string{"CLUSTER", "SETSLOT", s, "MIGRATING", dst.ID}},
	}
	for _, st := range steps {
		if err := respOK(ctx, st.node.Addr, st.args...); err != nil {
			return fmt.Errorf("migrate slot %d from %s to %s: %w", slot, src.Addr, dst.Addr, err)
		}
	}
	if err := moveKeys(ctx, slot, src, dst); err != nil {
		return fmt.Errorf("migrate slot %d from %s to %s: %w", slot, src.Addr, dst.Addr, err)
	}
	if pause > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrate slot %d from %s to %s: during the pause (the slot is left migrating): %w", slot, src.Addr, dst.Addr, ctx.Err())
		case <-time.After(pause):
		}
		if err := moveKeys(ctx, slot, src, dst); err != nil {
			return fmt.Errorf("migrate slot %d from %s to %s: %w", slot, src.Addr, dst.Addr, err)
		}
	}
	order := []ClusterNode{dst, src}
	for _, n := range c.masters {
		if n.ID != dst.ID && n.ID != src.ID {
			order = append(order, n)
		}
	}
	for _, n := range order {
		if err := respOK(ctx, n.Addr, "CLUSTER", "SETSLOT", s, "NODE", dst.ID); err != nil {
			return fmt.Errorf("migrate slot %d from %s to %s: %w", slot, src.Addr, dst.Addr, err)
		}
	}
	return nil
}

// moveKeys moves the keys of slot from src to dst in batches until src has
// none left.
func moveKeys(ctx context.Context, slot int, src, dst ClusterNode) error {
	host, port, err := net.SplitHostPort(dst.Addr)
	if err != nil {
		return err
	}
	for {
		reply, err := respDo(ctx, src.Addr, "CLUSTER", "GETKEYSINSLOT", strconv.Itoa(slot), "100")
		if err != nil {
			return err
		}
		keys, _ := reply.([]any)
		if len(keys) == 0 {
			return nil
		}
		args := []string{"MIGRATE", host, port, "", "0", "10000", "REPLACE", "KEYS"}
		for _, k := range keys {
			args = append(args, fmt.Sprint(k))
		}
		if _, err := respDo(ctx, src.Addr, args...); err != nil {
			return fmt.Errorf("MIGRATE %d keys: %w", len(keys), err)
		}
	}
}

// KeySlot returns the hash slot of key: CRC16 (XMODEM) of the key, or of
// its hash tag (the part between the first '{' and the next '}', if not
// empty), modulo 16384.
func KeySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % ClusterSlots
}

// startCluster starts masters*(1+replicas) nodes, joins them and waits
// until the cluster is ok everywhere.
func startCluster(server, cli string, masters, replicas int) (*Cluster, error) {
	var addrs []string
	for range masters * (1 + replicas) {
		addr, err := startClusterNode(server)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", cli, strings.Join(args, " "), err, out)
	}
	c, err := waitCluster(ctx, addrs, masters, replicas)
	if err != nil {
		return nil, fmt.Errorf("after %s %s: %w\nits output:\n%s", cli, strings.Join(args, " "), err, out)
	}
	return c, nil
}

// startClusterNode starts one cluster-mode redis-server. The cluster bus
// port is chosen freely too: the default, the port plus 10000, may be out
// of range or taken.
func startClusterNode(server string) (string, error) {
	var errs []string
	for range 3 {
		bus, err := freePort()
		if err != nil {
			return "", err
		}
		args := append(append([]string(nil), clusterArgs...), "--cluster-port", strconv.Itoa(bus))
		addr, err := startRedisOnce(server, args)
		if err == nil {
			return addr, nil
		}
		errs = append(errs, err.Error())
	}
	return "", fmt.Errorf("start a cluster node:\n%s", strings.Join(errs, "\n"))
}

// waitCluster polls every node until all say cluster_state:ok, all see the
// same masters with the same slots, and every replica's master link is up.
func waitCluster(ctx context.Context, addrs []string, masters, replicas int) (*Cluster, error) {
	var last error
	for {
		c, err := clusterReady(ctx, addrs, masters, replicas)
		if err == nil {
			return c, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster not ready: %w (%v)", last, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func clusterReady(ctx context.Context, addrs []string, masters, replicas int) (*Cluster, error) {
	var want string
	var c *Cluster
	for _, addr := range addrs {
		info, err := respString(ctx, addr, "CLUSTER", "INFO")
		if err != nil {
			return nil, err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return nil, fmt.Errorf("%s: cluster_state not ok", addr)
		}
		nodes, err := clusterNodes(ctx, addr)
		if err != nil {
			return nil, err
		}
		got, cl := slotMap(nodes)
		if want == "" {
			want, c = got, cl
		} else if got != want {
			return nil, fmt.Errorf("%s sees slot map %s, %s sees %s", addr, got, addrs[0], want)
		}
		for _, n := range nodes {
			if n.myself && !n.master {
				repl, err := respString(ctx, addr, "INFO", "replication")
				if err != nil {
					return nil, err
				}
				if !strings.Contains(repl, "master_link_status:up") {
					return nil, fmt.Errorf("replica %s: master link not up", addr)
				}
			}
		}
	}
	if len(c.masters) != masters || len(c.replicas) != masters*replicas {
		return nil, fmt.Errorf("%d masters and %d replicas, want %d and %d", len(c.masters), len(c.replicas), masters, masters*replicas)
	}
	return c, nil
}

// slotMap returns a canonical text of the masters with their slots and
// of the replicas with their masters, and the Cluster they form.
func slotMap(nodes []clusterNode) (string, *Cluster) {
	c := &Cluster{}
	var lines []string
	for _, n := range nodes {
		if n.master {
			c.masters = append(c.masters, ClusterNode{Addr: n.addr, ID: n.id})
			lines = append(lines, n.id+" "+strings.Join(n.slots, ","))
		} else {
			c.replicas = append(c.replicas, ClusterNode{Addr: n.addr, ID: n.id})
			lines = append(lines, n.id+" of "+n.masterID)
		}
	}
	first := map[string]int{}
	for _, n := range nodes {
		first[n.id] = ClusterSlots
		if len(n.slots) > 0 {
			first[n.id], _ = strconv.Atoi(strings.SplitN(n.slots[0], "-", 2)[0])
		}
	}
	sort.Slice(c.masters, func(i, j int) bool { return first[c.masters[i].ID] < first[c.masters[j].ID] })
	sort.Slice(c.replicas, func(i, j int) bool { return c.replicas[i].Addr < c.replicas[j].Addr })
	sort.Strings(lines)
	return strings.Join(lines, "; "), c
}

// clusterNode is a line of CLUSTER NODES.
type clusterNode struct {
	id, addr, masterID string
	master, myself     bool
	slots              []string // "0-5460", "5461", without [importing/migrating] entries
}

// serves reports whether n's slot ranges hold slot.
func (n clusterNode) serves(slot int) bool {
	for _, r := range n.slots {
		lo, hi, _ := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if hi != "" {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		if a <= slot && slot <= b {
			return true
		}
	}
	return false
}

// clusterNodes asks addr for CLUSTER NODES and parses it.
func clusterNodes(ctx context.Context, addr string) ([]clusterNode, error) {
	text, err := respString(ctx, addr, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var out []clusterNode
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES of %s: bad line %q", addr, line)
		}
		n := clusterNode{id: f[0], masterID: f[3]}
		n.addr, _, _ = strings.Cut(f[1], "@")
		for _, flag := range strings.Split(f[2], ",") {
			switch flag {
			case "master":
				n.master = true
			case "myself":
				n.myself = true
			}
		}
		for _, s := range f[8:] {
			if !strings.HasPrefix(s, "[") {
				n.slots = append(n.slots, s)
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// respOK is respDo for a command whose reply is OK.
func respOK(ctx context.Context, addr string, args ...string) error {
	reply, err := respString(ctx, addr, args...)
	if err == nil && reply != "OK" {
		err = fmt.Errorf("%s: %s answered %q", addr, strings.Join(args, " "), reply)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// respError is an error reply of a Redis server, such as "MOVED 12 a:1".
type respError string

func (e respError) Error() string { return string(e) }

// respDo sends one command (as a RESP array of bulk strings) to addr on a
// new connection and returns its reply: a string for simple and bulk
// strings, an int64 for integers, nil for a null, []any for arrays. An
// error reply is returned as a respError. The call ends when ctx does, or
// after 10 seconds.
func respDo(ctx context.Context, addr string, args ...string) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", addr, args[0], err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, fmt.Errorf("%s %s: %w", addr, args[0], err)
	}
	reply, err := readRESP(bufio.NewReader(conn))
	if err != nil {
		var re respError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, fmt.Errorf("%s %s: %w", addr, args[0], err)
	}
	return reply, nil
}

// respString is respDo for a command whose reply is a (simple or bulk)
// string.
func respString(ctx context.Context, addr string, args ...string) (string, error) {
	reply, err := respDo(ctx, addr, args...)
	if err != nil {
		return "", err
	}
	s, ok := reply.(string)
	if !ok {
		return "", fmt.Errorf("%s %s: reply %v is not a string", addr, strings.Join(args, " "), reply)
	}
	return s, nil
}

// readRESP reads one RESP2 reply.
func readRESP(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	switch body := line[1:]; line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, respError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("bad array length %q", line)
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, 0, n)
		var firstErr error
		for range n {
			v, err := readRESP(r)
			var re respError
			if err != nil && !errors.As(err, &re) {
				return nil, err
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out = append(out, v)
		}
		return out, firstErr
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}
