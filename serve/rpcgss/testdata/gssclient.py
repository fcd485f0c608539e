#!/usr/bin/env python3
"""RPCSEC_GSS client for e2e_test.go, on the MIT library (python3-gssapi).

gssclient.py HOST PORT: creates a context with nfs@localhost, sends an NFSv4
COMPOUND {PUTROOTFH, GETFH} with each service, replays a seq_num, destroys
the context and uses it once more. Prints one line per check: "name value".
"""
import socket, struct, sys
import gssapi

host, port = sys.argv[1], int(sys.argv[2])
sock = socket.create_connection((host, port))
sock.settimeout(5)
xid = 0x1000

def opaque(b):
    return struct.pack('>I', len(b)) + b + b'\0' * ((4 - len(b) % 4) % 4)

def recv_exact(n):
    out = b''
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out

def recv_record():
    rec = b''
    while True:
        mark, = struct.unpack('>I', recv_exact(4))
        rec += recv_exact(mark & 0x7fffffff)
        if mark & 0x80000000:
            return rec

class R:
    def __init__(self, b):
        self.b, self.o = b, 0
    def u32(self):
        v, = struct.unpack_from('>I', self.b, self.o); self.o += 4; return v
    def opaque(self):
        n = self.u32(); v = self.b[self.o:self.o + n]; self.o += (n + 3) & ~3; return v
    def rest(self):
        return self.b[self.o:]

def call(proc, cred, verf_fn, args, expect_reply=True):
    """Sends a CALL to NFS v4; returns (kind, ...) of the reply or None."""
    global xid
    xid += 1
    hdr = struct.pack('>IIIIII', xid, 0, 2, 100003, 4, proc) + struct.pack('>I', 6) + opaque(cred)
    vfl, vbody = verf_fn(hdr)
    msg = hdr + struct.pack('>I', vfl) + opaque(vbody) + args
    sock.sendall(struct.pack('>I', 0x80000000 | len(msg)) + msg)
    if not expect_reply:
        sock.settimeout(1)
        try:
            recv_record()
            return ('reply',)
        except socket.timeout:
            return None
        finally:
            sock.settimeout(5)
    r = R(recv_record())
    assert r.u32() == xid and r.u32() == 1
    if r.u32() == 1:  # MSG_DENIED
        assert r.u32() == 1  # AUTH_ERROR
        return ('denied', r.u32())
    vfl, vbody = r.u32(), r.opaque()
    return ('accepted', r.u32(), vfl, vbody, r.rest())

def cred(proc, seq, svc, handle):
    return struct.pack('>IIII', 1, proc, seq, svc) + opaque(handle)

ctx = gssapi.SecurityContext(name=gssapi.Name('nfs@localhost', gssapi.NameType.hostbased_service),
                             flags=[gssapi.RequirementFlag.mutual_authentication], usage='initiate')
tok = ctx.step()
rep = call(0, cred(1, 0, 1, b''), lambda h: (0, b''), opaque(tok))
assert rep[0] == 'accepted' and rep[1] == 0, rep
r = R(rep[4])
handle, major, minor, window, out = r.opaque(), r.u32(), r.u32(), r.u32(), r.opaque()
print('init_major', major)
if out:
    ctx.step(out)
print('complete', ctx.complete)
ctx.verify_signature(struct.pack('>I', window), rep[3])  # raises if bad
print('init_verf ok')

# COMPOUND4args {tag "", minorversion 0, {PUTROOTFH, GETFH}}
compound = opaque(b'') + struct.pack('>IIII', 0, 2, 24, 10)
seq = 0
for svc, name in ((1, 'none'), (2, 'integrity'), (3, 'privacy')):
    seq += 1
    body = struct.pack('>I', seq) + compound
    if svc == 1:
        args = compound
    elif svc == 2:
        args = opaque(body) + opaque(ctx.get_signature(body))
    else:
        args = opaque(ctx.wrap(body, True).message)
    c = cred(0, seq, svc, handle)
    rep = call(1, c, lambda h: (6, ctx.get_signature(h)), args)
    assert rep[0] == 'accepted' and rep[1] == 0, rep
    ctx.verify_signature(struct.pack('>I', seq), rep[3])
    res = rep[4]
    if svc == 2:
        r = R(res); data = r.opaque(); ctx.verify_signature(data, r.opaque())
        assert data[:4] == struct.pack('>I', seq); res = data[4:]
    elif svc == 3:
        r = R(res); u = ctx.unwrap(r.opaque()); assert u.encrypted
        assert u.message[:4] == struct.pack('>I', seq); res = u.message[4:]
    print('status_' + name, struct.unpack('>I', res[:4])[0])

# Replay of the last seq_num (a fresh xid, same credential): dropped.
c = cred(0, seq, 2, handle)
body = struct.pack('>I', seq) + compound
rep = call(1, c, lambda h: (6, ctx.get_signature(h)), opaque(body) + opaque(ctx.get_signature(body)), expect_reply=False)
print('replay', 'dropped' if rep is None else 'answered')

seq += 1
rep = call(0, cred(3, seq, 1, handle), lambda h: (6, ctx.get_signature(h)), b'')
print('destroy', rep[0], rep[1])
seq += 1
rep = call(0, cred(0, seq, 1, handle), lambda h: (6, ctx.get_signature(h)), b'')
print('after_destroy', rep[0], rep[1])
