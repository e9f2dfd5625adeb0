package main

import (
	"fmt"
	"math"
	"strconv"

	"bcfs/fusefs"
)

// sharing sets the owner and mode options (--uid, --gid, --umask).
func (o mountOptions) sharing(f *fusefs.Options) error {
	for _, id := range []struct {
		flag string
		v    int64
		dst  **uint32
	}{{"--uid", o.UID, &f.UID}, {"--gid", o.GID, &f.GID}} {
		if id.v == -1 {
			continue
		}
		if id.v < 0 || id.v > math.MaxUint32-1 {
			return usageError{fmt.Errorf("%s %d: want a number from 0 to %d", id.flag, id.v, uint32(math.MaxUint32-1))}
		}
		u := uint32(id.v)
		*id.dst = &u
	}
	if o.Umask != "" {
		m, err := strconv.ParseUint(o.Umask, 8, 32)
		if err != nil || m > 0o777 {
			return usageError{fmt.Errorf("--umask %q: want octal permission bits such as 022 or 002", o.Umask)}
		}
		u := uint32(m)
		f.Umask = &u
	}
	return nil
}
