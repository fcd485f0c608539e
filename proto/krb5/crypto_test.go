package krb5

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"strings"
	"testing"
)

func hx(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// RFC 3961 appendix A.1.
func TestNFold(t *testing.T) {
	cases := []struct {
		in   string
		bits int
		want string
	}{
		{"012345", 64, "be072631276b1955"},
		{"password", 56, "78a07b6caf85fa"},
		{"Rough Consensus, and Running Code", 64, "bb6ed30870b7f0e0"},
		{"password", 168, "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"},
		{"MASSACHVSETTS INSTITVTE OF TECHNOLOGY", 192, "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b"},
		{"Q", 168, "518a54a215a8452a518a54a215a8452a518a54a215"},
		{"ba", 168, "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"},
		{"kerberos", 64, "6b65726265726f73"},
		{"kerberos", 128, "6b65726265726f737b9b5b2b93132b93"},
		{"kerberos", 168, "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4"},
		{"kerberos", 256, "6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4"},
	}
	for _, c := range cases {
		got := nfold([]byte(c.in), c.bits/8)
		if want := hx(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("%d-fold(%q) = %x, want %x", c.bits, c.in, got, want)
		}
	}
}

// RFC 3962 appendix B, string-to-key (iteration counts 1, 2, 1200).
func TestStringToKey(t *testing.T) {
	cases := []struct {
		iter       int
		pass, salt string
		k128, k256 string
	}{
		{1, "password", "ATHENA.MIT.EDUraeburn", "42263c6e89f4fc28b8df68ee09799f15",
			"fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"},
		{2, "password", "ATHENA.MIT.EDUraeburn", "c651bf29e2300ac27fa469d693bdda13",
			"a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff"},
		{1200, "password", "ATHENA.MIT.EDUraeburn", "4c01cd46d632d01e6dbe230a01ed642a",
			"55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a"},
		{5, "password", "\x12\x34\x56\x78\x78\x56\x34\x12", "e9b23d52273747dd5c35cb55be619d8e",
			"97a4e786be20d81a382d5ebc96d5909cabcdadc87ca48f574504159f16c36e31"},
	}
	for _, c := range cases {
		for _, v := range []struct {
			etype int32
			want  string
		}{{EtypeAES128CTSHMACSHA196, c.k128}, {EtypeAES256CTSHMACSHA196, c.k256}} {
			got, err := StringToKey(v.etype, c.pass, c.salt, c.iter)
			if err != nil {
				t.Fatal(err)
			}
			if want := hx(t, v.want); !bytes.Equal(got, want) {
				t.Errorf("iter %d etype %d: %x, want %x", c.iter, v.etype, got, want)
			}
		}
	}
	if _, err := StringToKey(23, "x", "y", 1); err == nil {
		t.Error("rc4 accepted")
	}
}

// RFC 3962 appendix B, AES-CTS with key "chicken teriyaki" and zero IV.
func TestCTSVectors(t *testing.T) {
	key := []byte("chicken teriyaki")
	const pt = "I would like the General Gau's Chicken, please, and wonton soup."
	cases := []struct {
		n    int
		want string
	}{
		{17, "c6353568f2bf8cb4d8a580362da7ff7f97"},
		{31, "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"},
		{32, "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584"},
		{47, "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5"},
		{48, "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8"},
		{64, "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8"},
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		in := []byte(pt[:c.n])
		want := hx(t, c.want)
		if got := ctsEncrypt(blk, in); !bytes.Equal(got, want) {
			t.Errorf("encrypt %d bytes: %x, want %x", c.n, got, want)
		}
		if got := ctsDecrypt(blk, want); !bytes.Equal(got, in) {
			t.Errorf("decrypt %d bytes: %q", c.n, got)
		}
	}
	// Round trip every length from one block to four.
	for n := 16; n <= 64; n++ {
		in := bytes.Repeat([]byte{byte(n)}, n)
		if got := ctsDecrypt(blk, ctsEncrypt(blk, in)); !bytes.Equal(got, in) {
			t.Errorf("round trip of %d bytes failed", n)
		}
	}
}

// Derived keys for usage 2 from MIT's lib/crypto/crypto_tests/t_derive.c,
// with the RFC 3962 iteration-1 "password" keys as base keys.
func TestDeriveKey(t *testing.T) {
	b128 := hx(t, "42263C6E89F4FC28B8DF68EE09799F15")
	b256 := hx(t, "FE697B52BC0D3CE14432BA036A92E65BBB52280990A2FA27883998D72AF30161")
	cases := []struct {
		base  []byte
		which byte
		want  string
	}{
		{b128, deriveKc, "34280A382BC92769B2DA2F9EF066854B"},
		{b128, deriveKe, "5B14FC4E250E14DDF9DCCF1AF6674F53"},
		{b128, deriveKi, "4ED31063621684F09AE8D89991AF3E8F"},
		{b256, deriveKc, "BFAB388BDCB238E9F9C98D6A878304F04D30C82556375AC507A7A852790F4674"},
		{b256, deriveKe, "C7CFD9CD75FE793A586A542D87E0D1396F1134A104BB1A9190B8C90ADA3DDF37"},
		{b256, deriveKi, "97151B4C76945063E2EB0529DC067D97D7BBA90776D8126D91F34F3101AEA8BA"},
	}
	for _, c := range cases {
		got, err := deriveKey(c.base, usageConstant(2, c.which))
		if err != nil {
			t.Fatal(err)
		}
		if want := hx(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("DK(%x, 2|%#x) = %x, want %x", c.base, c.which, got, want)
		}
	}
}

func TestEncryptDecrypt(t *testing.T) {
	for _, etype := range []int32{EtypeAES128CTSHMACSHA196, EtypeAES256CTSHMACSHA196} {
		raw, _ := StringToKey(etype, "pw", "salt", 1)
		k, err := newKey(etype, raw)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := k.derive(11)
		other, _ := k.derive(12)
		for _, n := range []int{0, 1, 15, 16, 17, 100} {
			msg := bytes.Repeat([]byte("m"), n)
			ct := u.encrypt(msg)
			if len(ct) != n+aesBlock+hmacLen {
				t.Fatalf("ciphertext len %d for %d", len(ct), n)
			}
			if got, err := u.decrypt(ct); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("etype %d n %d: %q %v", etype, n, got, err)
			}
			if _, err := other.decrypt(ct); err == nil {
				t.Errorf("etype %d n %d: decrypted under another usage", etype, n)
			}
			for _, i := range []int{0, len(ct) / 2, len(ct) - 1} {
				bad := append([]byte(nil), ct...)
				bad[i] ^= 0x80
				if _, err := u.decrypt(bad); err == nil {
					t.Errorf("etype %d n %d: tampered byte %d decrypted", etype, n, i)
				}
			}
		}
		if _, err := u.decrypt(make([]byte, 27)); err == nil {
			t.Error("short ciphertext accepted")
		}
	}
	if _, err := newKey(EtypeAES256CTSHMACSHA196, make([]byte, 16)); err == nil {
		t.Error("16-byte aes256 key accepted")
	}
}
