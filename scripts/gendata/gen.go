package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// config is everything the output depends on.
type config struct {
	rows        int64
	symbols     int
	provider    string
	start       time.Time
	seed        uint64
	overlapFrom int64
	jitter      int
}

const header = "timestamp,open,high,low,close,volume,symbol,provider\n"

// Walk parameters: ~0.08% per-minute volatility with a weak pull back to the
// start price, so that millions of steps neither explode nor collapse to a
// one-tick price.
const (
	sigma     = 0.0008
	reversion = 1e-5
)

var baseSymbols = []string{
	"AAPL", "AMZN", "ES", "GOOG", "JPM", "META", "MSFT", "NQ", "NVDA", "TSLA",
	"XOM", "CL", "GC", "SPY", "QQQ", "IWM", "BRK.B", "V", "UNH", "JNJ",
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000}

func (c config) validate() error {
	switch {
	case c.rows < 0:
		return errors.New("-rows must be >= 0")
	case c.symbols < 1:
		return errors.New("-symbols must be >= 1")
	case c.overlapFrom < 0:
		return errors.New("-overlap-from must be >= 0")
	case c.jitter < 0:
		return errors.New("-jitter must be >= 0")
	case c.provider == "":
		return errors.New("-provider must not be empty")
	}
	for _, r := range c.provider {
		if r == ',' || r == '"' || r == '\n' || r == '\r' {
			return fmt.Errorf("-provider %q needs CSV quoting; use a plain name", c.provider)
		}
	}
	return nil
}

// symbolNames returns n distinct names in ascending order, so that emitting
// symbols by index keeps rows sorted by (timestamp, symbol).
func symbolNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		if i < len(baseSymbols) {
			names[i] = baseSymbols[i]
		} else {
			names[i] = fmt.Sprintf("S%05d", i)
		}
	}
	slices.Sort(names)
	return names
}

// symbolState is one symbol's random walk. Prices are in ticks.
type symbolState struct {
	name     string
	decimals int
	scale    float64 // ticks per currency unit
	logPx    float64 // log of the price in currency units
	logPx0   float64 // the walk's anchor
	close    int64   // previous close, in ticks
}

// bar is one generated row before formatting.
type bar struct {
	open, high, low, close, volume int64
}

type generator struct {
	cfg    config
	syms   []symbolState
	walk   *rand.Rand // drives the canonical sequence; identical for any -overlap-from
	jitter *rand.Rand // only perturbs written rows
	clock  barClock
	row    int64 // next row index of the canonical sequence
	ts     []byte
	buf    []byte
}

func newGenerator(cfg config) *generator {
	g := &generator{
		cfg:    cfg,
		walk:   rand.New(rand.NewPCG(cfg.seed, 0x62636673)),
		jitter: rand.New(rand.NewPCG(cfg.seed^0x9e3779b97f4a7c15, uint64(cfg.jitter)+uint64(len(cfg.provider)))),
		clock:  newBarClock(cfg.start),
		buf:    make([]byte, 0, 1<<16),
	}
	for i, name := range symbolNames(cfg.symbols) {
		d := 2 + i%3
		px := 20 + 480*g.walk.Float64()
		s := symbolState{name: name, decimals: d, scale: float64(pow10[d]), logPx: math.Log(px), logPx0: math.Log(px)}
		s.close = int64(math.Round(px * s.scale))
		g.syms = append(g.syms, s)
	}
	g.ts = g.clock.appendTime(g.ts[:0])
	return g
}

// step advances the canonical sequence by one row and returns that row's
// symbol index and bar.
func (g *generator) step() (int, bar) {
	si := int(g.row % int64(g.cfg.symbols))
	if si == 0 && g.row > 0 {
		g.clock.next()
		g.ts = g.clock.appendTime(g.ts[:0])
	}
	g.row++
	s := &g.syms[si]
	r := g.walk
	s.logPx += -reversion*(s.logPx-s.logPx0) + sigma*r.NormFloat64()
	b := bar{open: s.close}
	b.close = max(1, int64(math.Round(math.Exp(s.logPx)*s.scale)))
	wick := float64(b.open) * sigma * 0.5
	b.high = max(b.open, b.close) + int64(wick*math.Abs(r.NormFloat64()))
	b.low = max(1, min(b.open, b.close)-int64(wick*math.Abs(r.NormFloat64())))
	b.volume = int64(math.Exp(7 + 0.8*r.NormFloat64()))
	s.close = b.close
	return si, b
}

// perturb moves prices by up to cfg.jitter ticks, keeping OHLC consistent.
// The close always moves so that every overlapping row is a real conflict.
func (g *generator) perturb(b bar) bar {
	j := int64(g.cfg.jitter)
	r := g.jitter
	delta := func() int64 { return r.Int64N(2*j+1) - j }
	nonzero := r.Int64N(j) + 1
	if r.IntN(2) == 0 {
		nonzero = -nonzero
	}
	b.open = max(1, b.open+delta())
	b.close = b.close + nonzero
	if b.close < 1 {
		b.close = b.close - 2*nonzero // moved below one tick: move up instead
	}
	b.high = max(b.high+delta(), b.open, b.close)
	b.low = max(1, min(b.low+delta(), b.open, b.close))
	b.volume = max(0, b.volume+delta()*10)
	return b
}

func (g *generator) appendRow(dst []byte, si int, b bar) []byte {
	s := &g.syms[si]
	dst = append(dst, g.ts...)
	dst = append(dst, ',')
	dst = appendTicks(dst, b.open, s.decimals)
	dst = append(dst, ',')
	dst = appendTicks(dst, b.high, s.decimals)
	dst = append(dst, ',')
	dst = appendTicks(dst, b.low, s.decimals)
	dst = append(dst, ',')
	dst = appendTicks(dst, b.close, s.decimals)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, b.volume, 10)
	dst = append(dst, ',')
	dst = append(dst, s.name...)
	dst = append(dst, ',')
	dst = append(dst, g.cfg.provider...)
	return append(dst, '\n')
}

// appendTicks formats a non-negative tick count with exactly d decimals.
func appendTicks(dst []byte, ticks int64, d int) []byte {
	p := pow10[d]
	dst = strconv.AppendInt(dst, ticks/p, 10)
	dst = append(dst, '.')
	frac := ticks % p
	for q := p / 10; q > 1 && frac < q; q /= 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, frac, 10)
}

// generate writes the header and rows [overlapFrom, overlapFrom+rows) of the
// canonical sequence.
func generate(cfg config, w io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	g := newGenerator(cfg)
	for g.row < cfg.overlapFrom {
		g.step()
	}
	buf := append(g.buf[:0], header...)
	end := cfg.overlapFrom + cfg.rows
	for g.row < end {
		si, b := g.step()
		if cfg.jitter > 0 {
			b = g.perturb(b)
		}
		buf = g.appendRow(buf, si, b)
		if len(buf) >= cap(buf)-256 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}

// barClock yields one timestamp per minute, skipping Saturdays and Sundays.
type barClock struct {
	t time.Time
}

func newBarClock(start time.Time) barClock {
	c := barClock{t: start.UTC().Truncate(time.Minute)}
	c.skipWeekend()
	return c
}

func (c *barClock) next() {
	c.t = c.t.Add(time.Minute)
	c.skipWeekend()
}

func (c *barClock) skipWeekend() {
	for wd := c.t.Weekday(); wd == time.Saturday || wd == time.Sunday; wd = c.t.Weekday() {
		y, m, d := c.t.Date()
		c.t = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	}
}

func (c *barClock) appendTime(dst []byte) []byte {
	return c.t.AppendFormat(dst, time.DateTime)
}
