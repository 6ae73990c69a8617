package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/testcluster"
)

// change is one kind of change whose propagation is measured: made
// through node A, awaited at every other node, polled directly.
type change struct {
	name string
	// effect says what the other nodes are polled for.
	effect string
	// prepare readies trial i (what the change acts on); nil: nothing to do.
	prepare func(ctx context.Context, i int) error
	// apply makes the change through node A and returns once A has
	// acknowledged it.
	apply func(ctx context.Context, i int) error
	// inEffect reports whether trial i's change has taken effect at n.
	// Before apply it must report false at every other node; asking it
	// then also fills their caches, as traffic would.
	inEffect func(ctx context.Context, n *testcluster.Node, i int) (bool, error)
}

// propagation is what the trials of one change measured.
type propagation struct {
	name, effect string
	delays       []time.Duration // per trial: until every other node showed the effect
}

func (p propagation) quantile(q float64) time.Duration {
	s := slices.Clone(p.delays)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// pollPause is the pause between two polls of one node: the resolution
// of the figures is a poll's round trip plus this.
const pollPause = time.Millisecond

// measure runs trials of c, one after the other.
func (f *fixture) measure(ctx context.Context, c change, trials int) (propagation, error) {
	p := propagation{name: c.name, effect: c.effect}
	others := f.c.Nodes[1:]
	for i := range trials {
		if c.prepare != nil {
			if err := c.prepare(ctx, i); err != nil {
				return p, fmt.Errorf("%s, trial %d: prepare: %w", c.name, i, err)
			}
		}
		// Not in effect anywhere yet (a previous trial's undoing may
		// still be on its way): wait until every other node agrees.
		for _, n := range others {
			var pollErr error
			if err := f.until(ctx, 10*time.Second, func() bool {
				in, err := c.inEffect(ctx, n, i)
				pollErr = err
				return err == nil && !in
			}); err != nil {
				return p, fmt.Errorf("%s, trial %d: %s shows the change before it is made: %w (%v)", c.name, i, n.Name, err, pollErr)
			}
		}
		if err := c.apply(ctx, i); err != nil {
			return p, fmt.Errorf("%s, trial %d: change through %s: %w", c.name, i, f.c.Nodes[0].Name, err)
		}
		acked := time.Now()
		seen := make([]time.Duration, len(others))
		errs := make([]error, len(others))
		var wg sync.WaitGroup
		for j, n := range others {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := acked.Add(30 * time.Second)
				for {
					in, err := c.inEffect(ctx, n, i)
					if err != nil {
						errs[j] = fmt.Errorf("%s: %w", n.Name, err)
						return
					}
					if in {
						seen[j] = time.Since(acked)
						return
					}
					if time.Now().After(deadline) {
						errs[j] = fmt.Errorf("%s: not in effect after 30s", n.Name)
						return
					}
					time.Sleep(pollPause)
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return p, fmt.Errorf("%s, trial %d: %w", c.name, i, err)
			}
		}
		p.delays = append(p.delays, slices.Max(seen))
	}
	return p, nil
}

// changes returns every change kind of the issue, each with the state its
// trials share. dsn is the cluster's database (the signing-key trials
// need it; see backdateSigningKeys).
func (f *fixture) changes(ctx context.Context, dsn string, trials int) ([]change, error) {
	a := f.c.Nodes[0]
	admA := admin.NewClient(a.APIURL, f.c.AdminKey, f.hc)

	keys := make([]*admin.CreatedKey, trials)
	keyRevoked := change{
		name: "key revoked", effect: "POST /v1/keys/verify answers REVOKED",
		prepare: func(ctx context.Context, i int) (err error) {
			keys[i], err = f.newKey(ctx, nil)
			return err
		},
		apply: func(ctx context.Context, i int) error {
			_, err := admA.RevokeKey(ctx, keys[i].ID)
			return err
		},
		inEffect: func(ctx context.Context, n *testcluster.Node, i int) (bool, error) {
			st, code, err := f.verify(ctx, n.APIURL, keys[i].Secret)
			if err != nil || st != http.StatusOK {
				return false, fmt.Errorf("verify: %d %v", st, err)
			}
			return code == "REVOKED", nil
		},
	}

	tokens := make([]string, trials)
	tokenRevoked := change{
		name: "token revoked", effect: "the gateway's JWT route answers 401",
		prepare: func(ctx context.Context, i int) error {
			st, tok, err := f.issue(ctx, a.APIURL, f.client.ClientID, f.client.ClientSecret)
			if err != nil || st != http.StatusOK {
				return fmt.Errorf("issue: %d %v", st, err)
			}
			tokens[i] = tok
			return nil
		},
		apply: func(ctx context.Context, i int) error {
			st, body, err := f.send(ctx, http.MethodPost, a.APIURL+"/oauth2/revoke", http.Header{
				"Content-Type":  {"application/x-www-form-urlencoded"},
				"Authorization": {basic(f.client.ClientID, f.client.ClientSecret)},
			}, []byte(url.Values{"token": {tokens[i]}}.Encode()))
			if err != nil || st != http.StatusOK {
				return fmt.Errorf("revoke: %d %v %.200s", st, err, body)
			}
			return nil
		},
		inEffect: func(ctx context.Context, n *testcluster.Node, i int) (bool, error) {
			return f.gatewayAnswers(ctx, n, f.jwtRoute, http.Header{"Authorization": {"Bearer " + tokens[i]}}, http.StatusUnauthorized)
		},
	}

	clients := make([]*admin.CreatedClient, trials)
	newClient := func(ctx context.Context, i int) (err error) {
		clients[i], err = f.newClient(ctx, fmt.Sprintf("prop%d", i))
		return err
	}
	// refused reports whether n's token endpoint refuses trial i's client
	// with its first secret.
	refused := func(ctx context.Context, n *testcluster.Node, i int) (bool, error) {
		st, _, err := f.issue(ctx, n.APIURL, clients[i].ClientID, clients[i].ClientSecret)
		if err != nil || st >= 500 || st == 0 {
			return false, fmt.Errorf("token: %d %v", st, err)
		}
		return st != http.StatusOK, nil
	}
	secretRotated := change{
		name: "client secret rotated", effect: "the old secret is refused by the token endpoint",
		prepare: newClient,
		apply: func(ctx context.Context, i int) error {
			_, err := admA.RotateClientSecret(ctx, clients[i].ClientID)
			return err
		},
		inEffect: refused,
	}
	clientDeleted := change{
		name: "client deleted", effect: "the token endpoint refuses the client",
		prepare: newClient,
		apply: func(ctx context.Context, i int) error {
			return admA.DeleteClient(ctx, clients[i].ClientID)
		},
		inEffect: refused,
	}

	userID, userToken, err := f.userToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("user for the disable trials: %w", err)
	}
	userDisabled := change{
		name: "user disabled", effect: "GET /userinfo with the user's token answers 401",
		prepare: func(ctx context.Context, i int) error {
			if i == 0 {
				return nil
			}
			_, err := admA.SetUserEnabled(ctx, userID, true) // undo the previous trial
			return err
		},
		apply: func(ctx context.Context, i int) error {
			_, err := admA.SetUserEnabled(ctx, userID, false)
			return err
		},
		inEffect: func(ctx context.Context, n *testcluster.Node, i int) (bool, error) {
			st, _, err := f.get(ctx, n.APIURL+"/userinfo", http.Header{"Authorization": {"Bearer " + userToken}})
			if err != nil || (st != http.StatusOK && st != http.StatusUnauthorized) {
				return false, fmt.Errorf("userinfo: %d %v", st, err)
			}
			return st == http.StatusUnauthorized, nil
		},
	}

	// The route's policy flips each trial: public (200 without a
	// credential) to api_key (401) and back.
	routeName, routePath := "prop-"+f.run, "/prop-"+f.run
	if _, err := admA.CreateRoute(ctx, admin.RouteRequest{Name: routeName, Path: routePath, Upstreams: []string{f.upstream}, Policy: "public"}); err != nil {
		return nil, fmt.Errorf("create route: %w", err)
	}
	routeChanged := change{
		name: "route changed", effect: "the gateway applies the route's new policy",
		apply: func(ctx context.Context, i int) error {
			policy := "api_key"
			if i%2 == 1 {
				policy = "public"
			}
			_, err := admA.UpdateRoute(ctx, routeName, admin.RoutePatch{Policy: &policy})
			return err
		},
		inEffect: func(ctx context.Context, n *testcluster.Node, i int) (bool, error) {
			want := http.StatusUnauthorized
			if i%2 == 1 {
				want = http.StatusOK
			}
			return f.gatewayAnswers(ctx, n, routePath, nil, want)
		},
	}

	kids := make([]string, trials)
	signingRotated := change{
		name: "signing key rotated", effect: "the node signs new tokens with the new key",
		prepare: func(ctx context.Context, i int) error { return backdateSigningKeys(ctx, dsn) },
		apply: func(ctx context.Context, i int) error {
			k, err := admA.RotateSigningKey(ctx)
			if err != nil {
				return err
			}
			kids[i] = k.KID
			return nil
		},
		inEffect: func(ctx context.Context, n *testcluster.Node, i int) (bool, error) {
			st, tok, err := f.issue(ctx, n.APIURL, f.client.ClientID, f.client.ClientSecret)
			if err != nil || st != http.StatusOK {
				return false, fmt.Errorf("token: %d %v", st, err)
			}
			return kids[i] != "" && kid(tok) == kids[i], nil
		},
	}
	return []change{keyRevoked, tokenRevoked, secretRotated, clientDeleted, userDisabled, routeChanged, signingRotated}, nil
}

