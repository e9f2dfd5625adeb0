package formats

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

var (
	errBadTimestamp = errors.New("not a recognized timestamp")
	errDayFirst     = errors.New("slash date has a day > 12 in the month position: the file looks day-first (DD/MM/YYYY) and is refused, because slash dates are read as US MM/DD/YYYY and are never silently swapped")
	errTimeRange    = errors.New("timestamp outside the supported range 1678..2261")
	errUnknownZone  = errors.New("unknown time zone name")
)

// ParseTimestamp parses one timestamp and returns nanoseconds since the Unix
// epoch, UTC. Accepted forms:
//
//	2024-01-05, 2024-01-05 09:30[:00[.123456789]], T separator, Z, +01:00, +0100, -05
//	20240105, 20240105 09:30:00 and 20240105  09:30:00 US/Eastern (IBKR)
//	epoch seconds (9-10 digits), milliseconds (13), microseconds (16), nanoseconds (19)
//	01/05/2024, 1/5/2024 [09:30[:00]] [AM|PM] (slashes mean US month/day)
//	2024/01/05 [time], 05-Jan-24, 05-Jan-2024 [time]
//	2019-10-17 09-AM (CryptoDataDownload hours)
//
// A time without an offset or zone name is in loc (nil means UTC). A slash
// date whose first number exceeds 12 is refused as day-first, never swapped.
func ParseTimestamp(s string, loc *time.Location) (int64, error) {
	ns, err := parseTimestamp(s, loc)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q: %w", s, err)
	}
	return ns, nil
}

// civil is a parsed wall-clock time before zone conversion.
type civil struct {
	year, month, day int
	hour, min, sec   int
	nsec             int
	hasOffset        bool
	offset           int // seconds east of UTC
	zone             string
}

// parseTimestamp returns only sentinel errors (or a *zoneError wrapping
// one) and never retains s, so callers may pass a string that aliases a
// reused buffer.
func parseTimestamp(s string, loc *time.Location) (int64, error) {
	ns, _, err := parseTimestampLate(s, loc)
	return ns, err
}

// parseTimestampLate is parseTimestamp that also returns, for an ambiguous
// local time (an error wrapping errAmbiguous), the earlier instant in ns
// and the later in late.
func parseTimestampLate(s string, loc *time.Location) (ns, late int64, err error) {
	s = trimSpace(s)
	// Fast path: "YYYY-MM-DD HH:MM:SS" in UTC, the shape of most files and of
	// our own CSV rendering.
	if len(s) == 19 && (loc == nil || loc == time.UTC) && s[4] == '-' && s[7] == '-' && (s[10] == ' ' || s[10] == 'T') && s[13] == ':' && s[16] == ':' {
		y, ok1 := digits(s[0:4])
		mo, ok2 := digits(s[5:7])
		d, ok3 := digits(s[8:10])
		h, ok4 := digits(s[11:13])
		mi, ok5 := digits(s[14:16])
		sec, ok6 := digits(s[17:19])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 {
			c := civil{year: y, month: mo, day: d, hour: h, min: mi, sec: sec}
			if err := c.check(); err != nil {
				return 0, 0, err
			}
			return c.unixNano(nil)
		}
	}
	var c civil
	if err := c.parse(s); err != nil {
		return 0, 0, err
	}
	if err := c.check(); err != nil {
		return 0, 0, err
	}
	return c.unixNano(loc)
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// digits parses a non-empty run of ASCII digits (at most 9).
func digits(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int(c)
	}
	return n, true
}

// leadDigits returns the number of leading ASCII digits of s.
func leadDigits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

var monthAbbr = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

func (c *civil) parse(s string) error {
	n := leadDigits(s)
	switch {
	case n == len(s) && n > 0:
		return c.parseAllDigits(s)
	case n == 4 && (s[4] == '-' || s[4] == '/'):
		sep := s[4]
		rest, err := c.parseYMD(s, sep)
		if err != nil {
			return err
		}
		return c.parseTimeAndZone(rest, true)
	case n == 8 && (s[8] == ' ' || s[8] == 'T'):
		// IBKR "YYYYMMDD  HH:MM:SS [zone]".
		c.year, _ = digits(s[0:4])
		c.month, _ = digits(s[4:6])
		c.day, _ = digits(s[6:8])
		return c.parseTimeAndZone(s[8:], true)
	case (n == 1 || n == 2) && s[n] == '/':
		rest, err := c.parseMDY(s)
		if err != nil {
			return err
		}
		return c.parseTimeAndZone(rest, true)
	case (n == 1 || n == 2) && s[n] == '-' && len(s) > n+4 && isAlpha(s[n+1]):
		rest, err := c.parseDMonY(s, n)
		if err != nil {
			return err
		}
		return c.parseTimeAndZone(rest, true)
	}
	return errBadTimestamp
}

func isAlpha(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }

