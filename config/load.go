// Package config loads weir's configuration: a YAML file (or the bundled default), then
// environment overrides (WEIR_ prefix), then --set flags, decoded onto each component's
// defaults with unknown keys refused, then validated as a whole so that every problem is
// reported at once with its key path.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	envprovider "github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment override. Nesting uses a double underscore because keys
// hold single ones: WEIR_PIPELINE__QUEUE_BYTES=128MiB sets pipeline.queue_bytes.
const EnvPrefix = "WEIR_"

// Source says where configuration comes from, in increasing precedence.
type Source struct {
	// YAML is the file's content; Name names it in errors.
	YAML []byte
	Name string
	// Environ is the environment (os.Environ() in the binary; injected in tests).
	Environ []string
	// Sets are key=value overrides from flags, e.g. "pipeline.workers=4".
	Sets []string
}

// ReadFile loads a configuration file into a Source.
func ReadFile(path string) (Source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Source{}, fmt.Errorf("config: %w", err)
	}
	return Source{YAML: b, Name: path}, nil
}

// Decode layers src onto dst, which holds the defaults. Unknown keys and values of the wrong
// type are errors, all of them reported together.
func Decode(src Source, dst any) error {
	k := koanf.New(".")
	if len(src.YAML) > 0 {
		if err := k.Load(rawbytes.Provider(src.YAML), yaml.Parser()); err != nil {
			return fmt.Errorf("%s: %w", nameOr(src.Name), err)
		}
	}
	if src.Environ != nil {
		env := envprovider.Provider(".", envprovider.Opt{
			Prefix:      EnvPrefix,
			EnvironFunc: func() []string { return src.Environ },
			TransformFunc: func(key, val string) (string, any) {
				key = strings.TrimPrefix(key, EnvPrefix)
				if key == "" || !strings.Contains(key, "__") && !isTopLevelScalar(dst, key) {
					// WEIR_ variables that are not configuration (WEIR_TEST_*, for instance).
					return "", nil
				}
				return strings.ToLower(strings.ReplaceAll(key, "__", ".")), envValue(val)
			},
		})
		if err := k.Load(env, nil); err != nil {
			return fmt.Errorf("environment: %w", err)
		}
	}
	if len(src.Sets) > 0 {
		m := map[string]any{}
		for _, s := range src.Sets {
			key, val, ok := strings.Cut(s, "=")
			if !ok || strings.TrimSpace(key) == "" {
				return fmt.Errorf("--set %q: want key=value", s)
			}
			m[strings.TrimSpace(key)] = envValue(val)
		}
		if err := k.Load(confmap.Provider(m, "."), nil); err != nil {
			return fmt.Errorf("--set: %w", err)
		}
	}
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.TextUnmarshallerHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		TagName:          "koanf",
	}
	err := k.UnmarshalWithConf("", dst, koanf.UnmarshalConf{DecoderConfig: dc})
	var errs []error
	if err != nil {
		errs = append(errs, unwrapDecodeErrors(err)...)
	}
	// Unknown keys are found by walking the struct rather than from the decoder's
	// metadata, which stops collecting them at the first type error.
	for _, u := range unknownKeys(k.Keys(), reflect.TypeOf(dst)) {
		errs = append(errs, fmt.Errorf("%s: unknown key", u))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %w", nameOr(src.Name), errors.Join(errs...))
	}
	return nil
}

func nameOr(n string) string {
	if n == "" {
		return "config"
	}
	return n
}

// envValue keeps strings as strings: the decoder converts them to the field's type, which
// gives "pipeline.workers: cannot parse 'x' as int" rather than a YAML surprise.
func envValue(v string) any { return v }

func isTopLevelScalar(dst any, key string) bool {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.EqualFold(f.Tag.Get("koanf"), key) && f.Type.Kind() != reflect.Struct {
			return true
		}
	}
	return false
}

// unwrapDecodeErrors turns mapstructure's one multi-line error into one error per problem,
// in the same "key: message" shape as validation errors.
func unwrapDecodeErrors(err error) []error {
	var out []error
	for _, e := range flatten(err) {
		msg := e.Error()
		if !strings.HasPrefix(msg, "decoding failed due to the following error(s):") {
			out = append(out, e)
			continue
		}
		for _, line := range strings.Split(msg, "\n")[1:] {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if strings.HasPrefix(line, "'") {
				if k, rest, ok := strings.Cut(line[1:], "' "); ok {
					line = k + ": " + rest
				}
			}
			out = append(out, errors.New(line))
		}
	}
	return out
}

// Prefix adds a key path to every error joined in err, for component Validate results.
func Prefix(path string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		out = append(out, fmt.Errorf("%s.%w", path, e))
	}
	return errors.Join(out...)
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// unknownKeys returns, sorted and once each, the shortest prefix of every key that names no
// field of t (matched by koanf tag; squashed structs count as their parent).
func unknownKeys(keys []string, t reflect.Type) []string {
	seen := map[string]bool{}
	var out []string
	for _, key := range keys {
		parts := strings.Split(key, ".")
		cur := t
		for i, part := range parts {
			for cur.Kind() == reflect.Pointer {
				cur = cur.Elem()
			}
			if cur.Kind() != reflect.Struct {
				break // maps, slices and scalars take what they are given
			}
			f, ok := fieldByTag(cur, part)
			if !ok {
				p := strings.Join(parts[:i+1], ".")
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
				break
			}
			cur = f
		}
	}
	sort.Strings(out)
	return out
}

func fieldByTag(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if opts == "squash" {
			if ft, ok := fieldByTag(f.Type, name); ok {
				return ft, true
			}
			continue
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}
