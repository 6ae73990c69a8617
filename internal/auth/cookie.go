package auth

// Cookies Gatehouse sets in browsers. Browsers do not separate cookies by
// port, so when the gateway shares a host name with the authorization
// server its callers' browsers send these cookies through the gateway too;
// the gateway removes every cookie named here before forwarding, or any
// upstream (or whoever reads its logs) could replay a signed-in session.
// A feature that sets a new cookie declares its name here and nowhere else.
//
// The __Host- prefix makes browsers accept a cookie only with Secure,
// Path=/ and no Domain, so a sibling subdomain cannot plant or overwrite
// it; plain-HTTP development (--dev) cannot use it and takes the plain
// names.
const (
	CookieSession         = "__Host-gatehouse_session"
	CookieSessionInsecure = "gatehouse_session"
	CookieLogin           = "__Host-gatehouse_login"
	CookieLoginInsecure   = "gatehouse_login"
	// The device cookie marks a browser that signed in to an account
	// before, exempting it from that account's lockout (OWASP device
	// cookies); it outlives sessions.
	CookieDevice         = "__Host-gatehouse_device"
	CookieDeviceInsecure = "gatehouse_device"
	// The dashboard's session, and the state of a sign-in in progress
	// (the PKCE verifier's seed and where to return).
	CookieDashboard               = "__Host-gatehouse_dashboard"
	CookieDashboardInsecure       = "gatehouse_dashboard"
	CookieDashboardSignin         = "__Host-gatehouse_dashboard_signin"
	CookieDashboardSigninInsecure = "gatehouse_dashboard_signin"
	// The state of a sign-in to the account pages (/account) in
	// progress: the PKCE verifier's seed and where to return.
	CookieAccountSignin         = "__Host-gatehouse_account_signin"
	CookieAccountSigninInsecure = "gatehouse_account_signin"
	// The handle of a passkey sign-in ceremony in progress (its
	// challenge is kept by the passkey service), for a few minutes.
	CookiePasskeyLogin         = "__Host-gatehouse_passkey_login"
	CookiePasskeyLoginInsecure = "gatehouse_passkey_login"
)

// gatehouseCookies is every name above.
var gatehouseCookies = [...]string{
	CookieSession, CookieSessionInsecure,
	CookieLogin, CookieLoginInsecure,
	CookieDevice, CookieDeviceInsecure,
	CookieDashboard, CookieDashboardInsecure,
	CookieDashboardSignin, CookieDashboardSigninInsecure,
	CookieAccountSignin, CookieAccountSigninInsecure,
	CookiePasskeyLogin, CookiePasskeyLoginInsecure,
}

// GatehouseCookie reports whether name is one of Gatehouse's own cookies.
// The case of ASCII letters is ignored (EqualFoldASCII, as for paths): the
// browser's copy has the exact name, but an upstream that folds case would
// read a differently cased copy as the same cookie.
func GatehouseCookie(name string) bool {
	for _, c := range gatehouseCookies {
		if EqualFoldASCII(name, c) {
			return true
		}
	}
	return false
}
