package mount

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// MaxAuthSysGroups is the limit on supplementary groups in an AUTH_SYS
// credential (RFC 5531 Appendix A: gids<16>).
const MaxAuthSysGroups = 16

// withCaller returns ctx carrying the FUSE caller's identity as the
// AUTH_SYS credential of the requests made with it: uid, gid and the
// caller's supplementary groups, so the server can grant group access
// through any of them (as the kernel NFS client does). FUSE passes only
// uid, gid and pid; the groups come from /proc/PID/status. Contexts that
// are not FUSE requests are returned as they are (Client.Cred applies).
func withCaller(ctx context.Context, machine string) context.Context {
	c, ok := ctx.(*fuse.Context)
	if !ok {
		return ctx
	}
	return nfs4client.WithCred(ctx, rpc.NewAuthSys(rpc.AuthSysParams{
		MachineName: machine,
		UID:         c.Caller.Uid,
		GID:         c.Caller.Gid,
		GIDs:        callerGroups.get(c.Caller.Pid, c.Caller.Uid, c.Caller.Gid),
	}))
}

// groupCache remembers each caller's groups for a short time: a FUSE
// request costs a /proc read otherwise, and one cp issues thousands. The
// key includes uid and gid, so a process that changes identity (or a pid
// reused by another user's process) is looked up afresh; a setgroups()
// without a uid/gid change is seen after at most the TTL.
type groupCache struct {
	mu  sync.Mutex
	m   map[groupKey]groupEntry
	ttl time.Duration
	max int
	// proc is the procfs root; a test may point it elsewhere.
	proc string
	now  func() time.Time
}

type groupKey struct{ pid, uid, gid uint32 }

type groupEntry struct {
	gids []uint32
	at   time.Time
}

var callerGroups = &groupCache{ttl: time.Second, max: 4096, proc: "/proc", now: time.Now}

// get returns the supplementary groups of process pid acting as uid/gid,
// at most MaxAuthSysGroups of them, without gid itself; nil when pid is 0
// (the kernel sends no pid, e.g. for a caller in another pid namespace),
// the process is gone, or it no longer acts as uid/gid.
func (g *groupCache) get(pid, uid, gid uint32) []uint32 {
	if pid == 0 {
		return nil
	}
	k := groupKey{pid, uid, gid}
	now := g.now()
	g.mu.Lock()
	e, ok := g.m[k]
	g.mu.Unlock()
	if ok && now.Sub(e.at) < g.ttl {
		return e.gids
	}
	gids := g.read(pid, uid, gid)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = make(map[groupKey]groupEntry)
	}
	if len(g.m) >= g.max {
		// Drop what has expired; if the table is still full (a burst of
		// short-lived processes), start over rather than grow.
		for k2, e2 := range g.m {
			if now.Sub(e2.at) >= g.ttl {
				delete(g.m, k2)
			}
		}
		if len(g.m) >= g.max {
			clear(g.m)
		}
	}
	g.m[k] = groupEntry{gids: gids, at: now}
	return gids
}

// read parses /proc/PID/status (a thread id works too: FUSE gives the
// calling thread's). The filesystem ids (fourth field of Uid:/Gid:) are
// the ones the kernel put in the request, so they must match: otherwise
// the pid now belongs to someone else.
func (g *groupCache) read(pid, uid, gid uint32) []uint32 {
	data, err := os.ReadFile(g.proc + "/" + strconv.FormatUint(uint64(pid), 10) + "/status")
	if err != nil {
		return nil
	}
	return parseStatusGroups(data, uid, gid)
}

// parseStatusGroups extracts the Groups: line of a /proc/PID/status file
// whose filesystem uid/gid are uid/gid; see groupCache.read.
func parseStatusGroups(data []byte, uid, gid uint32) []uint32 {
	var groups []byte
	var idsOK int
	for line := range bytes.Lines(data) {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(key) {
		case "Uid", "Gid":
			want := uid
			if key[0] == 'G' {
				want = gid
			}
			f := bytes.Fields(val)
			if len(f) != 4 {
				return nil
			}
			if id, err := strconv.ParseUint(string(f[3]), 10, 32); err != nil || uint32(id) != want {
				return nil
			}
			idsOK++
		case "Groups":
			groups = val
		}
	}
	if idsOK != 2 {
		return nil
	}
	var gids []uint32
	for _, f := range bytes.Fields(groups) {
		id, err := strconv.ParseUint(string(f), 10, 32)
		if err != nil {
			return nil
		}
		if uint32(id) == gid {
			continue // already the credential's gid; keep the slot
		}
		gids = append(gids, uint32(id))
		if len(gids) == MaxAuthSysGroups {
			break
		}
	}
	return gids
}
