// Package cache keeps rendered view chunks (the CSV bytes of one row group of
// one partition file) in memory, bounded in bytes, using ristretto.
//
// A chunk key names immutable content: partition files are written once and
// never modified, so a key never needs invalidation; chunks of files that are
// gone simply age out. Concurrent misses on one key render it once
// (singleflight).
package cache
