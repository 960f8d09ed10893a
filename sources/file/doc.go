// Package file reads the finite inputs of a backfill (`weir backfill`): local files, glob
// patterns and directories, standard input, and every object under an S3 prefix. Each
// input is NDJSON, a JSON array, or a CloudTrail-style {"Records":[...]} object, plain or
// gzip (told by its magic bytes), and is streamed in chunks of whole documents so that
// memory stays bounded whatever its size.
//
// Every document carries Source "backfill", Key = the input's name (absolute path or
// s3://bucket/key) and Offset = its line number (NDJSON, from 1) or element index (arrays,
// from 0), and asks for a position id: reading an input twice writes the same _ids, which
// is what makes resuming after a crash harmless.
//
// A Job keeps a Checkpoint of what is delivered: inputs finished (recognised by size and
// mtime or ETag) and, for an input read part of the way, the offset right after the last
// chunk delivered along with every chunk before it, together with the line number there,
// so that numbering continues from it when the next run resumes.
package file
