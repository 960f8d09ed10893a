package config

import (
	"encoding"
	"reflect"
	"strings"
	"time"
)

// ToMap renders a configuration struct as nested maps keyed by koanf tags, the way a file
// would write it: sizes and durations as text, secrets as [redacted].
func ToMap(v any) any {
	return toMap(reflect.ValueOf(v))
}

var durationType = reflect.TypeOf(time.Duration(0))

func toMap(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	if v.CanInterface() {
		if m, ok := v.Interface().(encoding.TextMarshaler); ok && v.Kind() != reflect.Struct {
			b, err := m.MarshalText()
			if err == nil {
				return string(b)
			}
		}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return toMap(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("koanf")
			name, opts, _ := strings.Cut(tag, ",")
			if opts == "squash" {
				if sub, ok := toMap(v.Field(i)).(map[string]any); ok {
					for k, x := range sub {
						out[k] = x
					}
				}
				continue
			}
			if name == "" || name == "-" {
				continue
			}
			out[name] = toMap(v.Field(i))
		}
		return out
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = toMap(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			out[k.String()] = toMap(v.MapIndex(k))
		}
		return out
	}
	return v.Interface()
}
