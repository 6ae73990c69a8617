package admin

import "time"

// Usage is the answer of GET /admin/v1/usage: the verifications of the
// selected subjects, counted by outcome in every bucket of Granularity
// from From (included) to To (excluded), both aligned to it. Series has
// every bucket of the range, empty ones with empty Outcomes, so a chart
// needs no gap filling; Totals sums them.
type Usage struct {
	Granularity string           `json:"granularity"`
	From        time.Time        `json:"from"`
	To          time.Time        `json:"to"`
	Series      []UsageBucket    `json:"series"`
	Totals      map[string]int64 `json:"totals"`
}

// UsageBucket is one bucket of a usage series.
type UsageBucket struct {
	Start    time.Time        `json:"start"`
	Outcomes map[string]int64 `json:"outcomes"`
}

// UsageParams are the query parameters of GET /admin/v1/usage. Empty
// subject members select everything; a zero To is the server's now, a
// zero From 24 hours before To, and an empty Granularity one that suits
// the range.
type UsageParams struct {
	KeyID, ClientID, UserID, Route, Owner string
	From, To                              time.Time
	Granularity                           string
}
