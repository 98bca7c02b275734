package main

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// serverCommands counts the commands a Redis server ran, by name as INFO
// commandstats names them ("evalsha", "hmget", "client|setinfo"); commands
// that a script calls are counted too, each under its own name.
type serverCommands map[string]int64

// notForRequests are the commands that the measurement itself and
// connection set-up run: they are left out of per-request counts.
var notForRequests = map[string]bool{
	"info": true, "hello": true, "ping": true, "select": true, "auth": true,
	"client|setinfo": true, "client|setname": true, "client|id": true,
	"script|load": true, "function|load": true,
}

// redisServerCommands reads INFO commandstats from the server c talks to.
func redisServerCommands(ctx context.Context, c *goredis.Client) (serverCommands, error) {
	text, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("redis: INFO commandstats: %w", err)
	}
	return parseCommandStats(text)
}

// parseCommandStats parses INFO commandstats lines such as
// "cmdstat_hmget:calls=3,usec=12,…".
func parseCommandStats(text string) (serverCommands, error) {
	out := serverCommands{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("commandstats %q: %w", line, err)
				}
				out[name] = n
			}
		}
	}
	return out, sc.Err()
}

// minus returns the commands run since before, without those of
// notForRequests.
func (s serverCommands) minus(before serverCommands) serverCommands {
	out := serverCommands{}
	for name, n := range s {
		if d := n - before[name]; d > 0 && !notForRequests[name] {
			out[name] = d
		}
	}
	return out
}

// total returns the number of commands in s.
func (s serverCommands) total() int64 {
	var n int64
	for _, v := range s {
		n += v
	}
	return n
}

// perRequest formats s divided by n requests, most frequent first, such
// as "evalsha 1 · hmget 1".
func (s serverCommands) perRequest(n float64) string {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		if s[a] != s[b] {
			return int(s[b] - s[a])
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + " " + countf(float64(s[name])/n)
	}
	return strings.Join(parts, " · ")
}
