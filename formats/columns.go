package formats

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
)

// The header-to-role mapper shared by the CSV and Parquet decoders: which
// source column feeds each canonical column, which become extra columns
// (and under which unique name), which vendor export a header belongs to,
// and the one wording of a missing or duplicate column.

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
	"%chg": "pct_chg", "chg%": "pct_chg", "pct_change": "pct_chg", "%change": "pct_chg",
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

// extraCol maps a source column to an extra schema column.
type extraCol struct {
	src    int    // source column index
	name   string // schema name, unique in the schema
	dst    int    // schema index, set once the schema is built
	pct    bool   // a trailing '%' is accepted (CSV)
	indexy bool   // named like a pandas RangeIndex; dropped when integer
}

// columnMap says which source column feeds each canonical column (-1 when
// none) and which become extra columns.
type columnMap struct {
	tsCol   int    // the timestamp, or the date half of a Date + Time pair
	timeCol int    // the time half of a Date + Time pair, -1 when none
	price   [4]int // open, high, low, close
	volCol  int
	symCol  int
	provCol int
	extras  []extraCol // in source order
	vendor  string     // detected export shape, "" when none or a provider is known
}

// headerSpec is what mapHeader needs to know about a source.
type headerSpec struct {
	file  string
	line  int64    // line of the header (CSV), 0 when it has none (Parquet)
	names []string // column names as written
	// skip, when set, drops columns before mapping (Parquet pandas index
	// columns).
	skip func(i int) bool
	// datePair joins a Date and a Time column into the timestamp (text
	// sources).
	datePair bool
	// indexTS is a column to take as the timestamp when no column is named
	// like one (a pandas DatetimeIndex); -1 when none.
	indexTS int
	// provider is Options.Provider: when set, no vendor is detected.
	provider string
}

// mapHeader assigns a role to every source column. Two columns that map to
// one canonical column are an error when the second is spelled exactly as
// the canonical name ("open" after "Open"); otherwise the second is kept as
// an extra column under its own folded name ("Last" beside "Close" becomes
// "last"). Extra names that collide get a "_2", "_3" suffix. It does not
// check that the required columns are present: see checkRequired.
func mapHeader(h headerSpec) (columnMap, error) {
	m := columnMap{tsCol: -1, timeCol: -1, price: [4]int{-1, -1, -1, -1}, volCol: -1, symCol: -1, provCol: -1}
	skipped := func(i int) bool { return h.skip != nil && h.skip(i) }
	canon := make([]string, len(h.names))
	for i, n := range h.names {
		canon[i] = NormalizeName(n)
	}
	if h.datePair {
		dateCol, timeCol := -1, -1
		for i, n := range h.names {
			if skipped(i) {
				continue
			}
			switch foldName(n) {
			case "date":
				if dateCol < 0 {
					dateCol = i
				}
			case "time":
				if timeCol < 0 {
					timeCol = i
				}
			}
		}
		if dateCol >= 0 && timeCol >= 0 {
			m.tsCol, m.timeCol = dateCol, timeCol
		}
	}
	var extraSrc []int
	for i := range h.names {
		if i == m.tsCol || i == m.timeCol || skipped(i) {
			continue
		}
		c := canon[i]
		var slot *int
		switch c {
		case ColTimestamp:
			slot = &m.tsCol
		case ColOpen, ColHigh, ColLow, ColClose:
			slot = &m.price[map[string]int{ColOpen: 0, ColHigh: 1, ColLow: 2, ColClose: 3}[c]]
		case ColVolume:
			slot = &m.volCol
		case ColSymbol:
			slot = &m.symCol
		case ColProvider:
			slot = &m.provCol
		}
		if slot != nil && *slot < 0 {
			*slot = i
			continue
		}
		if slot != nil && foldName(h.names[i]) == c {
			return m, &ParseError{File: h.file, Line: h.line, Column: i + 1, Name: h.names[i], Value: h.names[i],
				Err: fmt.Errorf("%w: %q and %q both map to %q", errDuplicateField, h.names[*slot], h.names[i], c)}
		}
		extraSrc = append(extraSrc, i)
	}
	// A leading unnamed column (a pandas index written by to_csv) is the
	// timestamp when there is no other one.
	if m.tsCol < 0 && len(extraSrc) > 0 && extraSrc[0] == 0 && isIndexName(h.names[0]) {
		m.tsCol = 0
		extraSrc = extraSrc[1:]
	}
	if m.tsCol < 0 && h.indexTS >= 0 {
		m.tsCol = h.indexTS
	}
	taken := map[string]bool{}
	for _, n := range []string{ColTimestamp, ColOpen, ColHigh, ColLow, ColClose, ColVolume, ColSymbol, ColProvider} {
		taken[n] = true
	}
	for _, i := range extraSrc {
		name := foldName(h.names[i])
		if name == "" || strings.HasPrefix(name, "unnamed:") {
			name = fmt.Sprintf("column_%d", i+1)
		}
		if c := canon[i]; !taken[c] {
			name = c // keep aliases such as adj_close and pct_chg
		}
		base := name
		for k := 2; taken[name]; k++ {
			name = fmt.Sprintf("%s_%d", base, k)
		}
		taken[name] = true
		pct := strings.Contains(name, "pct") || strings.Contains(name, "%")
		m.extras = append(m.extras, extraCol{src: i, name: name, pct: pct, indexy: isIndexName(h.names[i])})
	}
	if h.provider == "" && m.provCol < 0 {
		m.vendor = detectVendor(h.names)
	}
	return m, nil
}

