package formats

import (
	"strings"
	"unicode"
)

// aliases maps a normalized header (lower case, spaces, dashes and dots
// folded to '_') to its canonical column name. Names not listed keep their
// normalized spelling as an extra column.
var aliases = map[string]string{
	"timestamp": ColTimestamp, "date": ColTimestamp, "datetime": ColTimestamp,
	"time": ColTimestamp, "date_time": ColTimestamp, "ts": ColTimestamp,
	"open": ColOpen, "o": ColOpen,
	"high": ColHigh, "h": ColHigh,
	"low": ColLow, "l": ColLow,
	"close": ColClose, "c": ColClose, "last": ColClose, "latest": ColClose,
	"volume": ColVolume, "vol": ColVolume, "v": ColVolume,
	"symbol": ColSymbol, "ticker": ColSymbol, "stock": ColSymbol,
	"provider": ColProvider, "source": ColProvider,
	"adj_close": "adj_close", "adjclose": "adj_close", "adjusted_close": "adj_close",
	"open_interest": "open_interest", "openinterest": "open_interest", "oi": "open_interest",
	"barcount": "bar_count", "bar_count": "bar_count",
	"%chg": "pct_chg", "chg%": "pct_chg", "pct_change": "pct_chg",
}

// NormalizeName folds a header to its canonical column name: case-insensitive,
// with aliases (Date/Datetime/Time → timestamp, Last/Latest → close,
// Adj Close → adj_close, Vol → volume, Ticker/Stock → symbol). Other names are
// lower-cased with runs of spaces, dashes and dots turned into '_'.
func NormalizeName(h string) string {
	n := foldName(h)
	if c, ok := aliases[n]; ok {
		return c
	}
	return n
}

// foldName is NormalizeName without aliases: lower case, runs of spaces,
// dashes, dots and underscores folded to one '_'.
func foldName(h string) string {
	h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(h) {
		if unicode.IsSpace(r) || r == '-' || r == '.' || r == '_' {
			if !under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = true
			continue
		}
		under = false
		b.WriteRune(r)
	}
	return strings.TrimSuffix(b.String(), "_")
}