func (c *civil) parseAllDigits(s string) error {
	switch len(s) {
	case 8:
		c.year, _ = digits(s[0:4])
		c.month, _ = digits(s[4:6])
		c.day, _ = digits(s[6:8])
		return nil
	case 9, 10, 13, 16, 19:
		var v int64
		for i := 0; i < len(s); i++ {
			v = v*10 + int64(s[i]-'0')
		}
		var sec, frac int64
		switch len(s) {
		case 9, 10:
			sec = v
		case 13:
			sec, frac = v/1e3, v%1e3*1e6
		case 16:
			sec, frac = v/1e6, v%1e6*1e3
		case 19:
			if v < 0 { // overflowed int64
				return errTimeRange
			}
			sec, frac = v/1e9, v%1e9
		}
		t := time.Unix(sec, frac).UTC()
		c.year, c.month, c.day = t.Year(), int(t.Month()), t.Day()
		c.hour, c.min, c.sec, c.nsec = t.Hour(), t.Minute(), t.Second(), t.Nanosecond()
		c.hasOffset = true
		return nil
	}
	return errBadTimestamp
}

// parseYMD reads YYYY-MM-DD or YYYY/MM/DD (one- or two-digit month and day).
func (c *civil) parseYMD(s string, sep byte) (string, error) {
	c.year, _ = digits(s[:4])
	s = s[5:]
	n := leadDigits(s)
	if n < 1 || n > 2 || len(s) <= n || s[n] != sep {
		return "", errBadTimestamp
	}
	c.month, _ = digits(s[:n])
	s = s[n+1:]
	n = leadDigits(s)
	if n < 1 || n > 2 {
		return "", errBadTimestamp
	}
	c.day, _ = digits(s[:n])
	return s[n:], nil
}

// parseMDY reads M/D/YYYY or MM/DD/YYYY; a first number above 12 is a
// day-first file.
func (c *civil) parseMDY(s string) (string, error) {
	n := leadDigits(s)
	first, _ := digits(s[:n])
	s = s[n+1:]
	n = leadDigits(s)
	if n < 1 || n > 2 || len(s) <= n || s[n] != '/' {
		return "", errBadTimestamp
	}
	second, _ := digits(s[:n])
	s = s[n+1:]
	n = leadDigits(s)
	if n != 4 {
		return "", errBadTimestamp
	}
	c.year, _ = digits(s[:4])
	if first > 12 && first <= 31 && second >= 1 && second <= 12 {
		return "", errDayFirst
	}
	c.month, c.day = first, second
	return s[4:], nil
}

// parseDMonY reads DD-Mon-YY or DD-Mon-YYYY.
func (c *civil) parseDMonY(s string, n int) (string, error) {
	c.day, _ = digits(s[:n])
	s = s[n+1:]
	if len(s) < 4 || s[3] != '-' {
		return "", errBadTimestamp
	}
	c.month = 0
	for i, m := range monthAbbr {
		if (s[0]|0x20) == m[0] && (s[1]|0x20) == m[1] && (s[2]|0x20) == m[2] {
			c.month = i + 1
		}
	}
	if c.month == 0 {
		return "", errBadTimestamp
	}
	s = s[4:]
	n = leadDigits(s)
	switch n {
	case 2:
		// POSIX %y pivot, as Python's strptime: 69-99 -> 19xx, 00-68 -> 20xx.
		yy, _ := digits(s[:2])
		if yy >= 69 {
			c.year = 1900 + yy
		} else {
			c.year = 2000 + yy
		}
	case 4:
		c.year, _ = digits(s[:4])
	default:
		return "", errBadTimestamp
	}
	return s[n:], nil
}

// parseTimeAndZone reads what follows a date: nothing, or a separator, a
// time of day and an optional zone.
func (c *civil) parseTimeAndZone(s string, allowTime bool) error {
	if s == "" {
		return nil
	}
	if s[0] != ' ' && s[0] != 'T' {
		return errBadTimestamp
	}
	s = s[1:]
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	n := leadDigits(s)
	if n < 1 || n > 2 || !allowTime {
		return errBadTimestamp
	}
	c.hour, _ = digits(s[:n])
	s = s[n:]
	if len(s) >= 3 && s[0] == '-' && (s[1]|0x20) == 'a' || len(s) >= 3 && s[0] == '-' && (s[1]|0x20) == 'p' {
		// CryptoDataDownload "09-AM".
		return c.parseAMPMAndZone(s[1:])
	}
	if len(s) < 3 || s[0] != ':' || leadDigits(s[1:]) != 2 {
		return errBadTimestamp
	}
	c.min, _ = digits(s[1:3])
	s = s[3:]
	if len(s) >= 3 && s[0] == ':' && leadDigits(s[1:]) == 2 {
		c.sec, _ = digits(s[1:3])
		s = s[3:]
		if len(s) >= 2 && (s[0] == '.' || s[0] == ',') {
			n = leadDigits(s[1:])
			if n == 0 {
				return errBadTimestamp
			}
			f := s[1 : 1+n]
			s = s[1+n:]
			if len(f) > 9 {
				for i := 9; i < len(f); i++ {
					if f[i] != '0' {
						return errSubMicro
					}
				}
				f = f[:9]
			}
			v, _ := digits(f)
			for i := len(f); i < 9; i++ {
				v *= 10
			}
			c.nsec = v
		}
	}
	if len(s) > 0 && s[0] == ' ' {
		t := trimSpace(s)
		if len(t) >= 2 && (t[1]|0x20) == 'm' && ((t[0]|0x20) == 'a' || (t[0]|0x20) == 'p') && (len(t) == 2 || t[2] == ' ') {
			return c.parseAMPMAndZone(t)
		}
	}
	return c.parseZone(s)
}

