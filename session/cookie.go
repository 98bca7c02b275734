package session

// CookieAction says what the response must do with the session's cookie.
type CookieAction uint8

// The cookie actions Cookie returns.
const (
	CookieKeep  CookieAction = iota // leave the visitor's cookie as it is
	CookieSet                       // send the token with a fresh expiry
	CookieClear                     // delete the cookie
)

// Cookie reports what the response must do with the session's cookie, and
// the token to send with CookieSet. Call it after Flush: a session that was
// stored or updated sets its cookie (rolling expiry), a destroyed one clears
// it (also when Regenerate left a new session that nothing was written
// to), and a session that was only read, or a new one that was never
// written, leaves it alone: a visitor who only reads gets no cookie.
func (s *Session) Cookie() (CookieAction, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.dirty:
		return CookieKeep, ""
	case s.state == stateStored:
		return CookieSet, s.token
	case s.state == stateDestroyed, s.cleared:
		return CookieClear, ""
	}
	return CookieKeep, ""
}