// checkRequired reports the required columns m lacks, saying what the
// header looks like when it is recognizably not bars.
func (m *columnMap) checkRequired(h headerSpec) error {
	var missing []string
	if m.tsCol < 0 {
		missing = append(missing, ColTimestamp)
	}
	for k, n := range []string{ColOpen, ColHigh, ColLow, ColClose} {
		if m.price[k] < 0 {
			missing = append(missing, n)
		}
	}
	if m.volCol < 0 {
		missing = append(missing, ColVolume)
	}
	if len(missing) == 0 {
		return nil
	}
	header := clip(strings.Join(h.names, ","))
	var hint string
	if m.price[0] < 0 && m.price[1] < 0 && m.price[2] < 0 {
		tickers := 0
		for i, n := range h.names {
			if f := foldName(n); f == "bid" || f == "ask" {
				hint = "; looks like quotes or ticks (bid/ask columns), not OHLC bars"
				break
			}
			if i != m.tsCol && isTickerName(n) {
				tickers++
			}
		}
		if hint == "" && tickers >= 2 {
			hint = "; looks like a wide one-column-per-symbol table: write one symbol per file with open, high, low, close, volume columns"
		}
	}
	var rec []string
	add := func(i int, n string) {
		if i >= 0 {
			rec = append(rec, fmt.Sprintf("%s=%q", n, h.names[i]))
		}
	}
	add(m.tsCol, ColTimestamp)
	for k, n := range []string{ColOpen, ColHigh, ColLow, ColClose} {
		add(m.price[k], n)
	}
	add(m.volCol, ColVolume)
	add(m.symCol, ColSymbol)
	recognized := "none"
	if len(rec) > 0 {
		recognized = strings.Join(rec, ", ")
	}
	return notBars(h.file, "missing required column(s) %s%s; recognized: %s (header %s)", strings.Join(missing, ", "), hint, recognized, header)
}

// notBars is the error for an input that is readable but not bars.
func notBars(file, format string, args ...any) error {
	if file == "" {
		file = "input"
	}
	return fmt.Errorf("%s: %w: %s", file, ErrNotBars, fmt.Sprintf(format, args...))
}

// detectVendor recognizes Yahoo, IBKR and Barchart exports by their
// headers. Barchart writes "Last", "Change", "%Chg" or, in newer exports,
// "Latest", "Change", "%Change".
func detectVendor(names []string) string {
	has := map[string]bool{}
	for _, n := range names {
		has[foldName(n)] = true
	}
	switch {
	case has["average"] && has["barcount"]:
		return "ibkr"
	case (has["last"] || has["latest"]) && has["change"] && (has["%chg"] || has["%change"]):
		return "barchart"
	case has["adj_close"] && (has["date"] || has["datetime"]):
		return "yahoo"
	}
	return ""
}

// isFooter reports a vendor trailer line ("Downloaded from Barchart.com as
// of ..."), skipped wherever it appears.
func isFooter(rec [][]byte) bool {
	return len(rec) >= 1 && bytes.HasPrefix(bytes.TrimSpace(rec[0]), []byte("Downloaded from Barchart"))
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func countRecognized[T ~string | ~[]byte](rec []T) int {
	n := 0
	for _, f := range rec {
		switch NormalizeName(string(f)) {
		case ColTimestamp, ColOpen, ColHigh, ColLow, ColClose, ColVolume, ColSymbol:
			n++
		}
	}
	return n
}

// isIndexName reports a pandas or R row-name header: "", "Unnamed: 0", "index".
func isIndexName(h string) bool {
	f := foldName(h)
	return f == "" || f == "index" || strings.HasPrefix(f, "unnamed:")
}

// isTickerName reports a header that looks like a ticker symbol (AAPL, ^GSPC,
// BRK.B) or an ASSET:field pair, the columns of a wide table.
func isTickerName(h string) bool {
	h = strings.TrimSpace(h)
	if strings.Contains(h, ":") {
		return true
	}
	if h == "" || len(h) > 10 {
		return false
	}
	letter := false
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9' || c == '^' || c == '.' || c == '-' || c == '=':
		default:
			return false
		}
	}
	return letter
}
