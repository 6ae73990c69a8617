package changes

import "time"

// SetClock makes a Kick measure the trust of its feed on now and wait with
// after. Tests set it before Run and the first FeedSynced.
func (k *Kick) SetClock(now func() time.Time, after func(time.Duration) <-chan time.Time) {
	k.trust.SetMonotonic(now)
	k.after = after
}
