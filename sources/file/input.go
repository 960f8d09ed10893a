package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// StdinName is the input name of standard input on the command line.
const StdinName = "-"

// Input is one thing a backfill reads: a local file, standard input, or an S3 object.
type Input struct {
	// Name identifies the input in the checkpoint, in logs and as the documents' Record.Key:
	// an absolute path, "-" for standard input, or s3://bucket/key.
	Name string
	// Path is a local file's path.
	Path string
	// Bucket and Key name an S3 object.
	Bucket, Key string
	// Size is the stored size in bytes (compressed, if it is); -1 when unknown (stdin).
	Size int64
	// ModTime (local files) and ETag (S3 objects) tell a changed input from the one a
	// checkpoint recorded.
	ModTime time.Time
	ETag    string
}

// IsStdin reports whether the input is standard input.
func (in Input) IsStdin() bool { return in.Name == StdinName }

// Resumable reports whether a checkpoint can track the input: it can be read again and
// told apart from a changed version of itself.
func (in Input) Resumable() bool { return in.Size >= 0 && !in.IsStdin() }

// IsS3 reports whether the input is an S3 object.
func (in Input) IsS3() bool { return in.Bucket != "" }

// S3Lister is what Expand calls of S3 (*s3.Client).
type S3Lister interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ S3Lister = (*s3.Client)(nil)

// IsS3URI reports whether arg names S3 objects (s3://bucket/prefix).
func IsS3URI(arg string) bool { return strings.HasPrefix(arg, "s3://") }

// ParseS3URI splits s3://bucket/prefix. The prefix may be empty (the whole bucket).
func ParseS3URI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q: not an s3:// URI", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q: names no bucket (want s3://bucket/prefix)", uri)
	}
	return bucket, prefix, nil
}

// S3Name is an object's input name.
func S3Name(bucket, key string) string { return "s3://" + bucket + "/" + key }

// Expand turns command-line inputs into the list to read, in order, without duplicates:
// "-" is standard input; s3://bucket/prefix is every object under the prefix (listed with
// ListObjectsV2; "folder" markers ending in "/" are left out); a pattern with *, ? or [ is
// a glob; a directory is every regular file under it; anything else is a file. An argument
// that matches nothing is an error: a typo should not make a backfill that "succeeded".
func Expand(ctx context.Context, args []string, lister S3Lister) ([]Input, error) {
	var out []Input
	seen := map[string]bool{}
	add := func(in Input) {
		if !seen[in.Name] {
			seen[in.Name] = true
			out = append(out, in)
		}
	}
	var errs []error
	for _, arg := range args {
		switch {
		case arg == StdinName:
			add(Input{Name: StdinName, Size: -1})
		case IsS3URI(arg):
			if lister == nil {
				errs = append(errs, fmt.Errorf("%s: no S3 client", arg))
				continue
			}
			objs, err := listS3(ctx, lister, arg)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, o := range objs {
				add(o)
			}
		default:
			files, err := expandLocal(arg)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, f := range files {
				add(f)
			}
		}
	}
	return out, errors.Join(errs...)
}

func listS3(ctx context.Context, lister S3Lister, uri string) ([]Input, error) {
	bucket, prefix, err := ParseS3URI(uri)
	if err != nil {
		return nil, err
	}
	var out []Input
	pages := s3.NewListObjectsV2Paginator(lister, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: list objects: %w", uri, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if key == "" || strings.HasSuffix(key, "/") {
				continue
			}
			out = append(out, Input{
				Name:   S3Name(bucket, key),
				Bucket: bucket,
				Key:    key,
				Size:   aws.ToInt64(o.Size),
				ETag:   strings.Trim(aws.ToString(o.ETag), `"`),
			})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no objects under this prefix", uri)
	}
	return out, nil
}

func expandLocal(arg string) ([]Input, error) {
	paths := []string{arg}
	if strings.ContainsAny(arg, "*?[") {
		m, err := filepath.Glob(arg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%s: no file matches", arg)
		}
		paths = m
	}
	var out []Input
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			in, err := localInput(p, st)
			if err != nil {
				return nil, err
			}
			out = append(out, in)
			continue
		}
		err = filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			in, err := localInput(path, info)
			if err == nil {
				out = append(out, in)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no regular file", arg)
	}
	return out, nil
}

func localInput(path string, st fs.FileInfo) (Input, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Input{}, err
	}
	if !st.Mode().IsRegular() {
		// A pipe or a device (bash's <(zcat …)): readable once, so neither sized nor resumable.
		return Input{Name: abs, Path: abs, Size: -1}, nil
	}
	return Input{Name: abs, Path: abs, Size: st.Size(), ModTime: st.ModTime().UTC()}, nil
}
