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

// runAs is the user --user names, looked up before anything is opened.
type runAs struct {
	name     string
	uid, gid int
	u        *user.User
}

func lookupUser(name string) (*runAs, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("--user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("--user %s: uid %q gid %q are not numbers", name, u.Uid, u.Gid)
	}
	if e := os.Geteuid(); e != 0 && e != uid {
		return nil, fmt.Errorf("--user %s: only root can switch users (portclass runs as uid %d); drop --user, or run as root", name, e)
	}
	return &runAs{name: name, uid: uid, gid: gid, u: u}, nil
}

// drop makes the process run as the user, with its primary and supplementary groups,
// for good (all threads: Go's Setuid applies to every thread). The packet sockets stay
// open; files written afterwards (reports, --write) belong to the user, and the
// capabilities are gone.
func (r *runAs) drop(log zerolog.Logger) error {
	name, uid, gid, u := r.name, r.uid, r.gid, r.u
	if os.Geteuid() == uid {
		return nil
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
