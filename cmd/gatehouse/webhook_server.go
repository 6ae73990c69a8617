package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// startWebhooks builds the webhook service of the admin API and the
// dispatcher that delivers events, which runs as background work on every
// node and delivers on the one holding the store's lease.
func (m *Main) startWebhooks(serverSecret []byte) error {
	key, err := webhook.DeriveSealingKey(serverSecret)
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	sealer, err := signing.NewSealer(key)
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	allowPrivate := m.Config.Webhooks.AllowPrivate
	m.Webhooks, err = webhook.NewService(webhook.ServiceConfig{
		Store: m.Store, Sealer: sealer, AllowPrivate: allowPrivate, Now: m.Now,
	})
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	m.Dispatcher, err = webhook.NewDispatcher(webhook.Config{
		Store: m.Store, Sealer: sealer, Holder: leaseHolder(), AllowPrivate: allowPrivate,
		Logger: m.Logger, Now: m.Now,
	})
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	return nil
}

// leaseHolder names this process in the webhook lease: the host name,
// for whoever reads the table, and random bytes, so two processes on one
// host (or a restart) never take each other for the holder.
func leaseHolder() string {
	host, _ := os.Hostname()
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}
