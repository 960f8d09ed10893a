package docscan_test

import (
	"fmt"

	"github.com/weir-ingest/weir/pipeline/docscan"
)

func Example() {
	s := docscan.Compile(docscan.Spec{ID: "event.id", Time: "@timestamp"})
	body := []byte(`{"@timestamp":"2024-05-14T09:26:53.123Z","event":{"id":"e-\u0031"},"msg":"ok"}
{"@timestamp":1715678813123,"event.id":"e-2"}

{"event":{"id":"e-3"},"bad":[1,]}
`)
	_ = docscan.Lines(body, func(lineNo int, line []byte) error {
		f, err := s.Scan(line)
		if err != nil {
			fmt.Printf("line %d: %v\n", lineNo, err)
			return nil
		}
		id := f.ID.Raw
		if f.ID.Escaped {
			id, _ = docscan.Unescape(nil, id)
		}
		ts, _ := docscan.ParseTime(f.Time)
		fmt.Printf("line %d: id=%s time=%s\n", lineNo, id, ts.Format("2006-01-02T15:04:05.000Z07:00"))
		return nil
	})
	// Output:
	// line 1: id=e-1 time=2024-05-14T09:26:53.123Z
	// line 2: id=e-2 time=2024-05-14T09:26:53.123Z
	// line 4: invalid JSON at byte 31: trailing comma in array
}
