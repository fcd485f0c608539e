package krb5

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// Encryption types supported (RFC 3962 §7). Only the RFC 3961 §5.3
// simplified-profile AES types are implemented.
const (
	EtypeAES128CTSHMACSHA196 int32 = 17
	EtypeAES256CTSHMACSHA196 int32 = 18
)

// Checksum type of the AES profiles (RFC 3962 §7) and the GSS authenticator
// checksum (RFC 4121 §4.1.1).
const (
	cksumHMACSHA196AES128 = 15
	cksumHMACSHA196AES256 = 16
	cksumGSSAPI           = 0x8003
)

const (
	aesBlock = aes.BlockSize // 16: confounder length and cipher block size
	hmacLen  = 12            // HMAC-SHA1-96 truncation (RFC 3962 §6)
)

// Key usage numbers (RFC 4120 §7.5.1, RFC 4121 §2).
const (
	usageTicket             = 2
	usageAPReqAuth          = 11
	usageAPRepEncPart       = 12
	usageAcceptorSeal       = 22
	usageAcceptorSign       = 23
	usageInitiatorSeal      = 24
	usageInitiatorSign      = 25
	deriveKc           byte = 0x99
	deriveKe           byte = 0xAA
	deriveKi           byte = 0x55
)

var errIntegrity = errors.New("krb5: integrity check failed")

// keyLength returns the key size in bytes for a supported enctype.
func keyLength(etype int32) (int, error) {
	switch etype {
	case EtypeAES128CTSHMACSHA196:
		return 16, nil
	case EtypeAES256CTSHMACSHA196:
		return 32, nil
	}
	return 0, fmt.Errorf("krb5: unsupported enctype %d (only 17, 18)", etype)
}

// nfold implements the n-fold operation of RFC 3961 §5.1: the input is
// replicated lcm(len,n) bits long, each copy rotated 13 bits further right,
// and the n-byte chunks are added with one's-complement (end-around carry).
func nfold(in []byte, n int) []byte {
	inLen := len(in)
	l := lcm(inLen, n)
	inBits := inLen * 8
	buf := make([]byte, l)
	for i := 0; i < l/inLen; i++ {
		rot := (13 * i) % inBits
		// Output bit b of this copy is input bit (b - rot) mod inBits.
		for b := 0; b < inBits; b++ {
			src := (b - rot + inBits) % inBits
			if in[src/8]&(0x80>>(src%8)) != 0 {
				buf[i*inLen+b/8] |= 0x80 >> (b % 8)
			}
		}
	}
	out := make([]byte, n)
	for off := 0; off < l; off += n {
		carry := 0
		for j := n - 1; j >= 0; j-- {
			s := int(out[j]) + int(buf[off+j]) + carry
			out[j] = byte(s)
			carry = s >> 8
		}
		for carry != 0 {
			for j := n - 1; j >= 0 && carry != 0; j-- {
				s := int(out[j]) + carry
				out[j] = byte(s)
				carry = s >> 8
			}
		}
	}
	return out
}

