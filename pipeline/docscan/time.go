package docscan

import (
	"math"
	"strconv"
	"time"
)

// ParseTime reads a timestamp field. It accepts:
//
//   - strings "2006-01-02", or that date, then 'T', 't' or ' ', then "15:04:05", optionally
//     a fraction of a second ('.' or ',' then digits; beyond nanoseconds they are dropped),
//     optionally a zone: 'Z', 'z', "+07:00" or "+0700". No zone means UTC. This covers
//     RFC 3339 (nano), "2006-01-02T15:04:05.000Z" and "2006-01-02 15:04:05".
//   - numbers, as epoch milliseconds, or as epoch seconds when their magnitude is below 1e11
//     (1e11 ms is in 1973, 1e11 s in year 5138, so the two cannot be confused for real data).
//
// The result is the instant in UTC: the offset written in the document is not kept, since
// index date math needs only the instant and a *time.Location per call would allocate.
// Strings are parsed by hand, without time.Parse, and nothing allocates.
func ParseTime(v Value) (time.Time, bool) {
	switch v.Kind {
	case String:
		if !v.Escaped {
			return parseTimeText(v.Raw)
		}
		// Escaped timestamps are odd but legal JSON. Decoding never grows the text, so a
		// stack buffer as long as the raw text keeps this free of allocations; anything
		// longer is no timestamp this function reads.
		var buf [64]byte
		if len(v.Raw) > len(buf) {
			return time.Time{}, false
		}
		b, err := Unescape(buf[:0], v.Raw)
		if err != nil {
			return time.Time{}, false
		}
		return parseTimeText(b)
	case Number:
		return parseEpoch(v.Raw)
	}
	return time.Time{}, false
}

func parseTimeText(b []byte) (time.Time, bool) {
	var bad bool
	num := func(b []byte) int {
		v := 0
		for _, c := range b {
			if !isDigit(c) {
				bad = true
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return time.Time{}, false
	}
	year, month, day := num(b[0:4]), num(b[5:7]), num(b[8:10])
	if bad || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) {
		return time.Time{}, false
	}
	if len(b) == 10 {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), true
	}
	if len(b) < 19 || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	hour, minute, sec := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if bad || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if i < len(b) && (b[i] == '.' || b[i] == ',') {
		i++
		digits := 0
		for ; i < len(b) && isDigit(b[i]); i++ {
			if digits < 9 {
				nsec = nsec*10 + int(b[i]-'0')
				digits++
			}
		}
		if digits == 0 {
			return time.Time{}, false
		}
		for ; digits < 9; digits++ {
			nsec *= 10
		}
	}
	offset := 0
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			z := b[i+1:]
			var zh, zm int
			switch {
			case len(z) == 5 && z[2] == ':':
				zh, zm = num(z[0:2]), num(z[3:5])
			case len(z) == 4:
				zh, zm = num(z[0:2]), num(z[2:4])
			default:
				return time.Time{}, false
			}
			if bad || zh > 23 || zm > 59 {
				return time.Time{}, false
			}
			offset = (zh*60 + zm) * 60
			if b[i] == '-' {
				offset = -offset
			}
			i = len(b)
		}
	}
	if i != len(b) {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// secondsBelow is where epoch numbers stop being read as seconds and start being milliseconds.
const secondsBelow = 1e11

func parseEpoch(raw []byte) (time.Time, bool) {
	if v, ok := parseInt(raw); ok {
		if -secondsBelow < v && v < secondsBelow {
			return time.Unix(v, 0).UTC(), true
		}
		return time.UnixMilli(v).UTC(), true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) >= 1e18 {
		return time.Time{}, false
	}
	if math.Abs(f) < secondsBelow {
		s := math.Floor(f)
		return time.Unix(int64(s), int64(math.Round((f-s)*1e9))).UTC(), true
	}
	ms := math.Floor(f)
	return time.UnixMilli(int64(ms)).Add(time.Duration(math.Round((f - ms) * 1e6))).UTC(), true
}

// parseInt reads a plain integer of at most 18 digits, which cannot overflow.
func parseInt(raw []byte) (int64, bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	if len(raw) == 0 || len(raw) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range raw {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}
