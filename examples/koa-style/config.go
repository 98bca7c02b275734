package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atomicsession/atomicsession/postgres"
	"github.com/atomicsession/atomicsession/redis"
)

// config is what the flags and the environment say.
type config struct {
	addr     string        // -addr: where to listen
	dataDir  string        // -data: the embedded database and the key file
	keys     string        // -keys or SESSION_KEYS: comma-separated signing keys
	maxAge   time.Duration // -max-age: session lifetime
	mongoURI string        // MONGODB_URI: use this MongoDB
	mongoDB  string        // -mongo-db: database name on it
	redisURL string        // REDIS_URL: use this Redis
	prefix   string        // -redis-prefix: key prefix on it
	pgURL    string        // DATABASE_URL: use this PostgreSQL
	pgPrefix string        // -postgres-prefix: table name prefix on it
}

// parseConfig reads the flags in args and the variables getenv gives.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c := config{}
	fs := flag.NewFlagSet("koa-style", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: koa-style [flags]\n\n"+
			"Serves the koa-atomic-session README example, ported to Go.\n"+
			"Store: MONGODB_URI picks MongoDB, REDIS_URL Redis, DATABASE_URL PostgreSQL;\n"+
			"with none, an embedded FerretDB (MongoDB wire protocol on SQLite) in -data.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "TCP `address` to listen on")
	fs.StringVar(&c.dataDir, "data", defaultDataDir(), "`directory` of the embedded database and the generated signing key")
	fs.StringVar(&c.keys, "keys", "", "comma-separated cookie signing `keys`, each at least 32 bytes; the first signs (default $SESSION_KEYS, else a key generated once and kept in -data)")
	fs.DurationVar(&c.maxAge, "max-age", 30*24*time.Hour, "session lifetime after its last update")
	fs.StringVar(&c.mongoDB, "mongo-db", "atomicsession", "database `name` for the sessions collection on MongoDB and the embedded server")
	fs.StringVar(&c.prefix, "redis-prefix", redis.DefaultPrefix, "`prefix` of the session keys on Redis")
	fs.StringVar(&c.pgPrefix, "postgres-prefix", postgres.DefaultPrefix, "`prefix` of the table names on PostgreSQL (letters, digits and '_')")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.keys == "" {
		c.keys = getenv("SESSION_KEYS") // not the flag's default, which -h would print
	}
	if c.maxAge <= 0 {
		return c, fmt.Errorf("-max-age is %v, want a positive duration", c.maxAge)
	}
	if strings.ContainsAny(c.prefix, "{}") {
		return c, fmt.Errorf("-redis-prefix %q must not contain '{' or '}' (they would make it the Redis Cluster hash tag)", c.prefix)
	}
	c.mongoURI = getenv("MONGODB_URI")
	c.redisURL = getenv("REDIS_URL")
	c.pgURL = getenv("DATABASE_URL")
	var set []string
	for _, v := range []struct{ name, value string }{{"MONGODB_URI", c.mongoURI}, {"REDIS_URL", c.redisURL}, {"DATABASE_URL", c.pgURL}} {
		if v.value != "" {
			set = append(set, v.name)
		}
	}
	if len(set) > 1 {
		return c, fmt.Errorf("%s are all set: unset all but one to choose the store", strings.Join(set, " and "))
	}
	return c, nil
}

// defaultDataDir is atomicsession/koa-style in the user's cache directory
// (~/.cache on Linux), or ./data if there is none.
func defaultDataDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "data"
	}
	return filepath.Join(dir, "atomicsession", "koa-style")
}
