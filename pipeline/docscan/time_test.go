package docscan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return tm.UTC()
	}
	tests := []struct {
		name string
		v    Value
		want time.Time // zero: refused
	}{
		{"RFC 3339", str("2024-05-14T09:26:53Z", false), utc("2024-05-14T09:26:53Z")},
		{"RFC 3339 nano", str("2024-05-14T09:26:53.123456789Z", false), utc("2024-05-14T09:26:53.123456789Z")},
		{"millis", str("2024-05-14T09:26:53.120Z", false), utc("2024-05-14T09:26:53.12Z")},
		{"offset", str("2024-05-14T09:26:53+02:00", false), utc("2024-05-14T07:26:53Z")},
		{"negative offset", str("2024-05-14T23:26:53.5-05:30", false), utc("2024-05-15T04:56:53.5Z")},
		{"offset without colon", str("2024-05-14T09:26:53.000+0200", false), utc("2024-05-14T07:26:53Z")},
		{"lower case", str("2024-05-14t09:26:53z", false), utc("2024-05-14T09:26:53Z")},
		{"comma fraction", str("2024-05-14T09:26:53,25Z", false), utc("2024-05-14T09:26:53.25Z")},
		{"more than nanoseconds", str("2024-05-14T09:26:53.1234567891234Z", false), utc("2024-05-14T09:26:53.123456789Z")},
		{"space, no zone", str("2024-05-14 09:26:53", false), utc("2024-05-14T09:26:53Z")},
		{"T, no zone", str("2024-05-14T09:26:53", false), utc("2024-05-14T09:26:53Z")},
		{"date only", str("2024-05-14", false), utc("2024-05-14T00:00:00Z")},
		{"leap day", str("2024-02-29", false), utc("2024-02-29T00:00:00Z")},
		{"escaped", str(`2024-05-14\u005409:26:53Z`, true), utc("2024-05-14T09:26:53Z")},
		{"epoch millis", raw("1715678813123", Number), utc("2024-05-14T09:26:53.123Z")},
		{"epoch seconds", raw("1715678813", Number), utc("2024-05-14T09:26:53Z")},
		{"epoch seconds fraction", raw("1715678813.25", Number), utc("2024-05-14T09:26:53.25Z")},
		{"epoch millis fraction", raw("1715678813123.5", Number), utc("2024-05-14T09:26:53.1235Z")},
		{"epoch millis exponent", raw("1.715678813123e12", Number), utc("2024-05-14T09:26:53.123Z")},
		{"epoch zero", raw("0", Number), time.Unix(0, 0).UTC()},
		{"negative seconds", raw("-86400", Number), utc("1969-12-31T00:00:00Z")},
		{"boundary is millis", raw("100000000000", Number), time.UnixMilli(1e11).UTC()},
		{"below boundary is seconds", raw("99999999999", Number), time.Unix(99999999999, 0).UTC()},

		{"not a leap year", str("2023-02-29", false), time.Time{}},
		{"month 13", str("2024-13-01", false), time.Time{}},
		{"day 31 in April", str("2024-04-31", false), time.Time{}},
		{"hour 24", str("2024-05-14T24:00:00Z", false), time.Time{}},
		{"leap second", str("2024-06-30T23:59:60Z", false), time.Time{}},
		{"no seconds", str("2024-05-14T09:26Z", false), time.Time{}},
		{"empty fraction", str("2024-05-14T09:26:53.Z", false), time.Time{}},
		{"bad zone", str("2024-05-14T09:26:53+2", false), time.Time{}},
		{"zone hour 24", str("2024-05-14T09:26:53+24:00", false), time.Time{}},
		{"trailing text", str("2024-05-14T09:26:53Zx", false), time.Time{}},
		{"signed digits", str("2024-+5-14", false), time.Time{}},
		{"bad separator", str("2024-05-14X09:26:53Z", false), time.Time{}},
		{"text", str("yesterday", false), time.Time{}},
		{"empty", str("", false), time.Time{}},
		{"huge number", raw("1e300", Number), time.Time{}},
		{"bool", raw("true", Bool), time.Time{}},
		{"absent", Value{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseTime(tt.v)
			assert.Equal(t, !tt.want.IsZero(), ok)
			assert.True(t, tt.want.Equal(got), "got %v, want %v", got, tt.want)
			if ok {
				assert.Equal(t, time.UTC, got.Location())
			}
		})
	}
}

func TestParseTimeAllocs(t *testing.T) {
	for _, v := range []Value{
		str("2024-05-14T09:26:53.123456Z", false),
		str("2024-05-14T09:26:53+02:00", false),
		str(`2024-05-14\u005409:26:53Z`, true),
		raw("1715678813123", Number),
		raw("1715678813.25", Number),
	} {
		assert.Zero(t, testing.AllocsPerRun(50, func() { ParseTime(v) }), string(v.Raw))
	}
}