func (c *civil) parseAMPMAndZone(s string) error {
	if len(s) < 2 || (s[1]|0x20) != 'm' || c.hour < 1 || c.hour > 12 {
		return errBadTimestamp
	}
	pm := (s[0] | 0x20) == 'p'
	if (s[0]|0x20) != 'a' && !pm {
		return errBadTimestamp
	}
	if c.hour == 12 {
		c.hour = 0
	}
	if pm {
		c.hour += 12
	}
	return c.parseZone(s[2:])
}

// parseZone reads "", "Z", "+HH:MM", "+HHMM", "+HH" or " Zone/Name".
func (c *civil) parseZone(s string) error {
	if s == "" {
		return nil
	}
	switch s[0] {
	case 'Z', 'z':
		if len(s) != 1 {
			return errBadTimestamp
		}
		c.hasOffset = true
		return nil
	case '+', '-':
		t := s[1:]
		var h, m int
		switch {
		case len(t) == 2 && leadDigits(t) == 2:
			h, _ = digits(t)
		case len(t) == 4 && leadDigits(t) == 4:
			h, _ = digits(t[:2])
			m, _ = digits(t[2:])
		case len(t) == 5 && t[2] == ':' && leadDigits(t) == 2 && leadDigits(t[3:]) == 2:
			h, _ = digits(t[:2])
			m, _ = digits(t[3:])
		default:
			return errBadTimestamp
		}
		if h > 23 || m > 59 {
			return errBadTimestamp
		}
		c.hasOffset = true
		c.offset = h*3600 + m*60
		if s[0] == '-' {
			c.offset = -c.offset
		}
		return nil
	case ' ':
		name := trimSpace(s)
		if name == "" {
			return nil
		}
		for i := 0; i < len(name); i++ {
			b := name[i]
			if !(isAlpha(b) || b >= '0' && b <= '9' || b == '/' || b == '_' || b == '-' || b == '+') {
				return errBadTimestamp
			}
		}
		c.zone = name
		return nil
	}
	return errBadTimestamp
}

var daysIn = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

func (c *civil) check() error {
	if c.month < 1 || c.month > 12 || c.day < 1 || c.day > daysIn[c.month] ||
		c.month == 2 && c.day == 29 && !isLeap(c.year) ||
		c.hour > 23 || c.min > 59 || c.sec > 59 {
		return errBadTimestamp
	}
	// int64 nanoseconds span 1677-09-21..2262-04-11; stay inside with a margin
	// of a day for offsets.
	if c.year < 1678 || c.year > 2261 {
		return errTimeRange
	}
	return nil
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// unixNano converts c to nanoseconds since the epoch: by its offset, else
// in its zone name, else in loc. For an ambiguous local time it returns
// both instants with an error wrapping errAmbiguous.
func (c *civil) unixNano(loc *time.Location) (ns, late int64, err error) {
	if c.zone != "" {
		z, err := loadZone(c.zone)
		if err != nil {
			return 0, 0, err
		}
		loc = z
		c.hasOffset = false
	}
	sec := daysFromCivil(c.year, c.month, c.day)*86400 + int64(c.hour*3600+c.min*60+c.sec)
	if !c.hasOffset && isZoned(loc) {
		u, l, err := localToUTC(sec, loc)
		if err != nil && !errors.Is(err, errAmbiguous) {
			return 0, 0, err
		}
		return u*1e9 + int64(c.nsec), l*1e9 + int64(c.nsec), err
	}
	ns = (sec-int64(c.offset))*1e9 + int64(c.nsec)
	return ns, ns, nil
}

// zones caches time.LoadLocation, which reads the zone database on every
// call. Unknown names are cached too, up to a bound, so hostile input cannot
// grow it without limit.
var zones struct {
	sync.Mutex // protects m
	m          map[string]*time.Location
}

func loadZone(name string) (*time.Location, error) {
	zones.Lock()
	l, ok := zones.m[name]
	zones.Unlock()
	if ok {
		if l == nil {
			return nil, errUnknownZone
		}
		return l, nil
	}
	key := string([]byte(name)) // name may alias a reused buffer
	l, err := time.LoadLocation(key)
	if err != nil || key == "Local" {
		l = nil
	}
	zones.Lock()
	if zones.m == nil {
		zones.m = make(map[string]*time.Location)
	}
	if len(zones.m) < 1024 {
		zones.m[key] = l
	}
	zones.Unlock()
	if l == nil {
		return nil, errUnknownZone
	}
	return l, nil
}
