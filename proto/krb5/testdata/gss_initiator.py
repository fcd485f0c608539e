# GSS-API krb5 initiator driven over stdin/stdout by gss_interop_test.go.
# Each request is one line, each reply one line "OK ..." or "ERR ...".
# Byte strings are hex; "-" stands for an empty string.
import sys
import gssapi

def unhex(s):
    return b"" if s == "-" else bytes.fromhex(s)

def tohex(b):
    return b.hex() if b else "-"

def reply(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()

target = gssapi.Name(sys.argv[1], gssapi.NameType.hostbased_service)
# Like pynfs rpc/security.py: mutual authentication only, no sequence flag.
# A second argument "nomutual" asks for integrity only: no AP-REP (an empty
# flag set would make python-gssapi fall back to its defaults).
want = [gssapi.RequirementFlag.integrity] if sys.argv[2:] == ["nomutual"] else [gssapi.RequirementFlag.mutual_authentication]
flags = gssapi.IntEnumFlagSet(gssapi.RequirementFlag, want)
try:
    ctx = gssapi.SecurityContext(name=target, flags=flags, usage="initiate")
    reply("OK " + tohex(ctx.step()))
except Exception as e:
    reply("ERR %s" % e)
    sys.exit(1)

for line in sys.stdin:
    f = line.split()
    if not f:
        continue
    try:
        if f[0] == "STEP":
            out = ctx.step(unhex(f[1]))
            reply("OK %d %s" % (int(ctx.complete), tohex(out)))
        elif f[0] == "MIC":
            reply("OK " + tohex(ctx.get_signature(unhex(f[1]))))
        elif f[0] == "VERIFY":
            ctx.verify_signature(unhex(f[1]), unhex(f[2]))
            reply("OK")
        elif f[0] == "WRAP":
            r = ctx.wrap(unhex(f[2]), f[1] == "1")
            reply("OK %s %d" % (tohex(r.message), int(r.encrypted)))
        elif f[0] == "UNWRAP":
            r = ctx.unwrap(unhex(f[1]))
            reply("OK %s %d" % (tohex(r.message), int(r.encrypted)))
        elif f[0] == "COMPLETE":
            reply("OK %d" % int(ctx.complete))
        elif f[0] == "NAME":
            reply("OK %s" % ctx.initiator_name)
        else:
            reply("ERR unknown command")
    except Exception as e:
        reply("ERR " + str(e).replace("\n", " "))
