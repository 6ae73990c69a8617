// Package changes follows the store's change feed on one node: one
// watcher (an auth.ChangeWatcher, the PostgreSQL backend) for the whole
// node, whose reports a Feed passes on to the caches that subscribed to a
// kind of change (API keys, clients, routes, signing keys, revocations),
// and a Trust that tells a cache whether the feed vouches for it now.
//
// Together they bound how long a change made on one node can go unseen on
// another: auth.FeedMaxAge (one second). Every cache that can answer from
// memory either drops a changed record when the feed reports it and
// trusts its entries only while its Trust does, or rereads the store on
// the report (a Kick), and every auth.FeedMaxAge while the feed does not
// vouch for itself, and polls as a safety net.
package changes
