package web

import (
	"strings"
	"time"
)

// How a page shows where a browser session came from (the consent page's
// "signed in since", the account page's list of sessions): the recorded
// User-Agent named in a few words, the address as recorded, and the time
// in UTC, named, since pages run no script to convert it.

// browserFamilies and platforms name the common browsers and systems by a
// token of their User-Agent, first match wins: Edge and Opera also claim
// Chrome, and Chrome also claims Safari.
var (
	browserFamilies = [...][2]string{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chromium/", "Chromium"},
		{"Chrome/", "Chrome"}, {"CriOS/", "Chrome"}, {"FxiOS/", "Firefox"}, {"Safari/", "Safari"},
		{"curl/", "curl"},
	}
	platforms = [...][2]string{
		{"Windows", "Windows"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Android", "Android"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	}
)

// DescribeBrowser says in a few words what a User-Agent is ("Firefox on
// Linux"), or gives the recorded text itself when it names no browser we
// know: the user should recognise their own browser, and not be misled
// about one we cannot name.
func DescribeBrowser(ua string) string {
	if ua == "" {
		return ""
	}
	name, platform := "", ""
	for _, f := range browserFamilies {
		if strings.Contains(ua, f[0]) {
			name = f[1]
			break
		}
	}
	for _, p := range platforms {
		if strings.Contains(ua, p[0]) {
			platform = p[1]
			break
		}
	}
	switch {
	case name == "":
		return ua
	case platform == "":
		return name
	}
	return name + " on " + platform
}

// FormatTime is how pages show a moment: in UTC, to the minute, named.
func FormatTime(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 MST") }

// DescribeSession is what a page says about a session's sign-in, from
// what the session recorded; nil when it recorded no time (a session
// from before sessions recorded anything).
func DescribeSession(createdAt time.Time, address, userAgent string) *SessionInfo {
	if createdAt.IsZero() {
		return nil
	}
	return &SessionInfo{Since: FormatTime(createdAt), Address: address, Browser: DescribeBrowser(userAgent)}
}
