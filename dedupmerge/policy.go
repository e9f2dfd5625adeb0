package dedupmerge

import (
	"fmt"
	"strings"
)

// Strategy names how a dataset decides that two rows are the same bar.
type Strategy string

const (
	TimestampSymbol Strategy = "timestamp_symbol"
	TimestampOnly   Strategy = "timestamp_only"
	AllColumns      Strategy = "all_columns"
)

// ParseStrategy returns the strategy named s (case-insensitive; "-" and "_"
// are interchangeable). The empty string means the default, TimestampSymbol.
func ParseStrategy(s string) (Strategy, error) {
	norm := Strategy(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_"))
	switch norm {
	case "":
		return TimestampSymbol, nil
	case TimestampSymbol, TimestampOnly, AllColumns:
		return norm, nil
	}
	return "", fmt.Errorf("%w %q (want %s, %s or %s)", ErrStrategy, s, TimestampSymbol, TimestampOnly, AllColumns)
}

// DefaultPreference is the provider order used when Policy.Preference is nil.
var DefaultPreference = []string{"ibkr", "barchart", "yahoo"}

// Policy says how conflicts are resolved. The zero Policy means
// TimestampSymbol and DefaultPreference. A non-nil empty Preference ranks all
// providers equal, so the newer write always wins.
type Policy struct {
	Strategy   Strategy
	Preference []string
}

// Rank returns the provider's rank: its index in the preference, or
// len(preference) for any provider not listed. Lower ranks win.
func (p Policy) Rank(provider string) int {
	pref := p.preference()
	for i, name := range pref {
		if strings.EqualFold(name, provider) {
			return i
		}
	}
	return len(pref)
}

// Validate reports whether p names a known strategy.
func (p Policy) Validate() error {
	switch p.Strategy {
	case "", TimestampSymbol, TimestampOnly, AllColumns:
		return nil
	}
	return fmt.Errorf("%w %q", ErrStrategy, p.Strategy)
}

func (p Policy) preference() []string {
	if p.Preference == nil {
		return DefaultPreference
	}
	return p.Preference
}

func (p Policy) strategy() Strategy {
	if p.Strategy == "" {
		return TimestampSymbol
	}
	return p.Strategy
}

// ranker memoises the last provider's rank: a column usually repeats one
// provider for long runs, and Rank compares against every preference entry.
type ranker struct {
	p    Policy
	last string
	rank int
	set  bool
}

func (r *ranker) of(provider string) int {
	if !r.set || provider != r.last {
		r.last, r.rank, r.set = provider, r.p.Rank(provider), true
	}
	return r.rank
}
