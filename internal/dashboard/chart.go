package dashboard

import (
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Charts are drawn by the server as SVG (no script, nothing the CSP has to
// allow), colours from the stylesheet by class, so they follow the light or
// dark scheme; every chart is also written as a table, which screen
// readers and text browsers read instead.

// Chart is a stacked bar chart of series over time buckets.
type Chart struct {
	ID     string // unique on the page: names the table and the SVG's title
	Title  string
	Labels []string // one per bucket
	Series []ChartSeries
	Totals []int64 // per series, for the legend and the table
}

// ChartSeries is one stacked series; Class picks its colour (c0...c7 in
// the stylesheet).
type ChartSeries struct {
	Name   string
	Class  string
	Values []int64 // one per label
}

// Bar is one drawn rectangle.
type Bar struct {
	X, Y, W, H float64
	Class      string
	Label      string // what a pointer's tooltip says (the SVG title)
}

// Geometry of the drawing, in SVG user units; the SVG scales to its box.
const (
	chartW, chartH = 720.0, 200.0
	chartPadBottom = 20.0
)

// ViewBox is the SVG viewBox.
func (c *Chart) ViewBox() string {
	return "0 0 " + strconv.FormatFloat(chartW, 'f', -1, 64) + " " + strconv.FormatFloat(chartH, 'f', -1, 64)
}

// Max is the tallest stack.
func (c *Chart) Max() int64 {
	var m int64
	for i := range c.Labels {
		var sum int64
		for _, s := range c.Series {
			sum += s.Values[i]
		}
		m = max(m, sum)
	}
	return m
}

// Empty reports whether there is nothing to draw.
func (c *Chart) Empty() bool { return c.Max() == 0 }

// Bars lays out the stacks, bottom up in series order.
func (c *Chart) Bars() []Bar {
	n := len(c.Labels)
	top := c.Max()
	if n == 0 || top == 0 {
		return nil
	}
	slot := chartW / float64(n)
	w := max(slot*0.8, 1)
	plotH := chartH - chartPadBottom
	var bars []Bar
	for i := range c.Labels {
		y := plotH
		for _, s := range c.Series {
			v := s.Values[i]
			if v == 0 {
				continue
			}
			h := float64(v) / float64(top) * plotH
			y -= h
			bars = append(bars, Bar{
				X: float64(i)*slot + (slot-w)/2, Y: y, W: w, H: h, Class: s.Class,
				Label: c.Labels[i] + ": " + s.Name + " " + strconv.FormatInt(v, 10),
			})
		}
	}
	return bars
}

// Axis are the labels under the bars: the first, the middle and the last
// bucket, so they never overlap at any width.
func (c *Chart) Axis() []AxisLabel {
	n := len(c.Labels)
	if n == 0 {
		return nil
	}
	slot := chartW / float64(n)
	at := func(i int, anchor string) AxisLabel {
		return AxisLabel{X: float64(i)*slot + slot/2, Y: chartH - 4, Text: c.Labels[i], Anchor: anchor}
	}
	if n == 1 {
		return []AxisLabel{at(0, "middle")}
	}
	return []AxisLabel{at(0, "start"), at(n/2, "middle"), at(n-1, "end")}
}

// AxisLabel is one label of the time axis.
type AxisLabel struct {
	X, Y   float64
	Text   string
	Anchor string
}

// Rows are the table's rows: one per bucket with a value per series.
func (c *Chart) Rows() []ChartRow {
	rows := make([]ChartRow, len(c.Labels))
	for i, l := range c.Labels {
		rows[i].Label = l
		rows[i].Values = make([]int64, len(c.Series))
		for j, s := range c.Series {
			rows[i].Values[j] = s.Values[i]
		}
	}
	return rows
}

// ChartRow is one row of a chart's table.
type ChartRow struct {
	Label  string
	Values []int64
}

// usageChart turns usage points (one per bucket and outcome) into a chart
// of outcomes over the dense list of buckets from..to.
func usageChart(id, title string, g auth.Granularity, from, to time.Time, pts []auth.UsagePoint) *Chart {
	var starts []time.Time
	for t := g.Floor(from); t.Before(to); t = t.Add(g.Step()) {
		starts = append(starts, t)
	}
	index := make(map[int64]int, len(starts))
	c := &Chart{ID: id, Title: title}
	layout := "15:04"
	if g != auth.GranularityMinute && g != auth.GranularityHour {
		layout = "Jan 2"
	} else if to.Sub(from) > 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	for i, t := range starts {
		index[t.Unix()] = i
		c.Labels = append(c.Labels, t.UTC().Format(layout))
	}
	byOutcome := map[string]int{}
	for _, p := range pts {
		i, ok := index[p.Start.Unix()]
		if !ok {
			continue
		}
		j, seen := byOutcome[p.Outcome]
		if !seen {
			j = len(c.Series)
			byOutcome[p.Outcome] = j
			c.Series = append(c.Series, ChartSeries{Name: p.Outcome, Class: outcomeClass(p.Outcome), Values: make([]int64, len(starts))})
			c.Totals = append(c.Totals, 0)
		}
		c.Series[j].Values[i] += p.Count
		c.Totals[j] += p.Count
	}
	return c
}

// outcomeClass colours an outcome: success green, refusals by kind.
func outcomeClass(outcome string) string {
	switch outcome {
	case "VALID":
		return "ok"
	case "RATE_LIMITED", "USAGE_EXCEEDED":
		return "warn"
	case "INSUFFICIENT_SCOPE", "IP_NOT_ALLOWED":
		return "deny"
	default:
		return "bad"
	}
}