func lcm(a, b int) int {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// deriveRandom is DR(Key, Constant) of RFC 3961 §5.1 for AES: the n-folded
// constant is encrypted repeatedly (a single block, so CBC-CTS is plain ECB
// here), concatenating outputs until the key length is reached. For AES
// random-to-key is the identity, so this is also DK (RFC 3962 §5).
func deriveKey(key, constant []byte) ([]byte, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	block := nfold(constant, aesBlock)
	out := make([]byte, 0, len(key)+aesBlock)
	for len(out) < len(key) {
		blk.Encrypt(block, block)
		out = append(out, block...)
	}
	return out[:len(key)], nil
}

// usageConstant is the 5-byte well-known constant of RFC 3961 §5.3.
func usageConstant(usage uint32, which byte) []byte {
	var c [5]byte
	binary.BigEndian.PutUint32(c[:], usage)
	c[4] = which
	return c[:]
}

// StringToKey derives an AES key from a password (RFC 3962 §4):
// DK(PBKDF2-HMAC-SHA1(pass, salt, iter), "kerberos"). iter 0 means the
// default 4096.
func StringToKey(etype int32, password, salt string, iter int) ([]byte, error) {
	n, err := keyLength(etype)
	if err != nil {
		return nil, err
	}
	if iter == 0 {
		iter = 4096
	}
	tkey, err := pbkdf2.Key(sha1.New, password, []byte(salt), iter, n)
	if err != nil {
		return nil, err
	}
	return deriveKey(tkey, []byte("kerberos"))
}

// ctsEncrypt is AES CBC with ciphertext stealing and a zero IV (RFC 3962 §5):
// CBC over the zero-padded input, then the last two blocks are swapped and
// the output truncated to the input length. len(in) must be >= 16.
func ctsEncrypt(blk cipher.Block, in []byte) []byte {
	n := len(in)
	if n == aesBlock {
		out := make([]byte, aesBlock)
		blk.Encrypt(out, in)
		return out
	}
	padded := make([]byte, (n+aesBlock-1)/aesBlock*aesBlock)
	copy(padded, in)
	var iv [aesBlock]byte
	cipher.NewCBCEncrypter(blk, iv[:]).CryptBlocks(padded, padded)
	nb := len(padded) / aesBlock
	last := padded[(nb-1)*aesBlock:]
	prev := padded[(nb-2)*aesBlock : (nb-1)*aesBlock]
	out := make([]byte, n)
	copy(out, padded[:(nb-2)*aesBlock])
	copy(out[(nb-2)*aesBlock:], last)
	copy(out[(nb-1)*aesBlock:], prev[:n-(nb-1)*aesBlock])
	return out
}

// ctsDecrypt inverts ctsEncrypt. len(in) must be >= 16.
func ctsDecrypt(blk cipher.Block, in []byte) []byte {
	n := len(in)
	out := make([]byte, n)
	if n == aesBlock {
		blk.Decrypt(out, in)
		return out
	}
	nb := (n + aesBlock - 1) / aesBlock
	m := n - (nb-1)*aesBlock // bytes in the final (partial or full) block
	head := (nb - 2) * aesBlock
	// Plain CBC for all blocks before the stolen pair.
	var iv [aesBlock]byte
	if head > 0 {
		cipher.NewCBCDecrypter(blk, iv[:]).CryptBlocks(out[:head], in[:head])
		copy(iv[:], in[head-aesBlock:head])
	}
	// in[head:head+16] is E_n (the real last CBC block); the trailing m bytes
	// are the head of E_{n-1}. D(E_n) = P_n||0 XOR E_{n-1}, so its tail
	// recovers the stolen bytes of E_{n-1}.
	var d, en1 [aesBlock]byte
	blk.Decrypt(d[:], in[head:head+aesBlock])
	copy(en1[:], in[head+aesBlock:])
	copy(en1[m:], d[m:])
	for i := 0; i < m; i++ {
		out[head+aesBlock+i] = d[i] ^ en1[i]
	}
	var p [aesBlock]byte
	blk.Decrypt(p[:], en1[:])
	for i := 0; i < aesBlock; i++ {
		out[head+i] = p[i] ^ iv[i]
	}
	return out
}

// usageKeys holds the three keys derived for one key usage (RFC 3961 §5.3).
type usageKeys struct {
	ke cipher.Block // encryption
	ki []byte       // integrity of encrypted data
	kc []byte       // checksum
}

// key is a base protocol key of a supported enctype.
type key struct {
	etype int32
	value []byte
}

func newKey(etype int32, value []byte) (key, error) {
	n, err := keyLength(etype)
	if err != nil {
		return key{}, err
	}
	if len(value) != n {
		return key{}, fmt.Errorf("krb5: enctype %d key is %d bytes, want %d", etype, len(value), n)
	}
	return key{etype: etype, value: append([]byte(nil), value...)}, nil
}

func (k key) derive(usage uint32) (*usageKeys, error) {
	ke, err := deriveKey(k.value, usageConstant(usage, deriveKe))
	if err != nil {
		return nil, err
	}
	ki, err := deriveKey(k.value, usageConstant(usage, deriveKi))
	if err != nil {
		return nil, err
	}
	kc, err := deriveKey(k.value, usageConstant(usage, deriveKc))
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(ke)
	if err != nil {
		return nil, err
	}
	return &usageKeys{ke: blk, ki: ki, kc: kc}, nil
}

func hmac96(k []byte, parts ...[]byte) []byte {
	h := hmac.New(sha1.New, k)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)[:hmacLen]
}

// encrypt is the simplified-profile encryption (RFC 3961 §5.3):
// CTS(Ke, confounder|plain) | HMAC-SHA1-96(Ki, confounder|plain).
func (u *usageKeys) encrypt(plain []byte) []byte {
	buf := make([]byte, aesBlock+len(plain))
	if _, err := rand.Read(buf[:aesBlock]); err != nil {
		panic("krb5: crypto/rand failed: " + err.Error())
	}
	copy(buf[aesBlock:], plain)
	mac := hmac96(u.ki, buf)
	return append(ctsEncrypt(u.ke, buf), mac...)
}

// decrypt reverses encrypt, checking the HMAC; it returns the plaintext
// without the confounder.
func (u *usageKeys) decrypt(ct []byte) ([]byte, error) {
	if len(ct) < aesBlock+hmacLen {
		return nil, errors.New("krb5: ciphertext too short")
	}
	body, mac := ct[:len(ct)-hmacLen], ct[len(ct)-hmacLen:]
	plain := ctsDecrypt(u.ke, body)
	if subtle.ConstantTimeCompare(hmac96(u.ki, plain), mac) != 1 {
		return nil, errIntegrity
	}
	return plain[aesBlock:], nil
}

// checksum is the keyed hmac-sha1-96-aes checksum (RFC 3962 §7).
func (u *usageKeys) checksum(parts ...[]byte) []byte { return hmac96(u.kc, parts...) }

// decryptWith derives the usage keys for k and decrypts ct.
func decryptWith(k key, usage uint32, ct []byte) ([]byte, error) {
	u, err := k.derive(usage)
	if err != nil {
		return nil, err
	}
	return u.decrypt(ct)
}
