package dashboard

import (
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// What a developer may grant. Developers manage the keys and clients of
// their owners, but the scopes and audiences those carry are access to the
// APIs behind Gatehouse: a developer may give only what the configuration
// lets developers hand out (dashboard.developer_scopes and
// dashboard.developer_audiences), besides what the object already held
// when an admin set it. Admins give anything.

// identityScopes are the OpenID Connect scopes a developer's client may
// always ask for: they name what users consent to share about themselves
// and give no access to an API.
var identityScopes = []string{"openid", "profile", "email", "offline_access"}

// ungrantable returns the members of requested that v may not give: not
// in allowed, and not already held.
func ungrantable(v *viewer, requested, allowed, held []string) []string {
	if v.admin() {
		return nil
	}
	var refused []string
	for _, x := range requested {
		if !slices.Contains(allowed, x) && !slices.Contains(held, x) {
			refused = append(refused, x)
		}
	}
	return refused
}

// grantRefusal is the message of a refused grant: what was refused and
// what may be given.
func grantRefusal(what string, refused, allowed []string) string {
	may := "none"
	if len(allowed) > 0 {
		may = strings.Join(allowed, " ")
	}
	return what + " you cannot grant: " + strings.Join(refused, " ") + ". Developers may grant " + may +
		"; an administrator can give more."
}

// checkKeySecret refuses a developer a new secret (a rotation) of a key
// holding scopes developers may not grant: keeping such a key working is
// theirs, receiving a working copy of its access is not.
func (s *Server) checkKeySecret(v *viewer, k *auth.APIKey) error {
	if refused := ungrantable(v, k.Scopes, s.cfg.DeveloperScopes, nil); len(refused) > 0 {
		return auth.Errorf(auth.EFORBIDDEN, "This key holds scopes only an administrator can give (%s): ask one to rotate it.",
			strings.Join(refused, " "))
	}
	return nil
}

// checkClientSecret is checkKeySecret for a client's secret.
func (s *Server) checkClientSecret(v *viewer, c *auth.Client) error {
	if err := s.checkClientGrants(v, scopesAndAudiences{c.Scopes, c.Audiences, c.GrantTypes}, nil); err != nil {
		return auth.Errorf(auth.EFORBIDDEN, "This client holds scopes or audiences only an administrator can give: ask one to rotate its secret.")
	}
	return nil
}

// checkKeyScopes refuses a developer scopes for a key beyond what
// developers may grant (held: the key's scopes before an edit).
func (s *Server) checkKeyScopes(v *viewer, requested, held []string) error {
	if refused := ungrantable(v, requested, s.cfg.DeveloperScopes, held); len(refused) > 0 {
		return badField("scopes", "%s", grantRefusal("Scopes", refused, s.cfg.DeveloperScopes))
	}
	return nil
}

// checkClientGrants refuses a developer a client's scopes and audiences
// beyond what developers may grant (old: the client before an edit). What
// the client held counts only while its grant types stay: a scope an
// admin gave for users' consent must not become a client-credentials
// token's. The identity scopes are for users' sign-in, not for a client
// acting as itself.
func (s *Server) checkClientGrants(v *viewer, in scopesAndAudiences, old *auth.Client) error {
	var heldScopes, heldAudiences []string
	if old != nil && sameSet(old.GrantTypes, in.GrantTypes) {
		heldScopes, heldAudiences = old.Scopes, old.Audiences
	}
	allowed := slices.Clip(s.cfg.DeveloperScopes)
	if !slices.Contains(in.GrantTypes, auth.GrantClientCredentials) {
		allowed = append(allowed, identityScopes...)
	}
	if refused := ungrantable(v, in.Scopes, allowed, heldScopes); len(refused) > 0 {
		return auth.Errorf(auth.EFORBIDDEN, "%s", grantRefusal("Scopes", refused, allowed))
	}
	if refused := ungrantable(v, in.Audiences, s.cfg.DeveloperAudiences, heldAudiences); len(refused) > 0 {
		return auth.Errorf(auth.EFORBIDDEN, "%s", grantRefusal("Audiences", refused, s.cfg.DeveloperAudiences))
	}
	return nil
}

// scopesAndAudiences is what checkClientGrants reads of a client's input.
type scopesAndAudiences struct{ Scopes, Audiences, GrantTypes []string }

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}
