//go:build unix

package main

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/rs/zerolog"
)

// dropPrivileges makes the process run as user name, with its primary and
// supplementary groups, for good (all threads: Go's Setuid applies to every thread).
// The packet sockets stay open; files written afterwards (reports, --write) belong
// to name, and the capabilities are gone.
func dropPrivileges(name string, log zerolog.Logger) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("--user %s: uid %q gid %q are not numbers", name, u.Uid, u.Gid)
	}
	if os.Geteuid() != 0 {
		if os.Geteuid() == uid {
			return nil
		}
		return fmt.Errorf("--user %s: only root can switch users (portclass runs as uid %d); drop --user, or run as root", name, os.Geteuid())
	}
	groups := []int{gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.Atoi(g); err == nil && n != gid {
				groups = append(groups, n)
			}
		}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("--user %s: setgroups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("--user %s: setgid %d: %w", name, gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("--user %s: setuid %d: %w", name, uid, err)
	}
	if os.Geteuid() != uid || os.Getegid() != gid {
		return fmt.Errorf("--user %s: still uid %d gid %d after setuid", name, os.Geteuid(), os.Getegid())
	}
	log.Info().Str("user", name).Int("uid", uid).Int("gid", gid).Msg("dropped root privileges")
	return nil
}
