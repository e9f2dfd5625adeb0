package dedupmerge

import "errors"

// ErrStrategy: a dedup strategy name that is not one of the known strategies.
var ErrStrategy = errors.New("unknown dedup strategy")
