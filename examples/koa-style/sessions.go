package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/session"
)

// sessionRow is one line of the "Your sessions" list.
type sessionRow struct {
	Label    string // the device, from the User-Agent at login (SetLabel)
	Created  time.Time
	LastSeen time.Time // the last update: expires - maxAge
	Current  bool      // the session of this request
}

// timeFormat is how the list shows times.
const timeFormat = "2006-01-02 15:04:05 UTC"

// CreatedText is when the session was created, as the page shows it.
func (r sessionRow) CreatedText() string { return r.Created.UTC().Format(timeFormat) }

// LastSeenText is when the session was last updated, as the page shows it.
func (r sessionRow) LastSeenText() string { return r.LastSeen.UTC().Format(timeFormat) }

// userSessions lists the live sessions of sess's user from the store's
// user index (no scan of other users' sessions), this one first, then the
// most recently seen.
func (a *app) userSessions(ctx context.Context, sess *session.Session) ([]sessionRow, error) {
	metas, err := a.users.UserSessions(ctx, sess.UserID())
	if err != nil {
		return nil, fmt.Errorf("list sessions of the user: %w", err)
	}
	rows := make([]sessionRow, 0, len(metas))
	for _, m := range metas {
		label := m.Label
		if label == "" {
			label = "Unknown device"
		}
		rows = append(rows, sessionRow{
			Label:    label,
			Created:  m.Created,
			LastSeen: m.Expires.Add(-m.MaxAge),
			Current:  m.ID == sess.ID(),
		})
	}
	slices.SortStableFunc(rows, func(x, y sessionRow) int {
		switch {
		case x.Current != y.Current:
			if x.Current {
				return -1
			}
			return 1
		case !x.LastSeen.Equal(y.LastSeen):
			return y.LastSeen.Compare(x.LastSeen)
		}
		return y.Created.Compare(x.Created)
	})
	return rows, nil
}

// logoutOthers deletes every session of the logged-in user but this one,
// through the store's user index: the other browsers' next requests get
// fresh sessions that belong to nobody. Only the reserved fields and the
// user key are loaded, to learn who the user is.
func (a *app) logoutOthers(w http.ResponseWriter, r *http.Request) {
	if a.users == nil {
		a.render(w, http.StatusNotImplemented, "error.html", errorPage{
			Code: http.StatusNotImplemented, Title: "Not available",
			Detail: "This session store keeps no index of users' sessions.",
		})
		return
	}
	ctx := r.Context()
	sess, err := middleware.Session(r, "user").Await(ctx)
	if err != nil {
		a.fail(w, r, "load session", err)
		return
	}
	user := sess.UserID()
	if user == "" {
		a.render(w, http.StatusConflict, "error.html", errorPage{
			Code: http.StatusConflict, Title: "You are not logged in",
			Detail: "Log in first: only a logged-in user has sessions to log out.",
		})
		return
	}
	n, err := a.users.DeleteUserSessions(ctx, user, sess.ID())
	if err != nil {
		a.fail(w, r, "log out other sessions", err)
		return
	}
	msg := fmt.Sprintf("Logged out %d other sessions.", n)
	if n == 1 {
		msg = "Logged out 1 other session."
	}
	if _, err := sess.Set(flashKey, msg).Await(ctx); err != nil {
		a.fail(w, r, "set flash message", err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// deviceLabel names the browser and system of a User-Agent header for the
// sessions list, such as "Firefox on Windows". It is a rough guess from
// well-known tokens, which is all a label needs; the result is never empty
// and always short.
func deviceLabel(ua string) string {
	browsers := []struct{ token, name string }{ // the first match wins: Chrome's UA also says Safari
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"HeadlessChrome/", "Headless Chrome"},
		{"Chromium/", "Chromium"}, {"Chrome/", "Chrome"}, {"CriOS/", "Chrome"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"}, {"Safari/", "Safari"},
		{"curl/", "curl"}, {"Go-http-client/", "Go HTTP client"},
	}
	systems := []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	}
	browser := "Unknown browser"
	for _, b := range browsers {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, s := range systems {
		if strings.Contains(ua, s.token) {
			return browser + " on " + s.name
		}
	}
	return browser
}
