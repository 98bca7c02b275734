package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// requestTimeout bounds one benchmark request, so that a stuck server
// cannot hang the run.
const requestTimeout = 30 * time.Second

// newHTTPClient returns a client that keeps enough idle connections to the
// loopback servers for every benchmark client, and follows no redirects.
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 128,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       requestTimeout,
	}
}

// cookieBox holds one cookie as a browser does: every response's
// Set-Cookie of that name replaces it, last writer wins. Clients that share
// a box are tabs of one browser.
type cookieBox struct {
	name  string
	mu    sync.Mutex
	value string
}

func (b *cookieBox) attach(req *http.Request) {
	b.mu.Lock()
	v := b.value
	b.mu.Unlock()
	if v != "" {
		req.AddCookie(&http.Cookie{Name: b.name, Value: v})
	}
}

// update takes the box's cookie from resp, if resp sets it, and returns
// the size of the response's Set-Cookie headers in bytes.
func (b *cookieBox) update(resp *http.Response) int {
	size := 0
	for _, h := range resp.Header.Values("Set-Cookie") {
		size += len("Set-Cookie: ") + len(h) + 2
	}
	for _, c := range resp.Cookies() {
		if c.Name != b.name {
			continue
		}
		b.mu.Lock()
		if c.MaxAge < 0 {
			b.value = ""
		} else {
			b.value = c.Value
		}
		b.mu.Unlock()
	}
	return size
}

// reply is what a benchmark request got back.
type reply struct {
	Body       []byte
	CookieSize int // bytes of Set-Cookie headers
}

// get sends GET base+path with the box's cookie, updates the box from the
// response and fails on any status but 200.
func get(ctx context.Context, client *http.Client, base, path string, box *cookieBox) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return reply{}, err
	}
	box.attach(req)
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("GET %s: read body: %w", path, err)
	}
	out := reply{Body: body, CookieSize: box.update(resp)}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return out, nil
}

// getValues returns the session's user keys, numbers as json.Number.
func getValues(ctx context.Context, client *http.Client, base string, box *cookieBox) (map[string]any, error) {
	r, err := get(ctx, client, base, routeValues, box)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode %s: %w", routeValues, err)
	}
	return out, nil
}

// intValue returns v as an integer, if it is one.
func intValue(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}