// gatewayAnswers reports whether n's gateway answers path with want; a
// 5xx or no answer is an error.
func (f *fixture) gatewayAnswers(ctx context.Context, n *testcluster.Node, path string, h http.Header, want int) (bool, error) {
	st, body, err := f.get(ctx, n.GatewayURL+path, h)
	if err != nil || st >= 500 || st == 0 {
		return false, fmt.Errorf("gateway %s: %d %v %.200s", path, st, err, body)
	}
	return st == want, nil
}

// backdateSigningKeys moves the creation time of the unretired signing
// keys an hour back. A rotation refuses to promote a next key published
// for less than the JWKS max-age plus the reload interval (5m30s by
// default: relying parties may not have it yet), which would allow one
// trial every five and a half minutes; the harness stands in for that
// wait. What it measures — the rotation committed at node A, announced
// through the change feed, and the other nodes signing with the new key —
// is untouched.
func backdateSigningKeys(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("backdate signing keys: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `UPDATE signing_keys SET created_at = created_at - interval '1 hour' WHERE retired_at IS NULL`); err != nil {
		return fmt.Errorf("backdate signing keys: %w", err)
	}
	return nil
}

func printPropagation(w *strings.Builder, ps []propagation, nodes int) {
	fmt.Fprintf(w, "| change (through node1, polled at the %d other nodes) | trials | p50 | p99 | max | polled for |\n| --- | ---: | ---: | ---: | ---: | --- |\n", nodes-1)
	for _, p := range ps {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", p.name, len(p.delays),
			ms(p.quantile(0.5)), ms(p.quantile(0.99)), ms(p.quantile(1)), p.effect)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
