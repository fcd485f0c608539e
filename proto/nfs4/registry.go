package nfs4

// The op table: each ops*.go file registers its ops from init().
var (
	argsTable = map[Op]func() Args{}
	resTable  = map[Op]func() Res{}
)

func register(op Op, newArgs func() Args, newRes func() Res) {
	if _, dup := argsTable[op]; dup {
		panic("nfs4: op registered twice: " + op.String())
	}
	argsTable[op] = newArgs
	resTable[op] = newRes
}

// NewArgs returns a fresh Args for op, or nil if op is not one we know.
func NewArgs(op Op) Args {
	if f := argsTable[op]; f != nil {
		return f()
	}
	return nil
}

// NewRes returns a fresh Res for op, or nil if op is not one we know.
func NewRes(op Op) Res {
	if f := resTable[op]; f != nil {
		return f()
	}
	return nil
}

func init() {
	register(OpPutFH, func() Args { return new(PutFHArgs) }, func() Res { return new(PutFHRes) })
	register(OpGetFH, func() Args { return new(GetFHArgs) }, func() Res { return new(GetFHRes) })
}
