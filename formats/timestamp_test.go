package formats

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   string
		loc  *time.Location
		want string // RFC 3339 UTC
		err  error
	}{
		{"Date", "2024-01-05", nil, "2024-01-05T00:00:00Z", nil},
		{"DateTime", "2024-01-05 09:30:00", nil, "2024-01-05T09:30:00Z", nil},
		{"DateTimeNoSeconds", "2019-07-04 01:00", nil, "2019-07-04T01:00:00Z", nil},
		{"TSeparatorMillis", "2015-09-23T20:57:42.146", nil, "2015-09-23T20:57:42.146Z", nil},
		{"Nanos", "2021-12-31 23:01:00.123456789", nil, "2021-12-31T23:01:00.123456789Z", nil},
		{"FractionBeyondNanosRefused", "2021-12-31 23:01:00.1234567891", nil, "", errSubMicro},
		{"FractionZerosBeyondNanos", "2021-12-31 23:01:00.1234567890", nil, "2021-12-31T23:01:00.123456789Z", nil},
		{"Zulu", "2024-01-05T09:30:00Z", nil, "2024-01-05T09:30:00Z", nil},
		{"OffsetColon", "2022-01-03 00:00:00+08:00", nil, "2022-01-02T16:00:00Z", nil},
		{"OffsetNoColon", "2022-01-03 00:00:00-0500", nil, "2022-01-03T05:00:00Z", nil},
		{"OffsetHours", "2022-01-03 00:00:00-05", nil, "2022-01-03T05:00:00Z", nil},
		{"OffsetBeatsLocation", "2024-07-01 09:30:00+00:00", ny, "2024-07-01T09:30:00Z", nil},
		{"NaiveInLocation", "2024-07-01 09:30:00", ny, "2024-07-01T13:30:00Z", nil},
		{"NaiveInLocationWinter", "2024-01-02", ny, "2024-01-02T05:00:00Z", nil},
		{"Compact", "20240105", nil, "2024-01-05T00:00:00Z", nil},
		{"IBKROneSpace", "20240105 09:30:00", nil, "2024-01-05T09:30:00Z", nil},
		{"IBKRTwoSpaces", "20240105  09:30:00", nil, "2024-01-05T09:30:00Z", nil},
		{"IBKRZone", "20240105  09:30:00 US/Eastern", nil, "2024-01-05T14:30:00Z", nil},
		{"IBKRZoneIANA", "20240701 09:30:00 America/New_York", nil, "2024-07-01T13:30:00Z", nil},
		{"EpochSeconds", "1704205800", nil, "2024-01-02T14:30:00Z", nil},
		{"EpochSeconds9", "946684800", nil, "2000-01-01T00:00:00Z", nil},
		{"EpochMillis", "1637971200000", nil, "2021-11-27T00:00:00Z", nil},
		{"EpochMicros", "1637971200000001", nil, "2021-11-27T00:00:00.000001Z", nil},
		{"EpochNanos", "1637971200000000001", nil, "2021-11-27T00:00:00.000000001Z", nil},
		{"EpochIgnoresLocation", "1704205800", ny, "2024-01-02T14:30:00Z", nil},
		{"USSlash", "01/05/2024", nil, "2024-01-05T00:00:00Z", nil},
		{"USSlashShort", "1/5/2024", nil, "2024-01-05T00:00:00Z", nil},
		{"USSlashTime", "12/31/2024 16:00", nil, "2024-12-31T16:00:00Z", nil},
		{"USSlashPM", "3/4/2020 1:05:09 PM", nil, "2020-03-04T13:05:09Z", nil},
		{"USSlashMidnightAM", "3/4/2020 12:00:00 AM", nil, "2020-03-04T00:00:00Z", nil},
		{"USSlashNoonPM", "3/4/2020 12:30 pm", nil, "2020-03-04T12:30:00Z", nil},
		{"YearSlash", "2024/01/05", nil, "2024-01-05T00:00:00Z", nil},
		{"YearSlashTime", "2024/1/5 09:30:00", nil, "2024-01-05T09:30:00Z", nil},
		{"DayMonYY", "03-Jan-11", nil, "2011-01-03T00:00:00Z", nil},
		{"DayMonYY1999", "01-Apr-99", nil, "1999-04-01T00:00:00Z", nil},
		{"DayMonYYYY", "3-jan-2011", nil, "2011-01-03T00:00:00Z", nil},
		{"CryptoDataDownloadHour", "2019-10-17 09-PM", nil, "2019-10-17T21:00:00Z", nil},
		{"SurroundingSpaces", "  2024-01-05  ", nil, "2024-01-05T00:00:00Z", nil},
		{"LeapDay", "2024-02-29", nil, "2024-02-29T00:00:00Z", nil},
		{"DayFirst", "27/11/2010", nil, "", errDayFirst},
		{"DayFirstShort", "13/1/2010", nil, "", errDayFirst},
		{"BadMonth", "2024-13-01", nil, "", errBadTimestamp},
		{"BadDay", "2024-04-31", nil, "", errBadTimestamp},
		{"NotLeap", "2023-02-29", nil, "", errBadTimestamp},
		{"BadHour", "2024-01-01 24:00:00", nil, "", errBadTimestamp},
		{"Garbage", "yesterday", nil, "", errBadTimestamp},
		{"Empty", "", nil, "", errBadTimestamp},
		{"TrailingJunk", "2024-01-05x", nil, "", errBadTimestamp},
		{"BadOffset", "2024-01-05 10:00:00+25:00", nil, "", errBadTimestamp},
		{"UnknownZone", "20240105 09:30:00 Mars/Base", nil, "", errUnknownZone},
		{"LocalZoneRefused", "20240105 09:30:00 Local", nil, "", errUnknownZone},
		{"OutOfRange", "1500-01-01", nil, "", errTimeRange},
		{"EightDigitsNotEpoch", "12345678", nil, "", errBadTimestamp},
		{"AMWithoutHour12Range", "3/4/2020 13:00 PM", nil, "", errBadTimestamp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTimestamp(tc.in, tc.loc)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("ParseTimestamp(%q) = %v, %v; want error %v", tc.in, time.Unix(0, got).UTC(), err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.in) {
					t.Errorf("error %q does not name the value", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTimestamp(%q): %v", tc.in, err)
			}
			want, _ := time.Parse(time.RFC3339Nano, tc.want)
			if got != want.UnixNano() {
				t.Errorf("ParseTimestamp(%q) = %s, want %s", tc.in, time.Unix(0, got).UTC().Format(time.RFC3339Nano), tc.want)
			}
		})
	}
}

// FuzzParseTimestamp: no panic; accepted values render and parse back to
// the same instant.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2024-01-05 09:30:00", "2015-09-23T20:57:42.146", "2022-01-03 00:00:00+08:00",
		"20240105  09:30:00 US/Eastern", "1637971200000", "1/5/2024 1:05 PM", "03-Jan-11", "2019-10-17 09-AM", "27/11/2010"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := ParseTimestamp(s, nil)
		if err != nil {
			return
		}
		r := string(appendCSVTimestamp(nil, ns))
		back, err := ParseTimestamp(r, nil)
		if err != nil || back != ns {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, ns, r, back, err)
		}
	})
}

func BenchmarkParseTimestamp(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := parseTimestamp("2024-01-05 09:30:00", nil); err != nil {
			b.Fatal(err)
		}
	}
}
