package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// defaultHealthcheckURL is the readiness endpoint of a node on the
// default port, as a container's own health check reaches it.
const defaultHealthcheckURL = "http://127.0.0.1:8080/readyz"

// newHealthcheckCommand is the container health check: the image has no
// shell and no curl (distroless), so the binary asks itself.
func newHealthcheckCommand() *cobra.Command {
	var (
		target  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when a node answers its readiness check with 200, 1 otherwise (for container health checks)",
		Long: "healthcheck asks a Gatehouse node's /readyz (503 only while the node drains; it does not ask the\n" +
			"database) and exits 0 when it answers 200 OK within --timeout, 1 when it answers anything else,\n" +
			"does not answer, or is too slow.\n" +
			"It follows no redirect and uses no proxy. Docker's HEALTHCHECK in the image runs it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageErrorf("--url %q must be an http:// or https:// URL", target)
			}
			if timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			if err := checkHealth(cmd.Context(), u.String(), timeout); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "ready")
			return err
		},
	}
	cmd.Flags().StringVar(&target, "url", defaultHealthcheckURL, "the readiness URL to ask")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "how long to wait for the whole answer")
	return cmd
}

// checkHealth returns nil when target answers 200 within timeout. Its
// errors do not wrap the *url.Error of the request: the CLI would read
// one as an unreachable admin server and hint at GATEHOUSE_SERVER.
func checkHealth(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %v", err)
	}
	hc := &http.Client{
		// A proxy from the environment would check the proxy, not the node.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		// A redirect is not readiness: a node answers /readyz itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("healthcheck: %s did not answer within %s", target, timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("healthcheck: %s: %v", target, err)
	}
	defer resp.Body.Close()
	// Read the (short) body so that a node that stalls mid-answer fails
	// within the timeout too.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)); err != nil {
		return fmt.Errorf("healthcheck: %s: reading the answer: %v", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", target, resp.Status)
	}
	return nil
}
