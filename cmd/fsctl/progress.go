package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// progressMin is the smallest transfer that gets a progress bar.
const progressMin = 1 << 20

// isTerminal reports whether fd is a terminal (TCGETS succeeds only on a
// tty).
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// bar draws "name [=====>    ]  45%  12.0/27.0 MiB  5.1 MiB/s" on stderr,
// at most every 100 ms. A nil *bar draws nothing.
type bar struct {
	w     io.Writer
	name  string
	total int64
	start time.Time
	last  time.Time
	cur   int64
	drawn bool
}

// newBar returns a bar if want is set, the transfer is large, stderr is
// where it can go and stdout or stderr is a terminal; else nil.
func newBar(want bool, name string, total int64) *bar {
	if !want || total < progressMin {
		return nil
	}
	if !isTerminal(int(os.Stdout.Fd())) && !isTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return &bar{w: os.Stderr, name: name, total: total, start: time.Now()}
}

func (b *bar) set(n int64) {
	if b == nil {
		return
	}
	b.cur = n
	if now := time.Now(); now.Sub(b.last) >= 100*time.Millisecond {
		b.last = now
		b.draw()
	}
}

func (b *bar) draw() {
	const width = 30
	frac := float64(b.cur) / float64(b.total)
	frac = min(max(frac, 0), 1)
	fill := int(frac * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	el := time.Since(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.cur) / el / (1 << 20)
	}
	name := b.name
	if len(name) > 24 {
		name = "…" + name[len(name)-23:]
	}
	fmt.Fprintf(b.w, "\r%-24s [%s] %3.0f%% %7.1f/%.1f MiB %6.1f MiB/s", name, bar, frac*100,
		float64(b.cur)/(1<<20), float64(b.total)/(1<<20), rate)
	b.drawn = true
}

// finish draws the final state and ends the line.
func (b *bar) finish() {
	if b == nil {
		return
	}
	b.draw()
	fmt.Fprintln(b.w)
}
