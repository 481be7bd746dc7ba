package load

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressEvery is how often the bar is redrawn: often enough to look
// alive, rarely enough to cost the measured servers nothing.
const progressEvery = 250 * time.Millisecond

// startProgress redraws a one-line bar on w until the returned stop is
// called, which erases it so that the report starts on a clean line.
func startProgress(w io.Writer, live *counters, start, measureFrom, end time.Time) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		var lastOK uint64
		lastAt := start
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				ok := live.ok.Load()
				rate := float64(ok-lastOK) / now.Sub(lastAt).Seconds()
				lastOK, lastAt = ok, now
				fmt.Fprint(w, "\r\033[K"+progressLine(now, start, measureFrom, end, ok, live.fail.Load(), rate))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// progressLine renders the bar; a pure function so it is easy to test.
func progressLine(now, start, measureFrom, end time.Time, ok, fail uint64, rate float64) string {
	const width = 30
	total := end.Sub(start)
	frac := 1.0
	if total > 0 {
		frac = min(max(float64(now.Sub(start))/float64(total), 0), 1)
	}
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	phase := ""
	if now.Before(measureFrom) {
		phase = " warmup"
	}
	return fmt.Sprintf("[%s] %4.1fs/%.1fs%s  %d ok  %d err  %.0f req/s",
		bar, min(now.Sub(start), total).Seconds(), total.Seconds(), phase, ok, fail, rate)
}
