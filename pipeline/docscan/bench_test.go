package docscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// logDoc is a typical ECS-style access log event of about 1 KiB: nested objects, an array,
// strings with a few escapes and some non-ASCII text, numbers, a timestamp and an id.
var logDoc = []byte(`{"@timestamp":"2024-05-14T09:26:53.123456Z","event":{"id":"7f3c2a91-5d4e-4b8a-9c61-2e0f4d8b1a37","kind":"event","category":["web","network"],"dataset":"nginx.access","duration":1234567,"outcome":"success"},"host":{"name":"web-03.prod.eu-west-1.example.com","ip":["10.0.3.17","fe80::1c2b:3aff:fe4d:5e6f"],"os":{"family":"linux","kernel":"6.1.0-18-amd64"}},"http":{"request":{"method":"GET","bytes":512,"referrer":"https://www.example.com/search?q=caf\u00e9+cr\u00e8me"},"response":{"status_code":200,"bytes":10432},"version":"1.1"},"url":{"original":"/api/v1/items?id=123&sort=desc&page=2","path":"/api/v1/items","query":"id=123&sort=desc&page=2"},"user_agent":{"original":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"},"message":"203.0.113.42 - - \"GET /api/v1/items?id=123 HTTP/1.1\" 200 10432 \"-\" \"Mozilla/5.0\"","log":{"level":"info","file":{"path":"/var/log/nginx/access.log"},"offset":88231},"source":{"ip":"203.0.113.42","port":51234,"geo":{"city_name":"Zürich","location":{"lat":47.3769,"lon":8.5417},"country_iso_code":"CH"}},"tags":["beats_input_codec_plain_applied"],"ok":true,"error":null}`)

var logSpec = Spec{ID: "event.id", Time: "@timestamp"}

func BenchmarkScan(b *testing.B) {
	s := Compile(logSpec)
	b.SetBytes(int64(len(logDoc)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := s.Scan(logDoc)
		if err != nil || f.ID.Kind != String || f.Time.Kind != String {
			b.Fatal(f, err)
		}
	}
}

// BenchmarkScanValidateOnly is Scan with nothing to extract: the floor of the validator.
func BenchmarkScanValidateOnly(b *testing.B) {
	s := Compile(Spec{})
	b.SetBytes(int64(len(logDoc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Scan(logDoc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONValid is the yardstick: encoding/json's validator on the same document.
func BenchmarkJSONValid(b *testing.B) {
	b.SetBytes(int64(len(logDoc)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(logDoc) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkParseTime(b *testing.B) {
	v := Value{Raw: []byte("2024-05-14T09:26:53.123456Z"), Kind: String}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseTime(v); !ok {
			b.Fatal("not parsed")
		}
	}
}

// ndjson builds a body of about size bytes of logDoc lines with varied ids.
func ndjson(size int) []byte {
	var buf bytes.Buffer
	for i := 0; buf.Len() < size; i++ {
		line := bytes.Replace(logDoc, []byte("7f3c2a91"), fmt.Appendf(nil, "%08x", i), 1)
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func BenchmarkLines(b *testing.B) {
	body := ndjson(5 << 20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_ = Lines(body, func(_ int, line []byte) error {
			n += len(line)
			return nil
		})
		if n == 0 {
			b.Fatal("no lines")
		}
	}
}

// BenchmarkLinesScan is the hot path end to end: split an NDJSON body and scan every line.
func BenchmarkLinesScan(b *testing.B) {
	body := ndjson(5 << 20)
	s := Compile(logSpec)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		err := Lines(body, func(_ int, line []byte) error {
			_, err := s.Scan(line)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchLogLine is shaped like the side-by-side benchmark's documents (bench/corpus): a
// timestamp, eleven short keyword and integer fields, and a free-text message filling the
// rest of 1 KiB. Long plain strings dominate it, where logDoc is mostly structure.
var benchLogLine = func() []byte {
	b := []byte(`{"@timestamp":"2026-11-25T00:00:01.234Z","service":"service-17","status":513,"host":"host-901","bytes":77,"region":"region-3","latency_ms":250,"level":"level-4","user_id":998,"method":"method-12","port":443,"path":"path-655","message":"`)
	words := []string{"GET", "request", "served", "upstream", "connection", "reset", "/api/v1/orders", "latency", "token", "expired"}
	for i := 0; len(b) < 1022; i++ {
		b = append(b, words[i%len(words)]...)
		b = append(b, ' ')
	}
	return append(b[:1022], `"}`...)
}()

// BenchmarkScanLogLine scans as weir's pipeline does by default: no id field, the time field
// @timestamp (found first, and then the rest is only validated).
func BenchmarkScanLogLine(b *testing.B) {
	s := Compile(Spec{Time: "@timestamp"})
	b.SetBytes(int64(len(benchLogLine)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Scan(benchLogLine); err != nil {
			b.Fatal(err)
		}
	}
}
