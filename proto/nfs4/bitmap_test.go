package nfs4

import "testing"

func TestBitmapSubsetOf(t *testing.T) {
	bm := func(bits ...int) Bitmap {
		var b Bitmap
		for _, n := range bits {
			b.Set(n)
		}
		return b
	}
	for _, c := range []struct {
		a, b Bitmap
		want bool
	}{
		{nil, nil, true},
		{nil, bm(3), true},
		{bm(3), nil, false},
		{bm(3, 40), bm(3, 40, 70), true},
		{bm(3, 70), bm(3, 40), false},  // a longer than b
		{Bitmap{0, 0, 0}, bm(1), true}, // zero words beyond b
		{bm(33), bm(1), false},
	} {
		if got := c.a.SubsetOf(c.b); got != c.want {
			t.Errorf("%v.SubsetOf(%v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
