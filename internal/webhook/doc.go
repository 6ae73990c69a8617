// Package webhook sends Gatehouse's events to the endpoints operators
// register, as the Standard Webhooks specification
// (https://www.standardwebhooks.com) describes: signed with a shared
// secret, retried with exponential backoff, at least once.
//
// The stores write each event to an outbox in the transaction of the
// change it describes (auth.WebhookOutbox). The Dispatcher, on one node
// at a time (a lease in the store), turns outbox events into deliveries,
// one per subscribed endpoint, and attempts them until they succeed or
// WebhookRetryPeriod passes; all of its state is in the store, so a
// restart or a new lease holder picks up where the last one stopped. The
// Service is what the admin API uses to manage endpoints.
//
// Destinations are checked against server-side request forgery when the
// dispatcher connects (see Client), not only at registration, so a host
// name that later resolves to an internal address is still refused.
package webhook
