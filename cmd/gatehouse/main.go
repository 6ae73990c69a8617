// Command gatehouse is the Gatehouse server and its command-line client.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRootCommand(os.Stdout, os.Stderr, os.Getenv)
	root.SetContext(ctx)
	code := execute(root, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}
